"""Does pretraining help? A DBN pretrained and fine-tuned, against the same network from Xavier.

The pretrained network: ``DeepBeliefNet(layers).pretrain(X)`` then ``.finetune(X, y)``. The
baseline is the identical architecture (``net.to_mlp(n_classes)``) with every ``nn.Linear``
re-initialised by ``nn.init.xavier_uniform_`` and zero biases, trained by the same loop
(:func:`dbn.training.train_network`) with the same budget: the same epochs, batch size,
optimiser, validation split (10% of the training rows, stratified, same seed) and early stopping.
Each of the two gets the same small learning-rate search, ``LEARNING_RATES``, and keeps the rate
that :func:`dbn.compare.select_learning_rates` picks, the rule of every comparison in the
package: the best validation accuracy of the weights a run keeps (a run that diverges counts as
0), ties to the lower validation loss. The test set (a stratified 30% hold-out) is used once per
method.

Usage::

    python examples/pretrain_finetune.py [--data digits|mnist] [--seed 0]
"""

import argparse
import copy
import time
import warnings

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from dbn.compare import select_learning_rates
from dbn.datasets import load
from dbn.loop import DivergenceError
from dbn.reports import EDGE_MARK
from dbn.stack import DeepBeliefNet
from dbn.training import train_network

HIDDEN = [256, 256]
PRETRAIN = {"epochs": 20, "batch_size": 100, "lr": 0.1}
FINETUNE = {"epochs": 50, "batch_size": 100, "optimizer": "sgd", "momentum": 0.9, "validation_fraction": 0.1,
            "patience": 10}
LEARNING_RATES = [0.03, 0.1, 0.3, 1.0, 3.0]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (digits-sized layers run fastest on one)")
args = parser.parse_args()
torch.set_num_threads(args.threads)
# the grid holds rates too large to learn at all; their rows of the table say so (validation accuracy 0.10)
warnings.filterwarnings("ignore", message="the training loss .* is still at the chance level", category=RuntimeWarning)

X, y = load(args.data)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
layers = [X.shape[1], *HIDDEN]
n_classes = len(np.unique(y))
network = "-".join(map(str, [*layers, n_classes]))
print(f"{args.data}: {len(X_train)} training / {len(X_test)} test rows, network {network}")
print(f"pretraining {PRETRAIN}; fine-tuning {FINETUNE}; learning rates tried: {LEARNING_RATES}")


def record(method: str, lr: float, history: list[dict] | None, model: torch.nn.Module | None, seconds: float) -> dict:
    """One run as :func:`dbn.compare.compare_inits` records it, from the validation numbers of the
    weights the run keeps (early stopping restores the best epoch); ``history`` None: it diverged."""
    kept = next(epoch for epoch in history if epoch["best"]) if history else None
    run = {"scheme": method, "lr": lr, "diverged": kept is None, "model": model, "seconds": seconds,
           "val_accuracy": kept["val_accuracy"] if kept else 0.0,
           "val_loss": kept["val_loss"] if kept else float("inf")}
    outcome = f"validation accuracy {run['val_accuracy']:.4f}, loss {run['val_loss']:.4f}" if kept else "diverged"
    print(f"  {method:<16} lr {lr:<5} {outcome}")
    return run


runs = []
# --- pretrained: pretrain once, then fine-tune at each learning rate (the RBMs are not changed)
started = time.perf_counter()
net = DeepBeliefNet(layers, **PRETRAIN).pretrain(X_train, seed=args.seed)
pretrain_seconds = time.perf_counter() - started
for lr in LEARNING_RATES:
    started = time.perf_counter()
    try:
        net.finetune(X_train, y_train, lr=lr, seed=args.seed, progress=False, **FINETUNE)
        history, mlp = net.finetune_history_, copy.deepcopy(net.mlp_)
    except DivergenceError:  # the loss diverged at this rate
        history, mlp = None, None
    runs.append(record("DBN pretraining", lr, history, mlp, pretrain_seconds + time.perf_counter() - started))

# --- baseline: the same architecture from a Xavier initialisation, through the same loop
for lr in LEARNING_RATES:
    generator = torch.Generator().manual_seed(args.seed)
    mlp = DeepBeliefNet(layers).to_mlp(n_classes)
    for module in mlp:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight, generator=generator)
            torch.nn.init.zeros_(module.bias)
    started = time.perf_counter()
    try:
        history = train_network(mlp, X_train, y_train, loss="cross_entropy", lr=lr, seed=args.seed, progress=False,
                                **FINETUNE)
    except DivergenceError:  # the loss diverged at this rate
        history, mlp = None, None
    runs.append(record("Xavier uniform", lr, history, mlp, time.perf_counter() - started))

# --- the selected rate of each method, measured once on the test set
selected = select_learning_rates(runs)
print()
print(f"{'initialisation':<20}{'lr':>7}{'val accuracy':>14}{'val loss':>10}{'test accuracy':>15}{'seconds':>9}")
for method, (lr, at_edge) in selected.items():
    run = next(r for r in runs if r["scheme"] == method and r["lr"] == lr)
    with torch.no_grad():
        predicted = run["model"].cpu()(torch.as_tensor(X_test)).argmax(1).numpy()
    accuracy = float(np.mean(predicted == y_test))
    rate = f"{lr:g}{' ' + EDGE_MARK if at_edge else ''}"
    print(f"{method:<20}{rate:>7}{run['val_accuracy']:>14.4f}{run['val_loss']:>10.4f}{accuracy:>15.4f}{run['seconds']:>9.1f}")
print(f"(the DBN's seconds include {pretrain_seconds:.1f} s of pretraining)")
if any(at_edge for _, at_edge in selected.values()):
    print(f"{EDGE_MARK}: the selected rate is at the edge of the grid {LEARNING_RATES}")
