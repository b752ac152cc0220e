"""Defaults against defaults: 5-fold cross-validated accuracy and fit time, nothing tuned.

Every contender is what a scikit-learn user would write first, in a pipeline whose scaler is fitted
on the training folds only (so test folds hold values outside [0, 1]):

- ``MinMaxScaler() -> DBNClassifier(random_state=0)``
- ``MinMaxScaler() -> MLPClassifier(random_state=0)``
- ``MinMaxScaler() -> LogisticRegression(max_iter=1000)``
- ``MinMaxScaler() -> BernoulliRBM(random_state=0) -> LogisticRegression(max_iter=1000)``

on scikit-learn's digits and, when MNIST is found (``$DBN_DATA/mnist``), on a stratified
10,000-row subset of its training set. One torch thread and one BLAS thread per process, so that
the contenders share the machine alike. Before its timed folds each contender fits once on 200
rows, untimed, so that no contender's seconds include what a process pays once (torch's first
optimiser imports ``torch._dynamo``, about a second).

The folds are shuffled (``StratifiedKFold(5, shuffle=True, random_state=0)``); ``--plain-folds``
uses what ``cross_val_score(..., cv=5)`` gives instead, contiguous blocks of rows (on digits,
blocks of writers: harder, and closer to new writers).

``--task regress`` compares the regressors instead, by R² on ``make_friedman1`` (2,000 rows,
noise 1) and scikit-learn's diabetes data, every contender inside a
``TransformedTargetRegressor`` that standardises the targets (as ``DBNRegressor`` does within):

- ``MinMaxScaler() -> DBNRegressor(random_state=0)``, and with the classifier's units and
  optimiser (``hidden="bernoulli", optimizer="sgd"``)
- ``MinMaxScaler() -> MLPRegressor(random_state=0)``
- ``MinMaxScaler() -> Ridge()``

``--set name=value`` (repeatable) changes a hyper-parameter of the DBN contender, to compare
its defaults with other settings (``--set hidden_layer_sizes=256,256 --set batch_size=100``: the
earlier default); ``--only DBN`` runs the contenders whose names hold that text.

Usage::

    python benchmarks/sklearn_defaults.py [--mnist-rows 10000] [--folds 5] [--plain-folds] [--seeds 1]
    python benchmarks/sklearn_defaults.py --task regress
    python benchmarks/sklearn_defaults.py --mnist-rows 0 --seeds 3 --only DBN --set tol=0

``--mnist-rows 0`` leaves MNIST out; ``--seeds 3`` repeats the CV with random_state 0, 1 and 2.
"""

from __future__ import annotations

import argparse
import ast
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate, train_test_split  # noqa: E402
from sklearn.neural_network import BernoulliRBM, MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402

from dbn.datasets import load  # noqa: E402
from dbn.sklearn import DBNClassifier, DBNRegressor  # noqa: E402

#: hyper-parameters of the DBN contenders set by --set
CHANGES: dict = {}

CONTENDERS = {  # each made with a seed (random_state=0 unless --seeds asks for more)
    "DBNClassifier()": lambda seed: make_pipeline(MinMaxScaler(), DBNClassifier(random_state=seed, **CHANGES)),
    "MLPClassifier()": lambda seed: make_pipeline(MinMaxScaler(), MLPClassifier(random_state=seed)),
    "LogisticRegression()": lambda seed: make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=1000)),
    "BernoulliRBM() + LogisticRegression()": lambda seed: make_pipeline(
        MinMaxScaler(), BernoulliRBM(random_state=seed), LogisticRegression(max_iter=1000)
    ),
}

REGRESSORS = {
    "DBNRegressor()": lambda seed: DBNRegressor(random_state=seed, **CHANGES),
    "DBNRegressor(hidden='bernoulli', optimizer='sgd')": lambda seed: DBNRegressor(
        hidden="bernoulli", optimizer="sgd", random_state=seed
    ),
    "MLPRegressor()": lambda seed: MLPRegressor(random_state=seed),
    "Ridge()": lambda seed: Ridge(),
}


def regressor(make_model):
    """A contender of ``--task regress``: the model after a scaler, its targets standardised."""
    return lambda seed: TransformedTargetRegressor(make_pipeline(MinMaxScaler(), make_model(seed)),
                                                   transformer=StandardScaler())


def regression_datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"make_friedman1 (2000 rows, noise 1)": make_friedman1(2000, noise=1.0, random_state=0),
            "diabetes": load_diabetes(return_X_y=True)}


def datasets(mnist_rows: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Digits, and a stratified MNIST subset when the files are there."""
    found = {"digits": load("digits")}
    if mnist_rows == 0:
        return found
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
    parser.add_argument("--plain-folds", action="store_true", help="unshuffled folds, as cross_val_score(cv=5)")
    parser.add_argument("--seeds", type=int, default=1, help="random_state 0 .. seeds-1 for every contender")
    parser.add_argument("--task", choices=["classify", "regress"], default="classify")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a hyper-parameter of the DBN contender (a Python literal; a,b is a tuple)")
    parser.add_argument("--only", default=None, help="run only the contenders whose names hold this text")
    args = parser.parse_args()
    CHANGES.update(parse_change(change) for change in args.set)
    torch.set_num_threads(1)
    classify = args.task == "classify"
    splitter = StratifiedKFold if classify else KFold
    folds = splitter(args.folds, shuffle=not args.plain_folds, random_state=None if args.plain_folds else 0)
    contenders = CONTENDERS if classify else {label: regressor(make) for label, make in REGRESSORS.items()}
    contenders = {label: make for label, make in contenders.items() if args.only is None or args.only in label}
    if CHANGES:
        print(f"DBN contenders with {CHANGES}")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, one thread per contender, {args.folds}-fold CV, "
          f"{'unshuffled' if args.plain_folds else 'shuffled'} folds, random_state 0-{args.seeds - 1}")
    for name, (X, y) in (datasets(args.mnist_rows) if classify else regression_datasets()).items():
        print(f"\n{name}: {X.shape[0]} rows, {X.shape[1]} features")
        print(f"| contender | {args.folds}-fold {'accuracy' if classify else 'R²'} | fit seconds (mean per fold) |")
        print("|---|---|---|")
        for label, make in contenders.items():
            started = time.perf_counter()
            scores, seconds = cross_validate_seeds(make, X, y, folds, args.seeds)
            print(f"| {label} | {scores.mean():.4f} ± {scores.std():.4f} | {seconds.mean():.2f} |"
                  f"  ({time.perf_counter() - started:.0f} s)")


def parse_change(text: str) -> tuple[str, object]:
    """``name=value`` as (name, the value as a Python literal; "256,256" is a tuple)."""
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a bare string, such as adam


def cross_validate_seeds(make, X: np.ndarray, y: np.ndarray, folds, seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """Test scores and fit seconds of every fold of every seed, after one untimed fit on 200 rows
    (the costs a process pays once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier's convergence warnings, at its defaults
        make(0).fit(X[:200], y[:200])
        runs = [cross_validate(make(seed), X, y, cv=folds, error_score="raise") for seed in range(seeds)]
    return (np.concatenate([run["test_score"] for run in runs]), np.concatenate([run["fit_time"] for run in runs]))


if __name__ == "__main__":
    main()
