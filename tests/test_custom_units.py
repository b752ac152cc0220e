"""A unit type written outside the package: binomial visible units with N trials, used by an RBM
like a built-in type, trained, sampled, scored exactly, saved and loaded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from dbn import RBM
from dbn.datasets import load_digits
from dbn.units import Units


class BinomialUnits(Units):
    r"""Counts in {0, ..., N}: :math:`E[u \mid z] = N\sigma(z)`, :math:`\log Z(z) = N \operatorname{softplus}(z)`,
    base :math:`-\log \binom{N}{u}`."""

    name = "binomial"

    def __init__(self, trials: int = 16) -> None:
        self.trials = trials

    def mean(self, z: Tensor) -> Tensor:
        return self.trials * torch.sigmoid(z)

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        p = torch.sigmoid(z).unsqueeze(-1).expand(*z.shape, self.trials)
        return (torch.rand(p.shape, generator=generator, device=z.device, dtype=z.dtype) < p).sum(-1).to(z.dtype)

    def log_partition(self, z: Tensor) -> Tensor:
        return self.trials * F.softplus(z)

    def base(self, u: Tensor) -> Tensor:
        log_choose = math.lgamma(self.trials + 1) - torch.lgamma(u + 1) - torch.lgamma(self.trials - u + 1)
        return -log_choose.sum(-1)


@pytest.fixture(scope="module")
def counts():
    return np.round(load_digits()[0] * 16).astype(np.float32)  # the digits' original 0-16 grey levels


def test_an_rbm_trains_on_units_defined_outside_the_package(counts, tmp_path):
    rbm = RBM(64, 24, visible=BinomialUnits(16))
    rbm.fit(counts, epochs=15, lr=0.01, progress=False, seed=0)
    assert rbm.history_[-1]["recon_mse"] < rbm.history_[0]["recon_mse"]
    samples = rbm.sample(50, 20, generator=torch.Generator().manual_seed(0))
    assert samples.min() >= 0 and samples.max() <= 16 and torch.equal(samples, samples.round())
    rbm.save(tmp_path / "binomial.pt")
    loaded = RBM.load(tmp_path / "binomial.pt")
    assert isinstance(loaded.visible, BinomialUnits) and loaded.visible.trials == 16
    np.testing.assert_allclose(loaded.transform(counts[:10]), rbm.transform(counts[:10]), rtol=1e-6)


def test_the_exact_partition_function_of_custom_units_matches_enumeration():
    rbm = RBM(3, 2, visible=BinomialUnits(2))
    with torch.no_grad():
        rbm.weight.copy_(torch.tensor([[0.3, -0.2, 0.5], [-0.4, 0.1, 0.2]]))
        rbm.hidden_bias.copy_(torch.tensor([0.1, -0.3]))
        rbm.visible_bias.copy_(torch.tensor([0.2, 0.0, -0.1]))
    grid = torch.cartesian_prod(*[torch.arange(3.0)] * 3)  # every state of 3 units with 2 trials
    by_enumeration = float(torch.logsumexp(-rbm.model_free_energy(grid).double(), 0))
    assert rbm.log_partition("exact") == pytest.approx(by_enumeration, abs=1e-5)


def test_relu_visible_units_are_still_refused():
    with pytest.raises(ValueError, match="ReLU visible units are not supported"):
        RBM(4, 3, visible="relu")
