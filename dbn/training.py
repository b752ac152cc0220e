r"""The supervised training loop: minibatch backpropagation with validation and early stopping.

One loop serves every supervised use in the package: fine-tuning an unrolled
:class:`~dbn.stack.DeepBeliefNet` and training the same architecture from a random initialisation
(the comparisons of :mod:`dbn.compare` and the examples). Any ``nn.Module`` mapping rows of ``X`` to
outputs can be trained with it, on in-memory arrays or on batches streamed from a ``DataLoader``
(:mod:`dbn.streams`).

Losses (``loss=``), each a mean over the rows of a minibatch (a callable ``loss(output, target)``
may be given instead; ``classify=True`` then keeps the targets as integer class indices):

``"cross_entropy"``
    classification: the model outputs logits :math:`z`, targets are class indices,
    :math:`\ell = -z_y + \log \sum_c e^{z_c}`. Enables ``val_accuracy`` and a stratified split.
``"mse"``
    regression: :math:`\frac1K \sum_k (z_k - y_k)^2`.
``"binary_cross_entropy"``
    autoencoders of data in [0, 1]: the model outputs logits of the reconstruction,
    :math:`\ell = -\sum_i [y_i \log \sigma(z_i) + (1 - y_i) \log(1 - \sigma(z_i))]`, summed over
    the features as in Hinton & Salakhutdinov's (2006) fine-tuning.
``"squared_error"``
    autoencoders of real-valued data: :math:`\sum_i (z_i - y_i)^2`, summed over the features.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dbn import distributed
from dbn.config import TrainConfig, resolve_config
from dbn.loop import Callback, DivergenceError, check_callbacks, run_epochs
from dbn.resume import EpochCheckpoint, check_fingerprint, fingerprint
from dbn.streams import TrainingBatches, is_stream, without_split
from dbn.targets import as_target_tensor, split_rows
from dbn.validation import as_float_tensor, check_flag, check_seed, resolve_device

__all__ = [
    "CHANCE_FRACTION",
    "LOSSES",
    "LOSS_GROWTH_FLOOR",
    "LOWER_RATES",
    "MAX_LOSS_GROWTH",
    "BestEpoch",
    "chance_loss",
    "evaluate",
    "make_optimizer",
    "search_learning_rate",
    "train_network",
]

#: a training loss above this many times that of the initial network has diverged
MAX_LOSS_GROWTH = 100.0
#: the smallest initial loss that growth is measured from: a network that starts near a perfect
#: fit (one training row, say) diverges only above ``MAX_LOSS_GROWTH * LOSS_GROWTH_FLOOR``
LOSS_GROWTH_FLOOR = 1e-3
#: a classifier whose final training loss is above this fraction of :func:`chance_loss` learnt nothing
CHANCE_FRACTION = 0.9

#: a loss: (model outputs, targets) -> scalar mean over rows
LossFunction = Callable[[Tensor, Tensor], Tensor]


def _binary_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(output, target, reduction="none").sum(1).mean()


def _squared_error(output: Tensor, target: Tensor) -> Tensor:
    return (output - target).square().sum(1).mean()


LOSSES: dict[str, LossFunction] = {
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
    "binary_cross_entropy": _binary_cross_entropy,
    "squared_error": _squared_error,
}


def _module_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def chance_loss(y: Tensor | np.ndarray) -> float:
    r"""Cross-entropy of predicting the class frequencies :math:`p_c` of ``y``: :math:`-\sum_c p_c \log p_c`."""
    labels = y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    return _entropy(np.bincount(labels.astype(np.int64).ravel()))


def _entropy(counts: np.ndarray) -> float:
    frequencies = counts[counts > 0] / counts.sum()
    return float(-(frequencies * np.log(frequencies)).sum())


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """``config``'s optimiser over two groups: the weights (two or more dimensions) with ``weight_decay``, the
    biases without."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.ndim > 1], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.ndim <= 1], "weight_decay": 0.0},
    ]
    if callable(config.optimizer):
        return config.optimizer(groups)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=0.1 if config.lr is None else config.lr, momentum=config.momentum)
    return torch.optim.Adam(groups, lr=1e-3 if config.lr is None else config.lr)


