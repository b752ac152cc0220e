"""Reduced-precision training: TF32 and bfloat16 mixed precision, default off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dbn import RBM
from dbn.cd import ContrastiveDivergence


@pytest.fixture(scope="module")
def binary_digits(digits):
    return (digits[0] > 0.5).astype(np.float32)


def test_bfloat16_changes_the_gradient_far_less_than_cd_sampling_does(binary_digits):
    """On a batch of 100, bfloat16 rounding moves the CD gradient by much less than a new seed does."""
    rbm = RBM(64, 32).fit(binary_digits, epochs=2, progress=False, seed=0)
    batch = torch.as_tensor(binary_digits[:100])

    def gradient(precision, seed):
        objective = ContrastiveDivergence(rbm, k=1, generator=torch.Generator().manual_seed(seed), precision=precision)
        loss = objective(batch)
        assert loss.dtype == torch.float32
        gradients = torch.autograd.grad(loss, [rbm.weight, rbm.visible_bias, rbm.hidden_bias])
        assert all(g.dtype == torch.float32 for g in gradients)
        return gradients

    def flat(precision, seed):
        return torch.cat([g.flatten() for g in gradient(precision, seed)])

    rounding, resampling = [], []
    for seed in range(1, 5):  # a mean over seeds: one pair of chains may flip many samples or none
        exact = flat("float32", seed)
        reduced = flat("bfloat16", seed)
        assert not torch.equal(reduced, exact)  # the products really ran in bfloat16
        rounding.append(float(torch.linalg.norm(reduced - exact)))
        resampling.append(float(torch.linalg.norm(flat("float32", seed + 10) - exact)))
    assert np.mean(rounding) < 0.5 * np.mean(resampling), (rounding, resampling)


def test_bfloat16_training_learns_as_well_and_keeps_float32_parameters(binary_digits):
    exact = RBM(64, 32).fit(binary_digits, epochs=5, progress=False, seed=0)
    mixed = RBM(64, 32).fit(binary_digits, epochs=5, progress=False, seed=0, precision="bfloat16")
    assert all(parameter.dtype == torch.float32 for parameter in mixed.parameters())
    assert mixed.history_[-1]["recon_mse"] == pytest.approx(exact.history_[-1]["recon_mse"], rel=0.1)
    assert mixed.history_[-1]["recon_mse"] < 0.9 * mixed.history_[0]["recon_mse"]


@pytest.mark.parametrize("precision, inside", [("float32", "highest"), ("tf32", "high"), ("bfloat16", "highest")])
def test_matmul_precision_is_set_during_fit_and_restored_after(binary_digits, precision, inside):
    seen = []
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        RBM(64, 8).fit(
            binary_digits[:100],
            epochs=1,
            progress=False,
            precision=precision,
            callbacks=[lambda rbm, record: seen.append(torch.get_float32_matmul_precision())],
        )
        assert seen == [inside] and torch.get_float32_matmul_precision() == "medium"

        def fail(rbm, record):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            RBM(64, 8).fit(binary_digits[:100], epochs=1, progress=False, precision=precision, callbacks=[fail])
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(previous)


def test_an_unknown_precision_is_refused_before_training(binary_digits):
    rbm = RBM(64, 8)
    weight = rbm.weight.detach().clone()
    with pytest.raises(ValueError, match="precision must be one of"):
        rbm.fit(binary_digits, precision="float16", progress=False)
    assert torch.equal(weight, rbm.weight)


def test_pretraining_passes_the_precision_to_every_rbm(binary_digits):
    from dbn import DeepBeliefNet

    seen = []
    net = DeepBeliefNet([64, 32, 16]).pretrain(
        binary_digits[:200],
        epochs=1,
        progress=False,
        seed=0,
        precision="tf32",
        callbacks=[lambda rbm, record: seen.append(torch.get_float32_matmul_precision())],
    )
    assert seen == ["high", "high"]
    assert net.transform(binary_digits[:5]).dtype == np.float32
