"""Saving and loading models: one file holding a checksummed, versioned header and a ``state_dict``.

File layout (format version 2)
------------------------------
A fixed 52-byte header, then the payload::

    offset  size  field
    0       8     magic bytes b"DBNCKPT\\n"
    8       4     format version, unsigned little-endian (2)
    12      8     payload length in bytes, unsigned little-endian
    20      32    SHA-256 digest of the payload
    52      n     payload

The payload is a ``torch.save`` archive of ``{"header": <JSON text>, "state_dict": {...}}``. The
JSON header records the format name and version, the model class, the arguments that rebuild it
(``config``) and any extra JSON (training histories). The digest covers the whole payload, hence
everything that determines the loaded model; the other header fields are checked exactly (the
magic bytes, the version, the length against the file's size), so any change to a file is refused.
All this is checked before anything is deserialised; the payload is then read with
``torch.load(weights_only=True)``, so that loading never executes code, and the type of every
JSON header field is checked.

Format version 1 (dbn before checksums) stored the payload alone, as the whole file. Such files
are still read, with the same checks except the checksum, which they do not have.

Writing
-------
A save streams the payload into a temporary file ``.{name}.tmp-{pid}-{8 hex digits}`` in the
target directory, fills in the header, flushes it to disk and only then replaces the target
(``os.replace``), so an interrupted save never destroys the old file. A save that fails removes
its temporary file; one whose writer was killed leaves it behind, and the next save to the same
target removes it (see :func:`save_checkpoint`). In a distributed run (:mod:`dbn.distributed`)
only rank 0 writes: the other ranks hold the same parameters and return without touching the
file (nor waiting for rank 0 to finish writing).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import struct
import time
from pathlib import Path
from typing import Any, BinaryIO

import torch

from dbn.distributed import is_rank_zero

__all__ = ["FORMAT", "VERSION", "MAGIC", "Checkpointed", "save_checkpoint", "load_checkpoint", "resolve_map_location",
           "dtype_to_json", "dtype_from_json"]

FORMAT = "dbn-checkpoint"
VERSION = 2
MAGIC = b"DBNCKPT\n"
#: magic bytes, format version, payload length, SHA-256 digest of the payload
HEADER = struct.Struct("<8sIQ32s")
#: a temporary file not modified for this many seconds is stale whatever its process id says
STALE_AFTER = 3600.0

_ZIP_MAGIC = b"PK\x03\x04"  # version 1 files (and any torch.save archive) start with a zip entry
_WRITING: set[str] = set()  # absolute paths of the temporary files this process is writing now


# ---------------------------------------------------------------------------------------- saving


def save_checkpoint(path: str | os.PathLike, *, kind: str, config: dict, state_dict: dict, extra: Any = None) -> None:
    """Atomically write a checkpoint of a model of class ``kind`` to ``path`` (on rank 0 only).

    Parameters
    ----------
    path : str or os.PathLike
        The target file; missing parent directories are created.
    kind : str
        The model class (``"RBM"``, ``"DeepBeliefNet"``), checked by :func:`load_checkpoint`.
    config : dict
        JSON-serialisable arguments that rebuild the model.
    state_dict : dict of str to torch.Tensor
        The tensors, saved detached and on the CPU.
    extra : JSON-serialisable, default=None
        Anything else to keep (training histories).

    Notes
    -----
    Before writing, temporary files of earlier saves to ``path`` are removed when they are stale:
    their process is no longer running on this machine (on Windows, where that cannot be asked
    safely, this test is skipped), their process id is this process's but this process is not
    writing them, or they were not modified for :data:`STALE_AFTER` seconds. Other files are
    never touched.
    """
    if not is_rank_zero():
        return
    header = json.dumps({"format": FORMAT, "version": VERSION, "class": kind, "config": config, "extra": extra})
    payload = {"header": header, "state_dict": {name: value.detach().cpu() for name, value in state_dict.items()}}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    temporary = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    _WRITING.add(os.path.abspath(temporary))
    try:
        with os.fdopen(handle, "wb") as stream:
            _write_container(stream, payload)
        os.replace(temporary, target)
        _fsync_directory(target.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        _WRITING.remove(os.path.abspath(temporary))


class _HashingWriter:
    """A write-only stream that forwards to ``stream`` while counting and hashing the bytes."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.size, self.sha256 = stream, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += memoryview(data).nbytes
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()


