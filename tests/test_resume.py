"""Checkpoints inside training runs: an RBM fit, a pretraining interrupted inside a layer, resumed
with no arguments, end bit-identical (on the CPU) to uninterrupted runs; SIGKILLed runs too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dbn import RBM, DeepBeliefNet
from dbn.datasets import load_digits

ROOT = Path(__file__).resolve().parents[1]


class Interrupted(Exception):
    """Raised by a callback to stop a run the way a crash would."""


def crash_at(epoch: int, n_hidden: int | None = None):
    def callback(model, record):
        if record["epoch"] == epoch and (n_hidden is None or model.n_hidden == n_hidden):
            raise Interrupted

    return callback


def without_time(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


@pytest.fixture(scope="module")
def X():
    return load_digits()[0]


@pytest.mark.parametrize(
    ("visible", "options"),
    [
        ("bernoulli", {}),
        ("bernoulli", {"persistent": True, "k": 2}),
        ("gaussian", {"sparsity_target": 0.1, "sparsity_cost": 0.1}),
        ("bernoulli", {"monitor_every": 3}),  # resumed after epoch 3: the monitors still run at 6 and 7
    ],
    ids=["cd", "pcd", "gaussian-sparse", "monitors-every-3"],
)
def test_an_interrupted_fit_resumes_bit_identically(X, tmp_path, visible, options):
    settings = {"epochs": 7, "batch_size": 50, "progress": False, "seed": 3, **options}
    whole = RBM(64, 16, visible=visible).fit(X, **settings)
    with pytest.raises(Interrupted):
        RBM(64, 16, visible=visible).fit(X, checkpoint=tmp_path / "rbm.pt", callbacks=[crash_at(4)], **settings)
    resumed = RBM.load(tmp_path / "rbm.pt")
    assert resumed.training_state_["done"] == 3 and len(resumed.history_) == 3
    resumed.resume(X, progress=False)
    assert torch.equal(resumed.weight, whole.weight) and torch.equal(resumed.hidden_bias, whole.hidden_bias)
    assert without_time(resumed.history_) == without_time(whole.history_)
    finished = RBM.load(tmp_path / "rbm.pt")
    assert finished.training_state_ is None and torch.equal(finished.weight, whole.weight)


def test_resuming_on_other_data_or_without_a_run_is_refused(X, tmp_path):
    with pytest.raises(Interrupted):
        RBM(64, 8).fit(X, epochs=4, checkpoint=tmp_path / "rbm.pt", callbacks=[crash_at(2)], progress=False, seed=0)
    with pytest.raises(ValueError, match="not the data the checkpointed run trained on"):
        RBM.load(tmp_path / "rbm.pt").resume(X[::-1][:1000] * 0.5, progress=False)
    with pytest.raises(ValueError, match="no interrupted training run to resume"):
        RBM(64, 8).resume(X)


def test_checkpoint_directories_are_checked_before_training(X, tmp_path):
    rbm = RBM(64, 8)
    with pytest.raises(FileNotFoundError, match="checkpoint: the directory .* does not exist"):
        rbm.fit(X, epochs=1, checkpoint=tmp_path / "missing" / "rbm.pt", progress=False)
    with pytest.raises(FileNotFoundError, match="checkpoint: the directory"):
        DeepBeliefNet([64, 8]).pretrain(X, checkpoint=tmp_path / "missing" / "net.pt", progress=False)
    assert rbm.history_ == []


def test_pretraining_interrupted_inside_a_layer_resumes_there(X, tmp_path):
    settings = {"epochs": 5, "batch_size": 50}
    whole = DeepBeliefNet([64, 20, 10], **settings).pretrain(X, progress=False, seed=1)
    with pytest.raises(Interrupted):
        DeepBeliefNet([64, 20, 10], **settings).pretrain(
            X,
            progress=False,
            seed=1,
            checkpoint=tmp_path / "net.pt",
            checkpoint_every=1,
            callbacks=[crash_at(3, n_hidden=10)],
        )
    saved = DeepBeliefNet.load(tmp_path / "net.pt")
    assert int(saved.n_trained) == 1 and saved.rbms[1].training_state_["done"] == 2
    resumed = saved.pretrain(X, progress=False)
    for a, b in zip(whole.rbms, resumed.rbms, strict=False):
        assert torch.equal(a.weight, b.weight) and without_time(a.history_) == without_time(b.history_)
    assert int(DeepBeliefNet.load(tmp_path / "net.pt").n_trained) == 2


KILLED_RUN = """
import sys, numpy as np
from dbn import DeepBeliefNet, RBM
from dbn.datasets import load_digits
X = load_digits()[0]
kind, path = sys.argv[1], sys.argv[2]
if kind == "rbm":
    RBM(64, 32).fit(X, epochs=400, batch_size=10, progress=False, seed=5, checkpoint=path)
