"""The scikit-learn estimators: the estimator checks, pipelines and searches, pickling, errors."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from dbn.config import CDConfig, TrainConfig, hinton_momentum
from dbn.sklearn import (
    FINETUNE_TRAIN_FIELDS,
    PRETRAIN_CD_FIELDS,
    TRANSFORMER_CD_FIELDS,
    ClassRBMClassifier,
    DBNClassifier,
    DBNRegressor,
    RBMTransformer,
)

SMALL_DBN = {
    "hidden_layer_sizes": (16,), "pretrain_epochs": 2, "finetune_epochs": 30, "batch_size": 20, "device": "cpu"
}

# The estimator checks, on small fast instances with the default validation_fraction: where the
# checks' tiny data sets are too small for a stratified hold-out, fit warns and fine-tunes on all rows.
GAUSSIAN_INSTANCES = [
    RBMTransformer(8, visible="gaussian", n_iter=3, batch_size=20, device="cpu"),
    DBNClassifier(visible="gaussian", **SMALL_DBN),
    DBNRegressor(visible="gaussian", **SMALL_DBN),
    ClassRBMClassifier(16, visible="gaussian", n_iter=20, learning_rate=0.2, batch_size=20, device="cpu"),
]
BERNOULLI_INSTANCES = [
    RBMTransformer(8, n_iter=3, batch_size=20, device="cpu"),
    DBNClassifier(**SMALL_DBN),
    DBNRegressor(**SMALL_DBN),
    ClassRBMClassifier(16, n_iter=20, learning_rate=0.2, batch_size=20, device="cpu"),
]

# Checks whose data leave [0, 1]. Bernoulli visible units model probabilities and reject such data
# with a ValueError by design; scikit-learn has no tag for a [0, 1] input range (the positive_only
# tag these instances set only shifts the checks' data to X >= 0, leaving values above 1). Each of
# these checks passes for the same estimator with visible="gaussian" (GAUSSIAN_INSTANCES), which
# runs the same code with any real data. For visible="bernoulli" each must raise the exception
# named here, caused by exactly this ValueError: another exception, or a pass, fails the test.
OUT_OF_RANGE_ERROR = r"X must lie in \[0, 1\] for Bernoulli visible units"
# check_fit2d_1sample and check_fit2d_1feature accept a ValueError only if it speaks of the one
# sample or feature they fit on, and raise an AssertionError from any other.
RANGE_CHECKS: dict[str, type[Exception]] = {
    "check_estimators_overwrite_params": ValueError,
    "check_dont_overwrite_parameters": ValueError,
    "check_estimators_fit_returns_self": ValueError,
    "check_readonly_memmap_input": ValueError,
    "check_n_features_in_after_fitting": ValueError,
    "check_estimators_dtypes": ValueError,
    "check_pipeline_consistency": ValueError,
    "check_estimators_pickle": ValueError,
    "check_f_contiguous_array_estimator": ValueError,
    "check_methods_sample_order_invariance": ValueError,
    "check_methods_subset_invariance": ValueError,
    "check_fit2d_1sample": AssertionError,
    "check_fit2d_1feature": AssertionError,
    "check_dict_unchanged": ValueError,
    "check_fit_idempotent": ValueError,
    "check_fit_check_is_fitted": ValueError,
    "check_n_features_in": ValueError,
    "check_fit2d_predict1d": ValueError,
}
# Per estimator, the checks of its kind whose data leave [0, 1], and None for a shared check it passes.
RANGE_CHECKS_BY_KIND: dict[type, dict[str, type[Exception] | None]] = {
    RBMTransformer: {
        "check_transformer_data_not_an_array": ValueError,
        "check_transformer_general": ValueError,
        "check_transformer_preserve_dtypes": ValueError,
    },
    DBNClassifier: {
        "check_classifier_data_not_an_array": ValueError,
        "check_classifiers_classes": ValueError,
        "check_classifiers_train": ValueError,
    },
    ClassRBMClassifier: {
        "check_classifier_data_not_an_array": ValueError,
        "check_classifiers_classes": ValueError,
        "check_classifiers_train": ValueError,
        "check_fit2d_1sample": None,  # its one-class error names the one class the check fits on
    },
    DBNRegressor: {
        "check_regressors_train": ValueError,
        "check_regressor_data_not_an_array": ValueError,
        "check_regressor_multioutput": ValueError,
        "check_regressors_no_decision_function": ValueError,
        "check_regressors_int": ValueError,
    },
}


def expected_failure(estimator, check) -> type[Exception] | None:
    """The exception ``check`` must raise for ``estimator`` (its data leave [0, 1]), or None."""
    if estimator.visible != "bernoulli":
        return None
    check = inspect.unwrap(check)
    name = check.func.__name__ if isinstance(check, functools.partial) else check.__name__
    return {**RANGE_CHECKS, **RANGE_CHECKS_BY_KIND[type(estimator)]}.get(name)


def root_cause(error: BaseException) -> BaseException:
    """The first exception of the chain that ``raise ... from`` built."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


