"""Semi-supervised learning: every row pretrains, the labeled rows fine-tune."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from dbn.sklearn import DBNClassifier
from dbn.stack import DeepBeliefNet

SMALL = {"hidden_layer_sizes": (32,), "pretrain_epochs": 3, "finetune_epochs": 30, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits in [0, 1], their labels, and the labels with four rows in five hidden as -1."""
    X, y = load_digits(return_X_y=True)
    hidden = np.random.default_rng(0).random(len(y)) < 0.8
    return X / 16.0, y, np.where(hidden, -1, y)


@pytest.fixture
def rows_seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The number of rows that pretraining and fine-tuning receive."""
    seen: dict[str, int] = {}
    pretrain, finetune = DeepBeliefNet.pretrain, DeepBeliefNet.finetune

    def spy_pretrain(self, X, *args, **kwargs):
        seen["pretrain"] = len(X)
        return pretrain(self, X, *args, **kwargs)

    def spy_finetune(self, X, y=None, *args, **kwargs):
        seen["finetune"] = len(X)
        return finetune(self, X, y, *args, **kwargs)

    monkeypatch.setattr(DeepBeliefNet, "pretrain", spy_pretrain)
    monkeypatch.setattr(DeepBeliefNet, "finetune", spy_finetune)
    return seen


def test_every_row_pretrains_and_labeled_rows_finetune(digits, rows_seen):
    X, _, y_semi = digits
    clf = DBNClassifier(unlabeled=-1, **SMALL).fit(X, y_semi)
    assert rows_seen == {"pretrain": len(X), "finetune": int((y_semi != -1).sum())}
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert -1 not in clf.predict(X)


def test_semi_supervised_predicts_the_hidden_labels(digits):
    X, y, y_semi = digits
    hidden = y_semi == -1
    clf = DBNClassifier(unlabeled=-1, **SMALL).fit(X, y_semi)
    assert clf.score(X[hidden], y[hidden]) > 0.85


def test_without_unlabeled_minus_one_is_a_class(digits, rows_seen):
    X, _, y_semi = digits
    clf = DBNClassifier(**SMALL).fit(X, y_semi)
    assert rows_seen["finetune"] == len(X)
    assert clf.classes_[0] == -1 and len(clf.classes_) == 11


def test_string_labels_with_a_string_marker(digits, rows_seen):
    X, y, y_semi = digits
    names = np.array([f"digit {label}" for label in y], dtype=object)
    names[y_semi == -1] = "?"
    clf = DBNClassifier(unlabeled="?", **SMALL).fit(X, names)
    assert "?" not in clf.classes_ and len(clf.classes_) == 10
    assert rows_seen["finetune"] == int((y_semi != -1).sum())


def test_every_row_labeled_trains_as_supervised(digits):
    X, y, _ = digits
    supervised = DBNClassifier(**SMALL).fit(X, y)
    marked = DBNClassifier(unlabeled=-1, **SMALL).fit(X, y)
    np.testing.assert_array_equal(supervised.predict_proba(X), marked.predict_proba(X))


def test_no_labeled_row_is_refused_before_training(digits, rows_seen):
    X, _, _ = digits
    with pytest.raises(ValueError, match=r"no labeled row.*unlabeled=-1"):
        DBNClassifier(unlabeled=-1, **SMALL).fit(X, np.full(len(X), -1))
    assert rows_seen == {}


def test_unlabeled_is_a_hyper_parameter(digits):
    clf = DBNClassifier(unlabeled=-1)
    assert clone(clf).get_params()["unlabeled"] == -1
    with pytest.raises(ValueError, match="unlabeled"):
        DBNClassifier(unlabeled=0.5, **SMALL).fit(*digits[:2])
