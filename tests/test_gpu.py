"""GPU code paths, checked against the CPU: run only where CUDA is present (skipped otherwise).

GPU and CPU draw different random numbers, so results are compared statistically: monitors and
accuracies after the same training must agree within tolerances far tighter than the difference
between a trained and an untrained model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dbn import RBM, DeepBeliefNet
from dbn.graphs import EpochRunner

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def binary_digits(digits):
    X, y = digits
    return (X > 0.5).astype(np.float32), y


def train(X, device, **options):
    return RBM(64, 32).fit(X, epochs=10, batch_size=50, progress=False, seed=0, device=device, **options)


def test_graph_replay_trains_like_the_cpu(binary_digits):
    X, _ = binary_digits
    cpu, gpu = train(X, "cpu"), train(X, "cuda")
    untrained = RBM(64, 32).fit(X, epochs=1, lr=1e-9, progress=False, seed=0)
    assert gpu.weight.device.type == "cuda"
    for key in ("recon_mse", "recon_kl", "batch_recon_mse"):
        assert gpu.history_[-1][key] == pytest.approx(cpu.history_[-1][key], rel=0.1), key
        assert gpu.history_[-1][key] < 0.8 * untrained.history_[-1][key]
    assert gpu.history_[-1]["pseudo_likelihood"] == pytest.approx(cpu.history_[-1]["pseudo_likelihood"], rel=0.1)
    ll_cpu, ll_gpu = cpu.log_likelihood(X[:500], "ais"), gpu.cpu().log_likelihood(X[:500], "ais")
    assert abs(ll_cpu - ll_gpu) < 1.5


def test_graph_replay_matches_eager_steps_on_the_gpu(binary_digits):
    X, _ = binary_digits
    graphed, eager = train(X, "cuda", cuda_graph=True), train(X, "cuda", cuda_graph=False)
    assert graphed.history_[-1]["recon_mse"] == pytest.approx(eager.history_[-1]["recon_mse"], rel=0.05)
    # both runs see the same epoch orders; their weights differ only through the random samples
    assert torch.linalg.norm(graphed.weight - eager.weight) < 0.3 * torch.linalg.norm(eager.weight)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"persistent": True, "k": 3},
        {"sparsity_target": 0.1, "sparsity_cost": 0.1},
        {"precision": "tf32"},
        {"precision": "bfloat16"},
    ],
)
def test_an_epoch_on_the_gpu_never_synchronises_with_the_host(binary_digits, monkeypatch, options):
    X, _ = binary_digits
    original = EpochRunner.run_epoch

    def strict(self, first_step):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return original(self, first_step)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(EpochRunner, "run_epoch", strict)
    rbm = train(X, "cuda", **options)
    assert np.isfinite(rbm.history_[-1]["recon_mse"])


def test_binary_data_lives_on_the_gpu_as_bytes(binary_digits):
    from dbn.batches import make_source

    X, _ = binary_digits
    source = make_source(X, "X", batch_size=10, device=torch.device("cuda"), dtype=torch.float32, generator=None,
                         n_features=64, unit_interval=True)
    assert source.data.dtype == torch.uint8 and source.data.device.type == "cuda"


def test_reduced_precision_on_the_gpu_learns_like_float32(binary_digits):
    X, _ = binary_digits
    exact = train(X, "cuda")
    for precision in ("tf32", "bfloat16"):
        reduced = train(X, "cuda", precision=precision)
        assert reduced.history_[-1]["recon_mse"] == pytest.approx(exact.history_[-1]["recon_mse"], rel=0.1), precision


def test_pretraining_and_finetuning_on_the_gpu_match_the_cpu(digits):
    X, y = digits
    order = np.random.default_rng(0).permutation(len(X))
    train_rows, test_rows = order[:1400], order[1400:]
    scores = {}
    for device in ("cpu", "cuda"):
        net = DeepBeliefNet([64, 128, 128])
        net.pretrain(X[train_rows], epochs=10, progress=False, seed=0, device=device)
        net.finetune(X[train_rows], y[train_rows], epochs=30, progress=False, seed=0, device=device)
        scores[device] = net.score(X[test_rows], y[test_rows])
    assert scores["cuda"] > 0.9
    assert abs(scores["cuda"] - scores["cpu"]) < 0.03


def test_batched_comparisons_on_the_gpu_match_the_cpu(digits):
    from dbn.compare import compare_inits

    X, y = digits
    options = dict(
        hidden=(32, 32),
        activation="relu",
        schemes=["xavier_uniform", "he_normal", "batchnorm"],
        seeds=2,
        epochs=5,
        lrs=[0.03, 0.1],
    )
    results = {device: compare_inits(X, y, device=device, **options) for device in ("cpu", "cuda")}
    for cpu, gpu in zip(results["cpu"], results["cuda"], strict=False):
        assert (cpu["scheme"], cpu["seed"], cpu["lr"]) == (gpu["scheme"], gpu["seed"], gpu["lr"])
        # same initial networks and minibatch order: only floating-point order differs
        assert gpu["test_accuracy"] == pytest.approx(cpu["test_accuracy"], abs=0.03)
        assert gpu["train_loss"] == pytest.approx(cpu["train_loss"], rel=0.1, abs=0.02)
