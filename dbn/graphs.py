r"""Epochs over in-memory data with static buffers, replayed from CUDA graphs on a GPU.

A CD-1 step on a 784-500 RBM with a batch of 100 is about twenty small kernels; on a GPU each
launch costs a few microseconds of CPU time, more than the kernel itself, so an eager loop is
bound by launches. :class:`EpochRunner` removes them: the steps of an epoch read their rows
through a static index buffer, a chunk of ``chunk`` steps is captured once in a
:class:`torch.cuda.CUDAGraph`, and each chunk then costs one index copy and one replay. The random
numbers come from the device generator (registered with the graph, so that every replay draws
fresh ones), and nothing in a step reads a value back to the host.

The plan of one epoch over :math:`n` rows with batch :math:`B` and :math:`F = \lfloor n / B \rfloor`
full batches:

1. the first batch runs eagerly through ``first_step`` (the caller measures its update there);
2. the other :math:`F - 1` full batches run in chunks of at most ``chunk`` steps, whose rows are
   copied into the index buffer; each distinct chunk length is captured once (its first run is
   eager, on the capture stream, which also warms up the optimiser's state);
3. the ragged last batch, :math:`n \bmod B` rows, runs eagerly, so every row is used.

Without CUDA (or with ``use_graph=False``) the same plan runs eagerly, so the CPU tests exercise
the bookkeeping that the GPU path replays. The batches of step 2 are gathered into one static
buffer, so eager steps allocate nothing for their data either (and nothing at all when the step
is :meth:`dbn.cd.ContrastiveDivergence.set_gradients` in float32). Captured graphs bake in the
optimiser's hyper-parameters: call :meth:`EpochRunner.reset` when they change (a momentum
schedule, say).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dbn.batches import BatchSource

__all__ = ["EpochRunner"]

#: one optimisation step on a batch of raw rows
Step = Callable[[Tensor], None]


class EpochRunner:
    """Run the steps of one epoch over in-memory data; see the module docstring for the plan.

    Parameters
    ----------
    step : callable
        ``step(batch)`` performs one optimisation step in place (forward, backward, optimiser);
        it must not synchronise with the host when ``use_graph`` is set.
    source : BatchSource
        In-memory training data and its generator.
    use_graph : bool
        Capture and replay chunks as CUDA graphs (the data must be on a CUDA device).
    chunk : int
        Steps per captured graph.
    """

    def __init__(self, step: Step, source: BatchSource, *, use_graph: bool, chunk: int = 64) -> None:
        if not source.in_memory:
            raise ValueError("EpochRunner needs in-memory data")
        if use_graph and source.data.device.type != "cuda":
            raise ValueError(f"CUDA graphs need the data on a CUDA device, not {source.data.device}")
        self.step = step
        self.source = source
        self.use_graph = use_graph
        batch_size = min(source.batch_size, source.data.shape[0])
        self.chunk = max(1, min(chunk, source.data.shape[0] // batch_size - 1))
        self.index = torch.empty(self.chunk, batch_size, dtype=torch.long, device=source.data.device)
        # the full batches of the chunks are gathered into one buffer (converted into a second one
        # when the data is held in another dtype, binary data as uint8): no allocation per step
        data = source.data
        self.raw = torch.empty(batch_size, *data.shape[1:], dtype=data.dtype, device=data.device)
        self.batch = self.raw if data.dtype == source.dtype else torch.empty_like(self.raw, dtype=source.dtype)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.pool = None
        self.stream = torch.cuda.Stream(source.data.device) if use_graph else None

    def reset(self) -> None:
        """Forget the captured graphs; the next epoch captures them again."""
        self.graphs.clear()

    def run_epoch(self, first_step: Step) -> int:
        """Run one epoch, the first batch through ``first_step``; return the number of steps."""
        source, rows_per_step = self.source, self.index.shape[1]
        order = source.permutation()
        n_full = order.shape[0] // rows_per_step
        first_step(source.gather(order[:rows_per_step]))
        for start in range(1, n_full, self.chunk):
            steps = min(self.chunk, n_full - start)
            self.index[:steps].copy_(
                order[start * rows_per_step : (start + steps) * rows_per_step].view(steps, rows_per_step)
            )
            self._run_chunk(steps)
        if order.shape[0] > n_full * rows_per_step:
            self.step(source.gather(order[n_full * rows_per_step :]))
        return n_full + (order.shape[0] > n_full * rows_per_step)

    def _steps(self, steps: int) -> None:
        data, raw, batch = self.source.data, self.raw, self.batch
        for position in range(steps):
            # BatchSource.gather, into the buffers
            torch.index_select(data, 0, self.index[position], out=raw)
            self.step(raw if batch is raw else batch.copy_(raw))

    def _run_chunk(self, steps: int) -> None:
        if not self.use_graph:
            self._steps(steps)
            return
        graph = self.graphs.get(steps)
        if graph is not None:
            graph.replay()
            return
        # first run of this length: eager on the capture stream (the warm-up), then capture
        current = torch.cuda.current_stream(self.index.device)
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            self._steps(steps)
        current.wait_stream(self.stream)
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.source.generator)
        with torch.cuda.graph(graph, pool=self.pool, stream=self.stream):
            self._steps(steps)
        self.pool = graph.pool()
        self.graphs[steps] = graph
