"""Property-based fuzzing of the training entry points: random shapes, dtypes, values and options.

For :meth:`RBM.fit <dbn.rbm.RBM.fit>` then ``transform``, and :class:`~dbn.sklearn.DBNClassifier`
``fit`` then ``predict``, every draw must either succeed, with finite outputs of the right shape,
or raise a ``ValueError`` or ``TypeError`` whose message names an argument (and, when it blames
NaN or infinity in the data, is true). The training data comes as an array, a tensor, nested
lists, a list of batches or a one-shot generator (which must be refused). Any other exception
(``IndexError``, ``RuntimeError``, ``ZeroDivisionError``, ``StopIteration``, ``AssertionError``, ...)
fails the test. The draws are derandomised, so every run tries the same examples.

The option values include bad ones of the right kind (``batch_size=0``, ``momentum=1.5``,
``persistent="no"``) and of the wrong kind (strings, floats for integers). Bad seeds are fuzzed by
a separate test.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dbn import RBM
from dbn.sklearn import DBNClassifier

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: the arguments an error message may name
RBM_ARGUMENTS = (
    "X", "n_visible", "n_hidden", "visible", "hidden", "dtype", "epochs", "batch_size", "lr", "k", "persistent",
    "n_chains", "momentum", "seed", "weight_decay", "monitor_size", "sparsity_target", "sparsity_cost",
)
CLASSIFIER_ARGUMENTS = (
    "X", "y", "hidden_layer_sizes", "visible", "hidden", "pretrain_epochs", "pretrain_learning_rate", "k",
    "finetune_epochs", "finetune_learning_rate", "batch_size", "validation_fraction", "n_iter_no_change",
    "random_state", "lr",
)

DTYPES = {"float32": np.float32, "float64": np.float64, "int": np.int64, "bool": np.bool_}
KINDS = ("unit", "unit", "binary", "binary", "normal", "huge", "negative", "above-one")


def names_an_argument(message: str, arguments: tuple[str, ...]) -> bool:
    """Whether ``message`` names one of ``arguments`` as a word (``X``, ``X (batch 2)``, ``'lr'``)."""
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", message) for name in arguments)


@st.composite
def data(draw: st.DrawFn, max_rows: int = 40, max_features: int = 12) -> np.ndarray:
    """A 2-D array of a random shape, dtype and kind of values, perhaps with a NaN or infinity in it."""
    rows, features = draw(st.integers(1, max_rows)), draw(st.integers(1, max_features))
    dtype, kind = draw(st.sampled_from(sorted(DTYPES))), draw(st.sampled_from(KINDS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = {
        "unit": lambda: rng.random((rows, features)),
        "binary": lambda: rng.random((rows, features)) > 0.5,
        "normal": lambda: rng.normal(size=(rows, features)),
        "huge": lambda: rng.normal(size=(rows, features)) * draw(st.sampled_from([1e20, 1e30, 3e38, 1e300])),
        "negative": lambda: -rng.random((rows, features)),
        "above-one": lambda: 1 + rng.random((rows, features)),
    }[kind]()
    special = draw(st.sampled_from([None] * 6 + [np.nan, np.inf, -np.inf]))
    if special is not None and dtype in ("float32", "float64"):
        values = np.array(values, dtype=np.float64)
        values[draw(st.integers(0, rows - 1)), draw(st.integers(0, features - 1))] = special
    with np.errstate(all="ignore"):  # casting huge values to float32 or ints is part of the fuzz
        return np.asarray(values).astype(DTYPES[dtype])


#: option values the models accept, and values they must refuse (at most one option is broken per draw)
RBM_GOOD = {
    "epochs": [1, 2],
    "batch_size": [1, 7, 100],
    "lr": [None, 1e-3, 0.1, 10.0],
    "k": [1, 3],
    "persistent": [False, True],
    "momentum": [0.0, 0.5, 0.99],
    "seed": [None, 0, 123, 2**63 - 1],
}
RBM_BAD = {
    "epochs": [0, -1, 1.5, "2"],
    "batch_size": [0, -3, 2.5],
    "lr": [0.0, -1.0, float("nan"), float("inf")],
    "k": [0, 1.5],
    "persistent": ["no", 1],
    "momentum": [1.0, 1.5, -0.1, "x"],
}


@st.composite
def options(draw: st.DrawFn, good: dict[str, list], bad: dict[str, list]) -> dict[str, Any]:
    """Accepted values for every option, then, in a third of the draws, one option given a refused value."""
    chosen = {name: draw(st.sampled_from(values)) for name, values in good.items()}
    broken = draw(st.sampled_from([None] * (2 * len(bad)) + sorted(bad)))
    if broken is not None:
        chosen[broken] = draw(st.sampled_from(bad[broken]))
    return chosen


def check_refusal(error: Exception, arguments: tuple[str, ...]) -> None:
    """A refusal must be a ``ValueError`` or ``TypeError`` naming an argument."""
    if not isinstance(error, (ValueError, TypeError)):
        raise error
    assert names_an_argument(str(error), arguments), f"the message names no argument: {error}"


CONTAINERS = ("array", "array", "tensor", "list", "batches", "generator")
#: fixed examples tried before the random ones: inputs that once crashed or were silently mangled
UNIT = np.random.default_rng(0).random((24, 6)).astype(np.float32)
HUGE_GAUSSIAN = (np.random.default_rng(1).normal(size=(24, 6)) * 1e20).astype(np.float32)
BERNOULLI = {"n_hidden": 3, "visible": "bernoulli", "hidden": "bernoulli", "dtype": torch.float32}
GAUSSIAN = {"n_hidden": 3, "visible": "gaussian", "hidden": "bernoulli", "dtype": torch.float32}
RBM_DEFAULTS = {name: values[0] for name, values in RBM_GOOD.items()}


def wrap(X: np.ndarray, container: str) -> Any:
    """``X`` as training data of the kind ``container``: an array, a tensor, nested lists, batches."""
    chunks = [X[start:start + 5] for start in range(0, X.shape[0], 5)]
    return {
        "array": lambda: X,
        "tensor": lambda: torch.as_tensor(X),
        "list": lambda: X.tolist(),
        "batches": lambda: chunks,
        "generator": lambda: (chunk for chunk in chunks),
    }[container]()


def truthful(error: Exception, X: np.ndarray) -> None:
    """A message that blames NaN or infinity in the data is only raised for data that holds them."""
    if "contains NaN or infinity" in str(error) and str(error).startswith("X"):
        assert not np.isfinite(X.astype(np.float64)).all(), f"finite data reported as non-finite: {error}"


def fit_and_transform(X: np.ndarray, model: dict[str, Any], options: dict[str, Any], container: str = "array") -> None:
    """Train an RBM on ``X`` and transform ``X``: finite features of shape (rows, n_hidden), or a clear refusal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rbm = RBM(X.shape[1], model["n_hidden"], visible=model["visible"], hidden=model["hidden"],
                      dtype=model["dtype"]).fit(wrap(X, container), progress=False, **options)
            features = rbm.transform(X)
    except Exception as error:  # every exception is examined: only clear refusals pass
        check_refusal(error, RBM_ARGUMENTS)
        truthful(error, X)
        return
    assert container != "generator", "a one-shot generator was accepted"
    assert features.shape == (X.shape[0], model["n_hidden"])
    assert np.isfinite(features).all(), "transform returned NaN or infinity"
    assert torch.isfinite(rbm.data_std).all() and bool((rbm.data_std > 0).all()), "a column was standardised away"


