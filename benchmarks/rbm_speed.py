"""CD-1 training speed of dbn.RBM against scikit-learn's BernoulliRBM, measured in the same run.

One epoch of CD-1 over 60,000 x 784 binary rows (MNIST thresholded at 0.5 when the files are
found, otherwise random binary rows of MNIST's density), 500 hidden units, batch 100, learning
rate 0.1. Contenders:

* ``sklearn``: ``BernoulliRBM(n_components=500, batch_size=100, n_iter=1)`` on float32 input;
* ``torch loop``: a minimal hand-written torch CD-1 loop, the reference for any CD-1 implementation;
* ``dbn``: ``RBM(784, 500).fit(X, epochs=1, batch_size=100)``; the time of its updates alone
  (``history_[-1]["seconds"]``) and of the whole call (data checks and monitors included);
* ``dbn ... bfloat16`` (CPU) / ``tf32`` (CUDA): the same with ``precision=`` (:mod:`dbn.precision`);
* ``GEMM floor``: the five matrix products of a CD-1 step alone, on the same shapes: no CD-1
  implementation in the same precision can be faster, so ``sklearn / floor`` is the ceiling of the
  ratio on this machine.

On CUDA the reference is the plain torch loop (scikit-learn's CPU time is printed when it is not
skipped), and ``dbn`` replays each epoch from CUDA graphs (:mod:`dbn.graphs`).

``--large`` times a 4096 x 4096 RBM with batch 4096 instead (8192 random binary rows, TF32 on CUDA,
bfloat16 on CPU unless ``--precision`` says otherwise) and prints its throughput as a fraction of
the throughput of one 4096^3 product measured in the same precision by the same script: a CD-1 step
is five products of 2 * 4096^3 flops each.

Usage: ``python benchmarks/rbm_speed.py [--rows 60000] [--device cpu|cuda] [--repeats 3] [--large]``;
the best of ``--repeats`` runs is reported for each contender. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from dbn import RBM
from dbn.precision import PRECISIONS, autocast, matmul_precision

N_HIDDEN, BATCH, LR = 500, 100, 0.1


def load_binary_rows(rows: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """MNIST training images thresholded at 0.5, or random rows with MNIST's pixel density."""
    here = Path(__file__).resolve().parents[1]
    for root in (os.environ.get("DBN_DATA"), here / ".." / "shared" / "datasets", here / "data"):
        if root and (Path(root) / "mnist").is_dir():
            from dbn.datasets import load_mnist

            X, _ = load_mnist(Path(root) / "mnist", split="train", binarize="threshold")
            return np.ascontiguousarray(X[:rows], dtype=np.float32), f"MNIST ({root})"
    rng = np.random.default_rng(seed)
    return (rng.random((rows, 784)) < 0.13).astype(np.float32), "random binary rows (MNIST not found)"


def time_sklearn(X: np.ndarray) -> float:
    from sklearn.neural_network import BernoulliRBM

    model = BernoulliRBM(n_components=N_HIDDEN, batch_size=BATCH, learning_rate=LR, n_iter=1, random_state=0)
    start = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start


