"""Command line: ``python -m dbn <command>``.

``rbm``
    Train an RBM on a data set (digits by default), print its monitors epoch by epoch, and its
    log-likelihood on held-out data (AIS), then save it.
``compare``
    Compare weight-initialisation schemes on one MLP (:mod:`dbn.compare`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from dbn import RBM
from dbn.compare import add_compare_parser
from dbn.datasets import load


def _print_history(history: list[dict]) -> None:
    columns = ("epoch", "recon_mse", "recon_kl", "pseudo_likelihood", "free_energy_gap", "update_ratio", "seconds")
    print("  ".join(f"{name:>17s}" for name in columns))
    for record in history:
        cells = (f"{record[name]:17.4g}" if record[name] is not None else f"{'-':>17s}" for name in columns)
        print("  ".join(cells))


def run_rbm(args: argparse.Namespace) -> None:
    X, y = load(args.data, binarize="threshold" if args.binarize else None) if args.data != "digits" else load("digits")
    if args.binarize:
        X = (X > 0.5).astype(np.float32)
    train, test = train_test_split(X, test_size=0.2, random_state=args.seed, stratify=y)
    print(f"{args.data}: {len(train)} training and {len(test)} held-out rows of {X.shape[1]} features")
    rbm = RBM(X.shape[1], args.hidden, visible=args.visible)
    started = time.perf_counter()
    rbm.fit(train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, k=args.k, persistent=args.persistent,
            X_val=test, device=args.device, seed=args.seed, progress=not args.quiet)
    print(f"trained in {time.perf_counter() - started:.1f} s")
    _print_history(rbm.history_)
    if rbm.visible.exact_free_energy and rbm.hidden.exact_free_energy:
        generator = torch.Generator(device=rbm.device).manual_seed(args.seed)
        method = "exact" if min(rbm.n_visible, rbm.n_hidden) <= 20 else "ais"
        value, error = rbm.log_likelihood(test, method, return_error=True, **({"generator": generator} if method == "ais" else {}))
        print(f"held-out log-likelihood ({method}): {value:.3f} +- {error:.3f} nats per sample")
    if args.out:
        path = Path(args.out) / "rbm.pt"
        rbm.save(path)
        print(f"saved to {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dbn", description="RBMs and deep belief networks on PyTorch")
    commands = parser.add_subparsers(dest="command", required=True)
    rbm = commands.add_parser("rbm", help="train an RBM and report its monitors and likelihood")
    rbm.add_argument("--data", default="digits", help="digits (default), mnist or fashion-mnist")
    rbm.add_argument("--binarize", action="store_true", help="threshold the data at 0.5")
    rbm.add_argument("--visible", default="bernoulli", choices=["bernoulli", "gaussian"])
    rbm.add_argument("--hidden", type=int, default=100, help="number of hidden units")
    rbm.add_argument("--epochs", type=int, default=30)
    rbm.add_argument("--batch-size", type=int, default=50)
    rbm.add_argument("--lr", type=float, default=0.05)
    rbm.add_argument("--k", type=int, default=1)
    rbm.add_argument("--persistent", action="store_true")
    rbm.add_argument("--device", default="cpu")
    rbm.add_argument("--seed", type=int, default=0)
    rbm.add_argument("--out", default="results", help="directory for the saved model ('' to skip)")
    rbm.add_argument("--quiet", action="store_true", help="no progress bar")
    rbm.set_defaults(handler=run_rbm)
    add_compare_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv[1:]
    args.handler(args)
