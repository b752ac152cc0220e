"""The classification RBM of Larochelle & Bengio (2008): its exact p(y|x) against enumeration of
the joint, the discriminative gradient against finite differences and the paper's closed form,
the three objectives on digits, the divergence guard, and the scikit-learn estimator."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split

from dbn.classrbm import ClassRBM, ClassRBMTraining
from dbn.loop import DivergenceError
from dbn.sklearn import ClassRBMClassifier

N_FEATURES, N_CLASSES, N_HIDDEN = 4, 3, 5


def random_model(features: str = "bernoulli", seed: int = 0) -> ClassRBM:
    """A tiny float64 ClassRBM with random parameters of order one."""
    generator = torch.Generator().manual_seed(seed)
    model = ClassRBM(N_FEATURES, N_CLASSES, N_HIDDEN, features=features, dtype=torch.float64)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return model


def energy(model: ClassRBM, x: torch.Tensor, y: int, h: torch.Tensor) -> torch.Tensor:
    """E(y, x, h) of the paper's eq. 1 for one x and label y, every row of h (plus x^2/2 for Gaussian features)."""
    W, U, b, c, d = (t.detach() for t in (model.W, model.U, model.b, model.c, model.d))
    base = 0.5 * (x * x).sum() if model.features == "gaussian" else 0.0
    return base - h @ W @ x - b @ x - h @ c - d[y] - h @ U[:, y]


def hidden_states() -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=N_HIDDEN)), dtype=torch.float64)


