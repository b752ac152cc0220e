"""The short learning-rate search of train_network and finetune (TrainConfig lr="auto" or a sequence)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from dbn.config import AUTO_RATES, TrainConfig
from dbn.datasets import load_digits
from dbn.loop import DivergenceError
from dbn.stack import DeepBeliefNet
from dbn.training import search_learning_rate, train_network


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits()
    return X[:600], y[:600]


def small_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))


def test_the_search_keeps_the_rate_whose_short_run_validates_best(digits):
    X, y = digits
    config = TrainConfig(lr=(1e-4, 0.3), lr_search_epochs=2, validation_fraction=0.2)
    model = small_model()
    start = copy.deepcopy(model.state_dict())
    assert search_learning_rate(model, X, y, config=config, seed=0) == 0.3
    # the model is handed back as it was, so the final run starts where every short run started
    assert all(torch.equal(start[name], value) for name, value in model.state_dict().items())


def test_a_searched_run_equals_a_run_at_the_chosen_rate(digits):
    X, y = digits
    searched, fixed = small_model(), small_model()
    history = train_network(searched, X, y, lr=(1e-4, 0.3), epochs=4, validation_fraction=0.2, seed=1, progress=False)
    train_network(fixed, X, y, lr=0.3, epochs=4, validation_fraction=0.2, seed=1, progress=False)
    assert {record["lr"] for record in history} == {0.3}
    assert all(torch.equal(a, b) for a, b in zip(searched.parameters(), fixed.parameters(), strict=True))


def test_a_diverging_rate_is_never_chosen(digits):
    X, y = digits
    chosen = search_learning_rate(small_model(), X * 1e4, y, config=TrainConfig(lr=(1e4, 0.01), lr_search_epochs=2),
                                  seed=0)
    assert chosen == 0.01


def test_every_rate_diverging_raises(digits):
    X, y = digits
    with pytest.raises(DivergenceError, match="every searched learning rate"):
        search_learning_rate(small_model(), X * 1e4, y, config=TrainConfig(lr=(1e4, 1e5), lr_search_epochs=2),
                             seed=0)


def test_when_every_rate_of_the_grid_diverges_lower_rates_are_tried():
    from sklearn.datasets import make_friedman1

    from dbn.sklearn import DBNRegressor
    from dbn.training import LOWER_RATES

    X, y = make_friedman1(1000, noise=1.0, random_state=0)
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    # a deep sigmoid regressor under SGD with momentum 0.9: 1, 0.3 and 0.1 all diverge on this data
    model = DBNRegressor((256, 256), hidden="bernoulli", optimizer="sgd", batch_size=100, pretrain_epochs=3,
                         finetune_epochs=2, random_state=0)
    model.fit(X, (y - y.mean()) / y.std())
    lowest = min(AUTO_RATES["sgd"])
    assert model.dbn_.finetune_config_.lr == pytest.approx(lowest * LOWER_RATES[0])


def test_without_validation_rows_the_training_loss_decides(digits):
    X, y = digits
    config = TrainConfig(lr=(1e-5, 0.5), lr_search_epochs=2)
    assert search_learning_rate(small_model(), X, y, config=config, seed=0) == 0.5


def test_finetune_searches_by_default_and_records_the_rate(digits):
    X, y = digits
    net = DeepBeliefNet([64, 32], epochs=2).pretrain(X, seed=0, progress=False).finetune(X, y, epochs=5, seed=0,
                                                                                          progress=False)
    assert net.finetune_config_.lr in AUTO_RATES["sgd"]
    assert {record["lr"] for record in net.finetune_history_} == {net.finetune_config_.lr}


def test_adam_searches_its_own_rates(digits):
    X, y = digits
    net = DeepBeliefNet([64, 32], epochs=2).pretrain(X, seed=0, progress=False)
    net.finetune(X, y, epochs=2, optimizer="adam", seed=0, progress=False)
    assert net.finetune_config_.lr in AUTO_RATES["adam"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"lr": ()}, ValueError, "at least one rate"),
        ({"lr": (0.1, -1.0)}, ValueError, "lr"),
        ({"lr": "fast"}, ValueError, "'auto'"),
        ({"lr": "auto", "optimizer": lambda groups: torch.optim.SGD(groups, lr=0.1)}, ValueError, "factory"),
        ({"lr_search_epochs": 0}, ValueError, "lr_search_epochs"),
    ],
)
def test_bad_search_settings_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(**options)


def test_searched_rates_survive_a_json_round_trip():
    config = TrainConfig(lr=[0.3, 0.1])
    assert config.lr == (0.3, 0.1)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig(lr="auto").searched_rates() == AUTO_RATES["sgd"]
    assert TrainConfig(lr=0.1).searched_rates() is None
