r"""scikit-learn estimators built on :class:`~dbn.rbm.RBM` and :class:`~dbn.stack.DeepBeliefNet`.

- :class:`RBMTransformer` — an RBM as a transformer: features are the hidden units' means; a
  drop-in for :class:`sklearn.neural_network.BernoulliRBM` that adds Gaussian visible units,
  CD-k, persistent CD, momentum and GPUs.
- :class:`DBNClassifier` — a deep belief network pretrained greedily, then fine-tuned with a
  softmax output layer; labels of any type.
- :class:`DBNRegressor` — the same with a linear output layer, for one or several targets.
- :class:`ClassRBMClassifier` — the classification RBM of Larochelle & Bengio (2008)
  (:class:`dbn.classrbm.ClassRBM`): features and a one-of-K label modelled jointly, classes by
  the exact free energy of each label; generative, discriminative or hybrid training.

The estimators follow scikit-learn's conventions: hyper-parameters are stored unchanged by
``__init__`` and validated by ``fit`` against ``_parameter_constraints``; the fitted model is the
attribute ``rbm_`` or ``dbn_`` (a ``torch.nn.Module``); one ``random_state`` seeds every torch
generator involved, so the same seed gives the same model on the same device. Models compute on
``device``: :class:`RBMTransformer` and :class:`ClassRBMClassifier` in the floating dtype of the
training data (float32 stays float32, anything else becomes float64), :class:`DBNClassifier` and
:class:`DBNRegressor` in their ``dtype`` (float32 unless told otherwise); outputs come in the
dtype of the data they are computed from.
Training is delegated to :meth:`RBM.fit <dbn.rbm.RBM.fit>`, :meth:`DeepBeliefNet.pretrain
<dbn.stack.DeepBeliefNet.pretrain>` and :meth:`DeepBeliefNet.finetune <dbn.stack.DeepBeliefNet.finetune>`,
which receive the hyper-parameters as configuration objects (:class:`~dbn.config.CDConfig`,
:class:`~dbn.config.TrainConfig`) built by ``fit`` from the tables :data:`TRANSFORMER_CD_FIELDS`,
:data:`PRETRAIN_CD_FIELDS` and :data:`FINETUNE_TRAIN_FIELDS` (scikit-learn name -> field).

A model fitted on a GPU keeps its tensors there, and so does its pickle: unpickle it on a machine
with the same device, or move it first (``est.rbm_.cpu()``, ``est.dbn_.cpu()``).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Tags, check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from dbn.config import CDConfig, TrainConfig
from dbn.monitors import exact_pseudo_likelihood
from dbn.rbm import RBM
from dbn.stack import DeepBeliefNet
from dbn.supervised import FINETUNE_DEFAULTS
from dbn.targets import check_split, class_labels, numeric_targets
from dbn.validation import UNIT_INTERVAL_TOLERANCE, check_layer_sizes, resolve_device

__all__ = ["RBMTransformer", "DBNClassifier", "DBNRegressor", "ClassRBMClassifier"]

#: what ``validate_data`` passes to the models: C-ordered float64 or float32 (kept) arrays
_ARRAY_OPTIONS = {"dtype": (np.float64, np.float32), "order": "C"}
#: what :class:`RBMTransformer` accepts besides: CSR and CSC matrices (other sparse formats become CSR)
_TRANSFORMER_OPTIONS = {**_ARRAY_OPTIONS, "accept_sparse": ["csr", "csc"]}
#: rows of a sparse matrix that ``transform``, ``score_samples`` and ``gibbs`` densify at a time
SPARSE_CHUNK_ROWS = 4096

# ------------------------------------------------------------------ hyper-parameters -> configurations
# Each table maps an estimator's hyper-parameter (scikit-learn's name) to the field of the
# configuration it sets; ``fit`` builds the configuration from ``get_params()`` with
# :func:`config_from_params` and hands it whole to the model. The other hyper-parameters describe
# the model (sizes, unit types) or the call (``device``, ``random_state``, ``verbose``).

#: :class:`RBMTransformer` -> the :class:`~dbn.config.CDConfig` of :meth:`RBM.fit <dbn.rbm.RBM.fit>`
TRANSFORMER_CD_FIELDS: dict[str, str] = {
    "n_iter": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "lr",
    "k": "k",
    "persistent": "persistent",
    "momentum": "momentum",
    "weight_decay": "weight_decay",
}
#: :class:`DBNClassifier`, :class:`DBNRegressor` -> the :class:`~dbn.config.CDConfig` of every RBM's pretraining
PRETRAIN_CD_FIELDS: dict[str, str] = {
    "pretrain_epochs": "epochs",
    "batch_size": "batch_size",
    "pretrain_learning_rate": "lr",
    "k": "k",
    "weight_decay": "weight_decay",
}
#: :class:`DBNClassifier`, :class:`DBNRegressor` -> the :class:`~dbn.config.TrainConfig` of fine-tuning
FINETUNE_TRAIN_FIELDS: dict[str, str] = {
    "finetune_epochs": "epochs",
    "batch_size": "batch_size",
    "finetune_learning_rate": "lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "validation_fraction": "validation_fraction",
    "n_iter_no_change": "patience",
    "tol": "min_delta",
}
#: hyper-parameters whose None stands for the configuration's default (``momentum``: Hinton's
#: schedule); elsewhere None is a value of the field itself (``lr=None``, ``patience=None``)
DEFAULT_WHEN_NONE = frozenset({"momentum"})

Config = TypeVar("Config", CDConfig, TrainConfig)


def monitored(config: CDConfig, verbose: bool) -> CDConfig:
    """``config`` measuring the RBM's monitors every epoch when ``verbose`` (they are shown), else
    only at the last epoch (on small data each pass costs about as much as an epoch of training)."""
    return config if verbose else config.replace(monitor_every=config.epochs)


def config_from_params(base: Config, fields: Mapping[str, str], params: Mapping[str, Any]) -> Config:
    """``base`` with every field named in ``fields`` set from its estimator hyper-parameter.

    Parameters
    ----------
    base : CDConfig or TrainConfig
        The defaults of the fields no hyper-parameter sets.
    fields : mapping of str to str
        Hyper-parameter name -> configuration field (:data:`TRANSFORMER_CD_FIELDS`, ...).
    params : mapping of str to object
        The estimator's ``get_params()``.

    Returns
    -------
    CDConfig or TrainConfig
        A configuration of ``base``'s type, validated by its constructor.
    """
    values = {field: params[name] for name, field in fields.items()}
    for name in DEFAULT_WHEN_NONE.intersection(fields):
        if params[name] is None:
            del values[fields[name]]
    return base.replace(**values)


def _seed(random_state: np.random.RandomState) -> int:
    """One torch seed drawn from a NumPy random state."""
    return int(random_state.randint(np.iinfo(np.int32).max))


def _device(device: str | torch.device) -> torch.device:
    """The torch device named by an estimator's ``device`` parameter ("auto": CUDA when available);
    an unknown or absent device raises a ``ValueError`` naming ``device``."""
    return resolve_device(device, torch.device("cpu"))


def _torch_dtype(X: np.ndarray) -> torch.dtype:
    """The parameter dtype of a model trained on ``X`` (float32 or float64, as validated)."""
    return getattr(torch, X.dtype.name)


def _to_numpy(result: Tensor | np.ndarray) -> np.ndarray:
    return result.detach().cpu().numpy() if isinstance(result, Tensor) else result


def _bernoulli_visible(estimator: BaseEstimator) -> bool:
    return estimator.visible == "bernoulli"


def _check_training_data(estimator: BaseEstimator, X: np.ndarray | sp.sparray | sp.spmatrix) -> None:
    """Reject negative data for Bernoulli visible units with scikit-learn's message for
    ``positive_only`` estimators; the RBM then rejects values above 1 of an array, and this
    function those of a sparse matrix (from its stored values, before any batch is densified).
    A dense array may stray below 0 by ``UNIT_INTERVAL_TOLERANCE`` (a scaler's rounding, clipped
    by the RBM); a sparse matrix, densified batch by batch unclipped, may not."""
    if not _bernoulli_visible(estimator):
        return
    stored, tolerance = (X.data, 0.0) if sp.issparse(X) else (X, UNIT_INTERVAL_TOLERANCE)
    if stored.size and stored.min() < -tolerance:
        check_non_negative(X, f"{type(estimator).__name__} with visible='bernoulli'")
    if sp.issparse(X) and X.nnz and X.data.max() > 1:
        raise ValueError(
            f"X must lie in [0, 1] for Bernoulli visible units, got values up to {float(X.data.max()):.4g}; "
            "scale the data or use visible='gaussian'"
        )


# ------------------------------------------------------------------ sparse data
# RBMTransformer takes CSR and CSC matrices, as BernoulliRBM does, and densifies them a block of
# rows at a time: training reads them through a DataLoader over SparseRows, one minibatch at a
# time; the other methods go through _apply_by_rows.


class SparseRows(Dataset):
    """The rows of a sparse matrix as a map-style dataset, densified on demand.

    Indexing with a list of row numbers (a minibatch from a ``BatchSampler``) returns those rows
    as one dense tensor; the matrix itself is never densified whole.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array of shape (n_samples, n_features)
        Converted to CSR once (row slicing is cheap in CSR).
    """

    def __init__(self, matrix: sp.sparray | sp.spmatrix) -> None:
        self.matrix = matrix.tocsr()

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def __getitem__(self, rows: list[int]) -> Tensor:
        return torch.from_numpy(self.matrix[rows].toarray())


def sparse_batches(X: sp.sparray | sp.spmatrix, batch_size: int, seed: int) -> DataLoader:
    """Minibatches of ``batch_size`` rows of ``X``, in a new random order on every pass.

    The order comes from a torch generator seeded with ``seed``, so that a seeded estimator
    trains reproducibly; each batch is densified when the loader yields it.
    """
    rows = SparseRows(X)
    order = RandomSampler(rows, generator=torch.Generator().manual_seed(seed))
    return DataLoader(rows, sampler=BatchSampler(order, batch_size, drop_last=False), batch_size=None)


def _apply_by_rows(function: Callable[[np.ndarray], Tensor | np.ndarray], X: Any) -> np.ndarray:
    """``function(X)`` as a NumPy array; for a sparse ``X``, ``function`` of each block of
    :data:`SPARSE_CHUNK_ROWS` rows, densified, the results stacked in row order."""
    if not sp.issparse(X):
        return _to_numpy(function(X))
    X, step = X.tocsr(), SPARSE_CHUNK_ROWS
    blocks = (X[start : start + step].toarray() for start in range(0, X.shape[0], step))
    return np.concatenate([_to_numpy(function(block)) for block in blocks])


def _read_only(tensor: Tensor) -> np.ndarray:
    """``tensor`` as a NumPy array that refuses writes: a view of a CPU tensor, a copy of a GPU one."""
    array = tensor.detach().cpu().numpy()
    array.flags.writeable = False
    return array


#: the hyper-parameters every estimator here shares, declared once for ``_parameter_constraints``
_COMMON_CONSTRAINTS: dict = {
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "k": [Interval(Integral, 1, None, closed="left")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def _parameter_view(name: str, doc: str) -> property:
    """A property of a fitted :class:`RBMTransformer`: the RBM's parameter ``name`` as a read-only NumPy array."""

    def get(estimator: RBMTransformer) -> np.ndarray:
        check_is_fitted(estimator)
        return _read_only(getattr(estimator.rbm_, name))

    return property(get, doc=doc)


class RBMTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Restricted Boltzmann machine features: the hidden units' means given the data.

    A drop-in replacement for :class:`sklearn.neural_network.BernoulliRBM`: the same
    hyper-parameters (``n_components``, ``learning_rate``, ``batch_size``, ``n_iter``,
    ``random_state``, ``verbose``), the same fitted attributes (``components_``,
    ``intercept_hidden_``, ``intercept_visible_``, ``h_samples_``) and the same methods
    (``fit``, ``partial_fit``, ``transform``, ``gibbs``, ``score_samples``), for dense arrays and
    CSR or CSC matrices. Training is :meth:`dbn.rbm.RBM.fit`'s: CD-k or persistent CD with
    momentum and weight decay, Bernoulli or Gaussian visible units, on the CPU or a GPU;
    ``persistent=True, momentum=0.0`` is ``BernoulliRBM``'s rule (PCD-1, plain SGD).

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units (output features), >= 1.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Visible unit type. Bernoulli units need ``X`` in [0, 1] (binary data, or grey levels used
        as probabilities); other values raise ``ValueError``. Gaussian units accept any real
        data, standardised with the mean and standard deviation of the data seen by ``fit`` (the
        first ``partial_fit`` call).
    hidden : {"bernoulli", "relu", "gaussian"}, default="bernoulli"
        Hidden unit type; the features are its conditional means (probabilities for Bernoulli
        units, rectified inputs for ReLU units, inputs for linear Gaussian units).
    learning_rate : float > 0 or None, default=None
        Learning rate of the mean gradient over a minibatch (as in ``BernoulliRBM``). None means
        0.1, or 0.01 when either layer is Gaussian.
    batch_size : int, default=10
        Rows per minibatch, >= 1 (``BernoulliRBM``'s default; larger batches run faster on a GPU).
    n_iter : int, default=10
        Passes over the training data in ``fit``, >= 1. ``partial_fit`` makes one pass.
    k : int, default=1
        Gibbs steps per update (CD-k), >= 1.
    persistent : bool, default=False
        Persistent contrastive divergence (PCD, Tieleman 2008), as ``BernoulliRBM`` trains: the
        negative phase continues ``batch_size`` fantasy chains from update to update, across
        ``partial_fit`` calls too. The default restarts the chains at the data (CD). Combine it
        with a small constant momentum such as 0.0 (``BernoulliRBM`` has none): on the shifted
        digits of ``examples/sklearn_pipeline.py``, PCD reached 94% test accuracy with momentum
        0.0 and 56% with the default schedule, whose momentum of 0.9 outruns the chains.
    momentum : float in [0, 1), callable or None, default=None
        SGD momentum: a constant, or a function of the 0-based epoch returning it. None means 0.5
        for the first 5 epochs, then 0.9 (:func:`dbn.config.hinton_momentum`). ``BernoulliRBM`` has
        none (0.0).
    weight_decay : float >= 0, default=0.0
        L2 penalty on the weights (not the biases), e.g. 2e-4.
    device : str or torch.device, default="auto"
        Where to train and compute: ``"auto"`` means CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the torch generators of each ``fit`` or ``partial_fit`` call (initial weights,
        minibatch order, Gibbs sampling) and of each ``gibbs`` call; an int gives reproducible
        models and samples on a given device.
    verbose : bool or int, default=False
        Show a progress bar with the per-epoch monitors (see :mod:`dbn.monitors`).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The weights, ``rbm_.weight``: for Bernoulli hidden units ``transform(X)`` is
        ``expit(X @ components_.T + intercept_hidden_)``, as in ``BernoulliRBM``.
    intercept_hidden_ : ndarray of shape (n_components,)
        The hidden biases, ``rbm_.hidden_bias``.
    intercept_visible_ : ndarray of shape (n_features,)
        The visible biases, ``rbm_.visible_bias``.
    h_samples_ : ndarray of shape (batch_size, n_components)
        After persistent CD: the hidden states of the persistent chains, a draw from
        :math:`p(h \\mid v)` at their visible states ``rbm_.persistent_chains_``, from which the
        next update continues them (``BernoulliRBM`` keeps its chains as these hidden states, the
        RBM as the visible ones); the draw is seeded at the end of training, so every read gives
        the same array until training moves the chains. After CD, which keeps no chains between
        updates: zeros, ``BernoulliRBM``'s state before its first update.
    rbm_ : dbn.rbm.RBM
        The trained RBM (a ``torch.nn.Module`` on ``device``); ``rbm_.history_`` holds one record
        per epoch, with the model's monitors in the last one only unless ``verbose``
        (:func:`monitored`).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.neural_network.BernoulliRBM : scikit-learn's RBM (PCD-1, plain SGD, NumPy).
    DBNClassifier : a stack of RBMs fine-tuned for classification.

    Notes
    -----
    The four array attributes are read-only properties computed from ``rbm_`` on every access,
    in the dtype of the training data: views of its parameters on the CPU (writes are refused),
    copies from a GPU. To change the model, change ``rbm_``. For Gaussian visible units the
    weights and visible biases act on the standardised data (``rbm_.standardize``).

    Where the two estimators differ with the same settings: the visible biases start at the
    log-odds of the training data's mean (``BernoulliRBM``: 0), the minibatches are drawn in a
    new random order every epoch (``BernoulliRBM``: the same consecutive slices), persistent
    chains start from that base-rate model (``BernoulliRBM``: hidden states 0),
    ``score_samples`` is exact rather than a one-unit estimate, and ``partial_fit`` splits its
    chunk into minibatches of ``batch_size`` rows (``BernoulliRBM``: one update on the chunk).
    Sparse data is densified one minibatch (training) or :data:`SPARSE_CHUNK_ROWS` rows (the
    other methods) at a time.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from dbn.datasets import load_digits
    >>> from dbn.sklearn import RBMTransformer
    >>> X, y = load_digits()
    >>> model = make_pipeline(RBMTransformer(100, n_iter=5, random_state=0), LogisticRegression(max_iter=1000))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    >>> model[0].components_.shape
    (100, 64)
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "visible": [StrOptions({"bernoulli", "gaussian"})],
        "hidden": [StrOptions({"bernoulli", "relu", "gaussian"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "persistent": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="left"), callable, None],
    }

    def __init__(
        self,
        n_components: int = 256,
        *,
        visible: str = "bernoulli",
        hidden: str = "bernoulli",
        learning_rate: float | None = None,
        batch_size: int = 10,
        n_iter: int = 10,
        k: int = 1,
        persistent: bool = False,
        momentum: float | Any | None = None,
        weight_decay: float = 0.0,
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool | int = False,
    ) -> None:
        self.n_components = n_components
        self.visible = visible
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.visible == "bernoulli"
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        """Number of output features, for ``get_feature_names_out``."""
        return self.rbm_.n_hidden

    # ------------------------------------------------------------------ BernoulliRBM's fitted attributes

    components_ = _parameter_view("weight", "The weights ``rbm_.weight``, shape (n_components, n_features).")
    intercept_hidden_ = _parameter_view("hidden_bias", "The hidden biases ``rbm_.hidden_bias``, shape (n_components,).")
    intercept_visible_ = _parameter_view("visible_bias", "The visible biases ``rbm_.visible_bias``, (n_features,).")

    @property
    def h_samples_(self) -> np.ndarray:
        """Hidden states of the persistent chains (zeros after CD), shape (batch_size, n_components), read-only."""
        check_is_fitted(self)
        rbm = self.rbm_
        chains = getattr(rbm, "persistent_chains_", None)
        if chains is None or not rbm.fit_config_.persistent:
            return _read_only(torch.zeros(rbm.fit_config_.batch_size, rbm.n_hidden, dtype=rbm.dtype))
        generator = torch.Generator(device=rbm.device).manual_seed(self._chain_seed)
        with torch.no_grad():  # the chains are in model units: no standardisation
            return _read_only(rbm.hidden.sample(rbm.hidden_input(chains), generator))

    # ------------------------------------------------------------------ training

    def _cd_config(self) -> CDConfig:
        """The training configuration the hyper-parameters describe (:data:`TRANSFORMER_CD_FIELDS`)."""
        config = config_from_params(CDConfig(), TRANSFORMER_CD_FIELDS, self.get_params(deep=False))
        return monitored(config, bool(self.verbose))

    def _new_rbm(self, X: np.ndarray | sp.sparray | sp.spmatrix) -> RBM:
        """An untrained RBM for ``X``'s features, in its dtype."""
        return RBM(X.shape[1], self.n_components, visible=self.visible, hidden=self.hidden, dtype=_torch_dtype(X))

    def _train(self, X: np.ndarray | sp.sparray | sp.spmatrix, config: CDConfig, *, warm_start: bool) -> None:
        """Train ``rbm_`` on ``X`` with ``config``, seeded from ``random_state``.

        A sparse ``X`` is read through :func:`sparse_batches`, whose order has a seed of its own.
        After persistent CD one more seed is drawn, for the hidden states ``h_samples_`` shows.
        """
        random_state = self._random_state
        device, seed = _device(self.device), _seed(random_state)
        data = sparse_batches(X, config.batch_size, _seed(random_state)) if sp.issparse(X) else X
        self.rbm_.fit(data, config=config, progress=bool(self.verbose), device=device, seed=seed, warm_start=warm_start)
        if config.persistent:
            self._chain_seed = _seed(random_state)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: None = None) -> RBMTransformer:
        """Train the RBM on ``X`` for ``n_iter`` epochs, from a fresh initialisation.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; in [0, 1] for ``visible="bernoulli"``. A CSR or CSC matrix (any other
            sparse format is converted to CSR) is densified one minibatch at a time.
        y : None
            Ignored.

        Returns
        -------
        self : RBMTransformer
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``X`` is empty, not 2-D, holds NaN or infinity, or (Bernoulli visible units) values
            outside [0, 1]; or if ``device`` names no torch device.
        """
        X = validate_data(self, X, **_TRANSFORMER_OPTIONS)
        _check_training_data(self, X)
        config = self._cd_config()
        self._random_state = check_random_state(self.random_state)
        self.rbm_ = self._new_rbm(X)
        self._train(X, config, warm_start=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: None = None) -> RBMTransformer:
        """One pass of minibatch updates over ``X``, continuing from the current model.

        The first call initialises the RBM from this chunk (visible biases from its mean, and
        the standardisation of Gaussian visible units); later calls keep the parameters, the
        momentum schedule's epoch count and the persistent chains. ``X`` is split into
        minibatches of ``batch_size`` rows, where ``BernoulliRBM.partial_fit`` makes a single
        update with the whole chunk as one minibatch: set ``batch_size`` to the chunk's size for
        that rule.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data; in [0, 1] for ``visible="bernoulli"``.
        y : None
            Ignored.

        Returns
        -------
        self : RBMTransformer
            The updated estimator.

        Raises
        ------
        ValueError
            As :meth:`fit`, and if ``X`` has another number of features than the first chunk.
        """
        first_call = not hasattr(self, "rbm_")
        X = validate_data(self, X, **_TRANSFORMER_OPTIONS, reset=first_call)
        _check_training_data(self, X)
        config = self._cd_config().replace(epochs=1)
        if first_call:
            self._random_state = check_random_state(self.random_state)
            self.rbm_ = self._new_rbm(X)
        self._train(X, config, warm_start=not first_call)
        return self

    # ------------------------------------------------------------------ inference

    def transform(self, X: Any) -> np.ndarray:
        """Hidden-unit means :math:`E[h \\mid v]` for every row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows to encode, as ``fit`` saw them (in [0, 1] for ``visible="bernoulli"``).

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
            The features, in the dtype of the training data.
        """
        check_is_fitted(self)
        X = validate_data(self, X, **_TRANSFORMER_OPTIONS, reset=False)
        return _apply_by_rows(self.rbm_.transform, X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Visible means :math:`E[v \\mid h]` of hidden states, in the units of the data.

        ``inverse_transform(transform(X))`` is the RBM's mean-field reconstruction of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Hidden states or means, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, ``n_features_in_``)
            Probabilities for Bernoulli visible units, else the Gaussian means, in the dtype
            of the training data.
        """
        check_is_fitted(self)
        H = check_array(X, **_ARRAY_OPTIONS)
        if H.shape[1] != self.rbm_.n_hidden:
            raise ValueError(
                f"X has {H.shape[1]} features, but inverse_transform expects {self.rbm_.n_hidden} (n_components)"
            )
        with torch.no_grad():
            return _to_numpy(self.rbm_.visible_probs(H))

    def gibbs(self, v: Any) -> np.ndarray:
        """One Gibbs step v -> h -> v from each row of ``v``: a sample of the visible units.

        As ``BernoulliRBM.gibbs``: hidden states drawn from :math:`p(h \\mid v)`, then visible
        states from :math:`p(v \\mid h)`. Each call seeds its generator from ``random_state``, so
        that a seeded estimator repeats the same samples after the same calls, while successive
        calls draw new ones; feeding the result back in runs a Gibbs chain.

        Parameters
        ----------
        v : {array-like, sparse matrix} of shape (n_samples, n_features)
            Visible states to start from: booleans, or values in [0, 1] for
            ``visible="bernoulli"`` (other finite values are clipped to it).

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            Booleans for Bernoulli visible units, as ``BernoulliRBM`` returns; real samples in
            the units of the data, in the dtype of the training data, for Gaussian ones.
        """
        check_is_fitted(self)
        V = validate_data(self, v, **_TRANSFORMER_OPTIONS, reset=False)
        rbm = self.rbm_
        generator = torch.Generator(device=rbm.device).manual_seed(_seed(self._random_state))
        samples = _apply_by_rows(lambda block: rbm.gibbs(block, 1, generator), V)
        return samples.astype(bool) if rbm.visible.unit_interval else samples

    @available_if(_bernoulli_visible)
    def score_samples(self, X: Any) -> np.ndarray:
        """Log pseudo-likelihood of each row: :math:`\\sum_i \\log p(v_i \\mid v_{-i})`, in nats.

        The sum runs over all ``n_features`` units and is computed exactly
        (:func:`dbn.monitors.exact_pseudo_likelihood`), so the result is deterministic. Its scale
        is that of ``BernoulliRBM.score_samples``, which returns ``n_features`` times the term of
        one randomly chosen unit, an unbiased estimate of this sum; divide by ``n_features_in_``
        for the per-unit value recorded as ``pseudo_likelihood`` in ``rbm_.history_``. As in
        scikit-learn, grey levels ``v_i`` are flipped to ``1 - v_i``. Only for
        ``visible="bernoulli"``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in [0, 1]; other finite values are clipped to it, as in :meth:`transform`.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Log pseudo-likelihoods (<= 0), in the dtype of the training data.
        """
        check_is_fitted(self)
        X = validate_data(self, X, **_TRANSFORMER_OPTIONS, reset=False)
        rbm = self.rbm_

        return _apply_by_rows(lambda block: exact_pseudo_likelihood(rbm, rbm.check_visible(block, "X")), X)


#: the hyper-parameters :class:`DBNClassifier` and :class:`DBNRegressor` share, documented once
_PRETRAINING_PARAMETERS = """\
    hidden_layer_sizes : int or array-like of int, default=(256,)
        Size of each hidden layer, bottom first (one RBM per layer), each >= 1. One layer by
        default, as ``MLPClassifier``: on digits a second one costs twice the time for no gain; on
        larger data such as MNIST deeper stacks pay (``(256, 256)``, ``(500, 500, 2000)``).
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Unit type of the data layer: Bernoulli for ``X`` in [0, 1] (other values raise
        ``ValueError``), Gaussian for any real data (standardised by the first RBM).
    hidden : {"bernoulli", "relu", "gaussian"}, default={default_hidden}
        Hidden unit type of every RBM; it sets the activation of the unrolled network (sigmoid,
        ReLU or none).{why_hidden}
    pretrain_epochs : int, default=30
        Epochs of contrastive divergence per RBM, >= 1.
    pretrain_learning_rate : float > 0 or None, default=None
        Learning rate of pretraining; None means 0.1 (0.01 for an RBM with a Gaussian layer).
    k : int, default=1
        Gibbs steps per pretraining update (CD-k), >= 1.
    finetune_epochs : int, default=100
        Maximum number of fine-tuning epochs, >= 1 (early stopping usually ends it sooner).
    finetune_learning_rate : float > 0, "auto" or None, default="auto"
        Learning rate of fine-tuning. "auto" chooses it on the validation split by a short search
        (3 epochs at each of 1, 0.3 and 0.1 for SGD, of 0.01, 0.003 and 0.001 for Adam: 9 epochs
        of cost; on all rows by the training loss without a split; when all three diverge, up to
        three lower rates follow, for SGD 0.03, 0.01 and 0.003, up to 18 epochs in all); None
        means 0.1 for SGD, 0.001 for Adam.
    optimizer : {"sgd", "adam"}, default={default_optimizer}
        Fine-tuning optimiser: SGD with momentum 0.9, or Adam.
    batch_size : int, default=50
        Rows per minibatch in both phases, >= 1.
    weight_decay : float >= 0, default=0.0
        L2 penalty on the weights (not the biases) in both phases."""
_TRAINING_PARAMETERS = """\
    n_iter_no_change : int or None, default=10
        Stop fine-tuning after this many epochs without the validation loss falling by more than
        ``tol``; None runs every epoch (the weights of the lowest validation loss are kept either
        way). Unused without validation rows.
    tol : float >= 0, default=1e-3
        The fall of the validation loss that resets ``n_iter_no_change``, measured from the loss
        at the last reset (Keras's ``min_delta``; ``MLPClassifier``'s ``tol`` plays the same part
        for its training loss): fine-tuning stops when the loss has fallen by no more than
        ``tol`` over ``n_iter_no_change`` epochs. On digits the validation accuracy often reaches
        1 within 20 epochs while the loss keeps falling slowly for 80 more. 0 counts any fall.
    dtype : {"float32", "float64"} or None, default="float32"
        Precision of the network's parameters and computations (outputs come in the dtype of
        the ``X`` they are computed from). float32 is torch's default and the faster on a CPU;
        None follows the training data (float64 from scikit-learn's own loaders and scalers).
    device : str or torch.device, default="auto"
        Where to train and predict: ``"auto"`` means CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds pretraining (initial weights, minibatch order, sampling) and fine-tuning (output
        layer, validation split, minibatch order); an int gives reproducible models on a given
        device.
    verbose : bool or int, default=False
        Show progress bars with the per-epoch monitors."""


#: why the regressor's hidden units differ from the classifier's, said in its docstring
_WHY_RELU = """ ReLU units and Adam are the regressor's
        defaults, as ``MLPRegressor``'s: with them ``benchmarks/sklearn_defaults.py --task
        regress`` gives R² 0.94 on ``make_friedman1`` (``MLPRegressor()``: 0.93), where the
        classifier's Bernoulli units and SGD reach 0.79."""


def _document_parameters(cls: type) -> type:
    """Fill the shared parameter sections into a DBN estimator's docstring, with the defaults of
    its own ``__init__`` (each ``{default_...}`` field replaced, so the sections may hold any text)."""
    if cls.__doc__ is None:  # python -OO
        return cls
    defaults = {name: parameter.default for name, parameter in inspect.signature(cls.__init__).parameters.items()}
    pretraining = _PRETRAINING_PARAMETERS
    for field, text in {"{default_hidden}": f'"{defaults["hidden"]}"',
                        "{default_optimizer}": f'"{defaults["optimizer"]}"',
                        "{why_hidden}": _WHY_RELU if defaults["hidden"] == "relu" else ""}.items():
        pretraining = pretraining.replace(field, text)
    for name, text in {"pretraining_parameters": pretraining, "training_parameters": _TRAINING_PARAMETERS}.items():
        cls.__doc__ = cls.__doc__.replace(f"%({name})s", text.rstrip("\n"))
    return cls


class _DeepBeliefNetEstimator(BaseEstimator):
    """Parameters, pretraining and prediction shared by :class:`DBNClassifier` and :class:`DBNRegressor`."""

    #: the ``task`` of :meth:`DeepBeliefNet.finetune`
    _task: str

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "visible": [StrOptions({"bernoulli", "gaussian"})],
        "hidden": [StrOptions({"bernoulli", "relu", "gaussian"})],
        "pretrain_epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "finetune_epochs": [Interval(Integral, 1, None, closed="left")],
        "finetune_learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"}), None],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes: int | tuple[int, ...] = (256,),
        *,
        visible: str = "bernoulli",
        hidden: str = "bernoulli",
        pretrain_epochs: int = 30,
        pretrain_learning_rate: float | None = None,
        k: int = 1,
        finetune_epochs: int = 100,
        finetune_learning_rate: float | str | None = "auto",
        optimizer: str = "sgd",
        batch_size: int = 50,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = 10,
        tol: float = 1e-3,
        dtype: str | None = "float32",
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool | int = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible = visible
        self.hidden = hidden
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.k = k
        self.finetune_epochs = finetune_epochs
        self.finetune_learning_rate = finetune_learning_rate
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.visible == "bernoulli"
        return tags

    def _fit_network(self, X: np.ndarray, y: np.ndarray, labeled: np.ndarray | None = None) -> None:
        """Pretrain a new network on ``X``, then fine-tune it on ``(X, y)`` (the rows of ``labeled``
        only, when given); keep it as ``dbn_``."""
        _check_training_data(self, X)
        params = self.get_params(deep=False)
        pretrain_config = monitored(config_from_params(CDConfig(), PRETRAIN_CD_FIELDS, params), bool(self.verbose))
        finetune_config = config_from_params(FINETUNE_DEFAULTS, FINETUNE_TRAIN_FIELDS, params)
        layers = [X.shape[1], *check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")]
        random_state, device, progress = check_random_state(self.random_state), _device(self.device), bool(self.verbose)
        self.dbn_ = DeepBeliefNet(
            layers, visible=self.visible, hidden=self.hidden, config=pretrain_config,
            dtype=getattr(torch, self.dtype) if self.dtype else _torch_dtype(X),
        )
        self.dbn_.check_input(X, "X")  # the data checks of pretraining come first
        X_tune, y_tune = (X, y) if labeled is None else (X[labeled], y[labeled])
        finetune_config = self._feasible_split(finetune_config, X_tune, y_tune)
        self.dbn_.pretrain(X, progress=progress, device=device, seed=_seed(random_state))
        self.dbn_.finetune(
            X_tune, y_tune, task=self._task, config=finetune_config, device=device, seed=_seed(random_state),
            progress=progress,
        )

    def _feasible_split(self, config: TrainConfig, X: np.ndarray, y: np.ndarray) -> TrainConfig:
        """``config``, or ``config`` without a validation split (and a warning) when the rows are too
        few for ``validation_fraction`` (too few rows, or classes too small to stratify)."""
        classify = self._task == "classify"
        try:
            check_split(y if classify else None, X.shape[0], config.validation_fraction, stratify=classify)
        except ValueError as error:
            warnings.warn(f"{error}; fine-tuning on all rows without a validation split", UserWarning, stacklevel=4)
            return config.replace(validation_fraction=0.0)
        return config

    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, **_ARRAY_OPTIONS, reset=False)


