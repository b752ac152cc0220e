r"""Training configurations: small frozen dataclasses that check themselves once and serialise to JSON.

- :class:`CDConfig` — how one RBM is trained by contrastive divergence (:meth:`dbn.rbm.RBM.fit`,
  each layer of :meth:`dbn.stack.DeepBeliefNet.pretrain`, the ``dbn`` initialisation scheme);
- :class:`TrainConfig` — how a network is trained by backpropagation
  (:func:`dbn.training.train_network`, :meth:`dbn.stack.DeepBeliefNet.finetune`, the comparisons).

Every training entry point takes ``config=`` and keyword overrides of its fields, so
``rbm.fit(X, lr=0.05)`` and ``rbm.fit(X, config=CDConfig(lr=0.05))`` are the same call. A
configuration is what a checkpoint stores: :meth:`to_dict` writes JSON values, callables (a momentum
schedule, an optimiser factory) by their import path ``"module:qualname"`` and a
:func:`functools.partial` with its keyword arguments, and :meth:`from_dict` reads them back. A
callable that cannot be imported again (a lambda, a local function) is written by name all the
same, and reading it back raises an error that asks for the value again.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from dbn.precision import check_precision
from dbn.validation import check_flag, check_positive

__all__ = ["AUTO_RATES", "CDConfig", "DENSITY", "TrainConfig", "constant_momentum", "hinton_momentum", "resolve_config",
           "restore_config"]

#: the rates ``TrainConfig(lr="auto")`` searches, per optimiser, largest first
AUTO_RATES: dict[str, tuple[float, ...]] = {"sgd": (1.0, 0.3, 0.1), "adam": (1e-2, 3e-3, 1e-3)}
#: a momentum schedule: epoch index (0-based) -> momentum
MomentumSchedule = Callable[[int], float]
#: an optimiser factory: parameter groups -> optimiser
OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]

Config = TypeVar("Config", "CDConfig", "TrainConfig")


def hinton_momentum(epoch: int) -> float:
    """Momentum 0.5 for the first five epochs, then 0.9 (Hinton 2010, sec. 9; Hinton & Salakhutdinov 2006)."""
    return 0.5 if epoch < 5 else 0.9


def constant_momentum(value: float) -> MomentumSchedule:
    """The schedule that returns ``value`` at every epoch."""
    return functools.partial(_constant, value=float(value))


def _constant(epoch: int, *, value: float) -> float:
    return value


def _check_fraction(value: Any, name: str, *, low_open: bool, high_open: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


# --------------------------------------------------------------------------- callables by name


def callable_to_json(value: Callable) -> str | dict:
    """``"module:qualname"`` of a callable, or ``{"partial": ..., "keywords": {...}}`` for a partial."""
    if isinstance(value, functools.partial):
        return {"partial": callable_to_json(value.func), "args": list(value.args), "keywords": dict(value.keywords)}
    module = getattr(value, "__module__", None) or type(value).__module__
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}:{name}"


def callable_from_json(value: str | dict, name: str) -> Callable:
    """Import the callable :func:`callable_to_json` wrote; raise naming ``name`` when it cannot be."""
    if isinstance(value, dict):
        function = callable_from_json(value["partial"], name)
        return functools.partial(function, *value.get("args", []), **value["keywords"])
    module_name, _, qualname = value.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"{name} was the callable {value!r}, which cannot be imported again: pass {name}= explicitly"
        ) from error
    return target


# --------------------------------------------------------------------------- the shared behaviour


class _ConfigMixin:
    """JSON round trips, overrides with named errors, and the names of the callable fields."""

    #: fields that may hold a callable, written by name
    _callable_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (callables by import path)."""
        out = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            if isinstance(value, np.generic):
                value = value.item()
            out[spec.name] = callable_to_json(value) if callable(value) else value
        json.dumps(out)  # every field is JSON now, or this names the offender
        return out

    @classmethod
    def from_dict(cls: type[Config], values: Mapping[str, Any], **overrides: Any) -> Config:
        """Rebuild a configuration from :meth:`to_dict`'s output; ``overrides`` take precedence
        (and are not imported, so a lambda that was written by name can be passed again)."""
        fields = {spec.name for spec in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown} in a stored configuration")
        restored = dict(values)
        for name in cls._callable_fields:
            stored = restored.get(name)
            if name not in overrides and (isinstance(stored, dict) or (isinstance(stored, str) and ":" in stored)):
                restored[name] = callable_from_json(stored, name)
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown {cls.__name__} option(s) {unknown}; valid: {sorted(fields)}")
        return cls(**{**restored, **overrides})

    def replace(self: Config, **overrides: Any) -> Config:
        """A copy with some fields changed; an unknown name raises a ``TypeError`` listing the valid ones."""
        fields = [spec.name for spec in dataclasses.fields(self)]
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} option(s) {unknown}; valid: {fields}")
        return dataclasses.replace(self, **overrides) if overrides else self


