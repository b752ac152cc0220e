"""The epoch plan behind RBM.fit (static index buffers, CUDA-graph chunks) and its device-side monitors.

These tests run on the CPU, where :class:`dbn.graphs.EpochRunner` executes the same chunked plan
eagerly that a GPU replays from captured graphs: the bookkeeping of rows, chunks and ragged batches
is checked here, the capture itself in ``test_gpu.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dbn import RBM
from dbn.batches import make_source
from dbn.cd import ContrastiveDivergence
from dbn.graphs import EpochRunner


def in_memory_source(n_rows: int, batch_size: int, seed: int = 0):
    data = torch.arange(n_rows, dtype=torch.float32).unsqueeze(1)  # row i holds the number i
    return make_source(
        data,
        "X",
        batch_size=batch_size,
        device=torch.device("cpu"),
        dtype=torch.float32,
        generator=torch.Generator().manual_seed(seed),
        n_features=1,
        unit_interval=False,
    )


@pytest.mark.parametrize(
    "n_rows, batch_size, chunk", [(1000, 100, 4), (1037, 100, 4), (1037, 100, 64), (250, 100, 2), (60, 100, 8)]
)
def test_an_epoch_visits_the_rows_of_the_plain_loop_in_its_order(n_rows, batch_size, chunk):
    seen: list[list[int]] = []
    runner = EpochRunner(
        lambda batch: seen.append(batch[:, 0].long().tolist()),
        in_memory_source(n_rows, batch_size),
        use_graph=False,
        chunk=chunk,
    )
    steps = runner.run_epoch(lambda batch: seen.append(["first"] + batch[:, 0].long().tolist()))

    expected = torch.randperm(n_rows, generator=torch.Generator().manual_seed(0)).split(batch_size)
    assert steps == len(expected) == len(seen)
    assert seen[0][0] == "first" and seen[0][1:] == expected[0].tolist()
    assert seen[1:] == [rows.tolist() for rows in expected[1:]]
    assert runner.index.shape[0] <= chunk


def test_every_epoch_draws_a_new_order():
    seen: list[list[int]] = []
    runner = EpochRunner(
        lambda batch: seen.append(batch[:, 0].long().tolist()), in_memory_source(300, 100), use_graph=False
    )
    runner.run_epoch(lambda batch: seen.append(batch[:, 0].long().tolist()))
    runner.run_epoch(lambda batch: seen.append(batch[:, 0].long().tolist()))
    assert sorted(sum(seen[:3], [])) == sorted(sum(seen[3:], [])) == list(range(300))
    assert seen[:3] != seen[3:]


def test_graphs_are_refused_off_a_gpu_before_training():
    with pytest.raises(ValueError, match="CUDA device"):
        EpochRunner(lambda batch: None, in_memory_source(10, 5), use_graph=True)
    rbm = RBM(64, 8)
    state = {key: value.clone() for key, value in rbm.state_dict().items()}
    with pytest.raises(ValueError, match="cuda_graph=True"):
        rbm.fit(np.zeros((20, 64), np.float32), cuda_graph=True, progress=False)
    with pytest.raises(TypeError, match="cuda_graph"):
        rbm.fit(np.zeros((20, 64), np.float32), cuda_graph="yes", progress=False)
    assert all(torch.equal(value, rbm.state_dict()[key]) for key, value in state.items())


@pytest.mark.parametrize("chunk", [1, 3])
def test_the_chunk_length_does_not_change_the_trained_model(digits, monkeypatch, chunk):
    X = (digits[0][:500] > 0.5).astype(np.float32)
    reference = RBM(64, 16).fit(X, epochs=2, batch_size=64, progress=False, seed=3)
    monkeypatch.setattr(
        "dbn.cd_trainer.EpochRunner",
        lambda step, source, use_graph: EpochRunner(step, source, use_graph=use_graph, chunk=chunk),
    )
    chunked = RBM(64, 16).fit(X, epochs=2, batch_size=64, progress=False, seed=3)
    for name in ("weight", "visible_bias", "hidden_bias"):
        assert torch.equal(getattr(chunked, name), getattr(reference, name))


class HostSyncError(RuntimeError):
    pass


def test_an_epoch_never_reads_a_value_back_from_the_device(digits, monkeypatch):
    """Within an epoch no tensor becomes a Python value (on a GPU each would stall the stream)."""
    guard = {"on": False}

    def forbidden(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            if guard["on"]:
                raise HostSyncError(f"Tensor.{name} called inside an epoch")
            return original(self, *args, **kwargs)

        return wrapper

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, forbidden(name))
    original_run = EpochRunner.run_epoch

    def guarded(self, first_step):
        guard["on"] = True
        try:
            return original_run(self, first_step)
        finally:
            guard["on"] = False

    monkeypatch.setattr(EpochRunner, "run_epoch", guarded)
    X = (digits[0][:300] > 0.5).astype(np.float32)
    for options in (
        {},
        {"persistent": True, "k": 2},
        {"sparsity_target": 0.1, "sparsity_cost": 0.1},
        {"precision": "bfloat16"},
    ):
        rbm = RBM(64, 16).fit(X, epochs=2, batch_size=32, progress=False, seed=0, **options)
        assert len(rbm.history_) == 2


def test_device_side_monitors_are_the_means_over_the_epochs_batches(digits):
    X = torch.as_tensor((digits[0][:256] > 0.5).astype(np.float32))
    rbm = RBM(64, 16).fit(X, epochs=1, lr=1e-9, progress=False, seed=0)
    objective = ContrastiveDivergence(rbm, k=1, generator=torch.Generator().manual_seed(0))
    losses = [objective(batch).item() for batch in X.split(64)]
    monitors = objective.read_monitors()
    assert monitors["cd_loss"] == pytest.approx(np.mean(losses), rel=1e-6)
    assert 0 < monitors["batch_recon_mse"] < 0.25
    assert objective.read_monitors() == {"cd_loss": None, "batch_recon_mse": None}

    trained = RBM(64, 16).fit(X, epochs=8, batch_size=16, progress=False, seed=0)
    errors = [record["batch_recon_mse"] for record in trained.history_]
    assert errors[-1] < 0.8 * errors[0]
    persistent = RBM(64, 16).fit(X, epochs=1, persistent=True, progress=False, seed=0)
    assert persistent.history_[0]["batch_recon_mse"] is None and np.isfinite(persistent.history_[0]["cd_loss"])


def test_binary_data_is_held_as_bytes_and_grey_data_as_floats(digits):
    X = digits[0][:100]
    common = dict(batch_size=10, device=torch.device("cpu"), dtype=torch.float32, generator=None, n_features=64,
                  unit_interval=True)
    binary = make_source((X > 0.5).astype(np.float32), "X", **common)
    grey = make_source(X, "X", **common)
    assert binary.data.dtype == torch.uint8 and grey.data.dtype == torch.float32
    rows = torch.arange(7)
    assert binary.gather(rows).dtype == torch.float32
    assert torch.equal(binary.gather(rows), torch.as_tensor((X[:7] > 0.5).astype(np.float32)))
    stats = binary.statistics(n_features=64, unit_interval=True, sample_size=100)
    assert torch.allclose(stats.mean.float(), torch.as_tensor((X > 0.5).mean(0), dtype=torch.float32), atol=1e-6)
