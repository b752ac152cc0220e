"""Callbacks for every training call: ``RBM.fit``, ``DeepBeliefNet.pretrain`` and ``finetune``.

A callback is any callable ``callback(model, record) -> bool | None``, called after each epoch with
the model being trained (the RBM, each RBM in turn during ``pretrain``, the unrolled network during
``finetune``) and the epoch's record (the dict that goes into the history); returning True stops
the training. The classes here are the ones most runs want:

- :class:`CSVLogger` writes one row per epoch, every monitor a column;
- :class:`TensorBoardLogger` writes the monitors as scalars, and an RBM's filters and samples as
  images (the ``tensorboard`` extra);
- :class:`EarlyStopping` stops when a monitor has stopped improving (``finetune`` has its own,
  on the validation loss, which also restores the best weights: ``patience=``);
- :class:`ModelCheckpoint` saves the model every few epochs, atomically.

During ``pretrain`` the loggers number the RBMs in the order they are trained (a ``layer`` column
from 1, ``layer<n>/`` tags), as a callback sees one RBM after another.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dbn.serialization import save_checkpoint
from dbn.validation import check_positive

__all__ = ["CSVLogger", "EarlyStopping", "ModelCheckpoint", "TensorBoardLogger"]


class _LayerCounter:
    """The 1-based number of the model a callback is called with, counting distinct models in order."""

    def __init__(self) -> None:
        self.models: list[int] = []

    def __call__(self, model: nn.Module) -> int:
        if not self.models or self.models[-1] != id(model):
            self.models.append(id(model))
        return len(self.models)


class CSVLogger:
    """Write every epoch's record to a CSV file, one row per epoch and one column per monitor.

    The file is rewritten whole (atomically) after each epoch, so it always holds every row so far
    and a header with every monitor seen; a monitor an epoch did not measure is an empty cell. When
    the callback sees more than one model (the RBMs of ``pretrain``), a first column ``layer``
    numbers them from 1.

    Parameters
    ----------
    path : str or Path
        The CSV file; missing parent directories are created.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.layer = _LayerCounter()

    def __call__(self, model: nn.Module, record: dict) -> bool:
        self.rows.append({"layer": self.layer(model), **record})
        self._write()
        return False

    def _write(self) -> None:
        columns = [] if len(self.layer.models) == 1 else ["layer"]
        for row in self.rows:
            columns += [key for key in row if key != "layer" and key not in columns and _scalar(row[key])]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with open(temporary, "w", newline="") as stream:
            writer = csv.DictWriter(stream, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({key: "" if row.get(key) is None else row[key] for key in columns} for row in self.rows)
        os.replace(temporary, self.path)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


class TensorBoardLogger:
    """Write the monitors to TensorBoard, and an RBM's filters and samples as images.

    Scalars: every numeric field of the record under its name, at the record's ``epoch`` (with a
    ``layer<n>/`` prefix once a second model is seen, as in ``pretrain``). Images, every
    ``images_every`` epochs, for an RBM whose visible layer is a square image (e.g. 784 = 28 x 28):
    the weights of the first ``n_filters`` hidden units as a grid, and ``n_samples`` samples of
    :meth:`RBM.sample <dbn.rbm.RBM.sample>` after ``sample_steps`` Gibbs steps.

    Parameters
    ----------
    log_dir : str or Path
        The directory of the event files (``tensorboard --logdir <log_dir>``).
    images_every : int or None
        Epochs between images; None writes none.
    n_filters, n_samples, sample_steps : int
        What the images show.

    Raises
    ------
    ImportError
        When the ``tensorboard`` package is missing (``pip install "dbn[tensorboard]"``).
    """

    def __init__(self, log_dir: str | Path, *, images_every: int | None = 5, n_filters: int = 64,
                 n_samples: int = 16, sample_steps: int = 100) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            message = 'TensorBoardLogger needs the tensorboard package: pip install "dbn[tensorboard]"'
            raise ImportError(message) from error
        if images_every is not None:
            check_positive(images_every, "images_every", integer=True)
        self.writer = SummaryWriter(str(log_dir))
        self.images_every, self.n_filters, self.n_samples, self.sample_steps = (
            images_every, n_filters, n_samples, sample_steps)
        self.layer = _LayerCounter()
        self.first_model: int | None = None

    def __call__(self, model: nn.Module, record: dict) -> bool:
        layer = self.layer(model)
        prefix = "" if len(self.layer.models) == 1 else f"layer{layer}/"
        epoch = int(record.get("epoch", 0))
        for key, value in record.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(prefix + key, value, epoch)
        if self.images_every is not None and epoch % self.images_every == 0:
            self._images(model, prefix, epoch)
        self.writer.flush()
        return False

    @torch.no_grad()
    def _images(self, model: nn.Module, prefix: str, epoch: int) -> None:
        weight = getattr(model, "weight", None)
        side = math.isqrt(weight.shape[1]) if isinstance(weight, torch.Tensor) and weight.ndim == 2 else 0
        if side < 2 or side * side != weight.shape[1] or not hasattr(model, "sample"):
            return
        filters = weight[: self.n_filters].detach().float().cpu()
        low = filters.amin(1, keepdim=True)
        filters = (filters - low) / (filters.amax(1, keepdim=True) - low).clamp_min(1e-12)
        self.writer.add_images(prefix + "filters", filters.reshape(-1, 1, side, side), epoch)
        samples = model.sample(self.n_samples, self.sample_steps).detach().float().cpu().clamp(0, 1)
        self.writer.add_images(prefix + "samples", samples.reshape(-1, 1, side, side), epoch)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


class EarlyStopping:
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    For ``RBM.fit`` and ``pretrain`` (e.g. ``monitor="val_recon_mse"`` with ``X_val``, or
    ``"free_energy_gap"`` to stop as overfitting starts), and ``train_network``/``finetune`` on
    any monitor. An epoch without the monitor (``None``) neither improves nor waits. During
    ``pretrain`` each RBM starts afresh. The weights are left as they are; ``finetune``'s own
    ``patience`` keeps the best ones.

    Parameters
    ----------
    monitor : str
        A key of the epoch records.
    patience : int
        Epochs without improvement before stopping, >= 1.
    mode : {"min", "max"}
        Whether smaller or larger values are better.
    min_delta : float
        The least change that counts as an improvement, >= 0.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, mode: str = "min",
                 min_delta: float = 0.0) -> None:
        check_positive(patience, "patience", integer=True)
        check_positive(min_delta, "min_delta", allow_zero=True)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.sign = 1 if mode == "min" else -1
        self.layer = _LayerCounter()
        self.best, self.waited, self.current = math.inf, 0, 0

    def __call__(self, model: nn.Module, record: dict) -> bool:
        layer = self.layer(model)
        if layer != self.current:  # a new model: start afresh
            self.best, self.waited, self.current = math.inf, 0, layer
        value = record.get(self.monitor)
        if value is None:
            return False
        if self.sign * value < self.best - self.min_delta:
            self.best, self.waited = self.sign * value, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


