"""One contrastive-divergence training run of an RBM, as an epoch task of :mod:`dbn.loop`.

:class:`CDTrainer` holds everything a run needs between epochs: the optimiser (the weights with
weight decay, the biases without), the CD objective of :mod:`dbn.cd` (wrapped for data-parallel
training), the epoch plan of :mod:`dbn.graphs` for in-memory data, the momentum schedule, and the
fixed rows the monitors of :mod:`dbn.monitors` are computed on. :func:`train_rbm` is the whole run
behind :meth:`dbn.rbm.RBM.fit` and :meth:`~dbn.rbm.RBM.resume`: it reads the data and its
statistics, initialises the model, builds a :class:`CDTrainer` (restoring an interrupted run's
training state, :mod:`dbn.resume`) and hands it to :func:`dbn.loop.run_epochs`.

What a step costs (``docs/performance.md``): in one process a step is
:meth:`dbn.cd.ContrastiveDivergence.set_gradients` (the CD gradient without autograd, into
buffers kept from step to step) and :class:`OptimizerStep` (the default SGD's fused kernel
without the Python around it), bit for bit the results of ``forward``, ``backward`` and
``optimizer.step()``, which distributed runs take (DDP's all-reduce hooks into the backward pass).
Nothing that only feeds a monitor runs in a step: ``cd_loss`` and ``batch_recon_mse`` are
measured after each epoch on :data:`CD_MONITOR_ROWS` monitoring rows, with a generator of their
own. The data statistics of in-memory data come from :func:`in_memory_statistics`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dbn import monitors
from dbn.batches import BatchSource, DataStatistics, make_source
from dbn.cd import ContrastiveDivergence
from dbn.config import CDConfig
from dbn.distributed import broadcast_seed, data_parallel, get_rank, is_distributed, reduce_record, setup
from dbn.energy import EnergyModel
from dbn.graphs import EpochRunner
from dbn.loop import check_callbacks, run_epochs
from dbn.precision import matmul_precision
from dbn.resume import EpochCheckpoint, check_fingerprint, check_writable, fingerprint
from dbn.samplers import check_sampler_options, make_centering, negative_sampler
from dbn.validation import check_flag, check_positive, check_seed, resolve_device

__all__ = ["CD_MONITOR_ROWS", "MAX_UPDATE_RATIO", "CDRun", "CDTrainer", "OptimizerStep", "SaveTo", "checked_statistics",
           "checkpoint_writer", "exploding_update", "in_memory_statistics", "make_optimizer", "train_rbm"]

#: a first update of an epoch that changes the weights by more than this many times their norm has diverged
MAX_UPDATE_RATIO = 10.0


def exploding_update(ratio: float, weights: str = "the weights") -> str | None:
    """The divergence message of an epoch whose first update changed ``weights`` by ``ratio`` times their
    norm, when that is above :data:`MAX_UPDATE_RATIO` (None otherwise)."""
    if ratio > MAX_UPDATE_RATIO:
        return (f"the epoch's first update changed {weights} by {ratio:.3g} times their norm "
                f"(more than {MAX_UPDATE_RATIO:g})")
    return None


#: monitoring rows on which the CD chain of ``cd_loss`` and ``batch_recon_mse`` runs after each epoch: their
#: means over 256 rows vary by about 1/16 of the spread between rows, small next to their change in training
CD_MONITOR_ROWS = 256
#: the keys of an epoch's record that measure the model on the monitor rows (None between the
#: epochs of ``CDConfig.monitor_every``)
MODEL_MONITORS = ("recon_mse", "recon_kl", "pseudo_likelihood", "free_energy_gap", "val_recon_mse",
                  "dead_fraction", "saturated_fraction", "cd_loss", "batch_recon_mse")


def make_optimizer(rbm: EnergyModel, config: CDConfig, lr: float) -> torch.optim.Optimizer:
    """SGD with momentum (or ``config.optimizer``) over two groups: weights with ``weight_decay``, biases without."""
    groups = [
        {"params": [rbm.weight], "weight_decay": config.weight_decay},
        {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0},
    ]
    if config.optimizer is not None:
        optimizer = config.optimizer(groups)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must return a torch.optim.Optimizer, got {type(optimizer).__name__}")
        return optimizer
    return torch.optim.SGD(groups, lr=lr, momentum=config.momentum_schedule()(0), fused=True)


class OptimizerStep:
    """``optimizer.step()``; for :func:`make_optimizer`'s own fused SGD, its kernel called directly.

    ``torch.optim.SGD.step`` spends about 20 microseconds of Python per call (hooks, grouping the
    tensors by device and dtype) around one fused kernel per parameter group: as much as the rest
    of a CD-1 step of a small RBM. Once the momentum buffers exist (after the first step, taken by
    ``step()`` itself) this calls the same kernel, ``torch._fused_sgd_``, with each group's current
    hyper-parameters and the buffers in the optimiser's state, so the result is bit for bit that
    of ``step()`` and the state (``state_dict``, a reloaded state) stays the optimiser's own. Any
    other optimiser, or a torch without that kernel, goes through ``step()``. Call :meth:`reset`
    after loading a state into the optimiser.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, direct: bool) -> None:
        self.optimizer = optimizer
        kernel = getattr(torch, "_fused_sgd_", None)
        fused = type(optimizer) is torch.optim.SGD and all(group.get("fused") for group in optimizer.param_groups)
        self.kernel = kernel if direct and fused else None
        self.plan: list[tuple[dict, list[Tensor], list[Tensor], list[Tensor]]] | None = None
        self.pairs: list[tuple[Tensor, Tensor]] = []  # each parameter and the gradient the plan holds

    def reset(self) -> None:
        """Forget the tensors of the last step (the optimiser's state was replaced)."""
        self.plan = None

    def __call__(self) -> None:
        plan = self.plan
        if plan is None or any(p.grad is not g for p, g in self.pairs):
            plan = self.plan = self._plan()
        if plan is None:
            self.optimizer.step()
            return
        with torch.no_grad():
            for group, params, grads, buffers in plan:
                self.kernel(params, grads, buffers, weight_decay=group["weight_decay"], momentum=group["momentum"],
                            lr=group["lr"], dampening=group["dampening"], nesterov=False, maximize=False,
                            is_first_step=False)

    def _plan(self) -> list[tuple[dict, list[Tensor], list[Tensor], list[Tensor]]] | None:
        """Each group with its parameters, gradients and momentum buffers; None when a group cannot
        go through the kernel now (no momentum buffers yet, a missing gradient, a tensor learning
        rate, Nesterov or maximise options)."""
        if self.kernel is None:
            return None
        plan, state = [], self.optimizer.state
        for group in self.optimizer.param_groups:
            params = list(group["params"])
            grads = [p.grad for p in params]
            if any(g is None for g in grads) or not isinstance(group["lr"], float):
                return None
            buffers = [] if group["momentum"] == 0 else [state[p].get("momentum_buffer") for p in params]
            if any(buffer is None for buffer in buffers) or group["nesterov"] or group["maximize"]:
                return None
            plan.append((group, params, grads, buffers))
        self.pairs = [(p, p.grad) for _, params, _, _ in plan for p in params]
        return plan


