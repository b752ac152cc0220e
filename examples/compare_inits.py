"""Mishkin & Matas's (2016) table redone on digits: initialisation schemes x activations, DBN as a row.

One deep MLP (5 hidden layers of 64 units) per activation {sigmoid, tanh, ReLU, leaky ReLU (0.01),
very leaky ReLU (1/3), maxout (2 pieces)}, the columns of Mishkin & Matas's table, and scheme
(every row of the MNIST table, ``examples/mnist_inits.py``: zeros, uniform, normal, truncated
normal, LeCun, Xavier U/N/truncated, He U/N, orthogonal, orthogonal-He, LSUV, batch
normalisation, DBN pretraining); mean +- std of the test accuracy over ``SEEDS`` seeds, "n/c"
where no seed converged (:func:`dbn.compare.converged`), "—" where a row does not apply. Every
scheme gets the same learning-rate search (``LRS``, the rate chosen per scheme and activation on a
validation split, :func:`dbn.compare.select_learning_rates`), epochs, minibatches and data order
(:func:`dbn.compare.compare_inits`; all models of an activation trained as one batch). The DBN row
pretrains a stack of RBMs on the training rows (Bernoulli hidden units for sigmoid and tanh, ReLU
units for the rectifiers) and copies its weights (for tanh, rewritten into the exactly equivalent
tanh network, :func:`dbn.init.sigmoid_to_tanh_`); maxout has no DBN row. † marks a scheme whose
best rate is at an edge of the grid. Two seeds keep the six-rate search to a few minutes on 2 cores.

Usage::

    python examples/compare_inits.py [--data digits|mnist] [--out results/compare_inits]
"""

import argparse
import time
from pathlib import Path

import torch

from dbn.compare import DEFAULT_LRS, compare_inits
from dbn.datasets import load
from dbn.figures import plot_curves
from dbn.reports import results_table, summary_table, write_csv

HIDDEN = [64] * 5
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "vlrelu", "maxout"]
SCHEMES = ["zeros", "uniform", "normal", "truncated_normal", "lecun_normal", "xavier_uniform", "xavier_normal",
           "xavier_truncated_normal", "he_uniform", "he_normal", "orthogonal", "orthogonal_he", "lsuv", "batchnorm",
           "dbn"]
SEEDS, EPOCHS, LRS = 2, 15, list(DEFAULT_LRS)
DBN = {"epochs": 10, "batch_size": 50}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--out", default="results/compare_inits")
args = parser.parse_args()
torch.set_num_threads(1)

X, y = load(args.data)
if args.data == "mnist":
    X, y = X[:10000], y[:10000]
started = time.perf_counter()
records = compare_inits(X, y, hidden=HIDDEN, activation=ACTIVATIONS, schemes=SCHEMES, seeds=SEEDS, epochs=EPOCHS,
                        lrs=LRS, scheme_options={"dbn": DBN}, progress=True)
print(f"{args.data}: MLP {HIDDEN}, {EPOCHS} epochs SGD+momentum, lr searched over {LRS}, {SEEDS} seeds, "
      f"{len(records)} models in {time.perf_counter() - started:.0f} s")
print("\nTest accuracy (%), mean ± std over seeds\n")
print(summary_table(records))
print("\n" + results_table(records))
out = Path(args.out)
write_csv(records, out / "compare_inits.csv")
plot_curves(records, out / "compare_inits_curves.png")
print(f"\nCSV and curves saved in {out}")
