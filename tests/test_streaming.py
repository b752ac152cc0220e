"""Pretraining from a DataLoader streams every layer's input batch by batch; RBM.sample draws from
the model started at its base-rate model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import dbn.stack
from dbn import RBM, DeepBeliefNet
from dbn.datasets import load_digits


@pytest.fixture(scope="module")
def data():
    return load_digits()


def test_pretraining_from_a_data_loader_streams_each_layer(data, monkeypatch):
    X, y = data
    loader = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_size=100, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    seen_rows = []
    original = dbn.stack.propagate_up

    def counting(rbm, H, generator=None, **options):
        seen_rows.append(H.shape[0])
        return original(rbm, H, generator, **options)

    monkeypatch.setattr(dbn.stack, "propagate_up", counting)
    streamed = DeepBeliefNet([64, 32, 16], epochs=3).pretrain(loader, progress=False, seed=0)
    assert seen_rows and max(seen_rows) <= 100  # never the whole data set at once
    whole = DeepBeliefNet([64, 32, 16], epochs=3).pretrain(X, progress=False, seed=0)
    for a, b in zip(streamed.rbms, whole.rbms, strict=True):
        assert a.history_[-1]["recon_mse"] == pytest.approx(b.history_[-1]["recon_mse"], rel=0.3)
    np.testing.assert_allclose(streamed.rbms[1].data_mean.numpy(), whole.rbms[1].data_mean.numpy(), atol=0.05)


def test_rbm_samples_come_from_the_model(data):
    X = data[0]
    rbm = RBM(64, 16).fit(X, epochs=5, progress=False, seed=0)
    first = rbm.sample(200, 50, generator=torch.Generator().manual_seed(1))
    again = rbm.sample(200, 50, generator=torch.Generator().manual_seed(1))
    assert first.shape == (200, 64) and torch.equal(first, again)
    assert set(torch.unique(first).tolist()) <= {0.0, 1.0}
    # the model's samples resemble the data's pixel means more than the chains' starting point does
    assert float((first.mean(0) - torch.as_tensor(X).mean(0)).abs().mean()) < 0.15
    gaussian = RBM(64, 16, visible="gaussian").fit(X * 10 + 3, epochs=3, lr=0.005, progress=False, seed=0)
    samples = gaussian.sample(500, 20, generator=torch.Generator().manual_seed(2))
    assert abs(float(samples.mean()) - float((X * 10 + 3).mean())) < 2.0  # data units, not standardised ones
    with pytest.raises(ValueError, match="steps must be > 0"):
        rbm.sample(3, 0)