@parametrize_with_checks(GAUSSIAN_INSTANCES + BERNOULLI_INSTANCES)
def test_estimator_checks(estimator, check) -> None:
    expected = expected_failure(estimator, check)
    if expected is None:
        check(estimator)
        return
    with pytest.raises(expected) as caught:
        check(estimator)
    cause = root_cause(caught.value)
    assert isinstance(cause, ValueError) and re.search(OUT_OF_RANGE_ERROR, str(cause)), f"unexpected failure: {cause!r}"


# ------------------------------------------------------------------- hyper-parameters -> configurations

#: hyper-parameters that describe the model or the call rather than a training configuration
STRUCTURE_AND_CALL = {"visible", "hidden", "device", "random_state", "verbose"}


def test_every_hyper_parameter_sets_a_config_field_or_describes_the_model() -> None:
    assert set(RBMTransformer().get_params()) == {*TRANSFORMER_CD_FIELDS, "n_components", *STRUCTURE_AND_CALL}
    # unlabeled describes the data: which label marks the rows that only pretrain
    for estimator, data in ((DBNClassifier(), {"unlabeled"}), (DBNRegressor(), set())):
        expected = {*PRETRAIN_CD_FIELDS, *FINETUNE_TRAIN_FIELDS, "hidden_layer_sizes", "dtype", *STRUCTURE_AND_CALL,
                    *data}
        assert set(estimator.get_params()) == expected
    cd_fields = {spec.name for spec in dataclasses.fields(CDConfig)}
    assert {*TRANSFORMER_CD_FIELDS.values(), *PRETRAIN_CD_FIELDS.values()} <= cd_fields
    assert set(FINETUNE_TRAIN_FIELDS.values()) <= {spec.name for spec in dataclasses.fields(TrainConfig)}


def test_fit_trains_with_the_configurations_the_hyper_parameters_describe(split) -> None:
    X, y = split[0][:200], split[2][:200]
    options = {"device": "cpu", "random_state": 0}
    transformer = RBMTransformer(
        8, learning_rate=0.05, batch_size=25, n_iter=2, k=2, persistent=True, momentum=0.3, weight_decay=1e-4, **options
    ).fit(X)
    assert transformer.rbm_.fit_config_ == CDConfig(
        epochs=2, batch_size=25, lr=0.05, k=2, persistent=True, momentum=0.3, weight_decay=1e-4, monitor_every=2
    )  # without verbose, the monitors measure the last epoch only
    assert transformer.partial_fit(X).rbm_.fit_config_ == transformer.rbm_.fit_config_.replace(epochs=1)
    default = RBMTransformer(8, n_iter=1, **options).fit(X)  # momentum=None: Hinton's schedule; lr=None: 0.1
    assert default.rbm_.fit_config_ == CDConfig(epochs=1, batch_size=10, lr=0.1, momentum=hinton_momentum)
    verbose = RBMTransformer(8, n_iter=3, verbose=True, **options).fit(X)
    assert verbose.rbm_.fit_config_.monitor_every == 1
    classifier = DBNClassifier(
        (8,), pretrain_epochs=2, pretrain_learning_rate=0.05, k=2, finetune_epochs=3, finetune_learning_rate=0.01,
        optimizer="adam", batch_size=50, weight_decay=1e-4, validation_fraction=0.2, n_iter_no_change=None, tol=0.01,
        **options,
    ).fit(X, y)
    assert classifier.dbn_.layer_configs == [
        CDConfig(epochs=2, batch_size=50, lr=0.05, k=2, weight_decay=1e-4, monitor_every=2)
    ]
    assert classifier.dbn_.finetune_config_ == TrainConfig(
        epochs=3, batch_size=50, lr=0.01, optimizer="adam", weight_decay=1e-4, validation_fraction=0.2, patience=None,
        min_delta=0.01,
    )