def _write_container(stream: BinaryIO, payload: dict) -> None:
    """Write a placeholder header, stream the payload through the hash, then fill in the header."""
    stream.write(bytes(HEADER.size))
    writer = _HashingWriter(stream)
    torch.save(payload, writer)
    stream.seek(0)
    stream.write(HEADER.pack(MAGIC, VERSION, writer.size, writer.sha256.digest()))
    stream.flush()
    os.fsync(stream.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it (not on Windows)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _remove_stale_temporaries(target: Path) -> None:
    """Remove the stale temporary files of earlier saves to ``target``, and no other file."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.tmp-(\d+)-[0-9a-f]{{8}}")
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if _is_stale(entry, int(match.group(1))):
                os.unlink(entry.path)
        except OSError:
            pass  # removed by another writer meanwhile, or not ours to remove: leave it


def _is_stale(entry: os.DirEntry, pid: int) -> bool:
    """Whether the temporary file ``entry``, named after process ``pid``, has no live writer."""
    if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER:
        return True
    if pid == os.getpid():
        return os.path.abspath(entry.path) not in _WRITING
    return not _process_alive(pid)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (assumed so where that cannot be asked)."""
    if os.name == "nt":
        return True  # there os.kill(pid, 0) would terminate the process
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


# --------------------------------------------------------------------------------------- loading


def load_checkpoint(path: str | os.PathLike, *, kind: str) -> tuple[dict, dict, Any]:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
        A file in format version 2 (checksummed) or 1 (older, read without a checksum).
    kind : str
        The model class the caller expects.

    Returns
    -------
    config : dict
        The arguments that rebuild the model.
    state_dict : dict of str to torch.Tensor
        The tensors, on the CPU.
    extra : JSON value or None
        What was saved as ``extra``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a dbn checkpoint (a directory, an empty or foreign file), is
        truncated, is corrupted (checksum mismatch), has a malformed header, has a newer format
        version, or holds a model of another class than ``kind``. The message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a dbn checkpoint")
    try:
        with open(path, "rb") as stream:
            version, payload = _read_file(stream, path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    header, state_dict = _parse_payload(payload, path)
    _check_header(header, path, kind=kind, version=version)
    return header["config"], state_dict, header.get("extra")


def _read_file(stream: BinaryIO, path: Path) -> tuple[int, bytes]:
    """Tell the layout from the first bytes; return the format version and the payload."""
    start = stream.read(len(MAGIC))
    if start == MAGIC:
        return _read_container(stream, path)
    if start.startswith(_ZIP_MAGIC):  # version 1: the payload alone, without a checksum
        stream.seek(0)
        return 1, stream.read()
    if not start:
        raise ValueError(f"{path} is empty: not a dbn checkpoint")
    raise ValueError(f"{path} is not a dbn checkpoint (it starts with neither {MAGIC!r} nor a torch archive)")


def _read_container(stream: BinaryIO, path: Path) -> tuple[int, bytes]:
    """Read the rest of a version-2 file after its magic bytes; return its version and payload."""
    fields = stream.read(HEADER.size - len(MAGIC))
    if len(fields) < HEADER.size - len(MAGIC):
        raise ValueError(f"{path} is a truncated dbn checkpoint: it ends inside its {HEADER.size}-byte header")
    _, version, length, digest = HEADER.unpack(MAGIC + fields)
    if version != VERSION:
        raise ValueError(_version_message(path, version))
    available = os.fstat(stream.fileno()).st_size - HEADER.size
    if available < length:
        raise ValueError(
            f"{path} is a truncated dbn checkpoint: its header announces {length} payload bytes, "
            f"{available} follow (an incomplete copy?)"
        )
    if available > length:
        raise ValueError(f"{path} is corrupted: {available - length} bytes follow the {length}-byte payload")
    payload = stream.read(length)
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        raise ValueError(
            f"{path} is corrupted (checksum mismatch): the SHA-256 of its payload differs from the one "
            "recorded when it was written; restore the file from a copy or save the model again"
        )
    return version, payload


def _version_message(path: Path, version: Any) -> str:
    if isinstance(version, int) and version > VERSION:
        return (
            f"{path} has checkpoint format version {version}; this dbn reads versions 1 to {VERSION}: "
            "upgrade dbn (or, if no newer dbn wrote it, the file is corrupted)"
        )
    return f"{path} is corrupted or not a dbn checkpoint: format version {version!r} is not valid in this layout"


def _parse_payload(payload: bytes, path: Path) -> tuple[dict, dict]:
    """Deserialise a payload (tensors and plain containers only); return its JSON header and tensors."""
    try:
        content = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to parse means the same thing to the user
        reason = _reason(error)
        raise ValueError(f"{path} is not a readable dbn checkpoint (truncated or foreign file): {reason}") from None
    if not isinstance(content, dict) or not isinstance(content.get("header"), str) or "state_dict" not in content:
        raise ValueError(f"{path} is not a dbn checkpoint: a torch file without a dbn header")
    try:
        header = json.loads(content["header"])
    except ValueError:
        raise ValueError(f"{path} is not a dbn checkpoint: its header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dbn checkpoint (no '{FORMAT}' header)")
    state_dict = content["state_dict"]
    if not isinstance(state_dict, dict) or not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in state_dict.items()
    ):
        raise ValueError(f"{path} has a malformed dbn header: 'state_dict' must map names to tensors")
    return header, state_dict


def _reason(error: Exception) -> str:
    """Why torch could not read a file, without torch's advice to turn off ``weights_only``."""
    text = str(error)
    if "weights_only" not in text:
        return text.strip().splitlines()[0] if text.strip() else type(error).__name__
    found = re.search(r"WeightsUnpickler error: (.*?\.)(?:\s|$)", text)
    detail = f" ({found.group(1)})" if found else ""
    return f"it holds Python objects other than tensors and plain containers, which dbn never writes{detail}"


def _check_header(header: dict, path: Path, *, kind: str, version: int) -> None:
    """Refuse header fields of the wrong type or value; ``version`` is the file layout's."""
    stored = header.get("version")
    if isinstance(stored, bool) or not isinstance(stored, int):
        raise ValueError(f"{path} has a malformed dbn header: 'version' must be an int, not {type(stored).__name__}")
    if stored != version:
        raise ValueError(_version_message(path, stored))
    for field, expected in (("class", str), ("config", dict)):
        if not isinstance(header.get(field), expected):
            raise ValueError(
                f"{path} has a malformed dbn header: {field!r} must be a {expected.__name__}, "
                f"not {type(header.get(field)).__name__}"
            )
    if header["class"] != kind:
        raise ValueError(f"{path} holds a {header['class']!r}, not a {kind!r}: load it with {header['class']}.load")


# ----------------------------------------------------------------------------- configurations


def dtype_to_json(dtype: torch.dtype) -> str:
    """A dtype as it is written in a checkpoint's configuration: its name in ``torch`` (``"float32"``)."""
    return str(dtype).removeprefix("torch.")


def dtype_from_json(name: str) -> torch.dtype:
    """The inverse of :func:`dtype_to_json`.

    Raises
    ------
    ValueError
        If ``name`` is not the name of a torch dtype.
    """
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"the configuration names dtype {name!r}, which is not a torch dtype")
    return dtype


