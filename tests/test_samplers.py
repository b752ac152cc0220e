"""Fast persistent CD, parallel tempering and centering (``dbn.samplers``): each trains a small RBM to a
higher exact log-likelihood than CD-1 with the same budget and seeds (mean over three), and each has its own rule
checked against a direct computation:

- fast weights are the decayed sum of the gradients, decay to zero without a fast rate, and move
  only the chains;
- the swap rule of parallel tempering satisfies detailed balance on an enumerated model, and the
  whole transition leaves the tempered distributions invariant, with acceptance rates in (0, 1);
- the centered gradient equals the one computed from the statistics, a step of it is the step of
  the centered parameters mapped back, and with zero offsets it is the ordinary gradient;
- with every option ``set_gradients`` equals ``forward`` and ``backward`` bit for bit, and an
  interrupted run resumes bit-identically.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import binary_states, random_rbm, step_both_paths

from dbn import RBM
from dbn.cd import ContrastiveDivergence
from dbn.samplers import Centering, FastWeights, ParallelTempering, swap_log_ratio, tempered_free_energy


def bars_and_stripes(rows: int = 3, cols: int = 4) -> np.ndarray:
    """Every image of ``rows x cols`` pixels whose rows, or whose columns, are each all on or all off."""
    patterns = set()
    for bits in itertools.product([0.0, 1.0], repeat=rows):
        patterns.add(tuple(np.repeat(np.array(bits)[:, None], cols, 1).ravel()))
    for bits in itertools.product([0.0, 1.0], repeat=cols):
        patterns.add(tuple(np.repeat(np.array(bits)[None, :], rows, 0).ravel()))
    return np.array(sorted(patterns), dtype=np.float32)


PATTERNS = bars_and_stripes()  # 22 patterns: the best model has log-likelihood -log 22 = -3.09
TRAINING = {"epochs": 60, "batch_size": 20, "lr": 0.05, "momentum": 0.5, "progress": False, "seed": 0,
            "monitor_size": 64}
OPTIONS = {
    "fast-weights": {"persistent": True, "fast_weights": True},  # fast_lr: the regular rate
    "tempering": {"persistent": True, "tempering": 5},
    "centering": {"centering": True},
}
SEEDS = (0, 1, 2)


def fitted(seed: int = 0, **options) -> RBM:
    return RBM(12, 8).fit(np.tile(PATTERNS, (40, 1)), **{**TRAINING, "seed": seed, **options})


def mean_likelihood(**options) -> float:
    """The exact log-likelihood of the patterns, averaged over the models of ``SEEDS``."""
    return float(np.mean([fitted(seed, **options).log_likelihood(PATTERNS) for seed in SEEDS]))


@pytest.fixture(scope="module")
def cd1_likelihood() -> float:
    return mean_likelihood()


@pytest.mark.parametrize(("name", "margin"), [("fast-weights", 0.2), ("tempering", 0.3), ("centering", 0.5)])
def test_each_option_learns_bars_and_stripes_better_than_cd1(cd1_likelihood, name, margin):
    start = fitted(**{"epochs": 1, **OPTIONS[name]})
    found = mean_likelihood(**OPTIONS[name])
    assert found > start.log_likelihood(PATTERNS) + 1.0  # well above its first epoch
    assert found > cd1_likelihood + margin, (name, found, cd1_likelihood)


# --------------------------------------------------------------------------- the two paths


def small_rbm(n_visible: int = 12, n_hidden: int = 8, seed: int = 5) -> RBM:
    rbm = RBM(n_visible, n_hidden)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rbm.weight.normal_(0, 0.5, generator=generator)
        rbm.visible_bias.normal_(0, 0.3, generator=generator)
        rbm.hidden_bias.normal_(0, 0.3, generator=generator)
    return rbm


def objective_with(rbm: RBM, option: str, seed: int = 3, n_chains: int = 16) -> ContrastiveDivergence:
    generator = torch.Generator().manual_seed(seed)
    chains = (torch.rand(n_chains, rbm.n_visible, generator=torch.Generator().manual_seed(11)) < 0.4).float()
    sampler = centering = None
    if "fast" in option:
        sampler = FastWeights(rbm, lr=0.2, decay=0.9)
    if "tempering" in option:
        sampler = ParallelTempering(rbm, torch.tensor([0.0, 0.4, 0.7, 1.0]), n_chains, generator)
    if "centering" in option:
        centering = Centering(rbm, rate=0.1, offsets="average" if "average" in option else "data")
    return ContrastiveDivergence(rbm, k=2 if "k2" in option else 1, generator=generator,
                                 chains=None if option == "centering-cd" else chains, sampler=sampler,
                                 centering=centering)


def batches(n: int = 5) -> list[torch.Tensor]:
    rows = torch.as_tensor(np.tile(PATTERNS, (3, 1)))
    return list(rows[torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(0))].split(12))[:n]


def states(objective: ContrastiveDivergence) -> list[torch.Tensor]:
    found = [objective.generator.get_state().float()]
    found += [] if objective.chains is None else [objective.chains]
    for part in (objective.sampler, objective.centering):
        found += [] if part is None else list(part.state().values())
    return found


@pytest.mark.parametrize("option", ["fast-k2", "tempering", "centering-cd", "centering-pcd", "centering-average-fast"])
def test_set_gradients_is_forward_and_backward_bit_for_bit_with_each_option(option):
    slow_rbm, fast_rbm = small_rbm(), small_rbm()
    slow, fast = objective_with(slow_rbm, option), objective_with(fast_rbm, option)
    for batch in batches():
        step_both_paths(slow, fast, batch, option)
        for a, b in zip(states(slow), states(fast), strict=True):
            assert torch.equal(a, b), option


# --------------------------------------------------------------------------- fast persistent CD


def test_fast_weights_are_the_decayed_sum_of_the_gradients():
    rbm = small_rbm()
    objective = objective_with(rbm, "fast")
    sampler = objective.sampler
    expected = [torch.zeros_like(tensor) for tensor in sampler.fast()]
    for batch in batches():
        objective.set_gradients(batch)
        grads = (rbm.weight.grad, rbm.visible_bias.grad, rbm.hidden_bias.grad)
        expected = [0.9 * e - 0.2 * g for e, g in zip(expected, grads, strict=True)]
        for found, want in zip(sampler.fast(), expected, strict=True):
            torch.testing.assert_close(found, want)
    assert sampler.weight.abs().max() > 0.01


def test_fast_weights_decay_to_zero_without_a_fast_rate():
    rbm = small_rbm()
    objective = objective_with(rbm, "fast")
    sampler = objective.sampler
    sampler.lr = 0.0
    generator = torch.Generator().manual_seed(1)
    for tensor in sampler.fast():
        tensor.copy_(torch.randn(tensor.shape, generator=generator))
    start = [tensor.clone() for tensor in sampler.fast()]
    for _ in range(8):
        for batch in batches():
            objective.set_gradients(batch)
    for found, first in zip(sampler.fast(), start, strict=True):
        torch.testing.assert_close(found, first * 0.9**40)
        assert found.abs().max() < 0.02 * first.abs().max()


def test_fast_weights_move_only_the_chains():
    rbm = small_rbm()
    objective = objective_with(rbm, "fast")
    plain = objective_with(small_rbm(), "pcd")
    for tensor in objective.sampler.fast():
        tensor.fill_(2.0)  # strong enough to change the chains' states
    parameters = [p.detach().clone() for p in rbm.parameters()]
    batch = batches(1)[0]
    objective.set_gradients(batch)
    plain.set_gradients(batch)
    assert not torch.equal(objective.chains, plain.chains)
    assert all(torch.equal(p, q) for p, q in zip(rbm.parameters(), parameters, strict=True))
    # the gradient is the regular model's at the chains' new states
    v_model = objective.chains
    p_data, p_model = torch.sigmoid(rbm.hidden_input(batch)), torch.sigmoid(rbm.hidden_input(v_model))
    with torch.no_grad():
        weight = p_model.T @ v_model / v_model.shape[0] - p_data.T @ batch / batch.shape[0]
    torch.testing.assert_close(rbm.weight.grad, weight)
    torch.testing.assert_close(rbm.visible_bias.grad, v_model.mean(0) - batch.mean(0))
    torch.testing.assert_close(rbm.hidden_bias.grad, p_model.mean(0) - p_data.mean(0))


# --------------------------------------------------------------------------- parallel tempering


def tempered_log_probabilities(rbm: RBM, beta: float, base_bias: torch.Tensor) -> torch.Tensor:
    """:math:`\\log p_\\beta(v)` of every visible state, by summing the joint over every hidden state."""
    v, h = binary_states(rbm.n_visible), binary_states(rbm.n_hidden)
    W, b, c = rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    bias = (1 - beta) * base_bias + beta * b
    joint = (v @ bias)[:, None] + beta * (h @ c)[None, :] + beta * (h @ W @ v.T).T  # -E_beta(v, h)
    marginal = torch.logsumexp(joint, 1)
    return marginal - torch.logsumexp(marginal, 0)


def test_the_swap_rule_satisfies_detailed_balance():
    rbm = random_rbm(4, 3, scale=1.5, seed=2)
    base_bias = torch.tensor([0.5, -1.0, 0.2, 1.5], dtype=torch.float64)
    beta_i, beta_j = 0.3, 0.8
    log_i, log_j = (tempered_log_probabilities(rbm, beta, base_bias) for beta in (beta_i, beta_j))
    v = binary_states(4)
    a, b = (index.flatten() for index in torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij"))
    ratio = swap_log_ratio(rbm, v[a], v[b], torch.tensor(beta_i), torch.tensor(beta_j), base_bias)
    torch.testing.assert_close(ratio, log_i[b] + log_j[a] - log_i[a] - log_j[b])
    reverse = swap_log_ratio(rbm, v[b], v[a], torch.tensor(beta_i), torch.tensor(beta_j), base_bias)
    forward_flow = log_i[a] + log_j[b] + ratio.clamp(max=0)
    backward_flow = log_i[b] + log_j[a] + reverse.clamp(max=0)
    torch.testing.assert_close(forward_flow, backward_flow)
    # the free energies are those of the tempered model, up to its log partition function
    free = tempered_free_energy(rbm, v, torch.tensor(beta_i), base_bias)
    torch.testing.assert_close(-free - torch.logsumexp(-free, 0), log_i)


def test_parallel_tempering_leaves_the_tempered_distributions_invariant():
    rbm = random_rbm(5, 3, scale=2.0, seed=4)
    with torch.no_grad():
        rbm.data_mean.copy_(torch.tensor([0.2, 0.7, 0.5, 0.9, 0.4], dtype=torch.float64))
    betas = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    sampler = ParallelTempering(rbm, betas, 500, generator)
    chains = rbm.visible.sample(rbm.base_rate_bias().expand(500, -1).contiguous(), generator)
    counts = torch.zeros(3, 32, dtype=torch.float64)
    index = 2 ** torch.arange(4, -1, -1, dtype=torch.float64)  # the row of a state in binary_states
    with torch.no_grad():
        for step in range(160):
            chains = sampler.sample(chains, generator, 1)
            if step >= 40:
                every = torch.cat([sampler.states, chains.unsqueeze(0)])
                for k in range(3):
                    counts[k] += torch.bincount((every[k] @ index).long(), minlength=32)
    for k, beta in enumerate(betas.tolist()):
        exact = tempered_log_probabilities(rbm, beta, rbm.base_rate_bias()).exp()
        total_variation = 0.5 * (counts[k] / counts[k].sum() - exact).abs().sum()
        assert total_variation < 0.03, (beta, total_variation)
    rate = sampler.acceptance_rate()
    assert ((rate > 0.05) & (rate < 0.95)).all(), rate


def test_parallel_tempering_swaps_in_training():
    objective = objective_with(small_rbm(), "tempering")
    for batch in batches():
        objective.set_gradients(batch)
    rate = objective.sampler.acceptance_rate()
    assert ((rate > 0) & (rate < 1)).all(), rate
    assert objective.sampler.proposed.tolist() == [80.0, 80.0, 80.0]  # 16 chains, 5 steps, each pair once a step


# --------------------------------------------------------------------------- centering


def statistics(objective: ContrastiveDivergence, rbm: RBM, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The data's and the chains' rows and hidden means after one step of ``objective`` on ``batch``."""
    objective.set_gradients(batch)
    v_model = objective.chains
    with torch.no_grad():
        return batch, torch.sigmoid(rbm.hidden_input(batch)), v_model, torch.sigmoid(rbm.hidden_input(v_model))