# ---------------------------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(split):
    """One fitted instance of each estimator, on the digits (pixels in [0, 1], float32)."""
    X_train, _, y_train, _ = split
    transformer = RBMTransformer(32, n_iter=3, batch_size=20, device="cpu", random_state=0).fit(X_train)
    options = {"pretrain_epochs": 3, "device": "cpu", "random_state": 0}
    classifier = DBNClassifier((64,), finetune_epochs=20, **options).fit(X_train, y_train)
    targets = np.column_stack([X_train.mean(1), X_train[:, :32].sum(1)])
    regressor = DBNRegressor((32,), finetune_epochs=30, **options).fit(X_train, targets)
    return transformer, classifier, regressor


# ------------------------------------------------------------------------------------- RBMTransformer


def test_pipeline_grid_search_on_digits(split) -> None:
    X_train, X_test, y_train, y_test = split
    pipeline = Pipeline([
        ("rbm", RBMTransformer(n_iter=5, batch_size=20, device="cpu", random_state=0)),
        ("logistic", LogisticRegression(C=100.0, max_iter=500)),
    ])
    search = GridSearchCV(pipeline, {"rbm__n_components": [8, 64]}, cv=2).fit(X_train, y_train)
    assert search.best_params_ == {"rbm__n_components": 64}
    assert search.score(X_test, y_test) > 0.9


def test_transform_is_the_hidden_means_and_inverse_transform_reconstructs(fitted, split) -> None:
    transformer = fitted[0]
    X = split[1][:50]
    H = transformer.transform(X)
    assert H.shape == (50, 32) and H.dtype == np.float32
    assert np.allclose(H, transformer.rbm_.hidden_probs(X).detach().numpy())
    reconstruction = transformer.inverse_transform(H)
    assert reconstruction.shape == X.shape
    assert np.allclose(reconstruction, transformer.rbm_.reconstruct(X).numpy(), atol=1e-6)
    names = transformer.get_feature_names_out()
    assert names[0] == "rbmtransformer0" and len(names) == 32


def test_float64_data_gives_a_float64_model() -> None:
    X = np.random.default_rng(0).random((40, 5))
    transformer = RBMTransformer(4, n_iter=1, device="cpu", random_state=0).fit(X)
    assert transformer.rbm_.dtype == torch.float64
    assert transformer.transform(X).dtype == np.float64


@pytest.mark.parametrize(("dtype", "expected"), [("float32", torch.float32), (None, torch.float64)])
def test_dbn_estimators_train_in_float32_unless_told_to_follow_the_data(dtype, expected) -> None:
    X = np.random.default_rng(0).random((60, 5))  # float64, as scikit-learn's scalers give
    y = (X[:, 0] > 0.5).astype(int)
    for make in (DBNClassifier, DBNRegressor):
        model = make((4,), pretrain_epochs=1, finetune_epochs=2, dtype=dtype, device="cpu", random_state=0)
        model.fit(X, y)
        assert model.dbn_.dtype == expected
        outputs = model.predict_proba if make is DBNClassifier else model.predict
        assert outputs(X).dtype == np.float64  # the dtype of the X they are computed from
        assert outputs(X.astype(np.float32)).dtype == np.float32


def test_the_regressor_defaults_to_relu_units_and_adam_and_its_docstring_says_so() -> None:
    regressor, classifier = DBNRegressor().get_params(), DBNClassifier().get_params()
    assert (regressor["hidden"], regressor["optimizer"]) == ("relu", "adam")
    assert (classifier["hidden"], classifier["optimizer"]) == ("bernoulli", "sgd")
    assert 'default="relu"' in DBNRegressor.__doc__ and 'default="adam"' in DBNRegressor.__doc__
    assert 'default="bernoulli"' in DBNClassifier.__doc__ and 'default="sgd"' in DBNClassifier.__doc__
    assert "{default_" not in DBNRegressor.__doc__ + DBNClassifier.__doc__


def test_score_samples_is_the_exact_pseudo_likelihood(fitted, split) -> None:
    transformer = fitted[0]
    X = split[1][:20]
    rbm = transformer.rbm_
    V = torch.as_tensor(X)
    expected = torch.zeros(len(X), dtype=torch.float64)
    with torch.no_grad():
        for unit in range(X.shape[1]):
            flipped = V.clone()
            flipped[:, unit] = 1 - flipped[:, unit]
            expected += torch.nn.functional.logsigmoid(rbm.free_energy(flipped) - rbm.free_energy(V)).double()
    scores = transformer.score_samples(X)
    assert scores.shape == (20,) and np.all(scores <= 0)
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-4)
    # deterministic and row-wise: a subset or a permutation scores the same rows the same
    np.testing.assert_array_equal(transformer.score_samples(X[::-1]), scores[::-1])
    np.testing.assert_allclose(transformer.score_samples(X[:3]), scores[:3], rtol=1e-5)  # float32 precision


