"""The one epoch loop that contrastive-divergence and supervised training share.

A training run is an :class:`EpochTask`: ``train_epoch(epoch)`` makes one pass of updates and
``measure(epoch, seconds)`` turns the state after it into a record of monitors. :func:`run_epochs`
does the rest, once for every kind of training:

- the tqdm progress bar over epochs, showing the latest values of the task's ``shown`` monitors
  (on rank 0 only in a distributed run);
- timing: ``seconds`` is the wall time of the epoch's updates, the device synchronised, the
  slowest rank's in a distributed run; measuring is not timed;
- the history: each record is appended to the list the caller passes;
- callbacks: ``callback(model, record)`` for every callback after every epoch (all of them,
  whatever the others return); training stops after an epoch for which any returned True;
- the divergence guard: after each epoch, a monitor that is NaN or infinite, a parameter that is,
  or the task's own sign of divergence (:meth:`EpochTask.divergence`: an exploding update ratio in
  CD, an exploding loss in supervised training) restores the parameters of the last good epoch
  (those before training, if it is the first) and raises :class:`DivergenceError`, which names the
  epoch and the learning rate. The diverged epoch is not added to the history. When guarded training
  ends normally the task may warn about a model that trained but learnt nothing (:meth:`EpochTask.finish`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dbn import distributed

__all__ = ["Callback", "DivergenceError", "EpochTask", "check_callbacks", "run_epochs"]

#: called as ``callback(model, record)`` after each epoch; returning True stops training
Callback = Callable[[Any, dict], Any]


class EpochTask(Protocol):
    """One training run, epoch by epoch."""

    #: record keys shown on the progress bar
    shown: Sequence[str]

    def train_epoch(self, epoch: int) -> None:
        """One pass of updates; ``epoch`` counts from 0 within this call of :func:`run_epochs`."""
        ...

    def measure(self, epoch: int, seconds: float) -> dict:
        """The record of the epoch just trained (``seconds``: the slowest rank's update time)."""
        ...

    def divergence(self, record: dict) -> str | None:
        """Why the epoch of ``record`` diverged, beyond non-finite values, or None."""
        ...

    def finish(self, history: list[dict]) -> None:
        """Called once after the last epoch of a run that did not diverge (e.g. to warn)."""
        ...


class DivergenceError(ValueError):
    """Training diverged; the model holds the parameters of the last good epoch.

    Attributes
    ----------
    epoch : int
        The epoch that diverged (as numbered in the history).
    lr : float or None
        Its learning rate.
    record : dict
        Its record of monitors (not in the history).
    """

    def __init__(self, message: str, *, epoch: int, lr: float | None, record: dict) -> None:
        super().__init__(message)
        self.epoch, self.lr, self.record = epoch, lr, record


def check_callbacks(callbacks: Iterable[Callback] | None) -> list[Callback]:
    """The callbacks as a list, each checked to be callable (a lone function is refused with advice)."""
    if callbacks is None:
        return []
    if callable(callbacks):
        raise TypeError("callbacks must be a sequence of callables: wrap a single callback in a list")
    callbacks = list(callbacks)
    for index, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{index}] must be callable, got {callback!r}")
    return callbacks


def _snapshot(model: nn.Module, previous: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """A copy of the model's state (parameters and buffers), reusing ``previous``'s memory."""
    state = model.state_dict(keep_vars=False)
    if previous is None:
        return {name: value.detach().clone() for name, value in state.items()}
    for name, value in state.items():
        previous[name].copy_(value)
    return previous


def _non_finite(model: nn.Module, record: dict) -> str | None:
    """Which monitor or parameter of the epoch is NaN or infinite, if any."""
    for name, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"the monitor {name} is {value}"
    finite = [torch.isfinite(parameter).all() for parameter in model.parameters()]
    if finite and not bool(torch.stack(finite).all()):
        return "some parameters are NaN or infinite"
    return None


def _divergence_message(description: str, record: dict, reason: str) -> str:
    epoch, lr = record.get("epoch"), record.get("lr")
    rate = f" at lr={lr:g}" if isinstance(lr, float) else ""
    advice = f"try a lower lr (e.g. {lr / 10:g})" if isinstance(lr, float) else "try a lower learning rate"
    return (f"{description}: training diverged in epoch {epoch}{rate}: {reason}. The parameters of the last good "
            f"epoch are restored; {advice} or less momentum")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_epochs(
    task: EpochTask,
    epochs: int,
    *,
    model: Any,
    history: list[dict],
    device: torch.device,
    description: str,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    guard: bool = True,
) -> list[dict]:
    """Train ``task`` for up to ``epochs`` epochs; append each epoch's record to ``history``.

    Parameters
    ----------
    task : EpochTask
        The training run.
    epochs : int
        Maximum number of epochs.
    model : object
        What the callbacks receive as their first argument.
    history : list of dict
        Extended in place, one record per epoch.
    device : torch.device
        Synchronised before each epoch's time is read.
    description : str
        Label of the progress bar.
    progress : bool
        Show the progress bar (rank 0 only).
    callbacks : sequence of callables
        ``callback(model, record)`` after each epoch; any True return stops training.
    guard : bool
        Check every epoch for divergence (see the module docstring); ``model`` must then be an
        ``nn.Module``. Off, training goes on whatever the monitors say.

    Returns
    -------
    list of dict
        The records of this call (also appended to ``history``).

    Raises
    ------
    DivergenceError
        When the guard finds the epoch diverged; the model is restored to the last good epoch.
    """
    records: list[dict] = []
    good = _snapshot(model) if guard else None
    bar = tqdm(range(epochs), desc=description, disable=not (progress and distributed.is_rank_zero()), leave=False)
    try:
        for epoch in bar:
            started = time.perf_counter()
            task.train_epoch(epoch)
            _synchronize(device)
            elapsed = time.perf_counter() - started
            seconds = distributed.reduce_values({"seconds": elapsed}, op="max", device=device)["seconds"]
            record = task.measure(epoch, seconds)
            if good is not None:
                reason = _non_finite(model, record) or task.divergence(record)
                if reason is not None:
                    model.load_state_dict(good)
                    raise DivergenceError(_divergence_message(description, record, reason), epoch=record.get("epoch"),
                                          lr=record.get("lr"), record=record)
                good = _snapshot(model, good)
            history.append(record)
            records.append(record)
            bar.set_postfix({key: f"{record[key]:.4g}" for key in task.shown if record.get(key) is not None})
            stop = [bool(callback(model, record)) for callback in callbacks]
            if any(stop):
                break
    finally:
        bar.close()
    if guard:
        task.finish(history)
    return records
