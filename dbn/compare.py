r"""Initialisation schemes compared on one network: same data, budget, optimiser and care for each.

:func:`compare_inits` trains, for every activation, one MLP per (scheme, seed, learning rate) and
returns one record per model. Within a seed every scheme starts from its own weights
(:func:`dbn.init.init_`, drawn from a generator seeded by the seed and the scheme's name, so the
same pair gives the same weights whatever else is compared) and then sees exactly what the others
see: the same architecture, SGD with momentum, minibatch size, epochs and minibatch order.

Fairness. Every scheme gets the same small learning-rate search (``lrs``, default
:data:`DEFAULT_LRS` = 0.01, 0.03, 0.1, 0.3, 1, 3: deep sigmoid nets need rates of 1 or more with
SGD); for each activation and scheme the rate with the best mean validation accuracy over the seeds
at the last epoch is *selected* (ties: lower validation loss) and only the selected rate's test
numbers enter the table. A selected rate at either end of the grid is flagged (``lr_at_edge`` in
the records, † in the tables): the search may have been cut short there. The test rows are not
used for any choice. On large data the search can be made cheaper and separate from the final
runs (``search_rows``, ``search_epochs``, ``search_seeds``): every rate is tried on part of the
training rows for fewer epochs, and only the chosen rate is then trained, from every seed, on all
the training rows.

Rows that are not initialisation schemes. :data:`BATCHNORM` is the same MLP with an
``nn.BatchNorm1d`` after every hidden linear layer and torch's default initialisation (the
``default`` scheme); it trains in train mode (batch statistics) and is measured in eval mode
(running statistics), as every model is. A scheme that does not apply to an activation (``dbn``
for maxout) has no record and reads "—" in the tables.

Convergence. A run has *not converged* ("n/c", as in Mishkin & Matas's 2016 table) when its final
training loss is not finite or not below :data:`CONVERGENCE_FRACTION` = 0.9 of the chance level,
the cross-entropy :math:`H = -\sum_c p_c \log p_c` of predicting the training class frequencies
(:func:`converged`): it diverged, or learnt nothing beyond the class frequencies. Such runs are
reported, never hidden: a cell where no seed converged reads ``n/c (2.30)`` with its mean final
training loss (``n/c (diverged)`` when that is not finite), and a cell where some did not adds
their count, ``(1/3 n/c)``, to the mean ± std of the others.

One loop, batched. All models of one activation are trained together as one
:class:`StackedMLP` (grouped matrix products, ``torch.baddbmm``: output shape
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

Published numbers are not reproduced here; ``docs/init_results.md`` quotes them beside ours.
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import time
import zlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import Tensor, nn

from dbn.diagnostics import layer_statistics
from dbn.init import ACTIVATIONS, SCHEMES, get_activation, init_
from dbn.training import train_network
from dbn.validation import as_float_tensor, resolve_device

__all__ = [
    "BATCHNORM",
    "CONVERGENCE_FRACTION",
    "DEFAULT_LRS",
    "DEFAULT_SCHEMES",
    "EDGE_MARK",
    "StackedMLP",
    "add_compare_parser",
    "applies",
    "build_mlp",
    "chance_loss",
    "compare_inits",
    "converged",
    "initial_model",
    "main",
    "plot_curves",
    "plot_filter_grid",
    "plot_histogram_grid",
    "results_table",
    "run_compare",
    "summary_table",
    "write_csv",
]

#: the row of the network with batch normalisation after every hidden linear layer (torch's default init)
BATCHNORM = "batchnorm"
#: every scheme of :data:`dbn.init.SCHEMES` but ``dbn`` (which pretrains, hence costs more), and batch normalisation
DEFAULT_SCHEMES = (*(name for name in SCHEMES if name != "dbn"), BATCHNORM)
#: a run has converged when its final training loss is below this fraction of the chance level (:func:`converged`)
CONVERGENCE_FRACTION = 0.9
#: the learning rates searched for every scheme by default
DEFAULT_LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: the marker of a selected rate at the edge of the searched grid
EDGE_MARK = "†"
_EVAL_CHUNK = 2048
_NORM_STATE = ("weight", "bias", "running_mean", "running_var")


def build_mlp(n_inputs: int, hidden: Sequence[int], n_outputs: int, activation: str, *, batchnorm: bool = False) -> nn.Sequential:
    """``Linear, [BatchNorm1d], f, Linear, ..., Linear``: the hidden sizes, then a linear output layer.

    Each hidden linear layer has ``pieces * width`` outputs (:attr:`dbn.init.Activation.pieces`:
    ``k`` for maxout, whose module maps them to ``width`` units); with ``batchnorm`` an
    ``nn.BatchNorm1d`` (torch's defaults) normalises them before the activation.
    """
    entry = get_activation(activation)
    sizes = [n_inputs, *hidden]
    modules: list[nn.Module] = []
    for below, above in zip(sizes, sizes[1:]):
        modules.append(nn.Linear(below, entry.pieces * above))
        if batchnorm:
            modules.append(nn.BatchNorm1d(entry.pieces * above))
        modules.append(entry.module())
    modules.append(nn.Linear(sizes[-1], n_outputs))
    return nn.Sequential(*modules)


def _architecture(model: nn.Sequential) -> tuple:
    """The layers of a network by type and settings (shapes, slopes, pieces, norm options)."""
    return tuple((type(module).__name__, module.extra_repr()) for module in model)


class StackedMLP(nn.Module):
    r"""``M`` MLPs of one architecture and activation, evaluated together on the same batch.

    Layer :math:`l` holds the weights of every model in one tensor of shape
    (M, out, in); a batch ``x`` of shape (B, in) gives outputs of shape (B, M, out), rows first as
    :func:`dbn.training.train_network` expects, through :math:`z = b + h W^\top` per model
    (``torch.baddbmm``). The activation acts on the last dimension (maxout included). Each
    ``nn.BatchNorm1d`` of the models becomes one ``nn.BatchNorm1d`` over the M x C channels of
    the batch laid out as (B, M C): every channel of every model gets its own batch statistics,
    running statistics and affine parameters, exactly as in the separate models, and
    ``train()``/``eval()`` switch all of them between batch and running statistics.

    Parameters
    ----------
    models : sequence of nn.Sequential
        Networks built by :func:`build_mlp` with the same sizes, activation and normalisation
        (``nn.BatchNorm1d`` with affine parameters and running statistics, as built there);
        their current weights and normalisation state are copied.
    """

    def __init__(self, models: Sequence[nn.Sequential]) -> None:
        super().__init__()
        if not models:
            raise ValueError("StackedMLP needs at least one model")
        architectures = [_architecture(model) for model in models]
        if any(architecture != architectures[0] for architecture in architectures):
            raise ValueError(f"every model must have the same layer shapes and types, got {architectures[0]} and others")
        layers = [[m for m in model if isinstance(m, nn.Linear)] for model in models]
        norms = [[m for m in model if isinstance(m, nn.BatchNorm1d)] for model in models]
        self.weights = nn.ParameterList(nn.Parameter(torch.stack([m[i].weight.detach() for m in layers])) for i in range(len(layers[0])))
        self.biases = nn.ParameterList(nn.Parameter(torch.stack([m[i].bias.detach() for m in layers])) for i in range(len(layers[0])))
        self.norms = nn.ModuleList(_stack_norms([m[i] for m in norms]) for i in range(len(norms[0])))
        self.activation = next(m for m in models[0] if not isinstance(m, (nn.Linear, nn.BatchNorm1d)))
        self._template = [copy.deepcopy(models[0])]  # a list: not registered, its parameters are not ours

    @property
    def n_models(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: Tensor) -> Tensor:
        h = x.expand(self.n_models, *x.shape)
        linear, norm = iter(zip(self.weights, self.biases)), iter(self.norms)
        for module in self._template[0]:
            if isinstance(module, nn.Linear):
                weight, bias = next(linear)
                h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
            elif isinstance(module, nn.BatchNorm1d):
                models, rows, channels = h.shape
                h = next(norm)(h.transpose(0, 1).reshape(rows, models * channels)).view(rows, models, channels).transpose(0, 1)
            else:
                h = self.activation(h)
        return h.transpose(0, 1)

    @torch.no_grad()
    def unstack(self, index: int) -> nn.Sequential:
        """Model ``index`` as an independent ``nn.Sequential`` (in eval mode)."""
        model = copy.deepcopy(self._template[0]).eval()
        for layer, weight, bias in zip([m for m in model if isinstance(m, nn.Linear)], self.weights, self.biases):
            layer.weight.copy_(weight[index])
            layer.bias.copy_(bias[index])
        for norm, stacked in zip([m for m in model if isinstance(m, nn.BatchNorm1d)], self.norms):
            part = slice(index * norm.num_features, (index + 1) * norm.num_features)
            for name in _NORM_STATE:
                getattr(norm, name).copy_(getattr(stacked, name)[part])
            norm.num_batches_tracked.copy_(stacked.num_batches_tracked)
        return model


@torch.no_grad()
def _stack_norms(norms: list[nn.BatchNorm1d]) -> nn.BatchNorm1d:
    """One ``nn.BatchNorm1d`` over the channels of all ``norms`` side by side, their state copied."""
    first = norms[0]
    stacked = nn.BatchNorm1d(len(norms) * first.num_features, eps=first.eps, momentum=first.momentum).to(first.weight.dtype)
    for name in _NORM_STATE:
        getattr(stacked, name).copy_(torch.cat([getattr(norm, name) for norm in norms]))
    stacked.num_batches_tracked.copy_(first.num_batches_tracked)
    return stacked


def _summed_loss(scales: Tensor):
    r"""The batched training loss: :math:`\sum_m s_m\,\ell_m`, with :math:`\ell_m` model
    :math:`m`'s mean cross-entropy over the batch's rows (outputs (rows, models, classes), targets
    class indices of shape (rows,)).

    A model whose loss is no longer finite (it diverged) contributes 0 so the others go on."""

    def loss(output: Tensor, target: Tensor) -> Tensor:
        per_model = F.cross_entropy(output.transpose(1, 2), target.unsqueeze(1).expand(-1, output.shape[1]), reduction="none").mean(0)
        return torch.where(torch.isfinite(per_model), per_model, 0.0) @ scales

    return loss


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
    options: dict | None = None,
) -> nn.Sequential:
    """The network :func:`compare_inits` starts from for ``(scheme, seed, activation)``.

    ``scheme`` is a key of :data:`dbn.init.SCHEMES`, or :data:`BATCHNORM`: the MLP with an
    ``nn.BatchNorm1d`` after every hidden linear layer, initialised by torch's default
    (the ``default`` scheme)."""
    batchnorm = scheme == BATCHNORM
    model = build_mlp(n_inputs, hidden, n_outputs, activation, batchnorm=batchnorm)
    generator = torch.Generator().manual_seed(_scheme_seed(seed, scheme))
    return init_(model, "default" if batchnorm else scheme, X=X, generator=generator, activation=activation, **(options or {}))


def chance_loss(y: Tensor | np.ndarray) -> float:
    r"""The cross-entropy of the best constant prediction, the class frequencies :math:`p_c`:
    :math:`H = -\sum_c p_c \log p_c` nats (:math:`\log C` for balanced classes)."""
    counts = torch.bincount(torch.as_tensor(np.asarray(y), dtype=torch.int64)).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def converged(train_loss: float, chance: float) -> bool:
    r"""Our definition of convergence: the final training loss is finite and below
    :data:`CONVERGENCE_FRACTION` of the chance level ``chance`` (:func:`chance_loss`), i.e. the
    network has learnt more than the class frequencies. Otherwise the run is "n/c" (not
    converged): it diverged, or is stuck at (or above) chance, as a network whose signal vanishes
    (tiny weights, the symmetric zero start) or that sits on the deep-sigmoid plateau."""
    return math.isfinite(train_loss) and train_loss < CONVERGENCE_FRACTION * chance


@torch.no_grad()
def _evaluate(forward: Any, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-model mean cross-entropy and accuracy, from ``forward(x)`` of shape (B, M, C)."""
    totals, correct = None, None
    for xb, yb in zip(X.split(_EVAL_CHUNK), y.split(_EVAL_CHUNK)):
        output = forward(xb).double().transpose(0, 1)  # model-major: each model's sum is over a contiguous row
        m = output.shape[0]
        losses = F.cross_entropy(output.reshape(-1, output.shape[-1]), yb.repeat(m), reduction="none").view(m, -1).sum(1)
        hits = (output.argmax(-1) == yb).sum(1).double()
        totals = losses if totals is None else totals + losses
        correct = hits if correct is None else correct + hits
    return totals / X.shape[0], correct / X.shape[0]


def _split_data(X: Any, y: Any, X_test: Any, y_test: Any, test_fraction: float, validation_fraction: float, seed: int) -> dict:
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n_samples, n_features) with one label per row in y, got shapes {X.shape} and {y.shape}")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is None:
        X, X_test, y, y_test = train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed)
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=validation_fraction, stratify=y, random_state=seed)
    parts = {}
    for name, (features, labels) in {"train": (X_fit, y_fit), "val": (X_val, y_val), "test": (X_test, y_test),
                                     "all_train": (X, y)}.items():
        parts[name] = (as_float_tensor(features, f"X_{name}", n_features=X.shape[1]), torch.as_tensor(np.asarray(labels), dtype=torch.int64))
    return parts