def test_score_samples_exists_only_for_bernoulli_visible_units() -> None:
    assert hasattr(RBMTransformer(), "score_samples")
    assert not hasattr(RBMTransformer(visible="gaussian"), "score_samples")


def test_partial_fit_once_equals_one_epoch_of_fit(split) -> None:
    X = split[0]
    one_call = RBMTransformer(16, batch_size=20, device="cpu", random_state=3).partial_fit(X)
    one_epoch = RBMTransformer(16, n_iter=1, batch_size=20, device="cpu", random_state=3).fit(X)
    assert len(one_call.rbm_.history_) == 1
    torch.testing.assert_close(one_call.rbm_.weight, one_epoch.rbm_.weight)


def test_partial_fit_over_chunks_approaches_fit(split) -> None:
    X_train, X_test = split[0], split[1]
    options = {"n_components": 32, "batch_size": 20, "device": "cpu"}
    full = RBMTransformer(n_iter=5, random_state=0, **options).fit(X_train)
    chunked = RBMTransformer(random_state=0, **options)
    chunked.partial_fit(X_train[:20])
    start = chunked.score_samples(X_test).mean()
    rng = np.random.default_rng(0)
    for _ in range(5):
        for chunk in np.array_split(X_train[rng.permutation(len(X_train))], 6):
            chunked.partial_fit(chunk)
    target, reached = full.score_samples(X_test).mean(), chunked.score_samples(X_test).mean()
    assert (reached - start) > 0.8 * (target - start) > 0  # at least 80% of fit's improvement
    with pytest.raises(ValueError, match="features"):
        chunked.partial_fit(X_train[:10, :10])


def test_persistent_chains_and_a_momentum_function(split) -> None:
    X = split[0][:200]
    transformer = RBMTransformer(
        8, n_iter=2, persistent=True, momentum=lambda epoch: 0.5, device=torch.device("cpu"), random_state=0
    )
    transformer.fit(X).partial_fit(X)
    assert transformer.rbm_.persistent_chains_.shape == (10, 64)
    assert [record["momentum"] for record in transformer.rbm_.history_] == [0.5] * 3


def test_gaussian_visible_units_accept_any_real_data() -> None:
    X = np.random.default_rng(0).normal(5.0, 3.0, size=(100, 6)).astype(np.float32)
    transformer = RBMTransformer(4, visible="gaussian", n_iter=2, device="cpu", random_state=0).fit(X)
    assert transformer.transform(X).shape == (100, 4)
    assert transformer.inverse_transform(transformer.transform(X)).mean() == pytest.approx(5.0, abs=1.0)


# ------------------------------------------------------------------------------------- DBN estimators


def test_classifier_on_digits(fitted, split) -> None:
    classifier = fitted[1]
    X_test, y_test = split[1], split[3]
    np.testing.assert_array_equal(classifier.classes_, np.arange(10))
    assert classifier.score(X_test, y_test) > 0.9
    proba = classifier.predict_proba(X_test)
    assert proba.dtype == np.float32 and proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(classifier.predict(X_test), classifier.classes_[proba.argmax(1)])


def test_classifier_with_string_labels(split) -> None:
    X_train, X_test, y_train, y_test = split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    classifier = DBNClassifier((32,), pretrain_epochs=2, finetune_epochs=15, device="cpu", random_state=0)
    classifier.fit(X_train, names[y_train])
    np.testing.assert_array_equal(classifier.classes_, np.sort(names))
    predicted = classifier.predict(X_test)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    assert classifier.score(X_test, names[y_test]) > 0.85


def test_regressor_single_and_multi_output(fitted, split) -> None:
    regressor = fitted[2]
    X_test = split[1]
    targets = np.column_stack([X_test.mean(1), X_test[:, :32].sum(1)])
    predicted = regressor.predict(X_test)
    assert predicted.shape == targets.shape and predicted.dtype == np.float32
    assert regressor.score(X_test, targets) > 0.8
    single = DBNRegressor((16,), pretrain_epochs=2, finetune_epochs=20, device="cpu", random_state=0)
    single.fit(split[0], 1000.0 * split[0].mean(1))  # the targets' scale does not matter
    assert single.predict(X_test).shape == (len(X_test),)
    assert single.score(X_test, 1000.0 * X_test.mean(1)) > 0.8


