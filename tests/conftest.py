"""Shared fixtures: small data sets and brute-force references for tiny RBMs."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dbn import RBM
from dbn.datasets import load_digits

# The test models are small: one thread avoids synchronising a thread pool on every operation,
# which on 2 busy cores costs far more than the arithmetic.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits()


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The shared MNIST files, or a clean skip when they are absent."""
    candidates = [Path(os.environ["DBN_DATA"]) / "mnist"] if "DBN_DATA" in os.environ else []
    candidates.append(Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "mnist")
    for candidate in candidates:
        if (candidate / "train-images-idx3-ubyte.gz").exists():
            return candidate
    pytest.skip("MNIST files not found (set DBN_DATA or place them in ../shared/datasets/mnist)")


def random_rbm(n_visible: int, n_hidden: int, *, visible: str = "bernoulli", scale: float = 1.0, seed: int = 0) -> RBM:
    """An RBM with random float64 parameters, for comparisons with enumeration."""
    generator = torch.Generator().manual_seed(seed)
    rbm = RBM(n_visible, n_hidden, visible=visible, dtype=torch.float64)
    with torch.no_grad():
        rbm.weight.copy_(torch.randn(n_hidden, n_visible, generator=generator, dtype=torch.float64) * scale)
        rbm.visible_bias.copy_(torch.randn(n_visible, generator=generator, dtype=torch.float64) * 0.5)
        rbm.hidden_bias.copy_(torch.randn(n_hidden, generator=generator, dtype=torch.float64) * 0.5)
    return rbm


def binary_states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def joint_log_weights(rbm: RBM, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """-E(v, h) for every pair of rows of v and h, written from the energy's definition."""
    W, b, c = rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    base = 0.5 * (v * v).sum(1, keepdim=True) if rbm.visible.name == "gaussian" else 0.0
    return (v @ b).unsqueeze(1) + (h @ c).unsqueeze(0) + v @ W.T @ h.T - base


def step_both_paths(slow, fast, batch: torch.Tensor, label: object) -> None:
    """One CD step of ``slow`` (``forward`` then ``backward``) and of ``fast`` (``set_gradients``) on
    ``batch``: assert their gradients are bit-identical, then move both models by the same SGD step
    so that later steps see other parameters."""
    loss = slow(batch)
    for parameter in slow.rbm.parameters():
        parameter.grad = None
    loss.backward()
    fast.set_gradients(batch)
    for name in ("weight", "visible_bias", "hidden_bias"):
        assert torch.equal(getattr(fast.rbm, name).grad, getattr(slow.rbm, name).grad), (label, name)
    with torch.no_grad():
        for a, b in zip(slow.rbm.parameters(), fast.rbm.parameters(), strict=True):
            a.sub_(a.grad, alpha=0.5)
            b.sub_(b.grad, alpha=0.5)
