r"""Data-parallel training with ``torch.distributed``: process group, shards, reductions, rank 0.

Every training entry point (:meth:`dbn.RBM.fit`, :meth:`dbn.DeepBeliefNet.pretrain` and
:meth:`~dbn.DeepBeliefNet.finetune`, :func:`dbn.training.train_network`) runs unchanged in each
process of a ``torchrun`` job. The pieces come from torch; this module only connects them.

Entering distributed mode
    :func:`setup` (called by every entry point) uses the default process group when one is
    initialised, whatever its backend and init method. Otherwise, when torchrun's environment
    asks for several processes (``WORLD_SIZE > 1``), it initialises the group itself from that
    environment (``env://``: ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``), with
    NCCL when training on CUDA and gloo otherwise, and destroys it at exit.
    :func:`init_process_group` does the same explicitly: one line for scripts that want the rank
    before training. Without a group of two or more processes every function here is the identity
    and training is exactly single-process.

What each rank does
    It trains on its shard of the data: rows ``DistributedSampler`` assigns it (a new partition
    every epoch, the same on every rank because its permutation is seeded by the shared seed and
    the epoch), or the batches of a ``DataLoader`` rebuilt around a ``DistributedSampler``
    (:func:`distributed_loader`). The model is wrapped in ``DistributedDataParallel``
    (:func:`data_parallel`), which broadcasts rank 0's parameters at construction and averages the
    gradients in ``backward``. For an RBM that average is the CD update of the union of the
    ranks' batches, because the update is the gradient of a mean free-energy difference
    (:mod:`dbn.cd`): with :math:`N` ranks and equal batches,

    .. math:: \frac1N \sum_r \nabla L_r = \nabla \Big(\frac1N \sum_r L_r\Big)
              = \nabla L(\text{all } N B \text{ rows}).

    Sampling (Gibbs chains, persistent chains, the pseudo-likelihood's flips) uses a generator
    seeded with ``seed + rank``, so ranks draw different samples while the parameters stay equal.
    Data statistics are merged across ranks (:func:`merge_moments`) and so are identical
    everywhere; per-epoch monitors are averaged over ranks (:func:`reduce_record`,
    :func:`pooled_mean`) before they are logged; only rank 0 shows progress bars and writes
    checkpoints (:func:`dbn.serialization.save_checkpoint`).
"""

from __future__ import annotations

import atexit
import inspect
import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, RandomSampler

__all__ = [
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_rank_zero",
    "init_process_group",
    "setup",
    "broadcast_seed",
    "check_same",
    "shard_rows",
    "distributed_loader",
    "merge_moments",
    "reduce_values",
    "reduce_record",
    "pooled_mean",
    "data_parallel",
    "set_epoch",
]

# torch 2.13 renamed DistributedDataParallel's ``broadcast_buffers`` to ``forward_sync_buffers``
_NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    else {"broadcast_buffers": False}
)


