r"""The supervised training loop: minibatch backpropagation with validation and early stopping.

One loop serves every supervised use in the package: fine-tuning an unrolled
:class:`~dbn.dbn.DeepBeliefNet` and training the same architecture from a random initialisation
(the comparisons of :mod:`examples.pretrain_finetune`). Any ``nn.Module`` mapping rows of ``X`` to
outputs can be trained with it.

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
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import Tensor, nn
from tqdm.auto import tqdm

from dbn import distributed
from dbn.validation import as_float_tensor, check_positive, resolve_device

__all__ = ["LOSSES", "train_network", "evaluate"]

#: a loss: (model outputs, targets) -> scalar mean over rows
LossFunction = Callable[[Tensor, Tensor], Tensor]
#: an optimiser factory: parameter groups -> optimiser
OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]
#: called as ``callback(model, record)`` after each epoch; returning True stops training
Callback = Callable[[nn.Module, dict], bool | None]


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


def _as_targets(y: Any, n_rows: int, *, classify: bool, device: torch.device, dtype: torch.dtype, name: str = "y") -> Tensor:
    """Check targets against the rows of X: class indices (int64) or a 2-D float array."""
    if y is None:
        raise ValueError(f"{name} is required")
    if not isinstance(y, Tensor):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got an array of dtype {y.dtype}")
    target = y.detach() if isinstance(y, Tensor) else torch.as_tensor(y)
    if target.ndim == 0 or target.shape[0] != n_rows:
        raise ValueError(f"{name} has {target.shape[0] if target.ndim else 0} rows but X has {n_rows}")
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {target.dtype}")
    if target.is_floating_point() and not bool(torch.isfinite(target).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    if classify:
        if target.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional class indices for cross-entropy, got shape {tuple(target.shape)}")
        if target.is_floating_point() and not bool((target == target.round()).all()):
            raise ValueError(f"{name} must hold integer class indices for cross-entropy")
        target = target.to(device=device, dtype=torch.int64)
        if bool((target < 0).any()):
            raise ValueError(f"{name} must hold class indices >= 0")
        return target
    target = target.to(device=device, dtype=dtype)
    return target.unsqueeze(1) if target.ndim == 1 else target


def _split(n_rows: int, y: Tensor, fraction: float, stratify: bool, seed: int) -> tuple[Tensor, Tensor]:
    """Row indices of the training and validation parts (stratified by class when asked)."""
    labels = y.cpu().numpy() if stratify else None
    train, val = train_test_split(np.arange(n_rows), test_size=fraction, stratify=labels, random_state=seed % 2**32)
    return torch.as_tensor(train), torch.as_tensor(val)


def _make_optimizer(model: nn.Module, optimizer: str | OptimizerFactory, lr: float | None, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    """Weights (tensors of two or more dimensions) get ``weight_decay``; biases are exempt."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in parameters if p.ndim <= 1], "weight_decay": 0.0},
    ]
    if callable(optimizer):
        return optimizer(groups)
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=0.1 if lr is None else lr, momentum=momentum)
    if optimizer == "adam":
        return torch.optim.Adam(groups, lr=1e-3 if lr is None else lr)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or a callable, got {optimizer!r}")


@torch.no_grad()
def evaluate(model: nn.Module, X: Tensor, y: Tensor, loss: LossFunction, *, batch_size: int = 4096, accuracy: bool = False) -> tuple[Tensor, Tensor | None]:
    """Mean loss over the rows of ``X`` (and the fraction of correct argmax predictions), on device.

    The prediction is the argmax over the outputs' last dimension; for outputs of shape
    (rows, ..., classes) the accuracy is the mean over the middle dimensions as well.
    Returns 0-dimensional tensors so that the caller decides when to synchronise with the host.
    """
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=X.device, dtype=torch.float64)
    correct = torch.zeros((), device=X.device, dtype=torch.float64)
    for xb, yb in zip(X.split(batch_size), y.split(batch_size)):
        output = model(xb)
        total += loss(output, yb).double() * xb.shape[0]
        if accuracy:
            hits = output.argmax(-1) == yb.view(-1, *[1] * (output.ndim - 2))
            correct += hits.double().reshape(hits.shape[0], -1).mean(1).sum()
    model.train(was_training)
    n = X.shape[0]
    return total / n, (correct / n if accuracy else None)


