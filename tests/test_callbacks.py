"""The callbacks of dbn.callbacks with the three training calls: RBM.fit, pretrain and finetune."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from dbn import RBM, DeepBeliefNet
from dbn.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TensorBoardLogger
from dbn.datasets import load_digits
from dbn.serialization import load_checkpoint


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits()
    return X[:400], y[:400]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_csv_rows_and_columns_for_rbm_fit(digits, tmp_path):
    X, _ = digits
    rbm = RBM(64, 16).fit(X, epochs=3, X_val=X[:50], callbacks=[CSVLogger(tmp_path / "rbm.csv")], progress=False)
    rows = read_rows(tmp_path / "rbm.csv")
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert "layer" not in rows[0]
    for key in ("recon_mse", "pseudo_likelihood", "free_energy_gap", "lr"):
        assert [float(row[key]) for row in rows] == pytest.approx([record[key] for record in rbm.history_])


def test_csv_has_a_layer_column_for_pretrain(digits, tmp_path):
    X, _ = digits
    net = DeepBeliefNet([64, 16, 8], epochs=[2, 3]).pretrain(X, callbacks=[CSVLogger(tmp_path / "dbn.csv")],
                                                            progress=False, seed=0)
    rows = read_rows(tmp_path / "dbn.csv")
    expected = [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2"), ("2", "3")]
    assert [(row["layer"], row["epoch"]) for row in rows] == expected
    assert float(rows[-1]["recon_mse"]) == pytest.approx(net.pretrain_history_[1][-1]["recon_mse"])


def test_csv_for_finetune_leaves_unmeasured_monitors_empty(digits, tmp_path):
    X, y = digits
    net = DeepBeliefNet([64, 16], epochs=2).pretrain(X, progress=False, seed=0)
    net.finetune(X, y, epochs=4, lr=0.3, validation_fraction=0.0, callbacks=[CSVLogger(tmp_path / "ft.csv")],
                 progress=False, seed=0)
    rows = read_rows(tmp_path / "ft.csv")
    assert len(rows) == 4 and {"train_loss", "val_loss", "lr", "best"} <= set(rows[0])
    assert all(row["val_loss"] == "" for row in rows)
    assert [float(row["train_loss"]) for row in rows] == pytest.approx(
        [record["train_loss"] for record in net.finetune_history_])


def test_early_stopping_on_any_monitor_stops_rbm_training(digits):
    X, _ = digits
    # a monitor that never improves after the first epoch stops training after 1 + patience epochs
    never_better = EarlyStopping("lr", patience=2)
    rbm = RBM(64, 16).fit(X, epochs=10, callbacks=[never_better], progress=False, momentum=0.0)
    assert len(rbm.history_) == 3


def test_early_stopping_starts_afresh_for_each_rbm_of_pretrain(digits):
    X, _ = digits
    net = DeepBeliefNet([64, 16, 8], epochs=6).pretrain(X, callbacks=[EarlyStopping("lr", patience=1)], progress=False)
    assert [len(history) for history in net.pretrain_history_] == [2, 2]


def test_early_stopping_mode_max_and_bad_arguments():
    stopper = EarlyStopping("val_accuracy", patience=1, mode="max")
    model = torch.nn.Linear(2, 2)
    assert not stopper(model, {"val_accuracy": 0.5})
    assert not stopper(model, {"val_accuracy": 0.6})
    assert not stopper(model, {"val_accuracy": None})
    assert stopper(model, {"val_accuracy": 0.55})
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_model_checkpoint_saves_rbms_and_networks(digits, tmp_path):
    X, y = digits
    net = DeepBeliefNet([64, 16, 8], epochs=2).pretrain(
        X, callbacks=[ModelCheckpoint(tmp_path / "rbm{layer}-{epoch}.pt", every=2)], progress=False, seed=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rbm1-2.pt", "rbm2-2.pt"]
    loaded = RBM.load(tmp_path / "rbm2-2.pt")
    assert torch.equal(loaded.weight, net.rbms[1].weight)
    net.finetune(X, y, epochs=3, lr=0.3, validation_fraction=0.0, callbacks=[ModelCheckpoint(tmp_path / "mlp.pt")],
                 progress=False, seed=0)
    config, state_dict, extra = load_checkpoint(tmp_path / "mlp.pt", kind="state_dict")
    assert extra["record"]["epoch"] == 3 and config["module"] == "Sequential"
    assert all(torch.equal(state_dict[name], value) for name, value in net.mlp_.state_dict().items())


def test_tensorboard_writes_scalars_and_images(digits, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    X, _ = digits
    logger = TensorBoardLogger(tmp_path / "tb", images_every=2)
    RBM(64, 16).fit(X, epochs=4, callbacks=[logger], progress=False, seed=0)
    logger.close()
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert [event.step for event in events.Scalars("recon_mse")] == [1, 2, 3, 4]
    assert {"filters", "samples"} <= set(events.Tags()["images"])
    assert [event.step for event in events.Images("filters")] == [2, 4]
