"""CD-1 training speed of dbn.RBM against its GEMM floor and scikit-learn's BernoulliRBM, in the same run.

One epoch of CD-1, learning rate 0.1, at the shapes users train:

* ``784-500``: 60,000 x 784 binary rows (MNIST thresholded at 0.5 when the files are found,
  otherwise random binary rows of MNIST's density), 500 hidden units, batch 100: the first layer
  of Hinton & Salakhutdinov's MNIST network;
* ``500-500`` and ``500-2000``: its upper layers, on 60,000 rows of random grey levels in [0, 1]
  (what those layers train on are hidden probabilities: grey levels, held as float32);
* ``digits-10``: scikit-learn's digits (1,797 x 64 grey levels), 100 hidden, batch 10, the
  setting of ``examples/sklearn_pipeline.py``, where a step's fixed cost dominates;
* ``digits-100``: the digits, 128 hidden, batch 100: what ``DBNClassifier`` pretrains on them.

Contenders, each timed on the same data in the same run:

* ``sklearn``: ``BernoulliRBM(n_components=H, batch_size=B, n_iter=1)`` on float32 input;
* ``torch loop``: a minimal hand-written torch CD-1 loop, the reference for any CD-1 implementation;
* ``dbn``: ``RBM(D, H).fit(X, epochs=1, batch_size=B)``; the time of its updates alone
  (``history_[-1]["seconds"]``) and of the whole call (data checks, statistics, monitors included);
* ``dbn ... bfloat16`` (CPU) / ``tf32`` (CUDA): the same with ``precision=`` (:mod:`dbn.precision`);
* ``GEMM floor``: the five matrix products of a CD-1 step alone, on the same shapes: no CD-1
  implementation in the same precision can be much faster (the ``x floor`` column is the floor's
  time over the contender's: 1.0 means the contender costs only its products).

Every contender runs once per round, ``--repeats`` rounds (more for the small digits shapes, whose
epochs last milliseconds), and the best round is reported: on a machine shared with other jobs the
best of several interleaved runs is the least disturbed one. The load average is printed before
and after. On a busy machine ``--cpu-time`` (one thread: ``OMP_NUM_THREADS=1``) times every
contender by the CPU time of the process instead of the wall clock (the epoch timer of
:mod:`dbn.loop` too), which the other jobs' time slices do not inflate.

On CUDA the reference is the plain torch loop (scikit-learn's CPU time is printed when it is not
skipped), and ``dbn`` replays each epoch from CUDA graphs (:mod:`dbn.graphs`).

``--large`` times a 4096 x 4096 RBM with batch 4096 instead (8192 random binary rows, TF32 on CUDA,
bfloat16 on CPU unless ``--precision`` says otherwise) and prints its throughput as a fraction of
the throughput of one 4096^3 product measured in the same precision by the same script: a CD-1 step
is five products of 2 * 4096^3 flops each.

Usage: ``python benchmarks/rbm_speed.py [--shapes 784-500,digits-10] [--rows 60000] [--device cpu|cuda]
[--repeats 3] [--large]``. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from dbn import RBM
from dbn.precision import PRECISIONS, autocast, matmul_precision

LR = 0.1
#: the clock of every timing: wall time, or with ``--cpu-time`` the process's CPU time
clock = time.perf_counter
#: name: (n_visible, n_hidden, batch size, data)
SHAPES = {
    "784-500": (784, 500, 100, "mnist"),
    "500-500": (500, 500, 100, "grey"),
    "500-2000": (500, 2000, 100, "grey"),
    "digits-10": (64, 100, 10, "digits"),
    "digits-100": (64, 128, 100, "digits"),
}
#: rounds of the digits shapes, whose epochs last milliseconds
SMALL_ROUNDS = 15


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


def load_rows(kind: str, n_visible: int, rows: int) -> tuple[np.ndarray, str]:
    """The training rows of a shape: MNIST, random grey levels, or the digits."""
    if kind == "mnist":
        return load_binary_rows(rows)
    if kind == "digits":
        from dbn.datasets import load_digits

        return np.ascontiguousarray(load_digits()[0], dtype=np.float32), "scikit-learn digits"
    rng = np.random.default_rng(1)
    return rng.random((rows, n_visible), dtype=np.float32), "random grey levels"


def time_sklearn(X: np.ndarray, n_hidden: int, batch: int) -> float:
    from sklearn.neural_network import BernoulliRBM

    model = BernoulliRBM(n_components=n_hidden, batch_size=batch, learning_rate=LR, n_iter=1, random_state=0)
    start = clock()
    model.fit(X)
    return clock() - start


def time_torch_loop(X: np.ndarray, n_hidden: int, batch: int, device: torch.device) -> float:
    """The plain CD-1 loop: five matrix products and torch.bernoulli sampling per batch."""
    data = torch.as_tensor(X, device=device)
    W = torch.randn(X.shape[1], n_hidden, device=device) * 0.01
    b, c = torch.zeros(X.shape[1], device=device), torch.zeros(n_hidden, device=device)
    start = clock()
    for rows in data[torch.randperm(len(data), device=device)].split(batch):
        h_pos = torch.sigmoid(rows @ W + c)
        v_neg = torch.sigmoid(torch.bernoulli(h_pos) @ W.T + b)
        h_neg = torch.sigmoid(v_neg @ W + c)
        W += LR * (rows.T @ h_pos - v_neg.T @ h_neg) / len(rows)
        b += LR * (rows - v_neg).mean(0)
        c += LR * (h_pos - h_neg).mean(0)
    sync(device)
    return clock() - start


def time_gemm_floor(X: np.ndarray, n_hidden: int, batch: int, device: torch.device) -> float:
    """The five products of CD-1 with nothing else: the bound for any float32 implementation."""
    W = torch.randn(n_hidden, X.shape[1], device=device) * 0.01
    v, h = torch.as_tensor(X[:batch], device=device), torch.rand(batch, n_hidden, device=device)
    start = clock()
    for _ in range(0, len(X), batch):
        torch.mm(v, W.T)
        torch.mm(h, W)
        torch.mm(v, W.T)
        torch.mm(h.T, v)
        torch.mm(h.T, v)
    sync(device)
    return clock() - start


def time_gemm_floor_bf16(X: np.ndarray, n_hidden: int, batch: int, device: torch.device) -> float:
    """The five products in bfloat16: the bound for ``precision="bfloat16"``."""
    with torch.autocast(device.type, dtype=torch.bfloat16):
        return time_gemm_floor(X, n_hidden, batch, device)


def time_dbn(X: np.ndarray, n_hidden: int, batch: int, device: torch.device, precision: str = "float32",
             epochs: int = 1) -> tuple[float, float]:
    """Seconds of the last epoch's updates (CUDA graphs are captured in the first) and of the call."""
    model = RBM(X.shape[1], n_hidden)
    start = clock()
    model.fit(X, epochs=epochs, batch_size=batch, lr=LR, device=device, progress=False, seed=0, precision=precision)
    return model.history_[-1]["seconds"], (clock() - start) / epochs


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
            start = clock()
            for _ in range(steps):
                torch.mm(a, b)
            sync(device)
            gemm.append((clock() - start) / steps)
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


