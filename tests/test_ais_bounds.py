"""AIS you can trust: batch error bars, convergence warnings, and forward/reverse bounds on log Z,
checked against exact enumeration on small RBMs."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import binary_states, random_rbm

from dbn import RBM
from dbn.likelihood import ais, ais_log_partition, effective_sample_size, log_partition_bounds, reverse_ais


def exact_samples(rbm: RBM, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` exact samples of the visible layer: ``h`` from its marginal by enumerating the hidden
    states, :math:`\\log p^*(h) = c^\\top h + \\sum_i \\mathrm{softplus}(b + W^\\top h)_i`, then ``v ~ p(v | h)``."""
    W, b, c = rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    H = binary_states(rbm.n_hidden).to(W.dtype)
    log_p = (H @ c + F.softplus(H @ W + b).sum(1)).double()
    h = H[torch.multinomial(torch.softmax(log_p, 0), n, replacement=True, generator=generator)]
    return torch.bernoulli(torch.sigmoid(h @ W + b), generator=generator)


@pytest.fixture(scope="module")
def hard_rbm() -> RBM:
    """Large random weights, a multimodal model: 20 temperatures leave forward AIS ~2 nats low."""
    return random_rbm(20, 12, scale=2.0, seed=1)


@pytest.fixture(scope="module")
def trained_rbm() -> tuple[RBM, torch.Tensor]:
    """An RBM trained by CD on four noisy binary prototypes, with its training data."""
    generator = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(4, 16, generator=generator) < 0.5).float()
    data = (prototypes.repeat(50, 1).bool() ^ (torch.rand(200, 16, generator=generator) < 0.05)).float()
    return RBM(16, 8).fit(data, epochs=5, batch_size=10, lr=0.1, progress=False, seed=0), data


def models(hard_rbm: RBM, trained_rbm: tuple[RBM, torch.Tensor]) -> dict[str, RBM]:
    return {"random": random_rbm(20, 10, scale=0.5, seed=2), "hard": hard_rbm, "trained": trained_rbm[0]}