class CDTrainer:
    """The state of one CD/PCD run between epochs (see the module docstring).

    Parameters
    ----------
    rbm : EnergyModel
        The model, on the training device, its data statistics and initial parameters set.
    source : BatchSource
        The training batches.
    config : CDConfig
        The training configuration; ``lr`` already resolved.
    generator : torch.Generator
        Every random number of the run.
    chains : Tensor, optional
        Persistent chains (PCD), or None (CD).
    monitor_rows, val_rows : Tensor
        Standardised rows the monitors use (``val_rows`` may be None).
    first_epoch : int
        Epochs already in the model's history (the momentum schedule continues from there).
    use_graph : bool
        Replay in-memory epochs from CUDA graphs.
    """

    shown = ("recon_mse", "recon_kl", "pseudo_likelihood")

    def __init__(
        self,
        rbm: EnergyModel,
        source: BatchSource,
        config: CDConfig,
        *,
        generator: torch.Generator,
        chains: Tensor | None,
        monitor_rows: Tensor,
        val_rows: Tensor | None,
        first_epoch: int,
        use_graph: bool,
    ) -> None:
        self.rbm, self.source, self.config, self.generator = rbm, source, config, generator
        self.monitor_rows, self.val_rows, self.first_epoch = monitor_rows, val_rows, first_epoch
        self.momentum = config.momentum_schedule()
        self.optimizer = make_optimizer(rbm, config, config.lr)
        self.objective = ContrastiveDivergence(
            rbm,
            k=config.k,
            generator=generator,
            chains=chains,
            sample_visible=config.sample_visible,
            sparsity_target=config.sparsity_target,
            sparsity_cost=config.sparsity_cost,
            precision=config.precision,
            track_steps=False,  # cd_loss and batch_recon_mse are measured once per epoch
            sampler=None if chains is None else negative_sampler(rbm, config, generator, chains.shape[0]),
            centering=make_centering(rbm, config),
        )
        # distributed: DDP averages the gradient over ranks (the statistics are equal everywhere)
        self.parallel = data_parallel(self.objective, rbm.weight.device, sync_buffers=False)
        # one process: the gradient without autograd (ContrastiveDivergence.set_gradients); DDP
        # needs the backward pass, whose hooks all-reduce the gradient
        self.direct = self.parallel is self.objective
        self.update = OptimizerStep(self.optimizer, direct=self.direct and config.optimizer is None)
        self.weight_before = torch.empty_like(rbm.weight)
        self.update_ratio = torch.zeros((), device=rbm.weight.device, dtype=rbm.weight.dtype)
        in_memory = source.in_memory and not is_distributed()
        self.runner = EpochRunner(self.step, source, use_graph=use_graph) if in_memory else None
        self.settings: list | None = None
        self.epochs_done, self.epochs_to_run = 0, config.epochs  # of the fit; set by train_rbm on resume

    def state(self) -> dict:
        """What the next epoch needs besides the parameters: optimiser buffers, generator, chains, sparsity,
        and the state of the options of :mod:`dbn.samplers` (fast weights, tempered chains, offsets)."""
        objective = self.objective
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "chains": None if objective.chains is None else objective.chains.detach().cpu().clone(),
            "running_activity": None
            if objective.sparsity is None
            else objective.running_activity.detach().cpu().clone(),
            "sampler": None if objective.sampler is None else objective.sampler.state(),
            "centering": None if objective.centering is None else objective.centering.state(),
        }

    def load_state(self, state: dict) -> None:
        """Continue from :meth:`state`'s output (the parameters are loaded separately)."""
        objective, device = self.objective, self.rbm.weight.device
        self.optimizer.load_state_dict(state["optimizer"])
        self.update.reset()
        self.generator.set_state(state["generator"])
        if state["chains"] is not None:
            objective.chains.copy_(state["chains"].to(device))
        if state["running_activity"] is not None:
            objective.running_activity.copy_(state["running_activity"].to(device))
        for name in ("sampler", "centering"):  # absent from states written before these options
            if state.get(name) is not None:
                getattr(objective, name).load_state({key: value.to(device) for key, value in state[name].items()})

    @property
    def chains(self) -> Tensor | None:
        """The persistent chains (None for CD)."""
        return self.objective.chains

    def step(self, batch: Tensor) -> None:
        """One update on a batch of raw rows."""
        if self.direct:
            with torch.no_grad():
                self.objective.set_gradients(self.rbm.standardize(batch))
                self.update()
            return
        loss = self.parallel(self.rbm.standardize(batch))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.update()

    def first_step(self, batch: Tensor) -> None:
        """An update that also measures :math:`\\|\\Delta W\\| / \\|W\\|` on the device."""
        weight = self.rbm.weight
        with torch.no_grad():
            self.weight_before.copy_(weight)
        self.step(batch)
        with torch.no_grad():
            change = torch.linalg.vector_norm(weight - self.weight_before)
            self.update_ratio.copy_(change / torch.linalg.vector_norm(self.weight_before).clamp_min(1e-12))

    def _apply_momentum(self, epoch: int) -> None:
        momentum = self.momentum(self.first_epoch + epoch)
        for group in self.optimizer.param_groups:
            if "momentum" in group:
                group["momentum"] = momentum
        settings = [
            (group.get("lr"), group.get("momentum"), group.get("weight_decay")) for group in self.optimizer.param_groups
        ]
        if self.runner is not None and settings != self.settings:
            self.runner.reset()  # captured graphs hold the old values
        self.settings = settings

    def train_epoch(self, epoch: int) -> None:
        """One pass over the data: the first batch measures the update ratio."""
        self._apply_momentum(epoch)
        if self.runner is not None:
            self.runner.run_epoch(self.first_step)
            return
        batches = iter(self.source)
        self.first_step(next(batches))
        for batch in batches:
            self.step(batch)

    def monitors_due(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based, of this call) measures the monitors: every
        ``monitor_every``-th epoch of the fit, and its last."""
        done = self.epochs_done + epoch + 1
        return done % self.config.monitor_every == 0 or epoch + 1 == self.epochs_to_run

    def measure(self, epoch: int, seconds: float) -> dict:
        """The epoch's record (keys: :mod:`dbn.monitors`), averaged over ranks; the monitors of the
        model are None in the epochs between those of ``monitor_every``."""
        group = self.optimizer.param_groups[0]
        record = {
            "epoch": self.first_epoch + epoch + 1,
            **dict.fromkeys(MODEL_MONITORS),
            "update_ratio": float(self.update_ratio),
            "seconds": seconds,
            "lr": group.get("lr"),
            "momentum": group.get("momentum"),
        }
        if self.monitors_due(epoch):
            record.update(self.model_monitors())
        return reduce_record(record, self.rbm.weight.device)

    def model_monitors(self) -> dict:
        """The monitors of :data:`MODEL_MONITORS` on the monitor (and validation) rows."""
        rbm, rows, val = self.rbm, self.monitor_rows, self.val_rows
        recon_mse, recon_kl = monitors.reconstruction_errors(rbm, rows)
        dead, saturated = monitors.hidden_activity(rbm, rows)
        # the random numbers of the monitors (the flipped units of the pseudo-likelihood, the CD
        # chain of cd_loss) come from generators of their own, the same at every epoch: the
        # training generator's sequence, and so the trained model, does not depend on how often
        # the monitors run, and the values of successive epochs differ by the change of the
        # model, not of the random numbers
        return {
            "recon_mse": recon_mse,
            "recon_kl": recon_kl,
            "pseudo_likelihood": monitors.pseudo_likelihood(rbm, rows, torch.Generator(rows.device).manual_seed(1)),
            "free_energy_gap": None if val is None else monitors.free_energy_gap(rbm, val, rows),
            "val_recon_mse": None if val is None else monitors.reconstruction_errors(rbm, val)[0],
            "dead_fraction": dead,
            "saturated_fraction": saturated,
            **self.objective.epoch_monitors(rows[:CD_MONITOR_ROWS], torch.Generator(rows.device).manual_seed(0)),
        }

    def divergence(self, record: dict) -> str | None:
        """An exploding update: :math:`\\|\\Delta W\\| / \\|W\\|` above :data:`MAX_UPDATE_RATIO`."""
        return exploding_update(record["update_ratio"])

    def finish(self, history: list[dict]) -> None:
        """Warn when every hidden unit ended dead or saturated (the model can represent nothing)."""
        last = history[-1] if history else None
        if last is not None and last["dead_fraction"] is not None and (
            last["dead_fraction"] + last["saturated_fraction"] >= 1.0
        ):
            warnings.warn(
                "every hidden unit is dead or saturated after epoch "
                f"{last['epoch']} (dead {last['dead_fraction']:.0%}, "
                f"saturated {last['saturated_fraction']:.0%}): the features carry no information; try a lower lr than "
                f"{last['lr']}",
                RuntimeWarning,
                stacklevel=4,
            )


# --------------------------------------------------------------------------- a run of RBM.fit


@dataclass(frozen=True)
class CDRun:
    """What one call of :meth:`dbn.rbm.RBM.fit` or :meth:`~dbn.rbm.RBM.resume` trains: the
    configuration, the seed, whether to start from the current parameters, the training state of
    an interrupted run (None for a new one) and the checkpoint writer."""

    config: CDConfig
    seed: int | None = None
    warm_start: bool = False
    state: dict | None = None
    checkpoint: Callable[[Any], None] | None = None
    every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", check_seed(self.seed))
        check_flag(self.warm_start, "warm_start")


class SaveTo:
    """A checkpoint writer: ``writer(model)`` saves ``model`` to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, model: Any) -> None:
        model.save(self.path)