def _subset(part: tuple[Tensor, Tensor], size: int | None, seed: int) -> tuple[Tensor, Tensor]:
    """At most ``size`` rows of a (features, labels) part, stratified, the same for the same seed."""
    features, labels = part
    if size is None or size >= len(labels):
        return part
    rows, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels.numpy(), random_state=seed)
    rows = torch.as_tensor(np.sort(rows))
    return features[rows], labels[rows]


def compare_inits(
    X: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    *,
    X_test: np.ndarray | Tensor | None = None,
    y_test: np.ndarray | Tensor | None = None,
    hidden: Sequence[int] = (128, 128, 128),
    activation: str | Sequence[str] = "relu",
    schemes: Sequence[str] = DEFAULT_SCHEMES,
    seeds: int | Sequence[int] = 5,
    epochs: int = 20,
    batch_size: int = 64,
    lrs: Sequence[float] = DEFAULT_LRS,
    momentum: float = 0.9,
    test_fraction: float = 0.25,
    validation_fraction: float = 0.2,
    target_accuracy: float = 0.9,
    scheme_options: dict[str, dict] | None = None,
    search_rows: int | None = None,
    search_epochs: int | None = None,
    search_seeds: int | None = None,
    monitor_rows: int | None = None,
    batched: bool = True,
    keep_models: bool = False,
    data_seed: int = 0,
    progress: bool = False,
    device: torch.device | str = "cpu",
) -> list[dict]:
    """Train one MLP per (activation, scheme, seed, learning rate) and record how each does.

    Parameters
    ----------
    X, y : arrays
        Features and class indices 0..C-1. Without ``X_test``, a stratified ``test_fraction`` is
        held out as the test set; ``validation_fraction`` of the rest (stratified) is the
        validation set that selects the learning rate; the remainder is trained on.
    X_test, y_test : arrays, optional
        A separate test set (e.g. MNIST's official one).
    hidden : sequence of int
        Hidden layer sizes (units; a maxout layer's linear layer has ``k`` times more outputs);
        the output layer has one unit per class.
    activation : str or sequence of str
        Keys of :data:`dbn.init.ACTIVATIONS`; one batch of models per activation.
    schemes : sequence of str
        Keys of :data:`dbn.init.SCHEMES`, or :data:`BATCHNORM` (the network with batch
        normalisation, torch's default initialisation). A scheme that does not apply to an
        activation (:func:`applies`: ``dbn`` for maxout) is skipped for it, leaving no record.
    seeds : int or sequence of int
        Seeds of the initial weights (``n`` means ``range(n)``). The minibatch order comes from
        ``data_seed`` and is the same for every model, so that across seeds only the initial
        weights (and the ``dbn`` pretraining) vary.
    epochs, batch_size, momentum : int, int, float
        SGD with momentum, no weight decay, no early stopping: every model gets the same budget.
    lrs : sequence of float
        The learning rates searched, the same for every scheme.
    target_accuracy : float
        ``epochs_to_target`` is the first epoch whose validation accuracy reaches it.
    scheme_options : dict, optional
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
        Train all models of an activation at once (:class:`StackedMLP`, one stack per
        architecture: with and without batch normalisation); ``False`` trains them one after
        another through the same loop (the reference, and the benchmark's baseline).
    keep_models : bool
        Add ``initial_model`` and ``model`` (``nn.Sequential``, CPU) to each record.
    data_seed : int
        Seeds the splits and the minibatch order.
    progress : bool
        Print one line per activation.
    device : str or torch.device
        Where the models train and are measured ("cuda" for a GPU, "auto" for one if present).
        Initial weights (and ``dbn`` pretraining, ``lsuv``) and their statistics are computed on
        the CPU, so every device starts from the same networks; data and stacked models then move
        to ``device`` once per stage, and an epoch reads nothing back from it until its end.

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
        500 training rows) and ``seconds`` (the wall time of the whole batch of models, or of
        this model).

    Raises
    ------
    ValueError
        For unknown schemes or activations, mismatched shapes, empty lists, or a batch-normalised
        run whose last minibatch would hold a single row.
    """
    activations = [activation] if isinstance(activation, str) else list(activation)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    for name in activations:
        get_activation(name)
    unknown = [name for name in schemes if name not in SCHEMES and name != BATCHNORM]
    if unknown:
        raise ValueError(f"unknown initialisation scheme(s) {unknown}; known: {', '.join([*SCHEMES, BATCHNORM])}")
    if not activations or not schemes or not seed_list or not lrs:
        raise ValueError("activation, schemes, seeds and lrs must each name at least one value")
    if any(not lr > 0 for lr in lrs):
        raise ValueError(f"learning rates must be positive, got {list(lrs)}")
    two_stage = search_rows is not None or search_epochs is not None or search_seeds is not None
    parts = _split_data(X, y, X_test, y_test, test_fraction, validation_fraction, data_seed)
    X_fit, y_fit = parts["train"]
    n_classes = int(max(int(labels.max()) for _, labels in parts.values())) + 1
    if two_stage:
        search_parts = {"train": _subset(parts["train"], search_rows, data_seed), "val": parts["val"]}
        final_parts = {"train": parts["all_train"], "test": parts["test"]}
        stages = [("search", search_parts, search_epochs or epochs, seed_list[:search_seeds or len(seed_list)], lrs),
                  ("final", final_parts, epochs, seed_list, None)]
    else:
        stages = [("final", {name: parts[name] for name in ("train", "val", "test")}, epochs, seed_list, lrs)]
    if BATCHNORM in schemes and any(len(stage[1]["train"][1]) % batch_size == 1 for stage in stages):
        raise ValueError(f"batch_size={batch_size} leaves a last minibatch of one row, which batch normalisation cannot train on")
    chance = chance_loss(y_fit)
    options = scheme_options or {}
    records: list[dict] = []
    for name in activations:
        started = time.perf_counter()
        rows = [scheme for scheme in schemes if applies(scheme, name)]
        initial = {(scheme, seed): initial_model(scheme, seed, n_inputs=X_fit.shape[1], hidden=hidden, n_outputs=n_classes,
                                                 activation=name, X=X_fit, options=options.get(scheme))
                   for seed in seed_list for scheme in rows}
        statistics = {key: layer_statistics(model, X_fit[:500], y_fit[:500]) for key, model in initial.items()}
        chosen: dict[str, tuple[float, bool]] = {}
        for stage, stage_parts, stage_epochs, stage_seeds, stage_lrs in stages:
            runs = [(scheme, seed, lr) for seed in stage_seeds for scheme in rows
                    for lr in (stage_lrs if stage_lrs is not None else [chosen[scheme][0]])]
            measured_parts = {**stage_parts, "train": _subset(stage_parts["train"], monitor_rows, data_seed)}
            curves, trained, seconds = _train([(initial[scheme, seed], lr) for scheme, seed, lr in runs], stage_parts["train"],
                                              measured_parts, stage_epochs, batch_size, momentum, data_seed, batched, device)
            stage_records = []
            for index, (scheme, seed, lr) in enumerate(runs):
                record = {"scheme": scheme, "activation": name, "seed": seed, "lr": lr, "stage": stage,
                          **_outcome({metric: values[index] for metric, values in curves.items()}, chance, target_accuracy),
                          "init_statistics": statistics[scheme, seed], "seconds": seconds[index] if seconds is not None else None}
                if keep_models:
                    record["initial_model"] = copy.deepcopy(initial[scheme, seed])
                    record["model"] = trained(index)
                stage_records.append(record)
            if stage_lrs is not None:
                chosen = _select_learning_rates(stage_records)
            if stage == "final":
                _mark_selected(stage_records, chosen)
            records += stage_records
        if progress:
            print(f"{name}: {sum(r['activation'] == name for r in records)} models in {time.perf_counter() - started:.1f} s")
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


