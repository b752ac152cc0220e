"""The estimators as scikit-learn users use them: a scaler fitted on the training folds only (so the
test folds hold values outside [0, 1]), cross-validation and a grid search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from dbn.datasets import load_digits
from dbn.sklearn import DBNClassifier, DBNRegressor, RBMTransformer

FOLDS = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:600] * 16, y[:600]  # the original 0-16 grey levels: the scaler has work to do


def test_a_scaler_fitted_on_other_rows_leaves_test_values_outside_the_unit_interval(digits):
    X, y = digits
    train, test = next(FOLDS.split(X, y))
    scaled = MinMaxScaler().fit(X[train]).transform(X[test])
    assert scaled.min() < 0 or scaled.max() > 1  # what the estimators must accept at inference


def test_a_scaler_fitted_on_the_training_rows_themselves_may_round_past_one_and_fit_accepts_it():
    X = np.random.default_rng(0).normal(size=(300, 20)) * 3.7 + 1.3
    y = (X[:, 0] > 1.3).astype(int)
    scaled = MinMaxScaler().fit_transform(X)
    assert scaled.max() > 1  # 1 + 2e-16: the scaler's own rounding
    model = make_pipeline(MinMaxScaler(), DBNClassifier((16,), pretrain_epochs=1, finetune_epochs=2, random_state=0))
    assert model.fit(X, y).score(X, y) > 0.5
    features = make_pipeline(MinMaxScaler(), RBMTransformer(8, n_iter=1, random_state=0)).fit(X)
    assert np.isfinite(features.transform(X)).all()


@pytest.mark.parametrize("value", [1 + 5e-7, -5e-7])
def test_a_sparse_matrix_gets_no_rounding_tolerance(value):
    import scipy.sparse as sp

    X = sp.random(50, 20, density=0.3, format="csr", random_state=0)
    X.data[0] = value  # densified batch by batch without clipping, so held to [0, 1]
    with pytest.raises(ValueError, match=r"\[0, 1\]|Negative values"):
        RBMTransformer(8, n_iter=1, random_state=0).fit(X)


def test_cross_validation_of_a_scaled_dbn_classifier(digits):
    X, y = digits
    model = make_pipeline(MinMaxScaler(), DBNClassifier((32,), pretrain_epochs=2, finetune_epochs=20, random_state=0))
    scores = cross_val_score(model, X, y, cv=FOLDS, error_score="raise")
    assert np.all(np.isfinite(scores)) and scores.mean() > 0.8


def test_cross_validation_of_rbm_features(digits):
    X, y = digits
    features = RBMTransformer(32, n_iter=3, random_state=0)
    model = make_pipeline(MinMaxScaler(), features, LogisticRegression(max_iter=500))
    scores = cross_val_score(model, X, y, cv=FOLDS, error_score="raise")
    assert np.all(np.isfinite(scores)) and scores.mean() > 0.7


def test_grid_search_over_a_pipeline(digits):
    X, y = digits
    model = make_pipeline(MinMaxScaler(), DBNClassifier((16,), pretrain_epochs=1, finetune_epochs=10, random_state=0))
    search = GridSearchCV(model, {"dbnclassifier__finetune_learning_rate": [0.1, 0.5]}, cv=FOLDS, error_score="raise")
    search.fit(X, y)
    assert search.best_params_["dbnclassifier__finetune_learning_rate"] in (0.1, 0.5)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize(
    ("make", "X_rows", "y"),
    [
        (lambda: DBNClassifier((8,), pretrain_epochs=1, finetune_epochs=3, random_state=0), 5, [0, 0, 0, 0, 1]),
        (lambda: DBNRegressor((8,), pretrain_epochs=1, finetune_epochs=3, random_state=0), 1, [1.0]),
    ],
    ids=["a-class-of-one-row", "one-row"],
)
def test_too_few_rows_for_the_validation_split_warn_and_train_on_all_rows(digits, make, X_rows, y):
    X = digits[0][:X_rows] / 16
    with pytest.warns(UserWarning, match="validation_fraction=0.1 .*on all rows without a validation split"):
        estimator = make().fit(X, y)
    assert estimator.dbn_.finetune_config_.validation_fraction == 0.0
    assert all(record["val_loss"] is None for record in estimator.dbn_.finetune_history_)
    assert np.isfinite(estimator.predict(X)).all() if X_rows == 1 else set(estimator.predict(X)) <= {0, 1}
