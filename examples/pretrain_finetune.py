"""Does pretraining help? A DBN pretrained and fine-tuned, against the same network from Xavier.

The card's path: ``DeepBeliefNet(layers).pretrain(X)`` then ``.finetune(X, y)``. The baseline is
the identical architecture (``net.to_mlp(n_classes)``) with every ``nn.Linear`` re-initialised by
``nn.init.xavier_uniform_`` and zero biases, trained by the same loop
(:func:`dbn.training.train_network`) with the same budget: the same epochs, batch size,
optimiser, validation split (10% of the training rows, stratified, same seed) and early stopping.
Each of the two gets the same small learning-rate search, ``LEARNING_RATES``, and keeps the rate
with the lowest validation loss; the test set (a stratified 30% hold-out) is used once per method.

Usage::

    python examples/pretrain_finetune.py [--data digits|mnist] [--seed 0]
"""

import argparse
import copy
import time

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from dbn.datasets import load
from dbn.dbn import DeepBeliefNet
from dbn.training import train_network

HIDDEN = [256, 256]
PRETRAIN = {"epochs": 20, "batch_size": 100, "lr": 0.1}
FINETUNE = {"epochs": 50, "batch_size": 100, "optimizer": "sgd", "momentum": 0.9, "validation_fraction": 0.1, "patience": 10}
LEARNING_RATES = [0.03, 0.1, 0.3, 1.0, 3.0]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (digits-sized layers run fastest on one)")
args = parser.parse_args()
torch.set_num_threads(args.threads)

X, y = load(args.data)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
layers = [X.shape[1], *HIDDEN]
n_classes = len(np.unique(y))
print(f"{args.data}: {len(X_train)} training / {len(X_test)} test rows, network {'-'.join(map(str, layers))}-{n_classes}")
print(f"pretraining {PRETRAIN}; fine-tuning {FINETUNE}; learning rates tried: {LEARNING_RATES}")


def best_validation_loss(history: list[dict]) -> float:
    return min(record["val_loss"] for record in history)


def report(name: str, lr: float, loss: float) -> None:
    print(f"  {name:<11} lr {lr:<5} best validation loss {loss:.4f}")


# --- pretrained: pretrain once, then fine-tune at each learning rate (the RBMs are not changed)
started = time.perf_counter()
net = DeepBeliefNet(layers, **PRETRAIN).pretrain(X_train, seed=args.seed)
pretrain_seconds = time.perf_counter() - started
runs = {}
for lr in LEARNING_RATES:
    started = time.perf_counter()
    try:
        net.finetune(X_train, y_train, lr=lr, seed=args.seed, progress=False, **FINETUNE)
    except ValueError as error:  # the loss diverged at this rate
        print(f"  pretrained  lr {lr:<5} {error}")
        continue
    runs[lr] = (best_validation_loss(net.finetune_history_), copy.deepcopy(net.mlp_), time.perf_counter() - started)
    report("pretrained", lr, runs[lr][0])
lr_dbn = min(runs, key=lambda lr: runs[lr][0])
net.mlp_ = runs[lr_dbn][1]
dbn_accuracy = net.score(X_test, y_test)

# --- baseline: the same architecture from a Xavier initialisation, through the same loop
X_test_tensor = torch.as_tensor(X_test)
baseline_runs = {}
for lr in LEARNING_RATES:
    generator = torch.Generator().manual_seed(args.seed)
    mlp = DeepBeliefNet(layers).to_mlp(n_classes)
    for module in mlp:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight, generator=generator)
            torch.nn.init.zeros_(module.bias)
    started = time.perf_counter()
    try:
        history = train_network(mlp, X_train, y_train, loss="cross_entropy", lr=lr, seed=args.seed, progress=False, **FINETUNE)
    except ValueError as error:  # the loss diverged at this rate
        print(f"  Xavier      lr {lr:<5} {error}")
        continue
    baseline_runs[lr] = (best_validation_loss(history), mlp, time.perf_counter() - started)
    report("Xavier", lr, baseline_runs[lr][0])
lr_xavier = min(baseline_runs, key=lambda lr: baseline_runs[lr][0])
with torch.no_grad():
    predicted = baseline_runs[lr_xavier][1](X_test_tensor).argmax(1).numpy()
xavier_accuracy = float(np.mean(predicted == y_test))

print()
print(f"{'initialisation':<28}{'lr':>6}{'val loss':>10}{'test accuracy':>15}{'seconds':>9}")
print(f"{'DBN pretraining':<28}{lr_dbn:>6}{runs[lr_dbn][0]:>10.4f}{dbn_accuracy:>15.4f}{pretrain_seconds + runs[lr_dbn][2]:>9.1f}")
print(f"{'Xavier uniform':<28}{lr_xavier:>6}{baseline_runs[lr_xavier][0]:>10.4f}{xavier_accuracy:>15.4f}{baseline_runs[lr_xavier][2]:>9.1f}")
print(f"(pretraining took {pretrain_seconds:.1f} s of the DBN's time)")