def _measure(forward: Any, parts: dict) -> dict[str, Tensor]:
    """Per-model loss and accuracy on each part (train, val, test): tensors of shape (M,)."""
    measured = {}
    for part, (features, labels) in parts.items():
        measured[f"{part}_loss"], measured[f"{part}_accuracy"] = _evaluate(forward, features, labels)
    return measured


def _per_model(measured: list[dict[str, Tensor]]) -> dict[str, list[list[float]]]:
    """Epoch-major measurements to one list over epochs per model."""
    return {metric: torch.stack([epoch[metric] for epoch in measured], 1).tolist() for metric in measured[0]}


def _fit(model: nn.Module, forward: Any, loss: Any, lr: float, train: tuple[Tensor, Tensor], parts: dict, epochs: int,
         batch_size: int, momentum: float, seed: int) -> list[dict[str, Tensor]]:
    """Train ``model`` on ``train`` with one call of :func:`dbn.training.train_network` (SGD with
    momentum, no validation, no early stopping) and measure ``forward`` on every part before
    training and after each epoch, in eval mode (batch normalisation with its running
    statistics; training itself runs in train mode). A run that diverges keeps its non-finite
    parameters, measured as they are for the epochs it did not finish."""

    measured: list[dict[str, Tensor]] = []

    def measure(*_: Any) -> None:
        was_training = model.training
        model.eval()
        measured.append(_measure(forward, parts))
        model.train(was_training)

    measure()
    try:
        train_network(model, *train, loss=loss, classify=True, epochs=epochs, batch_size=batch_size, lr=lr,
                      momentum=momentum, patience=None, seed=seed, progress=False, callbacks=[measure])
    except ValueError as error:
        if "loss became" not in str(error):
            raise
    if len(measured) < epochs + 1:
        measure()
        measured += [measured[-1]] * (epochs + 1 - len(measured))
    return measured