def checkpoint_writer(checkpoint: str | Path | Callable[[Any], None] | None,
                      every: int) -> Callable[[Any], None] | None:
    """A function writing the checkpoint (a path is checked now, before any training)."""
    check_positive(every, "checkpoint_every", integer=True)
    if checkpoint is None or callable(checkpoint):
        return checkpoint
    return SaveTo(check_writable(checkpoint))


def train_rbm(
    rbm: Any,
    X: Any,
    run: CDRun,
    *,
    X_val: Any,
    progress: bool,
    description: str | None,
    callbacks: Any,
    device: torch.device | str | None,
) -> Any:
    """One run of CD training of the RBM ``rbm``: fresh (``run.state`` None) or resumed from a training state."""
    check_flag(progress, "progress")
    config, state, callbacks = run.config, run.state, check_callbacks(callbacks)
    check_sampler_options(rbm, config)
    device = setup(resolve_device(device, rbm.device))
    rbm.to(device)
    seed = broadcast_seed(run.seed, device)
    generator = torch.Generator(device=device).manual_seed(seed + get_rank())
    source = make_source(
        X,
        "X",
        batch_size=config.batch_size,
        device=device,
        dtype=rbm.weight.dtype,
        generator=generator,
        n_features=rbm.n_visible,
        unit_interval=rbm.visible.unit_interval,
        shard_seed=seed,
    )
    V_val = None if X_val is None else rbm.check_visible(X_val, "X_val").to(device)
    use_graph = use_cuda_graph(config, source.in_memory, device)
    stats, data = checked_statistics(source, rbm, config, state)
    if state is None and not run.warm_start:
        start_from(rbm, stats, generator)
    first_epoch = len(rbm.history_) - (state["done"] if state is not None else 0)
    trainer = CDTrainer(
        rbm,
        source,
        config,
        generator=generator,
        chains=initial_chains(rbm, config, run.warm_start, generator),
        monitor_rows=rbm.standardize(stats.sample),
        val_rows=None if V_val is None else rbm.standardize(V_val[: config.monitor_size]),
        first_epoch=len(rbm.history_),
        use_graph=use_graph,
    )
    if state is not None:
        trainer.load_state(state)
    trainer.epochs_done = state["done"] if state is not None else 0
    trainer.epochs_to_run = config.epochs - trainer.epochs_done
    if run.checkpoint is not None:
        callbacks.append(epoch_checkpoint(rbm, trainer, run, seed=seed, first_epoch=first_epoch, data=data))
    with matmul_precision(config.precision):
        run_epochs(
            trainer,
            trainer.epochs_to_run,
            model=rbm,
            history=rbm.history_,
            device=device,
            progress=progress,
            description=description or f"RBM {rbm.n_visible}-{rbm.n_hidden}",
            callbacks=callbacks,
        )
    if trainer.chains is not None:
        rbm.persistent_chains_ = trainer.chains
    rbm.fit_config_, rbm.training_state_ = config, None
    if run.checkpoint is not None:
        run.checkpoint(rbm)
    return rbm


