"""CD-1 training speed of dbn.RBM against scikit-learn's BernoulliRBM, measured in the same run.

One epoch of CD-1 over 60,000 x 784 binary rows (MNIST thresholded at 0.5 when the files are
found, otherwise random binary rows of MNIST's density), 500 hidden units, batch 100, learning
rate 0.1. Contenders:

* ``sklearn``: ``BernoulliRBM(n_components=500, batch_size=100, n_iter=1)`` on float32 input;
* ``torch loop``: a minimal hand-written torch CD-1 loop, the reference the issue quotes;
* ``dbn``: ``RBM(784, 500).fit(X, epochs=1, batch_size=100)``; the time of its updates alone
  (``history_[0]["seconds"]``) and of the whole call (data checks and monitors included);
* ``GEMM floor``: the five matrix products of a CD-1 step alone, on the same shapes: no CD-1
  implementation in the same precision can be faster, so ``sklearn / floor`` is the ceiling of the
  ratio on this machine.

Usage: ``python benchmarks/rbm_speed.py [--rows 60000] [--device cpu] [--repeats 3]``; the best of
``--repeats`` runs is reported for each contender. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from dbn import RBM

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


def time_dbn(X: np.ndarray, device: torch.device) -> tuple[float, float]:
    model = RBM(784, N_HIDDEN)
    start = time.perf_counter()
    model.fit(X, epochs=1, batch_size=BATCH, lr=LR, device=device, progress=False, seed=0)
    return model.history_[0]["seconds"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true", help="GPU runs: skip the CPU reference")
    args = parser.parse_args()
    device = torch.device(args.device)
    X, source = load_binary_rows(args.rows)
    print(f"data: {X.shape[0]} x {X.shape[1]} {source}; hidden {N_HIDDEN}, batch {BATCH}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")

    results = {}
    if not args.skip_sklearn:
        results["sklearn BernoulliRBM"] = min(time_sklearn(X) for _ in range(args.repeats))
    results["torch loop (plain)"] = min(time_torch_loop(X, device) for _ in range(args.repeats))
    dbn_runs = [time_dbn(X, device) for _ in range(args.repeats)]
    results["dbn RBM.fit (updates)"] = min(run[0] for run in dbn_runs)
    results["dbn RBM.fit (whole call)"] = min(run[1] for run in dbn_runs)
    results["GEMM floor (5 products)"] = min(time_gemm_floor(X, device) for _ in range(args.repeats))

    reference = results.get("sklearn BernoulliRBM", results["torch loop (plain)"])
    reference_name = "sklearn" if "sklearn BernoulliRBM" in results else "torch loop"
    print(f"\n{'contender':28s} {'seconds':>9s} {'samples/s':>12s} {'x ' + reference_name:>12s}")
    for name, seconds in results.items():
        print(f"{name:28s} {seconds:9.3f} {X.shape[0] / seconds:12,.0f} {reference / seconds:12.2f}")


if __name__ == "__main__":
    main()
