"""An upper RBM started as the prior of the one below: exact on tiny models, and the greedy gain."""

from __future__ import annotations

import pytest
import torch
from conftest import binary_states

from dbn import RBM, DeepBeliefNet, cd_trainer, stack
from dbn.likelihood import ais
from dbn.prior import start_as_prior, transposed


def random_rbm(n_visible: int, n_hidden: int, seed: int, scale: float = 1.0) -> RBM:
    generator = torch.Generator().manual_seed(seed)
    rbm = RBM(n_visible, n_hidden, dtype=torch.float64)
    with torch.no_grad():
        rbm.weight.copy_(torch.randn(rbm.weight.shape, generator=generator, dtype=torch.float64) * scale)
        rbm.visible_bias.copy_(torch.randn(n_visible, generator=generator, dtype=torch.float64) * 0.5)
        rbm.hidden_bias.copy_(torch.randn(n_hidden, generator=generator, dtype=torch.float64) * 0.5)
    return rbm


def hidden_marginal(rbm: RBM) -> torch.Tensor:
    """log p(h) of every hidden state of ``rbm``, by enumerating its visible layer."""
    v, h = binary_states(rbm.n_visible), binary_states(rbm.n_hidden)
    W, b, c = rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    joint = (v @ b).unsqueeze(1) + (h @ c).unsqueeze(0) + v @ W.T @ h.T
    marginal = torch.logsumexp(joint, 0)
    return marginal - torch.logsumexp(marginal, 0)


def upper_log_likelihood(upper: RBM, states: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return -upper.free_energy(states) - upper.log_partition("exact")


def test_same_width_start_is_exactly_the_lower_prior():
    lower = random_rbm(6, 4, seed=0)
    upper = start_as_prior(RBM(4, 6, dtype=torch.float64), lower)
    assert torch.allclose(upper_log_likelihood(upper, binary_states(4)), hidden_marginal(lower), atol=1e-10)
    assert torch.equal(upper.weight, lower.weight.T)


def test_extra_units_change_the_prior_only_to_second_order():
    lower = random_rbm(6, 4, seed=1)
    exact = hidden_marginal(lower)
    gaps = []
    for scale in (0.01, 0.1):
        upper = start_as_prior(RBM(4, 20, dtype=torch.float64), lower, scale=scale,
                               generator=torch.Generator().manual_seed(0))
        gaps.append((upper_log_likelihood(upper, binary_states(4)) - exact).abs().max().item())
    assert gaps[0] < 1e-3  # 14 extra units, at most 4 active: about 14 * 1e-4 * 4 / 8
    assert 50 < gaps[1] / gaps[0] < 200  # quadratic in the scale


def test_dbn_started_from_the_prior_bounds_at_the_lower_likelihood():
    """The factorial posterior is exact for such a DBN: its bound is the lower RBM's log p(v)."""
    net = DeepBeliefNet([6, 4, 9], dtype=torch.float64)
    lower = random_rbm(6, 4, seed=2)
    net.rbms[0].load_state_dict(lower.state_dict())
    start_as_prior(net.rbms[1], net.rbms[0], generator=torch.Generator().manual_seed(1))
    net.n_trained.fill_(2)
    rows = binary_states(6)[::5]
    bound, error = net.log_likelihood_bound(rows, n_samples=400, method="exact", return_error=True,
                                            generator=torch.Generator().manual_seed(2))
    assert error < 0.05
    assert abs(bound - lower.log_likelihood(rows, method="exact")) < 4 * error


def test_training_the_prior_start_on_posterior_samples_raises_the_bound():
    """The greedy guarantee: a lower RBM whose prior does not match its posterior on the data (random
    weights) leaves room, and training the upper RBM on posterior samples lifts the DBN above it."""
    generator = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(3, 6, generator=generator) < 0.5).double()
    data = (prototypes.repeat(100, 1).bool() ^ (torch.rand(300, 6, generator=generator) < 0.05)).double()
    lower = random_rbm(6, 4, seed=3, scale=1.5)
    samples = lower.sample_hidden(data.repeat(10, 1), generator=generator)
    upper = start_as_prior(RBM(4, 10, dtype=torch.float64), lower, data_mean=samples.mean(0), generator=generator)
    net = DeepBeliefNet([6, 4, 10], dtype=torch.float64)
    net.rbms[0].load_state_dict(lower.state_dict())
    net.n_trained.fill_(2)

    def bound() -> float:
        net.rbms[1].load_state_dict(upper.state_dict())
        return net.log_likelihood_bound(data, n_samples=200, method="exact", generator=torch.Generator().manual_seed(1))

    start, lower_likelihood = bound(), lower.log_likelihood(data, method="exact")
    upper.fit(samples, epochs=10, lr=0.01, momentum=0.0, weight_decay=0.0, batch_size=20, persistent=True, seed=0,
              warm_start=True, progress=False)
    assert start == pytest.approx(lower_likelihood, abs=0.01)
    assert bound() > lower_likelihood + 0.05


