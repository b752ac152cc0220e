"""Training behaviour of RBM.fit: monitors, likelihood, options, data sources and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import binary_states, random_rbm
from torch.utils.data import DataLoader, TensorDataset

from dbn import RBM, hinton_momentum, monitors


@pytest.fixture(scope="module")
def digits_split(digits):
    X, _ = digits
    X = (X > 0.5).astype(np.float32)  # binary, so that log p(v) is a likelihood
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:1400]], X[order[1400:]]


def test_training_on_digits_improves_every_monitor_and_the_ais_likelihood(digits_split):
    train, test = digits_split
    ais = dict(n_chains=50, n_betas=1000)
    untrained = RBM(64, 32).fit(train, epochs=1, lr=1e-9, progress=False, seed=0)
    rbm = RBM(64, 32).fit(train, epochs=10, batch_size=20, X_val=test, progress=False, seed=0)
    first, last = rbm.history_[0], rbm.history_[-1]
    assert last["recon_mse"] < 0.7 * first["recon_mse"]
    assert last["recon_kl"] < 0.7 * first["recon_kl"]
    assert last["pseudo_likelihood"] > first["pseudo_likelihood"]
    before = untrained.log_likelihood(test, "ais", generator=torch.Generator().manual_seed(0), **ais)
    after, error = rbm.log_likelihood(test, "ais", generator=torch.Generator().manual_seed(0), return_error=True, **ais)
    assert after > before + 3.0 and error < 0.5
    assert all(np.isfinite(record["free_energy_gap"]) for record in rbm.history_)
    assert [record["epoch"] for record in rbm.history_] == list(range(1, 11))


def test_same_seed_same_weights_and_different_seed_different(digits):
    X, _ = digits
    first = RBM(64, 16).fit(X, epochs=2, progress=False, seed=7)
    second = RBM(64, 16).fit(X, epochs=2, progress=False, seed=7)
    third = RBM(64, 16).fit(X, epochs=2, progress=False, seed=8)
    assert torch.equal(first.weight, second.weight)
    assert torch.equal(first.hidden_bias, second.hidden_bias)
    assert not torch.equal(first.weight, third.weight)


def test_visible_biases_start_at_the_data_log_odds(digits):
    X, _ = digits
    rbm = RBM(64, 8).fit(X, epochs=1, lr=1e-9, progress=False, seed=0)
    p = np.clip(X.mean(0), 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(rbm.visible_bias.detach().numpy(), np.log(p / (1 - p)), atol=1e-4)


def test_momentum_schedule_is_half_then_nine_tenths(digits):
    X, _ = digits
    rbm = RBM(64, 8).fit(X[:200], epochs=7, progress=False, seed=0)
    assert [record["momentum"] for record in rbm.history_] == [0.5] * 5 + [0.9] * 2
    assert hinton_momentum(4) == 0.5 and hinton_momentum(5) == 0.9


def test_weight_decay_shrinks_weights_but_not_biases(digits):
    X, _ = digits
    plain = RBM(64, 16).fit(X, epochs=5, progress=False, seed=0)
    decayed = RBM(64, 16)
    decayed.fit(X, epochs=5, weight_decay=0.05, progress=False, seed=0)
    assert decayed.weight.norm() < 0.8 * plain.weight.norm()
    # biases carry no penalty: their group in the optimiser has weight_decay 0
    captured = {}

    def factory(groups):
        captured["groups"] = groups
        return torch.optim.SGD(groups, lr=0.1)

    RBM(64, 4).fit(X[:100], epochs=1, weight_decay=0.3, optimizer=factory, progress=False, seed=0)
    decays = {len(group["params"]): group["weight_decay"] for group in captured["groups"]}
    assert decays == {1: 0.3, 2: 0.0}


def test_sparsity_target_lowers_mean_hidden_activity(digits):
    X, _ = digits
    free = RBM(64, 32).fit(X, epochs=5, progress=False, seed=0)
    sparse = RBM(64, 32).fit(X, epochs=5, sparsity_target=0.05, sparsity_cost=0.5, progress=False, seed=0)
    assert sparse.hidden_probs(X).mean() < 0.6 * free.hidden_probs(X).mean()


def test_dataloader_and_list_of_batches_train_like_arrays(digits):
    X, y = digits
    tensor = torch.as_tensor(X)
    loader = DataLoader(TensorDataset(tensor, torch.as_tensor(y)), batch_size=50, shuffle=True)
    from_loader = RBM(64, 16).fit(loader, epochs=8, progress=False, seed=0)
    from_list = RBM(64, 16).fit(list(tensor.split(50)), epochs=8, progress=False, seed=0)
    from_array = RBM(64, 16).fit(X, epochs=8, batch_size=50, progress=False, seed=0)
    for model in (from_loader, from_list):
        assert model.history_[-1]["recon_mse"] < 0.6 * model.history_[0]["recon_mse"]
        assert model.history_[-1]["recon_mse"] == pytest.approx(from_array.history_[-1]["recon_mse"], rel=0.3)


def test_persistent_chains_are_independent_of_batch_size(digits):
    X, _ = digits
    rbm = RBM(64, 16).fit(X, epochs=2, batch_size=10, persistent=True, n_chains=37, progress=False, seed=0)
    assert rbm.persistent_chains_.shape == (37, 64)
    chains = rbm.persistent_chains_.clone()
    rbm.fit(X, epochs=1, batch_size=10, persistent=True, n_chains=37, warm_start=True, progress=False, seed=1)
    assert not torch.equal(chains, rbm.persistent_chains_)
    assert len(rbm.history_) == 3


def test_gaussian_visible_standardises_with_fit_statistics(digits):
    X, _ = digits
    X = X * 5.0 + 2.0
    rbm = RBM(64, 16, visible="gaussian").fit(X, epochs=3, progress=False, seed=0)
    torch.testing.assert_close(rbm.data_mean, torch.as_tensor(X.mean(0), dtype=torch.float32), atol=1e-4, rtol=0)
    one_row = rbm.transform(X[:1])
    in_batch = rbm.transform(X[:500])[:1]
    np.testing.assert_allclose(one_row, in_batch, atol=1e-6)
    assert rbm.reconstruct(torch.as_tensor(X[:200])).mean() == pytest.approx(X[:200].mean(), rel=0.1)


def test_relu_hidden_units_train(digits):
    X, _ = digits
    rbm = RBM(64, 32, hidden="relu").fit(X, epochs=8, progress=False, seed=0)
    assert rbm.history_[-1]["recon_mse"] < 0.7 * rbm.history_[0]["recon_mse"]
    assert rbm.history_[-1]["saturated_fraction"] == 0.0


def test_callback_returning_true_stops_training(digits):
    X, _ = digits
    rbm = RBM(64, 8).fit(X, epochs=10, progress=False, seed=0, callbacks=[lambda rbm, record: record["epoch"] == 3])
    assert len(rbm.history_) == 3


def test_recon_kl_is_cross_entropy_for_binary_data_and_zero_entropy_offset():
    rbm = random_rbm(5, 3)
    v = binary_states(5)
    mse, kl = monitors.reconstruction_errors(rbm, v)
    recreation = rbm.reconstruct(v)
    cross_entropy = -(v * recreation.log() + (1 - v) * (1 - recreation).log()).sum(1).mean()
    assert kl == pytest.approx(float(cross_entropy), rel=1e-9)
    assert mse == pytest.approx(float(((v - recreation) ** 2).mean()), rel=1e-9)
    grey = torch.full((2, 5), 0.3, dtype=torch.float64)
    _, kl_grey = monitors.reconstruction_errors(rbm, grey)
    p = rbm.reconstruct(grey)
    by_hand = (0.3 * (0.3 / p).log() + 0.7 * (0.7 / (1 - p)).log()).sum(1).mean()
    assert kl_grey == pytest.approx(float(by_hand), rel=1e-9)


def test_pseudo_likelihood_estimates_mean_exact_conditional():
    rbm = random_rbm(5, 3, seed=2)
    v = binary_states(5)[torch.tensor([3, 17, 28])]
    exact = []
    for row in v:
        for i in range(5):
            flipped = row.clone()
            flipped[i] = 1 - flipped[i]
            pair = rbm.free_energy(torch.stack([row, flipped])).detach()
            exact.append(float(-pair[0] - torch.logsumexp(-pair, 0)))
    estimate = monitors.pseudo_likelihood(rbm, v.repeat(4000, 1), torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(np.mean(exact), abs=0.02)


def test_hidden_activity_counts_dead_and_saturated_units():
    rbm = RBM(3, 4, dtype=torch.float64)
    with torch.no_grad():
        rbm.hidden_bias.copy_(torch.tensor([-20.0, 20.0, 0.0, 0.0], dtype=torch.float64))
    dead, saturated = monitors.hidden_activity(rbm, binary_states(3))
    assert (dead, saturated) == (0.25, 0.25)
