"""Checkpoints of the classification RBM and the up-down DBN: bit-exact round trips (parameters,
buffers, predictions, samples, histories), the model class checked on load, and truncated,
corrupted or interrupted files refused or left intact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dbn.serialization
from dbn import RBM
from dbn.classrbm import ClassRBM
from dbn.updown import UpDownDBN


def assert_same_state(loaded: torch.nn.Module, original: torch.nn.Module) -> None:
    """The same tensors under the same names, bit for bit, with the same dtypes."""
    expected = original.state_dict()
    found = loaded.state_dict()
    assert list(found) == list(expected)
    for name, value in expected.items():
        assert found[name].dtype == value.dtype and torch.equal(found[name], value), name


@pytest.fixture(scope="module")
def small_digits(digits):
    X, y = digits
    return X[:300], y[:300]


def features_of(X: np.ndarray, features: str) -> np.ndarray:
    return X if features == "bernoulli" else X * 16 - 3  # any real values for Gaussian features


def trained_class_rbm(X: np.ndarray, y: np.ndarray, features: str) -> ClassRBM:
    model = ClassRBM(64, 10, 12, features=features, dtype=torch.float64)
    return model.fit(features_of(X, features), y, epochs=2, lr=0.1, seed=0, progress=False)


@pytest.fixture(scope="module")
def class_rbm(small_digits) -> ClassRBM:
    return trained_class_rbm(*small_digits, "bernoulli")


@pytest.fixture(scope="module")
def updown_net(small_digits) -> UpDownDBN:
    X, y = small_digits
    net = UpDownDBN([64, 12, 10, 16], 10).pretrain(X, y, epochs=1, batch_size=50, seed=0, progress=False)
    return net.finetune(X, y, epochs=1, batch_size=50, k=2, seed=1, progress=False)


@pytest.mark.parametrize("features", ["bernoulli", "gaussian"])
def test_a_class_rbm_round_trips_bit_for_bit(features, small_digits, tmp_path):
    class_rbm = trained_class_rbm(*small_digits, features)
    X = features_of(small_digits[0], features)
    class_rbm.save(tmp_path / "classrbm.pt")
    loaded = ClassRBM.load(tmp_path / "classrbm.pt")
    assert loaded.config() == class_rbm.config() and loaded.dtype == torch.float64
    assert_same_state(loaded, class_rbm)  # weights, biases and the feature standardisation
    assert np.array_equal(loaded.predict_proba(X), class_rbm.predict_proba(X))
    assert loaded.history_ == class_rbm.history_ and len(loaded.history_) == 2
    labels = torch.arange(10)
    assert torch.equal(loaded.sample_features(labels, 5, torch.Generator().manual_seed(3)),
                       class_rbm.sample_features(labels, 5, torch.Generator().manual_seed(3)))


def test_an_updown_dbn_round_trips_bit_for_bit(updown_net, small_digits, tmp_path):
    X, _ = small_digits
    updown_net.save(tmp_path / "updown.pt")
    loaded = UpDownDBN.load(tmp_path / "updown.pt", map_location="cpu")
    assert loaded.config() == updown_net.config() == {"layers": [64, 12, 10, 16], "n_classes": 10,
                                                      "dtype": "float32"}
    assert_same_state(loaded, updown_net)  # recognition, generative and associative-memory parameters
    assert np.array_equal(loaded.predict_proba(X), updown_net.predict_proba(X))
    assert torch.equal(loaded.sample(range(10), 20, seed=4), updown_net.sample(range(10), 20, seed=4))
    assert loaded.pretrain_history_ == updown_net.pretrain_history_
    assert loaded.finetune_history_ == updown_net.finetune_history_ and len(loaded.finetune_history_) == 1
    assert loaded.top.history_ == updown_net.top.history_


def test_a_checkpoint_of_another_model_class_says_which(class_rbm, updown_net, tmp_path):
    class_rbm.save(tmp_path / "classrbm.pt")
    updown_net.save(tmp_path / "updown.pt")
    RBM(4, 3).save(tmp_path / "rbm.pt")
    with pytest.raises(ValueError, match="holds a 'UpDownDBN', not a 'ClassRBM': load it with UpDownDBN.load"):
        ClassRBM.load(tmp_path / "updown.pt")
    with pytest.raises(ValueError, match="holds a 'ClassRBM', not a 'UpDownDBN': load it with ClassRBM.load"):
        UpDownDBN.load(tmp_path / "classrbm.pt")
    with pytest.raises(ValueError, match="holds a 'RBM', not a 'ClassRBM'"):
        ClassRBM.load(tmp_path / "rbm.pt")
    with pytest.raises(ValueError, match="holds a 'ClassRBM', not a 'RBM'"):
        RBM.load(tmp_path / "classrbm.pt")


@pytest.mark.parametrize("kind", [ClassRBM, UpDownDBN])
def test_truncated_and_corrupted_files_are_refused_by_name(kind, class_rbm, updown_net, tmp_path):
    model = class_rbm if kind is ClassRBM else updown_net
    model.save(tmp_path / "model.pt")
    data = (tmp_path / "model.pt").read_bytes()
    truncated, corrupted = tmp_path / "truncated.pt", tmp_path / "corrupted.pt"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) - 100] ^= 0x01  # one bit of the payload
    corrupted.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=f"{truncated} is a truncated dbn checkpoint"):
        kind.load(truncated)
    with pytest.raises(ValueError, match=rf"{corrupted} is corrupted \(checksum mismatch\)"):
        kind.load(corrupted)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        kind.load(tmp_path / "missing.pt")


@pytest.mark.parametrize("kind", [ClassRBM, UpDownDBN])
def test_an_interrupted_save_keeps_the_previous_file(kind, class_rbm, updown_net, tmp_path, monkeypatch):
    model = class_rbm if kind is ClassRBM else updown_net
    path = tmp_path / "model.pt"
    model.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dbn.serialization.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert [entry.name for entry in tmp_path.iterdir()] == ["model.pt"]
    monkeypatch.undo()
    assert_same_state(kind.load(path), model)