@_document_parameters
class DBNClassifier(ClassifierMixin, _DeepBeliefNetEstimator):
    """Deep belief network classifier: greedy RBM pretraining, then fine-tuning with a softmax layer.

    ``fit`` pretrains a stack of RBMs on ``X`` (:meth:`dbn.stack.DeepBeliefNet.pretrain`), unrolls
    it into a feed-forward network with one output per class, and trains the whole network by
    backpropagation on the cross-entropy (:meth:`dbn.stack.DeepBeliefNet.finetune`), keeping the
    weights of the epoch with the lowest validation loss.

    Parameters
    ----------
%(pretraining_parameters)s
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out (stratified by class) to choose the fine-tuning
        epoch whose weights are kept and to stop early; 0 fine-tunes on all rows for
        ``finetune_epochs`` epochs. When the rows are too few for the split (a class with a
        single row, say) ``fit`` warns and fine-tunes on all rows.
    unlabeled : int, str or None, default=None
        The label that marks unlabeled rows of ``y``, for semi-supervised learning (scikit-learn's
        semi-supervised estimators use -1): every row of ``X`` pretrains the RBMs, and only the
        labeled rows fine-tune the network (and make ``classes_``). None: every row is labeled.
%(training_parameters)s

    Attributes
    ----------
    dbn_ : dbn.stack.DeepBeliefNet
        The trained network (a ``torch.nn.Module`` on ``device``): ``dbn_.rbms`` the pretrained
        RBMs, ``dbn_.mlp_`` the fine-tuned network, ``dbn_.pretrain_history_`` and
        ``dbn_.finetune_history_`` the per-epoch records (the RBMs' monitors in their last
        pretraining record only, unless ``verbose``).
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted; the columns of :meth:`predict_proba`.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    DBNRegressor : the same network with a linear output, for continuous targets.
    sklearn.neural_network.MLPClassifier : a feed-forward network from a random initialisation.

    Examples
    --------
    >>> from dbn.datasets import load_digits
    >>> from dbn.sklearn import DBNClassifier
    >>> X, y = load_digits()
    >>> clf = DBNClassifier((128, 128), pretrain_epochs=5, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _task = "classify"
    _parameter_constraints: dict = {
        **_DeepBeliefNetEstimator._parameter_constraints,
        "unlabeled": [Integral, str, None],
    }

    def __init__(
        self,
        hidden_layer_sizes: int | tuple[int, ...] = (256,),
        *,
        visible: str = "bernoulli",
        hidden: str = "bernoulli",
        pretrain_epochs: int = 30,
        pretrain_learning_rate: float | None = None,
        k: int = 1,
        finetune_epochs: int = 100,
        finetune_learning_rate: float | str | None = "auto",
        optimizer: str = "sgd",
        batch_size: int = 50,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = 10,
        tol: float = 1e-3,
        unlabeled: int | str | None = None,
        dtype: str | None = "float32",
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool | int = False,
    ) -> None:
        super().__init__(
            hidden_layer_sizes, visible=visible, hidden=hidden, pretrain_epochs=pretrain_epochs,
            pretrain_learning_rate=pretrain_learning_rate, k=k, finetune_epochs=finetune_epochs,
            finetune_learning_rate=finetune_learning_rate, optimizer=optimizer, batch_size=batch_size,
            weight_decay=weight_decay, validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, dtype=dtype, device=device, random_state=random_state, verbose=verbose,
        )
        self.unlabeled = unlabeled

    def _labeled_rows(self, y: np.ndarray) -> np.ndarray | None:
        """The mask of the rows whose label is not ``unlabeled`` (None when every row is labeled)."""
        if self.unlabeled is None:
            return None
        labeled = y != self.unlabeled
        if not labeled.any():
            raise ValueError(f"y holds no labeled row: every label equals unlabeled={self.unlabeled!r}")
        return None if labeled.all() else labeled

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> DBNClassifier:
        """Pretrain the RBMs on ``X``, then fine-tune the network to predict ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; in [0, 1] for ``visible="bernoulli"``.
        y : array-like of shape (n_samples,)
            Class labels of any type (numbers, strings, ...). With ``unlabeled`` set, the rows
            labeled ``unlabeled`` are used by pretraining only.

        Returns
        -------
        self : DBNClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``X`` is empty, not 2-D or holds NaN or infinity, if ``X`` and ``y`` have different
            numbers of rows, if ``y`` is continuous ("Unknown label type"), if ``X`` leaves [0, 1]
            for Bernoulli visible units, if some class is too small for the stratified validation
            split, or if ``device`` names no torch device.
        """
        # validate_data: y given, 1-D (a column vector warns), finite, one label per row of X;
        # class_labels (the check fine-tuning applies again): discrete labels, before any training
        X, y = validate_data(self, X, y, **_ARRAY_OPTIONS)
        class_labels(y, X.shape[0])
        self._fit_network(X, y, self._labeled_rows(y))
        self.classes_ = self.dbn_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, the softmax of the network's outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify (in [0, 1] for ``visible="bernoulli"``).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``, in the dtype of ``X`` (float32 or float64).
        """
        X = self._validated(X)
        return _to_numpy(self.dbn_.predict_proba(X)).astype(X.dtype, copy=False)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of ``X`` (array-like of shape (n_samples, n_features), in
        [0, 1] for ``visible="bernoulli"``): an ndarray of shape (n_samples,) of labels from ``classes_``."""
        X = self._validated(X)
        return self.dbn_.predict(X)


@_document_parameters
class DBNRegressor(RegressorMixin, _DeepBeliefNetEstimator):
    """Deep belief network regressor: greedy RBM pretraining, then fine-tuning with a linear output.

    ``fit`` pretrains a stack of RBMs on ``X`` (:meth:`dbn.stack.DeepBeliefNet.pretrain`), unrolls
    it into a feed-forward network with one linear output per target, and trains the whole
    network by backpropagation on the mean squared error (:meth:`dbn.stack.DeepBeliefNet.finetune`),
    keeping the weights of the epoch with the lowest validation loss. The targets are
    standardised for training (zero mean, unit variance per output, with
    :class:`~sklearn.preprocessing.StandardScaler`) and predictions mapped back, so that the
    default learning rates suit targets of any scale.

    Parameters
    ----------