def quiet(function, *args, **kwargs):
    """Call ``function`` with the convergence warnings of short anneals silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args, **kwargs)


def test_effective_sample_size_is_n_for_equal_weights_and_one_for_a_dominant_weight():
    assert effective_sample_size(torch.full((50,), -3.0)) == pytest.approx(50.0)
    assert effective_sample_size(torch.tensor([0.0] + [-800.0] * 49)) == pytest.approx(1.0)
    log_w = torch.randn(200, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    assert 1.0 <= effective_sample_size(log_w) <= 200.0
    w = torch.exp(log_w)
    assert effective_sample_size(log_w) == pytest.approx(float(w.sum() ** 2 / (w * w).sum()))


def test_weights_are_unbiased_for_z_forward_and_for_one_over_z_in_reverse():
    """E[w] = Z / Z_0 and, from exact samples, E[1/w] = Z_0 / Z for any number of temperatures: with
    many chains even a 10-temperature anneal pins log Z down, in both directions."""
    rbm = random_rbm(8, 5, scale=1.5, seed=1)
    exact = rbm.log_partition("exact")
    generator = torch.Generator().manual_seed(0)
    forward = ais(rbm, n_chains=20000, n_betas=10, n_batches=20, generator=generator, check_convergence=False)
    reverse = reverse_ais(rbm, exact_samples(rbm, 20000, generator), n_betas=10, n_batches=20, gibbs_steps=0,
                          generator=generator, check_convergence=False)
    for result in (forward, reverse):
        assert abs(result.log_z - exact) < 4 * result.std_error and result.std_error < 0.03


@pytest.mark.parametrize("name", ["random", "hard", "trained"])
def test_long_forward_and_reverse_anneals_agree_with_exact_within_their_errors(name, hard_rbm, trained_rbm):
    rbm = models(hard_rbm, trained_rbm)[name]
    exact = rbm.log_partition("exact")
    generator = torch.Generator().manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # converged: no warning
        forward = ais(rbm, n_chains=100, n_betas=1000, generator=generator)
        reverse = reverse_ais(rbm, exact_samples(rbm, 100, generator), n_betas=1000, gibbs_steps=0, generator=generator)
    for result in (forward, reverse):
        assert result.converged and result.n_chains == 100 and result.n_betas == 1000
        assert abs(result.log_z - exact) < 3 * result.std_error
        assert 0 < result.std_error < 0.3 and len(result.batch_log_z) == 10
        assert 1.0 <= result.ess <= 100.0 and result.log_z_half is not None
    assert (forward.direction, reverse.direction) == ("forward", "reverse")


@pytest.mark.parametrize("n_betas", [50, 1000])
@pytest.mark.parametrize("name", ["random", "hard", "trained"])
def test_bounds_contain_exact_log_partition_for_short_and_long_anneals(name, n_betas, hard_rbm, trained_rbm):
    rbm = models(hard_rbm, trained_rbm)[name]
    exact = rbm.log_partition("exact")
    generator = torch.Generator().manual_seed(2)
    start = exact_samples(rbm, 100, generator)
    lower, upper = quiet(
        log_partition_bounds, rbm, start, n_chains=50, n_betas=n_betas, gibbs_steps=0, generator=generator,
        check_convergence=False,
    )
    assert lower <= exact <= upper
    if n_betas == 1000:
        assert upper - lower < 1.0


def test_short_anneals_are_biased_and_their_interval_still_covers_exact(hard_rbm):
    """20 seeded runs of 50 temperatures: forward estimates are low and reverse ones high on
    average (the two stochastic bounds), and the reported interval covers exact in >= 80% of runs."""
    exact = hard_rbm.log_partition("exact")
    forward, reverse, covered = [], [], 0
    for seed in range(20):
        generator = torch.Generator().manual_seed(100 + seed)
        low = quiet(ais, hard_rbm, n_chains=50, n_betas=50, generator=generator, check_convergence=False)
        start = exact_samples(hard_rbm, 50, generator)
        high = quiet(reverse_ais, hard_rbm, start, n_betas=50, gibbs_steps=0, generator=generator,
                     check_convergence=False)
        forward.append(low.log_z)
        reverse.append(high.log_z)
        covered += low.log_z - 2 * low.std_error <= exact <= high.log_z + 2 * high.std_error
    assert sum(forward) / 20 < exact - 0.3
    assert sum(reverse) / 20 > exact + 0.3
    assert covered >= 16


def test_convergence_warning_fires_for_a_short_anneal_and_not_for_a_long_one(hard_rbm):
    exact = hard_rbm.log_partition("exact")
    with pytest.warns(RuntimeWarning, match="forward AIS has not converged.*too low"):
        short = ais(hard_rbm, n_chains=100, n_betas=20, generator=torch.Generator().manual_seed(3))
    assert not short.converged and short.log_z < exact - 1.0
    assert short.log_z_half is not None and short.ess_fraction < 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        long = ais(hard_rbm, n_chains=100, n_betas=1000, generator=torch.Generator().manual_seed(3))
    assert long.converged and abs(long.log_z - exact) < 0.3


def test_reverse_warning_says_the_estimate_is_too_high(hard_rbm):
    generator = torch.Generator().manual_seed(4)
    with pytest.warns(RuntimeWarning, match="reverse AIS has not converged.*too high"):
        result = reverse_ais(hard_rbm, exact_samples(hard_rbm, 100, generator), n_betas=10, gibbs_steps=0,
                             generator=generator)
    assert result.log_z > hard_rbm.log_partition("exact") and not result.converged


def test_delta_method_error_stays_below_one_nat_where_the_batches_show_more(hard_rbm):
    """One chain carrying all the weight gives the delta method sd(w) / (sqrt(M) mean w) = 1: it
    cannot report the scatter of a bad estimate, which the spread of the batches does."""
    result = quiet(ais, hard_rbm, n_chains=100, n_betas=10, generator=torch.Generator().manual_seed(5))
    exact = hard_rbm.log_partition("exact")
    assert result.delta_std_error <= 1.0 + 1e-9
    assert result.std_error > result.delta_std_error
    assert max(result.batch_log_z) - min(result.batch_log_z) > 2.0
    assert exact - result.log_z > 2 * result.delta_std_error


def test_old_api_returns_the_estimate_and_its_batch_error(trained_rbm):
    rbm, _ = trained_rbm
    options = dict(n_chains=50, n_betas=200)
    log_z, error = rbm.log_partition("ais", return_error=True, generator=torch.Generator().manual_seed(6), **options)
    result = ais(rbm, generator=torch.Generator().manual_seed(6), **options)
    assert isinstance(log_z, float) and isinstance(error, float)
    assert (log_z, error) == (result.log_z, result.std_error)
    assert ais_log_partition(rbm, generator=torch.Generator().manual_seed(6), **options) == (log_z, error)
    assert abs(log_z - rbm.log_partition("exact")) < 3 * error
    rows = torch.zeros(3, 16)
    value, value_error = rbm.log_likelihood(rows, "ais", return_error=True, generator=torch.Generator().manual_seed(6),
                                            **options)
    assert value_error == error
    assert value == pytest.approx(rbm.log_likelihood(rows) + rbm.log_partition("exact") - log_z)


def test_log_likelihood_bounds_from_data_bracket_the_exact_log_likelihood(trained_rbm):
    rbm, data = trained_rbm
    exact = rbm.log_likelihood(data)
    lower, upper = rbm.log_likelihood(data, "ais", bounds=True, n_chains=100, n_betas=500, gibbs_steps=100,
                                      n_std_errors=3.0, generator=torch.Generator().manual_seed(7))
    assert lower <= exact <= upper and upper - lower < 0.5
    assert rbm.log_likelihood(data, bounds=True) == (exact, exact)
    with pytest.raises(ValueError, match="return_error and bounds"):
        rbm.log_likelihood(data, "ais", bounds=True, return_error=True)


def test_one_chain_cannot_converge():
    with pytest.warns(RuntimeWarning, match="1 chains in 1 batches"):
        result = ais(random_rbm(6, 3), n_chains=1, n_betas=10)
    assert result.std_error == math.inf and not result.converged and result.ess == pytest.approx(1.0)


def test_reverse_chains_started_outside_the_models_main_mode_are_detected():
    """Two modes, near all-zeros and near all-ones (e^3 times lighter), that Gibbs sampling never
    crosses: reverse chains started in the light mode estimate log Z ~1.8 nats low, below the
    forward estimate, and the interval comes back inverted with a warning; exact samples fix it."""
    rbm = RBM(20, 1, dtype=torch.float64)
    with torch.no_grad():
        rbm.weight.fill_(6.0)
        rbm.visible_bias.fill_(-3.0)
        rbm.hidden_bias.fill_(-63.0)
    exact = rbm.log_partition("exact")
    options = dict(n_chains=100, n_betas=200, check_convergence=False)
    with pytest.warns(RuntimeWarning, match="did not start from samples of the model"):
        lower, upper = log_partition_bounds(rbm, torch.ones(100, 20), generator=torch.Generator().manual_seed(0),
                                            **options)
    assert upper < lower <= exact
    generator = torch.Generator().manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        lower, upper = log_partition_bounds(rbm, exact_samples(rbm, 100, generator), gibbs_steps=0,
                                            generator=generator, **options)
    assert lower <= exact <= upper


def test_ais_shows_a_progress_bar_only_when_asked(capsys):
    rbm = RBM(6, 4)
    generator = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a 50-temperature anneal may not converge
        rbm.log_partition("ais", n_betas=50, n_chains=4, n_batches=2, generator=generator)
        assert capsys.readouterr().err == ""
        rbm.log_partition("ais", n_betas=50, n_chains=4, n_batches=2, generator=generator, progress=True)
    assert "AIS, 4 chains" in capsys.readouterr().err