RBM_MODEL = st.fixed_dictionaries({
    "n_hidden": st.integers(1, 8),
    "visible": st.sampled_from(["bernoulli", "gaussian"]),
    "hidden": st.sampled_from(["bernoulli", "relu", "gaussian"]),
    "dtype": st.sampled_from([torch.float32, torch.float64]),
})


@settings(FUZZ, max_examples=200)
@given(X=data(), model=RBM_MODEL, chosen=options(RBM_GOOD, RBM_BAD), container=st.sampled_from(CONTAINERS))
@example(X=UNIT, model=BERNOULLI, chosen=RBM_DEFAULTS, container="generator")  # a one-shot generator
@example(X=HUGE_GAUSSIAN, model=GAUSSIAN, chosen=RBM_DEFAULTS, container="array")  # squares overflow float32
@example(X=HUGE_GAUSSIAN, model=GAUSSIAN, chosen=RBM_DEFAULTS, container="batches")
@example(X=UNIT.astype(np.float64) * 1e300, model=GAUSSIAN, chosen=RBM_DEFAULTS, container="array")  # beyond float32
def test_rbm_fit_and_transform(X: np.ndarray, model: dict[str, Any], chosen: dict[str, Any], container: str) -> None:
    fit_and_transform(X, model, chosen, container)


