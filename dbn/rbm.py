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

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from dbn.cd_trainer import CDRun, checkpoint_writer, train_rbm
from dbn.config import CDConfig, hinton_momentum, resolve_config, restore_config
from dbn.likelihood import log_partition_estimate, mean_log_likelihood
from dbn.loop import Callback
from dbn.resume import pack_state, unpack_state
from dbn.serialization import load_checkpoint, resolve_map_location, save_checkpoint
from dbn.units import ReLUUnits, Units, get_units, units_from_json, units_to_json
from dbn.validation import as_float_tensor, check_dtype, check_generator, check_positive

__all__ = ["RBM", "hinton_momentum"]

#: the keys under which a checkpoint stores the tensors of an interrupted run's training state
TRAINING_STATE_PREFIX = "training_state."


class RBM(nn.Module):
    """Restricted Boltzmann machine with pluggable visible and hidden unit types.

    Parameters
    ----------
    n_visible, n_hidden : int
        Layer sizes.
    visible : {"bernoulli", "gaussian"} or Units
        Visible unit type (any :class:`dbn.units.Units` instance but ReLU units, e.g. one-of-K
        groups :class:`~dbn.units.SoftmaxUnits` or a mixed layer :class:`~dbn.units.UnitGroups`). Bernoulli units
        train on data in [0, 1] (``fit`` refuses other values) and clip any finite input of the
        inference methods to [0, 1] (a scaler fitted on other rows may leave it). Gaussian data is
        standardised with the mean and standard deviation measured by ``fit`` (buffers
        ``data_mean``, ``data_std``), and every later call applies the same transformation, so
        predictions never depend on the batch.
    hidden : {"bernoulli", "relu", "gaussian"} or Units
        Hidden unit type (or any :class:`dbn.units.Units` instance). Gaussian hidden units are
        linear with unit-variance noise, as in the code layer of Hinton & Salakhutdinov's (2006)
        autoencoders.
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
        continued by ``fit(..., persistent=True, warm_start=True)``; with parallel tempering
        those at inverse temperature 1.
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
        if isinstance(self.visible, ReLUUnits):
            raise ValueError(
                "visible must be 'bernoulli' or 'gaussian' (or a Units instance other than ReLU units): "
                "ReLU visible units are not supported"
            )
        self.visible.check_size(n_visible, "visible")
        self.hidden.check_size(n_hidden, "hidden")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.dtype = dtype = check_dtype(dtype)
        self.weight = nn.Parameter(torch.zeros(n_hidden, n_visible, dtype=dtype))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible, dtype=dtype))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden, dtype=dtype))
        self.register_buffer(
            "data_mean", torch.full((n_visible,), 0.5 if self.visible.unit_interval else 0.0, dtype=dtype)
        )
        self.register_buffer("data_std", torch.ones(n_visible, dtype=dtype))
        self.history_: list[dict] = []
        self.reset_parameters()

    def extra_repr(self) -> str:
        return (
            f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
            f"visible={self.visible.name!r}, hidden={self.hidden.name!r}"
        )

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        """The constructor arguments, as JSON-compatible values."""
        return {
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "visible": units_to_json(self.visible),
            "hidden": units_to_json(self.hidden),
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    @classmethod
    def from_config(cls, config: dict) -> RBM:
        """Build an untrained model from :meth:`config`'s output."""
        options = dict(config)
        visible = units_from_json(options.pop("visible", "bernoulli"), argument="visible")
        hidden = units_from_json(options.pop("hidden", "bernoulli"), argument="hidden")
        dtype = getattr(torch, options.pop("dtype", "float32"))
        return cls(**options, visible=visible, hidden=hidden, dtype=dtype)

    def save(self, path: str | Path) -> None:
        """Write parameters, standardisation buffers, configuration and history, atomically.

        In a distributed run only rank 0 writes (:func:`dbn.serialization.save_checkpoint`).
        """
        fit_config = getattr(self, "fit_config_", None)
        training_state, tensors = pack_state(getattr(self, "training_state_", None), TRAINING_STATE_PREFIX)
        extra = {"history": self.history_, "fit_config": None if fit_config is None else fit_config.to_dict(),
                 "training_state": training_state}
        state = {**self.state_dict(), **tensors}
        save_checkpoint(path, kind="RBM", config=self.config(), state_dict=state, extra=extra)

    @classmethod
    def load(cls, path: str | Path, *, map_location: torch.device | str = "cpu") -> RBM:
        """Read a model written by :meth:`save` (``torch.load(weights_only=True)`` underneath)."""
        device = resolve_map_location(map_location)
        config, state_dict, extra = load_checkpoint(path, kind="RBM")
        model = cls.from_config(config)
        extra = extra or {}
        training_state = unpack_state(extra.get("training_state"), state_dict, TRAINING_STATE_PREFIX)
        model.load_state_dict(state_dict)
        model.history_ = list(extra.get("history", []))
        if extra.get("fit_config") is not None:
            model.fit_config_ = restore_config(CDConfig, extra["fit_config"])
        model.training_state_ = training_state
        return model.to(device)

    # ------------------------------------------------------------------ parameters

    def reset_parameters(self, generator: torch.Generator | None = None, data_mean: Tensor | None = None) -> None:
        """Weights from N(0, 0.01^2), hidden biases 0, visible biases the data's log-odds.

        With ``data_mean`` (the per-feature mean of the training data) visible biases start at
        ``visible.bias_from_mean(data_mean)``: :math:`\\log(p_i / (1 - p_i))` for Bernoulli units
        (Hinton 2010, sec. 8), :math:`\\log p_i` for one-of-K groups, 0 for Gaussian units.
        """
        with torch.no_grad():
            self.weight.copy_(
                torch.randn(
                    self.weight.shape, generator=generator, device=self.weight.device, dtype=self.weight.dtype
                ).mul_(0.01)
            )
            self.hidden_bias.zero_()
            self.visible_bias.zero_()
            if data_mean is not None:
                self.visible_bias.copy_(self.visible.bias_from_mean(data_mean.to(self.visible_bias)))

    def base_rate_bias(self) -> Tensor:
        """Visible biases of the base-rate model of AIS: ``visible.bias_from_mean`` of the data's mean."""
        return self.visible.bias_from_mean(self.data_mean)

    # ------------------------------------------------------------------ model space
    # The energy interface (dbn.energy.EnergyModel): visible states already standardised, no
    # input checks; the training rule, the monitors, the likelihood and the unrolling use it.

    def hidden_input(self, v: Tensor) -> Tensor:
        """:math:`W v + c` for each row of ``v`` (model units)."""
        return F.linear(v, self.weight, self.hidden_bias)

    def visible_input(self, h: Tensor) -> Tensor:
        """:math:`W^\\top h + b` for each row of ``h``."""
        return torch.addmm(self.visible_bias, h, self.weight)

    def model_free_energy(self, v: Tensor, x: Tensor | None = None) -> Tensor:
        """:math:`F(v)` of each row of ``v`` (model units); ``x`` is ``hidden_input(v)`` when known."""
        x = self.hidden_input(v) if x is None else x
        return self.visible.base(v) - v @ self.visible_bias - self.hidden.log_partition(x).sum(-1)

    def standardize(self, v: Tensor) -> Tensor:
        """Data units to model units: :math:`(v - m) / s` for Gaussian visible units, else ``v``."""
        return (v - self.data_mean) / self.data_std if self.visible.standardize_data else v

    def unstandardize(self, v: Tensor) -> Tensor:
        """Model units to data units (the inverse of :meth:`standardize`)."""
        return torch.addcmul(self.data_mean, v, self.data_std) if self.visible.standardize_data else v

    # ------------------------------------------------------------------ inference (data space)

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def check_visible(self, v: Any, name: str = "v") -> Tensor:
        """``v`` as a checked tensor of visible states (width, dtype, device, finite values); for
        Bernoulli visible units, values outside [0, 1] are clipped to it."""
        return as_float_tensor(v, name, dtype=self.weight.dtype, device=self.device, n_features=self.n_visible,
                               unit_interval=self.visible.unit_interval, clip=True)

    def _check_hidden(self, h: Any, name: str = "h") -> Tensor:
        return as_float_tensor(h, name, dtype=self.weight.dtype, device=self.device, n_features=self.n_hidden)

    def free_energy(self, v: Tensor | np.ndarray) -> Tensor:
        """Free energy :math:`F(v) = -\\log \\sum_h e^{-E(v, h)}` of each row (data space, nats).

        For Gaussian visible units it is the free energy of the standardised data.
        """
        return self.model_free_energy(self.standardize(self.check_visible(v)))

    def hidden_probs(self, v: Tensor | np.ndarray) -> Tensor:
        """Conditional mean :math:`E[h \\mid v]` (probabilities for binary hidden units)."""
        return self.hidden.mean(self.hidden_input(self.standardize(self.check_visible(v))))

    @torch.no_grad()
    def sample_hidden(self, v: Tensor | np.ndarray, generator: torch.Generator | None = None) -> Tensor:
        """A draw from :math:`p(h \\mid v)` (not differentiable)."""
        check_generator(generator)
        return self.hidden.sample(self.hidden_input(self.standardize(self.check_visible(v))), generator)

    def visible_probs(self, h: Tensor | np.ndarray) -> Tensor:
        """Conditional mean :math:`E[v \\mid h]` in data units (probabilities, or the Gaussian mean)."""
        return self.unstandardize(self.visible.mean(self.visible_input(self._check_hidden(h))))

    @torch.no_grad()
    def sample_visible(self, h: Tensor | np.ndarray, generator: torch.Generator | None = None) -> Tensor:
        """A draw from :math:`p(v \\mid h)` in data units (not differentiable)."""
        check_generator(generator)
        return self.unstandardize(self.visible.sample(self.visible_input(self._check_hidden(h)), generator))

    @torch.no_grad()
    def gibbs_chain(self, v: Tensor, steps: int, generator: torch.Generator | None, progress: bool = False) -> Tensor:
        """``steps`` Gibbs steps v -> h -> v from ``v`` in model units (the energy interface); ``progress``
        shows a bar over the steps."""
        for _ in tqdm(range(steps), disable=not progress, leave=False, desc=f"Gibbs, {v.shape[0]} chains", unit="step"):
            h = self.hidden.sample(self.hidden_input(v), generator)
            v = self.visible.sample(self.visible_input(h), generator)
        return v

    def gibbs(self, v: Tensor | np.ndarray, steps: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """Run ``steps`` full Gibbs steps v -> h -> v from ``v``; return the final visible sample."""
        check_positive(steps, "steps", integer=True)
        check_generator(generator)
        return self.unstandardize(self.gibbs_chain(self.standardize(self.check_visible(v)), steps, generator))

    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, *, generator: torch.Generator | None = None,
               progress: bool = False) -> Tensor:
        """``n`` visible samples (data units): Gibbs chains of ``steps`` steps started from the base-rate
        model, independent units with the training data's mean (:meth:`base_rate_bias`); ``progress``
        shows a bar over the steps."""
        check_positive(n, "n", integer=True)
        check_positive(steps, "steps", integer=True)
        check_generator(generator)
        start = self.visible.sample(self.base_rate_bias().expand(n, -1).contiguous(), generator)
        return self.unstandardize(self.gibbs_chain(start, steps, generator, progress))

    @torch.no_grad()
    def reconstruct(self, v: Tensor | np.ndarray) -> Tensor:
        """Mean-field recreation :math:`E[v \\mid h = E[h \\mid v]]` in data units."""
        h = self.hidden.mean(self.hidden_input(self.standardize(self.check_visible(v))))
        return self.unstandardize(self.visible.mean(self.visible_input(h)))

    @torch.no_grad()
    def transform(self, X: Tensor | np.ndarray, *, batch_size: int = 4096) -> Tensor | np.ndarray:
        """Hidden-unit means for every row of ``X``, in chunks; NumPy in gives NumPy out."""
        check_positive(batch_size, "batch_size", integer=True)
        V = self.check_visible(X, "X")
        out = torch.cat([self.hidden.mean(self.hidden_input(self.standardize(chunk))) for chunk in V.split(batch_size)])
        return out.cpu().numpy() if not isinstance(X, Tensor) else out

    # ------------------------------------------------------------------ likelihood

    def log_partition(
        self, method: str = "exact", *, return_error: bool = False, **options: Any
    ) -> float | tuple[float, float]:
        """Log partition function :math:`\\log Z` of the model (of standardised data when Gaussian).

        Parameters
        ----------
        method : {"exact", "ais"}
            ``"exact"`` enumerates the smaller layer (refused above 25 units); ``"ais"`` runs
            annealed importance sampling from the base-rate model, a stochastic lower bound on
            :math:`\\log Z` that warns when it has not converged (options ``n_chains``, ``n_betas``,
            ``n_batches``, ``base_bias``, ``generator``, ``check_convergence``, ``progress``: see
            :func:`dbn.likelihood.ais`, which also returns the diagnostics).
        return_error : bool
            Also return the standard error (0 for ``"exact"``; for ``"ais"`` the spread of
            independent batches of chains, which does not include the bias of a short anneal).
        """
        log_z, error = log_partition_estimate(self, method, **options)
        return (log_z, error) if return_error else log_z

    def log_likelihood(
        self, X: Tensor | np.ndarray, method: str = "exact", *, return_error: bool = False, bounds: bool = False,
        **options: Any,
    ) -> float | tuple[float, float]:
        """Mean log-probability :math:`\\frac1N \\sum_n \\log p(x_n)` in nats.

        For Gaussian visible units this is the density of the data in its own units: the
        standardisation's Jacobian :math:`-\\sum_i \\log \\sigma_i` is included.
        ``method`` and ``options`` are those of :meth:`log_partition`. With ``bounds=True`` (and
        ``"ais"``) an interval ``(lower, upper)``: forward AIS bounds it above, reverse AIS from
        the rows of ``X`` after ``gibbs_steps`` Gibbs steps below (options of
        :func:`dbn.likelihood.log_partition_bounds`).
        """
        V = self.standardize(self.check_visible(X, "X"))
        return mean_log_likelihood(self, V, method, return_error=return_error, bounds=bounds, **options)

    # ------------------------------------------------------------------ training

    def fit(self, X: Tensor | np.ndarray | Iterable[Any], *, config: CDConfig | None = None,
            X_val: Tensor | np.ndarray | None = None, progress: bool = True, description: str | None = None,
            callbacks: Sequence[Callback] | None = None, device: torch.device | str | None = None,
            seed: int | None = None, warm_start: bool = False,
            checkpoint: str | Path | Callable[[RBM], None] | None = None, checkpoint_every: int = 1,
            **overrides: Any) -> RBM:
        """Train by contrastive divergence (CD-k) or persistent CD.

        Parameters
        ----------
        X : array, tensor, or iterable of batches
            Training data of shape (n_samples, n_visible): values in [0, 1] for Bernoulli visible
            units. An in-memory array is reshuffled every epoch; an iterable (e.g. a
            ``DataLoader``, whose batches may be ``(data, target)`` pairs) is read batch by batch,
            never copied whole, and shuffles itself.
        config : CDConfig, optional
            The training options (:class:`dbn.config.CDConfig`: epochs, batch size, lr, k,
            persistent CD, momentum, weight decay, sparsity, optimiser, precision, fast persistent
            CD, parallel tempering, centering, ...).
        **overrides
            Any field of :class:`~dbn.config.CDConfig`, overriding ``config``:
            ``rbm.fit(X, epochs=5, lr=0.05)``.
        X_val : array or tensor, optional
            Validation data for ``free_energy_gap`` and ``val_recon_mse``.
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
        checkpoint : str, Path or callable, optional
            Write the model with its training state (:mod:`dbn.resume`) every ``checkpoint_every``
            epochs and once more at the end, atomically, so that an interrupted run continues with
            ``RBM.load(checkpoint).resume(X)``. A callable ``checkpoint(rbm)`` is called instead of
            :meth:`save` (a :class:`~dbn.stack.DeepBeliefNet` saves itself whole this way). The
            file's directory is checked before training.
        checkpoint_every : int
            Epochs between checkpoints.

        Returns
        -------
        RBM
            ``self``, with ``history_`` extended by one record per epoch and ``fit_config_`` the
            configuration used (saved with the model).

        Notes
        -----
        Under ``torchrun``, or in an initialised process group of several processes, training is
        data-parallel (:mod:`dbn.distributed`): each rank trains on its shard of ``X``,
        ``DistributedDataParallel`` averages the CD gradients, the data statistics are merged
        across ranks, persistent chains (``n_chains`` per rank) stay in their process, the records
        of ``history_`` are averaged over ranks, and only rank 0 shows the progress bar.
        """
        config = resolve_config(config, CDConfig(), overrides)
        if config.lr is None:
            config = config.replace(lr=min(self.visible.default_lr, self.hidden.default_lr))
        run = CDRun(
            config,
            seed=seed,
            warm_start=warm_start,
            checkpoint=checkpoint_writer(checkpoint, checkpoint_every),
            every=checkpoint_every,
        )
        return train_rbm(
            self, X, run, X_val=X_val, progress=progress, description=description, callbacks=callbacks, device=device
        )

    def resume(self, X: Tensor | np.ndarray | Iterable[Any], *, X_val: Tensor | np.ndarray | None = None,
               progress: bool = True, description: str | None = None, callbacks: Sequence[Callback] | None = None,
               device: torch.device | str | None = None,
               checkpoint: str | Path | Callable[[RBM], None] | None = None) -> RBM:
        """Continue the interrupted :meth:`fit` whose checkpoint this model was loaded from.

        The configuration, seed, epoch, optimiser buffers, generator state and chains come from
        the checkpoint; ``X`` must be the same training data (its fingerprint is checked). On the
        CPU the result is bit-identical to the uninterrupted run. Checkpoints continue to be
        written to ``checkpoint`` (default: the path the run was writing to, if it was a path).
        """
        state = getattr(self, "training_state_", None)
        if state is None or getattr(self, "fit_config_", None) is None:
            raise ValueError(
                "this RBM has no interrupted training run to resume: load a checkpoint written by fit(checkpoint=...)"
            )
        checkpoint = state.get("path") if checkpoint is None else checkpoint
        run = CDRun(
            self.fit_config_,
            seed=state["seed"],
            warm_start=True,
            state=state,
            checkpoint=checkpoint_writer(checkpoint, state["every"]),
            every=state["every"],
        )
        return train_rbm(
            self, X, run, X_val=X_val, progress=progress, description=description, callbacks=callbacks, device=device
        )
