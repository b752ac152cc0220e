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
  whatever the others return); training stops after an epoch for which any returned True.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from dbn import distributed

__all__ = ["Callback", "EpochTask", "check_callbacks", "run_epochs"]

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

    Returns
    -------
    list of dict
        The records of this call (also appended to ``history``).
    """
    records: list[dict] = []
    bar = tqdm(range(epochs), desc=description, disable=not (progress and distributed.is_rank_zero()), leave=False)
    try:
        for epoch in bar:
            started = time.perf_counter()
            task.train_epoch(epoch)
            _synchronize(device)
            elapsed = time.perf_counter() - started
            seconds = distributed.reduce_values({"seconds": elapsed}, op="max", device=device)["seconds"]
            record = task.measure(epoch, seconds)
            history.append(record)
            records.append(record)
            bar.set_postfix({key: f"{record[key]:.4g}" for key in task.shown if record.get(key) is not None})
            stop = [bool(callback(model, record)) for callback in callbacks]
            if any(stop):
                break
    finally:
        bar.close()
    return records
