"""The classification RBM of Larochelle & Bengio (2008) on MNIST, beside their Table 1.

Their setup (ICML 2008, the MNIST experiment): MNIST's training set split into 50,000 training and 10,000
validation images, the test set for the final error; online stochastic gradient (one image per
update); the hyper-parameters and the number of epochs chosen on the validation set. Their test
errors (Table 1):

============================================  ========
model (learning rate, hidden units)           error
============================================  ========
generative RBM (0.005, 6000)                  3.39 %
discriminative RBM (0.05, 500)                1.81 %
hybrid RBM (alpha 0.01, 0.05, 1500)           1.28 %
sparse hybrid RBM (idem, 3000 units)          1.16 %
============================================  ========

The sparse variant (a penalty on the hidden biases) is not implemented here. This script trains the
first three with :class:`dbn.classrbm.ClassRBM`, keeping the epoch of lowest validation error
(early stopping with a patience of ``--patience`` epochs), with minibatches of ``--batch-size``
rows (1 is theirs; larger batches run far faster in PyTorch, with a learning rate scaled by
``--lr-scale``, by default the batch size).

Usage::

    python examples/classrbm_mnist.py --quick    # 1-2 minutes: 5,000 images, a quarter of the units, 8 epochs
    python examples/classrbm_mnist.py            # their sizes on all 50,000 images (hours)

MNIST is read from ``--path``, ``$DBN_DATA/mnist`` or ``data/mnist``.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from dbn.classrbm import ClassRBM
from dbn.datasets import load

#: objective -> (their learning rate, their hidden units, alpha, their test error in %)
TABLE_1 = {"generative": (0.005, 6000, 0.0, 3.39), "discriminative": (0.05, 500, 0.0, 1.81),
           "hybrid": (0.05, 1500, 0.01, 1.28)}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=None, help="directory of the MNIST IDX files")
    parser.add_argument("--quick", action="store_true", help="5,000 training images, a quarter of the units")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (quick: 8; full: 100)")
    parser.add_argument("--patience", type=int, default=10, help="epochs without a better validation error")
    parser.add_argument("--batch-size", type=int, default=10, help="rows per update (theirs: 1)")
    parser.add_argument("--lr-scale", type=float, default=None,
                        help="multiplies their rates (default: the batch size, so that a step on the mean "
                        "gradient of a minibatch moves as far as their online steps on its rows)")
    parser.add_argument("--objectives", nargs="+", default=list(TABLE_1), choices=list(TABLE_1))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def early_stopping(X_val: np.ndarray, y_val: np.ndarray, patience: int, best: dict) -> callable:
    """A callback that records the validation error of every epoch, keeps the parameters of the best
    one in ``best`` and stops training after ``patience`` epochs without improvement."""

    def callback(model: ClassRBM, record: dict) -> bool:
        record["val_error"] = 100 * (1 - model.score(X_val, y_val))
        if record["val_error"] < best.get("val_error", np.inf):
            best.update(val_error=record["val_error"], epoch=record["epoch"], state=copy.deepcopy(model.state_dict()))
        return record["epoch"] - best["epoch"] >= patience

    return callback


def main() -> None:
    args = arguments()
    X, y = load("mnist", path=args.path, split="train")
    X_test, y_test = load("mnist", path=args.path, split="test")
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=10_000, stratify=y, random_state=args.seed)
    if args.quick:
        X_train, _, y_train, _ = train_test_split(X_train, y_train, train_size=5000, stratify=y_train,
                                                  random_state=args.seed)
        X_val, _, y_val, _ = train_test_split(X_val, y_val, train_size=2000, stratify=y_val, random_state=args.seed)
        X_test, _, y_test, _ = train_test_split(X_test, y_test, train_size=2000, stratify=y_test,
                                                random_state=args.seed)
    epochs = args.epochs or (8 if args.quick else 100)
    scale = args.lr_scale if args.lr_scale is not None else args.batch_size
    print(f"MNIST: {len(X_train)} training / {len(X_val)} validation / {len(X_test)} test rows; up to {epochs} "
          f"epochs, minibatches of {args.batch_size}, their rates x {scale:.3g}; torch threads: "
          f"{torch.get_num_threads()}")
    if args.quick:
        print("REDUCED RUN (--quick): a tenth of the data, a quarter of the hidden units; compare with care")
    for objective in args.objectives:
        lr, hidden, alpha, paper = TABLE_1[objective]
        hidden = hidden // 4 if args.quick else hidden
        model, best = ClassRBM(784, 10, hidden), {}
        started = time.perf_counter()
        model.fit(X_train, y_train, objective=objective, alpha=alpha, epochs=epochs, lr=lr * scale,
                  batch_size=args.batch_size, seed=args.seed, device=args.device, progress=False,
                  callbacks=[early_stopping(X_val, y_val, args.patience, best)])
        seconds = time.perf_counter() - started
        model.load_state_dict(best["state"])
        error = 100 * (1 - model.score(X_test, y_test))
        per_epoch = float(np.mean([record["seconds"] for record in model.history_]))  # the updates alone
        print(f"{objective:>14} ({hidden} hidden units, lr {lr * scale:.3g}): test error {error:.2f}% at epoch "
              f"{best['epoch']} (validation {best['val_error']:.2f}%), {seconds:.0f} s, {per_epoch:.1f} s/epoch   "
              f"(their Table 1: {paper}% with {TABLE_1[objective][1]} units)")
        if args.quick:
            full = per_epoch * (50_000 / len(X_train)) * (TABLE_1[objective][1] / hidden)
            print(f"{'':>14} an epoch at their size on 50,000 images: about {full:.0f} s here")


if __name__ == "__main__":
    main()
