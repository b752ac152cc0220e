"""CD-T with T rising over the epochs: its schedule, its rates, its fresh binarisation, its checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dbn import RBM
from dbn.recipes import anneal_schedule, fit_annealed_cd


@pytest.fixture(scope="module")
def grey(digits):
    X, _ = digits
    return X[:300]


def test_schedule_spends_the_same_epochs_at_each_number_of_steps():
    assert anneal_schedule(3, 2) == [1, 1, 2, 2, 3, 3]
    assert anneal_schedule(1, 4) == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="final_k"):
        anneal_schedule(0, 2)
    with pytest.raises(TypeError, match="epochs_per_step"):
        anneal_schedule(2, 1.5)


def test_rates_fall_as_the_steps_rise_and_each_epoch_is_one_record(grey):
    rbm = fit_annealed_cd(RBM(64, 16), grey, final_k=3, epochs_per_step=2, lr=0.06, seed=0)
    assert [record["lr"] for record in rbm.history_] == pytest.approx([0.06, 0.06, 0.03, 0.03, 0.02, 0.02])
    assert [record["momentum"] for record in rbm.history_] == [0.5] * 5 + [0.9]
    assert [record["epoch"] for record in rbm.history_] == list(range(1, 7))


def test_grey_data_is_binarised_afresh_every_epoch(grey, monkeypatch):
    seen = []
    fit = RBM.fit

    def recording(self, X, **options):
        seen.append(X.clone())
        return fit(self, X, **options)

    monkeypatch.setattr(RBM, "fit", recording)
    fit_annealed_cd(RBM(64, 16), grey, final_k=2, epochs_per_step=1, seed=0)
    assert all(set(X.unique().tolist()) <= {0.0, 1.0} for X in seen)
    assert not torch.equal(seen[0], seen[1])
    grey_tensor = torch.as_tensor(grey)
    assert abs(float(torch.stack(seen).mean()) - float(grey_tensor.mean())) < 0.01


def test_same_seed_same_model_and_binary_data_kept(grey):
    first = fit_annealed_cd(RBM(64, 16), grey, final_k=2, epochs_per_step=1, seed=3)
    second = fit_annealed_cd(RBM(64, 16), grey, final_k=2, epochs_per_step=1, seed=3)
    assert torch.equal(first.weight, second.weight)
    binary = (np.asarray(grey) > 0.5).astype(np.float32)
    assert torch.equal(torch.bernoulli(torch.as_tensor(binary)), torch.as_tensor(binary))


def test_rising_steps_beat_cd1_on_exact_likelihood_in_the_same_epochs(digits):
    """On a model small enough for exact log Z, the rising schedule ends with a higher training
    log-likelihood than the same recipe held at one Gibbs step (and its rate) for as many epochs."""
    binary = (np.asarray(digits[0]) > 0.5).astype(np.float32)
    options = {"lr": 0.1, "batch_size": 20, "seed": 0}
    rising = fit_annealed_cd(RBM(64, 12), binary, final_k=5, epochs_per_step=4, **options)
    held = fit_annealed_cd(RBM(64, 12), binary, final_k=1, epochs_per_step=20, **options)
    assert rising.log_likelihood(binary) > held.log_likelihood(binary) + 0.5


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda X: fit_annealed_cd(RBM(64, 8), X, lr=0), ValueError, "lr"),
        (lambda X: fit_annealed_cd(RBM(64, 8, visible="gaussian"), X), ValueError, "Bernoulli visible units"),
        (lambda X: fit_annealed_cd(RBM(64, 8), X, k=3), TypeError, "sets k itself"),
        (lambda X: fit_annealed_cd(RBM(64, 8), X * 2), ValueError, "X"),
        (lambda X: fit_annealed_cd(RBM(60, 8), X), ValueError, "features"),
    ],
)
def test_bad_arguments_are_refused_before_training(grey, call, error, message):
    with pytest.raises(error, match=message):
        call(grey)
