r"""Deep belief networks: a stack of RBMs trained greedily, then unrolled into feed-forward nets.

Greedy layer-wise pretraining (Hinton, Osindero & Teh 2006) trains RBM 1 on the data
:math:`h_0 = x`, then RBM :math:`l` on the activities of the layer below,

.. math::  h_l = f_l(W_l \tilde h_{l-1} + c_l), \qquad l = 1, \dots, L,

where :math:`f_l` is the conditional mean of the hidden units (the logistic sigmoid for
Bernoulli units) and :math:`\tilde h = (h - m) / s` is the standardisation an RBM with Gaussian
visible units applies to its data (the identity otherwise). An RBM's visible units take the type
its data calls for: Bernoulli above Bernoulli hidden units, Gaussian above ReLU or Gaussian ones.

Unrolling turns the same pass into ``nn.Linear`` layers, the standardisation folded in:

.. math::  W_l \tilde h + c_l = (W_l \operatorname{diag}(1/s)) h + (c_l - W_l (m / s)),

so :meth:`DeepBeliefNet.to_mlp` reproduces :meth:`DeepBeliefNet.transform` to rounding error.
The deep autoencoder of Hinton & Salakhutdinov (2006) appends the mirror image, a decoder with
the transposed weights and the visible biases, :math:`\tilde v = g_l(W_l^\top h + b_l)` and
:math:`v = m + s \odot \tilde v`, again folded into each ``nn.Linear``; the two halves are
independent copies (untied) from then on. Fine-tuning trains the unrolled network by
backpropagation with :func:`dbn.training.train_network`.
"""

from __future__ import annotations

import inspect
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import assert_all_finite, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from torch import Tensor, nn

from dbn.distributed import broadcast_seed, setup
from dbn.rbm import RBM
from dbn.serialization import load_checkpoint, save_checkpoint
from dbn.training import train_network
from dbn.validation import as_float_tensor, check_positive, resolve_device

__all__ = ["DeepBeliefNet"]

#: keyword arguments of :meth:`RBM.fit` that a DeepBeliefNet passes on, per layer or shared
RBM_OPTIONS = frozenset(inspect.signature(RBM.fit).parameters) - {
    "self", "X", "X_val", "progress", "callbacks", "device", "seed", "warm_start"
}
TASKS = ("classify", "regress", "autoencode")
#: the activation that computes each hidden unit type's conditional mean
_UNIT_ACTIVATION = {"bernoulli": "sigmoid", "relu": "relu", "gaussian": "identity"}
_ACTIVATIONS: dict[str, Callable[[], nn.Module] | None] = {
    "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "identity": None
}
_CHUNK = 4096


def _encoder_linear(rbm: RBM) -> nn.Linear:
    """``nn.Linear`` computing the hidden input of ``rbm`` from data in data units."""
    weight, bias = rbm.weight.detach().double(), rbm.hidden_bias.detach().double()
    if rbm.visible.standardize_data:
        scale = 1.0 / rbm.data_std.double()
        bias = bias - weight @ (rbm.data_mean.double() * scale)
        weight = weight * scale
    return _linear(weight, bias, rbm.weight.dtype)


def _decoder_linear(rbm: RBM) -> nn.Linear:
    """``nn.Linear`` computing the visible input of ``rbm`` from its hidden states, in data units."""
    weight, bias = rbm.weight.detach().double().T, rbm.visible_bias.detach().double()
    if rbm.visible.standardize_data:
        std = rbm.data_std.double()
        weight, bias = weight * std[:, None], rbm.data_mean.double() + std * bias
    return _linear(weight, bias, rbm.weight.dtype)


def _linear(weight: Tensor, bias: Tensor, dtype: torch.dtype) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def _with_activation(modules: list[nn.Module], activation: str) -> None:
    factory = _ACTIVATIONS[activation]
    if factory is not None:
        modules.append(factory())


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _numpy_like(result: Tensor, like: Any) -> Tensor | np.ndarray:
    return result if isinstance(like, Tensor) else result.cpu().numpy()