@settings(FUZZ, max_examples=20)
@given(rows=st.integers(1, 8), model=RBM_MODEL, seed=st.sampled_from([-1, 2**63, 2**70, 1.5, "a", True]))
def test_rbm_fit_refuses_bad_seeds(rows: int, model: dict[str, Any], seed: Any) -> None:
    X = np.random.default_rng(rows).random((rows, 3))
    rbm = RBM(3, model["n_hidden"], visible=model["visible"], hidden=model["hidden"], dtype=model["dtype"])
    with pytest.raises((TypeError, ValueError), match=r"seed must be"):
        rbm.fit(X, epochs=1, seed=seed, progress=False)


@st.composite
def labelled(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Data (:func:`data`) and class labels of a random kind: a few integer classes, strings, or continuous values."""
    X = draw(data())
    kind = draw(st.sampled_from(["int", "int", "str", "continuous"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "continuous":
        return X, rng.random(X.shape[0])
    codes = rng.integers(0, draw(st.integers(1, 4)), X.shape[0])
    return X, np.array(["cat", "dog", "eel", "fox"])[codes] if kind == "str" else codes


CLASSIFIER_GOOD = {
    "hidden_layer_sizes": [1, 5, (8,), (3, 2), [4, 8]],
    "visible": ["bernoulli", "gaussian"],
    "hidden": ["bernoulli", "relu", "gaussian"],
    "pretrain_epochs": [1, 2],
    "finetune_epochs": [1, 3],
    "batch_size": [1, 8, 100],
    "pretrain_learning_rate": [None, 0.01, 10.0],
    "finetune_learning_rate": [None, 0.01, 10.0],
    "k": [1, 2],
    "validation_fraction": [0.0, 0.0, 0.1, 0.5],
    "random_state": [None, 0, 7],
}
CLASSIFIER_DEFAULTS = {name: values[0] for name, values in CLASSIFIER_GOOD.items()} | {"validation_fraction": 0.1}
CLASSIFIER_BAD = {
    "pretrain_epochs": [0],
    "finetune_epochs": [0],
    "batch_size": [0],
    "pretrain_learning_rate": [-1.0],
    "finetune_learning_rate": [0.0],
    "k": [0],
    "validation_fraction": [0.99, 1.0],
}


@settings(FUZZ, max_examples=120)
@given(Xy=labelled(), chosen=options(CLASSIFIER_GOOD, CLASSIFIER_BAD))
@example(Xy=(UNIT, np.linspace(0, 1, 24)), chosen=CLASSIFIER_DEFAULTS)  # continuous labels
@example(Xy=(UNIT[:1], np.array([3])), chosen=CLASSIFIER_DEFAULTS)  # one row, no room for a validation row
@example(Xy=(UNIT[:10], np.arange(10) % 4), chosen=CLASSIFIER_DEFAULTS)  # a validation row for each of 4 classes
@example(Xy=(UNIT, np.array(["a", 1] * 12, dtype=object)), chosen=CLASSIFIER_DEFAULTS)  # strings and numbers
def test_classifier_fit_and_predict(Xy: tuple[np.ndarray, np.ndarray], chosen: dict[str, Any]) -> None:
    X, y = Xy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = DBNClassifier(device="cpu", **chosen).fit(X, y)
            predicted = classifier.predict(X)
    except Exception as error:  # every exception is examined: only clear refusals pass
        check_refusal(error, CLASSIFIER_ARGUMENTS)
        return
    assert predicted.shape == (X.shape[0],)
    assert set(predicted.tolist()) <= set(classifier.classes_.tolist())
    assert np.isfinite(classifier.predict_proba(X)).all()
