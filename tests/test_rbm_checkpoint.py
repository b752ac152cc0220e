"""RBM checkpoints: exact round trips, atomic writes, clear errors for bad files."""

from __future__ import annotations

import pytest
import torch

import dbn.serialization
from dbn import RBM


@pytest.fixture()
def gaussian_rbm(digits):
    X, _ = digits
    return RBM(64, 12, visible="gaussian").fit(X * 3 + 1, epochs=2, progress=False, seed=0)


def test_round_trip_keeps_parameters_buffers_and_history(gaussian_rbm, digits, tmp_path):
    X, _ = digits
    path = tmp_path / "model.pt"
    gaussian_rbm.save(path)
    loaded = RBM.load(path)
    assert loaded.visible.name == "gaussian"
    assert torch.equal(loaded.transform(torch.as_tensor(X)), gaussian_rbm.transform(torch.as_tensor(X)))
    assert torch.equal(loaded.data_std, gaussian_rbm.data_std)
    assert loaded.history_ == gaussian_rbm.history_


def test_interrupted_save_keeps_the_previous_file(gaussian_rbm, tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    gaussian_rbm.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dbn.serialization.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        gaussian_rbm.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_truncated_and_foreign_files_give_clear_errors(gaussian_rbm, tmp_path):
    path = tmp_path / "model.pt"
    gaussian_rbm.save(path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.pt is a truncated dbn checkpoint"):
        RBM.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt is not a dbn checkpoint"):
        RBM.load(foreign)
    with pytest.raises(FileNotFoundError):
        RBM.load(tmp_path / "missing.pt")
