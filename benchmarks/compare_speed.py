"""How much faster is training every (scheme, seed) model as one batch than one after another?

Ten initialisation schemes x five seeds of a 3-hidden-layer ReLU MLP on digits, for several
widths, trained by :func:`dbn.compare.compare_inits` twice with the same settings: batched (one
``StackedMLP`` of 50 models through one training loop) and sequential (``batched=False``: the same
loop once per model). Both include the same per-epoch evaluation of every model on the train,
validation and test rows. Prints both wall times, the ratio, and the largest difference between
the two runs' test-loss curves. Batching removes per-model Python and dispatch overhead, not
arithmetic: the narrower the network, the larger the gain; on one CPU thread a 128-wide network is
already mostly arithmetic.

The stacked weights are held as (models, in, out), the layout the grouped products read as it is
(:mod:`dbn.stacked`); the load average is printed before and after, since the machine may be shared.

Usage::

    python benchmarks/compare_speed.py [--epochs 10] [--seeds 5] [--threads 1] [--widths 32,64,128]
"""

import argparse
import os
import time

import numpy as np
import torch

from dbn.compare import compare_inits
from dbn.datasets import load_digits

SCHEMES = ["zeros", "uniform", "normal", "truncated_normal", "xavier_uniform", "xavier_normal", "he_uniform",
           "he_normal", "orthogonal", "lsuv"]
WIDTHS = [32, 64, 128]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--seeds", type=int, default=5)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument(
    "--threads", type=int, default=1, help="torch threads (1: the fair choice on a shared 2-core machine)"
)
parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="hidden widths, comma-separated")
args = parser.parse_args()
torch.set_num_threads(args.threads)
widths = [int(width) for width in args.widths.split(",")]

X, y = load_digits()
compare_inits(
    X, y, hidden=[8], schemes=["normal"], seeds=1, epochs=1, lrs=[args.lr]
)  # warm-up: lazy imports, allocator
print(
    f"{len(SCHEMES)} schemes x {args.seeds} seeds, {args.epochs} epochs, "
    f"lr {args.lr}, {args.threads} thread(s), torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}"
)
print("| hidden | sequential (s) | batched (s) | speed-up | max test-loss difference |")
print("|---|---|---|---|---|")
for width in widths:
    settings = dict(
        hidden=[width] * 3, activation="relu", schemes=SCHEMES, seeds=args.seeds, epochs=args.epochs, lrs=[args.lr]
    )
    timings, runs = {}, {}
    for batched in (True, False):
        started = time.perf_counter()
        runs[batched] = compare_inits(X, y, batched=batched, **settings)
        timings[batched] = time.perf_counter() - started
    difference = max(
        float(np.nanmax(np.abs(np.subtract(a["curves"]["test_loss"], b["curves"]["test_loss"]))))
        for a, b in zip(runs[True], runs[False], strict=False)
    )
    print(
        f"| 3 x {width} | {timings[False]:.1f} | {timings[True]:.1f} "
        f"| {timings[False] / timings[True]:.1f}x | {difference:.1e} |"
    )
print(f"load average at the end {os.getloadavg()[0]:.2f}")
