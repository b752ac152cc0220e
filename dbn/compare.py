r"""Initialisation schemes compared on one network: same data, budget, optimiser and care for each.

:func:`compare_inits` trains, for every activation, one MLP per (scheme, seed, learning rate) and
returns one record per model; its settings are one :class:`CompareConfig`, checked once before
any training. Within a seed every scheme starts from its own weights (:func:`dbn.init.init_`,
drawn from a generator seeded by the seed and the scheme's name, so the same pair gives the same
weights whatever else is compared) and then sees exactly what the others see: the same
architecture, SGD with momentum, minibatch size, epochs and minibatch order.

Fairness. Every scheme gets the same small learning-rate search (``lrs``, default
:data:`DEFAULT_LRS` = 0.01, 0.03, 0.1, 0.3, 1, 3: deep sigmoid nets need rates of 1 or more with
SGD); for each activation and scheme the rate with the best mean validation accuracy over the seeds
at the last epoch is *selected* (ties: lower validation loss; :func:`select_learning_rates`) and
only the selected rate's test numbers enter the tables. A selected rate at either end of the grid
is flagged (``lr_at_edge`` in the records, † in the tables): the search may have been cut short
there. The test rows are not used for any choice. On large data the search can be made cheaper
and separate from the final runs (``search_rows``, ``search_epochs``, ``search_seeds``): every
rate is tried on part of the training rows for fewer epochs, and only the chosen rate is then
trained, from every seed, on all the training rows.

Rows that are not initialisation schemes. :data:`BATCHNORM` is the same MLP with an
``nn.BatchNorm1d`` after every hidden linear layer and torch's default initialisation (the
``default`` scheme); it trains in train mode (batch statistics) and is measured in eval mode
(running statistics), as every model is. A scheme that does not apply to an activation (``dbn``
for maxout) has no record.

Convergence. A run has *not converged* ("n/c", as in Mishkin & Matas's 2016 table) when its final
training loss is not finite or not below :data:`CONVERGENCE_FRACTION` = 0.9 of the chance level,
the cross-entropy :math:`H = -\sum_c p_c \log p_c` of predicting the training class frequencies
(:func:`converged`): it diverged, or learnt nothing beyond the class frequencies. Such runs keep
their records (``converged`` False) and are reported, never hidden (:mod:`dbn.reports`).

One loop, batched. All models of one activation are trained together as one
:class:`~dbn.stacked.StackedMLP` (grouped matrix products, ``torch.baddbmm``: output shape
(batch, models, classes)) by one call of the package's one supervised loop,
:func:`dbn.training.train_network` (integer class targets, ``classify=True``), on the sum of the
per-model mean cross-entropies; a per-epoch callback measures every model. Models share no
parameter, so each gets exactly its own gradient. With SGD and momentum the update is linear in
the gradient, so scaling model :math:`m`'s loss by :math:`\eta_m / \eta_0` gives it exactly the
update of learning rate :math:`\eta_m`: the rate search costs no extra loop. (Adam keeps
per-element state, so a summed loss would give each model its own Adam update as well, but Adam
is invariant to the scale of the loss: per-model rates would need one optimiser per rate.)
``batched=False`` trains the same models one after another through the same loop and gives the
same numbers to rounding (see ``tests/test_compare.py`` and ``benchmarks/compare_speed.py``).

The records become tables and CSV in :mod:`dbn.reports` and figures in :mod:`dbn.figures`;
``python -m dbn compare`` (:mod:`dbn.cli`) runs the whole comparison from the command line.
Published numbers are not reproduced here; ``docs/init_results.md`` quotes them beside ours.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import Tensor, nn

from dbn.diagnostics import layer_statistics
from dbn.init import SCHEMES, get_activation, init_
from dbn.loop import DivergenceError
from dbn.stacked import StackedMLP, architecture, build_mlp
from dbn.targets import class_indices
from dbn.training import CHANCE_FRACTION, chance_loss, train_network
from dbn.validation import as_float_tensor, check_positive, check_seed, resolve_device

__all__ = [
    "BATCHNORM",
    "CONVERGENCE_FRACTION",
    "DEFAULT_LRS",
    "DEFAULT_SCHEMES",
    "CompareConfig",
    "SelectedRate",
    "applies",
    "chance_loss",
    "compare_inits",
    "converged",
    "initial_model",
    "mark_selected",
    "select_learning_rates",
    "split_data",
]

#: the row of the network with batch normalisation after every hidden linear layer (torch's default init)
BATCHNORM = "batchnorm"
#: every scheme of :data:`dbn.init.SCHEMES` but ``dbn`` (which pretrains, hence costs more), and batch normalisation
DEFAULT_SCHEMES = (*(name for name in SCHEMES if name != "dbn"), BATCHNORM)
#: a run has converged when its final training loss is below this fraction of the chance level (:func:`converged`)
CONVERGENCE_FRACTION = CHANCE_FRACTION
#: the learning rates searched for every scheme by default
DEFAULT_LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
_EVAL_CHUNK = 2048

#: a part of the data: (features, labels), a float tensor of shape (rows, features) and int64 class indices
Part = tuple[Tensor, Tensor]
#: a model to train: an initial network and its learning rate
Run = tuple[nn.Sequential, float]
#: what training a list of runs gives: the curves (metric -> one list over epochs per run), a getter of
#: the trained networks (on the CPU) by index, and per-run seconds (None when batched)
Trained = tuple[dict[str, list[list[float]]], Callable[[int], nn.Sequential], list[float] | None]


# --------------------------------------------------------------------------- configuration


def _as_tuple(values: Any) -> tuple:
    """A string or a scalar as a one-element tuple, any other iterable as a tuple of its items."""
    if isinstance(values, (str, bytes)):
        return (values,)
    try:
        return tuple(values)
    except TypeError:
        return (values,)


def _positive_ints(values: Any, name: str, meaning: str) -> tuple[int, ...]:
    """``values`` as a non-empty tuple of positive ints, or a ``ValueError`` naming ``name``."""
    items = _as_tuple(values)
    if not items or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in items):
        raise ValueError(f"{name} must be a non-empty sequence of positive integers ({meaning}), got {values!r}")
    return tuple(int(v) for v in items)


def _names(values: str | Sequence[str], name: str) -> tuple[str, ...]:
    items = _as_tuple(values)
    if not items:
        raise ValueError(f"{name} must name at least one value, got {values!r}")
    return items


def _check_fraction(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")


@dataclass(frozen=True)
class CompareConfig:
    """The settings of one comparison (:func:`compare_inits`), checked once when built.

    ``activation``, ``schemes`` and ``seeds`` are stored as tuples (a single activation name as a
    one-element tuple, ``seeds=n`` as ``(0, ..., n-1)``); :meth:`replace` gives a copy with some
    fields changed.

    Parameters
    ----------
    hidden : sequence of int
        Hidden layer sizes, each a positive int (units; a maxout layer's linear layer has ``k``
        times more outputs); the output layer has one unit per class. Default (128, 128, 128).
    activation : str or sequence of str
        Keys of :data:`dbn.init.ACTIVATIONS`; one batch of models per activation. Default "relu".
    schemes : sequence of str
        Keys of :data:`dbn.init.SCHEMES`, or :data:`BATCHNORM` (the network with batch
        normalisation, torch's default initialisation). A scheme that does not apply to an
        activation (:func:`applies`: ``dbn`` for maxout) is skipped for it, leaving no record.
        Default :data:`DEFAULT_SCHEMES`.
    seeds : int or sequence of int
        Seeds of the initial weights (``n`` means ``range(n)``; default 5). The minibatch order
        comes from ``data_seed`` and is the same for every model, so that across seeds only the
        initial weights (and the ``dbn`` pretraining) vary.
    epochs, batch_size, momentum : int, int, float
        SGD with momentum, no weight decay, no early stopping: every model gets the same budget.
        Defaults 20, 64 and 0.9.
    lrs : sequence of float
        The learning rates searched, the same for every scheme, each positive. Default
        :data:`DEFAULT_LRS`.
    test_fraction, validation_fraction : float
        Without a separate test set, a stratified ``test_fraction`` (default 0.25) of the rows is
        the test set; ``validation_fraction`` (default 0.2) of the rest is the validation set
        that selects the learning rate (:func:`split_data`).
    target_accuracy : float
        ``epochs_to_target`` is the first epoch whose validation accuracy reaches it (default 0.9).
    scheme_options : mapping, optional
        Options per scheme name, passed to :func:`dbn.init.init_` (e.g. ``{"dbn": {"epochs": 10}}``).
    search_rows, search_epochs, search_seeds : int, optional
        A cheaper two-stage search: each rate is trained ``search_epochs`` epochs on a stratified
        ``search_rows`` of the training rows from the first ``search_seeds`` seeds (defaults: all
        rows, ``epochs``, every seed), the rate is selected on the validation split as usual,
        and then only the selected rate is trained, from every seed, ``epochs`` epochs on all
        the training rows *including* the validation rows (the test rows stay untouched). Off
        (one stage) unless one of the three is given.
    monitor_rows : int, optional
        Measure the training loss and accuracy on a fixed stratified subset of at most this many
        training rows (default all), to save evaluation time on large data.
    batched : bool
        Train all models of an activation at once (:class:`~dbn.stacked.StackedMLP`, one stack
        per architecture: with and without batch normalisation); ``False`` trains them one after
        another through the same loop (the reference, and the benchmark's baseline). Default True.
    keep_models : bool
        Add ``initial_model`` and ``model`` (``nn.Sequential``, CPU) to each record. Default False.
    data_seed : int
        Seeds the splits and the minibatch order. Default 0.
    progress : bool
        Show a progress bar per batch of models (its epochs) and print one line per activation.
        Default False.
    device : str or torch.device
        Where the models train and are measured ("cuda" for a GPU, "auto" for one if present;
        default "cpu"). Initial weights (and ``dbn`` pretraining, ``lsuv``) and their statistics
        are computed on the CPU, so every device starts from the same networks; data and stacked
        models then move to ``device`` once per stage, and an epoch reads nothing back from it
        until its end.

    Raises
    ------
    ValueError
        For unknown schemes or activations, an empty ``activation``, ``schemes``, ``seeds`` or
        ``lrs``, a hidden size that is not a positive int, a rate that is not positive, or a
        fraction outside (0, 1).
    TypeError
        For an ``epochs``, ``batch_size``, ``search_*`` or ``monitor_rows`` that is not an int.
    """

    hidden: Sequence[int] = (128, 128, 128)
    activation: str | Sequence[str] = "relu"
    schemes: Sequence[str] = DEFAULT_SCHEMES
    seeds: int | Sequence[int] = 5
    epochs: int = 20
    batch_size: int = 64
    lrs: Sequence[float] = DEFAULT_LRS
    momentum: float = 0.9
    test_fraction: float = 0.25
    validation_fraction: float = 0.2
    target_accuracy: float = 0.9
    scheme_options: Mapping[str, Mapping[str, Any]] | None = None
    search_rows: int | None = None
    search_epochs: int | None = None
    search_seeds: int | None = None
    monitor_rows: int | None = None
    batched: bool = True
    keep_models: bool = False
    data_seed: int = 0
    progress: bool = False
    device: torch.device | str = "cpu"

    def __post_init__(self) -> None:
        store = object.__setattr__  # frozen: the normalised values are stored once, here
        store(self, "hidden", _positive_ints(self.hidden, "hidden", "units per hidden layer"))
        store(self, "activation", _names(self.activation, "activation"))
        store(self, "schemes", _names(self.schemes, "schemes"))
        seeds = self.seeds
        count = isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool)
        store(self, "seeds", tuple(range(seeds)) if count else _as_tuple(seeds))
        if not self.seeds:
            raise ValueError(f"seeds must be a positive int or a non-empty sequence of seeds, got {seeds!r}")
        for name in self.activation:
            get_activation(name)
        unknown = [name for name in self.schemes if name not in SCHEMES and name != BATCHNORM]
        if unknown:
            raise ValueError(f"unknown initialisation scheme(s) {unknown}; known: {', '.join([*SCHEMES, BATCHNORM])}")
        lrs = _as_tuple(self.lrs)
        if not lrs or any(isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf
                          for lr in lrs):
            raise ValueError(f"lrs must be a non-empty sequence of positive learning rates, got {self.lrs!r}")
        store(self, "lrs", lrs)
        for name in ("epochs", "batch_size"):
            check_positive(getattr(self, name), name, integer=True)
        for name in ("search_rows", "search_epochs", "search_seeds", "monitor_rows"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name, integer=True)
        check_positive(self.momentum, "momentum", allow_zero=True)
        if not self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        check_seed(self.data_seed, "data_seed", allow_none=False)
        resolve_device(self.device, torch.device("cpu"))
        _check_fraction(self.test_fraction, "test_fraction")
        _check_fraction(self.validation_fraction, "validation_fraction")

    @property
    def two_stage(self) -> bool:
        """Whether the rates are searched in a separate, cheaper stage (one of ``search_*`` given)."""
        return self.search_rows is not None or self.search_epochs is not None or self.search_seeds is not None

    def replace(self, **options: Any) -> CompareConfig:
        """A copy with some fields changed (checked again); an unknown name raises a ``TypeError``
        listing the valid ones."""
        names = [spec.name for spec in dataclasses.fields(self)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(f"unknown compare_inits option(s) {unknown}; valid: {names}")
        return dataclasses.replace(self, **options) if options else self


@dataclass(frozen=True)
class _Stage:
    """One training stage of a comparison on prepared data: ``"search"`` (rates tried on the
    validation split) or ``"final"``; ``lrs`` None means the rate the search stage selected."""

    name: str
    train: Part
    measured: dict[str, Part]  # measured before training and after every epoch
    epochs: int
    seeds: tuple[int, ...]
    lrs: tuple[float, ...] | None

    def to(self, device: torch.device) -> _Stage:
        """The same stage with its tensors on ``device``."""
        train = tuple(tensor.to(device) for tensor in self.train)
        measured = {name: tuple(tensor.to(device) for tensor in part) for name, part in self.measured.items()}
        return dataclasses.replace(self, train=train, measured=measured)


# --------------------------------------------------------------------------- the models


def _scheme_seed(seed: int, scheme: str) -> int:
    return zlib.crc32(f"{scheme}/{seed}".encode())  # torch seeds its Mersenne Twister with 32 bits


def applies(scheme: str, activation: str) -> bool:
    """Whether row ``scheme`` (a key of :data:`dbn.init.SCHEMES` or :data:`BATCHNORM`) is defined
    for ``activation`` networks (``dbn`` is not for maxout: no RBM has its pieces)."""
    return scheme == BATCHNORM or SCHEMES[scheme].applies(get_activation(activation))


def initial_model(
    scheme: str,
    seed: int,
    *,
    n_inputs: int,
    hidden: Sequence[int],
    n_outputs: int,
    activation: str,
    X: Tensor | np.ndarray | None = None,
    options: Mapping[str, Any] | None = None,
) -> nn.Sequential:
    """The network :func:`compare_inits` starts from for ``(scheme, seed, activation)``.

    ``scheme`` is a key of :data:`dbn.init.SCHEMES`, or :data:`BATCHNORM`: the MLP with an
    ``nn.BatchNorm1d`` after every hidden linear layer, initialised by torch's default
    (the ``default`` scheme). The network is :func:`dbn.stacked.build_mlp`'s; its weights come
    from a generator seeded by ``seed`` and the scheme's name; ``X`` (the training rows) feeds
    the data-dependent schemes, and ``options`` go to :func:`dbn.init.init_`. When the scheme's
    own training diverges (the ``dbn`` pretraining, :class:`dbn.loop.DivergenceError`) the network
    is returned with NaN parameters and the error as its ``init_error`` attribute: its runs are
    then recorded as diverged, and the comparison goes on."""
    batchnorm = scheme == BATCHNORM
    model = build_mlp(n_inputs, hidden, n_outputs, activation, batchnorm=batchnorm)
    generator = torch.Generator().manual_seed(_scheme_seed(seed, scheme))
    scheme = "default" if batchnorm else scheme
    try:
        return init_(model, scheme, X=X, generator=generator, activation=activation, **(options or {}))
    except DivergenceError as error:  # the scheme's own training (dbn pretraining) diverged: no usable start
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.fill_(float("nan"))
        model.init_error = str(error)
        return model


def converged(train_loss: float, chance: float) -> bool:
    r"""Our definition of convergence: the final training loss is finite and below
    :data:`CONVERGENCE_FRACTION` of the chance level ``chance`` (:func:`chance_loss`), i.e. the
    network has learnt more than the class frequencies. Otherwise the run is "n/c" (not
    converged): it diverged, or is stuck at (or above) chance, as a network whose signal vanishes
    (tiny weights, the symmetric zero start) or that sits on the deep-sigmoid plateau."""
    return math.isfinite(train_loss) and train_loss < CONVERGENCE_FRACTION * chance


# --------------------------------------------------------------------------- data


def split_data(X: np.ndarray | Tensor, y: np.ndarray | Tensor, *, X_test: np.ndarray | Tensor | None = None,
               y_test: np.ndarray | Tensor | None = None, config: CompareConfig | None = None) -> dict[str, Part]:
    """The parts of the data :func:`compare_inits` uses under ``config`` (default :class:`CompareConfig`).

    Without ``X_test``, a stratified ``config.test_fraction`` of the rows is held out as the
    test set; ``config.validation_fraction`` of the rest (stratified) is the validation set; the
    remainder is trained on. Every split is seeded by ``config.data_seed``.

    Returns
    -------
    dict
        ``"train"``, ``"val"``, ``"test"`` and ``"all_train"`` (train and validation rows
        together), each a (features, labels) pair: a float32 tensor of shape (rows, features) and
        int64 class indices.

    Raises
    ------
    ValueError
        For ``X`` that is not 2-dimensional, a label count that differs from the rows, or only one
        of ``X_test`` and ``y_test``.
    """
    config = CompareConfig() if config is None else config
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(
            f"X must be (n_samples, n_features) with one label per row in y, got shapes {X.shape} and {y.shape}"
        )
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    y = class_indices(y, X.shape[0])
    seed = config.data_seed
    if X_test is None:
        X, X_test, y, y_test = train_test_split(X, y, test_size=config.test_fraction, stratify=y, random_state=seed)
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=config.validation_fraction, stratify=y,
                                                  random_state=seed)
    arrays = {"train": (X_fit, y_fit), "val": (X_val, y_val), "test": (X_test, y_test), "all_train": (X, y)}
    return {name: (as_float_tensor(features, f"X_{name}", n_features=X.shape[1]),
                   torch.as_tensor(np.asarray(labels), dtype=torch.int64))
            for name, (features, labels) in arrays.items()}


def _subset(part: Part, size: int | None, seed: int) -> Part:
    """At most ``size`` rows of a (features, labels) part, stratified, the same for the same seed."""
    features, labels = part
    if size is None or size >= len(labels):
        return part
    rows, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels.numpy(), random_state=seed)
    rows = torch.as_tensor(np.sort(rows))
    return features[rows], labels[rows]


def _stages(parts: dict[str, Part], config: CompareConfig) -> list[_Stage]:
    """One stage (every rate, train/validation/test), or a search stage on the validation split
    and a final stage of the selected rates on all the training rows, measured on the test rows."""

    def stage(name: str, train: Part, others: dict[str, Part], epochs: int, seeds: tuple[int, ...],
              lrs: tuple[float, ...] | None) -> _Stage:
        measured = {"train": _subset(train, config.monitor_rows, config.data_seed), **others}
        return _Stage(name, train, measured, epochs, seeds, lrs)

    if not config.two_stage:
        measured = {"val": parts["val"], "test": parts["test"]}
        return [stage("final", parts["train"], measured, config.epochs, config.seeds, config.lrs)]
    search_rows = _subset(parts["train"], config.search_rows, config.data_seed)
    search_seeds = config.seeds[:config.search_seeds or len(config.seeds)]
    return [stage("search", search_rows, {"val": parts["val"]}, config.search_epochs or config.epochs, search_seeds,
                  config.lrs),
            stage("final", parts["all_train"], {"test": parts["test"]}, config.epochs, config.seeds, None)]


# --------------------------------------------------------------------------- the comparison


def compare_inits(
    X: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    *,
    X_test: np.ndarray | Tensor | None = None,
    y_test: np.ndarray | Tensor | None = None,
    config: CompareConfig | None = None,
    **options: Any,
) -> list[dict]:
    """Train one MLP per (activation, scheme, seed, learning rate) and record how each does.

    Parameters
    ----------
    X, y : arrays
        Features and class indices 0..C-1, split as :func:`split_data` describes.
    X_test, y_test : arrays, optional
        A separate test set (e.g. MNIST's official one).
    config : CompareConfig, optional
        The settings (default ``CompareConfig()``).
    **options
        Fields of :class:`CompareConfig` that replace those of ``config`` (``hidden``,
        ``activation``, ``schemes``, ``seeds``, ``epochs``, ``batch_size``, ``lrs``, ...; see
        there for each meaning and default).

    Returns
    -------
    list of dict
        One record per model: ``scheme``, ``activation``, ``seed``, ``lr``, ``stage`` (``"search"``
        or ``"final"``; one stage: every record is ``"final"``), ``selected`` (a final record of the
        rate chosen for this scheme and activation: the records the tables use), ``lr_at_edge``
        (True on the selected records when that rate is the smallest or largest of two or more
        searched), ``curves`` (lists over epochs 0..epochs, epoch 0 being the initial network:
        ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``, ``test_loss``,
        ``test_accuracy``; a part a stage does not measure is absent: no test in the search
        stage, no validation in the final one), the final value of each (None where absent),
        ``epochs_to_target`` (None if never or without validation), ``diverged``,
        ``converged`` (:func:`converged`: the final training loss is finite and below
        :data:`CONVERGENCE_FRACTION` of the chance level; "n/c" in the tables otherwise),
        ``init_statistics`` (:func:`dbn.diagnostics.layer_statistics` of the initial network on
        500 training rows), ``init_error`` (the message of an initialisation whose own training
        diverged, whose runs are then diverged; None otherwise) and ``seconds`` (the wall time
        of the whole batch of models, or of this model).

    Raises
    ------
    ValueError
        For settings :class:`CompareConfig` refuses, mismatched shapes, or a batch-normalised run
        whose last minibatch would hold a single row; all before any training.
    TypeError
        For an option that is not a field of :class:`CompareConfig`.
    """
    if config is not None and not isinstance(config, CompareConfig):
        raise TypeError(f"config must be a CompareConfig, got {type(config).__name__}")
    config = (CompareConfig() if config is None else config).replace(**options)
    parts = split_data(X, y, X_test=X_test, y_test=y_test, config=config)
    stages = _stages(parts, config)
    last_rows = [len(stage.train[1]) % config.batch_size for stage in stages]
    if BATCHNORM in config.schemes and 1 in last_rows:
        raise ValueError(
            f"batch_size={config.batch_size} leaves a last minibatch of one row, which batch normalisation cannot "
            "train on"
        )
    n_classes = int(max(int(labels.max()) for _, labels in parts.values())) + 1
    records: list[dict] = []
    for name in config.activation:
        started = time.perf_counter()
        records += _compare_activation(name, parts["train"], stages, config, n_classes=n_classes)
        if config.progress:
            count = sum(r["activation"] == name for r in records)
            print(f"{name}: {count} models in {time.perf_counter() - started:.1f} s")
    return records


def _compare_activation(activation: str, fit: Part, stages: list[_Stage], config: CompareConfig, *,
                        n_classes: int) -> list[dict]:
    """The records of every stage for one activation; initial networks built from (and their
    statistics measured on) the fitting rows ``fit``."""
    X_fit, y_fit = fit
    chance = chance_loss(y_fit)
    rows = [scheme for scheme in config.schemes if applies(scheme, activation)]
    options = config.scheme_options or {}
    initial = {(scheme, seed): initial_model(scheme, seed, n_inputs=X_fit.shape[1], hidden=config.hidden,
                                             n_outputs=n_classes, activation=activation, X=X_fit,
                                             options=options.get(scheme))
               for seed in config.seeds for scheme in rows}
    statistics = {key: layer_statistics(model, X_fit[:500], y_fit[:500]) for key, model in initial.items()}
    chosen: dict[str, SelectedRate] = {}
    records: list[dict] = []
    for stage in stages:
        runs = [(scheme, seed, lr) for seed in stage.seeds for scheme in rows
                for lr in (stage.lrs if stage.lrs is not None else [chosen[scheme].lr])]
        curves, trained, seconds = _train([(initial[scheme, seed], lr) for scheme, seed, lr in runs], stage, config)
        stage_records = []
        for index, (scheme, seed, lr) in enumerate(runs):
            curve = {metric: values[index] for metric, values in curves.items()}
            record = {"scheme": scheme, "activation": activation, "seed": seed, "lr": lr, "stage": stage.name,
                      **_outcome(curve, chance, config.target_accuracy), "init_statistics": statistics[scheme, seed],
                      "init_error": getattr(initial[scheme, seed], "init_error", None),
                      "seconds": seconds[index] if seconds is not None else None}
            if config.keep_models:
                record["initial_model"] = copy.deepcopy(initial[scheme, seed])
                record["model"] = trained(index)
            stage_records.append(record)
        if stage.lrs is not None:
            chosen = select_learning_rates(stage_records)
        if stage.name == "final":
            mark_selected(stage_records, chosen)
        records += stage_records
    return records


def _outcome(curve: dict[str, list[float]], chance: float, target_accuracy: float) -> dict:
    """The fields of a record that follow from its curves (see :func:`compare_inits`)."""
    reached = [epoch for epoch, value in enumerate(curve.get("val_accuracy", [])) if value >= target_accuracy]
    return {
        "selected": False, "lr_at_edge": False, "curves": curve,
        **{f"{part}_{metric}": None for part in ("val", "test") for metric in ("loss", "accuracy")},
        **{metric: values[-1] for metric, values in curve.items()},
        "epochs_to_target": reached[0] if reached else None,
        "diverged": not math.isfinite(curve["train_loss"][-1]),
        "converged": converged(curve["train_loss"][-1], chance),
    }


# --------------------------------------------------------------------------- training and measuring


def _summed_loss(scales: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    r"""The batched training loss: :math:`\sum_m s_m\,\ell_m`, with :math:`\ell_m` model
    :math:`m`'s mean cross-entropy over the batch's rows (outputs (rows, models, classes), targets
    class indices of shape (rows,)).

    A model whose loss is no longer finite (it diverged) contributes 0 so the others go on."""

    def loss(output: Tensor, target: Tensor) -> Tensor:
        targets = target.unsqueeze(1).expand(-1, output.shape[1])
        per_model = F.cross_entropy(output.transpose(1, 2), targets, reduction="none").mean(0)
        return torch.where(torch.isfinite(per_model), per_model, 0.0) @ scales

    return loss


@torch.no_grad()
def _evaluate(forward: Callable[[Tensor], Tensor], X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-model mean cross-entropy and accuracy, from ``forward(x)`` of shape (B, M, C)."""
    totals, correct = None, None
    for xb, yb in zip(X.split(_EVAL_CHUNK), y.split(_EVAL_CHUNK), strict=True):
        output = forward(xb).double().transpose(0, 1)  # model-major: each model's sum is over a contiguous row
        m = output.shape[0]
        losses = F.cross_entropy(output.reshape(-1, output.shape[-1]), yb.repeat(m), reduction="none")
        losses = losses.view(m, -1).sum(1)
        hits = (output.argmax(-1) == yb).sum(1).double()
        totals = losses if totals is None else totals + losses
        correct = hits if correct is None else correct + hits
    return totals / X.shape[0], correct / X.shape[0]


def _measure(forward: Callable[[Tensor], Tensor], parts: dict[str, Part]) -> dict[str, Tensor]:
    """Per-model loss and accuracy on each part (train, val, test): tensors of shape (M,)."""
    measured = {}
    for part, (features, labels) in parts.items():
        measured[f"{part}_loss"], measured[f"{part}_accuracy"] = _evaluate(forward, features, labels)
    return measured


def _per_model(measured: list[dict[str, Tensor]]) -> dict[str, list[list[float]]]:
    """Epoch-major measurements to one list over epochs per model."""
    return {metric: torch.stack([epoch[metric] for epoch in measured], 1).tolist() for metric in measured[0]}


def _fit(model: nn.Module, forward: Callable[[Tensor], Tensor], loss: Any, lr: float, stage: _Stage,
         config: CompareConfig, description: str) -> list[dict[str, Tensor]]:
    """Train ``model`` on the stage's rows with one call of :func:`dbn.training.train_network`
    (SGD with momentum, no validation, no early stopping) and measure ``forward`` on every
    measured part before training and after each epoch, in eval mode (batch normalisation with
    its running statistics; training itself runs in train mode). The loop's divergence guard is
    off: every model trains every epoch, and a model that diverges keeps its non-finite
    parameters, measured as they are (its record says ``diverged``). With ``config.progress`` a
    bar labelled ``description`` counts the epochs."""
    measured: list[dict[str, Tensor]] = []

    def measure(*_: Any) -> None:
        was_training = model.training
        model.eval()
        measured.append(_measure(forward, stage.measured))
        model.train(was_training)

    measure()
    features, labels = stage.train
    train_network(model, features, labels, loss=loss, classify=True, epochs=stage.epochs, batch_size=config.batch_size,
                  lr=lr, momentum=config.momentum, patience=None, seed=config.data_seed, progress=config.progress,
                  description=description, callbacks=[measure], guard=False)
    return measured


def _train(runs: list[Run], stage: _Stage, config: CompareConfig) -> Trained:
    """Train a copy of every (model, rate) on the stage's rows in the minibatch order of
    ``config.data_seed`` on ``config.device``; return the curves (metric -> one list per run), a
    getter of the trained models (on the CPU) by index, and per-model seconds (None when batched)."""
    stage = stage.to(resolve_device(config.device, torch.device("cpu")))
    return (_train_batched if config.batched else _train_sequential)(runs, stage, config)


def _train_batched(runs: list[Run], stage: _Stage, config: CompareConfig) -> Trained:
    """The runs of one architecture form one :class:`~dbn.stacked.StackedMLP`, each model's loss
    scaled by its rate over the largest, which is the rate of the one optimiser."""
    device = stage.train[0].device
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, (model, _) in enumerate(runs):
        groups[architecture(model)].append(index)
    curves: dict[str, list] = defaultdict(lambda: [None] * len(runs))
    where: dict[int, tuple[StackedMLP, int]] = {}
    for indices in groups.values():
        stacked = StackedMLP([runs[index][0] for index in indices]).to(device)
        rates = torch.tensor([runs[index][1] for index in indices], dtype=stacked.weights[0].dtype, device=device)
        base = float(rates.max())
        description = f"{stage.name}: {len(indices)} models at once"
        measured = _fit(stacked, stacked, _summed_loss(rates / base), base, stage, config, description)
        for metric, values in _per_model(measured).items():
            for position, index in enumerate(indices):
                curves[metric][index] = values[position]
        where.update({index: (stacked, position) for position, index in enumerate(indices)})
    return dict(curves), lambda index: where[index][0].unstack(where[index][1]).cpu(), None


def _train_sequential(runs: list[Run], stage: _Stage, config: CompareConfig) -> Trained:
    """One model at a time through the same loop: the reference for the batched runs."""
    device = stage.train[0].device
    trained, seconds, curves = [], [], defaultdict(list)
    for model, lr in runs:
        model_copy = copy.deepcopy(model).to(device)
        started = time.perf_counter()

        def forward(x: Tensor, net: nn.Module = model_copy) -> Tensor:
            return net(x).unsqueeze(1)

        description = f"{stage.name}: model {len(trained) + 1} of {len(runs)}"
        measured = _per_model(_fit(model_copy, forward, "cross_entropy", lr, stage, config, description))
        seconds.append(time.perf_counter() - started)  # after _per_model, which waits for the device
        for metric, values in measured.items():
            curves[metric] += values
        trained.append(model_copy.eval().cpu())
    return dict(curves), lambda index: trained[index], seconds


# --------------------------------------------------------------------------- learning-rate selection


class SelectedRate(NamedTuple):
    """The learning rate selected for one scheme, and whether it is at an edge of the searched grid."""

    lr: float
    at_edge: bool


def select_learning_rates(records: list[dict]) -> dict[str, SelectedRate]:
    """Per scheme, the rate with the best mean final validation accuracy over its runs.

    The rule :func:`compare_inits` applies, for any comparison that records runs the same way:
    diverged runs count as accuracy 0 and a non-finite validation loss as infinity; ties go to
    the lower mean validation loss. A rate is at the edge when it is the smallest or the largest
    of two or more rates tried for that scheme.

    Parameters
    ----------
    records : list of dict
        The runs of one comparison (one activation), each with ``scheme`` (any label), ``lr``,
        ``diverged`` and the final ``val_accuracy`` and ``val_loss`` of the network the run
        keeps (``val_loss`` a number, ``inf`` or NaN for a run that diverged).

    Returns
    -------
    dict
        Scheme -> :class:`SelectedRate`, for :func:`mark_selected`.
    """
    groups: dict[str, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        groups[record["scheme"]][record["lr"]].append(record)
    chosen = {}
    for scheme, by_rate in groups.items():
        def score(lr: float, by_rate: dict[float, list[dict]] = by_rate) -> tuple[float, float]:
            runs = by_rate[lr]
            accuracy = np.mean([0.0 if r["diverged"] else r["val_accuracy"] for r in runs])
            loss = np.mean([r["val_loss"] if math.isfinite(r["val_loss"]) else np.inf for r in runs])
            return accuracy, -loss

        best = max(by_rate, key=score)
        chosen[scheme] = SelectedRate(best, len(by_rate) > 1 and best in (min(by_rate), max(by_rate)))
    return chosen


def mark_selected(records: list[dict], chosen: Mapping[str, tuple[float, bool]]) -> None:
    """Set ``selected`` and ``lr_at_edge`` in place on the records of each scheme's chosen rate.

    ``chosen`` maps every scheme of ``records`` to its (rate, at the grid's edge) pair, as
    :func:`select_learning_rates` returns; the tables of :mod:`dbn.reports` use the selected
    records only."""
    for record in records:
        lr, at_edge = chosen[record["scheme"]]
        record["selected"] = record["lr"] == lr
        record["lr_at_edge"] = record["selected"] and at_edge