def centered_ascent(v_d, p_d, v_m, p_m, mu, lam):
    """The centered log-likelihood gradient, from its definition (n_hidden x n_visible layout)."""
    weight = (p_d - lam).T @ (v_d - mu) / v_d.shape[0] - (p_m - lam).T @ (v_m - mu) / v_m.shape[0]
    return weight, v_d.mean(0) - v_m.mean(0), p_d.mean(0) - p_m.mean(0)


def with_offsets(objective: ContrastiveDivergence, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    centering = objective.centering
    centering.rate = 0.0
    generator = torch.Generator().manual_seed(seed or 0)
    for offset in (centering.visible_offset, centering.hidden_offset):
        offset.copy_(torch.rand(offset.shape, generator=generator) if seed is not None else torch.zeros_like(offset))
    return centering.visible_offset.clone(), centering.hidden_offset.clone()


def test_the_centered_gradient_is_the_analytic_one():
    rbm = small_rbm()
    objective = objective_with(rbm, "centering-pcd")
    mu, lam = with_offsets(objective, seed=1)
    v_d, p_d, v_m, p_m = statistics(objective, rbm, batches(1)[0])
    weight, visible, hidden = centered_ascent(v_d, p_d, v_m, p_m, mu, lam)
    torch.testing.assert_close(rbm.weight.grad, -weight)
    torch.testing.assert_close(rbm.visible_bias.grad, -(visible - weight.T @ lam))
    torch.testing.assert_close(rbm.hidden_bias.grad, -(hidden - weight @ mu))


def test_a_centered_step_is_the_step_of_the_centered_parameters():
    rbm = small_rbm()
    objective = objective_with(rbm, "centering-pcd")
    mu, lam = with_offsets(objective, seed=2)
    v_d, p_d, v_m, p_m = statistics(objective, rbm, batches(1)[0])
    W, b, c = (p.detach().clone() for p in rbm.parameters())
    v, h = binary_states(12).float(), binary_states(8).float()
    energy = -(v @ b)[:, None] - (h @ c)[None, :] - (h @ W @ v.T).T
    # the centered parameters of the same model: equal energies up to a constant
    b_centered, c_centered = b + W.T @ lam, c + W @ mu
    centered = -((v - mu) @ b_centered)[:, None] - ((h - lam) @ c_centered)[None, :] - ((h - lam) @ W @ (v - mu).T).T
    torch.testing.assert_close(centered - energy, (centered - energy)[0, 0].expand_as(energy), atol=1e-4, rtol=0)
    # a step of 0.3 up the centered gradient, mapped back to the ordinary parameters
    weight, visible, hidden = centered_ascent(v_d, p_d, v_m, p_m, mu, lam)
    W_new = W + 0.3 * weight
    b_new, c_new = b_centered + 0.3 * visible - W_new.T @ lam, c_centered + 0.3 * hidden - W_new @ mu
    for old, grad, new in zip((W, b, c), (rbm.weight.grad, rbm.visible_bias.grad, rbm.hidden_bias.grad),
                              (W_new, b_new, c_new), strict=True):
        torch.testing.assert_close(old - 0.3 * grad, new)


def test_centering_with_zero_offsets_is_the_ordinary_gradient():
    centered_rbm, plain_rbm = small_rbm(), small_rbm()
    centered, plain = objective_with(centered_rbm, "centering-pcd"), objective_with(plain_rbm, "pcd")
    with_offsets(centered, seed=None)
    for batch in batches():
        centered.set_gradients(batch)
        plain.set_gradients(batch)
        for a, b in zip(centered_rbm.parameters(), plain_rbm.parameters(), strict=True):
            assert torch.equal(a.grad, b.grad)


def test_the_offsets_are_running_means_of_the_data():
    rbm = small_rbm()
    objective = objective_with(rbm, "centering-cd")
    centering = objective.centering
    torch.testing.assert_close(centering.hidden_offset, torch.sigmoid(rbm.hidden_bias.detach()))
    mu, lam = centering.visible_offset.clone(), centering.hidden_offset.clone()
    for batch in batches():
        with torch.no_grad():
            p_data = torch.sigmoid(rbm.hidden_input(batch))
        objective.set_gradients(batch)
        mu, lam = 0.9 * mu + 0.1 * batch.mean(0), 0.9 * lam + 0.1 * p_data.mean(0)
        torch.testing.assert_close(centering.visible_offset, mu)
        torch.testing.assert_close(centering.hidden_offset, lam)


# --------------------------------------------------------------------------- resuming


class Interrupted(Exception):
    """Raised by a callback to stop a run the way a crash would."""


def crash_at_epoch_2(model, record):
    if record["epoch"] == 2:
        raise Interrupted


@pytest.mark.parametrize("name", list(OPTIONS) + ["centered-pcd"])
def test_an_interrupted_run_with_each_option_resumes_bit_identically(tmp_path, name):
    options = OPTIONS.get(name, {"persistent": True, "centering": True, "centering_rate": 0.1})
    X = np.tile(PATTERNS, (10, 1))
    settings = {**TRAINING, "epochs": 4, **options}
    whole = RBM(12, 8).fit(X, **settings)
    with pytest.raises(Interrupted):
        RBM(12, 8).fit(X, checkpoint=tmp_path / "rbm.pt", callbacks=[crash_at_epoch_2], **settings)
    resumed = RBM.load(tmp_path / "rbm.pt")
    assert resumed.training_state_["sampler" if "centering" not in options else "centering"] is not None
    resumed.resume(X, progress=False)
    for a, b in zip(resumed.parameters(), whole.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_tempering_is_refused_before_training_for_units_without_an_exact_free_energy():
    rbm = RBM(12, 8, hidden="relu")
    before = rbm.weight.detach().clone()
    with pytest.raises(ValueError, match="tempering needs unit types with an exact free energy"):
        rbm.fit(np.tile(PATTERNS, (4, 1)), persistent=True, tempering=3, progress=False, seed=0)
    assert torch.equal(rbm.weight, before)