def epoch_checkpoint(
    rbm: Any, trainer: CDTrainer, run: CDRun, *, seed: int, first_epoch: int, data: dict
) -> EpochCheckpoint:
    """The callback that stores the training state of ``rbm`` and writes its checkpoint every ``run.every`` epochs."""

    def state() -> dict:
        return {
            **trainer.state(),
            "seed": seed,
            "done": len(rbm.history_) - first_epoch,
            "every": run.every,
            "data": data,
            "path": str(run.checkpoint.path) if isinstance(run.checkpoint, SaveTo) else None,
        }

    def write(training_state: dict) -> None:
        rbm.fit_config_, rbm.training_state_ = run.config, training_state
        run.checkpoint(rbm)

    return EpochCheckpoint(write, state, run.every)


def use_cuda_graph(config: CDConfig, in_memory: bool, device: torch.device) -> bool:
    """Whether epochs replay CUDA graphs: ``config.cuda_graph``, checked, or the default."""
    if config.cuda_graph and (device.type != "cuda" or not in_memory):
        raise ValueError(
            "cuda_graph=True needs in-memory X on a CUDA device, "
            f"got {'a ' if in_memory else 'an iterable on '}{device}"
        )
    if config.cuda_graph and is_distributed():
        raise ValueError("cuda_graph=True needs a single process: distributed runs train eagerly")
    if config.cuda_graph is not None:
        return config.cuda_graph
    # graphs need a generator the graph can advance (torch >= 2.5)
    return (
        device.type == "cuda"
        and in_memory
        and config.optimizer is None
        and not config.uses_samplers()
        and not is_distributed()
        and hasattr(torch.cuda.CUDAGraph, "register_generator_state")
    )