def restore_config(kind: type[Config], values: Mapping[str, Any]) -> Config | None:
    """``kind.from_dict(values)``, or None with a warning when a stored callable cannot be imported
    (the model loads; pass the callable again to train it further)."""
    try:
        return kind.from_dict(values)
    except ValueError as error:
        warnings.warn(f"the stored {kind.__name__} was not restored: {error}", stacklevel=3)
        return None


def resolve_config(config: Config | None, default: Config, overrides: Mapping[str, Any]) -> Config:
    """``config`` (or ``default``) with ``overrides`` applied, checked to be of ``default``'s type."""
    if config is None:
        config = default
    elif not isinstance(config, type(default)):
        raise TypeError(f"config must be a {type(default).__name__}, got {type(config).__name__}")
    return config.replace(**overrides)


# --------------------------------------------------------------------------- the configurations


@dataclass(frozen=True)
class CDConfig(_ConfigMixin):
    r"""How an RBM is trained by contrastive divergence (CD-k) or persistent CD.

    Parameters
    ----------
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
        A constant in [0, 1), or a function of the 0-based epoch; default
        :func:`hinton_momentum` (0.5 for 5 epochs, then 0.9).
    weight_decay : float
        L2 penalty on the weights only (Hinton's "weight cost", e.g. 2e-4); biases are exempt.
    sparsity_target, sparsity_cost : float
        Target mean activation :math:`p` of the hidden units and the weight of the penalty pulling
        their running mean activation :math:`q` towards it (Hinton 2010, sec. 11).
    sample_visible : bool
        In CD, also sample the final visible state of the chain. The default uses its
        probabilities (Hinton 2010, sec. 3.2). Persistent chains always sample.
    optimizer : callable, optional
        Factory called with the parameter groups (the weights with ``weight_decay``, the biases
        without) returning a ``torch.optim.Optimizer``; default SGD with momentum.
    monitor_size : int
        Rows of training data (a fixed random subset) on which the monitors are computed.
    monitor_every : int
        Epochs between the monitors' passes over those rows (the last epoch of a fit always
        has one); the records of the other epochs hold None for the model's monitors. On small
        data a pass costs about as much as an epoch: the scikit-learn estimators measure only the
        last epoch unless ``verbose``. An ``EarlyStopping`` callback on one of these monitors
        counts its patience in measured epochs.
    precision : {"float32", "tf32", "bfloat16"}
        Precision of the products (:mod:`dbn.precision`).
    cuda_graph : bool, optional
        Replay the steps of each epoch from CUDA graphs (:mod:`dbn.graphs`). Default: on for
        in-memory data on a CUDA device with the default optimiser in one process, and without
        the three options below (whose steps allocate); ``True`` demands it.
    fast_weights : bool
        Fast persistent CD (Tieleman & Hinton 2009, :mod:`dbn.samplers`): the persistent chains
        move with the weights and biases plus fast ones that follow the same gradient at rate
        ``fast_lr`` and shrink by ``fast_decay`` at every update. Needs ``persistent=True``.
    fast_lr : float, optional
        Learning rate of the fast parameters, >= 0; default ``lr`` (the paper keeps it at the
        initial regular rate while the regular one decays).
    fast_decay : float
        Factor in [0, 1) the fast parameters are multiplied by at every update (paper: 19/20).
    tempering : int, optional
        Parallel tempering (Desjardins et al. 2010, :mod:`dbn.samplers`): the number
        :math:`M \ge 2` of inverse temperatures, each with ``n_chains`` persistent chains; the
        chains at :math:`\beta = 1` are the negative sample. Needs ``persistent=True``; not with
        ``fast_weights``.
    tempering_min_beta : float
        The smallest inverse temperature, in [0, 1); the :math:`M` temperatures are evenly
        spaced from it to 1. :math:`\beta = 0` is the base-rate model (independent visible units
        with the data's means), so the default 0 is well defined.
    centering : bool
        Centered gradient (Melchior, Fischer & Wiskott 2016, :mod:`dbn.samplers`), offsets
        :math:`\mu, \lambda` as running means; the model keeps its ordinary parameters.
    centering_rate : float
        Sliding factor :math:`\nu` in [0, 1] of the offsets' running means (0 keeps the
        starting offsets: the data mean and the hidden means at the hidden biases).
    centering_offsets : {"data", "average"}
        Offsets from the data's means, or from the average of the data's and the model's means.
    """

    epochs: int = 10
    batch_size: int = 100
    lr: float | None = None
    k: int = 1
    persistent: bool = False
    n_chains: int | None = None
    momentum: float | MomentumSchedule = hinton_momentum
    weight_decay: float = 0.0
    sparsity_target: float | None = None
    sparsity_cost: float = 0.0
    sample_visible: bool = False
    optimizer: OptimizerFactory | None = None
    monitor_size: int = 1024
    monitor_every: int = 1
    precision: str = "float32"
    cuda_graph: bool | None = None
    fast_weights: bool = False
    fast_lr: float | None = None
    fast_decay: float = 0.95
    tempering: int | None = None
    tempering_min_beta: float = 0.0
    centering: bool = False
    centering_rate: float = 0.01
    centering_offsets: str = "data"

    _callable_fields = ("momentum", "optimizer")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "k", "monitor_size", "monitor_every"):
            check_positive(getattr(self, name), name, integer=True)
        for name in ("weight_decay", "sparsity_cost"):
            check_positive(getattr(self, name), name, allow_zero=True)
        if self.lr is not None:
            check_positive(self.lr, "lr")
        if self.n_chains is not None:
            check_positive(self.n_chains, "n_chains", integer=True)
        if self.sparsity_target is not None:
            _check_fraction(self.sparsity_target, "sparsity_target", low_open=True, high_open=True)
        for name in ("persistent", "sample_visible"):
            check_flag(getattr(self, name), name)
            object.__setattr__(self, name, bool(getattr(self, name)))  # a NumPy bool becomes a JSON bool
        if not callable(self.momentum):
            check_positive(self.momentum, "momentum", allow_zero=True)
            _check_fraction(self.momentum, "momentum", low_open=False, high_open=True)
        if self.optimizer is not None and not callable(self.optimizer):
            raise TypeError(
                f"optimizer must be None or a factory of a torch.optim.Optimizer called with the parameter groups "
                f"(e.g. functools.partial(torch.optim.Adam, lr=1e-3)), got {self.optimizer!r}"
            )
        check_precision(self.precision)
        if self.cuda_graph is not None:
            check_flag(self.cuda_graph, "cuda_graph")
            object.__setattr__(self, "cuda_graph", bool(self.cuda_graph))
        self._check_sampling()

    def _check_sampling(self) -> None:
        """The options of fast weights, parallel tempering and centering (:mod:`dbn.samplers`)."""
        for name in ("fast_weights", "centering"):
            check_flag(getattr(self, name), name)
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.fast_lr is not None:
            check_positive(self.fast_lr, "fast_lr", allow_zero=True)
        _check_fraction(self.fast_decay, "fast_decay", low_open=False, high_open=True)
        if self.tempering is not None:
            check_positive(self.tempering, "tempering", integer=True)
            if self.tempering < 2:
                raise ValueError(f"tempering must be the number of temperatures, at least 2, got {self.tempering!r}")
        _check_fraction(self.tempering_min_beta, "tempering_min_beta", low_open=False, high_open=True)
        _check_fraction(self.centering_rate, "centering_rate", low_open=False, high_open=False)
        if self.centering_offsets not in ("data", "average"):
            raise ValueError(f"centering_offsets must be 'data' or 'average', got {self.centering_offsets!r}")
        for name, on in (("fast_weights", self.fast_weights), ("tempering", self.tempering is not None)):
            if on and not self.persistent:
                raise ValueError(f"{name} needs persistent chains: pass persistent=True as well")
        if self.fast_weights and self.tempering is not None:
            raise ValueError("fast_weights and tempering are two negative phases: choose one")
        if self.fast_lr is not None and not self.fast_weights:
            raise ValueError("fast_lr is the rate of the fast weights: pass fast_weights=True as well")
        if self.cuda_graph and self.uses_samplers():
            raise ValueError("cuda_graph=True cannot replay the steps of fast_weights, tempering or centering, "
                             "which allocate: leave cuda_graph unset")

    def uses_samplers(self) -> bool:
        """Whether a step runs one of the allocating options of :mod:`dbn.samplers`."""
        return self.fast_weights or self.tempering is not None or self.centering

    def momentum_schedule(self) -> MomentumSchedule:
        """``momentum`` as a function of the 0-based epoch."""
        return self.momentum if callable(self.momentum) else constant_momentum(self.momentum)


