"""One-of-K (softmax) groups and layers made of several unit types: sampling, log-partitions
against brute force, exact likelihoods over valid states only, CD training on categorical data,
biases from data, argument checks and checkpoints (of RBMs and deep belief nets, and the clear
refusal of unit types that a checkpoint could not rebuild)."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from conftest import binary_states, joint_log_weights

from dbn import RBM, DeepBeliefNet
from dbn.monitors import exact_pseudo_likelihood, pseudo_likelihood, reconstruction_errors
from dbn.units import (
    BernoulliUnits,
    GaussianUnits,
    SoftmaxUnits,
    UnitGroups,
    Units,
    units_from_json,
    units_to_json,
)

MIXED = [(BernoulliUnits(), 3), (SoftmaxUnits(3), 3)]


def one_hot_states(n_groups: int, size: int) -> torch.Tensor:
    """Every state of ``n_groups`` one-of-``size`` groups, written out independently of dbn.units."""
    eye = torch.eye(size, dtype=torch.float64)
    choices = itertools.product(range(size), repeat=n_groups)
    return torch.stack([torch.cat([eye[k] for k in choice]) for choice in choices])


def mixed_states() -> torch.Tensor:
    """The 8 x 3 valid states of the MIXED layer: 3 free bits, then one one-of-3 group."""
    return torch.cat([torch.cat([b, s]).unsqueeze(0) for b in binary_states(3) for s in one_hot_states(1, 3)])


def random_rbm(n_hidden: int, scale: float = 1.0, seed: int = 0) -> RBM:
    rbm = RBM(6, n_hidden, visible=UnitGroups(MIXED), dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in (rbm.weight, rbm.visible_bias, rbm.hidden_bias):
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return rbm


def categorical_data(n: int = 2000) -> torch.Tensor:
    """Two one-of-4 groups: the first skewed, the second equal to it with probability 0.7."""
    generator = torch.Generator().manual_seed(0)
    first = torch.multinomial(torch.tensor([0.5, 0.25, 0.15, 0.1]), n, replacement=True, generator=generator)
    copy = torch.rand(n, generator=generator) < 0.7
    second = torch.where(copy, first, torch.randint(4, (n,), generator=generator))
    return torch.cat([torch.nn.functional.one_hot(first, 4), torch.nn.functional.one_hot(second, 4)], 1).float()


# ---------------------------------------------------------------------------- sampling


def test_softmax_samples_one_unit_per_group_with_the_softmax_frequencies():
    units = SoftmaxUnits(4)
    logits = torch.tensor([2.0, 0.0, -1.0, 0.5, -3.0, 1.0, 1.0, 0.0])
    n = 20000
    samples = units.sample(logits.expand(n, -1), torch.Generator().manual_seed(1))
    assert samples.shape == (n, 8)
    assert set(samples.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(samples.view(n, 2, 4).sum(-1), torch.ones(n, 2))
    probabilities = units.mean(logits).view(2, 4)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2))
    counts = samples.view(n, 2, 4).sum(0)
    chi_square = ((counts - n * probabilities) ** 2 / (n * probabilities)).sum(-1)
    assert bool((chi_square < 16.3).all()), chi_square  # 3 degrees of freedom, p = 0.001


def test_softmax_sampling_is_reproducible_and_uses_the_given_mean():
    units = SoftmaxUnits(3)
    z = torch.randn(50, 9, generator=torch.Generator().manual_seed(0))
    first = units.sample(z, torch.Generator().manual_seed(5))
    assert torch.equal(first, units.sample(z, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, units.sample(z, torch.Generator().manual_seed(6)))
    # a given mean is what is sampled from: certain units are always on
    certain = torch.zeros(50, 9)
    certain[:, [2, 3, 7]] = 1.0
    assert torch.equal(units.sample(z, torch.Generator().manual_seed(5), mean=certain), certain)


def test_mixed_layers_sample_each_segment_with_its_own_type():
    units = UnitGroups(MIXED)
    samples = units.sample(torch.zeros(1000, 6), torch.Generator().manual_seed(0))
    assert set(samples.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(samples[:, 3:].sum(1), torch.ones(1000))
    assert 1.2 < float(samples[:, :3].sum(1).mean()) < 1.8  # independent bits with p = 1/2


# ---------------------------------------------------------------------------- log-partitions


@pytest.mark.parametrize(
    ("units", "states"),
    [(SoftmaxUnits(3), one_hot_states(2, 3)), (UnitGroups(MIXED), mixed_states())],
    ids=["softmax", "groups"],
)
def test_log_partition_is_logsumexp_over_the_valid_states(units, states):
    z = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    log_partition = units.log_partition(z)
    assert log_partition.shape == ((5, 2) if isinstance(units, SoftmaxUnits) else (5, 4))
    brute = torch.logsumexp(z @ states.T - units.base(states), 1)
    torch.testing.assert_close(log_partition.sum(-1), brute)
    # its derivative is the conditional mean
    (gradient,) = torch.autograd.grad(log_partition.sum(), z)
    torch.testing.assert_close(gradient, units.mean(z))
    # the states a layer enumerates are exactly the valid ones
    assert units.n_states(6) == states.shape[0]
    listed = units.states(6, torch.arange(units.n_states(6)), torch.float64)
    assert sorted(map(tuple, listed.tolist())) == sorted(map(tuple, states.tolist()))


def test_bernoulli_states_are_unchanged():
    listed = BernoulliUnits().states(5, torch.arange(32), torch.float32)
    expected = ((torch.arange(32).unsqueeze(1) >> torch.arange(5)) & 1).float()
    assert torch.equal(listed, expected)


@pytest.mark.parametrize("n_hidden", [4, 6], ids=["enumerate-hidden", "enumerate-visible"])
def test_exact_log_partition_sums_over_valid_visible_states_only(n_hidden):
    rbm = random_rbm(n_hidden)
    v, h = mixed_states(), binary_states(n_hidden)
    log_weights = joint_log_weights(rbm, v, h)  # -E(v, h) from the energy's definition (base 0 here)
    brute = float(torch.logsumexp(log_weights.flatten(), 0))
    assert rbm.log_partition("exact") == pytest.approx(brute, abs=1e-9)
    # the free energy marginalises the hidden units, and p(v) sums to one over the valid states
    torch.testing.assert_close(rbm.free_energy(v), -torch.logsumexp(log_weights, 1))
    log_p = torch.tensor([rbm.log_likelihood(state.unsqueeze(0)) for state in v], dtype=torch.float64)
    assert float(torch.logsumexp(log_p, 0)) == pytest.approx(0.0, abs=1e-9)


def test_ais_agrees_with_exact_for_one_of_k_visible_units():
    rbm = random_rbm(4, scale=0.7, seed=1)
    with torch.no_grad():
        rbm.data_mean.copy_(torch.tensor([0.3, 0.6, 0.5, 0.2, 0.5, 0.3], dtype=torch.float64))
    exact = rbm.log_partition("exact")
    estimate, error = rbm.log_partition(
        "ais", n_chains=200, n_betas=1000, generator=torch.Generator().manual_seed(0), return_error=True
    )
    assert abs(estimate - exact) < 4 * error + 0.02


def test_one_of_k_hidden_units_have_exact_and_ais_partition_functions():
    rbm = RBM(6, 4, hidden=SoftmaxUnits(2), dtype=torch.float64)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for parameter in (rbm.weight, rbm.visible_bias, rbm.hidden_bias):
            parameter.copy_(0.7 * torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    brute = float(torch.logsumexp(joint_log_weights(rbm, binary_states(6), one_hot_states(2, 2)).flatten(), 0))
    assert rbm.log_partition("exact") == pytest.approx(brute, abs=1e-9)
    estimate, error = rbm.log_partition(
        "ais", n_chains=200, n_betas=1000, generator=torch.Generator().manual_seed(0), return_error=True
    )
    assert abs(estimate - brute) < 4 * error + 0.02


def test_the_base_rate_partition_function_counts_one_term_per_group():
    rbm = RBM(6, 3, visible=UnitGroups(MIXED), dtype=torch.float64)
    with torch.no_grad():
        rbm.weight.zero_()
        rbm.hidden_bias.zero_()
        rbm.visible_bias.copy_(rbm.base_rate_bias())
    # without weights the model is the base-rate model itself: every AIS weight is one
    estimate = rbm.log_partition("ais", n_chains=5, n_betas=10, generator=torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(rbm.log_partition("exact"), abs=1e-9)
    # data_mean starts at 1/2: three free bits, one group of three equal terms 1/2, three hidden bits
    assert rbm.log_partition("exact") == pytest.approx(3 * math.log(2) + math.log(1.5) + 3 * math.log(2), abs=1e-9)


# ---------------------------------------------------------------------------- training


def test_cd_learns_categorical_data():
    data = categorical_data()
    frequencies = data.mean(0)
    rbm = RBM(8, 8, visible=SoftmaxUnits(4))
    rbm.fit(data, epochs=1, lr=1e-6, progress=False, seed=0)
    before = rbm.log_likelihood(data)
    rbm.fit(data, epochs=30, batch_size=50, lr=0.1, progress=False, seed=0)
    after = rbm.log_likelihood(data)
    # the independent model with the data's category frequencies is what the first fit started at
    independent = float((data * torch.log(frequencies)).sum(1).mean())
    assert before == pytest.approx(independent, abs=0.01)
    assert after > before + 0.2  # the groups' dependence is learnt (the mutual information is ~0.5 nats)
    assert rbm.history_[-1]["pseudo_likelihood"] is None and rbm.history_[-1]["recon_kl"] is None
    samples = rbm.sample(2000, 200, generator=torch.Generator().manual_seed(1))
    assert set(samples.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(samples.view(-1, 2, 4).sum(-1), torch.ones(2000, 2))
    # the chains reach the model's exact marginals (4 standard errors), which CD-1 fits roughly to the data's
    states = one_hot_states(2, 4).float()
    with torch.no_grad():
        model = (torch.exp(-rbm.free_energy(states).double() - rbm.log_partition()).unsqueeze(1) * states).sum(0)
    assert float((samples.mean(0) - model).abs().max()) < 0.045
    assert float((samples.mean(0) - frequencies).abs().max()) < 0.1
    agreement = float((samples.view(-1, 2, 4).argmax(-1).diff(dim=1) == 0).float().mean())
    assert agreement == pytest.approx(0.7 + 0.3 / 4, abs=0.1)


def test_visible_biases_from_data_are_the_log_category_frequencies():
    data = categorical_data()
    rbm = RBM(8, 3, visible=SoftmaxUnits(4))
    rbm.fit(data, epochs=1, lr=1e-9, progress=False, seed=0)  # the biases stay at their initial values
    frequencies = data.mean(0)
    torch.testing.assert_close(rbm.base_rate_bias(), torch.log(frequencies))
    torch.testing.assert_close(rbm.visible_bias.detach(), torch.log(frequencies), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.softmax(rbm.base_rate_bias().view(2, 4), -1).flatten(), frequencies)


def test_mixed_layers_take_each_segments_bias_rule_and_bernoulli_numbers_are_unchanged():
    p = torch.tensor([0.2, 0.0005, 0.9, 0.5, 0.3, 0.2])
    bias = UnitGroups(MIXED).bias_from_mean(p)
    clipped = p[:3].clamp(1e-3, 1 - 1e-3)
    assert torch.equal(bias[:3], torch.log(clipped) - torch.log1p(-clipped))
    assert torch.equal(BernoulliUnits().bias_from_mean(p[:3]), bias[:3])
    torch.testing.assert_close(bias[3:], torch.log(p[3:]))
    assert torch.equal(GaussianUnits().bias_from_mean(p), torch.zeros(6))


# ---------------------------------------------------------------------------- monitors and arguments


def test_pseudo_likelihood_is_not_computed_for_one_of_k_groups():
    rbm = random_rbm(4)
    v = mixed_states()
    assert pseudo_likelihood(rbm, v, torch.Generator().manual_seed(0)) is None
    with pytest.raises(ValueError, match="flipped one at a time"):
        exact_pseudo_likelihood(rbm, v)
    mse, kl = reconstruction_errors(rbm, v)
    assert mse > 0 and kl is None


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: SoftmaxUnits(1), ValueError, "size must be at least 2"),
        (lambda: SoftmaxUnits(2.5), TypeError, "size must be an integer"),
        (lambda: RBM(7, 3, visible=UnitGroups(MIXED)), ValueError, r"visible units UnitGroups.* 6 units, got 7"),
        (lambda: RBM(7, 3, visible=SoftmaxUnits(3)), ValueError, r"visible units SoftmaxUnits\(3\).*multiple of 3"),
        (lambda: RBM(6, 5, hidden=SoftmaxUnits(2)), ValueError, "hidden units.*multiple of 2, got 5"),
        (lambda: UnitGroups([(GaussianUnits(), 3)]), ValueError, "give Gaussian units a layer of their own"),
        (lambda: UnitGroups([(SoftmaxUnits(3), 4)]), ValueError, r"parts\[0\] units SoftmaxUnits\(3\).*multiple of 3"),
        (lambda: UnitGroups([(BernoulliUnits(), 0)]), ValueError, r"parts\[0\] size must be > 0"),
        (lambda: UnitGroups([BernoulliUnits()]), TypeError, r"parts\[0\] must be a \(units, size\) pair"),
        (lambda: UnitGroups([]), ValueError, "at least one"),
    ],
    ids=[
        "size=1",
        "size=2.5",
        "groups-n_visible",
        "softmax-n_visible",
        "softmax-n_hidden",
        "gaussian-part",
        "softmax-part-size",
        "part-size=0",
        "not-a-pair",
        "no-parts",
    ],
)
def test_bad_arguments_are_refused_with_clear_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_flags_of_mixed_layers_hold_for_every_segment():
    units = UnitGroups([(BernoulliUnits(), 4), ("relu", 2)])
    assert units.n_units == 6 and not units.unit_interval and not units.exact_free_energy and units.elementwise
    assert UnitGroups(MIXED).unit_interval and not UnitGroups(MIXED).elementwise
    assert SoftmaxUnits(3).n_units is None


# ---------------------------------------------------------------------------- checkpoints


def test_mixed_layers_survive_a_checkpoint(tmp_path):
    rbm = random_rbm(4)
    rbm.save(tmp_path / "mixed.pt")
    loaded = RBM.load(tmp_path / "mixed.pt")
    assert repr(loaded.visible) == repr(rbm.visible) == "UnitGroups([(BernoulliUnits(), 3), (SoftmaxUnits(3), 3)])"
    assert [type(part) for part in loaded.visible.parts] == [BernoulliUnits, SoftmaxUnits]
    assert loaded.visible.sizes == [3, 3]
    v = mixed_states()
    torch.testing.assert_close(loaded.free_energy(v), rbm.free_energy(v))
    assert loaded.log_partition("exact") == rbm.log_partition("exact")


def test_nested_unit_types_round_trip_through_json():
    units = UnitGroups([(UnitGroups([(SoftmaxUnits(2), 4), (BernoulliUnits(), 1)]), 5), (SoftmaxUnits(5), 10)])
    restored = units_from_json(json.loads(json.dumps(units_to_json(units))), argument="visible")
    assert repr(restored) == repr(units) and restored.n_units == 15
    z = torch.randn(3, 15, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(restored.log_partition(z), units.log_partition(z))
    assert units_to_json(BernoulliUnits()) == "bernoulli"


@pytest.mark.parametrize(
    ("visible", "hidden"),
    [
        (SoftmaxUnits(4), "bernoulli"),
        (UnitGroups([(BernoulliUnits(), 4), (SoftmaxUnits(4), 4)]), [SoftmaxUnits(3), "bernoulli"]),
    ],
    ids=["softmax", "groups"],
)
def test_a_deep_belief_net_with_one_of_k_or_mixed_units_survives_a_checkpoint(visible, hidden, tmp_path):
    data = categorical_data(200)
    net = DeepBeliefNet([8, 6, 3], visible=visible, hidden=hidden, epochs=1, batch_size=50)
    net.pretrain(data, progress=False, seed=0)
    net.save(tmp_path / "net.pt")
    loaded = DeepBeliefNet.load(tmp_path / "net.pt")
    assert loaded.config() == net.config()
    for original, restored in zip(net.rbms, loaded.rbms, strict=True):
        assert repr(restored.visible) == repr(original.visible) and repr(restored.hidden) == repr(original.hidden)
        assert type(restored.visible) is type(original.visible)
    for name, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert torch.equal(loaded.transform(data), net.transform(data))
    assert torch.equal(loaded.sample(5, 3, seed=1), net.sample(5, 3, seed=1))


class TensorAttributeUnits(BernoulliUnits):
    """Importable, but with an attribute no JSON header can hold."""

    name = "tensor_attribute"

    def __init__(self) -> None:
        self.scale = torch.ones(3)


def local_units() -> Units:
    class LocalUnits(BernoulliUnits):
        name = "local"

    return LocalUnits()


@pytest.mark.parametrize(
    ("units", "message"),
    [
        (local_units(), r"unit type 'local_units.<locals>.LocalUnits' cannot be saved: .* define it at the top level"),
        (TensorAttributeUnits(), r"unit type 'TensorAttributeUnits' cannot be saved: its attributes must be JSON"),
    ],
    ids=["defined in a function", "tensor attribute"],
)
def test_a_unit_type_a_checkpoint_could_not_rebuild_is_refused_at_save(units, message, tmp_path):
    for model in (RBM(8, 3, visible=units), DeepBeliefNet([8, 3], visible=units),
                  DeepBeliefNet([8, 5, 3], hidden=[units, "bernoulli"])):
        with pytest.raises(ValueError, match=message):
            model.save(tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_stored_unit_type_that_cannot_be_rebuilt_is_named_at_load():
    with pytest.raises(ValueError, match="visible units of class 'gone_module:Gone' cannot be imported again"):
        units_from_json({"class": "gone_module:Gone", "attributes": {}}, argument="visible")
    with pytest.raises(ValueError, match="hidden units of class 'builtins:dict': that is not a dbn.units.Units"):
        units_from_json({"class": "builtins:dict", "attributes": {}}, argument="hidden")
    with pytest.raises(ValueError, match="visible units are stored as 7, not as a name or a class"):
        units_from_json(7, argument="visible")