@pytest.mark.parametrize(
    ("upper", "lower", "message"),
    [
        (RBM(5, 8), RBM(8, 4), "upper.n_visible must equal lower.n_hidden"),
        (RBM(4, 6), RBM(8, 4), "upper.n_hidden must be at least lower.n_visible"),
        (RBM(4, 8, hidden="relu"), RBM(8, 4), "upper must have Bernoulli visible and hidden units"),
        (RBM(4, 8), RBM(8, 4, visible="gaussian"), "lower must have Bernoulli visible and hidden units"),
    ],
)
def test_refuses_models_whose_prior_is_no_such_rbm(upper, lower, message):
    before = upper.weight.detach().clone()
    with pytest.raises(ValueError, match=message):
        start_as_prior(upper, lower)
    assert torch.equal(upper.weight, before)


def test_refuses_a_data_mean_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"data_mean must have shape \(4,\)"):
        start_as_prior(RBM(4, 8), RBM(8, 4), data_mean=torch.zeros(8))


@pytest.mark.parametrize("upper_start", ["prior", "random"])
def test_pretrain_starts_the_upper_rbm_as_asked(upper_start):
    """With a negligible rate for the upper RBM its start shows: the prior start holds the lower RBM
    transposed and bounds the DBN at the first RBM's log-likelihood."""
    generator = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(3, 6, generator=generator) < 0.5).double()
    data = (prototypes.repeat(100, 1).bool() ^ (torch.rand(300, 6, generator=generator) < 0.05)).double()
    net = DeepBeliefNet([6, 4, 10], dtype=torch.float64, epochs=[20, 2], lr=[0.05, 1e-9], momentum=0.0, batch_size=20)
    net.pretrain(data, upper_start=upper_start, propagate="sample", progress=False, seed=0)
    lower, upper = net.rbms
    assert len(upper.history_) == 2
    copied = torch.allclose(upper.weight[:6], lower.weight.T, atol=1e-6)
    assert copied == (upper_start == "prior")
    if upper_start == "prior":
        bound, error = net.log_likelihood_bound(data, n_samples=200, method="exact", return_error=True,
                                                generator=torch.Generator().manual_seed(1))
        assert abs(bound - lower.log_likelihood(data, method="exact")) < 4 * error + 1e-3


@pytest.mark.parametrize(
    ("layers", "upper_start", "message"),
    [
        ([6, 4, 10], "transpose", "upper_start must be 'random' or 'prior', got 'transpose'"),
        ([6, 4, 5], "prior", r"upper.n_hidden must be at least lower.n_visible \(6\), got 5"),
    ],
)
def test_pretrain_refuses_a_bad_upper_start_before_training(layers, upper_start, message):
    net = DeepBeliefNet(layers, epochs=1)
    before = net.rbms[0].weight.detach().clone()
    with pytest.raises(ValueError, match=message):
        net.pretrain(torch.rand(20, 6), upper_start=upper_start, progress=False)
    assert int(net.n_trained) == 0 and torch.equal(net.rbms[0].weight, before)