class Checkpointed:
    """``save`` and ``load`` for a module that rebuilds itself from a JSON configuration.

    The class provides ``config()`` (its constructor's arguments as JSON values, the dtype by
    name, which the default ``from_config`` passes back to the constructor),
    ``checkpoint_extra()`` (what else to keep: histories, as JSON values) and
    ``restore_extra(extra)``; its checkpoints are of kind ``checkpoint_kind``.
    """

    checkpoint_kind: str

    @classmethod
    def from_config(cls, config: dict) -> Any:
        """Build an untrained model from :meth:`config`'s output (its ``dtype`` by name)."""
        options = dict(config)
        dtype = dtype_from_json(options.pop("dtype", "float32"))
        return cls(**options, dtype=dtype)

    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters and buffers, the configuration and :meth:`checkpoint_extra`,
        atomically and checksummed (:func:`save_checkpoint`; in a distributed run only rank 0
        writes)."""
        save_checkpoint(path, kind=self.checkpoint_kind, config=self.config(), state_dict=self.state_dict(),
                        extra=self.checkpoint_extra())

    @classmethod
    def load(cls, path: str | os.PathLike, *, map_location: torch.device | str = "cpu") -> Any:
        """Read a model written by :meth:`save` (verified, ``torch.load(weights_only=True)`` underneath).

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            For a truncated, corrupted (checksum mismatch) or foreign file, a checkpoint of another
            class, or a ``map_location`` this machine does not have.
        """
        device = resolve_map_location(map_location)
        config, state_dict, extra = load_checkpoint(path, kind=cls.checkpoint_kind)
        model = cls.from_config(config)
        model.load_state_dict(state_dict)
        model.restore_extra(extra or {})
        return model.to(device)


# ------------------------------------------------------------------------------------- devices


def resolve_map_location(map_location: torch.device | str | int) -> torch.device:
    """Check that ``map_location`` names a device this machine has, before a checkpoint is read.

    Parameters
    ----------
    map_location : torch.device, str or int
        Where the loaded model should live: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a
        :class:`torch.device`, or an accelerator index.

    Returns
    -------
    torch.device
        The device, for ``model.to(...)``.

    Raises
    ------
    TypeError
        If ``map_location`` is not a device, a string or an int.
    ValueError
        If it does not name a device type torch knows, or names one that is not available here
        (``"cuda"`` without a CUDA device, an index past the last device); the message suggests
        ``map_location="cpu"``.
    """
    if isinstance(map_location, bool) or not isinstance(map_location, (torch.device, str, int)):
        raise TypeError(f"map_location must be a torch.device, a str or an int, not {type(map_location).__name__}")
    hint = 'pass map_location="cpu" to load on the CPU'
    try:
        device = torch.device(map_location)
    except RuntimeError as error:
        if isinstance(map_location, int):
            raise ValueError(
                f"map_location={map_location} names an accelerator, but none is available: {hint}"
            ) from None
        raise ValueError(f"map_location={map_location!r} is not a device ({error})") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"map_location={map_location!r} asks for CUDA, but no CUDA device is available: {hint}")
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"map_location={map_location!r} asks for CUDA device {device.index}, but only {count} "
                f"CUDA device(s) are available (0 to {count - 1}); pick one of those or {hint}"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"map_location={map_location!r} asks for MPS, but no MPS device is available: {hint}")
    elif device.type not in ("cpu", "meta", "mps"):
        backend = getattr(torch, device.type, None)
        available = getattr(backend, "is_available", None)
        if callable(available) and not available():
            raise ValueError(f"map_location={map_location!r} asks for {device.type}, which is not available: {hint}")
    return device