def train_network(
    model: nn.Module,
    X: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    *,
    loss: str | LossFunction = "cross_entropy",
    classify: bool | None = None,
    epochs: int = 50,
    batch_size: int = 100,
    lr: float | None = None,
    optimizer: str | OptimizerFactory = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    X_val: Tensor | np.ndarray | None = None,
    y_val: Tensor | np.ndarray | None = None,
    validation_fraction: float = 0.0,
    patience: int | None = 10,
    device: torch.device | str | None = None,
    seed: int | None = None,
    progress: bool = True,
    description: str = "train",
    callbacks: Sequence[Callback] = (),
) -> list[dict]:
    """Train ``model`` by minibatch gradient descent on ``loss``; return the per-epoch history.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of rows of ``X`` to outputs (logits for the cross-entropy losses). Trained in
        place and left on ``device``.
    X : array or tensor, shape (n_samples, n_features)
        Inputs; held whole on ``device`` for the whole run.
    y : array or tensor
        Targets: class indices 0..C-1 for ``"cross_entropy"``, else real values of shape
        (n_samples,) or (n_samples, n_outputs) (for an autoencoder, ``X`` itself), which a
        callable ``loss`` also receives.
    loss : str or callable
        A key of :data:`LOSSES` (see the module docstring) or ``loss(output, target)`` returning
        the mean over rows.
    classify : bool, optional
        Whether ``y`` holds class indices (checked, kept as int64, stratified split,
        ``val_accuracy``) rather than real values. Default: True for ``"cross_entropy"`` only;
        set it for a callable classification loss. The model's outputs have the rows first and
        the classes last, (rows, classes) or (rows, ..., classes); the accuracy is that of the
        argmax over the last dimension, averaged over any middle ones.
    epochs : int
        Maximum number of passes over the training rows.
    batch_size : int
        Rows per update (per process in a distributed run); the rows are reshuffled every epoch.
    lr : float, optional
        Learning rate; default 0.1 for SGD, 1e-3 for Adam. Ignored with an optimiser factory.
    optimizer : {"sgd", "adam"} or callable
        SGD with ``momentum`` (default), Adam, or a factory called with the parameter groups.
    momentum : float
        SGD momentum (default 0.9).
    weight_decay : float
        L2 penalty on the weights (parameters with two or more dimensions); biases are exempt.
    X_val, y_val : array or tensor, optional
        Validation data, for the history and early stopping.
    validation_fraction : float
        Without ``X_val``, the fraction of ``X`` held out for validation (stratified by class for
        ``"cross_entropy"``, with :func:`sklearn.model_selection.train_test_split`); 0 for none.
    patience : int or None
        With validation data, stop after this many epochs without a lower validation loss and
        restore the weights of the best epoch; ``None`` trains every epoch and keeps the best
        weights all the same.
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
        False); every callback is called, and training stops when any returns True, as with
        :meth:`dbn.rbm.RBM.fit`.

    Returns
    -------
    list of dict
        One record per epoch: ``epoch``, ``train_loss`` (mean over the epoch's minibatches, as
        trained), ``val_loss`` and ``val_accuracy`` (``None`` without validation or, for the
        accuracy, for losses other than cross-entropy), ``seconds``, ``lr``, and ``best``
        (whether that epoch's weights are the ones kept).

    Raises
    ------
    ValueError
        For mismatched rows, NaN or infinite inputs or targets, bad options, and a loss that
        becomes NaN or infinite (the error names the epoch; lower ``lr``).

    Notes
    -----
    Under ``torchrun``, or in an initialised process group of several processes, training is
    data-parallel (:mod:`dbn.distributed`): ``model`` is wrapped in ``DistributedDataParallel``,
    each rank trains on its share of the rows of every epoch and evaluates its share of the
    validation rows, the losses are pooled over ranks (so early stopping stops every rank at the
    same epoch), and only rank 0 shows the progress bar. Every rank must pass the same data.
    """
    check_positive(epochs, "epochs", integer=True)
    check_positive(batch_size, "batch_size", integer=True)
    check_positive(momentum, "momentum", allow_zero=True)
    check_positive(weight_decay, "weight_decay", allow_zero=True)
    if lr is not None:
        check_positive(lr, "lr")
    if patience is not None:
        check_positive(patience, "patience", integer=True)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    if isinstance(loss, str) and loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    classify = loss == "cross_entropy" if classify is None else classify
    loss_fn = LOSSES[loss] if isinstance(loss, str) else loss

    device = distributed.setup(resolve_device(device, _module_device(model)))
    model.to(device)
    dtype = next(model.parameters()).dtype
    X = as_float_tensor(X, "X", dtype=dtype, device=device)
    y = _as_targets(y, X.shape[0], classify=classify, device=device, dtype=dtype)
    seed = distributed.broadcast_seed(seed, device)
    if X_val is not None:
        X_val = as_float_tensor(X_val, "X_val", dtype=dtype, device=device, n_features=X.shape[1])
        y_val = _as_targets(y_val, X_val.shape[0], classify=classify, device=device, dtype=dtype, name="y_val")
    elif y_val is not None:
        raise ValueError("y_val was given without X_val")
    elif validation_fraction > 0:
        train_rows, val_rows = _split(X.shape[0], y, validation_fraction, classify, seed)
        X, X_val = X[train_rows.to(device)], X[val_rows.to(device)]
        y, y_val = y[train_rows.to(device)], y[val_rows.to(device)]
    _check_outputs(model, X, y, classify)
    distributed.check_same(X.shape[0], "the number of training rows", device)
    network = distributed.data_parallel(model, device)  # distributed: DDP, which averages the gradients over ranks
    if X_val is not None and distributed.is_distributed():  # each rank evaluates its share of the validation rows
        own = slice(distributed.get_rank(), None, distributed.get_world_size())
        X_val, y_val = X_val[own], y_val[own]

    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    history: list[dict] = []
    best_loss, best_epoch, best_state, waited = float("inf"), 0, None, 0
    n = X.shape[0]
    bar = tqdm(range(epochs), desc=description, disable=not (progress and distributed.is_rank_zero()), leave=False)
    for epoch in bar:
        started = time.perf_counter()
        network.train()
        total = torch.zeros((), device=device, dtype=torch.float64)
        if distributed.is_distributed():  # this rank's share of a permutation common to all ranks
            order = distributed.shard_rows(n, seed=seed, epoch=epoch, device=device)
        else:
            order = torch.randperm(n, generator=generator, device=device)
        for rows in order.split(batch_size):
            batch_loss = loss_fn(network(X[rows]), y[rows])
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            total += batch_loss.detach().double() * rows.shape[0]
        measured, rows_measured = [total / order.shape[0]], [order.shape[0]]
        if X_val is not None:
            val_loss, val_accuracy = evaluate(model, X_val, y_val, loss_fn, accuracy=classify)
            measured += [val_loss] + ([val_accuracy] if classify else [])
            rows_measured += [X_val.shape[0]] * (len(measured) - 1)
        # means over every rank's rows; the epoch's one synchronisation with the device
        values = distributed.pooled_mean(torch.stack(measured), rows_measured).tolist()
        record = {
            "epoch": epoch + 1,
            "train_loss": values[0],
            "val_loss": values[1] if X_val is not None else None,
            "val_accuracy": values[2] if X_val is not None and classify else None,
            "seconds": distributed.reduce_values({"seconds": time.perf_counter() - started}, op="max", device=device)["seconds"],
            "lr": opt.param_groups[0].get("lr"),
            "best": False,
        }
        if not np.isfinite(values[0]):
            bar.close()
            raise ValueError(f"the training loss became {values[0]} in epoch {epoch + 1}: lower lr")
        history.append(record)
        bar.set_postfix({key: f"{record[key]:.4g}" for key in ("train_loss", "val_loss", "val_accuracy") if record[key] is not None})
        if X_val is not None:
            if record["val_loss"] < best_loss:
                best_loss, best_epoch, best_state, waited = record["val_loss"], epoch, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
        stop = [bool(callback(model, record)) for callback in callbacks]
        if any(stop) or (patience is not None and waited >= patience):
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    kept = best_epoch if best_state is not None else len(history) - 1
    for index, record in enumerate(history):
        record["best"] = index == kept
    model.eval()
    return history


@torch.no_grad()
def _check_outputs(model: nn.Module, X: Tensor, y: Tensor, classify: bool) -> None:
    """Run the model on one row to turn shape mismatches into clear errors before training.

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
            raise ValueError(f"y holds class index {top} but the model outputs {tuple(output.shape[1:])} logits per row")
    elif output.shape[1:] != y.shape[1:]:
        raise ValueError(f"the model outputs shape {tuple(output.shape[1:])} per row but y has {tuple(y.shape[1:])}")
