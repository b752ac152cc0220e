"""Defaults against defaults: 5-fold cross-validated accuracy and fit time, nothing tuned.

Every contender is what a scikit-learn user would write first, in a pipeline whose scaler is fitted
on the training folds only (so test folds hold values outside [0, 1]):

- ``MinMaxScaler() -> DBNClassifier(random_state=0)``
- ``MinMaxScaler() -> MLPClassifier(random_state=0)``
- ``MinMaxScaler() -> LogisticRegression(max_iter=1000)``
- ``MinMaxScaler() -> BernoulliRBM(random_state=0) -> LogisticRegression(max_iter=1000)``

on scikit-learn's digits and, when MNIST is found (``$DBN_DATA/mnist``), on a stratified
10,000-row subset of its training set. One torch thread and one BLAS thread per process, so that
the contenders share the machine alike.

Usage::

    python benchmarks/sklearn_defaults.py [--mnist-rows 10000] [--folds 5]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split  # noqa: E402
from sklearn.neural_network import BernoulliRBM, MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

from dbn.datasets import load  # noqa: E402
from dbn.sklearn import DBNClassifier  # noqa: E402

CONTENDERS = {
    "DBNClassifier()": lambda: make_pipeline(MinMaxScaler(), DBNClassifier(random_state=0)),
    "MLPClassifier()": lambda: make_pipeline(MinMaxScaler(), MLPClassifier(random_state=0)),
    "LogisticRegression()": lambda: make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=1000)),
    "BernoulliRBM() + LogisticRegression()": lambda: make_pipeline(
        MinMaxScaler(), BernoulliRBM(random_state=0), LogisticRegression(max_iter=1000)
    ),
}


def datasets(mnist_rows: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Digits, and a stratified MNIST subset when the files are there."""
    found = {"digits": load("digits")}
    try:
        X, y = load("mnist")
    except (FileNotFoundError, OSError):
        return found
    X, _, y, _ = train_test_split(X, y, train_size=mnist_rows, stratify=y, random_state=0)
    found[f"mnist ({mnist_rows} rows)"] = (X, y)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-rows", type=int, default=10_000)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, one thread per contender, {args.folds}-fold CV")
    for name, (X, y) in datasets(args.mnist_rows).items():
        print(f"\n{name}: {X.shape[0]} rows, {X.shape[1]} features")
        print(f"| contender | {args.folds}-fold accuracy | fit seconds (mean per fold) |")
        print("|---|---|---|")
        for label, make in CONTENDERS.items():
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLPClassifier's convergence warnings, at its defaults
                scores = cross_validate(make(), X, y, cv=folds, error_score="raise")
            accuracy = scores["test_score"]
            print(f"| {label} | {accuracy.mean():.3f} ± {accuracy.std():.3f} | {scores['fit_time'].mean():.1f} |"
                  f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
