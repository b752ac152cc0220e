"""Bad input is refused with an error naming the argument, before any training, losing nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dbn import RBM


@pytest.fixture()
def trained(digits):
    X, _ = digits
    return RBM(64, 8).fit(X, epochs=1, progress=False, seed=0)


def good_data(n=20):
    return np.random.default_rng(0).random((n, 64)).astype(np.float32)


def with_value(value):
    """Good data with ``value`` in column 3."""
    return np.where(np.arange(64) == 3, value, good_data()).astype(np.float32)


BAD_DATA = [
    ("nan", lambda: with_value(np.nan), ValueError, "NaN or infinity"),
    ("inf", lambda: with_value(np.inf), ValueError, "NaN or infinity"),
    ("width", lambda: good_data()[:, :60], ValueError, "has 60 features, but the model expects 64"),
    ("empty", lambda: np.zeros((0, 64), dtype=np.float32), ValueError, "empty"),
    ("strings", lambda: np.full((3, 64), "a"), TypeError, "real numbers"),
    ("objects", lambda: np.full((3, 64), None, dtype=object), TypeError, "real numbers"),
    ("complex", lambda: torch.zeros(3, 64, dtype=torch.complex64), TypeError, "real numbers"),
    ("one-dimensional", lambda: good_data()[0], ValueError, "2-dimensional"),
    ("above one", lambda: good_data() * 2, ValueError, r"in \[0, 1\] for Bernoulli visible units"),
    ("just above one", lambda: with_value(1 + 1e-4), ValueError, r"got values in \[.*, 1\.0001\]"),
    ("negative tensor", lambda: torch.as_tensor(good_data()) - 0.5, ValueError, r"in \[0, 1\]"),
]


@pytest.mark.parametrize(("case", "make", "error", "message"), BAD_DATA, ids=[case[0] for case in BAD_DATA])
def test_fit_refuses_bad_data_and_keeps_the_trained_model(trained, case, make, error, message):
    weights = trained.weight.detach().clone()
    history = list(trained.history_)
    with pytest.raises(error, match=message):
        trained.fit(make(), epochs=1, progress=False)
    assert torch.equal(trained.weight, weights)
    assert trained.history_ == history


#: what inference refuses: all but the values outside [0, 1], which it clips
BAD_INFERENCE_DATA = [case for case in BAD_DATA if case[0] not in ("above one", "just above one", "negative tensor")]


@pytest.mark.parametrize(
    ("case", "make", "error", "message"), BAD_INFERENCE_DATA, ids=[case[0] for case in BAD_INFERENCE_DATA]
)
def test_inference_refuses_bad_data(trained, case, make, error, message):
    for method in (trained.transform, trained.free_energy, trained.hidden_probs, trained.reconstruct):
        with pytest.raises(error, match=message):
            method(make())


@pytest.mark.parametrize("shift", [lambda X: X * 2, lambda X: X - 0.5], ids=["above one", "negative"])
def test_inference_clips_values_outside_the_unit_interval(trained, shift):
    X = good_data()
    for method in (trained.transform, trained.free_energy, trained.hidden_probs, trained.reconstruct):
        shifted, clipped = method(shift(X)), method(np.clip(shift(X), 0, 1))
        assert torch.equal(torch.as_tensor(shifted).detach(), torch.as_tensor(clipped).detach())


def test_fit_takes_values_a_rounding_away_from_the_unit_interval_as_their_clipped_values():
    X = good_data()
    X[0, :2], X[1, :2] = (1 + 1e-7, 1.0), (-1e-7, 0.0)  # a scaler's rounding: within UNIT_INTERVAL_TOLERANCE
    rounded = RBM(64, 8).fit(X, epochs=1, progress=False, seed=0)
    clipped = RBM(64, 8).fit(np.clip(X, 0, 1), epochs=1, progress=False, seed=0)
    assert torch.equal(rounded.weight, clipped.weight)


def test_batches_of_an_iterable_get_no_rounding_tolerance():
    batches = [torch.rand(10, 64), torch.rand(10, 64)]
    batches[1][0, 0] = 1 + 5e-7  # an iterable's batches are not clipped, so they are held to [0, 1]
    with pytest.raises(ValueError, match=r"X \(batch 1\) must lie in \[0, 1\]"):
        RBM(64, 8).fit(batches, epochs=1, progress=False)


def test_error_names_the_argument(trained, digits):
    X, _ = digits
    with pytest.raises(ValueError, match="X_val contains NaN"):
        trained.fit(X, X_val=np.full((5, 64), np.nan, dtype=np.float32), progress=False)
    with pytest.raises(ValueError, match="^X has"):
        trained.transform(X[:, :10])
    with pytest.raises(ValueError, match="h has 3 features, but the model expects 8"):
        trained.visible_probs(torch.zeros(2, 3))


def test_bad_batch_in_an_iterable_is_found_before_training(trained):
    weights = trained.weight.detach().clone()
    batches = [torch.rand(10, 64), torch.rand(10, 64), torch.full((10, 64), float("nan"))]
    with pytest.raises(ValueError, match=r"X \(batch 2\) contains NaN"):
        trained.fit(batches, epochs=1, progress=False)
    assert torch.equal(trained.weight, weights)


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("k", 0, ValueError, "k must be > 0"),
        ("k", 1.5, TypeError, "k must be an integer"),
        ("batch_size", 0, ValueError, "batch_size must be > 0"),
        ("epochs", -1, ValueError, "epochs must be > 0"),
        ("lr", 0.0, ValueError, "lr must be > 0"),
        ("lr", -0.1, ValueError, "lr must be > 0"),
        ("lr", float("nan"), ValueError, "lr must be > 0"),
        ("lr", "fast", TypeError, "lr must be a number"),
        ("weight_decay", -1e-4, ValueError, "weight_decay must be >= 0"),
        ("n_chains", 0, ValueError, "n_chains must be > 0"),
        ("sparsity_target", 1.5, ValueError, r"sparsity_target must be in \(0, 1\)"),
        ("momentum", -0.5, ValueError, "momentum must be >= 0"),
    ],
)
def test_fit_refuses_bad_options(trained, digits, option, value, error, message):
    X, _ = digits
    weights = trained.weight.detach().clone()
    with pytest.raises(error, match=message):
        trained.fit(X, progress=False, **{option: value})
    assert torch.equal(trained.weight, weights)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"visible": "poisson"}, "visible must be one of"),
        ({"hidden": "softmax"}, "hidden must be one of"),
        ({"visible": "relu"}, "visible must be 'bernoulli' or 'gaussian'"),
        ({"n_hidden": 0}, "n_hidden must be > 0"),
    ],
)
def test_constructor_refuses_unknown_units_and_sizes(arguments, message):
    with pytest.raises(ValueError, match=message):
        RBM(**{"n_visible": 4, "n_hidden": 3, **arguments})


def test_unknown_likelihood_method(trained):
    with pytest.raises(ValueError, match="method must be 'exact' or 'ais'"):
        trained.log_partition("bridge")


def test_gibbs_steps_must_be_positive(trained):
    with pytest.raises(ValueError, match="steps must be > 0"):
        trained.gibbs(torch.rand(2, 64), steps=0)


def test_reversed_and_read_only_arrays_are_accepted(trained, digits):
    X, _ = digits
    reversed_rows = X[::-1]
    read_only = X.copy()
    read_only.setflags(write=False)
    np.testing.assert_allclose(trained.transform(reversed_rows), trained.transform(X)[::-1], atol=1e-6)
    np.testing.assert_array_equal(trained.transform(read_only), trained.transform(X))


def test_sampling_methods_work_with_gradients_enabled():
    """Samples are not differentiable: drawing them must not trip autograd on the parameters."""
    rbm = RBM(6, 4).fit(np.eye(6, dtype=np.float32).repeat(5, 0), epochs=1, progress=False, seed=0)
    generator = torch.Generator().manual_seed(0)
    h = rbm.sample_hidden(torch.ones(3, 6), generator=generator)
    v = rbm.sample_visible(h, generator=generator)
    assert h.shape == (3, 4) and v.shape == (3, 6)
    assert not h.requires_grad and not v.requires_grad
    assert set(torch.cat([h.flatten(), v.flatten()]).tolist()) <= {0.0, 1.0}
