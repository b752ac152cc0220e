"""Data-parallel training on 2 CPU processes (gloo, 127.0.0.1), against single-process runs.

Two multi-process jobs run once per test run, each a few seconds, and write what every rank saw
(``distributed_worker.py`` documents the scenarios):

- under ``torchrun --standalone`` (a free port on localhost), where dbn initialises the process
  group itself: one CD step, a pretraining run with checkpoints, an RBM's monitors;
- as two plain processes whose group the worker initialises from a FileStore in a temporary
  directory (no port at all), which dbn must use: fine-tuning.

The subprocesses find ``dbn`` whether it is installed or only on ``PYTHONPATH``: the repository
root is put in front of their ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from distributed_worker import STEP_BATCH, step_data, step_rbm

from dbn import DeepBeliefNet
from dbn.distributed import get_rank, get_world_size, is_distributed, merge_moments, reduce_values

WORKER = Path(__file__).with_name("distributed_worker.py")
REPO = WORKER.parents[1]
#: only a guard against a hung job; the jobs take a few seconds
HANG_GUARD_SECONDS = 300


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return env


def _load(out: Path, scenario: str) -> list[dict]:
    return [torch.load(out / f"{scenario}_rank{rank}.pt", weights_only=False) for rank in range(2)]


@pytest.fixture(scope="module")
def torchrun_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("torchrun")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(out),
        "torchrun",
    ]
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=HANG_GUARD_SECONDS)
    assert result.returncode == 0, f"torchrun job failed:\n{result.stdout}\n{result.stderr}"
    return out


@pytest.fixture(scope="module")
def filestore_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("filestore")
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(out), "filestore", str(rank), "2"],
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=HANG_GUARD_SECONDS)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    for rank, (process, output) in enumerate(zip(processes, outputs, strict=False)):
        assert process.returncode == 0, f"rank {rank} failed:\n{output}"
    return out


def test_one_step_on_two_ranks_equals_one_step_on_the_concatenated_batch(torchrun_job):
    # The hidden units' "samples" are their means (distributed_worker.MeanFieldBernoulli) and CD's
    # last visible state is its mean, so each row's negative phase is a function of that row and
    # the parameters: the 2 ranks (B rows each, different sampling seeds) and the single process
    # (all 2B rows in one batch) see the same samples, and DDP's gradient average must equal the
    # single process's gradient of the mean over 2B rows.
    ranks = _load(torchrun_job, "step")
    reference = step_rbm().fit(
        step_data(), epochs=1, batch_size=2 * STEP_BATCH, lr=0.5, momentum=0.5, warm_start=True, seed=2, progress=False
    )
    start = step_rbm()
    assert (reference.weight - start.weight).abs().max() > 1e-3  # the step moved the weights
    for result in ranks:
        assert result["steps"] == 1
        for name, value in reference.state_dict().items():
            torch.testing.assert_close(result["state"][name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_pretraining_on_two_ranks_keeps_ranks_equal_and_rank_zero_writes_a_loadable_checkpoint(torchrun_job):
    first, second = _load(torchrun_job, "pretrain")
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name
    assert int(first["state"]["n_trained"]) == 2
    # persistent chains live per rank, each run by its own sampling generator
    assert not torch.equal(first["chains"], second["chains"])
    # each rank was given its own checkpoint path; only rank 0 wrote, and no temporary file is left
    assert sorted(path.name for path in torchrun_job.glob("*dbn_rank*")) == ["dbn_rank0.pt"]
    net = DeepBeliefNet.load(torchrun_job / "dbn_rank0.pt")
    for name, value in net.state_dict().items():
        assert torch.equal(value, first["state"][name]), name
    assert net.transform(torch.rand(3, 64)).shape == (3, 12)


def test_monitors_logged_by_every_rank_are_the_mean_over_ranks(torchrun_job):
    first, second = _load(torchrun_job, "monitors")
    assert first["history"] == second["history"]  # reduced before logging, so equal everywhere
    logged = first["history"][-1]
    assert first["local"]["recon_mse"] != second["local"]["recon_mse"]  # the shards differ
    for name in first["local"]:
        mean = (first["local"][name] + second["local"][name]) / 2
        assert logged[name] == pytest.approx(mean, rel=1e-5, abs=1e-7), name
    # the data statistics were merged over the ranks' shards: identical, and those of all rows
    assert torch.equal(first["data_mean"], second["data_mean"])
    torch.testing.assert_close(first["data_mean"], first["full_mean"], rtol=0, atol=1e-6)


def test_finetuning_in_a_group_the_user_initialised_keeps_ranks_equal(filestore_job):
    first, second = _load(filestore_job, "finetune")
    assert first["history"] == second["history"]
    assert len(first["history"]) == 3
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name


def test_without_a_process_group_the_distributed_functions_are_the_identity():
    assert not is_distributed() and get_rank() == 0 and get_world_size() == 1
    mean, squares = torch.rand(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    assert merge_moments(7, mean, squares) == (7, mean, squares)
    assert reduce_values({"a": torch.tensor(1.5), "b": None}, device=torch.device("cpu")) == {"a": 1.5, "b": None}