def test_transposed_rbm_has_the_same_partition_function_and_ais_finds_it():
    rbm = random_rbm(8, 5, seed=4)
    flipped = transposed(rbm, data_mean=torch.full((5,), 0.4, dtype=torch.float64))
    assert (flipped.n_visible, flipped.n_hidden) == (5, 8)
    assert flipped.log_partition("exact") == pytest.approx(rbm.log_partition("exact"), abs=1e-10)
    assert torch.allclose(flipped.data_mean, torch.full((5,), 0.4, dtype=torch.float64))
    result = ais(flipped, n_chains=200, n_betas=1000, generator=torch.Generator().manual_seed(0))
    assert abs(result.log_z - rbm.log_partition("exact")) < 4 * result.std_error + 0.02


@pytest.fixture()
def started_chains(monkeypatch):
    """The chains each persistent fit starts from, as ``initial_chains`` returns them."""
    seen = []

    def spy(*args, **kwargs):
        chains = original(*args, **kwargs)
        if chains is not None:  # the non-persistent fits start no chains
            seen.append(chains.clone())
        return chains

    original = cd_trainer.initial_chains
    monkeypatch.setattr(cd_trainer, "initial_chains", spy)
    return seen


def test_chains_given_to_the_start_are_continued_by_persistent_cd(started_chains):
    lower = random_rbm(6, 4, seed=5)
    chains = binary_states(4)[3:11]
    upper = start_as_prior(RBM(4, 6, dtype=torch.float64), lower, chains=chains)
    assert torch.equal(upper.persistent_chains_, chains) and upper.persistent_chains_ is not chains
    upper.fit(binary_states(4).repeat(4, 1), epochs=1, lr=1e-9, batch_size=8, persistent=True, n_chains=8,
              warm_start=True, seed=0, progress=False)
    assert torch.equal(started_chains[0], chains)
    with pytest.raises(ValueError, match=r"chains must have shape \(n_chains, 4\), got \(8, 5\)"):
        start_as_prior(RBM(4, 6, dtype=torch.float64), lower, chains=torch.zeros(8, 5))


def test_chains_of_another_count_are_replaced_with_a_warning():
    upper = start_as_prior(RBM(4, 6, dtype=torch.float64), random_rbm(6, 4, seed=5), chains=binary_states(4)[:8])
    with pytest.warns(RuntimeWarning, match="persistent_chains_ holds 8 chains but n_chains is 16"):
        upper.fit(binary_states(4).repeat(4, 1), epochs=1, batch_size=8, persistent=True, n_chains=16,
                  warm_start=True, seed=0, progress=False)


@pytest.mark.parametrize("streamed", [False, True])
def test_pretrain_starts_persistent_chains_at_samples_of_the_layer_below(streamed, started_chains, monkeypatch):
    """The upper RBM's chains start at rows of its data (binary: the samples the lower RBM passes up),
    also from a stream of batches, and its base rate is that data's mean."""
    data = binary_states(6).repeat(4, 1)
    net = DeepBeliefNet([6, 4, 8], dtype=torch.float64, epochs=[5, 1], lr=[0.05, 1e-9], momentum=0.0, batch_size=16,
                        persistent=[False, True], n_chains=[None, 16])
    given = []

    def recording(upper, lower, **options):
        given.append(options["chains"])
        return start_as_prior(upper, lower, **options)

    monkeypatch.setattr(stack, "start_as_prior", recording)
    source = list(data.split(16)) if streamed else data
    net.pretrain(source, upper_start="prior", propagate="mean" if streamed else "sample", progress=False, seed=0)
    lower, upper = net.rbms
    assert len(given) == 1 and given[0].shape == (16, 4) and set(given[0].flatten().tolist()) <= {0.0, 1.0}
    assert torch.equal(started_chains[-1], given[0])
    assert torch.allclose(upper.data_mean, lower.transform(data).mean(0), atol=0.15)
