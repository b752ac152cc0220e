"""One contrastive-divergence training run of an RBM, as an epoch task of :mod:`dbn.loop`.

:class:`CDTrainer` holds everything a run needs between epochs: the optimiser (the weights with
weight decay, the biases without), the CD objective of :mod:`dbn.cd` (wrapped for data-parallel
training), the epoch plan of :mod:`dbn.graphs` for in-memory data, the momentum schedule, and the
fixed rows the monitors of :mod:`dbn.monitors` are computed on. :func:`train_rbm` is the whole run
behind :meth:`dbn.rbm.RBM.fit` and :meth:`~dbn.rbm.RBM.resume`: it reads the data and its
statistics, initialises the model, builds a :class:`CDTrainer` (restoring an interrupted run's
training state, :mod:`dbn.resume`) and hands it to :func:`dbn.loop.run_epochs`.
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
from dbn.validation import check_flag, check_positive, check_seed, resolve_device

__all__ = ["MAX_UPDATE_RATIO", "CDRun", "CDTrainer", "SaveTo", "checkpoint_writer", "make_optimizer", "train_rbm"]

#: a first update of an epoch that changes the weights by more than this many times their norm has diverged
MAX_UPDATE_RATIO = 10.0


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
        )
        # distributed: DDP averages the gradient over ranks (the statistics are equal everywhere)
        self.parallel = data_parallel(self.objective, rbm.weight.device, sync_buffers=False)
        self.weight_before = torch.empty_like(rbm.weight)
        self.update_ratio = torch.zeros((), device=rbm.weight.device, dtype=rbm.weight.dtype)
        in_memory = source.in_memory and not is_distributed()
        self.runner = EpochRunner(self.step, source, use_graph=use_graph) if in_memory else None
        self.settings: list | None = None

    def state(self) -> dict:
        """What the next epoch needs besides the parameters: optimiser buffers, generator, chains, sparsity."""
        objective = self.objective
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "chains": None if objective.chains is None else objective.chains.detach().cpu().clone(),
            "running_activity": None
            if objective.sparsity is None
            else objective.running_activity.detach().cpu().clone(),
        }

    def load_state(self, state: dict) -> None:
        """Continue from :meth:`state`'s output (the parameters are loaded separately)."""
        objective, device = self.objective, self.rbm.weight.device
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if state["chains"] is not None:
            objective.chains.copy_(state["chains"].to(device))
        if state["running_activity"] is not None:
            objective.running_activity.copy_(state["running_activity"].to(device))

    @property
    def chains(self) -> Tensor | None:
        """The persistent chains (None for CD)."""
        return self.objective.chains

    def step(self, batch: Tensor) -> None:
        """One update on a batch of raw rows."""
        loss = self.parallel(self.rbm.standardize(batch))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

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

    def measure(self, epoch: int, seconds: float) -> dict:
        """The epoch's record (keys: :mod:`dbn.monitors`), averaged over ranks."""
        rbm, rows, val = self.rbm, self.monitor_rows, self.val_rows
        group = self.optimizer.param_groups[0]
        recon_mse, recon_kl = monitors.reconstruction_errors(rbm, rows)
        dead, saturated = monitors.hidden_activity(rbm, rows)
        record = {
            "epoch": self.first_epoch + epoch + 1,
            "recon_mse": recon_mse,
            "recon_kl": recon_kl,
            "pseudo_likelihood": monitors.pseudo_likelihood(rbm, rows, self.generator),
            "free_energy_gap": None if val is None else monitors.free_energy_gap(rbm, val, rows),
            "val_recon_mse": None if val is None else monitors.reconstruction_errors(rbm, val)[0],
            "update_ratio": float(self.update_ratio),
            "dead_fraction": dead,
            "saturated_fraction": saturated,
            "seconds": seconds,
            "lr": group.get("lr"),
            "momentum": group.get("momentum"),
            **self.objective.read_monitors(),
        }
        return reduce_record(record, rbm.weight.device)

    def divergence(self, record: dict) -> str | None:
        """An exploding update: :math:`\\|\\Delta W\\| / \\|W\\|` above :data:`MAX_UPDATE_RATIO`."""
        ratio = record["update_ratio"]
        if ratio > MAX_UPDATE_RATIO:
            return (
                f"the epoch's first update changed the weights by {ratio:.3g} "
                f"times their norm (more than {MAX_UPDATE_RATIO:g})"
            )
        return None

    def finish(self, history: list[dict]) -> None:
        """Warn when every hidden unit ended dead or saturated (the model can represent nothing)."""
        last = history[-1] if history else None
        if last is not None and last["dead_fraction"] + last["saturated_fraction"] >= 1.0:
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
    stats = source.statistics(
        n_features=rbm.n_visible, unit_interval=rbm.visible.unit_interval, sample_size=config.monitor_size
    )
    data = fingerprint(stats.mean, stats.std)
    if state is not None:
        check_fingerprint(state["data"], data)
    elif not run.warm_start:
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
    if run.checkpoint is not None:
        callbacks.append(epoch_checkpoint(rbm, trainer, run, seed=seed, first_epoch=first_epoch, data=data))
    with matmul_precision(config.precision):
        run_epochs(
            trainer,
            config.epochs - (state["done"] if state is not None else 0),
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
        and not is_distributed()
        and hasattr(torch.cuda.CUDAGraph, "register_generator_state")
    )


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
    if warm_start and previous is not None and previous.shape[0] == n_chains:
        return previous.to(rbm.device).clone()
    return rbm.visible.sample(rbm.base_rate_bias().expand(n_chains, -1).contiguous(), generator)