@torch.no_grad()
def evaluate(
    model: nn.Module, X: Tensor, y: Tensor, loss: LossFunction, *, batch_size: int = 4096, accuracy: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Mean loss over the rows of ``X`` (and the fraction of correct argmax predictions), on device.

    The prediction is the argmax over the outputs' last dimension; for outputs of shape
    (rows, ..., classes) the accuracy is the mean over the middle dimensions as well.
    Returns 0-dimensional tensors so that the caller decides when to synchronise with the host.
    """
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=X.device, dtype=torch.float64)
    correct = torch.zeros((), device=X.device, dtype=torch.float64)
    for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=False):
        output = model(xb)
        total += loss(output, yb).double() * xb.shape[0]
        if accuracy:
            hits = output.argmax(-1) == yb.view(-1, *[1] * (output.ndim - 2))
            correct += hits.double().reshape(hits.shape[0], -1).mean(1).sum()
    model.train(was_training)
    n = X.shape[0]
    return total / n, (correct / n if accuracy else None)


class BestEpoch:
    """The loop's own early stopping: a callback that keeps the weights of the epoch with the lowest
    ``val_loss`` and stops after ``patience`` epochs in which the loss has not fallen more than
    ``min_delta`` below its value at the last reset (never, with ``patience=None``): a loss that
    falls by no more than ``min_delta`` in all over ``patience`` epochs stops the run, and the
    lowest loss's weights are kept all the same. (:class:`dbn.callbacks.EarlyStopping` stops on
    any monitor, for any training.)

    :meth:`restore` loads the best weights back and marks the kept epoch's record ``best``.
    """

    def __init__(self, patience: int | None, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_loss, self.best_index, self.best_state, self.waited = float("inf"), None, None, 0
        self.seen, self.bar = 0, float("inf")

    def __call__(self, model: nn.Module, record: dict) -> bool:
        index, self.seen = self.seen, self.seen + 1
        loss = record.get("val_loss")
        if loss is None:
            return False
        if loss < self.best_loss:
            self.best_loss, self.best_index = loss, index
            self.best_state = copy.deepcopy(model.state_dict())
        if loss < self.bar - self.min_delta:
            self.bar, self.waited = loss, 0
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def state(self) -> dict:
        """What continuing needs: the best loss, epoch and weights so far, and the epochs waited."""
        return {
            "best_loss": self.best_loss,
            "best_index": self.best_index,
            "best_state": self.best_state,
            "waited": self.waited,
            "seen": self.seen,
            "bar": self.bar,
        }

    def load_state(self, state: dict) -> None:
        """Continue from :meth:`state`'s output."""
        self.best_loss, self.best_index, self.best_state = state["best_loss"], state["best_index"], state["best_state"]
        self.waited, self.seen = state["waited"], state["seen"]
        self.bar = state.get("bar", self.best_loss)  # checkpoints of before min_delta: the bar was the best loss

    def restore(self, model: nn.Module, history: list[dict]) -> None:
        """Load the best weights (if any epoch was validated) and set each record's ``best``."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        kept = self.best_index if self.best_state is not None else len(history) - 1
        for index, record in enumerate(history):
            record["best"] = index == kept


class SupervisedEpochs:
    """Minibatch backpropagation as an epoch task of :mod:`dbn.loop` (data already checked).

    The minibatches are drawn from the rows of ``data["X"]`` in memory or, given a ``stream``
    (:class:`dbn.streams.TrainingBatches`), read from it in its order, each checked as it comes.
    """

    shown = ("train_loss", "val_loss", "val_accuracy")

    def __init__(
        self,
        network: nn.Module,
        model: nn.Module,
        data: dict,
        loss_fn: LossFunction,
        config: TrainConfig,
        *,
        classify: bool,
        seed: int,
        device: torch.device,
        stream: TrainingBatches | None = None,
    ) -> None:
        self.network, self.model, self.data, self.loss_fn, self.config = network, model, data, loss_fn, config
        self.classify, self.seed, self.device, self.stream = classify, seed, device, stream
        self.measure_first = False  # measure the initial loss on a stream's first batch
        self.optimizer = make_optimizer(model, config)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.total = torch.zeros((), device=device, dtype=torch.float64)
        self.rows = 0
        self.initial_loss: float | None = None
        self.offset = 0  # epochs trained before this call (a resumed run)

    def state(self) -> dict:
        """What the next epoch needs besides the parameters: optimiser buffers, generator, the loss reference."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "initial_loss": self.initial_loss,
            "offset": self.offset,
        }

    def load_state(self, state: dict, done: int) -> None:
        """Continue after ``done`` epochs from :meth:`state`'s output."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.initial_loss, self.offset = state["initial_loss"], done

    def measure_initial_loss(self) -> None:
        """The training loss of the network before training: the reference of :meth:`divergence`.

        Over every training row in memory. For a stream, over its first batch, just before the
        first update (a pass over the whole stream would cost an epoch of reading; the reference
        only needs the order of magnitude, as :data:`MAX_LOSS_GROWTH` allows a hundredfold growth).
        """
        if self.stream is not None:
            self.measure_first = True
            return
        loss, _ = evaluate(self.model, self.data["X"], self.data["y"], self.loss_fn)
        self.initial_loss = float(distributed.pooled_mean(loss.reshape(1), [self.data["X"].shape[0]])[0])

    def divergence(self, record: dict) -> str | None:
        """A training loss that grew above :data:`MAX_LOSS_GROWTH` times the initial network's (or
        times :data:`LOSS_GROWTH_FLOOR`, when that is larger)."""
        initial, loss = self.initial_loss, record["train_loss"]
        if initial is not None and math.isfinite(initial) and loss > MAX_LOSS_GROWTH * max(initial, LOSS_GROWTH_FLOOR):
            return (
                f"the training loss {loss:.4g} is over {MAX_LOSS_GROWTH:g} "
                f"times that of the initial network ({initial:.4g})"
            )
        return None

    def finish(self, history: list[dict]) -> None:
        """Warn when a classifier's training loss stays at the chance level (it learnt only the class frequencies)."""
        if not self.classify or not history:
            return
        if self.stream is None:
            chance = chance_loss(self.data["y"])
        elif self.stream.counts is not None:  # the labels of the last epoch read
            chance = _entropy(self.stream.counts)
        else:
            return
        final = history[-1]["train_loss"]
        if final >= CHANCE_FRACTION * chance:
            warnings.warn(
                f"the training loss {final:.4g} after epoch {history[-1]['epoch']} is still at the chance level "
                f"({chance:.4g}, predicting the class frequencies): "
                "the network learnt nothing else; try another lr than "
                f"{history[-1]['lr']}, or more epochs",
                RuntimeWarning,
                stacklevel=4,
            )

    def _order(self, epoch: int) -> Tensor:
        n = self.data["X"].shape[0]
        if distributed.is_distributed():  # this rank's share of a permutation common to all ranks
            return distributed.shard_rows(n, seed=self.seed, epoch=self.offset + epoch, device=self.device)
        return torch.randperm(n, generator=self.generator, device=self.device)

    def _batches(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The (inputs, targets) minibatches of one epoch."""
        if self.stream is None:
            X, y = self.data["X"], self.data["y"]
            for rows in self._order(epoch).split(self.config.batch_size):
                yield X[rows], y[rows]
            return
        for xb, yb in self.stream.epoch(self.offset + epoch):
            if self.stream.outputs is None:  # the first batch: the model's outputs must fit the targets
                self.stream.outputs = _check_outputs(self.model, xb, yb, self.classify)
            if self.measure_first:
                loss, _ = evaluate(self.model, xb, yb, self.loss_fn)
                self.initial_loss, self.measure_first = float(loss), False
            yield xb, yb

    def train_epoch(self, epoch: int) -> None:
        opt = self.optimizer
        self.network.train()
        self.total.zero_()
        self.rows = 0
        for xb, yb in self._batches(epoch):
            batch_loss = self.loss_fn(self.network(xb), yb)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            self.total += batch_loss.detach().double() * xb.shape[0]
            self.rows += xb.shape[0]

    def measure(self, epoch: int, seconds: float) -> dict:
        X_val, y_val = self.data["X_val"], self.data["y_val"]
        measured, rows_measured = [self.total / self.rows], [self.rows]
        if X_val is not None:
            val_loss, val_accuracy = evaluate(self.model, X_val, y_val, self.loss_fn, accuracy=self.classify)
            measured += [val_loss] + ([val_accuracy] if self.classify else [])
            rows_measured += [X_val.shape[0]] * (len(measured) - 1)
        # means over every rank's rows; the epoch's one synchronisation with the device
        values = distributed.pooled_mean(torch.stack(measured), rows_measured).tolist()
        return {
            "epoch": self.offset + epoch + 1,
            "train_loss": values[0],
            "val_loss": values[1] if X_val is not None else None,
            "val_accuracy": values[2] if X_val is not None and self.classify else None,
            "seconds": seconds,
            "lr": self.optimizer.param_groups[0].get("lr"),
            "best": False,
        }


def _fingerprint(X: Tensor) -> dict:
    std, mean = torch.std_mean(X.double(), dim=0)
    return fingerprint(mean, std)


def _prepare_data(
    X: Any,
    y: Any,
    X_val: Any,
    y_val: Any,
    config: TrainConfig,
    *,
    classify: bool,
    dtype: torch.dtype,
    device: torch.device,
    seed: int,
) -> dict[str, Tensor | None]:
    """Checked tensors on ``device``: the training rows and the validation rows (given or split off)."""
    X = as_float_tensor(X, "X", dtype=dtype, device=device)
    y = as_target_tensor(y, X.shape[0], classify=classify, device=device, dtype=dtype)
    X_val, y_val = _validation_data(X_val, y_val, classify=classify, dtype=dtype, device=device, n_features=X.shape[1])
    if X_val is None and config.validation_fraction > 0:
        train_rows, val_rows = split_rows(X.shape[0], y, config.validation_fraction, stratify=classify, seed=seed)
        X, X_val = X[train_rows.to(device)], X[val_rows.to(device)]
        y, y_val = y[train_rows.to(device)], y[val_rows.to(device)]
    return {"X": X, "y": y, "X_val": X_val, "y_val": y_val}


def _validation_data(
    X_val: Any, y_val: Any, *, classify: bool, dtype: torch.dtype, device: torch.device, n_features: int | None
) -> tuple[Tensor | None, Tensor | None]:
    """The checked validation rows on ``device`` (None, None without them)."""
    if X_val is not None:
        X_val = as_float_tensor(X_val, "X_val", dtype=dtype, device=device, n_features=n_features)
        y_val = as_target_tensor(y_val, X_val.shape[0], classify=classify, device=device, dtype=dtype, name="y_val")
    elif y_val is not None:
        raise ValueError("y_val was given without X_val")
    return X_val, y_val


def _prepare_stream(
    model: nn.Module, X: Any, y: Any, X_val: Any, y_val: Any, *, classify: bool, dtype: torch.dtype,
    device: torch.device
) -> dict[str, Any]:
    """The stream of training batches (bound to ``device``) and the checked validation rows."""
    if y is not None:
        raise ValueError(
            f"y must be None when X is a stream of batches ({type(X).__name__}): the batches carry the "
            "targets, as (x, y) pairs"
        )
    stream = X if isinstance(X, TrainingBatches) else TrainingBatches(X)
    stream.bind(device=device, dtype=dtype, classify=classify)
    X_val, y_val = _validation_data(X_val, y_val, classify=classify, dtype=dtype, device=device,
                                    n_features=stream.n_features)
    if X_val is not None:  # the shapes are checked before training, as for in-memory data
        stream.n_features = X_val.shape[1]
        stream.outputs = _check_outputs(model, X_val, y_val, classify)
    return {"stream": stream, "X": None, "y": None, "X_val": X_val, "y_val": y_val}


def train_network(
    model: nn.Module,
    X: Tensor | np.ndarray | Iterable[Any],
    y: Tensor | np.ndarray | None = None,
    *,
    config: TrainConfig | None = None,
    loss: str | LossFunction = "cross_entropy",
    classify: bool | None = None,
    X_val: Tensor | np.ndarray | None = None,
    y_val: Tensor | np.ndarray | None = None,
    device: torch.device | str | None = None,
    seed: int | None = None,
    progress: bool = True,
    description: str = "train",
    callbacks: Sequence[Callback] = (),
    guard: bool = True,
    checkpoint: Callable[[dict], None] | None = None,
    checkpoint_every: int = 1,
    resume_from: dict | None = None,
    **overrides: Any,
) -> list[dict]:
    """Train ``model`` by minibatch gradient descent on ``loss``; return the per-epoch history.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of rows of ``X`` to outputs (logits for the cross-entropy losses). Trained in
        place and left on ``device``.
    X : array, tensor or iterable of batches, shape (n_samples, n_features)
        Inputs. An array or tensor is held whole on ``device`` for the whole run and shuffled
        every epoch. A ``torch.utils.data.DataLoader`` (or any re-iterable of batches, see
        :class:`dbn.streams.TrainingBatches`) streams: each epoch reads it once in its own order
        (shuffling is the loader's job, and ``batch_size`` is its own), checks each batch and
        moves it to ``device`` in the model's dtype; it is never held whole. Its batches are
        ``(x, y)`` pairs, or plain inputs ``x`` that are their own targets (an autoencoder). A
        one-shot iterator (a generator) is refused.
    y : array or tensor, optional
        Targets of in-memory ``X`` (None for a stream, whose batches carry them): class indices
        0..C-1 for ``"cross_entropy"``, else real values of shape (n_samples,) or
        (n_samples, n_outputs) (for an autoencoder, ``X`` itself), which a callable ``loss`` also
        receives.
    config : TrainConfig, optional
        The training options (:class:`dbn.config.TrainConfig`: epochs, batch size, lr, optimiser,
        momentum, weight decay, validation fraction, patience).
    **overrides
        Any field of :class:`~dbn.config.TrainConfig`, overriding ``config``.
    loss : str or callable
        A key of :data:`LOSSES` (see the module docstring) or ``loss(output, target)`` returning
        the mean over rows.
    classify : bool, optional
        Whether ``y`` holds class indices (checked, kept as int64, stratified split,
        ``val_accuracy``) rather than real values. Default: True for ``"cross_entropy"`` only;
        set it for a callable classification loss. The model's outputs have the rows first and
        the classes last, (rows, classes) or (rows, ..., classes); the accuracy is that of the
        argmax over the last dimension, averaged over any middle ones.
    X_val, y_val : array or tensor, optional
        Validation data (in memory, also when ``X`` is a stream), for the history and early
        stopping; without them ``config.validation_fraction`` of in-memory ``X`` is held out
        (stratified by class when classifying, with :func:`sklearn.model_selection.train_test_split`).
        The rows of a stream are never split: a ``validation_fraction`` of ``config`` is then
        ignored, one given as a keyword raises, and early stopping needs ``X_val, y_val``.
    device : str or torch.device, optional
        Where to train ("auto": CUDA when available); default where the model is.
    seed : int, optional
        Seeds the one generator that shuffles the minibatches, and the validation split (in a
        distributed run, rank 0's seed, for every rank).
    progress : bool
        Show a tqdm bar over the epochs.
    description : str
        Label of the progress bar.
    callbacks : sequence of callables
        ``callback(model, record)`` after each epoch (the record as returned, ``best`` still
        False); every callback is called, and training stops when any returns True.
    guard : bool
        Stop with :class:`dbn.loop.DivergenceError` when the loss or a parameter becomes NaN or
        infinite, or the loss grows above :data:`MAX_LOSS_GROWTH` times the initial network's; the
        weights of the last good epoch are restored. A classifier whose loss stays at the chance
        level gets a ``RuntimeWarning``. ``False`` trains on whatever happens (the comparisons of
        :mod:`dbn.compare` mark each diverged model of a batch themselves).
    checkpoint : callable, optional
        ``checkpoint(state)`` every ``checkpoint_every`` epochs, with the training state
        (:mod:`dbn.resume`: the history so far, optimiser buffers, generator, early-stopping
        state, seed, data fingerprint) for the caller to save beside the model's parameters.
    checkpoint_every : int
        Epochs between calls of ``checkpoint``.
    resume_from : dict, optional
        A training state that ``checkpoint`` received, for a ``model`` holding the parameters of
        that moment: the run continues exactly where it was (same configuration, seed and data;
        the data's fingerprint is checked) and the returned history includes its earlier epochs.
        A stream resumes too (epoch count, optimiser buffers, early-stopping state) but not
        exactly (the loader's order is its own) and without the fingerprint check, which would
        cost a pass over the data: exact resumption needs in-memory data.

    Returns
    -------
    list of dict
        One record per epoch: ``epoch``, ``train_loss`` (mean over the epoch's minibatches, as
        trained), ``val_loss`` and ``val_accuracy`` (``None`` without validation or, for the
        accuracy, for losses other than cross-entropy), ``seconds`` (the epoch's updates),
        ``lr``, and ``best`` (whether that epoch's weights are the ones kept).

    Raises
    ------
    ValueError
        For mismatched rows, NaN or infinite inputs or targets, and bad options; for a stream, at
        the batch that has them (named by its index), and for ``y`` given with a stream.
    TypeError
        For a one-shot iterator or a map-style ``Dataset`` as ``X``, and batches that hold no
        real numbers.
    DivergenceError
        (a ``ValueError``) When training diverges (see ``guard``); the error names the epoch and the lr.

    Notes
    -----
    Under ``torchrun``, or in an initialised process group of several processes, training is
    data-parallel (:mod:`dbn.distributed`): ``model`` is wrapped in ``DistributedDataParallel``,
    each rank trains on its share of the rows of every epoch and evaluates its share of the
    validation rows, the losses are pooled over ranks (so early stopping stops every rank at the
    same epoch), and only rank 0 shows the progress bar. Every rank must pass the same data.
    A stream cannot be trained on in a distributed run (a ``ValueError``): pass in-memory arrays.

    With a stream, the divergence guard's reference is the loss on the first batch before the
    first update (not on all rows: that would cost an extra pass), and the chance-level warning
    uses the class frequencies of the last epoch's batches.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if next(model.parameters(), None) is None:
        raise ValueError("model has no parameters to train")
    if not (isinstance(loss, str) or callable(loss)):
        raise TypeError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    if classify is not None:
        check_flag(classify, "classify")
    seed = check_seed(seed)
    config = resolve_config(config, TrainConfig(), overrides)
    if isinstance(loss, str) and loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    classify = loss == "cross_entropy" if classify is None else classify
    loss_fn = LOSSES[loss] if isinstance(loss, str) else loss
    callbacks = check_callbacks(callbacks)

    device = distributed.setup(resolve_device(device, _module_device(model)))
    model.to(device)
    seed = distributed.broadcast_seed(seed, device)
    if config.searched_rates() is not None:
        config = config.replace(lr=_chosen_rate(model, X, y, config, resume_from, loss=loss, classify=classify,
                                                X_val=X_val, y_val=y_val, seed=seed))
    dtype = next(model.parameters()).dtype
    if is_stream(X):  # no split, no fingerprint, not distributed (see the Notes)
        config = without_split(config, overrides)
        data = _prepare_stream(model, X, y, X_val, y_val, classify=classify, dtype=dtype, device=device)
    else:
        data = _prepare_data(X, y, X_val, y_val, config, classify=classify, dtype=dtype, device=device, seed=seed)
        _check_outputs(model, data["X"], data["y"], classify)
        distributed.check_same(data["X"].shape[0], "the number of training rows", device)
    network = distributed.data_parallel(model, device)  # distributed: DDP, which averages the gradients over ranks
    if data["X_val"] is not None and distributed.is_distributed():  # each rank evaluates its share of them
        own = slice(distributed.get_rank(), None, distributed.get_world_size())
        data["X_val"], data["y_val"] = data["X_val"][own], data["y_val"][own]

    task = SupervisedEpochs(network, model, data, loss_fn, config, classify=classify, seed=seed, device=device,
                            stream=data.get("stream"))
    stopping = BestEpoch(config.patience, config.min_delta)
    # the data's fingerprint is a float64 pass over X: only checkpointed or resumed runs need it (not for a stream)
    fingerprinted = data["X"] is not None and (checkpoint is not None or resume_from is not None)
    data_print = _fingerprint(data["X"]) if fingerprinted else None
    history: list[dict] = []
    if resume_from is not None:
        if resume_from["data"] is not None and data_print is not None:
            check_fingerprint(resume_from["data"], data_print)
        history = [dict(record) for record in resume_from["history"]]
        task.load_state(resume_from["task"], len(history))
        stopping.load_state(resume_from["stopping"])
    elif guard:
        task.measure_initial_loss()
    callbacks = [*callbacks, stopping]
    if checkpoint is not None:

        def state() -> dict:
            return {
                "task": task.state(),
                "stopping": stopping.state(),
                "history": [dict(r) for r in history],
                "seed": seed,
                "data": data_print,
            }

        callbacks.append(EpochCheckpoint(checkpoint, state, checkpoint_every))
    if not (resume_from is not None and stopping.patience is not None and stopping.waited >= stopping.patience):
        run_epochs(task, config.epochs - len(history), model=model, history=history, device=device,
                   description=description, progress=progress, callbacks=callbacks, guard=guard)
    stopping.restore(model, history)
    model.eval()
    return history


def _chosen_rate(model: nn.Module, X: Any, y: Any, config: TrainConfig, resume_from: dict | None, **options: Any
                 ) -> float:
    """The searched rate: the one an interrupted run chose (in its records), else a new search's."""
    if resume_from is not None and resume_from["history"]:
        return resume_from["history"][-1]["lr"]
    return search_learning_rate(model, X, y, config=config, **options)


#: when every searched rate diverges, the search goes on below the smallest at these fractions of it
LOWER_RATES = (0.3, 0.1, 0.03)


def search_learning_rate(model: nn.Module, X: Any, y: Any = None, *, config: TrainConfig, **options: Any) -> float:
    """The rate of ``config.searched_rates()`` that trains ``model`` best in a short run.

    Each rate trains ``model`` from its present parameters for ``config.lr_search_epochs`` epochs
    (the same validation split, minibatch order and initial output layer for every rate, since the
    seed is the same); the score is the lowest validation loss of the short run, or its last
    training loss without validation data, and a diverged run scores infinity. Ties go to the
    larger rate. When every rate diverges, lower ones are tried in turn, at the fractions
    :data:`LOWER_RATES` of the smallest (for SGD's "auto" grid 0.03, 0.01, 0.003), until one trains.
    ``model`` gets its starting parameters back. ``options`` are those of :func:`train_network`
    (``loss``, ``X_val``, ``seed``, ...), which runs the short trainings.

    Raises
    ------
    DivergenceError
        When every rate, the lower ones included, diverges.
    """
    start = copy.deepcopy(model.state_dict())
    short = config.replace(epochs=config.lr_search_epochs, patience=None)
    rates = sorted(config.searched_rates(), reverse=True)
    scores: dict[float, float] = {}
    diverged: DivergenceError | None = None
    lower = [float(f"{rates[-1] * fraction:.6g}") for fraction in LOWER_RATES]  # 0.03, not 0.030000000000000002
    for rate in rates + lower:
        if rate < rates[-1] and any(math.isfinite(score) for score in scores.values()):
            break
        model.load_state_dict(start)
        scores[rate], error = _short_run_score(model, X, y, short.replace(lr=rate), options)
        diverged = error or diverged
    model.load_state_dict(start)
    best = min(scores, key=scores.__getitem__)
    if not math.isfinite(scores[best]):
        message = f"training diverged at every searched learning rate {sorted(scores)}"
        if diverged is None:
            raise DivergenceError(message, epoch=config.lr_search_epochs, lr=best, record={})
        raise DivergenceError(message, epoch=diverged.epoch, lr=diverged.lr, record=diverged.record) from diverged
    return best


def _short_run_score(model: nn.Module, X: Any, y: Any, config: TrainConfig, options: dict
                     ) -> tuple[float, DivergenceError | None]:
    """The score of one searched rate (infinity when it diverges), and its divergence if any."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a short run may well end near the chance level
        try:
            history = train_network(model, X, y, config=config, progress=False, **options)
        except DivergenceError as error:
            return math.inf, error
    val_losses = [record["val_loss"] for record in history if record["val_loss"] is not None]
    score = min(val_losses) if val_losses else history[-1]["train_loss"]
    return (score if math.isfinite(score) else math.inf), None


@torch.no_grad()
def _check_outputs(model: nn.Module, X: Tensor, y: Tensor, classify: bool) -> torch.Size:
    """Run the model on one row to turn shape mismatches into clear errors before training; return
    the shape of its outputs per row.

    The row goes through in eval mode (batch normalisation cannot take one row in train mode, and
    must not count it in its running statistics); the model's mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        output = model(X[:1])
    except RuntimeError as error:
        raise ValueError(f"the model cannot take X of shape {tuple(X.shape)}: {error}") from error
    finally:
        model.train(was_training)
    if classify:
        top = int(y.max())
        if output.ndim < 2 or top >= output.shape[-1]:
            raise ValueError(
                f"y holds class index {top} but the model outputs {tuple(output.shape[1:])} logits per row"
            )
    elif output.shape[1:] != y.shape[1:]:
        raise ValueError(f"the model outputs shape {tuple(output.shape[1:])} per row but y has {tuple(y.shape[1:])}")
    return output.shape[1:]
