"""Configurations: validation once, JSON round trips with callables by name, overrides, and what
checkpoints store (including checkpoints written before the configurations existed)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dbn import RBM, CDConfig, DeepBeliefNet, TrainConfig, hinton_momentum
from dbn.config import constant_momentum
from dbn.datasets import load_digits
from dbn.training import train_network

DATA = Path(__file__).parent / "data"


def test_cd_config_round_trips_through_json_with_callables_by_name():
    config = CDConfig(
        epochs=3, lr=0.05, momentum=hinton_momentum, optimizer=functools.partial(torch.optim.Adam, lr=1e-3)
    )
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["momentum"] == "dbn.config:hinton_momentum"
    restored = CDConfig.from_dict(stored)
    assert restored.momentum is hinton_momentum
    assert restored.optimizer.func is torch.optim.Adam and restored.optimizer.keywords == {"lr": 1e-3}
    assert restored.replace(optimizer=None) == config.replace(optimizer=None)


def test_a_constant_momentum_round_trips_and_a_lambda_asks_to_be_passed_again():
    schedule = CDConfig.from_dict(CDConfig(momentum=constant_momentum(0.7)).to_dict()).momentum_schedule()
    assert schedule(0) == schedule(9) == 0.7
    stored = CDConfig(momentum=lambda epoch: 0.5).to_dict()
    with pytest.raises(ValueError, match="momentum was the callable .* pass momentum= explicitly"):
        CDConfig.from_dict(stored)
    assert CDConfig.from_dict(stored, momentum=0.5).momentum == 0.5


@pytest.mark.parametrize(
    ("kind", "options", "error", "message"),
    [
        (CDConfig, {"epochs": 0}, ValueError, "epochs must be > 0"),
        (CDConfig, {"persistent": "no"}, TypeError, "persistent must be True or False"),
        (CDConfig, {"momentum": 1.5}, ValueError, r"momentum must be in \[0, 1\)"),
        (CDConfig, {"sparsity_target": "x"}, TypeError, "sparsity_target must be a number"),
        (CDConfig, {"optimizer": "adam"}, TypeError, "optimizer must be None or a factory"),
        (CDConfig, {"precision": "fp8"}, ValueError, "precision"),
        (TrainConfig, {"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \[0, 1\)"),
        (TrainConfig, {"optimizer": "lbfgs"}, ValueError, "optimizer must be 'sgd', 'adam' or a callable"),
        (TrainConfig, {"patience": 0}, ValueError, "patience must be > 0"),
    ],
)
def test_bad_values_are_refused_when_the_configuration_is_made(kind, options, error, message):
    with pytest.raises(error, match=message):
        kind(**options)


def test_unknown_overrides_name_the_valid_fields():
    with pytest.raises(TypeError, match=r"unknown CDConfig option\(s\) \['learning_rate'\]; valid: \['epochs'"):
        CDConfig().replace(learning_rate=0.1)
    with pytest.raises(TypeError, match=r"unknown TrainConfig option\(s\) \['k'\]"):
        train_network(torch.nn.Linear(2, 2), np.zeros((4, 2)), np.zeros(4, dtype=int), k=1, progress=False)


def test_a_config_object_and_keyword_overrides_train_the_same_model():
    X = load_digits()[0][:200]
    by_keywords = RBM(64, 8).fit(X, epochs=2, lr=0.05, batch_size=50, progress=False, seed=0)
    by_config = RBM(64, 8).fit(X, config=CDConfig(epochs=2, lr=0.05, batch_size=50), progress=False, seed=0)
    assert torch.equal(by_keywords.weight, by_config.weight)
    assert by_config.fit_config_ == CDConfig(epochs=2, lr=0.05, batch_size=50)
    with pytest.raises(TypeError, match="config must be a CDConfig"):
        RBM(64, 8).fit(X, config=TrainConfig())


def test_a_checkpoint_resumes_pretraining_with_no_arguments(tmp_path):
    X = load_digits()[0][:300]
    options = {"epochs": [2, 1], "lr": [0.1, 0.05], "batch_size": 50, "momentum": constant_momentum(0.5)}
    whole = DeepBeliefNet([64, 12, 6], **options).pretrain(X, progress=False, seed=4)
    first = DeepBeliefNet([64, 12, 6], **options)
    first.rbms[1].fit = None  # pretraining the second layer would fail: stop after the first
    with pytest.raises(TypeError):
        first.pretrain(X, progress=False, seed=4, checkpoint=tmp_path / "net.pt")
    resumed = DeepBeliefNet.load(tmp_path / "net.pt").pretrain(X, progress=False)
    assert [config.epochs for config in resumed.layer_configs] == [2, 1]
    for a, b in zip(whole.rbms, resumed.rbms, strict=False):
        assert torch.allclose(a.weight, b.weight)


def test_checkpoints_written_before_configurations_existed_still_load():
    expected = json.loads((DATA / "checkpoints_v0.json").read_text())
    X = load_digits()[0][:5].astype(np.float32)
    net = DeepBeliefNet.load(DATA / "dbn_classifier_v0.pt")
    assert [config.lr for config in net.layer_configs] == [0.1, 0.05]
    assert not hasattr(net, "finetune_config_")  # fine-tuned before configurations were stored
    np.testing.assert_allclose(net.predict_proba(X), expected["predict_proba"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.transform(X), expected["transform"], rtol=1e-5, atol=1e-6)
    rbm = RBM.load(DATA / "rbm_gaussian_v0.pt")
    np.testing.assert_allclose(rbm.transform(X), expected["rbm_transform"], rtol=1e-5, atol=1e-6)
