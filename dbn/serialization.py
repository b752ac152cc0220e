"""Saving and loading models: one file holding a versioned JSON header and a ``state_dict``.

The file is a ``torch.save`` archive of ``{"header": <JSON text>, "state_dict": {...}}``, read back
with ``torch.load(weights_only=True)`` so that loading never executes code. The header records the
format name and version, the model class and the arguments that rebuild it, and any extra JSON
(training histories). Writes go to a temporary file in the target directory that replaces the
target only once complete (``os.replace``), so an interrupted save never destroys the old file.
In a distributed run (:mod:`dbn.distributed`) only rank 0 writes: the other ranks hold the same
parameters and return without touching the file (nor waiting for rank 0 to finish writing).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from dbn.distributed import is_rank_zero

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint"]

FORMAT = "dbn-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, *, kind: str, config: dict, state_dict: dict, extra: Any = None) -> None:
    """Atomically write a checkpoint of a model of class ``kind`` to ``path`` (on rank 0 only)."""
    if not is_rank_zero():
        return
    header = json.dumps({"format": FORMAT, "version": VERSION, "class": kind, "config": config, "extra": extra})
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save({"header": header, "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, *, kind: str) -> tuple[dict, dict, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; return ``(config, state_dict, extra)``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, is not a dbn checkpoint, has a newer format version, or holds a
        model of another class than ``kind``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        header = json.loads(payload["header"])
        state_dict = payload["state_dict"]
    except Exception as error:  # noqa: BLE001 - any failure to parse means the same thing to the user
        raise ValueError(f"{path} is not a readable dbn checkpoint (truncated or foreign file): {error}") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dbn checkpoint (no '{FORMAT}' header)")
    if header.get("version", 0) > VERSION:
        raise ValueError(f"{path} has checkpoint format version {header['version']}; this dbn reads up to {VERSION}: upgrade dbn")
    if header.get("class") != kind:
        raise ValueError(f"{path} holds a {header.get('class')!r}, not a {kind!r}")
    return header["config"], state_dict, header.get("extra")