def _train(runs: list[tuple[nn.Sequential, float]], train: tuple[Tensor, Tensor], parts: dict, epochs: int, batch_size: int,
           momentum: float, seed: int, batched: bool, device: torch.device | str = "cpu") -> tuple[dict, Any, list[float] | None]:
    """Train a copy of every (model, rate) on ``train`` in the minibatch order of ``seed`` on
    ``device``; return the curves (metric -> one list per run), a getter of the trained models
    (on the CPU) by index, and per-model seconds (None when batched). Batched, the runs of one
    architecture form one :class:`StackedMLP`, each model's loss scaled by its rate over the
    largest."""
    device = resolve_device(device, torch.device("cpu"))
    train = tuple(tensor.to(device) for tensor in train)
    parts = {name: tuple(tensor.to(device) for tensor in part) for name, part in parts.items()}
    if batched:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, (model, _) in enumerate(runs):
            groups[_architecture(model)].append(index)
        curves: dict[str, list] = defaultdict(lambda: [None] * len(runs))
        where: dict[int, tuple[StackedMLP, int]] = {}
        for indices in groups.values():
            stacked = StackedMLP([runs[index][0] for index in indices]).to(device)
            rates = torch.tensor([runs[index][1] for index in indices], dtype=stacked.weights[0].dtype, device=device)
            base = float(rates.max())
            measured = _fit(stacked, stacked, _summed_loss(rates / base), base, train, parts, epochs, batch_size, momentum, seed)
            for metric, values in _per_model(measured).items():
                for position, index in enumerate(indices):
                    curves[metric][index] = values[position]
            where.update({index: (stacked, position) for position, index in enumerate(indices)})
        return dict(curves), lambda index: where[index][0].unstack(where[index][1]).cpu(), None

    trained, seconds, curves = [], [], defaultdict(list)
    for model, lr in runs:
        model_copy = copy.deepcopy(model).to(device)
        started = time.perf_counter()

        def forward(x: Tensor, net: nn.Module = model_copy) -> Tensor:
            return net(x).unsqueeze(1)

        measured = _per_model(_fit(model_copy, forward, "cross_entropy", lr, train, parts, epochs, batch_size, momentum, seed))
        seconds.append(time.perf_counter() - started)  # after _per_model, which waits for the device
        for metric, values in measured.items():
            curves[metric] += values
        trained.append(model_copy.eval().cpu())
    return dict(curves), lambda index: trained[index], seconds


