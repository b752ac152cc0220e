"""One contrastive-divergence training run of an RBM, as an epoch task of :mod:`dbn.loop`.

:class:`CDTrainer` holds everything a run needs between epochs: the optimiser (the weights with
weight decay, the biases without), the CD objective of :mod:`dbn.cd` (wrapped for data-parallel
training), the epoch plan of :mod:`dbn.graphs` for in-memory data, the momentum schedule, and the
fixed rows the monitors of :mod:`dbn.monitors` are computed on. :meth:`dbn.rbm.RBM.fit` checks the
arguments, builds one, and hands it to :func:`dbn.loop.run_epochs`.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from dbn import monitors
from dbn.batches import BatchSource
from dbn.cd import ContrastiveDivergence
from dbn.config import CDConfig
from dbn.distributed import data_parallel, is_distributed, reduce_record
from dbn.energy import EnergyModel
from dbn.graphs import EpochRunner

__all__ = ["MAX_UPDATE_RATIO", "CDTrainer", "make_optimizer"]

#: a first update of an epoch that changes the weights by more than this many times their norm has diverged
MAX_UPDATE_RATIO = 10.0


def make_optimizer(rbm: EnergyModel, config: CDConfig, lr: float) -> torch.optim.Optimizer:
    """SGD with momentum (or ``config.optimizer``) over two groups: weights with ``weight_decay``, biases without."""
    groups = [
        {"params": [rbm.weight], "weight_decay": config.weight_decay},
        {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0},
    ]
    if config.optimizer is not None:
        return config.optimizer(groups)
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
            rbm, k=config.k, generator=generator, chains=chains, sample_visible=config.sample_visible,
            sparsity_target=config.sparsity_target, sparsity_cost=config.sparsity_cost, precision=config.precision,
        )
        # distributed: DDP averages the gradient over ranks (the statistics are equal everywhere)
        self.parallel = data_parallel(self.objective, rbm.weight.device, sync_buffers=False)
        self.weight_before = torch.empty_like(rbm.weight)
        self.update_ratio = torch.zeros((), device=rbm.weight.device, dtype=rbm.weight.dtype)
        in_memory = source.in_memory and not is_distributed()
        self.runner = EpochRunner(self.step, source, use_graph=use_graph) if in_memory else None
        self.settings: list | None = None

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
        settings = [(group.get("lr"), group.get("momentum"), group.get("weight_decay")) for group in self.optimizer.param_groups]
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
            return f"the epoch's first update changed the weights by {ratio:.3g} times their norm (more than {MAX_UPDATE_RATIO:g})"
        return None

    def finish(self, history: list[dict]) -> None:
        """Warn when every hidden unit ended dead or saturated (the model can represent nothing)."""
        last = history[-1] if history else None
        if last is not None and last["dead_fraction"] + last["saturated_fraction"] >= 1.0:
            warnings.warn(
                f"every hidden unit is dead or saturated after epoch {last['epoch']} (dead {last['dead_fraction']:.0%}, "
                f"saturated {last['saturated_fraction']:.0%}): the features carry no information; try a lower lr than "
                f"{last['lr']}", RuntimeWarning, stacklevel=4,
            )