def use_cpu_time() -> None:
    """Time everything, the epochs of ``RBM.fit`` included, by the process's CPU time."""
    global clock
    import types

    import dbn.loop

    clock = time.process_time
    dbn.loop.time = types.SimpleNamespace(perf_counter=time.process_time)


def cpu_name() -> str:
    """The processor's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def contenders(X: np.ndarray, n_hidden: int, batch: int, device: torch.device, reduced: str,
               skip_sklearn: bool) -> dict:
    """Name -> function returning the seconds of one run (or a pair: updates, whole call)."""
    epochs = 2 if device.type == "cuda" else 1  # on CUDA the first epoch captures the graphs
    runs = {}
    if not skip_sklearn:
        runs["sklearn BernoulliRBM"] = lambda: time_sklearn(X, n_hidden, batch)
    runs["torch loop (plain)"] = lambda: time_torch_loop(X, n_hidden, batch, device)
    runs["dbn RBM.fit"] = lambda: time_dbn(X, n_hidden, batch, device, epochs=epochs)
    runs[f"dbn RBM.fit {reduced}"] = lambda: time_dbn(X, n_hidden, batch, device, reduced, epochs=epochs)
    runs["GEMM floor (5 products)"] = lambda: time_gemm_floor(X, n_hidden, batch, device)
    if reduced == "bfloat16":
        runs["GEMM floor bfloat16"] = lambda: time_gemm_floor_bf16(X, n_hidden, batch, device)
    return runs


def measure_shape(name: str, args: argparse.Namespace, device: torch.device, reduced: str) -> dict[str, float]:
    """Best-of-rounds seconds of every contender at one shape; prints its table."""
    n_visible, n_hidden, batch, kind = SHAPES[name]
    X, source = load_rows(kind, n_visible, args.rows)
    runs = contenders(X, n_hidden, batch, device, reduced, args.skip_sklearn)
    rounds = max(args.repeats, SMALL_ROUNDS) if kind == "digits" else args.repeats
    best: dict[str, float] = {}
    for _ in range(rounds):
        for contender, run in runs.items():
            seconds = run()
            pair = isinstance(seconds, tuple)
            parts = {"(updates)": seconds[0], "(whole call)": seconds[1]} if pair else {"": seconds}
            for suffix, value in parts.items():
                key = f"{contender} {suffix}".strip()
                best[key] = min(best.get(key, float("inf")), value)
    floor = best["GEMM floor (5 products)"]
    floor_reduced = best.get("GEMM floor bfloat16", floor)
    reference_name = "sklearn BernoulliRBM" if "sklearn BernoulliRBM" in best and device.type == "cpu" else None
    reference = best[reference_name] if reference_name else best["torch loop (plain)"]
    print(f"\n{name}: {X.shape[0]} x {X.shape[1]} {source}; hidden {n_hidden}, batch {batch}, best of {rounds}")
    against = "x sklearn" if reference_name else "x loop"
    print(f"{'contender':34s} {'seconds':>9s} {'samples/s':>12s} {'x floor':>8s} {against:>10s}")
    for key, seconds in best.items():
        own_floor = floor_reduced if (reduced in key or "bfloat16" in key) else floor
        print(f"{key:34s} {seconds:9.4f} {X.shape[0] / seconds:12,.0f} {own_floor / seconds:8.2f} "
              f"{reference / seconds:10.2f}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true", help="GPU runs: skip the CPU reference")
    parser.add_argument("--large", action="store_true", help="time a 4096 x 4096 RBM with batch 4096 instead")
    parser.add_argument("--cpu-time", action="store_true", help="time by process CPU time (one thread only)")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="reduced precision to time (default: tf32 on CUDA, bfloat16 on CPU)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    reduced = args.precision or ("tf32" if device.type == "cuda" else "bfloat16")
    if args.cpu_time:
        if torch.get_num_threads() != 1 or device.type != "cpu":
            parser.error("--cpu-time measures one CPU thread: run with OMP_NUM_THREADS=1 on the CPU")
        use_cpu_time()
    if args.large:
        large_layer(device, reduced, args.repeats)
        return
    shapes = [shape.strip() for shape in args.shapes.split(",") if shape.strip()]
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {', '.join(SHAPES)}")
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}; load average {os.getloadavg()[0]:.2f}; "
          f"{'CPU' if args.cpu_time else 'wall'} time")
    for shape in shapes:
        measure_shape(shape, args, device, reduced)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
