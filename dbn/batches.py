"""Minibatches for training: an in-memory array shuffled every epoch, or any iterable of batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dbn.distributed import (
    check_same,
    distributed_loader,
    get_rank,
    get_world_size,
    is_distributed,
    merge_moments,
    set_epoch,
    shard_rows,
)
from dbn.validation import as_float_tensor, check_batch, is_array_like

__all__ = ["BatchSource", "DataStatistics", "make_source"]


@dataclass
class DataStatistics:
    """Per-feature mean and standard deviation of the training data, and a sample of its rows."""

    mean: Tensor
    std: Tensor
    sample: Tensor


class BatchSource:
    """Yields the training minibatches of one epoch each time it is iterated.

    In-memory data is kept as one tensor on the training device (binary data as ``uint8``, a
    quarter of float32's memory; each batch is converted when it is gathered) and reshuffled every
    epoch with a fresh permutation drawn from ``generator``. Any other iterable (a ``DataLoader``, a generator
    function's result wrapped in a list, ...) is iterated as it is: shuffling is then its own job
    (``DataLoader(..., shuffle=True)``). Batches that are ``(data, target)`` pairs give their data.

    In a distributed run (``shard_seed`` set) each epoch of in-memory data is this rank's share of
    a permutation common to all ranks (:func:`dbn.distributed.shard_rows`), and a
    ``DistributedSampler`` of an iterable is told the epoch.
    """

    def __init__(
        self,
        data: Tensor | Iterable[Any],
        *,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype,
        generator: torch.Generator | None,
        shard_seed: int | None = None,
        name: str = "X",
    ) -> None:
        self.data, self.name, self.batch_size, self.device, self.dtype = data, name, batch_size, device, dtype
        self.generator, self.shard_seed = generator, shard_seed
        self.epoch = 0  # epochs begun

    def __iter__(self) -> Iterator[Tensor]:
        if isinstance(self.data, Tensor):
            for rows in self.permutation().split(self.batch_size):
                yield self.gather(rows)
            return
        set_epoch(self.data, self.epoch)
        self.epoch += 1
        count = 0
        for count, batch in enumerate(self.data, start=1):
            yield self.to_tensor(batch, count - 1)
        if count == 0:
            raise ValueError(
                f"{self.name} yielded no batch in training epoch {self.epoch}, after the statistics pass had read it: "
                "an iterable of batches must give its batches again every time it is iterated"
            )

    @property
    def in_memory(self) -> bool:
        """Whether the data is one tensor on the device (rather than an iterable of batches)."""
        return isinstance(self.data, Tensor)

    def permutation(self) -> Tensor:
        """A fresh random order of the rows of in-memory data, on the device.

        In a distributed run: this rank's rows of the epoch, in the order of the shared permutation.
        """
        self.epoch += 1
        if self.shard_seed is not None:
            return shard_rows(self.data.shape[0], seed=self.shard_seed, epoch=self.epoch - 1, device=self.data.device)
        return torch.randperm(self.data.shape[0], generator=self.generator, device=self.data.device)

    def gather(self, rows: Tensor) -> Tensor:
        """The rows ``rows`` of in-memory data, in the training dtype."""
        return self.data.index_select(0, rows).to(self.dtype)

    def raw_tensor(self, batch: Any, index: int) -> Tensor:
        """The data part of batch ``index`` of an iterable, as a real tensor in its own dtype.

        Raises
        ------
        TypeError
            For a batch that is a mapping, holds no numbers, or holds complex numbers.
        """
        label = f"{self.name} (batch {index})"
        if isinstance(batch, Mapping):
            raise TypeError(
                f"{label} is a mapping with keys {sorted(map(str, batch))}: batches must be arrays or tensors, or "
                "(data, target) pairs; wrap the loader so that it yields the data tensor"
            )
        if isinstance(batch, (tuple, list)):
            if not batch:
                raise ValueError(f"{label} is an empty {type(batch).__name__}: expected an array or (data, target)")
            batch = batch[0]
        try:
            tensor = torch.as_tensor(batch)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{label} must be an array or tensor of real numbers, got {type(batch).__name__}: {error}"
            ) from error
        if tensor.is_complex():
            raise TypeError(f"{label} must hold real numbers, got a tensor of dtype {tensor.dtype}")
        return tensor

    def to_tensor(self, batch: Any, index: int = 0) -> Tensor:
        """The data part of batch ``index`` of an iterable, as a tensor of the training dtype and device."""
        return self.raw_tensor(batch, index).to(device=self.device, dtype=self.dtype, non_blocking=True)

    def checked_batch(self, batch: Any, index: int, n_features: int, unit_interval: bool) -> Tensor:
        """Batch ``index`` of an iterable, validated (:func:`dbn.validation.check_batch`) and converted."""
        raw = self.raw_tensor(batch, index)
        v = raw.to(device=self.device, dtype=self.dtype, non_blocking=True)
        check_batch(v, f"{self.name} (batch {index})", n_features=n_features, unit_interval=unit_interval, source=raw)
        return v

    def statistics(
        self, *, n_features: int, unit_interval: bool, sample_size: int, chunk_size: int = 8192
    ) -> DataStatistics:
        """Return the data's mean, standard deviation and a sample of rows, in one pass.

        In-memory data (validated when it was wrapped) is read in chunks, and the sample is a
        random subset of rows. The batches of an iterable are validated here, before any training,
        and the sample is the first ``sample_size`` rows met. Each chunk's moments are merged into
        the running ones; the moments are computed in float64 whatever the training dtype, so that
        data of large magnitude (Gaussian units) gets its true standard deviation. In a distributed
        run each rank reads its own rows (of in-memory data: rows ``rank::world_size``; of an
        iterable: its batches) and the moments are merged across ranks
        (:func:`dbn.distributed.merge_moments`), so every rank gets the same statistics; the
        sample is drawn from the rank's own rows.
        """
        rank, world_size = get_rank(), get_world_size()
        if isinstance(self.data, Tensor):
            chunks = (chunk.to(self.dtype) for chunk in self.data[rank::world_size].split(chunk_size))
        else:
            chunks = (
                self.checked_batch(batch, index, n_features, unit_interval) for index, batch in enumerate(self.data)
            )
        count = 0
        mean = torch.zeros(n_features, dtype=torch.float64, device=self.device)
        squares = torch.zeros_like(mean)  # sum of squared deviations from the mean
        kept, n_kept = [], 0
        for v in chunks:
            # merge this chunk's moments into the running ones (Chan, Golub & LeVeque 1979), all in
            # float64: squares of float32 data above ~1e19 would overflow float32
            chunk_var, chunk_mean = torch.var_mean(v.to(torch.float64), dim=0, correction=0)
            n = v.shape[0]
            delta = chunk_mean - mean
            total = count + n
            mean += delta * (n / total)
            squares += chunk_var * n + delta**2 * (count * n / total)
            count = total
            if n_kept < sample_size:
                kept.append(v[: sample_size - n_kept])
                n_kept += kept[-1].shape[0]
        own_count = count
        count, mean, squares = merge_moments(count, mean, squares)
        if count == 0:
            raise ValueError("X is empty: the iterable of batches yielded no batch")
        std = (squares / count).sqrt()
        if isinstance(self.data, Tensor):
            picked = torch.randperm(own_count, generator=self.generator, device=self.data.device)[:sample_size]
            sample = self.gather(picked * world_size + rank)
        else:
            sample = torch.cat(kept)
        return DataStatistics(mean, std, sample)


def as_binary_bytes(X: Tensor, chunk_values: int = 65536) -> Tensor | None:
    """``X`` (already checked to lie in [0, 1]) as ``uint8`` when every value is 0 or 1, else None.

    Each chunk of rows (about ``chunk_values`` values) is converted (truncated: 1 stays 1, any
    value in [0, 1) becomes 0) while it is in the cache, and the chunk is binary exactly when it
    has as many nonzero values as its conversion: one pass over memory checks and converts. On a
    GPU the whole tensor is one chunk (a test per chunk would wait for the device each time).
    """
    converted = torch.empty(X.shape, dtype=torch.uint8, device=X.device)
    width = max(X[0].numel(), 1) if len(X) else 1
    rows = max(chunk_values // width, 1) if X.device.type == "cpu" else max(len(X), 1)
    for chunk, target in zip(X.split(rows), converted.split(rows), strict=True):
        target.copy_(chunk)
        if torch.count_nonzero(chunk) != torch.count_nonzero(target):
            return None
    return converted


def make_source(
    X: Any,
    name: str,
    *,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
    generator: torch.Generator | None,
    n_features: int,
    unit_interval: bool,
    shard_seed: int | None = None,
) -> BatchSource:
    """Wrap training data: arrays and tensors are validated now and held on ``device``.

    Binary data (only zeros and ones) is held as ``uint8``. In a distributed run ``shard_seed``,
    the same on every rank, seeds the ``DistributedSampler`` that deals each rank its rows: every
    rank must hold the same number of in-memory rows, and a ``DataLoader`` is rebuilt around a
    sampler (:func:`dbn.distributed.distributed_loader`).

    Any other iterable of batches is accepted if it can be iterated again: training reads it once
    for the data statistics (:meth:`BatchSource.statistics`, which also validates every batch) and
    once per epoch, and never copies it whole. A list or tuple of batches, a ``DataLoader`` or an
    object whose ``__iter__`` starts afresh all qualify. A one-shot iterator (a generator, the
    result of ``iter``, ``map`` or ``zip``) would be used up by the statistics pass and leave
    nothing to train on, even for one epoch, so it is refused here with a ``TypeError``: pass
    ``list(batches)``, or a function's batches wrapped in an object whose ``__iter__`` calls it.
    An iterable that yields nothing in a later pass raises a ``ValueError`` naming the epoch.

    Raises
    ------
    TypeError
        For a string, bytes, a mapping or a one-shot iterator, or anything that is neither an
        array nor iterable; for batches that are mappings or hold no real numbers (during the
        statistics pass).
    ValueError
        For arrays that :func:`dbn.validation.as_float_tensor` refuses; for batches of the wrong
        shape or values (during the statistics pass).
    """
    if isinstance(X, (str, bytes, Mapping)):
        raise TypeError(f"{name} must be an array, a tensor or an iterable of batches, got {type(X).__name__}")
    if is_array_like(X):
        X = as_float_tensor(X, name, dtype=dtype, device=device, n_features=n_features, unit_interval=unit_interval)
        binary = as_binary_bytes(X) if unit_interval else None
        X = X if binary is None else binary
    elif isinstance(X, Iterator):
        raise TypeError(
            f"{name} is a one-shot iterator ({type(X).__name__}): training reads the batches once for the data "
            f"statistics and again every epoch, so {name} must be re-iterable: pass list({name}), a DataLoader, "
            "or an object whose __iter__ yields the batches afresh"
        )
    elif not isinstance(X, Iterable):
        raise TypeError(f"{name} must be an array, a tensor or an iterable of batches, got {type(X).__name__}")
    if not is_distributed():
        return BatchSource(X, batch_size=batch_size, device=device, dtype=dtype, generator=generator, name=name)
    if shard_seed is None:
        raise ValueError("a distributed run needs the shard_seed shared by all ranks")
    if isinstance(X, Tensor):
        check_same(X.shape[0], f"the number of rows of {name}", device)
    elif isinstance(X, DataLoader):
        X = distributed_loader(X, seed=shard_seed)
    return BatchSource(
        X, batch_size=batch_size, device=device, dtype=dtype, generator=generator, shard_seed=shard_seed, name=name
    )
