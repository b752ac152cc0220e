r"""The restricted Boltzmann machine, trained by contrastive divergence.

Energy and free energy, with visible units :math:`v`, hidden units :math:`h`, weights
:math:`W \in \mathbb{R}^{H \times D}` (the ``nn.Linear`` layout), biases :math:`b, c`:

.. math::

    E(v, h) = \mathrm{base}(v) - b^\top v - c^\top h - h^\top W v, \qquad
    F(v) = \mathrm{base}(v) - b^\top v - \sum_j \log Z_h\big((W v + c)_j\big),

where the unit types (:mod:`dbn.units`) supply ``base`` and :math:`\log Z`. The log-likelihood
gradient is :math:`-\nabla F(v_{data}) + E_{model}[\nabla F(v)]`; CD-k replaces the model
expectation by the end of a k-step Gibbs chain started at the data (PCD: at persistent chains).
Training therefore minimises the surrogate

.. math::  L = \overline{F(v_{data})} - \overline{F(\mathrm{sg}(v_{model}))}

with a ``torch.optim`` optimiser (the surrogate and its gradient: :mod:`dbn.cd`); momentum,
weight decay and schedules come from torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from dbn import monitors
from dbn.batches import make_source
from dbn.cd import ContrastiveDivergence
from dbn.distributed import broadcast_seed, data_parallel, get_rank, is_distributed, is_rank_zero, reduce_record, setup
from dbn.graphs import EpochRunner
from dbn.likelihood import ais_log_partition, exact_log_partition
from dbn.precision import check_precision, matmul_precision
from dbn.serialization import load_checkpoint, save_checkpoint
from dbn.units import Units, get_units
from dbn.validation import as_float_tensor, check_positive, resolve_device

__all__ = ["RBM", "hinton_momentum"]

#: a momentum schedule: epoch index (0-based) -> momentum
MomentumSchedule = Callable[[int], float]
#: a callback, called after each epoch; returning True stops training
Callback = Callable[["RBM", dict], Any]
#: an optimiser factory: parameter groups -> optimiser
OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]

_PROBABILITY_CLIP = 1e-3


def hinton_momentum(epoch: int) -> float:
    """Momentum 0.5 for the first five epochs, then 0.9 (Hinton 2010, sec. 9; Hinton & Salakhutdinov 2006)."""
    return 0.5 if epoch < 5 else 0.9


class RBM(nn.Module):
    """Restricted Boltzmann machine with pluggable visible and hidden unit types.

    Parameters
    ----------
    n_visible, n_hidden : int
        Layer sizes.
    visible : {"bernoulli", "gaussian"}
        Visible unit type. Gaussian data is standardised with the mean and standard deviation
        measured by ``fit`` (buffers ``data_mean``, ``data_std``), and every later call applies
        the same transformation, so predictions never depend on the batch.
    hidden : {"bernoulli", "relu", "gaussian"}
        Hidden unit type. Gaussian hidden units are linear with unit-variance noise, as in the
        code layer of Hinton & Salakhutdinov's (2006) autoencoders.
    dtype : torch.dtype
        Parameter dtype (float32 by default).

    Attributes
    ----------
    weight : nn.Parameter, shape (n_hidden, n_visible)
    visible_bias : nn.Parameter, shape (n_visible,)
    hidden_bias : nn.Parameter, shape (n_hidden,)
    history_ : list of dict
        One record per training epoch; the keys are documented in :mod:`dbn.monitors`.
    persistent_chains_ : Tensor, shape (n_chains, n_visible)
        After persistent CD: the fantasy particles (standardised for Gaussian visible units),
        continued by ``fit(..., persistent=True, warm_start=True)``.
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        visible: str | Units = "bernoulli",
        hidden: str | Units = "bernoulli",
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_positive(n_visible, "n_visible", integer=True)
        check_positive(n_hidden, "n_hidden", integer=True)
        self.visible = get_units(visible, argument="visible")
        self.hidden = get_units(hidden, argument="hidden")
        if self.visible.name not in ("bernoulli", "gaussian"):
            raise ValueError(f"visible must be 'bernoulli' or 'gaussian', got {self.visible.name!r}")
        if self.hidden.name not in ("bernoulli", "relu", "gaussian"):
            raise ValueError(f"hidden must be 'bernoulli', 'relu' or 'gaussian', got {self.hidden.name!r}")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.dtype = dtype
        self.weight = nn.Parameter(torch.zeros(n_hidden, n_visible, dtype=dtype))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible, dtype=dtype))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden, dtype=dtype))
        self.register_buffer("data_mean", torch.full((n_visible,), 0.5 if self.visible.unit_interval else 0.0, dtype=dtype))
        self.register_buffer("data_std", torch.ones(n_visible, dtype=dtype))
        self.history_: list[dict] = []
        self.reset_parameters()

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, visible={self.visible.name!r}, hidden={self.hidden.name!r}"

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        """The constructor arguments, as JSON-compatible values."""
        return {
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "visible": self.visible.name,
            "hidden": self.hidden.name,
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    @classmethod
    def from_config(cls, config: dict) -> RBM:
        """Build an untrained model from :meth:`config`'s output."""
        options = dict(config)
        return cls(**{**options, "dtype": getattr(torch, options.get("dtype", "float32"))})

    def save(self, path: str | Path) -> None:
        """Write parameters, standardisation buffers, configuration and history, atomically.

        In a distributed run only rank 0 writes (:func:`dbn.serialization.save_checkpoint`).
        """
        save_checkpoint(path, kind="RBM", config=self.config(), state_dict=self.state_dict(), extra={"history": self.history_})

    @classmethod
    def load(cls, path: str | Path, *, map_location: torch.device | str = "cpu") -> RBM:
        """Read a model written by :meth:`save` (``torch.load(weights_only=True)`` underneath)."""
        config, state_dict, extra = load_checkpoint(path, kind="RBM")
        model = cls.from_config(config)
        model.load_state_dict(state_dict)
        model.history_ = list((extra or {}).get("history", []))
        return model.to(map_location)

    # ------------------------------------------------------------------ parameters

    def reset_parameters(self, generator: torch.Generator | None = None, data_mean: Tensor | None = None) -> None:
        """Weights from N(0, 0.01^2), hidden biases 0, visible biases the data's log-odds.

        With ``data_mean`` (the per-feature mean of the training data) Bernoulli visible biases
        start at :math:`\\log(p_i / (1 - p_i))` (Hinton 2010, sec. 8), ``p`` clipped to
        [0.001, 0.999]; Gaussian visible biases start at 0, the mean of standardised data.
        """
        with torch.no_grad():
            self.weight.copy_(torch.randn(self.weight.shape, generator=generator, device=self.weight.device, dtype=self.weight.dtype).mul_(0.01))
            self.hidden_bias.zero_()
            self.visible_bias.zero_()
            if data_mean is not None and self.visible.unit_interval:
                p = data_mean.to(self.visible_bias).clamp(_PROBABILITY_CLIP, 1 - _PROBABILITY_CLIP)
                self.visible_bias.copy_(torch.log(p) - torch.log1p(-p))

    def base_rate_bias(self) -> Tensor:
        """Visible biases of the base-rate model of AIS: the log-odds of the training data's mean."""
        if not self.visible.unit_interval:
            return torch.zeros_like(self.visible_bias.detach())
        p = self.data_mean.clamp(_PROBABILITY_CLIP, 1 - _PROBABILITY_CLIP)
        return torch.log(p) - torch.log1p(-p)

    # ------------------------------------------------------------------ model space
    # Methods with a leading underscore take visible states already standardised and skip input
    # checks; the training loop and the monitors use them.

    def _hidden_input(self, v: Tensor) -> Tensor:
        return F.linear(v, self.weight, self.hidden_bias)

    def _visible_input(self, h: Tensor) -> Tensor:
        return torch.addmm(self.visible_bias, h, self.weight)

    def _free_energy(self, v: Tensor, hidden_input: Tensor | None = None) -> Tensor:
        x = self._hidden_input(v) if hidden_input is None else hidden_input
        return self.visible.base(v) - v @ self.visible_bias - self.hidden.log_partition(x).sum(-1)

    def _standardize(self, v: Tensor) -> Tensor:
        return (v - self.data_mean) / self.data_std if self.visible.standardize_data else v

    def _unstandardize(self, v: Tensor) -> Tensor:
        return torch.addcmul(self.data_mean, v, self.data_std) if self.visible.standardize_data else v

    # ------------------------------------------------------------------ inference (data space)

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def _check_visible(self, v: Any, name: str = "v") -> Tensor:
        return as_float_tensor(
            v, name, dtype=self.weight.dtype, device=self.device, n_features=self.n_visible, unit_interval=self.visible.unit_interval
        )

    def _check_hidden(self, h: Any, name: str = "h") -> Tensor:
        return as_float_tensor(h, name, dtype=self.weight.dtype, device=self.device, n_features=self.n_hidden)

    def free_energy(self, v: Tensor | np.ndarray) -> Tensor:
        """Free energy :math:`F(v) = -\\log \\sum_h e^{-E(v, h)}` of each row (data space, nats).

        For Gaussian visible units it is the free energy of the standardised data.
        """
        return self._free_energy(self._standardize(self._check_visible(v)))

    def hidden_probs(self, v: Tensor | np.ndarray) -> Tensor:
        """Conditional mean :math:`E[h \\mid v]` (probabilities for binary hidden units)."""
        return self.hidden.mean(self._hidden_input(self._standardize(self._check_visible(v))))

    def sample_hidden(self, v: Tensor | np.ndarray, generator: torch.Generator | None = None) -> Tensor:
        """A draw from :math:`p(h \\mid v)`."""
        return self.hidden.sample(self._hidden_input(self._standardize(self._check_visible(v))), generator)

    def visible_probs(self, h: Tensor | np.ndarray) -> Tensor:
        """Conditional mean :math:`E[v \\mid h]` in data units (probabilities, or the Gaussian mean)."""
        return self._unstandardize(self.visible.mean(self._visible_input(self._check_hidden(h))))

    def sample_visible(self, h: Tensor | np.ndarray, generator: torch.Generator | None = None) -> Tensor:
        """A draw from :math:`p(v \\mid h)` in data units."""
        return self._unstandardize(self.visible.sample(self._visible_input(self._check_hidden(h)), generator))

    @torch.no_grad()
    def _gibbs(self, v: Tensor, steps: int, generator: torch.Generator | None) -> Tensor:
        for _ in range(steps):
            h = self.hidden.sample(self._hidden_input(v), generator)
            v = self.visible.sample(self._visible_input(h), generator)
        return v

    def gibbs(self, v: Tensor | np.ndarray, steps: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """Run ``steps`` full Gibbs steps v -> h -> v from ``v``; return the final visible sample."""
        check_positive(steps, "steps", integer=True)
        return self._unstandardize(self._gibbs(self._standardize(self._check_visible(v)), steps, generator))

    @torch.no_grad()
    def reconstruct(self, v: Tensor | np.ndarray) -> Tensor:
        """Mean-field recreation :math:`E[v \\mid h = E[h \\mid v]]` in data units."""
        h = self.hidden.mean(self._hidden_input(self._standardize(self._check_visible(v))))
        return self._unstandardize(self.visible.mean(self._visible_input(h)))

    @torch.no_grad()
    def transform(self, X: Tensor | np.ndarray, *, batch_size: int = 4096) -> Tensor | np.ndarray:
        """Hidden-unit means for every row of ``X``, in chunks; NumPy in gives NumPy out."""
        V = self._check_visible(X, "X")
        out = torch.cat([self.hidden.mean(self._hidden_input(self._standardize(chunk))) for chunk in V.split(batch_size)])
        return out.cpu().numpy() if not isinstance(X, Tensor) else out

    # ------------------------------------------------------------------ likelihood

    def log_partition(self, method: str = "exact", *, return_error: bool = False, **options: Any) -> float | tuple[float, float]:
        """Log partition function :math:`\\log Z` of the model (of standardised data when Gaussian).

        Parameters
        ----------
        method : {"exact", "ais"}
            ``"exact"`` enumerates the smaller layer (refused above 25 units); ``"ais"`` runs
            annealed importance sampling from the base-rate model (options ``n_chains``,
            ``n_betas``, ``base_bias``, ``generator``: see :func:`dbn.likelihood.ais_log_partition`).
        return_error : bool
            Also return the standard error of the estimate (0 for ``"exact"``).
        """
        if method == "exact":
            log_z, error = exact_log_partition(self, **options), 0.0
        elif method == "ais":
            log_z, error = ais_log_partition(self, **options)
        else:
            raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")
        return (log_z, error) if return_error else log_z

    @torch.no_grad()
    def log_likelihood(self, X: Tensor | np.ndarray, method: str = "exact", *, return_error: bool = False, **options: Any) -> float | tuple[float, float]:
        """Mean log-probability :math:`\\frac1N \\sum_n \\log p(x_n)` in nats.

        For Gaussian visible units this is the density of the data in its own units: the
        standardisation's Jacobian :math:`-\\sum_i \\log \\sigma_i` is included.
        ``method`` and ``options`` are those of :meth:`log_partition`.
        """
        V = self._check_visible(X, "X")
        log_z, error = self.log_partition(method, return_error=True, **options)
        mean_free_energy = float(torch.cat([self._free_energy(self._standardize(c)).double() for c in V.split(4096)]).mean())
        jacobian = float(torch.log(self.data_std.double()).sum()) if self.visible.standardize_data else 0.0
        value = -mean_free_energy - log_z - jacobian
        return (value, error) if return_error else value

    # ------------------------------------------------------------------ training

    def fit(
        self,
        X: Tensor | np.ndarray | Iterable[Any],
        *,
        epochs: int = 10,
        batch_size: int = 100,
        lr: float | None = None,
        k: int = 1,
        persistent: bool = False,
        n_chains: int | None = None,
        momentum: float | MomentumSchedule = hinton_momentum,
        weight_decay: float = 0.0,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
        sample_visible: bool = False,
        optimizer: OptimizerFactory | None = None,
        X_val: Tensor | np.ndarray | None = None,
        monitor_size: int = 1024,
        progress: bool = True,
        description: str | None = None,
        callbacks: Sequence[Callback] | None = None,
        device: torch.device | str | None = None,
        seed: int | None = None,
        warm_start: bool = False,
        precision: str = "float32",
        cuda_graph: bool | None = None,
    ) -> RBM:
        """Train by contrastive divergence (CD-k) or persistent CD.

        Parameters
        ----------
        X : array, tensor, or iterable of batches
            Training data of shape (n_samples, n_visible): values in [0, 1] for Bernoulli visible
            units. An in-memory array is reshuffled every epoch; an iterable (e.g. a
            ``DataLoader``, whose batches may be ``(data, target)`` pairs) is read batch by batch,
            never copied whole, and shuffles itself.
        epochs : int
            Passes over the data.
        batch_size : int
            Minibatch size for in-memory data (per process in a distributed run).
        lr : float, optional
            Learning rate; default 0.1, or 0.01 when either layer is Gaussian (Hinton 2010,
            sec. 13.2: linear units need a rate one or two orders of magnitude smaller).
        k : int
            Gibbs steps per update.
        persistent : bool
            Persistent CD (Tieleman 2008): the negative phase continues ``n_chains`` fantasy
            particles from update to update instead of restarting at the data.
        n_chains : int, optional
            Number of persistent chains (default ``batch_size``), independent of the batch size.
        momentum : float or callable
            Constant, or a function of the 0-based epoch; default 0.5 for 5 epochs, then 0.9.
        weight_decay : float
            L2 penalty on the weights only (Hinton's "weight cost", e.g. 2e-4); biases are exempt.
        sparsity_target, sparsity_cost : float
            Target mean activation ``p`` of the hidden units and the weight of the penalty
            pulling their running mean activation ``q`` towards it (Hinton 2010, sec. 11).
        sample_visible : bool
            In CD, also sample the final visible state of the chain. The default uses its
            probabilities (Hinton 2010, sec. 3.2), as Hinton & Salakhutdinov's code does.
            Persistent chains always sample.
        optimizer : callable, optional
            Factory called with the parameter groups (the weights with ``weight_decay``, the biases
            without) returning a ``torch.optim.Optimizer``; default SGD with momentum.
        X_val : array or tensor, optional
            Validation data for ``free_energy_gap`` and ``val_recon_mse``.
        monitor_size : int
            Rows of training data (a fixed random subset) on which the monitors are computed.
        progress : bool
            Show a tqdm bar over epochs with the latest monitors.
        description : str, optional
            Label of the bar (default ``"RBM <n_visible>-<n_hidden>"``).
        callbacks : sequence of callables
            ``callback(rbm, record)`` after each epoch; a return value of True stops training.
        device : str or torch.device, optional
            Where to train ("auto": CUDA when available); default where the module is.
        seed : int, optional
            Seeds the one generator used for initialisation, shuffling and sampling; the same
            seed gives the same model. Default: drawn from torch's global generator. In a
            distributed run rank 0's seed is used, and rank ``r`` samples with ``seed + r``.
        warm_start : bool
            Continue from the current parameters and data statistics instead of re-initialising.
        precision : {"float32", "tf32", "bfloat16"}
            Precision of the products (:mod:`dbn.precision`): exact float32 (default), TF32
            tensor cores on CUDA, or bfloat16 mixed precision (parameters and updates stay float32).
        cuda_graph : bool, optional
            Replay the steps of each epoch from CUDA graphs (:mod:`dbn.graphs`). Default: on for
            in-memory data on a CUDA device with the default optimiser in one process; ``True``
            demands it.

        Returns
        -------
        RBM
            ``self``, with ``history_`` extended by one record per epoch.

        Notes
        -----
        Under ``torchrun``, or in an initialised process group of several processes, training is
        data-parallel (:mod:`dbn.distributed`): each rank trains on its shard of ``X``,
        ``DistributedDataParallel`` averages the CD gradients, the data statistics are merged
        across ranks, persistent chains (``n_chains`` per rank) stay in their process, the records
        of ``history_`` are averaged over ranks, and only rank 0 shows the progress bar.
        """
        check_positive(epochs, "epochs", integer=True)
        check_positive(batch_size, "batch_size", integer=True)
        check_positive(k, "k", integer=True)
        check_positive(monitor_size, "monitor_size", integer=True)
        check_positive(weight_decay, "weight_decay", allow_zero=True)
        check_positive(sparsity_cost, "sparsity_cost", allow_zero=True)
        if lr is None:
            lr = min(self.visible.default_lr, self.hidden.default_lr)
        check_positive(lr, "lr")
        if n_chains is not None:
            check_positive(n_chains, "n_chains", integer=True)
        if sparsity_target is not None and not 0 < sparsity_target < 1:
            raise ValueError(f"sparsity_target must be in (0, 1), got {sparsity_target!r}")
        check_precision(precision)
        if cuda_graph not in (None, True, False):
            raise TypeError(f"cuda_graph must be None, True or False, got {cuda_graph!r}")
        if not callable(momentum):
            check_positive(momentum, "momentum", allow_zero=True)
            momentum = (lambda value: lambda epoch: value)(float(momentum))

        device = setup(resolve_device(device, self.device))
        self.to(device)
        seed = broadcast_seed(seed, device)
        generator = torch.Generator(device=device).manual_seed(seed + get_rank())
        unit_interval = self.visible.unit_interval
        source = make_source(
            X, "X", batch_size=batch_size, device=device, dtype=self.weight.dtype, generator=generator,
            n_features=self.n_visible, unit_interval=unit_interval, shard_seed=seed,
        )
        V_val = None
        if X_val is not None:
            V_val = as_float_tensor(X_val, "X_val", dtype=self.weight.dtype, device=device, n_features=self.n_visible, unit_interval=unit_interval)
        if cuda_graph and (device.type != "cuda" or not source.in_memory):
            raise ValueError(f"cuda_graph=True needs in-memory X on a CUDA device, got {'a ' if source.in_memory else 'an iterable on '}{device}")
        if cuda_graph and is_distributed():
            raise ValueError("cuda_graph=True needs a single process: distributed runs train eagerly")
        if cuda_graph is None:  # graphs need a generator the graph can advance (torch >= 2.5)
            cuda_graph = (
                device.type == "cuda" and source.in_memory and optimizer is None and not is_distributed()
                and hasattr(torch.cuda.CUDAGraph, "register_generator_state")
            )
        stats = source.statistics(n_features=self.n_visible, unit_interval=unit_interval, sample_size=monitor_size)

        if not warm_start:
            with torch.no_grad():
                self.data_mean.copy_(stats.mean)
                self.data_std.copy_(torch.where(stats.std > 1e-6, stats.std, torch.ones_like(stats.std)))
            self.reset_parameters(generator, stats.mean)
            self.history_ = []
        monitor_rows = self._standardize(stats.sample)
        val_rows = self._standardize(V_val[:monitor_size]) if V_val is not None else None

        groups = [
            {"params": [self.weight], "weight_decay": weight_decay},
            {"params": [self.visible_bias, self.hidden_bias], "weight_decay": 0.0},
        ]
        opt = optimizer(groups) if optimizer is not None else torch.optim.SGD(groups, lr=lr, momentum=momentum(0), fused=True)
        chains = None
        if persistent:
            n_chains = n_chains or batch_size
            previous = getattr(self, "persistent_chains_", None)
            if warm_start and previous is not None and previous.shape[0] == n_chains:
                chains = previous.to(device).clone()
            else:
                chains = self.visible.sample(self.base_rate_bias().expand(n_chains, -1).contiguous(), generator)
        objective = ContrastiveDivergence(
            self, k=k, generator=generator, chains=chains, sample_visible=sample_visible,
            sparsity_target=sparsity_target, sparsity_cost=sparsity_cost, precision=precision,
        )
        # distributed: DDP averages the gradient over ranks (the statistics are equal everywhere)
        parallel = data_parallel(objective, device, sync_buffers=False)

        def step(batch: Tensor) -> None:
            loss = parallel(self._standardize(batch))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        weight_before = torch.empty_like(self.weight)
        update_ratio = torch.zeros((), device=device, dtype=self.weight.dtype)

        def first_step(batch: Tensor) -> None:
            with torch.no_grad():
                weight_before.copy_(self.weight)
            step(batch)
            with torch.no_grad():
                change = torch.linalg.vector_norm(self.weight - weight_before)
                update_ratio.copy_(change / torch.linalg.vector_norm(weight_before).clamp_min(1e-12))

        runner = EpochRunner(step, source, use_graph=cuda_graph) if source.in_memory and not is_distributed() else None
        first_epoch = len(self.history_)
        hyperparameters = None
        bar = tqdm(range(epochs), desc=description or f"RBM {self.n_visible}-{self.n_hidden}", disable=not (progress and is_rank_zero()), leave=False)
        with matmul_precision(precision):
            for epoch in bar:
                schedule_momentum = momentum(first_epoch + epoch)
                for group in opt.param_groups:
                    if "momentum" in group:
                        group["momentum"] = schedule_momentum
                settings = [(group.get("lr"), group.get("momentum"), group.get("weight_decay")) for group in opt.param_groups]
                if runner is not None and settings != hyperparameters:
                    runner.reset()  # captured graphs hold the old values
                hyperparameters = settings
                started = time.perf_counter()
                if runner is not None:
                    runner.run_epoch(first_step)
                else:
                    batches = iter(source)
                    first_step(next(batches))
                    for batch in batches:
                        step(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = time.perf_counter() - started
                record = self._epoch_record(
                    first_epoch + epoch + 1, monitor_rows, val_rows, generator, update_ratio, seconds, opt.param_groups[0]
                )
                record.update(objective.read_monitors())
                record = reduce_record(record, device)
                self.history_.append(record)
                bar.set_postfix({key: f"{record[key]:.4g}" for key in ("recon_mse", "recon_kl", "pseudo_likelihood") if record[key] is not None})
                if callbacks and any(bool(callback(self, record)) for callback in callbacks):
                    break
        bar.close()
        if chains is not None:
            self.persistent_chains_ = chains
        return self

    def _epoch_record(
        self,
        epoch: int,
        monitor_rows: Tensor,
        val_rows: Tensor | None,
        generator: torch.Generator,
        update_ratio: Tensor,
        seconds: float,
        group: dict,
    ) -> dict:
        recon_mse, recon_kl = monitors.reconstruction_errors(self, monitor_rows)
        dead, saturated = monitors.hidden_activity(self, monitor_rows)
        return {
            "epoch": epoch,
            "recon_mse": recon_mse,
            "recon_kl": recon_kl,
            "pseudo_likelihood": monitors.pseudo_likelihood(self, monitor_rows, generator),
            "free_energy_gap": None if val_rows is None else monitors.free_energy_gap(self, val_rows, monitor_rows),
            "val_recon_mse": None if val_rows is None else monitors.reconstruction_errors(self, val_rows)[0],
            "update_ratio": float(update_ratio),
            "dead_fraction": dead,
            "saturated_fraction": saturated,
            "seconds": seconds,
            "lr": group.get("lr"),
            "momentum": group.get("momentum"),
        }
