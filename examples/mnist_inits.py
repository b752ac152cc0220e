"""Every initialisation x every activation of Mishkin & Matas (2016) on MNIST: the README's table.

Rows: zeros, U(-0.1, 0.1), N(0, 0.01^2), truncated N(0, 0.01^2), LeCun, Xavier uniform / normal /
truncated, He uniform / normal, orthogonal, orthogonal with He's gain, LSUV, batch normalisation
(torch's default init) and DBN pretraining. Columns: sigmoid, tanh, ReLU, leaky ReLU (0.01), very
leaky ReLU (1/3), maxout (2 pieces). One deep, narrow MLP, 784-100-100-100-100-100-10, for every
cell; mean +- std of the test accuracy over ``SEEDS`` seeds on MNIST's official 10,000 test images.

Same care for every cell (:func:`dbn.compare.compare_inits`, two stages):

1. rate search: each rate of ``LRS`` trained ``SEARCH_EPOCHS`` epochs on a stratified
   ``SEARCH_ROWS`` of the 55,000 fitting rows (first seed), and the rate with the best accuracy
   on the 5,000-row stratified validation split is chosen per row and column (a rate at the
   grid's edge is marked †);
2. the chosen rate trained from ``SEEDS`` seeds, ``EPOCHS`` epochs on all 60,000 training images,
   then measured on the test set (used for nothing else).

SGD with momentum 0.9, batch 64, no weight decay, the same minibatch order for every model. "n/c":
the final training loss is not below 90 % of the chance level (or not finite,
:func:`dbn.compare.converged`). DBN: RBMs of the network's widths pretrained ``DBN["epochs"]``
epochs each on the fitting rows (Bernoulli units for sigmoid and tanh, the latter rewritten
exactly, ReLU units for the three rectifiers); maxout has no DBN row ("—").

Usage (about 25 minutes on 2 shared CPU cores with one torch thread, see docs/init_results.md)::

    DBN_DATA=../shared/datasets python examples/mnist_inits.py [--out results/mnist_inits] [--threads 1]
"""

import argparse
import time
from pathlib import Path

import torch

from dbn.compare import compare_inits
from dbn.datasets import load
from dbn.figures import plot_curves
from dbn.reports import results_table, summary_table, write_csv

HIDDEN = [100] * 5
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "vlrelu", "maxout"]
SCHEMES = ["zeros", "uniform", "normal", "truncated_normal", "lecun_normal", "xavier_uniform", "xavier_normal",
           "xavier_truncated_normal", "he_uniform", "he_normal", "orthogonal", "orthogonal_he", "lsuv", "batchnorm",
           "dbn"]
LRS = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
SEEDS, EPOCHS = 3, 3
SEARCH_ROWS, SEARCH_EPOCHS, SEARCH_SEEDS = 8000, 2, 1
VALIDATION_FRACTION, MONITOR_ROWS = 1 / 12, 2000
DBN = {"epochs": 2, "batch_size": 100, "lr": 0.05}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="results/mnist_inits")
parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the fast choice on 2 shared cores)")
parser.add_argument("--activation", nargs="+", default=ACTIVATIONS, help="a subset of the columns (for a quick look)")
parser.add_argument("--schemes", nargs="+", default=SCHEMES, help="a subset of the rows (for a quick look)")
parser.add_argument("--device", default="cpu", help="where the models train: cpu, cuda or auto")
args = parser.parse_args()
torch.set_num_threads(args.threads)

X, y = load("mnist", split="train")
X_test, y_test = load("mnist", split="test")
started = time.perf_counter()
records = compare_inits(X, y, X_test=X_test, y_test=y_test, hidden=HIDDEN, activation=args.activation,
                        schemes=args.schemes, device=args.device, seeds=SEEDS, epochs=EPOCHS, lrs=LRS,
                        validation_fraction=VALIDATION_FRACTION, search_rows=SEARCH_ROWS, search_epochs=SEARCH_EPOCHS,
                        search_seeds=SEARCH_SEEDS, monitor_rows=MONITOR_ROWS, scheme_options={"dbn": DBN},
                        progress=True)
elapsed = time.perf_counter() - started
print(f"MNIST: MLP 784-{'-'.join(map(str, HIDDEN))}-10, lr searched over {LRS} ({SEARCH_EPOCHS} epochs on "
      f"{SEARCH_ROWS} rows, {SEARCH_SEEDS} seed), then {EPOCHS} epochs on 60000 rows from {SEEDS} seeds; "
      f"{len(records)} models in {elapsed:.0f} s with {args.threads} thread(s)")
print("\nTest accuracy (%), mean ± std over seeds\n")
print(summary_table(records))
print("\n" + results_table(records))
out = Path(args.out)
write_csv(records, out / "mnist_inits.csv")
plot_curves(records, out / "mnist_inits_curves.png")
print(f"\nCSV and curves saved in {out}")
