"""A 30-layer ReLU MLP: Xavier initialisation stalls, He initialisation trains (He et al. 2015, figure 3).

With Xavier's gain 1, each ReLU layer halves the variance of the signal, forward and backward:
after 30 layers it is ~2^-30 of the input's and the gradients reaching the lower layers vanish.
He's fan-in gain sqrt(2) keeps the variance. Both get the same learning-rate search (``LRS``), the
same epochs, batches and data order, over ``SEEDS`` seeds (:func:`dbn.compare.compare_inits`, all
models trained as one batch; † marks a best rate at an edge of the grid). Prints the table and
saves the training-loss curves.

Usage::

    python examples/deep_relu.py [--data digits|mnist] [--out results/deep_relu]
"""

import argparse
from pathlib import Path

import torch

from dbn.compare import compare_inits
from dbn.datasets import load
from dbn.figures import plot_curves
from dbn.reports import results_table

DEPTH, WIDTH = 30, 64
SEEDS, EPOCHS, LRS = 3, 25, [0.001, 0.003, 0.01, 0.03, 0.1]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--out", default="results/deep_relu")
args = parser.parse_args()
torch.set_num_threads(1)

X, y = load(args.data)
if args.data == "mnist":
    X, y = X[:10000], y[:10000]
records = compare_inits(X, y, hidden=[WIDTH] * DEPTH, activation="relu", schemes=["xavier_uniform", "he_normal"],
                        seeds=SEEDS, epochs=EPOCHS, lrs=LRS, progress=True)
print(f"{DEPTH}-layer ReLU MLP ({WIDTH} units), {args.data}, {EPOCHS} epochs, lr searched over {LRS}, {SEEDS} seeds")
print(results_table(records))
for scheme in ("xavier_uniform", "he_normal"):
    first = next(r for r in records if r["scheme"] == scheme and r["selected"])
    grads = [f"{s['gradient_std']:.1e}" for s in first["init_statistics"][::6]]
    print(f"{scheme}: back-propagated gradient std at init, layers 1, 7, 13, ...: {grads}")
Path(args.out).mkdir(parents=True, exist_ok=True)
plot_curves(records, Path(args.out) / "deep_relu_curves.png")
print(f"curves saved in {args.out}")
