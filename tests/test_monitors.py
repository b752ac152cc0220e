"""The exact pseudo-likelihood against brute force on tiny RBMs; how often the training monitors run."""

from __future__ import annotations

import pytest
import torch
from conftest import binary_states, joint_log_weights, random_rbm

from dbn import RBM, monitors
from dbn.config import CDConfig


def brute_force_pseudo_likelihood(rbm, v: torch.Tensor) -> torch.Tensor:
    """sum_i log p(v_i | v_-i), flipping each unit in turn; F(v) enumerated over the hidden states."""
    hidden_states = binary_states(rbm.n_hidden)

    def free_energy(states: torch.Tensor) -> torch.Tensor:
        return -torch.logsumexp(joint_log_weights(rbm, states, hidden_states), dim=1)

    total = torch.zeros(v.shape[0], dtype=torch.float64)
    for unit in range(v.shape[1]):
        flipped = v.clone()
        flipped[:, unit] = 1 - flipped[:, unit]
        # p(v_i | v_-i) = e^-F(v) / (e^-F(v) + e^-F(flipped))
        pair = torch.stack([free_energy(v), free_energy(flipped)])
        total += -pair[0] - torch.logsumexp(-pair, dim=0)
    return total


def test_exact_pseudo_likelihood_matches_brute_force():
    rbm = random_rbm(5, 3, seed=4)
    binary = binary_states(5)
    grey = torch.rand(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for v in (binary, grey):
        exact = monitors.exact_pseudo_likelihood(rbm, v)
        assert exact.shape == (v.shape[0],) and exact.dtype == torch.float64
        torch.testing.assert_close(exact, brute_force_pseudo_likelihood(rbm, v))
    assert bool((monitors.exact_pseudo_likelihood(rbm, binary) <= 0).all())


def test_exact_pseudo_likelihood_does_not_depend_on_the_chunks():
    rbm = random_rbm(6, 4, seed=1)
    v = binary_states(6)
    whole = monitors.exact_pseudo_likelihood(rbm, v)
    one_row_at_a_time = monitors.exact_pseudo_likelihood(rbm, v, max_elements=1)
    torch.testing.assert_close(one_row_at_a_time, whole)


def test_exact_pseudo_likelihood_is_the_mean_of_the_monitor():
    rbm = random_rbm(5, 3, seed=2)
    v = binary_states(5)[torch.tensor([3, 17, 28])]
    per_unit = float(monitors.exact_pseudo_likelihood(rbm, v).mean()) / 5
    estimate = monitors.pseudo_likelihood(rbm, v.repeat(4000, 1), torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(per_unit, abs=0.02)


def test_exact_pseudo_likelihood_needs_binary_visible_units():
    rbm = random_rbm(4, 3, visible="gaussian")
    with pytest.raises(ValueError, match="binary visible units"):
        monitors.exact_pseudo_likelihood(rbm, torch.zeros(2, 4, dtype=torch.float64))


def test_the_monitors_run_every_few_epochs_and_at_the_last_without_changing_the_model():
    X = (torch.rand(300, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    every_epoch = RBM(20, 8).fit(X, epochs=7, batch_size=30, seed=0, progress=False)
    sparse = RBM(20, 8).fit(X, epochs=7, batch_size=30, seed=0, progress=False, monitor_every=3)
    for name in ("weight", "visible_bias", "hidden_bias"):
        assert torch.equal(getattr(every_epoch, name), getattr(sparse, name)), name
    measured = [record["epoch"] for record in sparse.history_ if record["recon_mse"] is not None]
    assert measured == [3, 6, 7]
    for record, full in zip(sparse.history_, every_epoch.history_, strict=True):
        assert record["update_ratio"] == full["update_ratio"]
        if record["epoch"] in measured:  # the monitors' own random numbers: the same values
            assert record["pseudo_likelihood"] == full["pseudo_likelihood"]
            assert record["cd_loss"] == full["cd_loss"]
        else:
            assert record["pseudo_likelihood"] is None and record["dead_fraction"] is None
    with pytest.raises(ValueError, match="monitor_every"):
        CDConfig(monitor_every=0)