elif kind == "finetune":
    net = DeepBeliefNet([64, 32], epochs=1).pretrain(X, progress=False, seed=5)
    net.finetune(X, load_digits()[1], epochs=400, batch_size=10, lr=0.05, patience=None, progress=False, seed=6,
                 checkpoint=path)
else:
    DeepBeliefNet([64, 32, 16], epochs=[2, 400], batch_size=10).pretrain(X, progress=False, seed=5, checkpoint=path,
                                                                        checkpoint_every=1)
"""


def _kill_when_checkpointed(kind: str, path: Path, epochs_done: int) -> None:
    """Start a run in a subprocess and SIGKILL it once its checkpoint holds ``epochs_done`` epochs of a run."""
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, kind, str(path)], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if path.exists():
                if kind == "rbm":
                    state = RBM.load(path).training_state_
                elif kind == "finetune":
                    state = getattr(DeepBeliefNet.load(path), "finetune_state_", None)
                    state = None if state is None else {"done": len(state["history"])}
                else:
                    state = DeepBeliefNet.load(path).rbms[1].training_state_
                if state is not None and state["done"] >= epochs_done:
                    break
        else:
            pytest.fail("the run never wrote a checkpoint")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("kind", ["rbm", "dbn", "finetune"])
def test_a_sigkilled_run_resumes_bit_identically(X, tmp_path, kind):
    path = tmp_path / "run.pt"
    _kill_when_checkpointed(kind, path, epochs_done=2)
    if kind == "rbm":
        resumed = RBM.load(path)
        done = resumed.training_state_["done"]
        resumed.fit_config_ = resumed.fit_config_.replace(
            epochs=done + 3
        )  # finish sooner than the killed run would have
        resumed.resume(X, progress=False)
        whole = RBM(64, 32).fit(X, epochs=done + 3, batch_size=10, progress=False, seed=5)
        assert torch.equal(resumed.weight, whole.weight)
    elif kind == "finetune":
        net = DeepBeliefNet.load(path)
        done = len(net.finetune_state_["history"])
        net.finetune_config_ = net.finetune_config_.replace(epochs=done + 2)
        net.finetune(X, load_digits()[1], progress=False)
        whole = DeepBeliefNet([64, 32], epochs=1).pretrain(X, progress=False, seed=5)
        whole.finetune(
            X, load_digits()[1], epochs=done + 2, batch_size=10, lr=0.05, patience=None, progress=False, seed=6
        )
        for a, b in zip(whole.mlp_.state_dict().values(), net.mlp_.state_dict().values(), strict=False):
            assert torch.equal(a, b)
    else:
        net = DeepBeliefNet.load(path)
        done = net.rbms[1].training_state_["done"]
        net.rbms[1].fit_config_ = net.rbms[1].fit_config_.replace(epochs=done + 2)
        net.layer_configs[1] = net.layer_configs[1].replace(epochs=done + 2)
        net.pretrain(X, progress=False)
        whole = DeepBeliefNet([64, 32, 16], epochs=[2, done + 2], batch_size=10).pretrain(X, progress=False, seed=5)
        for a, b in zip(whole.rbms, net.rbms, strict=False):
            assert torch.equal(a.weight, b.weight)
    assert not [name for name in os.listdir(tmp_path) if name != "run.pt"]


def test_an_interrupted_fine_tuning_resumes_bit_identically(X, tmp_path):
    y = load_digits()[1]
    DeepBeliefNet([64, 32], epochs=2).pretrain(X, progress=False, seed=0).save(tmp_path / "pretrained.pt")
    whole = DeepBeliefNet.load(tmp_path / "pretrained.pt").finetune(X, y, epochs=6, lr=0.5, progress=False, seed=2)
    net = DeepBeliefNet.load(tmp_path / "pretrained.pt")
    with pytest.raises(Interrupted):
        net.finetune(
            X, y, epochs=6, lr=0.5, progress=False, seed=2, checkpoint=tmp_path / "ft.pt", callbacks=[crash_at(4)]
        )
    assert not hasattr(net, "mlp_")  # a failed fine-tuning leaves no half-trained network behind
    resumed = DeepBeliefNet.load(tmp_path / "ft.pt")
    assert len(resumed.finetune_state_["history"]) == 3
    resumed.finetune(X, y, progress=False)
    for a, b in zip(whole.mlp_.state_dict().values(), resumed.mlp_.state_dict().values(), strict=False):
        assert torch.equal(a, b)
    assert without_time(whole.finetune_history_) == without_time(resumed.finetune_history_)
    assert DeepBeliefNet.load(tmp_path / "ft.pt").finetune_state_ is None
