"""Data-parallel CD-1 throughput: 1 process against 2 (CPU, gloo), and 1 GPU against all (NCCL).

Each configuration trains ``RBM(784, 500)`` by CD-1 for ``--epochs`` epochs over 60,000 x 784
binary rows (MNIST thresholded at 0.5 when the files are found, otherwise random rows of MNIST's
density), batch 100 per process, and reports the best epoch's samples per second (the time of an
epoch's updates, ``history_[i]["seconds"]``, which under ``torchrun`` is the slowest rank's).
Every process uses ``--threads`` CPU threads (default 1), so on a machine with 2 cores
"1 process x 1 thread" against "2 processes x 1 thread" is the fair comparison: the same cores
per process, twice the processes. Scaling efficiency = throughput(N) / (N x throughput(1)).

With N processes the global batch is N x 100, so N processes take 1/N as many updates per epoch;
the 1-process run at batch N x 100 is printed as well (same updates, one process). Each
distributed run also times ``all_reduce`` of a tensor the size of the gradient
(784 x 500 + 784 + 500 float32 = 1.57 MB), the only communication of a step, against the step's
compute time.

Usage: ``python benchmarks/distributed_speed.py [--epochs 3] [--threads 1] [--rows 60000]``; the
script launches every configuration itself (``torch.distributed.run --standalone``). Run it on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from dbn import RBM
from dbn.distributed import get_rank, get_world_size, is_distributed

N_VISIBLE, N_HIDDEN, BATCH = 784, 500, 100
GRADIENT_ELEMENTS = N_VISIBLE * N_HIDDEN + N_VISIBLE + N_HIDDEN


def load_binary_rows(rows: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """MNIST training images thresholded at 0.5, or random rows with MNIST's pixel density."""
    here = Path(__file__).resolve().parents[1]
    for root in (os.environ.get("DBN_DATA"), here / ".." / "shared" / "datasets", here / "data"):
        if root and (Path(root) / "mnist").is_dir():
            from dbn.datasets import load_mnist

            X, _ = load_mnist(Path(root) / "mnist", split="train", binarize="threshold")
            return np.ascontiguousarray(X[:rows], dtype=np.float32), "MNIST"
    rng = np.random.default_rng(seed)
    return (rng.random((rows, N_VISIBLE)) < 0.13).astype(np.float32), "random binary rows"


def time_all_reduce(device: torch.device, repeats: int = 50) -> float:
    """Median seconds of one all_reduce of a gradient-sized float32 tensor (after a warm-up)."""
    tensor = torch.zeros(GRADIENT_ELEMENTS, device=device)
    times = []
    for _ in range(repeats + 5):
        dist.barrier()
        started = time.perf_counter()
        dist.all_reduce(tensor)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return float(np.median(times[5:]))


def worker(args: argparse.Namespace) -> None:
    """One process of one configuration: train, then print a JSON line from rank 0."""
    torch.set_num_threads(args.threads)
    X, source = load_binary_rows(args.rows)
    rbm = RBM(N_VISIBLE, N_HIDDEN)
    rbm.fit(X, epochs=args.epochs, batch_size=args.batch, lr=0.1, device=args.device, seed=0, progress=False)
    seconds = min(record["seconds"] for record in rbm.history_)
    steps = -(-args.rows // (get_world_size() * args.batch))  # updates per epoch on each rank
    result = {
        "processes": get_world_size(),
        "batch": args.batch,
        "device": str(rbm.device.type),
        "samples_per_second": args.rows / seconds,
        "step_ms": 1e3 * seconds / steps,
        "all_reduce_ms": 1e3 * time_all_reduce(rbm.device) if is_distributed() else None,
        "data": source,
    }
    if get_rank() == 0:
        print("RESULT " + json.dumps(result), flush=True)


def launch(args: argparse.Namespace, processes: int, batch: int, device: str) -> dict:
    """Run one configuration in fresh processes (torchrun for two or more) and return rank 0's result."""
    options = [
        "--worker",
        f"--epochs={args.epochs}",
        f"--threads={args.threads}",
        f"--rows={args.rows}",
        f"--batch={batch}",
        f"--device={device}",
    ]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    output = subprocess.run(
        [sys.executable, *launcher, __file__, *options], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])


def report(title: str, runs: list[dict]) -> None:
    single = runs[0]["samples_per_second"]
    print(f"\n{title}\n")
    print("| processes | batch per process | samples/s | efficiency | ms per step | all_reduce of 1.57 MB (ms) |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        efficiency = run["samples_per_second"] / (run["processes"] * single)
        reduce = "—" if run["all_reduce_ms"] is None else f"{run['all_reduce_ms']:.2f}"
        print(
            f"| {run['processes']} | {run['batch']} | {run['samples_per_second']:,.0f} "
            f"| {efficiency:.2f} | {run['step_ms']:.2f} | {reduce} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per process per update")
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.threads} "
        f"thread(s) per process, {args.rows} rows, {args.epochs} epochs (best)"
    )
    cpu = [
        launch(args, 1, args.batch, "cpu"),
        launch(args, 2, args.batch, "cpu"),
        launch(args, 1, 2 * args.batch, "cpu"),
    ]
    print(f"data: {cpu[0]['data']}")
    report("CPU, gloo (the last row: one process with the 2-process global batch)", cpu)
    gpus = torch.cuda.device_count()
    if gpus:
        report(
            f"CUDA, NCCL, {torch.cuda.get_device_name(0)}",
            [launch(args, n, args.batch, "cuda") for n in sorted({1, gpus})],
        )
    else:
        print("\nNo CUDA device: the GPU comparison (1 GPU against several, NCCL) was not run.")


if __name__ == "__main__":
    main()
