"""The RBM's formulas against brute-force enumeration on tiny models."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import binary_states, joint_log_weights, random_rbm

from dbn import RBM
from dbn.cd import ContrastiveDivergence
from dbn.likelihood import ais_betas


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_matches_enumeration_over_hidden(visible):
    rbm = random_rbm(5, 4, visible=visible)
    v = binary_states(5) if visible == "bernoulli" else torch.randn(7, 5, dtype=torch.float64)
    brute = -torch.logsumexp(joint_log_weights(rbm, v, binary_states(4)), dim=1)
    torch.testing.assert_close(rbm.free_energy(v), brute)


def test_hidden_conditional_matches_enumeration():
    rbm = random_rbm(4, 3)
    v, h = binary_states(4), binary_states(3)
    joint = torch.softmax(joint_log_weights(rbm, v, h), dim=1)  # p(h | v), one row per v
    torch.testing.assert_close(rbm.hidden_probs(v), joint @ h)


def test_visible_conditional_matches_enumeration():
    rbm = random_rbm(4, 3)
    v, h = binary_states(4), binary_states(3)
    conditional = torch.softmax(joint_log_weights(rbm, v, h), dim=0)  # p(v | h), one column per h
    torch.testing.assert_close(rbm.visible_probs(h), conditional.T @ v)


def test_gaussian_visible_mean_is_bias_plus_top_down_input():
    rbm = random_rbm(4, 3, visible="gaussian")
    h = binary_states(3)
    expected = rbm.visible_bias.detach() + h @ rbm.weight.detach()
    torch.testing.assert_close(rbm.visible_probs(h), expected)


@pytest.mark.parametrize(("n_visible", "n_hidden"), [(6, 4), (4, 6)])
def test_exact_log_partition_matches_double_enumeration(n_visible, n_hidden):
    rbm = random_rbm(n_visible, n_hidden)
    brute = torch.logsumexp(joint_log_weights(rbm, binary_states(n_visible), binary_states(n_hidden)).flatten(), 0)
    assert rbm.log_partition("exact") == pytest.approx(float(brute), abs=1e-9)


def test_exact_log_partition_gaussian_matches_numerical_integration():
    rbm = random_rbm(2, 3, visible="gaussian", scale=0.5)
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    v = torch.cartesian_prod(grid, grid)
    integral = torch.logsumexp(-rbm.free_energy(v).detach(), 0) + 2 * math.log(step)
    assert rbm.log_partition("exact") == pytest.approx(float(integral), abs=1e-6)


def test_log_likelihood_normalises_over_all_binary_vectors():
    rbm = random_rbm(6, 5)
    log_p = [rbm.log_likelihood(v.unsqueeze(0)) for v in binary_states(6)]
    assert float(torch.logsumexp(torch.tensor(log_p, dtype=torch.float64), 0)) == pytest.approx(0.0, abs=1e-9)


def test_gaussian_log_likelihood_includes_standardisation_jacobian():
    rbm = random_rbm(2, 3, visible="gaussian", scale=0.5)
    x = torch.randn(5, 2, dtype=torch.float64)
    standard = rbm.log_likelihood(x)
    with torch.no_grad():
        rbm.data_mean.fill_(3.0)
        rbm.data_std.fill_(2.0)
    scaled = rbm.log_likelihood(3.0 + 2.0 * x)
    assert scaled == pytest.approx(standard - 2 * math.log(2.0), abs=1e-9)


def test_exact_log_partition_refuses_large_layers():
    with pytest.raises(ValueError, match="refusing above 25 units"):
        RBM(30, 30).log_partition("exact")


def test_likelihood_refused_for_relu_hidden_units():
    with pytest.raises(ValueError, match="not defined"):
        RBM(4, 3, hidden="relu").log_partition("exact")


def test_ais_betas_cover_zero_to_one_increasing():
    betas = ais_betas(1000)
    assert betas[0] == 0 and betas[-1] == 1 and len(betas) == 1001
    assert bool((betas[1:] > betas[:-1]).all())


def test_ais_agrees_with_exact_log_partition():
    rbm = random_rbm(64, 18, scale=0.3, seed=3)
    exact = rbm.log_partition("exact")
    generator = torch.Generator().manual_seed(0)
    estimate, error = rbm.log_partition("ais", n_chains=100, n_betas=3000, generator=generator, return_error=True)
    assert abs(estimate - exact) < 0.3
    assert 0 < error < 0.3


def test_ais_agrees_with_exact_for_gaussian_visible():
    rbm = random_rbm(10, 8, visible="gaussian", scale=0.1, seed=4)
    generator = torch.Generator().manual_seed(1)
    estimate = rbm.log_partition("ais", n_chains=200, n_betas=2000, generator=generator)
    assert estimate == pytest.approx(rbm.log_partition("exact"), abs=0.1)


def exact_log_likelihood_gradient(rbm: RBM, data: torch.Tensor) -> torch.Tensor:
    """d/dW of the mean log-likelihood: E_data[p(h|v) v^T] - E_model[p(h|v) v^T]."""
    states = binary_states(rbm.n_visible)
    model_p = torch.softmax(-rbm.free_energy(states), 0)
    data_term = rbm.hidden_probs(data).T @ data / len(data)
    model_term = (rbm.hidden_probs(states) * model_p.unsqueeze(1)).T @ states
    return data_term - model_term


def test_cd_with_many_steps_approaches_exact_gradient():
    rbm = random_rbm(6, 4, scale=0.5, seed=5)
    data = binary_states(6)[torch.tensor([3, 12, 33, 60])]
    batch = data.repeat(5000, 1)
    generator = torch.Generator().manual_seed(0)
    loss = ContrastiveDivergence(rbm, k=30, generator=generator, sample_visible=True)(batch)
    (cd_gradient,) = torch.autograd.grad(-loss, rbm.weight)
    exact = exact_log_likelihood_gradient(rbm, data)
    assert torch.linalg.norm(cd_gradient - exact) < 0.05 * torch.linalg.norm(exact) + 0.01

    loss_1 = ContrastiveDivergence(rbm, k=1, generator=generator, sample_visible=True)(batch)
    (cd1_gradient,) = torch.autograd.grad(-loss_1, rbm.weight)
    assert torch.linalg.norm(cd1_gradient - exact) > torch.linalg.norm(cd_gradient - exact)


def test_pcd_raises_exact_log_likelihood():
    generator = torch.Generator().manual_seed(0)
    prototypes = binary_states(8)[torch.tensor([15, 240, 85, 170])]
    noise = torch.rand(400, 8, generator=generator) < 0.05
    data = (prototypes.repeat(100, 1).bool() ^ noise).float()
    rbm = RBM(8, 6)
    rbm.fit(data, epochs=1, lr=1e-6, progress=False, seed=0)
    before = rbm.log_likelihood(data)
    # PCD with high momentum oscillates (the chains cannot keep up); 0.5 is stable here
    rbm.fit(data, epochs=60, batch_size=20, lr=0.05, momentum=0.5, persistent=True, n_chains=50, progress=False, seed=0)
    after = rbm.log_likelihood(data)
    assert after > before + 1.0
    assert rbm.persistent_chains_.shape == (50, 8)


def test_bernoulli_samples_are_zero_one_with_the_right_mean():
    from dbn.units import BernoulliUnits

    p = torch.rand(2000, 50, generator=torch.Generator().manual_seed(0))
    samples = BernoulliUnits().sample(torch.logit(p), torch.Generator().manual_seed(1))
    assert set(samples.unique().tolist()) == {0.0, 1.0}
    assert not bool(torch.signbit(samples).any())
    # each unit's frequency matches its probability within 4 standard errors
    error = (samples.mean(0) - p.mean(0)).abs()
    assert bool((error < 4 * (p * (1 - p)).mean(0).sqrt() / math.sqrt(2000) + 1e-3).all())
