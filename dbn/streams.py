"""Supervised training from a stream: (inputs, targets) batches read from a loader, checked one at a time.

:func:`dbn.training.train_network` and :meth:`dbn.stack.DeepBeliefNet.finetune` take, instead of
in-memory arrays, a ``torch.utils.data.DataLoader`` or any other re-iterable of batches
(:func:`is_stream` tells which). :class:`TrainingBatches` wraps it: every training epoch iterates it
once, in the loader's own order (shuffling is the loader's job), and each batch is checked with
the rules of in-memory training data (:func:`dbn.validation.check_batch`,
:func:`dbn.targets.as_target_tensor`; the errors name the batch), converted to the model's dtype and
moved to its device. The stream is never concatenated: one batch is held at a time.

Batches are ``(x, y)`` pairs (a ``DataLoader`` over a ``TensorDataset(X, y)``), or plain inputs
``x`` whose targets are the inputs themselves (autoencoders). Class labels of any discrete type
are encoded as :func:`dbn.targets.encode_labels` encodes them, with the classes that one pass over
the labels found (:meth:`TrainingBatches.scan_classes`).

Not supported with a stream: a validation split (its rows are not split: pass in-memory
``X_val, y_val``), the data fingerprint of exact resumption, and distributed runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset

from dbn.batches import make_source
from dbn.config import TrainConfig
from dbn.distributed import is_distributed, set_epoch
from dbn.targets import as_target_tensor, encode_with_classes, merge_classes
from dbn.validation import check_batch, is_array_like

__all__ = ["TrainingBatches", "is_stream", "without_split"]


def is_stream(X: Any) -> bool:
    """Whether ``X`` is to be streamed batch by batch (an iterable of batches, a ``Dataset``) rather
    than held in memory as one array (arrays, tensors, nested lists of numbers).

    Strings, mappings and other objects are not streams: the in-memory checks refuse them.
    """
    if isinstance(X, (str, bytes, Mapping)) or is_array_like(X):
        return False
    return isinstance(X, (Iterable, Dataset, TrainingBatches))


def without_split(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """``config`` for training from a stream, which holds out no validation rows.

    A ``validation_fraction`` of the configuration (a default, such as fine-tuning's) is set to 0:
    early stopping then needs in-memory ``X_val, y_val``. One passed explicitly as a keyword
    (in ``overrides``) cannot be honoured and raises a ``ValueError``.
    """
    fraction = overrides.get("validation_fraction")
    if fraction is not None and fraction != 0:
        raise ValueError(
            f"validation_fraction={fraction!r} cannot hold out rows of a stream of batches (a DataLoader): "
            "pass in-memory validation data as X_val, y_val, or validation_fraction=0"
        )
    return config.replace(validation_fraction=0.0)


def _check_loader(loader: Any, name: str) -> None:
    if is_distributed():
        raise ValueError(
            f"training from a stream of batches ({name} is a {type(loader).__name__}) is not supported in a "
            "distributed run: pass in-memory arrays, which every rank holds and dbn shards by rows"
        )
    if isinstance(loader, Dataset) and not isinstance(loader, (Iterable, IterableDataset)):
        raise TypeError(
            f"{name} is a Dataset ({type(loader).__name__}) of single rows: wrap it in "
            f"torch.utils.data.DataLoader({name}, batch_size=..., shuffle=True) to train on its batches"
        )
    if isinstance(loader, Iterator):
        raise TypeError(
            f"{name} is a one-shot iterator ({type(loader).__name__}): training reads the batches again every "
            f"epoch, so {name} must be re-iterable: pass a DataLoader, list({name}), or an object whose "
            "__iter__ yields the batches afresh"
        )


def _add_counts(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    size = max(total.size, counts.size)
    return np.pad(total, (0, size - total.size)) + np.pad(counts, (0, size - counts.size))


class TrainingBatches:
    """The (inputs, targets) batches of a supervised run, read from a re-iterable ``loader``.

    Parameters
    ----------
    loader : iterable of batches
        A ``DataLoader`` or any object whose ``__iter__`` yields the batches afresh: ``(x, y)``
        pairs (further items are ignored) or, for an autoencoder, plain inputs ``x``. A one-shot
        iterator (a generator) is refused with a ``TypeError``, a map-style ``Dataset`` too (wrap
        it in a ``DataLoader``).
    inputs_as_targets : bool, optional
        True: the targets are the inputs (a pair contributes its ``x`` only). False: every batch
        must be a pair. None: a pair gives its ``y``, a plain batch is its own target.
    n_features : int, optional
        The width every batch must have; default that of the first batch.
    unit_interval : bool
        Whether the inputs must lie in [0, 1] (Bernoulli visible units; not clipped).
    name : str
        The name of the data in messages.

    Attributes
    ----------
    classes : numpy.ndarray or None
        The sorted classes of :meth:`scan_classes`; when set, each batch's labels are encoded as
        indices into them.
    outputs : torch.Size or None
        The model's output shape per row, once known: each batch's targets are checked against it.
    counts : numpy.ndarray or None
        Rows per class index in the last complete epoch (classification).
    target_ndim : int or None
        Dimensions of the first batch's targets as the loader gave them (1 or 2 for regression).
    """

    def __init__(
        self,
        loader: Any,
        *,
        inputs_as_targets: bool | None = None,
        n_features: int | None = None,
        unit_interval: bool = False,
        name: str = "X",
    ) -> None:
        _check_loader(loader, name)
        # the checks of pretraining's streams: strings, mappings, non-iterables; raw_tensor reads each batch
        self.source = make_source(loader, name, batch_size=1, device=torch.device("cpu"), dtype=torch.float32,
                                  generator=None, n_features=n_features, unit_interval=unit_interval)
        self.loader, self.name, self.inputs_as_targets = loader, name, inputs_as_targets
        self.n_features, self.unit_interval = n_features, unit_interval
        self.device, self.dtype, self.classify = torch.device("cpu"), torch.float32, False
        self.classes: np.ndarray | None = None
        self.outputs: torch.Size | None = None
        self.counts: np.ndarray | None = None
        self.target_ndim: int | None = None
        self.tally: np.ndarray | None = None  # the counts of the epoch under way

    def bind(self, *, device: torch.device, dtype: torch.dtype, classify: bool) -> None:
        """Train on ``device`` in ``dtype``, with class-index targets when ``classify``."""
        _check_loader(self.loader, self.name)
        self.device, self.dtype, self.classify = device, dtype, classify

    def scan_classes(self) -> np.ndarray:
        """The sorted classes of all batches' labels, from one pass over the loader; kept as ``classes``.

        The pass reads every batch (the loader loads and collates the inputs too) but keeps only
        the distinct labels seen so far: its cost is one epoch of reading, without any model.
        """
        classes, index = None, -1
        for index, batch in enumerate(self.loader):
            raw = self.source.raw_tensor(self._pair(batch, index), index)
            classes = merge_classes(classes, batch[1], raw.shape[0] if raw.ndim else 0, f"y (batch {index})")
        if classes is None:
            raise ValueError(f"{self.name} is empty: the iterable of batches yielded no batch")
        self.classes = classes
        return classes

    def first_batch(self) -> tuple[Tensor, Tensor]:
        """The first batch, checked and on the device (one batch read)."""
        for batch in self.loader:
            return self.batch(batch, 0)
        raise ValueError(f"{self.name} is empty: the iterable of batches yielded no batch")

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The checked batches of one training epoch (``epoch``: for a ``DistributedSampler``)."""
        set_epoch(self.loader, epoch)
        self.tally = np.zeros(0, dtype=np.int64) if self.classify else None
        index = -1
        for index, batch in enumerate(self.loader):
            yield self.batch(batch, index)
        if index < 0:
            raise ValueError(
                f"{self.name} yielded no batch in training epoch {epoch + 1}: an iterable of batches must give "
                "its batches again every time it is iterated"
            )
        self.counts, self.tally = self.tally, None

    def batch(self, batch: Any, index: int) -> tuple[Tensor, Tensor]:
        """Batch ``index`` as (inputs, targets), checked, in the training dtype and on the device."""
        label = f"{self.name} (batch {index})"
        own = self.inputs_as_targets is True or (
            self.inputs_as_targets is None and not (isinstance(batch, (tuple, list)) and len(batch) >= 2)
        )
        raw = self.source.raw_tensor(batch if own else self._pair(batch, index), index)
        x = raw.to(self.dtype)  # checked where the loader left it (on the CPU: no wait for the device)
        check_batch(x, label, n_features=self.n_features, unit_interval=self.unit_interval, source=raw)
        if self.n_features is None:
            self.n_features = x.shape[1]
        x = x.to(self.device, non_blocking=True)
        if own:
            return x, x
        return x, self.targets(batch[1], x.shape[0], index).to(self.device, non_blocking=True)

    def targets(self, y: Any, n_rows: int, index: int) -> Tensor:
        """The checked targets of batch ``index`` (encoded, when ``classes`` is set), where the loader left them."""
        name = f"y (batch {index})"
        if self.classes is not None:
            y = encode_with_classes(y, n_rows, self.classes, name,
                                    known=f"the first pass over {self.name} (the loader must yield the same labels "
                                          "every time it is iterated)")
        if self.target_ndim is None:
            self.target_ndim = int(np.ndim(y))
        where = y.device if isinstance(y, Tensor) else torch.device("cpu")
        target = as_target_tensor(y, n_rows, classify=self.classify, device=where, dtype=self.dtype, name=name)
        if self.outputs is not None and self.classify and int(target.max()) >= self.outputs[-1]:
            raise ValueError(f"{name} holds class index {int(target.max())} but the model outputs "
                             f"{tuple(self.outputs)} logits per row")
        if self.outputs is not None and not self.classify and target.shape[1:] != self.outputs:
            raise ValueError(f"the model outputs shape {tuple(self.outputs)} per row but {name} has "
                             f"{tuple(target.shape[1:])}")
        if self.tally is not None:
            self.tally = _add_counts(self.tally, np.bincount(target.cpu().numpy()))
        return target

    def _pair(self, batch: Any, index: int) -> Any:
        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
            return batch
        raise TypeError(
            f"{self.name} (batch {index}) is a {type(batch).__name__}, not an (inputs, targets) pair: training on "
            "targets needs batches (x, y), e.g. from a DataLoader over TensorDataset(X, y)"
        )