def in_memory_statistics(source: BatchSource, sample_size: int, chunk_size: int = 1024) -> DataStatistics:
    """:meth:`BatchSource.statistics` of in-memory data in one process, faster and more accurately.

    There the float64 moments of chunks are merged one chunk after another (Chan et al.'s update of
    a running mean and variance, a division per element); here the mean is one pass of float64
    sums and the variance a second pass over the deviations from it, in chunks of ``chunk_size``
    rows (4 times faster on 60,000 x 500 grey levels). Binary data, held as ``uint8``, needs only
    the counts of ones, exact sums of float32 chunks (each below :math:`2^{24}`), and its variance
    is :math:`p (1 - p)` (30 times faster on MNIST). The results differ from the general ones in
    the last bits of float64 (they are more accurate), not in float32; the sample of
    rows is drawn exactly as there, with the same random numbers. :func:`checked_statistics` makes
    sure the float32 values are the same.
    """
    data, n = source.data, source.data.shape[0]
    total = torch.zeros(data.shape[1], dtype=torch.float64, device=data.device)
    binary = data.dtype == torch.uint8
    # one buffer for the chunks' conversions: fresh chunks of megabytes would each be new pages
    rows = torch.empty(min(chunk_size, n), data.shape[1], dtype=torch.float32 if binary else torch.float64,
                       device=data.device)
    for chunk in data.split(chunk_size):
        total += rows[: chunk.shape[0]].copy_(chunk).sum(0) if binary else chunk.sum(0, dtype=torch.float64)
    mean = total / n
    if binary:
        variance = mean * (1 - mean)
    else:
        squares = torch.zeros_like(mean)
        for chunk in data.split(chunk_size):
            squares += torch.sub(chunk, mean, out=rows[: chunk.shape[0]]).square_().sum(0)
        variance = squares / n
    picked = torch.randperm(n, generator=source.generator, device=data.device)[:sample_size]
    return DataStatistics(mean, variance.clamp_(min=0).sqrt_(), source.gather(picked))


