"""Test error against depth, with and without DBN pretraining (Erhan et al. 2010, figure 1).

Sigmoid MLPs with 1 to 5 hidden layers of 64 units, started from Xavier-uniform weights or from a
greedily pretrained DBN of the same shape, then trained identically: the same learning-rate search
(``LRS``, chosen per depth and start on a validation split), epochs, minibatches and data order
(:func:`dbn.compare.compare_inits`). Prints mean +- std of the test error over ``SEEDS`` seeds per
depth (†: the selected rate is at an edge of the grid) and saves the plot.

Usage::

    python examples/pretraining_depth.py [--data digits|mnist] [--out results/pretraining_depth]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from dbn.compare import DEFAULT_LRS, compare_inits
from dbn.datasets import load
from dbn.reports import EDGE_MARK

DEPTHS, WIDTH = [1, 2, 3, 4, 5], 64
SCHEMES = {"xavier_uniform": "random (Xavier)", "dbn": "DBN pretraining"}
SEEDS, EPOCHS, LRS = 3, 20, list(DEFAULT_LRS)
DBN = {"epochs": 10, "batch_size": 50}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--out", default="results/pretraining_depth")
args = parser.parse_args()
torch.set_num_threads(1)

X, y = load(args.data)
if args.data == "mnist":
    X, y = X[:10000], y[:10000]
errors = {scheme: [] for scheme in SCHEMES}
print(f"{args.data}: sigmoid MLPs of {WIDTH} units, {EPOCHS} epochs, lr searched over {LRS}, {SEEDS} seeds")
print("| hidden layers | " + " | ".join(f"test error (%), {label}" for label in SCHEMES.values()) + " |")
print("|---|" + "---|" * len(SCHEMES))
for depth in DEPTHS:
    records = compare_inits(X, y, hidden=[WIDTH] * depth, activation="sigmoid", schemes=list(SCHEMES), seeds=SEEDS,
                            epochs=EPOCHS, lrs=LRS, scheme_options={"dbn": DBN})
    cells = []
    for scheme in SCHEMES:
        runs = [r for r in records if r["scheme"] == scheme and r["selected"]]
        error = [100 * (1 - r["test_accuracy"]) for r in runs]
        errors[scheme].append((np.mean(error), np.std(error)))
        edge = f" {EDGE_MARK}" if runs[0]["lr_at_edge"] else ""
        cells.append(f"{np.mean(error):.1f} ± {np.std(error):.1f} (lr {runs[0]['lr']:g}{edge})")
    print(f"| {depth} | " + " | ".join(cells) + " |")

figure, axis = plt.subplots(figsize=(4.5, 3.2))
for scheme, label in SCHEMES.items():
    mean, std = np.array(errors[scheme]).T
    axis.errorbar(DEPTHS, mean, yerr=std, marker="o", capsize=3, label=label)
axis.set_xlabel("hidden layers")
axis.set_ylabel("test error (%)")
axis.set_title(f"{args.data}: sigmoid MLPs, {WIDTH} units per layer", fontsize=9)
axis.legend(fontsize=8)
figure.tight_layout()
Path(args.out).mkdir(parents=True, exist_ok=True)
figure.savefig(Path(args.out) / "pretraining_depth.png", dpi=70)
print(f"plot saved in {args.out}")
