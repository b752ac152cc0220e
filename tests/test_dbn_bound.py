"""The variational lower bound on a DBN's log-likelihood against exact enumeration on tiny nets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import binary_states

from dbn import DeepBeliefNet


def random_dbn(layers: list[int], *, scale: float = 1.0, seed: int = 0) -> DeepBeliefNet:
    """A float64 DBN with random parameters, marked as pretrained."""
    generator = torch.Generator().manual_seed(seed)
    net = DeepBeliefNet(layers, dtype=torch.float64)
    with torch.no_grad():
        for rbm in net.rbms:
            rbm.weight.copy_(torch.randn(rbm.weight.shape, generator=generator, dtype=torch.float64) * scale)
            rbm.visible_bias.copy_(torch.randn(rbm.n_visible, generator=generator, dtype=torch.float64) * 0.5)
            rbm.hidden_bias.copy_(torch.randn(rbm.n_hidden, generator=generator, dtype=torch.float64) * 0.5)
        net.n_trained.fill_(len(net.rbms))
    return net


def parameters(rbm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()


def top_log_marginal(net: DeepBeliefNet, h1: torch.Tensor) -> torch.Tensor:
    """log p(h1) under the top RBM of a two-RBM net, by enumerating h1 for its partition function."""
    W, b, c = parameters(net.rbms[1])

    def unnormalised(h: torch.Tensor) -> torch.Tensor:
        return h @ b + F.softplus(h @ W.T + c).sum(1)

    return unnormalised(h1) - torch.logsumexp(unnormalised(binary_states(net.layers[1])), 0)


def exact_terms(net: DeepBeliefNet, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact log p(v) and the exact bound sum_h1 q(h1|v) [log p(h1) + log p(v|h1) - log q(h1|v)], per row."""
    W, b, c = parameters(net.rbms[0])
    h1 = binary_states(net.layers[1])
    z = h1 @ W + b  # (states, n_visible): the input of v given each h1
    log_v_given_h = v @ z.T - F.softplus(z).sum(1)  # (rows, states)
    log_joint = log_v_given_h + top_log_marginal(net, h1)
    x = v @ W.T + c
    log_q = h1 @ x.T - F.softplus(x).sum(1)  # (states, rows)
    bound = (log_q.exp().T * (log_joint - log_q.T)).sum(1)
    return torch.logsumexp(log_joint, 1), bound


@pytest.fixture(scope="module")
def rows() -> torch.Tensor:
    return binary_states(6)[torch.tensor([0, 5, 22, 41, 63])]


def test_bound_is_below_exact_log_likelihood_and_matches_its_enumeration(rows):
    net = random_dbn([6, 4, 3], scale=1.5, seed=1)
    exact, exact_bound = (t.mean().item() for t in exact_terms(net, rows))
    assert exact_bound < exact - 0.05  # the factorial posterior is not exact here: a real gap
    bound, error = net.log_likelihood_bound(rows, n_samples=400, method="exact", return_error=True,
                                            generator=torch.Generator().manual_seed(0))
    assert 0 < error < 0.05
    assert abs(bound - exact_bound) < 4 * error
    assert bound < exact


def test_bound_is_tight_when_the_factorial_posterior_is_exact(rows):
    """A top RBM that is the first one transposed gives the DBN the first RBM's joint over (v, h1),
    whose posterior is the factorial q: the bound equals log p(v)."""
    net = random_dbn([6, 4, 6], scale=1.5, seed=2)
    with torch.no_grad():
        first, top = net.rbms
        top.weight.copy_(first.weight.T)
        top.visible_bias.copy_(first.hidden_bias)
        top.hidden_bias.copy_(first.visible_bias)
    exact, exact_bound = (t.mean().item() for t in exact_terms(net, rows))
    assert exact_bound == pytest.approx(exact, abs=1e-9)
    assert exact == pytest.approx(first.log_likelihood(rows), abs=1e-9)
    bound, error = net.log_likelihood_bound(rows, n_samples=400, method="exact", return_error=True,
                                            generator=torch.Generator().manual_seed(1))
    assert abs(bound - exact) < 4 * error and error < 0.05


def test_bound_with_ais_for_the_top_partition_function(rows):
    net = random_dbn([6, 4, 3], scale=1.5, seed=1)
    _, exact_bound = (t.mean().item() for t in exact_terms(net, rows))
    bound, error = net.log_likelihood_bound(rows, n_samples=200, n_chains=100, n_betas=500, return_error=True,
                                            generator=torch.Generator().manual_seed(2))
    assert abs(bound - exact_bound) < 4 * error and error < 0.1


def test_pretrained_dbn_bound_is_below_its_exact_log_likelihood():
    generator = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(3, 6, generator=generator) < 0.5).float()
    data = (prototypes.repeat(40, 1).bool() ^ (torch.rand(120, 6, generator=generator) < 0.05)).float()
    net = DeepBeliefNet([6, 4, 3], epochs=5, batch_size=10, dtype=torch.float64).pretrain(data, progress=False, seed=0)
    exact, exact_bound = (t.mean().item() for t in exact_terms(net, data.double()))
    bound = net.log_likelihood_bound(data, n_samples=50, method="exact", generator=torch.Generator().manual_seed(3))
    assert exact_bound <= exact
    assert bound == pytest.approx(exact_bound, abs=0.05)
    assert bound < exact + 0.01


def test_one_rbm_gives_its_exact_log_likelihood(rows):
    net = random_dbn([6, 4], seed=3)
    assert net.log_likelihood_bound(rows, n_samples=1, method="exact") == pytest.approx(
        net.rbms[0].log_likelihood(rows), abs=1e-12
    )


def test_bound_needs_a_pretrained_net(rows):
    with pytest.raises(RuntimeError, match="log_likelihood_bound needs a pretrained DeepBeliefNet"):
        DeepBeliefNet([6, 4, 3]).log_likelihood_bound(rows)


def test_a_given_top_partition_function_is_used_as_given(rows):
    """Shifting log Z_top by one nat shifts the bound by one nat, and its error enters the bound's."""
    net = random_dbn([6, 4, 3], scale=1.5, seed=1)
    exact_z = net.rbms[1].log_partition("exact")
    options = {"n_samples": 50, "method": "exact", "return_error": True}
    bound, error = net.log_likelihood_bound(rows, generator=torch.Generator().manual_seed(4), **options)
    shifted, shifted_error = net.log_likelihood_bound(rows, generator=torch.Generator().manual_seed(4),
                                                      log_z=(exact_z + 1.0, 3.0), **options)
    assert shifted == pytest.approx(bound - 1.0, abs=1e-9)
    assert shifted_error == pytest.approx(math.hypot(error, 3.0), abs=1e-9)