def test_same_random_state_gives_the_same_model(split) -> None:
    X, y = split[0][:300], split[2][:300]
    first = DBNClassifier((8,), pretrain_epochs=1, finetune_epochs=3, device="cpu", random_state=7).fit(X, y)
    second = clone(first).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    other = clone(first).set_params(random_state=8).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


def test_pickle_round_trips_give_identical_predictions(fitted, split) -> None:
    X = split[1]
    transformer, classifier, regressor = (pickle.loads(pickle.dumps(estimator)) for estimator in fitted)
    np.testing.assert_array_equal(transformer.transform(X), fitted[0].transform(X))
    np.testing.assert_array_equal(transformer.score_samples(X), fitted[0].score_samples(X))
    np.testing.assert_array_equal(classifier.predict_proba(X), fitted[1].predict_proba(X))
    np.testing.assert_array_equal(classifier.predict(X), fitted[1].predict(X))
    np.testing.assert_array_equal(regressor.predict(X), fitted[2].predict(X))


# ------------------------------------------------------------------------------------------- errors


def test_bernoulli_visible_units_train_on_the_unit_interval_and_clip_at_inference(fitted) -> None:
    X = np.random.default_rng(0).random((20, 64))
    for estimator in (RBMTransformer(4, device="cpu"), DBNClassifier((4,), device="cpu")):
        with pytest.raises(ValueError, match="Negative values in data"):
            estimator.fit(X - 0.5, np.arange(20) % 2)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            estimator.fit(X + 0.5, np.arange(20) % 2)
    # inference clips instead: a scaler fitted on other rows leaves values just outside [0, 1]
    np.testing.assert_array_equal(fitted[0].transform(X * 2), fitted[0].transform(np.clip(X * 2, 0, 1)))
    np.testing.assert_array_equal(fitted[0].score_samples(X * 2), fitted[0].score_samples(np.clip(X * 2, 0, 1)))


def test_documented_errors(fitted) -> None:
    X = np.random.default_rng(0).random((20, 64))
    with pytest.raises(NotFittedError):
        RBMTransformer().transform(X)
    with pytest.raises(NotFittedError):
        DBNClassifier().predict(X)
    with pytest.raises(ValueError, match="X has 5 features, but RBMTransformer is expecting 64"):
        fitted[0].transform(X[:, :5])
    with pytest.raises(ValueError, match="expects 32"):
        fitted[0].inverse_transform(X[:, :5])
    with pytest.raises(ValueError, match="X has 5 features, but DBNClassifier is expecting 64"):
        fitted[1].predict(X[:, :5])
    with pytest.raises(InvalidParameterError, match="n_components"):
        RBMTransformer(0).fit(X)
    with pytest.raises(InvalidParameterError, match="momentum"):
        RBMTransformer(momentum=1.5).fit(X)
    with pytest.raises(InvalidParameterError, match="optimizer"):
        DBNClassifier(optimizer="lbfgs").fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="device"):
        RBMTransformer(4, device="abacus").fit(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        DBNClassifier((4,), device="cpu").fit(X, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        DBNRegressor((4,), device="cpu").fit(X, np.full(20, np.nan))


def test_labels_are_checked_before_any_training() -> None:
    X = np.random.default_rng(0).random((20, 64))
    classifier = DBNClassifier((4,), device="cpu")
    with pytest.raises(ValueError, match="Unknown label type"):
        classifier.fit(X, np.linspace(0, 1, 20))
    assert not hasattr(classifier, "dbn_")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device(split) -> None:
    X_train, X_test, y_train, _ = split
    transformer = RBMTransformer(16, n_iter=2, device="cuda", random_state=0).fit(X_train)
    assert transformer.rbm_.device.type == "cuda"
    assert isinstance(transformer.transform(X_test), np.ndarray)
    classifier = DBNClassifier((16,), pretrain_epochs=1, finetune_epochs=2, device="auto", random_state=0)
    classifier.fit(X_train, y_train)
    assert classifier.dbn_.device.type == "cuda"
    assert classifier.predict(X_test).shape == (len(X_test),)
