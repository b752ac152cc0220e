"""The divergence guard of the epoch loop: training that diverges stops with an error naming the
epoch and the rate, keeps the last good parameters, and is never saved or passed up the stack;
models that trained but learnt nothing are warned about."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dbn import RBM, DeepBeliefNet
from dbn.datasets import load_digits
from dbn.loop import DivergenceError
from dbn.training import train_network


@pytest.fixture(scope="module")
def data():
    return load_digits()


def _finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(tensor).all()) for tensor in module.state_dict().values())


@pytest.mark.parametrize(
    ("visible", "lr", "reason"), [("gaussian", 1.0, "recon_mse is inf"), ("bernoulli", 1e3, "times their norm")]
)
def test_a_diverging_rbm_stops_and_keeps_its_initial_parameters(data, visible, lr, reason):
    rbm = RBM(64, 32, visible=visible)
    with pytest.raises(
        DivergenceError, match=rf"diverged in epoch 1 at lr={lr:g}: .*{reason}.*try a lower lr"
    ) as caught:
        rbm.fit(data[0], epochs=3, lr=lr, progress=False, seed=0)
    assert caught.value.epoch == 1 and caught.value.lr == lr
    assert _finite(rbm) and rbm.history_ == []
    assert float(rbm.weight.detach().std()) == pytest.approx(0.01, rel=0.1)  # the initial N(0, 0.01^2) weights


def test_the_epochs_before_the_divergence_are_kept(data):
    rbm = RBM(64, 16, visible="gaussian").fit(data[0], epochs=2, lr=0.01, progress=False, seed=0)
    weights = []

    def keep(model, record):
        weights.append(model.weight.detach().clone())

    with pytest.raises(DivergenceError, match=r"epoch \d+ at lr=1:") as caught:
        rbm.fit(data[0], epochs=6, lr=1.0, warm_start=True, progress=False, seed=1, callbacks=[keep])
    assert caught.value.epoch > 3 and len(rbm.history_) == caught.value.epoch - 1
    assert torch.equal(rbm.weight, weights[-1])  # the last epoch that passed the guard


def test_pretraining_never_saves_or_propagates_a_diverged_layer(data, tmp_path):
    net = DeepBeliefNet([64, 32, 16], hidden="relu", epochs=3, lr=[0.1, 0.3])
    with pytest.raises(DivergenceError, match="layer 2/2: RBM 32-16: training diverged in epoch 1 at lr=0.3"):
        net.pretrain(data[0], progress=False, seed=0, checkpoint=tmp_path / "net.pt")
    assert int(net.n_trained) == 1 and _finite(net)
    saved = DeepBeliefNet.load(tmp_path / "net.pt")
    assert int(saved.n_trained) == 1 and _finite(saved)
    assert torch.equal(saved.rbms[0].weight, net.rbms[0].weight.cpu())


def test_fine_tuning_at_an_exploding_rate_stops_with_the_rate_named(data):
    net = DeepBeliefNet([64, 48], epochs=2).pretrain(data[0], progress=False, seed=0)
    before = net.rbms[0].weight.detach().clone()
    with pytest.raises(
        DivergenceError, match=r"fine-tune \(classify\): training diverged in epoch 1 at lr=10000: the training loss"
    ):
        net.finetune(*data, lr=1e4, epochs=5, progress=False, seed=0)
    assert not hasattr(net, "mlp_") and torch.equal(net.rbms[0].weight, before)


def test_a_non_finite_loss_restores_the_last_good_epoch():
    X = torch.randn(200, 4, dtype=torch.float64)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    history = train_network(model, X, y, epochs=2, lr=0.1, progress=False, seed=0)
    kept = {name: value.clone() for name, value in model.state_dict().items()}

    def poison(module, record):
        with torch.no_grad():
            module[0].weight.fill_(float("nan"))

    with pytest.raises(DivergenceError, match="epoch 2 at lr=0.1: the monitor train_loss is nan"):
        train_network(model, X, y, epochs=3, lr=0.1, progress=False, seed=0, callbacks=[poison], patience=None)
    assert len(history) == 2
    assert _finite(model)
    assert not all(
        torch.equal(kept[name], value) for name, value in model.state_dict().items()
    )  # epoch 1 of the 2nd run


def test_without_the_guard_training_goes_on():
    X = torch.randn(100, 3)
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    history = train_network(model, X, (X[:, 0] > 0).long(), epochs=2, progress=False, seed=0, guard=False)
    assert len(history) == 2 and np.isnan(history[-1]["train_loss"])


def test_dead_hidden_units_and_chance_level_losses_are_warned_about(data):
    with pytest.warns(RuntimeWarning, match="every hidden unit is dead or saturated"):
        RBM(64, 32).fit(data[0], epochs=2, lr=5.0, progress=False, seed=0)
    X, y = np.random.default_rng(0).random((300, 5)), np.arange(300) % 3
    with pytest.warns(RuntimeWarning, match="still at the chance level"):
        train_network(torch.nn.Linear(5, 3), X, y, epochs=2, lr=1e-4, progress=False, seed=0)


def test_a_comparison_records_a_diverged_pretraining_and_goes_on(data):
    from dbn.compare import compare_inits
    from dbn.reports import summary_table

    X, y = data
    records = compare_inits(
        X,
        y,
        hidden=(32, 16),
        activation="relu",
        schemes=["dbn", "he_normal"],
        seeds=1,
        epochs=5,
        lrs=[0.1],
        scheme_options={"dbn": {"epochs": 2, "lr": [0.1, 100.0]}},
    )
    dbn_row = [record for record in records if record["scheme"] == "dbn"]
    he_row = [record for record in records if record["scheme"] == "he_normal"]
    assert dbn_row and all(record["diverged"] and not record["converged"] for record in dbn_row)
    assert "training diverged" in dbn_row[0]["init_error"]
    assert he_row and all(record["converged"] and record["init_error"] is None for record in he_row)
    assert "diverged" in summary_table(records)


def test_a_network_that_starts_at_a_near_perfect_fit_is_not_called_diverged(monkeypatch):
    import dbn.training
    from dbn.sklearn import DBNRegressor

    X = np.random.default_rng(0).normal(size=(1, 5))  # one row: the standardised target is 0, fitted at once
    model = DBNRegressor((16,), visible="gaussian", pretrain_epochs=2, finetune_epochs=30, batch_size=20,
                         device="cpu", random_state=0)
    assert model.fit(X, [1.0]).predict(X) == pytest.approx(1.0, abs=1e-3)
    # measured from the initial loss itself (7e-18 here), a growth to 1e-10 counted as divergence
    monkeypatch.setattr(dbn.training, "LOSS_GROWTH_FLOOR", 1e-12)
    with pytest.raises(DivergenceError, match="every searched learning rate"):
        model.fit(X, [1.0])
