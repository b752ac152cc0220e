"""Zero and constant initialisations leave every hidden unit of a layer identical, even after training.

A 2-hidden-layer tanh MLP (32 units each) is trained by the package's loop
(:func:`dbn.training.train_network`, SGD with momentum) from ``zeros``, ``constant`` (0.1) and
``normal`` (std 0.01) weights. Identical units get identical gradients, so the symmetry score
(:func:`dbn.diagnostics.symmetry_score`: the number of distinct units of a layer) stays at 1; a
random start breaks the symmetry. Prints the scores before and after training and the test
accuracy, and saves the first-layer filters of each network.

Usage::

    python examples/symmetry.py [--data digits|mnist] [--out results/symmetry]
"""

import argparse
from pathlib import Path

import torch
from sklearn.model_selection import train_test_split

from dbn.datasets import load
from dbn.diagnostics import symmetry_scores
from dbn.init import init_
from dbn.plotting import plot_filters
from dbn.stacked import build_mlp
from dbn.training import train_network

HIDDEN = [32, 32]
SCHEMES = {"zeros": {}, "constant": {"value": 0.1}, "normal": {"std": 0.01}}
TRAINING = {"epochs": 20, "batch_size": 64, "lr": 0.1, "momentum": 0.9}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--out", default="results/symmetry")
args = parser.parse_args()
torch.set_num_threads(1)

X, y = load(args.data)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
print(f"{args.data}: {len(X_train)} training rows; tanh MLP {HIDDEN}; {TRAINING}")
print(f"{'scheme':>9s}  {'distinct units before':>22s}  {'after training':>15s}  {'test accuracy':>13s}")
for scheme, options in SCHEMES.items():
    generator = torch.Generator().manual_seed(0)
    model = init_(build_mlp(X.shape[1], HIDDEN, 10, "tanh"), scheme, generator=generator, **options)
    before = symmetry_scores(model)
    train_network(model, X_train, y_train, progress=False, seed=0, **TRAINING)
    with torch.no_grad():
        accuracy = float((model(torch.as_tensor(X_test)).argmax(1).numpy() == y_test).mean())
    print(f"{scheme:>9s}  {str(before):>22s}  {str(symmetry_scores(model)):>15s}  {accuracy:13.3f}")
    plot_filters(model[0].weight, Path(args.out) / f"symmetry_filters_{scheme}.png", n=32,
                 title=f"{scheme}: first-layer filters after training")
print(f"filters saved in {args.out}")
