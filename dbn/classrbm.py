r"""The classification RBM of Larochelle & Bengio (2008): an RBM of the features and a one-of-K label.

The model (Larochelle & Bengio 2008, "Classification using discriminative restricted Boltzmann
machines", ICML; equation numbers are theirs) has features :math:`x` (``n`` units), a label
:math:`y \in \{1, \dots, K\}` written as the one-hot vector :math:`e_y`, and hidden units
:math:`h` (``H`` units), with the energy (eq. 1) and the joint distribution (eq. 2)

.. math::

    E(y, x, h) = -h^\top W x - b^\top x - c^\top h - d^\top e_y - h^\top U e_y, \qquad
    p(y, x, h) \propto e^{-E(y, x, h)}.

It is an RBM whose visible layer is the features followed by one softmax group of ``K`` units
(:class:`~dbn.units.UnitGroups`), so the conditionals are those of any RBM: :math:`p(x_i = 1 \mid h)
= \sigma(b_i + \sum_j W_{ji} h_j)` (eq. 3), :math:`p(y \mid h) \propto e^{d_y + \sum_j U_{jy} h_j}` (eq. 4)
and :math:`p(h_j = 1 \mid y, x) = \sigma(c_j + U_{jy} + \sum_i W_{ji} x_i)` (eq. 5). Summing out
:math:`h` for each of the ``K`` labels gives the exact free energy of every label,

.. math::

    F(x, e_y) = -b^\top x - d_y - \sum_j \operatorname{softplus}\Big(c_j + U_{jy} + \sum_i W_{ji} x_i\Big),
    \qquad
    p(y \mid x) = \frac{e^{-F(x, e_y)}}{\sum_{y^*} e^{-F(x, e_{y^*})}}
    = \frac{e^{d_y} \prod_j \big(1 + e^{c_j + U_{jy} + \sum_i W_{ji} x_i}\big)}
           {\sum_{y^*} e^{d_{y^*}} \prod_j \big(1 + e^{c_j + U_{jy^*} + \sum_i W_{ji} x_i}\big)}

(eq. 9), tractable because the label is one softmax group: ``K`` free energies, one matrix
product shared by all of them. The training objectives are

- **generative**: :math:`L_{gen} = -\sum_t \log p(y_t, x_t)` (eq. 6), whose gradient
  (eq. 7) is estimated by contrastive divergence on the joint visible vector :math:`(x, e_y)`
  (:class:`dbn.cd.ContrastiveDivergence` of the inner RBM);
- **discriminative**: :math:`L_{disc} = -\sum_t \log p(y_t \mid x_t)` (eq. 8), whose exact
  gradient (eq. 10) autograd takes through the formula above;
- **hybrid**: :math:`L_{hybrid} = L_{disc} + \alpha L_{gen}` (eq. 11), the CD estimate for
  the generative part.

Each is minimised per minibatch as a mean over its rows, with SGD (momentum and weight decay
optional). Their MNIST results (Table 1): generative 3.39 % (6000 hidden units), discriminative
1.81 % (500), hybrid 1.28 % (:math:`\alpha = 0.01`, 1500), sparse hybrid 1.16 % (3000).
Gaussian features (``features="gaussian"``) are standardised by the model with the training data's
mean and standard deviation, as :class:`~dbn.rbm.RBM` does for Gaussian visible units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dbn.cd import ContrastiveDivergence
from dbn.cd_trainer import exploding_update
from dbn.loop import Callback, check_callbacks, run_epochs
from dbn.rbm import RBM
from dbn.serialization import Checkpointed, dtype_to_json
from dbn.supervised import numpy_like
from dbn.training import MAX_LOSS_GROWTH
from dbn.units import BernoulliUnits, GaussianUnits, SoftmaxUnits, UnitGroups
from dbn.validation import as_float_tensor, check_positive, check_seed, resolve_device

__all__ = ["OBJECTIVES", "ClassRBM", "ClassRBMTraining", "LabelPredictions", "StandardGaussianUnits",
           "class_index_tensor"]

#: the training objectives of :meth:`ClassRBM.fit`
OBJECTIVES = ("generative", "discriminative", "hybrid")
#: rows per chunk of the inference passes (each holds rows x hidden units x classes numbers)
CHUNK = 1024


class StandardGaussianUnits(GaussianUnits):
    """Gaussian units whose data the model has already standardised: a segment of a
    :class:`~dbn.units.UnitGroups` layer (which refuses units that standardise their own data)."""

    name = "standard_gaussian"
    standardize_data = False


def class_index_tensor(y: Any, n_rows: int, n_classes: int, device: torch.device) -> Tensor:
    """``y`` as a tensor of class indices in ``[0, n_classes)``, one per row (int64 on ``device``).

    Raises
    ------
    ValueError
        For a wrong shape or number of labels, non-integer values, or indices out of range.
    """
    array = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if array.ndim != 1 or array.shape[0] != n_rows:
        raise ValueError(f"y must hold one class index per row of X ({n_rows}), got shape {array.shape}")
    if array.dtype.kind not in "iu" and not (array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0)):
        raise ValueError(f"y must hold integer class indices in [0, {n_classes}), got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(f"y must hold class indices in [0, {n_classes}), got values in "
                         f"[{array.min()}, {array.max()}]")
    return torch.as_tensor(array.astype(np.int64), device=device)


class LabelPredictions:
    """``predict_proba``, ``predict`` and ``score`` from the host's ``predict_log_proba`` (and ``n_classes``)."""

    n_classes: int

    def predict_proba(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """:math:`p(y \\mid x)`, the exponential of :meth:`predict_log_proba`; NumPy in, NumPy out."""
        log_proba = self.predict_log_proba(X)
        return np.exp(log_proba) if isinstance(log_proba, np.ndarray) else log_proba.exp()

    def predict(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """The most probable class index of each row of ``X`` (the label of lowest free energy)."""
        return self.predict_log_proba(X).argmax(1)

    def score(self, X: Tensor | np.ndarray, y: Any) -> float:
        """Accuracy of :meth:`predict` on ``(X, y)`` (``y``: class indices)."""
        predicted = torch.as_tensor(self.predict(X))
        target = class_index_tensor(y, len(predicted), self.n_classes, predicted.device)
        return float((predicted == target).double().mean())


class ClassRBM(LabelPredictions, Checkpointed, nn.Module):
    """Classification RBM: an RBM over the features and a one-of-K label (see the module docstring).

    Parameters
    ----------
    n_features : int
        Number of features ``n``.
    n_classes : int
        Number of classes ``K >= 2`` (one softmax group).
    n_hidden : int
        Number of hidden units ``H``.
    features : {"bernoulli", "gaussian"}
        Unit type of the features: Bernoulli for data in [0, 1], Gaussian (unit variance, of the
        standardised data) for real values.
    dtype : torch.dtype
        Parameter dtype.

    Attributes
    ----------
    rbm : RBM
        The joint model, ``n_features + n_classes`` visible units (``UnitGroups`` of the features and
        ``SoftmaxUnits(n_classes)``), ``n_hidden`` hidden units; its parameters are this module's.
    feature_mean, feature_std : Tensor (buffers)
        The standardisation of Gaussian features (measured by :meth:`fit`).
    history_ : list of dict
        One record per training epoch: ``epoch``, ``lr``, ``seconds``, ``train_nll`` (the mean of
        :math:`-\\log p(y \\mid x)` over the epoch's minibatches, before each update), ``cd_loss``
        (generative and hybrid), ``update_ratio`` (:math:`\\|\\Delta W\\| / \\|W\\|` of the epoch's
        first update).
    """

    checkpoint_kind = "ClassRBM"

    def __init__(self, n_features: int, n_classes: int, n_hidden: int, features: str = "bernoulli", *,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        check_positive(n_features, "n_features", integer=True)
        check_positive(n_classes, "n_classes", integer=True)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes!r}")
        if features not in ("bernoulli", "gaussian"):
            raise ValueError(f"features must be 'bernoulli' or 'gaussian', got {features!r}")
        units = BernoulliUnits() if features == "bernoulli" else StandardGaussianUnits()
        visible = UnitGroups([(units, n_features), (SoftmaxUnits(n_classes), n_classes)])
        self.rbm = RBM(n_features + n_classes, n_hidden, visible=visible, dtype=dtype)
        self.n_features, self.n_classes, self.n_hidden, self.features = n_features, n_classes, n_hidden, features
        self.dtype = self.rbm.dtype
        self.feature_units = units
        self.register_buffer("feature_mean", torch.full((n_features,), 0.5 if units.unit_interval else 0.0,
                                                        dtype=self.dtype))
        self.register_buffer("feature_std", torch.ones(n_features, dtype=self.dtype))
        self.history_: list[dict] = []

    def extra_repr(self) -> str:
        return (f"n_features={self.n_features}, n_classes={self.n_classes}, n_hidden={self.n_hidden}, "
                f"features={self.features!r}")

    @property
    def device(self) -> torch.device:
        return self.rbm.weight.device

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        """The constructor arguments, as JSON values."""
        return {"n_features": self.n_features, "n_classes": self.n_classes, "n_hidden": self.n_hidden,
                "features": self.features, "dtype": dtype_to_json(self.dtype)}

    def checkpoint_extra(self) -> dict:
        """What :meth:`save` keeps beside the parameters and the configuration: ``history_``."""
        return {"history": self.history_}

    def restore_extra(self, extra: dict) -> None:
        """Set what :meth:`checkpoint_extra` kept."""
        self.history_ = list(extra.get("history", []))

    # ------------------------------------------------------------------ the parameters of the paper

    @property
    def W(self) -> Tensor:
        """Feature-hidden weights :math:`W`, shape ``(n_hidden, n_features)`` (a view of ``rbm.weight``)."""
        return self.rbm.weight[:, : self.n_features]

    @property
    def U(self) -> Tensor:
        """Label-hidden weights :math:`U`, shape ``(n_hidden, n_classes)`` (a view of ``rbm.weight``)."""
        return self.rbm.weight[:, self.n_features :]

    @property
    def b(self) -> Tensor:
        """Feature biases :math:`b`."""
        return self.rbm.visible_bias[: self.n_features]

    @property
    def d(self) -> Tensor:
        """Label biases :math:`d`."""
        return self.rbm.visible_bias[self.n_features :]

    @property
    def c(self) -> Tensor:
        """Hidden biases :math:`c`."""
        return self.rbm.hidden_bias

    # ------------------------------------------------------------------ model space (standardised features)

    def standardize(self, x: Tensor) -> Tensor:
        """Features in data units to model units (standardised for Gaussian features)."""
        return (x - self.feature_mean) / self.feature_std if self.features == "gaussian" else x

    def joint_visible(self, x: Tensor, y: Tensor) -> Tensor:
        """The visible vector :math:`(x, e_y)` of the inner RBM for model-unit features and class indices."""
        return torch.cat([x, F.one_hot(y, self.n_classes).to(x.dtype)], 1)

    def label_free_energy(self, x: Tensor) -> Tensor:
        """Free energy :math:`F(x, e_y)` of every row of ``x`` (model units) with every label, shape
        ``(rows, n_classes)``: the hidden units summed out exactly (see the module docstring)."""
        x_hidden = F.linear(x, self.W, self.c)  # (N, H)
        total = x_hidden.unsqueeze(1) + self.U.t().unsqueeze(0)  # (N, K, H): c_j + U_jy + sum_i W_ji x_i
        log_z = self.rbm.hidden.log_partition(total).sum(-1)  # sum_j softplus(...) for binary hidden units
        return (self.feature_units.base(x) - x @ self.b).unsqueeze(1) - self.d - log_z

    def label_log_proba(self, x: Tensor) -> Tensor:
        """:math:`\\log p(y \\mid x)` (eq. 9) for every row of ``x`` (model units) and label."""
        return torch.log_softmax(-self.label_free_energy(x), -1)

    def discriminative_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """:math:`-\\frac1N \\sum_t \\log p(y_t \\mid x_t)` (eq. 8, per row), differentiable: its
        gradient is the exact gradient of eq. 10."""
        return F.cross_entropy(-self.label_free_energy(x), y)

    def sample_features(self, y: Tensor, steps: int, generator: torch.Generator | None,
                        start: Tensor | None = None) -> Tensor:
        """Features drawn by ``steps`` steps of alternating Gibbs sampling with the labels ``y`` clamped
        (class indices, one chain per entry), started at ``start`` (model units) or at a draw from
        independent features with the training data's mean; the last feature sample, model units."""
        with torch.no_grad():
            label = F.one_hot(y, self.n_classes).to(self.dtype) @ self.U.t()  # U e_y, (N, H)
            if start is None:
                mean = self.feature_mean if self.features == "bernoulli" else torch.zeros_like(self.feature_mean)
                start = self.feature_units.sample(self.feature_units.bias_from_mean(mean).expand(len(y), -1),
                                                  generator)
            x = start
            for _ in range(steps):
                h = self.rbm.hidden.sample(F.linear(x, self.W, self.c) + label, generator)
                x = self.feature_units.sample(h @ self.W + self.b, generator)
            return x

    # ------------------------------------------------------------------ data space

    def check_features(self, X: Any, name: str = "X", *, clip: bool = True) -> Tensor:
        """``X`` as a checked tensor of features (width, dtype, device, finite); Bernoulli features must
        lie in [0, 1], or with ``clip`` (inference) are clipped to it."""
        return as_float_tensor(X, name, dtype=self.dtype, device=self.device, n_features=self.n_features,
                               unit_interval=self.feature_units.unit_interval, clip=clip)

    @torch.no_grad()
    def predict_log_proba(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """:math:`\\log p(y \\mid x)` for every row of ``X`` (data units), shape ``(rows, n_classes)``;
        NumPy in, NumPy out."""
        x = self.standardize(self.check_features(X))
        out = torch.cat([self.label_log_proba(chunk) for chunk in x.split(CHUNK)]) if len(x) else x[:, :0]
        return numpy_like(out, X)


    # ------------------------------------------------------------------ training

    def reset_parameters(self, generator: torch.Generator | None = None, data_mean: Tensor | None = None) -> None:
        """Weights uniform in :math:`\\pm m^{-1/2}`, :math:`m = \\max(H, n + K)` (the initialisation used to
        reproduce Larochelle et al.'s results), hidden biases 0, visible biases from ``data_mean`` of the
        joint visible vector (:meth:`dbn.rbm.RBM.reset_parameters`: feature log-odds, label log-frequencies).

        Small weights, such as the N(0, 0.01^2) of generative RBMs, make the discriminative gradient of
        ``W`` vanish at the start (it is proportional to ``U``), so discriminative training would crawl.
        """
        self.rbm.reset_parameters(generator, data_mean)
        with torch.no_grad():
            weight = self.rbm.weight
            bound = max(weight.shape) ** -0.5
            uniform = torch.rand(weight.shape, generator=generator, device=weight.device, dtype=weight.dtype)
            weight.copy_(uniform.mul_(2 * bound).sub_(bound))

    def fit(self, X: Tensor | np.ndarray, y: Any, *, objective: str = "hybrid", alpha: float = 0.01,
            epochs: int = 30, lr: float = 0.05, batch_size: int = 10, k: int = 1,
            momentum: float | Callable[[int], float] = 0.0, weight_decay: float = 0.0, seed: int | None = None,
            warm_start: bool = False, progress: bool = True, callbacks: Sequence[Callback] | None = None,
            device: torch.device | str | None = None, description: str | None = None) -> ClassRBM:
        """Train by the ``objective`` of Larochelle & Bengio (2008), minibatch SGD.

        Parameters
        ----------
        X : array or tensor, shape (n_samples, n_features)
            Features (in [0, 1] for Bernoulli features).
        y : array-like of int, shape (n_samples,)
            Class indices in ``[0, n_classes)``.
        objective : {"generative", "discriminative", "hybrid"}
            :math:`L_{gen}` by CD-``k`` (eqs. 6-7), :math:`L_{disc}` by its exact gradient (eqs. 8, 10),
            or :math:`L_{disc} + \\alpha L_{gen}` (eq. 11).
        alpha : float
            The weight :math:`\\alpha \\ge 0` of the generative part of the hybrid objective.
        epochs, lr, batch_size, k : int, float, int, int
            Passes over the data, learning rate, rows per update, Gibbs steps of CD.
        momentum : float or callable
            SGD momentum: a constant in [0, 1) or a function of the 0-based epoch.
        weight_decay : float
            L2 penalty on the weights (not the biases).
        seed : int, optional
            Seeds the one generator of initialisation, shuffling and sampling.
        warm_start : bool
            Continue from the current parameters instead of re-initialising.
        progress, callbacks, device, description
            As for :meth:`dbn.rbm.RBM.fit`.

        Returns
        -------
        ClassRBM
            ``self``, ``history_`` extended by one record per epoch.

        Raises
        ------
        dbn.loop.DivergenceError
            When an epoch diverges (non-finite values, :math:`-\\log p(y \\mid x)` over
            ``MAX_LOSS_GROWTH`` times :math:`\\log K`, or a first update over ``MAX_UPDATE_RATIO``
            times the weights' norm); the parameters of the last good epoch are restored.
        """
        check_training_options(objective, alpha, epochs, lr, batch_size, k, momentum, weight_decay)
        seed, callbacks = check_seed(seed), check_callbacks(callbacks)
        device = resolve_device(device, self.device)
        self.to(device)
        x = self.check_features(X, clip=False)
        labels = class_index_tensor(y, x.shape[0], self.n_classes, device)
        if seed is None:
            seed = int(torch.randint(2**62, (1,)).item())
        generator = torch.Generator(device=device).manual_seed(seed)
        if not warm_start:
            self.measure_data(x, labels, generator)
        training = ClassRBMTraining(self, self.standardize(x), labels, objective=objective, alpha=alpha, lr=lr,
                                    batch_size=batch_size, k=k, momentum=momentum, weight_decay=weight_decay,
                                    generator=generator)
        description = description or f"ClassRBM {self.n_features}+{self.n_classes}-{self.n_hidden} ({objective})"
        run_epochs(training, epochs, model=self, history=self.history_, device=device, description=description,
                   progress=progress, callbacks=callbacks)
        return self

    @torch.no_grad()
    def measure_data(self, x: Tensor, y: Tensor, generator: torch.Generator) -> None:
        """Set the standardisation from the features ``x`` (data units) and initialise the parameters."""
        if self.features == "gaussian":
            self.feature_mean.copy_(x.mean(0))
            self.feature_std.copy_(x.std(0, correction=0).clamp(min=1e-6))
        else:
            self.feature_mean.copy_(x.mean(0))
        joint_mean = self.joint_visible(self.standardize(x), y).mean(0)
        self.rbm.data_mean.copy_(joint_mean)
        self.reset_parameters(generator, joint_mean)
        self.history_ = []


def check_training_options(objective: str, alpha: float, epochs: int, lr: float, batch_size: int, k: int,
                           momentum: float | Callable[[int], float], weight_decay: float) -> None:
    """Raise a ValueError (or TypeError) naming the first invalid option of :meth:`ClassRBM.fit`."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")
    check_positive(alpha, "alpha", allow_zero=True)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("k", k)):
        check_positive(value, name, integer=True)
    check_positive(lr, "lr")
    check_positive(weight_decay, "weight_decay", allow_zero=True)
    if not callable(momentum):
        check_positive(momentum, "momentum", allow_zero=True)
        if momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")


class ClassRBMTraining:
    """One training run of :meth:`ClassRBM.fit`, an :class:`~dbn.loop.EpochTask`: each epoch reshuffles
    the rows and takes one SGD step per minibatch on the objective's loss.

    Parameters
    ----------
    model : ClassRBM
    x : Tensor
        Features in model units.
    y : Tensor
        Class indices.
    objective, alpha, lr, batch_size, k, momentum, weight_decay, generator
        As for :meth:`ClassRBM.fit`.
    """

    shown = ("train_nll", "cd_loss")

    def __init__(self, model: ClassRBM, x: Tensor, y: Tensor, *, objective: str, alpha: float, lr: float,
                 batch_size: int, k: int, momentum: float | Callable[[int], float], weight_decay: float,
                 generator: torch.Generator) -> None:
        self.model, self.x, self.y = model, x, y
        self.objective, self.alpha, self.lr, self.batch_size = objective, alpha, lr, batch_size
        self.generator = generator
        self.momentum = momentum if callable(momentum) else (lambda epoch: momentum)
        rbm = model.rbm
        self.optimizer = torch.optim.SGD(
            [{"params": [rbm.weight], "weight_decay": weight_decay},
             {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0}], lr=lr)
        self.cd = None if objective == "discriminative" else ContrastiveDivergence(rbm, k=k, generator=generator)
        self.first_epoch = len(model.history_)
        self.nll, self.ratio = math.nan, 0.0

    def loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The objective's loss on one minibatch, and its mean :math:`-\\log p(y \\mid x)`."""
        if self.objective == "generative":
            with torch.no_grad():
                nll = self.model.discriminative_loss(x, y)
            return self.cd(self.model.joint_visible(x, y)), nll
        nll = self.model.discriminative_loss(x, y)
        if self.objective == "discriminative":
            return nll, nll.detach()
        return nll + self.alpha * self.cd(self.model.joint_visible(x, y)), nll.detach()

    def train_epoch(self, epoch: int) -> None:
        for group in self.optimizer.param_groups:
            group["momentum"] = float(self.momentum(self.first_epoch + epoch))
        weight, n = self.model.rbm.weight, self.x.shape[0]
        order = torch.randperm(n, generator=self.generator, device=self.x.device)
        total = torch.zeros((), dtype=torch.float64, device=self.x.device)
        for index, start in enumerate(range(0, n, self.batch_size)):
            rows = order[start : start + self.batch_size]
            loss, nll = self.loss(self.x[rows], self.y[rows])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            before = weight.detach().clone() if index == 0 else None
            self.optimizer.step()
            if before is not None:
                self.ratio = float((weight.detach() - before).norm() / before.norm().clamp(min=1e-12))
            total += nll.double() * len(rows)
        self.nll = float(total) / n

    def measure(self, epoch: int, seconds: float) -> dict:
        cd_loss = None if self.cd is None else self.cd.read_monitors()["cd_loss"]
        return {"epoch": self.first_epoch + epoch + 1, "lr": self.lr, "seconds": seconds, "train_nll": self.nll,
                "cd_loss": cd_loss, "update_ratio": self.ratio}

    def divergence(self, record: dict) -> str | None:
        limit = MAX_LOSS_GROWTH * math.log(self.model.n_classes)
        if record["train_nll"] > limit:
            return f"the mean -log p(y|x) {record['train_nll']:.4g} is over {MAX_LOSS_GROWTH:g} times log K"
        return exploding_update(record["update_ratio"])

    def finish(self, history: list[dict]) -> None:
        return None