class ModelCheckpoint:
    """Save the model every ``every`` epochs, atomically, to ``path``.

    A model with a ``save`` method (an RBM) saves itself, so ``RBM.load(path)`` reads it back;
    any other module (the unrolled network of ``finetune``) is written as its ``state_dict`` in
    the package's checksummed format (:func:`dbn.serialization.save_checkpoint`, kind
    ``"state_dict"``). ``path`` may name ``{epoch}`` and ``{layer}`` (the RBM's number during
    ``pretrain``), e.g. ``"rbm{layer}-epoch{epoch}.pt"``; without them each save replaces the last.

    Parameters
    ----------
    path : str or Path
        The target file, or a pattern with ``{epoch}`` and ``{layer}``.
    every : int
        Epochs between saves, >= 1.
    """

    def __init__(self, path: str | Path, every: int = 1) -> None:
        check_positive(every, "every", integer=True)
        self.path, self.every = str(path), every
        self.layer = _LayerCounter()

    def __call__(self, model: nn.Module, record: dict) -> bool:
        layer, epoch = self.layer(model), int(record.get("epoch", 0))
        if epoch % self.every:
            return False
        target = Path(self.path.format(epoch=epoch, layer=layer))
        if callable(getattr(model, "save", None)):
            model.save(target)
        else:
            save_checkpoint(target, kind="state_dict", config={"module": type(model).__name__},
                            state_dict=model.state_dict(), extra={"record": record})
        return False
