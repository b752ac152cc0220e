"""Minibatches for training: an in-memory array shuffled every epoch, or any iterable of batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dbn.validation import as_float_tensor, check_batch, is_array_like

__all__ = ["BatchSource", "DataStatistics", "make_source"]


@dataclass
class DataStatistics:
    """Per-feature mean and standard deviation of the training data, and a sample of its rows."""

    mean: Tensor
    std: Tensor
    n_samples: int
    sample: Tensor


class BatchSource:
    """Yields the training minibatches of one epoch each time it is iterated.

    In-memory data is kept as one tensor on the training device and reshuffled every epoch with a
    fresh permutation drawn from ``generator``. Any other iterable (a ``DataLoader``, a generator
    function's result wrapped in a list, ...) is iterated as it is: shuffling is then its own job
    (``DataLoader(..., shuffle=True)``). Batches that are ``(data, target)`` pairs give their data.
    """

    def __init__(
        self,
        data: Tensor | Iterable[Any],
        *,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype,
        generator: torch.Generator | None,
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.generator = generator

    @property
    def in_memory(self) -> bool:
        return isinstance(self.data, Tensor)

    def __iter__(self) -> Iterator[Tensor]:
        if isinstance(self.data, Tensor):
            n = self.data.shape[0]
            order = torch.randperm(n, generator=self.generator, device=self.data.device)
            for start in range(0, n, self.batch_size):
                yield self.data.index_select(0, order[start : start + self.batch_size])
        else:
            for batch in self.data:
                yield self.to_tensor(batch)

    def to_tensor(self, batch: Any) -> Tensor:
        """The data part of one batch of an iterable, as a tensor of the training dtype and device."""
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        return torch.as_tensor(batch).to(device=self.device, dtype=self.dtype, non_blocking=True)

    def statistics(self, *, n_features: int, unit_interval: bool, sample_size: int) -> DataStatistics:
        """Validate every batch and return the data's mean, standard deviation and a row sample.

        For in-memory data the sample is a random subset of rows; for an iterable it is the first
        ``sample_size`` rows met, and this is the one pass over the data made before training.
        Sums are accumulated in float64.
        """
        if isinstance(self.data, Tensor):
            X = self.data
            mean = X.mean(0, dtype=torch.float64)
            std = X.double().std(0, correction=0) if X.shape[0] > 1 else torch.zeros_like(mean)
            picked = torch.randperm(X.shape[0], generator=self.generator, device=X.device)[:sample_size]
            return DataStatistics(mean, std, X.shape[0], X.index_select(0, picked))
        total = torch.zeros(n_features, dtype=torch.float64, device=self.device)
        total_sq = torch.zeros_like(total)
        count, kept = 0, []
        for index, batch in enumerate(self.data):
            v = self.to_tensor(batch)
            check_batch(v, f"X (batch {index})", n_features=n_features, unit_interval=unit_interval)
            total += v.sum(0, dtype=torch.float64)
            total_sq += (v.double() ** 2).sum(0)
            count += v.shape[0]
            if sum(len(k) for k in kept) < sample_size:
                kept.append(v)
        if count == 0:
            raise ValueError("X is empty: the iterable of batches yielded no batch")
        mean = total / count
        std = (total_sq / count - mean**2).clamp_min(0).sqrt()
        return DataStatistics(mean, std, count, torch.cat(kept)[:sample_size])


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
) -> BatchSource:
    """Wrap training data: arrays and tensors are validated now and held on ``device``."""
    if is_array_like(X):
        X = as_float_tensor(X, name, dtype=dtype, device=device, n_features=n_features, unit_interval=unit_interval)
    elif not isinstance(X, Iterable):
        raise TypeError(f"{name} must be an array, a tensor or an iterable of batches, got {type(X).__name__}")
    return BatchSource(X, batch_size=batch_size, device=device, dtype=dtype, generator=generator)