class DeepBeliefNet(nn.Module):
    """A deep belief network: RBMs stacked and pretrained greedily, then fine-tuned unrolled.

    Parameters
    ----------
    layers : sequence of int
        The visible size, then each hidden size, e.g. ``[784, 500, 500, 2000]`` (three RBMs).
    visible : {"bernoulli", "gaussian"}
        Unit type of the data layer: Bernoulli for data in [0, 1], Gaussian for real values
        (standardised by the first RBM).
    hidden : str or sequence of str
        Hidden unit type ("bernoulli", "relu" or "gaussian"), for every RBM or one per RBM; e.g.
        ``["bernoulli"] * 3 + ["gaussian"]`` for the linear code layer of a deep autoencoder.
        The visible units of RBM ``l > 1`` are Bernoulli above Bernoulli units, else Gaussian.
    dtype : torch.dtype
        Parameter dtype.
    **rbm_options
        Default keyword arguments of :meth:`RBM.fit` for pretraining (``epochs``, ``lr``,
        ``batch_size``, ``k``, ``momentum``, ``weight_decay``, ...). A list or tuple gives one
        value per RBM, e.g. ``lr=[0.1, 0.1, 0.1, 0.001]``.

    Attributes
    ----------
    rbms : nn.ModuleList of RBM
        The layers, bottom first; ``state_dict`` holds all of them.
    n_trained : Tensor (buffer)
        Number of RBMs pretrained so far (bottom first); :meth:`pretrain` resumes after them.
    mlp_ : nn.Sequential
        The unrolled network trained by :meth:`finetune` (logits for classification and for
        autoencoders of [0, 1] data).
    task_ : str
        The fine-tuning task.
    classes_ : numpy.ndarray
        Class labels (``task="classify"``).
    finetune_history_ : list of dict
        Per-epoch records of fine-tuning (see :func:`dbn.training.train_network`).

    Examples
    --------
    >>> from dbn.datasets import load_digits
    >>> X, y = load_digits()
    >>> net = DeepBeliefNet([64, 128, 128], epochs=10).pretrain(X, progress=False)
    >>> net = net.finetune(X, y, epochs=30, progress=False)
    """

    def __init__(
        self,
        layers: Sequence[int],
        visible: str = "bernoulli",
        hidden: str | Sequence[str] = "bernoulli",
        *,
        dtype: torch.dtype = torch.float32,
        **rbm_options: Any,
    ) -> None:
        super().__init__()
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) < 2:
            raise ValueError(f"layers must list at least 2 sizes (the visible size, then each hidden size), got {layers!r}")
        for index, size in enumerate(layers):
            check_positive(size, f"layers[{index}]", integer=True)
        n_rbms = len(layers) - 1
        hidden_types = [hidden] * n_rbms if isinstance(hidden, str) else list(hidden)
        if len(hidden_types) != n_rbms:
            raise ValueError(f"hidden lists {len(hidden_types)} unit types but layers defines {n_rbms} RBMs")
        self._check_options(rbm_options, n_rbms)
        self.layers = [int(size) for size in layers]  # plain ints, also from a NumPy array
        self.rbm_options = dict(rbm_options)
        self.dtype = dtype
        rbms = []
        for index, hidden_type in enumerate(hidden_types):
            below = visible if index == 0 else ("bernoulli" if rbms[-1].hidden.name == "bernoulli" else "gaussian")
            rbms.append(RBM(self.layers[index], self.layers[index + 1], visible=below, hidden=hidden_type, dtype=dtype))
        self.rbms = nn.ModuleList(rbms)
        self.register_buffer("n_trained", torch.zeros((), dtype=torch.int64))

    @staticmethod
    def _check_options(options: dict, n_rbms: int) -> None:
        unknown = sorted(set(options) - RBM_OPTIONS)
        if unknown:
            raise TypeError(f"unknown RBM option(s) {unknown}; valid: {sorted(RBM_OPTIONS)}")
        for name, value in options.items():
            if isinstance(value, (list, tuple)) and len(value) != n_rbms:
                raise ValueError(f"{name} lists {len(value)} values but there are {n_rbms} RBMs")

    def extra_repr(self) -> str:
        return f"layers={self.layers}, n_trained={int(self.n_trained)}"

    @property
    def device(self) -> torch.device:
        return self.rbms[0].weight.device

    @property
    def pretrain_history_(self) -> list[list[dict]]:
        """The pretraining history of each RBM (its ``history_``), bottom first."""
        return [rbm.history_ for rbm in self.rbms]

    # ------------------------------------------------------------------ checks

    def _check_input(self, X: Any, name: str = "X") -> Tensor:
        first = self.rbms[0]
        return as_float_tensor(
            X, name, dtype=self.dtype, device=self.device, n_features=self.layers[0], unit_interval=first.visible.unit_interval
        )

    def _check_pretrained(self, action: str) -> None:
        if int(self.n_trained) < len(self.rbms):
            raise RuntimeError(
                f"{action} needs a pretrained DeepBeliefNet ({int(self.n_trained)} of {len(self.rbms)} layers trained): call pretrain(X) first"
            )

    def _check_finetuned(self, action: str, *tasks: str) -> None:
        if not hasattr(self, "mlp_"):
            raise RuntimeError(f"{action} needs a fine-tuned DeepBeliefNet: call finetune(X, y) first")
        if tasks and self.task_ not in tasks:
            raise RuntimeError(f"{action} is not defined for a network fine-tuned with task={self.task_!r}")

    # ------------------------------------------------------------------ pretraining

    @torch.no_grad()
    def _propagate(self, rbm: RBM, H: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Hidden means (or, with a generator, samples) of ``rbm`` for every row of ``H``, in chunks."""
        out = H.new_empty(H.shape[0], rbm.n_hidden)
        for start in range(0, H.shape[0], _CHUNK):
            x = rbm._hidden_input(rbm._standardize(H[start : start + _CHUNK]))
            out[start : start + _CHUNK] = rbm.hidden.mean(x) if generator is None else rbm.hidden.sample(x, generator)
        return out

    def pretrain(
        self,
        X: Tensor | np.ndarray,
        *,
        epochs: int | Sequence[int] | None = None,
        X_val: Tensor | np.ndarray | None = None,
        propagate: str = "mean",
        resume: bool = True,
        checkpoint: str | Path | None = None,
        callbacks: Sequence[Callable[[RBM, dict], Any]] | None = None,
        progress: bool = True,
        device: torch.device | str | None = None,
        seed: int | None = None,
        **rbm_options: Any,
    ) -> DeepBeliefNet:
        """Train the RBMs greedily, bottom first, each on the activities of the one below.

        Parameters
        ----------
        X : array or tensor, shape (n_samples, layers[0])
            Training data (in [0, 1] for Bernoulli visible units), held on ``device``. Each
            layer's input is computed once, in chunks, and freed when the next is made.
        epochs : int or sequence of int, optional
            Epochs per RBM (one value, or one per RBM); default the constructor's, else 10.
        X_val : array or tensor, optional
            Validation data, propagated alongside ``X`` for each RBM's monitors.
        propagate : {"mean", "sample"}
            Pass the hidden means upward (default) or a sample from them.
        resume : bool
            Keep the RBMs already trained (``n_trained``) and start at the first untrained one;
            ``False`` retrains every RBM.
        checkpoint : str or Path, optional
            Save the whole network there (atomically) after each RBM, so that an interrupted run
            can be resumed with ``DeepBeliefNet.load(checkpoint).pretrain(X, seed=...)``. In a
            distributed run only rank 0 writes it.
        callbacks : sequence of callables
            Passed to every :meth:`RBM.fit` (called after each epoch with ``(rbm, record)``).
        progress : bool
            One tqdm bar per RBM.
        device : str or torch.device, optional
            Where to train ("auto": CUDA when available); default where the network is.
        seed : int, optional
            Seeds one generator per RBM, derived from it by layer index, so that a resumed run
            trains the remaining RBMs exactly as an uninterrupted one would.
        **rbm_options
            Override the constructor's :meth:`RBM.fit` options for this call (lists: per RBM).
            Options that are not JSON values (e.g. a momentum function) are not saved with the
            network: pass them again when resuming from a file.

        Returns
        -------
        DeepBeliefNet
            ``self``; each RBM's ``history_`` holds its epochs.

        Notes
        -----
        Under ``torchrun`` each RBM trains data-parallel (see :meth:`RBM.fit`) with rank 0's
        ``seed``; every rank holds ``X`` and propagates all of it to the next layer itself.
        """
        n_rbms = len(self.rbms)
        options = {**self.rbm_options, **rbm_options}
        if epochs is not None:
            options["epochs"] = epochs
        self._check_options(options, n_rbms)
        if propagate not in ("mean", "sample"):
            raise ValueError(f"propagate must be 'mean' or 'sample', got {propagate!r}")
        device = setup(resolve_device(device, self.device))
        self.to(device)
        H = self._check_input(X, "X")
        H_val = None if X_val is None else self._check_input(X_val, "X_val")
        seed = broadcast_seed(seed, device)
        seeds = torch.randint(2**62, (2, n_rbms), generator=torch.Generator().manual_seed(seed)).tolist()
        if not resume:
            self.n_trained.zero_()
        first = int(self.n_trained)
        for index, rbm in enumerate(self.rbms):
            if index >= first:
                layer_options = {name: value[index] if isinstance(value, (list, tuple)) else value for name, value in options.items()}
                rbm.fit(H, X_val=H_val, progress=progress, description=f"layer {index + 1}/{n_rbms}: RBM {rbm.n_visible}-{rbm.n_hidden}",
                        callbacks=callbacks, device=device, seed=seeds[0][index], **layer_options)
                self.n_trained.fill_(index + 1)
                if checkpoint is not None:
                    self.save(checkpoint)
            if index + 1 < n_rbms:
                generator = None if propagate == "mean" else torch.Generator(device=device).manual_seed(seeds[1][index])
                H = self._propagate(rbm, H, generator)
                H_val = None if H_val is None else self._propagate(rbm, H_val, generator)
        return self

    # ------------------------------------------------------------------ inference with the stack

    @torch.no_grad()
    def transform(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Top-layer features: the mean-field upward pass :math:`h_L` (NumPy in, NumPy out)."""
        self._check_pretrained("transform")
        H = self._check_input(X, "X")
        for rbm in self.rbms:
            H = self._propagate(rbm, H)
        return _numpy_like(H, X)

    @torch.no_grad()
    def sample(self, n: int, gibbs_steps: int = 1000, *, seed: int | None = None) -> Tensor:
        """Generate ``n`` samples: Gibbs chains in the top RBM, then one pass down the stack.

        The chains start from the top RBM's base-rate model (independent units with its data's
        mean) and run ``gibbs_steps`` alternating steps; the top-level visible sample then
        generates each layer below in turn from :math:`p(h_{l-1} \\mid h_l)` (the directed part
        of the DBN), and the data layer is returned as its conditional mean: probabilities in
        [0, 1] for Bernoulli data, in data units for Gaussian data.

        Returns
        -------
        Tensor, shape (n, layers[0])
            On the network's device.
        """
        self._check_pretrained("sample")
        check_positive(n, "n", integer=True)
        check_positive(gibbs_steps, "gibbs_steps", integer=True)
        if seed is None:
            seed = int(torch.randint(2**62, (1,)).item())
        generator = torch.Generator(device=self.device).manual_seed(seed)
        top = self.rbms[-1]
        v = top._gibbs(top.visible.sample(top.base_rate_bias().expand(n, -1), generator), gibbs_steps, generator)
        h = top.hidden.sample(top._hidden_input(v), generator)
        for depth, rbm in enumerate(reversed(self.rbms)):
            z = rbm._visible_input(h)
            h = rbm._unstandardize(rbm.visible.mean(z) if depth == len(self.rbms) - 1 else rbm.visible.sample(z, generator))
        return h

    # ------------------------------------------------------------------ unrolling

    def to_mlp(self, n_outputs: int | None = None, activation: str | None = None, *, generator: torch.Generator | None = None) -> nn.Sequential:
        """The upward pass as a flat ``nn.Sequential`` of ``nn.Linear`` and activation modules.

        Parameters
        ----------
        n_outputs : int, optional
            Append a new output ``nn.Linear(layers[-1], n_outputs)`` (Xavier-uniform weights,
            zero biases) producing logits or regression outputs.
        activation : {"sigmoid", "relu", "tanh", "identity"}, optional
            Replace every hidden activation; by default each layer computes its units' mean
            (sigmoid for Bernoulli, ReLU for ReLU, none for Gaussian units), so that the hidden
            part equals :meth:`transform` to rounding error.
        generator : torch.Generator, optional
            For the output layer's initial weights.

        Returns
        -------
        nn.Sequential
            Independent copies of the weights (the RBMs are not changed by training it), on the
            network's device.
        """
        if activation is not None and activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        modules: list[nn.Module] = []
        for rbm in self.rbms:
            modules.append(_encoder_linear(rbm))
            _with_activation(modules, activation or _UNIT_ACTIVATION[rbm.hidden.name])
        if n_outputs is not None:
            check_positive(n_outputs, "n_outputs", integer=True)
            output = nn.Linear(self.layers[-1], n_outputs, device=self.device, dtype=self.dtype)
            nn.init.xavier_uniform_(output.weight, generator=generator)
            nn.init.zeros_(output.bias)
            modules.append(output)
        return nn.Sequential(*modules)

    def to_autoencoder(self) -> nn.Sequential:
        """The unrolled deep autoencoder (Hinton & Salakhutdinov 2006): ``encoder`` then ``decoder``.

        The encoder is :meth:`to_mlp`'s hidden part; the decoder mirrors it with each RBM's
        transposed weights and visible biases, top RBM first, each layer computing the mean of
        that RBM's visible units given its hidden states. The last layer is left linear: for
        Bernoulli data it outputs the logits of the reconstruction (apply ``torch.sigmoid``).
        Encoder and decoder hold independent copies of the weights (untied).
        """
        decoder: list[nn.Module] = []
        for depth, rbm in enumerate(reversed(self.rbms)):
            decoder.append(_decoder_linear(rbm))
            if depth < len(self.rbms) - 1:
                _with_activation(decoder, "sigmoid" if rbm.visible.unit_interval else "identity")
        return nn.Sequential(OrderedDict(encoder=self.to_mlp(), decoder=nn.Sequential(*decoder)))

    # ------------------------------------------------------------------ fine-tuning

    @staticmethod
    def _labels(y: Any, n_rows: int, name: str) -> np.ndarray:
        """Validate class labels: one per row of X (or X_val), finite, discrete."""
        y = column_or_1d(y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y))
        if y.shape[0] != n_rows:
            raise ValueError(f"{name} has {y.shape[0]} rows but {name.replace('y', 'X')} has {n_rows}")
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name=name)
        check_classification_targets(y)
        return y

    @staticmethod
    def _targets(y: Any, n_rows: int, name: str) -> np.ndarray:
        """Validate regression targets: one row per row of X, finite numbers."""
        y = y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        if y.ndim not in (1, 2) or y.shape[0] != n_rows:
            rows = y.shape[0] if y.ndim else 0
            raise ValueError(f"{name} has {rows} rows (shape {y.shape}) but {name.replace('y', 'X')} has {n_rows}")
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers for task='regress', got dtype {y.dtype}")
        assert_all_finite(y, input_name=name)
        return y.astype(np.float32)

    def finetune(
        self,
        X: Tensor | np.ndarray,
        y: Tensor | np.ndarray | None = None,
        *,
        task: str = "classify",
        epochs: int = 50,
        batch_size: int = 100,
        lr: float | None = None,
        optimizer: str | Callable[[list[dict]], torch.optim.Optimizer] = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        X_val: Tensor | np.ndarray | None = None,
        y_val: Tensor | np.ndarray | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        device: torch.device | str | None = None,
        seed: int | None = None,
        progress: bool = True,
    ) -> DeepBeliefNet:
        """Unroll the pretrained stack and train it by backpropagation; keep it as ``mlp_``.

        Parameters
        ----------
        X : array or tensor, shape (n_samples, layers[0])
            Inputs.
        y : array or tensor, optional
            Class labels (``"classify"``: any discrete values, encoded with scikit-learn's
            ``LabelEncoder``), targets of shape (n_samples,) or (n_samples, k) (``"regress"``),
            or None (``"autoencode"``: the target is ``X``).
        task : {"classify", "regress", "autoencode"}
            ``"classify"``: :meth:`to_mlp` with one output per class, cross-entropy loss.
            ``"regress"``: :meth:`to_mlp` with ``k`` linear outputs, mean squared error.
            ``"autoencode"``: :meth:`to_autoencoder`, trained on the cross-entropy of the
            reconstruction summed over the features for Bernoulli data (as Hinton &
            Salakhutdinov 2006), else on the squared error summed over the features.
        epochs, batch_size, lr, optimizer, momentum, weight_decay, patience, device, progress
            As in :func:`dbn.training.train_network` (SGD with momentum 0.9 and lr 0.1 by default).
        X_val, y_val : array or tensor, optional
            Validation data for early stopping; without it ``validation_fraction`` of ``X`` is held
            out (stratified by class for ``"classify"``). The best epoch's weights are kept.
        validation_fraction : float
            Used when ``X_val`` is None; 0 trains on all of ``X`` for ``epochs`` epochs.
        seed : int, optional
            Seeds the output layer's initial weights, the split and the minibatch order.

        Returns
        -------
        DeepBeliefNet
            ``self``, with ``mlp_``, ``task_``, ``finetune_history_`` (and ``classes_``).
        """
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self._check_pretrained("finetune")
        device = setup(resolve_device(device, self.device))
        self.to(device)
        X_checked = self._check_input(X, "X")
        X_val_checked = None if X_val is None else self._check_input(X_val, "X_val")
        seed = broadcast_seed(seed, device)
        generator = torch.Generator(device=device).manual_seed(seed)
        n, n_val = X_checked.shape[0], (None if X_val is None else X_val_checked.shape[0])
        classes = None
        if task == "autoencode":
            if y is not None or y_val is not None:
                raise ValueError("y and y_val must be None for task='autoencode': the target is X")
            model = self.to_autoencoder()
            loss = "binary_cross_entropy" if self.rbms[0].visible.unit_interval else "squared_error"
            y, y_val = X_checked, X_val_checked
        elif task == "classify":
            if y is None:
                raise ValueError("y is required for task='classify'")
            y = self._labels(y, n, "y")
            encoder = LabelEncoder().fit(y)
            classes, y = encoder.classes_, encoder.transform(y)
            if y_val is not None:
                y_val = encoder.transform(self._labels(y_val, n_val, "y_val"))
            model = self.to_mlp(len(classes), generator=generator)
            loss = "cross_entropy"
        else:
            if y is None:
                raise ValueError("y is required for task='regress'")
            y = self._targets(y, n, "y")
            if y_val is not None:
                y_val = self._targets(y_val, n_val, "y_val")
            model = self.to_mlp(1 if y.ndim == 1 else y.shape[1], generator=generator)
            loss = "mse"
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        history = train_network(
            model, X_checked, y, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
            momentum=momentum, weight_decay=weight_decay, X_val=X_val_checked, y_val=y_val,
            validation_fraction=validation_fraction, patience=patience, device=device, seed=seed,
            progress=progress, description=f"fine-tune ({task})",
        )
        self.mlp_ = model
        self.task_ = task
        self.finetune_history_ = history
        self._target_ndim = 1 if task != "regress" or y.ndim == 1 else 2
        if classes is not None:
            self.classes_ = classes
        return self

    @torch.no_grad()
    def _forward(self, X: Any) -> Tensor:
        V = self._check_input(X, "X")
        self.mlp_.eval()
        return torch.cat([self.mlp_(chunk) for chunk in V.split(_CHUNK)])

    def predict_proba(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Class probabilities (softmax of the logits), columns in the order of ``classes_``."""
        self._check_finetuned("predict_proba", "classify")
        return _numpy_like(torch.softmax(self._forward(X), dim=1), X)

    def predict(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Class labels (a NumPy array of ``classes_`` values), regression outputs, or reconstructions."""
        self._check_finetuned("predict")
        if self.task_ == "classify":
            return self.classes_[self._forward(X).argmax(1).cpu().numpy()]
        if self.task_ == "autoencode":
            return self.reconstruct(X)
        output = self._forward(X)
        return _numpy_like(output.squeeze(1) if self._target_ndim == 1 else output, X)

    def score(self, X: Tensor | np.ndarray, y: Tensor | np.ndarray | None = None) -> float:
        """Accuracy (``"classify"``), :math:`R^2` (``"regress"``) or, for ``"autoencode"``, minus
        the squared reconstruction error summed over the features and averaged over the rows
        (greater is better in every case, as scikit-learn's scorers)."""
        self._check_finetuned("score")
        if self.task_ == "autoencode":
            V = self._check_input(X, "X")
            return -float((self.reconstruct(V) - V).square().sum(1).mean())
        truth = y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        predicted = self.predict(X)
        predicted = predicted.cpu().numpy() if isinstance(predicted, Tensor) else predicted
        return float(accuracy_score(truth, predicted) if self.task_ == "classify" else r2_score(truth, predicted))

    @torch.no_grad()
    def reconstruct(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Reconstruct ``X``: through the fine-tuned autoencoder when there is one, else by the
        mean-field pass up the stack and back down (each RBM's :meth:`RBM.visible_probs`)."""
        if getattr(self, "task_", None) == "autoencode":
            output = self._forward(X)
            return _numpy_like(torch.sigmoid(output) if self.rbms[0].visible.unit_interval else output, X)
        self._check_pretrained("reconstruct")
        H = self._check_input(X, "X")
        for rbm in self.rbms:
            H = self._propagate(rbm, H)
        for rbm in reversed(self.rbms):
            H = torch.cat([rbm.visible_probs(chunk) for chunk in H.split(_CHUNK)])
        return _numpy_like(H, X)

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        """The constructor arguments as JSON values (RBM options that are not JSON are left out)."""
        return {
            "layers": list(self.layers),
            "visible": self.rbms[0].visible.name,
            "hidden": [rbm.hidden.name for rbm in self.rbms],
            "dtype": str(self.dtype).removeprefix("torch."),
            **{name: value for name, value in self.rbm_options.items() if _is_json(value)},
        }

    @classmethod
    def from_config(cls, config: dict) -> DeepBeliefNet:
        """Build an untrained network from :meth:`config`'s output."""
        options = dict(config)
        return cls(**{**options, "dtype": getattr(torch, options.get("dtype", "float32"))})

    def save(self, path: str | Path) -> None:
        """Write every RBM, the fine-tuned network if any, the configuration and histories, atomically.

        In a distributed run only rank 0 writes (:func:`dbn.serialization.save_checkpoint`).
        """
        finetuned = None
        if hasattr(self, "mlp_"):
            finetuned = {
                "task": self.task_,
                "classes": None if self.task_ != "classify" else self.classes_.tolist(),
                "n_outputs": None if self.task_ == "autoencode" else self.mlp_[-1].out_features,
                "target_ndim": self._target_ndim,
                "history": self.finetune_history_,
            }
        extra = {"pretrain_history": self.pretrain_history_, "finetune": finetuned}
        save_checkpoint(path, kind="DeepBeliefNet", config=self.config(), state_dict=self.state_dict(), extra=extra)

    @classmethod
    def load(cls, path: str | Path, *, map_location: torch.device | str = "cpu") -> DeepBeliefNet:
        """Read a network written by :meth:`save` (``torch.load(weights_only=True)`` underneath).

        Raises
        ------
        ValueError
            For a truncated or foreign file, or a checkpoint of another class.
        """
        config, state_dict, extra = load_checkpoint(path, kind="DeepBeliefNet")
        net = cls.from_config(config)
        extra = extra or {}
        finetuned = extra.get("finetune")
        if finetuned:
            net.task_ = finetuned["task"]
            net._target_ndim = finetuned["target_ndim"]
            net.finetune_history_ = list(finetuned["history"])
            net.mlp_ = net.to_autoencoder() if net.task_ == "autoencode" else net.to_mlp(finetuned["n_outputs"])
            if finetuned["classes"] is not None:
                net.classes_ = np.asarray(finetuned["classes"])
        net.load_state_dict(state_dict)
        for rbm, history in zip(net.rbms, extra.get("pretrain_history", [])):
            rbm.history_ = list(history)
        return net.to(map_location)