%(pretraining_parameters)s
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out to choose the fine-tuning epoch whose weights are
        kept and to stop early; 0 fine-tunes on all rows for ``finetune_epochs`` epochs.
%(training_parameters)s

    Attributes
    ----------
    dbn_ : dbn.stack.DeepBeliefNet
        The trained network (a ``torch.nn.Module`` on ``device``), predicting standardised
        targets: ``dbn_.rbms`` the pretrained RBMs, ``dbn_.mlp_`` the fine-tuned network,
        ``dbn_.pretrain_history_`` and ``dbn_.finetune_history_`` the per-epoch records (the
        RBMs' monitors in their last pretraining record only, unless ``verbose``).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    DBNClassifier : the same network with a softmax output, for class labels.
    sklearn.neural_network.MLPRegressor : a feed-forward network from a random initialisation.
    """

    _task = "regress"

    def __init__(
        self,
        hidden_layer_sizes: int | tuple[int, ...] = (256,),
        *,
        visible: str = "bernoulli",
        hidden: str = "relu",
        pretrain_epochs: int = 30,
        pretrain_learning_rate: float | None = None,
        k: int = 1,
        finetune_epochs: int = 100,
        finetune_learning_rate: float | str | None = "auto",
        optimizer: str = "adam",
        batch_size: int = 50,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = 10,
        tol: float = 1e-3,
        dtype: str | None = "float32",
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool | int = False,
    ) -> None:
        super().__init__(
            hidden_layer_sizes, visible=visible, hidden=hidden, pretrain_epochs=pretrain_epochs,
            pretrain_learning_rate=pretrain_learning_rate, k=k, finetune_epochs=finetune_epochs,
            finetune_learning_rate=finetune_learning_rate, optimizer=optimizer, batch_size=batch_size,
            weight_decay=weight_decay, validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, dtype=dtype, device=device, random_state=random_state, verbose=verbose,
        )

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> DBNRegressor:
        """Pretrain the RBMs on ``X``, then fine-tune the network to predict ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; in [0, 1] for ``visible="bernoulli"``.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Real-valued targets.

        Returns
        -------
        self : DBNRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``X`` or ``y`` is empty or holds NaN or infinity, if they have different numbers
            of rows, if ``X`` leaves [0, 1] for Bernoulli visible units, or if ``device`` names no
            torch device.
        """
        numeric_targets(y)
        X, y = validate_data(self, X, y, **_ARRAY_OPTIONS, multi_output=True, y_numeric=True)
        self._target_scaler = StandardScaler().fit(y.reshape(y.shape[0], -1))
        standardized = self._target_scaler.transform(y.reshape(y.shape[0], -1)).reshape(y.shape)
        self._fit_network(X, standardized)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to predict targets for (in [0, 1] for ``visible="bernoulli"``).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The shape of the ``y`` given to ``fit``, in the dtype of ``X`` (float32 or float64).
        """
        X = self._validated(X)
        output = _to_numpy(self.dbn_.predict(X))
        targets = self._target_scaler.inverse_transform(output.reshape(X.shape[0], -1))
        return targets.reshape(output.shape).astype(X.dtype, copy=False)


class ClassRBMClassifier(ClassifierMixin, BaseEstimator):
    """Classification RBM (Larochelle & Bengio 2008): one RBM of the features and the label.

    ``fit`` trains a :class:`dbn.classrbm.ClassRBM`, an RBM whose visible layer is the features
    followed by one softmax group of the classes, by the chosen objective; ``predict_proba`` is
    the exact :math:`p(y \\mid x)` from the free energy of each label (no sampling).

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units, >= 1.
    objective : {"hybrid", "generative", "discriminative"}, default="hybrid"
        :math:`-\\log p(y \\mid x) + \\alpha (-\\log p(x, y))` (the generative part by CD-k),
        :math:`-\\log p(x, y)` by CD-k, or :math:`-\\log p(y \\mid x)` by its exact gradient.
    alpha : float >= 0, default=0.01
        Weight of the generative part of the hybrid objective (their best MNIST value).
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Unit type of the features: Bernoulli for ``X`` in [0, 1] (other values raise
        ``ValueError``), Gaussian for any real data (standardised with the training data's mean
        and standard deviation).
    learning_rate : float > 0, default=0.05
        SGD learning rate of the mean gradient over a minibatch.
    n_iter : int, default=30
        Passes over the training data, >= 1.
    batch_size : int, default=10
        Rows per minibatch, >= 1.
    k : int, default=1
        Gibbs steps of CD (generative and hybrid objectives), >= 1.
    momentum : float in [0, 1), default=0.0
        SGD momentum.
    weight_decay : float >= 0, default=0.0
        L2 penalty on the weights (not the biases).
    device : str or torch.device, default="auto"
        Where to train and compute: ``"auto"`` means CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the torch generator of ``fit`` (initial weights, minibatch order, Gibbs sampling).
    verbose : bool or int, default=False
        Show a progress bar with the per-epoch monitors.

    Attributes
    ----------
    model_ : dbn.classrbm.ClassRBM
        The trained model (a ``torch.nn.Module`` on ``device``); ``model_.history_`` holds one
        record per epoch.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted; the columns of :meth:`predict_proba`.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    DBNClassifier : a pretrained stack of RBMs fine-tuned by backpropagation.

    Examples
    --------
    >>> from dbn.datasets import load_digits
    >>> from dbn.sklearn import ClassRBMClassifier
    >>> X, y = load_digits()
    >>> clf = ClassRBMClassifier(100, learning_rate=0.3, n_iter=10, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "objective": [StrOptions({"hybrid", "generative", "discriminative"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "visible": [StrOptions({"bernoulli", "gaussian"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        n_components: int = 256,
        *,
        objective: str = "hybrid",
        alpha: float = 0.01,
        visible: str = "bernoulli",
        learning_rate: float = 0.05,
        n_iter: int = 30,
        batch_size: int = 10,
        k: int = 1,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        device: str | torch.device = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool | int = False,
    ) -> None:
        self.n_components = n_components
        self.objective = objective
        self.alpha = alpha
        self.visible = visible
        self.learning_rate = learning_rate
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.k = k
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.visible == "bernoulli"
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> ClassRBMClassifier:
        """Train a classification RBM on ``(X, y)`` from a fresh initialisation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; in [0, 1] for ``visible="bernoulli"``.
        y : array-like of shape (n_samples,)
            Class labels of any type (numbers, strings, ...), at least two classes.

        Returns
        -------
        self : ClassRBMClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``X`` is empty, not 2-D or holds NaN or infinity, if ``X`` and ``y`` have different
            numbers of rows, if ``y`` is continuous or holds one class, if ``X`` leaves [0, 1] for
            Bernoulli features, or if ``device`` names no torch device.
        """
        from dbn.classrbm import ClassRBM  # imported where used: this class was added after the module's imports
        from dbn.targets import encode_labels

        X, y = validate_data(self, X, y, **_ARRAY_OPTIONS)
        classes, codes, _ = encode_labels(y, X.shape[0])
        if len(classes) < 2:
            raise ValueError(f"y holds one class ({classes[0]!r}); a classification RBM needs at least 2 classes")
        _check_training_data(self, X)
        random_state, device = check_random_state(self.random_state), _device(self.device)
        self.model_ = ClassRBM(X.shape[1], len(classes), self.n_components, features=self.visible,
                               dtype=_torch_dtype(X))
        self.model_.fit(X, codes, objective=self.objective, alpha=self.alpha, epochs=self.n_iter,
                        lr=self.learning_rate, batch_size=self.batch_size, k=self.k, momentum=self.momentum,
                        weight_decay=self.weight_decay, seed=_seed(random_state), progress=bool(self.verbose),
                        device=device)
        self.classes_ = classes
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities :math:`p(y \\mid x)`, exact, of the rows of ``X`` (array-like of shape
        (n_samples, n_features); values outside [0, 1] are clipped for Bernoulli features): an ndarray
        of shape (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, **_ARRAY_OPTIONS, reset=False)
        return self.model_.predict_proba(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """:math:`\\log p(y \\mid x)` of the rows of ``X``, shape (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, **_ARRAY_OPTIONS, reset=False)
        return self.model_.predict_log_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of ``X`` (the label of lowest free energy): an ndarray
        of shape (n_samples,) of labels from ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