def same_float32(values: Tensor, rtol: float = 1e-12) -> bool:
    """Whether every float64 value rounds to the float32 of every number within ``rtol`` of it.

    The general statistics and :func:`in_memory_statistics` agree to far better than 1e-12 (both
    are float64 computations of the same moments), so where this holds the model's float32
    statistics, and so its training, are the same from either.
    """
    return torch.equal((values * (1 - rtol)).float(), (values * (1 + rtol)).float())


def checked_statistics(source: BatchSource, rbm: Any, config: CDConfig,
                       state: dict | None) -> tuple[DataStatistics, dict]:
    """The data statistics of a run and their fingerprint, checked against a resumed run's.

    In-memory data in one process, for a float32 model, takes :func:`in_memory_statistics`, unless
    a value lies so close to a float32 tie that the two computations might round it apart (then
    the general statistics are computed, from the same random numbers); a checkpoint whose
    fingerprint came from the general statistics (written before they were used) is recognised by
    computing those too.
    """
    fast = source.in_memory and not is_distributed() and rbm.weight.dtype == torch.float32
    stats = None
    if fast:
        state_before = source.generator.get_state() if source.generator is not None else None
        stats = in_memory_statistics(source, config.monitor_size)
        if not (same_float32(stats.mean) and same_float32(stats.std)):  # a value next to a float32 tie
            if state_before is not None:
                source.generator.set_state(state_before)
            stats, fast = None, False
    if stats is None:
        stats = source.statistics(
            n_features=rbm.n_visible, unit_interval=rbm.visible.unit_interval, sample_size=config.monitor_size
        )
    data = fingerprint(stats.mean, stats.std)
    if state is not None:
        try:
            check_fingerprint(state["data"], data)
        except ValueError:
            if not fast:
                raise
            general = source.statistics(n_features=rbm.n_visible, unit_interval=rbm.visible.unit_interval,
                                        sample_size=1)
            check_fingerprint(state["data"], fingerprint(general.mean, general.std))
    return stats, data


def start_from(rbm: Any, stats: DataStatistics, generator: torch.Generator) -> None:
    """The RBM ``rbm`` with data statistics from ``stats``, fresh parameters, an empty history."""
    with torch.no_grad():
        rbm.data_mean.copy_(stats.mean)
        rbm.data_std.copy_(torch.where(stats.std > 1e-6, stats.std, torch.ones_like(stats.std)))
    rbm.reset_parameters(generator, stats.mean)
    rbm.history_ = []


def initial_chains(rbm: Any, config: CDConfig, warm_start: bool, generator: torch.Generator) -> Tensor | None:
    """PCD's fantasy particles of ``rbm``: continued on a warm start, else drawn from the base-rate model."""
    if not config.persistent:
        return None
    n_chains = config.n_chains or config.batch_size
    previous = getattr(rbm, "persistent_chains_", None)
    if warm_start and previous is not None:
        if previous.shape[0] == n_chains:
            return previous.to(rbm.device).clone()
        warnings.warn(f"persistent_chains_ holds {previous.shape[0]} chains but n_chains is {n_chains}: "
                      "new chains start from the base rate", RuntimeWarning, stacklevel=2)
    return rbm.visible.sample(rbm.base_rate_bias().expand(n_chains, -1).contiguous(), generator)