def _select_learning_rates(records: list[dict]) -> dict[str, tuple[float, bool]]:
    """Per scheme (of one activation), the rate with the best mean final validation accuracy
    (diverged runs count as 0; ties go to the lower mean validation loss), and whether it is at an
    edge of the searched rates."""
    groups: dict[str, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        groups[record["scheme"]][record["lr"]].append(record)
    chosen = {}
    for scheme, by_rate in groups.items():
        def score(lr: float) -> tuple[float, float]:
            runs = by_rate[lr]
            accuracy = np.mean([0.0 if r["diverged"] else r["val_accuracy"] for r in runs])
            loss = np.mean([r["val_loss"] if math.isfinite(r["val_loss"]) else np.inf for r in runs])
            return accuracy, -loss

        best = max(by_rate, key=score)
        chosen[scheme] = best, len(by_rate) > 1 and best in (min(by_rate), max(by_rate))
    return chosen


def _mark_selected(records: list[dict], chosen: dict[str, tuple[float, bool]]) -> None:
    """Set ``selected`` and ``lr_at_edge`` on the records of each scheme's chosen rate."""
    for record in records:
        lr, at_edge = chosen[record["scheme"]]
        record["selected"] = record["lr"] == lr
        record["lr_at_edge"] = record["selected"] and at_edge


# --------------------------------------------------------------------------- tables


def _mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    finite = [v * scale for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "diverged" if values else "-"
    text = f"{np.mean(finite):.{digits}f} ± {np.std(finite):.{digits}f}"
    return text + (f" ({len(values) - len(finite)} diverged)" if len(finite) < len(values) else "")


def _edge_note(records: list[dict]) -> str:
    """The footnote explaining the edge marker, empty if no selected rate carries it."""
    if not any(r["lr_at_edge"] for r in records):
        return ""
    searched = ", ".join(f"{lr:g}" for lr in sorted({r["lr"] for r in records}))
    return f"\n\n{EDGE_MARK}: best rate at the grid's edge (searched: {searched})"


def _edge(runs: list[dict]) -> str:
    return f" {EDGE_MARK}" if runs and runs[0]["lr_at_edge"] else ""


def _cell(runs: list[dict], metric: str, scale: float, digits: int) -> str:
    """One table cell: "—" for a scheme that does not apply, ``n/c (loss)`` when no seed
    converged (the mean final training loss, or "diverged"), else mean ± std over the converged
    seeds, with the count of the others."""
    if not runs:
        return "—"
    failed = [r for r in runs if not r["converged"]]
    if len(failed) == len(runs):
        losses = [r["train_loss"] for r in runs]
        return "n/c (" + (f"{np.mean(losses):.2f}" if all(math.isfinite(v) for v in losses) else "diverged") + ")" + _edge(runs)
    text = _mean_std([r[metric] for r in runs if r["converged"]], scale, digits)
    return text + (f" ({len(failed)}/{len(runs)} n/c)" if failed else "") + _edge(runs)


def summary_table(records: list[dict], metric: str = "test_accuracy") -> str:
    """Markdown: schemes as rows, activations as columns, mean ± std over seeds of ``metric`` at
    each scheme's selected rate (accuracies in %). † marks a selected rate at the grid's edge;
    a run that did not converge (:func:`converged`) is left out of the mean and counted, and a
    cell where none converged reads ``n/c (loss)`` with the mean final training loss; "—" marks a
    scheme that does not apply to the activation."""
    selected = [r for r in records if r["selected"]]
    schemes = list(dict.fromkeys(r["scheme"] for r in selected))
    activations = list(dict.fromkeys(r["activation"] for r in selected))
    scale, digits = (100.0, 1) if "accuracy" in metric else (1.0, 3)
    lines = ["| scheme | " + " | ".join(activations) + " |", "|---|" + "---|" * len(activations)]
    for scheme in schemes:
        groups = [[r for r in selected if r["scheme"] == scheme and r["activation"] == a] for a in activations]
        lines.append(f"| {scheme} | " + " | ".join(_cell(runs, metric, scale, digits) for runs in groups) + " |")
    return "\n".join(lines) + _edge_note(records)


def results_table(records: list[dict]) -> str:
    """Markdown: one row per (activation, scheme) at the selected rate, mean ± std over seeds of
    the final train loss, test loss, test accuracy (%) over all seeds, the runs that did not
    converge, and epochs to the target validation accuracy ("—" without validation); † marks a
    selected rate at the grid's edge."""
    selected = [r for r in records if r["selected"]]
    lines = ["| activation | scheme | lr | train loss | test loss | test accuracy (%) | n/c | epochs to target |",
             "|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["activation"], r["scheme"]) for r in selected):
        runs = [r for r in selected if (r["activation"], r["scheme"]) == key]
        reached = [r["epochs_to_target"] for r in runs if r["epochs_to_target"] is not None]
        target = f"{np.mean(reached):.1f} ({len(reached)}/{len(runs)})" if reached else f"never (0/{len(runs)})"
        failed = sum(not r["converged"] for r in runs)
        lines.append(f"| {key[0]} | {key[1]} | {runs[0]['lr']:g}{_edge(runs)} | {_mean_std([r['train_loss'] for r in runs], digits=3)} | "
                     f"{_mean_std([r['test_loss'] for r in runs], digits=3)} | {_mean_std([r['test_accuracy'] for r in runs], 100.0)} | "
                     f"{failed}/{len(runs)} | {target if runs[0]['val_accuracy'] is not None else '—'} |")
    return "\n".join(lines) + _edge_note(records)


#: the scalar fields written by :func:`write_csv`, one row per model
CSV_FIELDS = ("activation", "scheme", "seed", "lr", "stage", "selected", "lr_at_edge", "train_loss", "train_accuracy", "val_loss",
              "val_accuracy", "test_loss", "test_accuracy", "epochs_to_target", "diverged", "converged")


def write_csv(records: list[dict], path: str | Path) -> None:
    """One row per model (every rate searched, both stages) with the fields of :data:`CSV_FIELDS`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


# --------------------------------------------------------------------------- figures


def plot_curves(records: list[dict], path: str | Path, *, metric: str = "train_loss") -> None:
    """Mean over seeds of a curve, one panel per activation, one line per scheme (selected rates)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    selected = [r for r in records if r["selected"]]
    activations = list(dict.fromkeys(r["activation"] for r in selected))
    figure, axes = plt.subplots(1, len(activations), figsize=(3.6 * len(activations), 3.0), squeeze=False)
    for axis, name in zip(axes[0], activations):
        for scheme in dict.fromkeys(r["scheme"] for r in selected):
            runs = np.array([r["curves"][metric] for r in selected if r["activation"] == name and r["scheme"] == scheme], dtype=float)
            if not len(runs):
                continue  # the scheme does not apply to this activation
            axis.plot(np.nanmean(runs, 0) if np.isfinite(runs).any() else runs[0], label=scheme)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("epoch")
        axis.set_yscale("log" if "loss" in metric else "linear")
    axes[0][0].set_ylabel(metric.replace("_", " "))
    axes[0][-1].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    plt.close(figure)


def plot_histogram_grid(records: list[dict], X: Any, y: Any, path: str | Path, *, activation: str) -> None:
    """Glorot & Bengio's histograms at initialisation, one row per scheme (first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dbn.diagnostics import draw_layer_histograms, trace_layers

    firsts = {}
    for record in records:
        if record["activation"] == activation and "initial_model" in record:
            firsts.setdefault(record["scheme"], record["initial_model"])
    figure, axes = plt.subplots(len(firsts), 2, figsize=(8, 1.6 * len(firsts)), squeeze=False)
    for row, (scheme, model) in zip(axes, firsts.items()):
        draw_layer_histograms(trace_layers(model, X, y), row[0], row[1], legend=row is axes[0])
        row[0].set_ylabel(scheme, fontsize=8)
    figure.suptitle(f"{activation}: activations (left) and dL/dz (right) per hidden layer at initialisation", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=60)
    plt.close(figure)


def plot_filter_grid(records: list[dict], path: str | Path, *, activation: str, n: int = 16) -> None:
    """The first ``n`` first-layer filters after training, one row per scheme (first seed, selected rate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dbn.diagnostics import filter_mosaic

    firsts = {}
    for record in records:
        if record["activation"] == activation and record["selected"] and "model" in record:
            firsts.setdefault(record["scheme"], record["model"])
    figure, axes = plt.subplots(len(firsts), 1, figsize=(6, 0.75 * len(firsts) + 0.3), squeeze=False)
    for axis, (scheme, model) in zip(axes[:, 0], firsts.items()):
        mosaic = filter_mosaic(model[0].weight, n=n, columns=n)
        axis.imshow(mosaic, cmap="gray")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(scheme, fontsize=7, rotation=0, ha="right")
    figure.suptitle(f"{activation}: first-layer filters after training", fontsize=9)
    figure.savefig(path, dpi=70, bbox_inches="tight")
    plt.close(figure)


# --------------------------------------------------------------------------- command line


def add_compare_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to an ``argparse`` subparsers object; its handler is :func:`run_compare`."""
    parser = subparsers.add_parser("compare", help="compare weight initialisation schemes on one MLP",
                                   description="Train one MLP per scheme x seed x learning rate (batched) and tabulate the results.")
    parser.add_argument("--data", default="digits", help="digits (default) or mnist (its official test set is used)")
    parser.add_argument("--activation", nargs="+", default=["tanh", "relu"],
                        help=f"activations, of {', '.join(name for name in ACTIVATIONS if name != 'identity')} (default: tanh relu)")
    parser.add_argument("--schemes", nargs="+", default=list(DEFAULT_SCHEMES),
                        help=f"initialisation schemes, and {BATCHNORM} (default: all but dbn)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128, 128], help="hidden layer sizes")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, nargs="+", default=list(DEFAULT_LRS),
                        help=f"learning rates searched per scheme (default: {' '.join(f'{lr:g}' for lr in DEFAULT_LRS)})")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--target", type=float, default=0.9, help="validation accuracy for 'epochs to target'")
    parser.add_argument("--dbn-epochs", type=int, default=10, help="RBM epochs per layer for the dbn scheme")
    parser.add_argument("--max-rows", type=int, default=None, help="use at most this many training rows")
    parser.add_argument("--search-rows", type=int, default=None, help="two-stage search: rates tried on this many training rows")
    parser.add_argument("--search-epochs", type=int, default=None, help="two-stage search: epochs per rate tried")
    parser.add_argument("--search-seeds", type=int, default=None, help="two-stage search: seeds per rate tried")
    parser.add_argument("--monitor-rows", type=int, default=None, help="measure the training loss on at most this many rows")
    parser.add_argument("--sequential", action="store_true", help="train the models one after another (slower, same numbers)")
    parser.add_argument("--out", default="results", help="directory for the tables and figures")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="where the models train: cpu, cuda or auto")
    parser.set_defaults(handler=run_compare)
    return parser


def _load(name: str, max_rows: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    from dbn.datasets import load

    if name.lower() == "digits":
        X, y = load("digits")
        X_test = y_test = None
    else:
        X, y = load(name, split="train")
        X_test, y_test = load(name, split="test")
    if max_rows is not None and max_rows < len(X):
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=0)
    return X, y, X_test, y_test


def run_compare(args: argparse.Namespace) -> list[dict]:
    """Run :func:`compare_inits` with the parsed arguments; write ``table.md``, ``results.csv``
    and, with matplotlib, ``curves.png``, ``histograms_<activation>.png`` and ``filters_<activation>.png``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, X_test, y_test = _load(args.data, args.max_rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records = compare_inits(X, y, X_test=X_test, y_test=y_test, hidden=args.hidden, activation=args.activation,
                            schemes=args.schemes, seeds=args.seeds, epochs=args.epochs, batch_size=args.batch_size,
                            lrs=args.lr, momentum=args.momentum, target_accuracy=args.target,
                            scheme_options={"dbn": {"epochs": args.dbn_epochs}}, search_rows=args.search_rows,
                            search_epochs=args.search_epochs, search_seeds=args.search_seeds, monitor_rows=args.monitor_rows,
                            batched=not args.sequential, device=args.device,
                            keep_models=not args.no_figures, progress=True)
    elapsed = time.perf_counter() - started
    command = "python -m dbn compare " + " ".join(getattr(args, "argv", []) or [])
    text = (f"# Initialisation comparison on {args.data}\n\n{len(records)} models in {elapsed:.0f} s; "
            f"hidden {args.hidden}, {args.epochs} epochs of SGD (momentum {args.momentum}, batch {args.batch_size}), "
            f"learning rate searched over {args.lr} per scheme (selected on validation accuracy).\n\n"
            f"## Test accuracy (%), mean ± std over {args.seeds} seeds\n\n{summary_table(records)}\n\n"
            f"## Details at the selected rate\n\n{results_table(records)}\n")
    (out / "table.md").write_text(text)
    write_csv(records, out / "results.csv")
    print(text)
    if not args.no_figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: no figures")
            return records
        parts = _split_data(X, y, X_test, y_test, 0.25, 0.2, 0)
        X_fit, y_fit = parts["train"]
        plot_curves(records, out / "curves.png")
        for name in args.activation:
            plot_histogram_grid(records, X_fit[:500], y_fit[:500], out / f"histograms_{name}.png", activation=name)
            plot_filter_grid(records, out / f"filters_{name}.png", activation=name)
        print(f"figures written to {out}")
    print(f"{command}: {elapsed:.0f} s; tables in {out}")
    return records


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """``python -m dbn compare ...`` as a function: parse ``argv`` and run :func:`run_compare`."""
    parser = argparse.ArgumentParser(prog="python -m dbn")
    add_compare_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["compare", *(argv or [])])
    args.argv = list(argv or [])
    return args.handler(args)


if __name__ == "__main__":
    main(__import__("sys").argv[1:])