def time_torch_loop(X: np.ndarray, device: torch.device) -> float:
    """The plain CD-1 loop: five matrix products and torch.bernoulli sampling per batch."""
    data = torch.as_tensor(X, device=device)
    W = torch.randn(784, N_HIDDEN, device=device) * 0.01
    b, c = torch.zeros(784, device=device), torch.zeros(N_HIDDEN, device=device)
    start = time.perf_counter()
    for batch in data[torch.randperm(len(data), device=device)].split(BATCH):
        h_pos = torch.sigmoid(batch @ W + c)
        v_neg = torch.sigmoid(torch.bernoulli(h_pos) @ W.T + b)
        h_neg = torch.sigmoid(v_neg @ W + c)
        W += LR * (batch.T @ h_pos - v_neg.T @ h_neg) / len(batch)
        b += LR * (batch - v_neg).mean(0)
        c += LR * (h_pos - h_neg).mean(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def time_gemm_floor(X: np.ndarray, device: torch.device) -> float:
    """The five products of CD-1 with nothing else: the bound for any float32 implementation."""
    W = torch.randn(N_HIDDEN, 784, device=device) * 0.01
    v, h = torch.as_tensor(X[:BATCH], device=device), torch.rand(BATCH, N_HIDDEN, device=device)
    start = time.perf_counter()
    for _ in range(0, len(X), BATCH):
        torch.mm(v, W.T)
        torch.mm(h, W)
        torch.mm(v, W.T)
        torch.mm(h.T, v)
        torch.mm(h.T, v)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def time_dbn(X: np.ndarray, device: torch.device, precision: str = "float32", epochs: int = 1) -> tuple[float, float]:
    """Seconds of the last epoch's updates (CUDA graphs are captured in the first) and of the call."""
    model = RBM(X.shape[1], N_HIDDEN)
    start = time.perf_counter()
    model.fit(X, epochs=epochs, batch_size=BATCH, lr=LR, device=device, progress=False, seed=0, precision=precision)
    return model.history_[-1]["seconds"], (time.perf_counter() - start) / epochs


def time_gemm_floor_bf16(X: np.ndarray, device: torch.device) -> float:
    """The five products in bfloat16: the bound for ``precision="bfloat16"``."""
    with torch.autocast(device.type, dtype=torch.bfloat16):
        return time_gemm_floor(X, device)


def large_layer(device: torch.device, precision: str, repeats: int) -> None:
    """A 4096 x 4096 RBM, batch 4096: its CD-1 throughput against one product's throughput."""
    size, rows, steps = 4096, 8192, 2
    X = (torch.rand(rows, size, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    a, b = torch.rand(size, size, device=device), torch.rand(size, size, device=device)
    with matmul_precision(precision), autocast(precision, device):
        torch.mm(a, b)
        gemm = []
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                torch.mm(a, b)
            sync(device)
            gemm.append((time.perf_counter() - start) / steps)
    gemm_flops = 2 * size**3 / min(gemm)
    runs = []
    for _ in range(repeats):
        model = RBM(size, size)
        model.fit(X, epochs=2, batch_size=size, lr=0.01, device=device, progress=False, seed=0, precision=precision)
        runs.append(model.history_[-1]["seconds"] / (rows // size))
    step_flops = 5 * 2 * size**3 / min(runs)
    print(f"4096 x 4096 RBM, batch 4096, precision {precision}, device {device}")
    print(f"one 4096^3 product: {gemm_flops / 1e12:8.2f} TFLOP/s")
    print(
        f"CD-1 step (5 products): {step_flops / 1e12:8.2f} TFLOP/s = "
        f"{step_flops / gemm_flops:.0%} of the product's throughput"
        f" ({size / min(runs):,.0f} samples/s)"
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true", help="GPU runs: skip the CPU reference")
    parser.add_argument("--large", action="store_true", help="time a 4096 x 4096 RBM with batch 4096 instead")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="reduced precision to time (default: tf32 on CUDA, bfloat16 on CPU)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    reduced = args.precision or ("tf32" if device.type == "cuda" else "bfloat16")
    if args.large:
        large_layer(device, reduced, args.repeats)
        return
    X, source = load_binary_rows(args.rows)
    print(f"data: {X.shape[0]} x {X.shape[1]} {source}; hidden {N_HIDDEN}, batch {BATCH}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")

    results = {}
    if not args.skip_sklearn:
        results["sklearn BernoulliRBM"] = min(time_sklearn(X) for _ in range(args.repeats))
    results["torch loop (plain)"] = min(time_torch_loop(X, device) for _ in range(args.repeats))
    epochs = 2 if device.type == "cuda" else 1  # on CUDA the first epoch captures the graphs
    dbn_runs = [time_dbn(X, device, epochs=epochs) for _ in range(args.repeats)]
    results["dbn RBM.fit (updates)"] = min(run[0] for run in dbn_runs)
    results["dbn RBM.fit (whole call)"] = min(run[1] for run in dbn_runs)
    results[f"dbn RBM.fit {reduced}"] = min(time_dbn(X, device, reduced, epochs=epochs)[0] for _ in range(args.repeats))
    results["GEMM floor (5 products)"] = min(time_gemm_floor(X, device) for _ in range(args.repeats))
    if reduced == "bfloat16":
        results["GEMM floor bfloat16"] = min(time_gemm_floor_bf16(X, device) for _ in range(args.repeats))

    reference_name = "sklearn" if "sklearn BernoulliRBM" in results and device.type == "cpu" else "torch loop"
    reference = results["sklearn BernoulliRBM" if reference_name == "sklearn" else "torch loop (plain)"]
    print(f"\n{'contender':28s} {'seconds':>9s} {'samples/s':>12s} {'x ' + reference_name:>12s}")
    for name, seconds in results.items():
        print(f"{name:28s} {seconds:9.3f} {X.shape[0] / seconds:12,.0f} {reference / seconds:12.2f}")


if __name__ == "__main__":
    main()