def is_distributed() -> bool:
    """Whether the default process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank in the default group (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_rank_zero() -> bool:
    """Whether this process prints progress and writes checkpoints: rank 0, or the only process."""
    return get_rank() == 0


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def init_process_group(device: torch.device | str | None = None) -> bool:
    """Initialise the default process group from torchrun's environment, when it asks for one.

    Nothing is done when a default group is already initialised (it is used as it is) or when
    ``WORLD_SIZE`` is unset or 1. Otherwise the group is initialised with ``init_method="env://"``
    and the backend for ``device`` (default: CUDA when available): NCCL for CUDA, gloo otherwise.
    A group made here is destroyed at interpreter exit.

    Parameters
    ----------
    device : str or torch.device, optional
        The device this process will train on; a CUDA device without an index means
        ``cuda:LOCAL_RANK``, which becomes the current CUDA device.

    Returns
    -------
    bool
        Whether training is now distributed (a group of two or more processes).
    """
    if not dist.is_available() or dist.is_initialized() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return is_distributed()
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.cuda.set_device(_local_device(device))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(_destroy_process_group)
    return True


def _local_device(device: torch.device) -> torch.device:
    """``cuda:LOCAL_RANK`` (without torchrun: ``cuda:rank % device_count``) for a CUDA device without index."""
    if device.type != "cuda" or device.index is not None:
        return device
    local_rank = os.environ.get("LOCAL_RANK")
    return torch.device(
        "cuda", int(local_rank) if local_rank is not None else get_rank() % max(torch.cuda.device_count(), 1)
    )


def setup(device: torch.device) -> torch.device:
    """Enter distributed mode when asked (see :func:`init_process_group`); return this rank's device.

    Training entry points call it with the device they resolved. Under a distributed group a
    CUDA device without an index becomes ``cuda:LOCAL_RANK``, one GPU per process on each node;
    other devices are returned unchanged.
    """
    init_process_group(device)
    return _local_device(device) if is_distributed() else device


def broadcast_seed(seed: int | None, device: torch.device) -> int:
    """Rank 0's seed on every rank (drawn from torch's global generator when ``None``).

    Everything that must agree across ranks (initial parameters, the shards' permutations, a
    validation split) derives from this seed; per-rank sampling uses ``seed + get_rank()``.
    """
    if seed is None:
        seed = int(torch.randint(2**62, (1,)).item())
    if not is_distributed():
        return seed
    value = torch.tensor([seed], dtype=torch.int64, device=device)
    dist.broadcast(value, src=0)
    return int(value.item())


def check_same(value: int, name: str, device: torch.device) -> None:
    """Raise on every rank unless ``value`` is equal on all ranks (e.g. the number of rows).

    Ranks that disagree on the number of batches would wait forever in the gradient all-reduce;
    this turns that hang into an error.
    """
    if not is_distributed():
        return
    values = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(get_world_size())]
    dist.all_gather(values, torch.tensor([value], dtype=torch.int64, device=device))
    found = [int(v.item()) for v in values]
    if len(set(found)) > 1:
        raise ValueError(f"{name} must be the same on every rank, got {found} (by rank)")


def shard_rows(n_rows: int, *, seed: int, epoch: int, device: torch.device) -> Tensor:
    """This rank's row indices of an in-memory data set for one epoch, from ``DistributedSampler``.

    The sampler permutes ``range(n_rows)`` with a generator seeded by ``seed + epoch`` (the same on
    every rank), pads it by repeating its first indices to a multiple of the world size, and gives
    rank ``r`` every ``N``-th index from ``r``. Every rank thus gets ``ceil(n_rows / N)`` rows, the
    same number of batches, and the ranks' rows together cover the data.
    """
    sampler = DistributedSampler(range(n_rows), seed=seed)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.int64, device=device)


def distributed_loader(loader: DataLoader, *, seed: int) -> DataLoader:
    """``loader`` rebuilt around a ``DistributedSampler``, so that each rank reads its shard.

    The sampler shuffles when ``loader`` did (a ``RandomSampler``) with ``seed``, and keeps
    ``drop_last``; every other setting (batch size, workers, collate function, pinning) is kept.
    Call its sampler's ``set_epoch(epoch)`` before each epoch for a new partition. A loader that
    already has a ``DistributedSampler``, reads an ``IterableDataset``, or batches with its own
    ``batch_sampler`` is returned unchanged: it is taken to yield this rank's shard, and must
    yield the same number of batches on every rank.
    """
    if (
        not is_distributed()
        or isinstance(loader.sampler, DistributedSampler)
        or isinstance(loader.dataset, IterableDataset)
        or loader.batch_size is None
    ):
        return loader
    sampler = DistributedSampler(
        loader.dataset, shuffle=isinstance(loader.sampler, RandomSampler), seed=seed, drop_last=loader.drop_last
    )
    options = {}
    if loader.num_workers > 0:
        options = {"prefetch_factor": loader.prefetch_factor, "persistent_workers": loader.persistent_workers}
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        **options,
    )


def merge_moments(count: int, mean: Tensor, squares: Tensor) -> tuple[int, Tensor, Tensor]:
    r"""Merge per-rank moments into those of all ranks' rows together, identically on every rank.

    Each rank gives its row count :math:`n_r`, per-feature mean :math:`m_r` and sum of squared
    deviations :math:`S_r` (float64). With :math:`n = \sum_r n_r` the pooled moments are

    .. math:: m = \frac1n \sum_r n_r m_r, \qquad S = \sum_r \big(S_r + n_r (m_r - m)^2\big)

    (Chan, Golub & LeVeque 1979). One ``all_gather`` brings every rank's moments to every rank,
    which then all compute the same sums in the same order: the results are bitwise equal.
    """
    if not is_distributed():
        return count, mean, squares
    packed = torch.cat([mean.new_tensor([count]), mean, squares])
    gathered = [torch.empty_like(packed) for _ in range(get_world_size())]
    dist.all_gather(gathered, packed)
    table = torch.stack(gathered)
    counts, means, sums = table[:, :1], table[:, 1 : 1 + mean.numel()], table[:, 1 + mean.numel() :]
    total = counts.sum()
    pooled = (counts * means).sum(0) / total
    return int(total.item()), pooled, (sums + counts * (means - pooled) ** 2).sum(0)


def reduce_values(values: dict[str, Any], *, op: str = "mean", device: torch.device) -> dict[str, Any]:
    """The mean (``op="mean"``) or maximum (``op="max"``) over ranks of each number in ``values``.

    ``values`` maps names to numbers, 0-dimensional tensors or ``None``; every rank must pass the
    same names with ``None`` at the same places. The numbers travel in one float64
    ``all_reduce``; the result maps the same names to Python floats (``None`` kept).
    """
    if op not in ("mean", "max"):
        raise ValueError(f"op must be 'mean' or 'max', got {op!r}")
    result: dict[str, Any] = {name: None if value is None else float(value) for name, value in values.items()}
    names = [name for name, value in values.items() if value is not None]
    if not is_distributed() or not names:
        return result
    packed = torch.tensor([result[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM if op == "mean" else dist.ReduceOp.MAX)
    if op == "mean":
        packed /= get_world_size()
    result.update(zip(names, packed.tolist(), strict=False))
    return result


def reduce_record(
    record: dict[str, Any], device: torch.device, *, same: Iterable[str] = ("epoch", "lr", "momentum", "seconds")
) -> dict[str, Any]:
    """A per-epoch record as every rank logs it: monitors averaged over ranks.

    Every value but the names in ``same`` (equal on every rank: ``seconds`` is already the slowest
    rank's, from :func:`dbn.loop.run_epochs`) is a number or ``None`` and is replaced by its mean over
    ranks, in one ``all_reduce``.
    """
    if not is_distributed():
        return record
    kept = set(same)
    averaged = reduce_values({name: value for name, value in record.items() if name not in kept}, device=device)
    return {**record, **averaged}


def pooled_mean(means: Tensor, rows: Sequence[int]) -> Tensor:
    r"""Means over all ranks' rows from this rank's means over its own ``rows`` rows (entrywise).

    With :math:`n_r` rows and mean :math:`\bar x_r` on rank :math:`r`, the result is
    :math:`\sum_r n_r \bar x_r / \sum_r n_r`, in float64, from one ``all_reduce``; ranks may
    hold different numbers of rows.
    """
    if not is_distributed():
        return means
    counts = torch.tensor(rows, dtype=torch.float64, device=means.device)
    packed = torch.stack([means.double() * counts, counts])
    dist.all_reduce(packed)
    return packed[0] / packed[1]


def data_parallel(module: nn.Module, device: torch.device, *, sync_buffers: bool = True) -> nn.Module:
    """``module`` wrapped in ``DistributedDataParallel`` when distributed, else ``module`` itself.

    Wrapping broadcasts rank 0's parameters and buffers to every rank; afterwards each
    ``backward`` averages the gradients over ranks with bucketed all-reduces that overlap the
    backward pass. ``sync_buffers=False`` skips re-broadcasting the buffers before every forward
    pass, for buffers that are equal on every rank anyway (an RBM's data statistics).
    """
    if not is_distributed():
        return module
    return DistributedDataParallel(
        module,
        device_ids=[device.index] if device.type == "cuda" else None,
        **({} if sync_buffers else _NO_BUFFER_SYNC),
    )


def set_epoch(source: Iterable[Any], epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on ``source``'s ``DistributedSampler``, when it has one."""
    sampler = getattr(source, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)
