"""Checkpoints inside a training run, and exact resumption from them.

A run that is given ``checkpoint=`` writes, every ``checkpoint_every`` epochs, the model together
with a *training state*: what the next epoch needs besides the parameters (the optimiser's
buffers, the random generator's state, persistent chains, the epoch count, the seed) and a
fingerprint of the training data. Resuming rebuilds the run from the same configuration and seed
(so that everything drawn before the first epoch, such as the monitoring rows, is drawn again
identically), loads the state, and continues: on the CPU the result is bit-identical to an
uninterrupted run. The data's fingerprint (its per-feature mean and standard deviation in float64,
hashed with SHA-256, and its width) is checked first, so that a run is not continued on other data.

:class:`EpochCheckpoint` is the callback that writes the checkpoints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dbn.validation import check_positive

__all__ = [
    "EpochCheckpoint",
    "check_fingerprint",
    "check_writable",
    "fingerprint",
    "join_tensors",
    "pack_state",
    "split_tensors",
    "unpack_state",
]

_TENSOR, _INT_KEYS = "__tensor__", "__int_keys__"


def fingerprint(mean: Tensor, std: Tensor) -> dict[str, Any]:
    """A short description of the training data that a resumed run checks: width and a hash of its moments."""
    moments = torch.cat([mean.detach().double().flatten(), std.detach().double().flatten()]).cpu().numpy()
    return {"features": int(mean.numel()), "moments_sha256": hashlib.sha256(moments.tobytes()).hexdigest()}


def check_fingerprint(stored: dict[str, Any], current: dict[str, Any], name: str = "X") -> None:
    """Raise unless the data of a resumed run has the fingerprint of the data it was trained on."""
    if stored["features"] != current["features"]:
        raise ValueError(
            f"{name} has {current['features']} features but the checkpointed run trained on {stored['features']}"
        )
    if stored["moments_sha256"] != current["moments_sha256"]:
        raise ValueError(
            f"{name} is not the data the checkpointed run trained on (its per-feature mean and standard deviation "
            "differ): resume with the same training data"
        )


def split_tensors(value: Any, tensors: dict[str, Tensor] | None = None) -> tuple[Any, dict[str, Tensor]]:
    """A JSON value standing for ``value`` (a training state: nested dicts, lists, numbers, tensors),
    with each tensor replaced by a reference into the returned dict of tensors.

    Dicts with integer keys (an optimiser's per-parameter state) are kept as lists of pairs.
    :func:`join_tensors` is the inverse.
    """
    tensors = {} if tensors is None else tensors
    if isinstance(value, Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().clone()
        return {_TENSOR: key}, tensors
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: split_tensors(item, tensors)[0] for key, item in value.items()}, tensors
        return {_INT_KEYS: [[key, split_tensors(item, tensors)[0]] for key, item in value.items()]}, tensors
    if isinstance(value, (list, tuple)):
        return [split_tensors(item, tensors)[0] for item in value], tensors
    return value, tensors


def join_tensors(value: Any, tensors: dict[str, Tensor]) -> Any:
    """The training state that :func:`split_tensors` split into ``value`` and ``tensors``."""
    if isinstance(value, dict):
        if set(value) == {_TENSOR}:
            return tensors[value[_TENSOR]]
        if set(value) == {_INT_KEYS}:
            return {key: join_tensors(item, tensors) for key, item in value[_INT_KEYS]}
        return {key: join_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [join_tensors(item, tensors) for item in value]
    return value


def pack_state(state: dict | None, prefix: str) -> tuple[Any, dict[str, Tensor]]:
    """``state`` as a JSON value and tensors keyed ``prefix + n``, to be saved beside a state dict."""
    if state is None:
        return None, {}
    value, tensors = split_tensors(state)
    return value, {prefix + key: tensor for key, tensor in tensors.items()}


def unpack_state(value: Any, state_dict: dict[str, Tensor], prefix: str) -> dict | None:
    """The state :func:`pack_state` saved; its tensors are removed from ``state_dict``."""
    tensors = {key[len(prefix) :]: state_dict.pop(key) for key in list(state_dict) if key.startswith(prefix)}
    return None if value is None else join_tensors(value, tensors)


def check_writable(path: str | Path, name: str = "checkpoint") -> Path:
    """``path`` as a Path whose directory exists and is writable, checked before any training."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"{name}: the directory {str(directory)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{name} must be a file path, got the directory {str(path)!r}")
    probe = directory / f".{path.name}.probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"{name}: cannot write in {str(directory)!r} ({error.strerror})") from error
    return path


class EpochCheckpoint:
    """A callback that records the training state and writes a checkpoint every ``every`` epochs.

    Parameters
    ----------
    write : callable
        ``write(state)`` stores the model and ``state`` (e.g. ``lambda state: model.save(path)``
        after setting the model's ``training_state_``).
    state : callable
        Returns the current training state (a dict of tensors and numbers).
    every : int
        Epochs between checkpoints.
    """

    def __init__(self, write: Callable[[dict], None], state: Callable[[], dict], every: int) -> None:
        check_positive(every, "checkpoint_every", integer=True)
        self.write, self.state, self.every, self.seen = write, state, every, 0

    def __call__(self, model: Any, record: dict) -> bool:
        self.seen += 1
        if self.seen % self.every == 0:
            self.write(self.state())
        return False