def features(features: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    if features == "bernoulli":
        return torch.tensor(list(itertools.product([0.0, 1.0], repeat=N_FEATURES)), dtype=torch.float64)
    return torch.randn(8, N_FEATURES, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_the_label_free_energy_is_the_joint_summed_over_every_hidden_state(kind):
    model, h = random_model(kind), hidden_states()
    X = features(kind)
    # -log sum_h exp(-E(y, x, h)) for every x and y, by enumeration of the 2^5 hidden states
    enumerated = torch.stack([
        torch.stack([-torch.logsumexp(-energy(model, x, y, h), 0) for y in range(N_CLASSES)]) for x in X
    ])
    with torch.no_grad():
        free_energy = model.label_free_energy(X)
        torch.testing.assert_close(free_energy, enumerated, rtol=1e-12, atol=1e-12)
        # p(y | x) = sum_h p(x, y, h) / sum_{y, h} p(x, y, h)
        conditional = torch.softmax(-enumerated, 1)
        torch.testing.assert_close(model.label_log_proba(X).exp(), conditional, rtol=1e-12, atol=1e-12)
        # the same joint as the inner RBM's free energy of the visible vector (x, e_y)
        for y in range(N_CLASSES):
            labels = torch.full((len(X),), y)
            joint = model.rbm.model_free_energy(model.joint_visible(X, labels))
            torch.testing.assert_close(joint, enumerated[:, y], rtol=1e-12, atol=1e-12)


def exact_nll(model: ClassRBM, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean -log p(y | x) by enumeration of the hidden states (no use of the model's formula)."""
    h = hidden_states()
    rows = [torch.stack([-torch.logsumexp(-energy(model, x, label, h), 0) for label in range(N_CLASSES)])
            for x in X]
    log_p = torch.log_softmax(-torch.stack(rows), 1)
    return -log_p[torch.arange(len(X)), y].mean()


def test_the_discriminative_gradient_matches_finite_differences_of_the_exact_conditional():
    model = random_model()
    X = features("bernoulli")[[1, 6, 11, 14]]
    y = torch.tensor([0, 2, 1, 2])
    model.zero_grad()
    model.discriminative_loss(X, y).backward()
    step = 1e-6
    for name, parameter in model.named_parameters():
        numeric = torch.zeros_like(parameter)
        with torch.no_grad():
            for index in itertools.product(*map(range, parameter.shape)):
                saved = parameter[index].item()
                parameter[index] = saved + step
                up = exact_nll(model, X, y)
                parameter[index] = saved - step
                down = exact_nll(model, X, y)
                parameter[index] = saved
                numeric[index] = (up - down) / (2 * step)
        torch.testing.assert_close(parameter.grad, numeric, rtol=1e-6, atol=1e-8, msg=name)


def test_the_discriminative_gradient_is_the_papers_closed_form():
    # d log p(y|x) / d theta = sum_j sigm(o_yj) d o_yj - sum_{j, y*} sigm(o_y*j) p(y*|x) d o_y*j (eq. 10),
    # o_yj(x) = c_j + sum_k W_jk x_k + U_jy, and 1_{y = y*} - p(y*|x) for the label biases d
    model = random_model()
    x, y = features("bernoulli")[9], 1
    model.zero_grad()
    model.discriminative_loss(x[None], torch.tensor([y])).backward()
    with torch.no_grad():
        o = (model.W @ x + model.c)[:, None] + model.U  # (hidden, classes)
        p = model.label_log_proba(x[None])[0].exp()
        s = torch.sigmoid(o)
        one_hot = torch.nn.functional.one_hot(torch.tensor(y), N_CLASSES).double()
        grad_c = s[:, y] - s @ p
        grad_W = torch.outer(grad_c, x)
        grad_U = s * one_hot - s * p
        grad_d = one_hot - p
    torch.testing.assert_close(-model.rbm.weight.grad[:, :N_FEATURES], grad_W)
    torch.testing.assert_close(-model.rbm.weight.grad[:, N_FEATURES:], grad_U)
    torch.testing.assert_close(-model.rbm.hidden_bias.grad, grad_c)
    torch.testing.assert_close(-model.rbm.visible_bias.grad[N_FEATURES:], grad_d)
    # b enters every label's free energy alike, so not p(y|x)
    torch.testing.assert_close(model.rbm.visible_bias.grad[:N_FEATURES], torch.zeros(N_FEATURES, dtype=torch.float64))


def test_the_hybrid_loss_is_the_discriminative_loss_plus_alpha_times_the_cd_surrogate():
    def gradients(objective: str, seed: int) -> list[torch.Tensor]:
        model = random_model()
        X, y = features("bernoulli")[:6], torch.tensor([0, 1, 2, 0, 1, 2])
        training = ClassRBMTraining(model, X, y, objective=objective, alpha=0.3, lr=0.1, batch_size=6, k=1,
                                    momentum=0.0, weight_decay=0.0, generator=torch.Generator().manual_seed(seed))
        model.zero_grad()
        training.loss(X, y)[0].backward()
        return [p.grad.clone() for p in model.parameters()]

    hybrid = gradients("hybrid", 3)
    discriminative, generative = gradients("discriminative", 3), gradients("generative", 3)  # the same chain
    for total, disc, gen in zip(hybrid, discriminative, generative, strict=True):
        torch.testing.assert_close(total, disc + 0.3 * gen, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def digits_split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.mark.parametrize("objective", ["generative", "discriminative", "hybrid"])
def test_each_objective_classifies_held_out_digits_far_above_chance(digits_split, objective):
    X_train, X_test, y_train, y_test = digits_split
    model = ClassRBM(64, 10, 100).fit(X_train, y_train, objective=objective, epochs=10, lr=0.3, batch_size=10,
                                      seed=0, progress=False)
    assert model.score(X_test, y_test) > 0.85  # chance: 0.1
    assert len(model.history_) == 10 and model.history_[-1]["train_nll"] < model.history_[0]["train_nll"]
    assert (model.history_[-1]["cd_loss"] is None) == (objective == "discriminative")


def test_gaussian_features_are_standardised_and_classify(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    scale, shift = 16.0, -3.0  # raw grey levels, shifted: any real data
    model = ClassRBM(64, 10, 100, features="gaussian").fit(X_train * scale + shift, y_train, objective="hybrid",
                                                            epochs=10, lr=0.05, seed=0, progress=False)
    assert model.score(X_test * scale + shift, y_test) > 0.85
    np.testing.assert_allclose(model.feature_mean.numpy(), (X_train * scale + shift).mean(0), rtol=1e-5, atol=1e-5)


def test_a_diverging_run_stops_and_keeps_the_last_good_parameters(digits_split):
    X_train, _, y_train, _ = digits_split
    model = ClassRBM(64, 10, 32)
    with pytest.raises(DivergenceError, match=r"diverged in epoch 1 at lr=10000: .*log p\(y\|x\)"):
        model.fit(X_train, y_train, objective="hybrid", epochs=3, lr=1e4, seed=0, progress=False)
    assert all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()) and model.history_ == []


def test_invalid_arguments_are_refused(digits_split):
    X_train, _, y_train, _ = digits_split
    model = ClassRBM(64, 10, 8)
    with pytest.raises(ValueError, match="objective must be one of"):
        model.fit(X_train, y_train, objective="contrastive", progress=False)
    with pytest.raises(ValueError, match=r"class indices in \[0, 10\)"):
        model.fit(X_train, y_train + 1, progress=False)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        model.fit(X_train * 16, y_train, progress=False)
    with pytest.raises(ValueError, match="n_classes must be at least 2"):
        ClassRBM(4, 1, 3)


# ------------------------------------------------------------------ the scikit-learn estimator
# (scikit-learn's estimator checks run in tests/test_sklearn.py with the other estimators)


def test_the_estimator_on_digits_with_string_labels_and_pickling(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = ClassRBMClassifier(100, learning_rate=0.3, n_iter=10, device="cpu", random_state=0)
    clf.fit(X_train, names[y_train])
    assert clf.score(X_test, names[y_test]) > 0.9
    assert list(clf.classes_) == sorted(names)
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X_test))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X_test)), proba, rtol=1e-5, atol=1e-7)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X_test), proba)
    same = ClassRBMClassifier(100, learning_rate=0.3, n_iter=10, device="cpu", random_state=0).fit(
        X_train, names[y_train])
    np.testing.assert_array_equal(same.predict_proba(X_test), proba)


def test_the_estimator_refuses_a_single_class():
    with pytest.raises(ValueError, match="one class"):
        ClassRBMClassifier(4, device="cpu").fit(np.random.default_rng(0).random((10, 3)), np.ones(10))


def test_the_estimator_clones_and_searches_over_the_number_of_hidden_units(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = ClassRBMClassifier(8, objective="discriminative", learning_rate=0.3, n_iter=10, device="cpu",
                             random_state=0)
    fitted = clone(clf).fit(X_train[:400], y_train[:400])
    copy = clone(fitted)  # the hyper-parameters, not the fit
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "model_")
    search = GridSearchCV(clf, {"n_components": [1, 32]}, cv=2).fit(X_train[:400], y_train[:400])
    assert search.best_params_ == {"n_components": 32}  # one hidden unit cannot tell 10 digits apart
    assert search.best_estimator_.model_.n_hidden == 32 and search.score(X_test, y_test) > 0.7
    again = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(again.predict_proba(X_test), search.best_estimator_.predict_proba(X_test))