#: A recipe for RBMs meant as density models of binary data, whose likelihood matters and not only
#: their features: fast persistent CD (Tieleman & Hinton 2009; fast weights at twice the rate,
#: decaying by 0.95 a step), a small constant rate without momentum, 100 epochs of batches of 100.
#: On MNIST (784-500, ``examples/mnist_likelihood.py``) it reached a test log-probability of
#: -93.5 nats (-103.8 after 20 epochs); ``CDConfig()``'s recipe for features (rate 0.1, momentum
#: 0.5 then 0.9) makes sharper models with a far lower likelihood (-195 after 20 epochs). Its
#: 60,000 updates suit data of MNIST's size; on much smaller data keep the number of updates
#: (raise ``epochs``), or the rate is too small for the model to leave its start.
#: ``rbm.fit(X, config=DENSITY)``.
DENSITY = CDConfig(epochs=100, batch_size=100, lr=0.01, momentum=0.0, persistent=True, fast_weights=True,
                   fast_lr=0.02)


@dataclass(frozen=True)
class TrainConfig(_ConfigMixin):
    r"""How a network is trained by minibatch backpropagation.

    Parameters
    ----------
    epochs : int
        Maximum number of passes over the training rows.
    batch_size : int
        Rows per update (per process in a distributed run); reshuffled every epoch.
    lr : float, "auto", sequence of float, or None
        Learning rate; None means 0.1 for SGD, 1e-3 for Adam (ignored with an optimiser factory).
        A sequence of rates is searched: each trains ``lr_search_epochs`` epochs from the same
        start, and the rate with the lowest validation loss (the last training loss without
        validation data) trains the run (:func:`dbn.training.search_learning_rate`); ``"auto"``
        searches :data:`AUTO_RATES` of the optimiser (SGD 1, 0.3, 0.1; Adam 0.01, 0.003, 0.001).
        When every searched rate diverges, lower rates are tried in turn
        (:data:`dbn.training.LOWER_RATES`: for SGD's grid 0.03, 0.01, then 0.003).
    lr_search_epochs : int
        Epochs per searched rate: the search costs ``len(rates) * lr_search_epochs`` epochs.
    optimizer : {"sgd", "adam"} or callable
        SGD with ``momentum`` (default), Adam, or a factory called with the parameter groups.
    momentum : float
        SGD momentum in [0, 1).
    weight_decay : float
        L2 penalty on the weights (parameters with two or more dimensions); biases are exempt.
    validation_fraction : float
        Without explicit validation data, the fraction of the rows held out for validation
        (stratified by class for classification); 0 for none.
    patience : int or None
        With validation data, stop after this many epochs without a lower validation loss and
        restore the weights of the best epoch; ``None`` trains every epoch and keeps the best
        weights all the same.
    min_delta : float
        The improvement of the validation loss that resets ``patience``: an epoch whose loss is
        not below the loss at the last reset by more than this counts as one without
        improvement (the weights of the lowest loss are kept either way); 0 counts any decrease.
    """

    epochs: int = 50
    batch_size: int = 100
    lr: float | str | tuple[float, ...] | None = None
    optimizer: str | OptimizerFactory = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    validation_fraction: float = 0.0
    patience: int | None = 10
    min_delta: float = 0.0
    lr_search_epochs: int = 3

    _callable_fields = ("optimizer",)

    def __post_init__(self) -> None:
        check_positive(self.epochs, "epochs", integer=True)
        check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive(self.momentum, "momentum", allow_zero=True)
        _check_fraction(self.momentum, "momentum", low_open=False, high_open=True)
        self._check_lr()
        check_positive(self.lr_search_epochs, "lr_search_epochs", integer=True)
        if self.patience is not None:
            check_positive(self.patience, "patience", integer=True)
        check_positive(self.min_delta, "min_delta", allow_zero=True)
        _check_fraction(self.validation_fraction, "validation_fraction", low_open=False, high_open=True)
        if not callable(self.optimizer) and self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd', 'adam' or a callable, got {self.optimizer!r}")
        if self.lr == "auto" and callable(self.optimizer):
            raise ValueError("lr='auto' needs optimizer 'sgd' or 'adam': give an optimiser factory its own rate")

    def _check_lr(self) -> None:
        """``lr``: None, a positive rate, ``"auto"``, or a non-empty sequence of positive rates (kept as a tuple)."""
        if self.lr is None or self.lr == "auto":
            return
        if isinstance(self.lr, (list, tuple)):
            if not self.lr:
                raise ValueError("lr must hold at least one rate to search, got an empty sequence")
            for rate in self.lr:
                check_positive(rate, "lr")
            object.__setattr__(self, "lr", tuple(float(rate) for rate in self.lr))
            return
        if isinstance(self.lr, str):
            raise ValueError(f"lr must be a positive number, 'auto', a sequence of rates or None, got {self.lr!r}")
        check_positive(self.lr, "lr")

    def searched_rates(self) -> tuple[float, ...] | None:
        """The rates a search chooses from (None for a fixed rate)."""
        if self.lr == "auto":
            return AUTO_RATES[self.optimizer]
        return self.lr if isinstance(self.lr, tuple) else None
