"""Command line: ``dbn <command>`` (or ``python -m dbn <command>``).

``pretrain``, ``finetune``, ``sample``, ``evaluate``
    The workflow of a deep belief network (:mod:`dbn.workflow`).
``rbm``
    Train an RBM on a data set (digits by default), print its monitors epoch by epoch, and its
    log-likelihood on held-out data (AIS), then save it and its per-epoch log.
``compare``
    Compare weight-initialisation schemes on one MLP (:func:`dbn.compare.compare_inits`) and write
    the tables (``table.md``, ``results.csv``: :mod:`dbn.reports`) and figures (:mod:`dbn.figures`).

Every command takes its options from flags or from a TOML file, ``--config run.toml``, whose keys
are the long option names (``batch-size`` or ``batch_size``) at the top level or in a table named
after the command (``[pretrain]``); flags given on the line override the file. Mistakes in the
arguments, the files or the data end the program with a one-line error and exit status 2.

Each command is a parser built by ``add_<command>_parser`` and a handler ``run_<command>(args)``;
:func:`main` parses the arguments and calls the handler.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from dbn import RBM
from dbn.callbacks import CSVLogger
from dbn.compare import BATCHNORM, DEFAULT_LRS, DEFAULT_SCHEMES, CompareConfig, compare_inits, split_data
from dbn.datasets import load
from dbn.figures import plot_curves, plot_filter_grid, plot_histogram_grid
from dbn.init import ACTIVATIONS
from dbn.reports import results_table, summary_table, write_csv
from dbn.workflow import CommandError, add_workflow_parsers, output_directory

__all__ = ["add_compare_parser", "add_rbm_parser", "build_parser", "main", "run_compare", "run_rbm"]

# --------------------------------------------------------------------------- rbm


def _print_history(history: list[dict]) -> None:
    columns = ("epoch", "recon_mse", "recon_kl", "pseudo_likelihood", "free_energy_gap", "update_ratio", "seconds")
    print("  ".join(f"{name:>17s}" for name in columns))
    for record in history:
        cells = (f"{record[name]:17.4g}" if record[name] is not None else f"{'-':>17s}" for name in columns)
        print("  ".join(cells))


def run_rbm(args: argparse.Namespace) -> None:
    """Train an RBM with the parsed arguments, print its monitors and held-out likelihood, save it."""
    out = output_directory(args.out, "rbm") if args.out else None
    X, y = load(args.data, binarize="threshold" if args.binarize else None) if args.data != "digits" else load("digits")
    if args.binarize:
        X = (X > 0.5).astype(np.float32)
    train, test = train_test_split(X, test_size=0.2, random_state=args.seed, stratify=y)
    print(f"{args.data}: {len(train)} training and {len(test)} held-out rows of {X.shape[1]} features")
    rbm = RBM(X.shape[1], args.hidden, visible=args.visible)
    started = time.perf_counter()
    rbm.fit(train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, k=args.k, persistent=args.persistent,
            X_val=test, device=args.device, seed=args.seed, progress=not args.quiet,
            callbacks=[] if out is None else [CSVLogger(out / "rbm.csv")])
    print(f"trained in {time.perf_counter() - started:.1f} s")
    _print_history(rbm.history_)
    if rbm.visible.exact_free_energy and rbm.hidden.exact_free_energy:
        generator = torch.Generator(device=rbm.device).manual_seed(args.seed)
        method = "exact" if min(rbm.n_visible, rbm.n_hidden) <= 20 else "ais"
        options = {"generator": generator, "progress": not args.quiet} if method == "ais" else {}
        value, error = rbm.log_likelihood(test, method, return_error=True, **options)
        print(f"held-out log-likelihood ({method}): {value:.3f} +- {error:.3f} nats per sample")
    if out is not None:
        path = out / "rbm.pt"
        rbm.save(path)
        print(f"saved {path}, log {out / 'rbm.csv'}")


def add_rbm_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``rbm`` subcommand to an ``argparse`` subparsers object; its handler is :func:`run_rbm`."""
    rbm = subparsers.add_parser("rbm", help="train an RBM and report its monitors and likelihood")
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
    rbm.add_argument("--out", default="runs/rbm", help="directory for the model and its log ('' skips)")
    rbm.add_argument("--quiet", action="store_true", help="no progress bar")
    rbm.set_defaults(handler=run_rbm)
    return rbm


# --------------------------------------------------------------------------- compare


def add_compare_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to an ``argparse`` subparsers object; its handler is :func:`run_compare`."""
    description = "Train one MLP per scheme x seed x learning rate (batched) and tabulate the results."
    parser = subparsers.add_parser("compare", help="compare weight initialisation schemes on one MLP",
                                   description=description)
    parser.add_argument("--data", default="digits", help="digits (default) or mnist (its official test set is used)")
    activations = ", ".join(name for name in ACTIVATIONS if name != "identity")
    parser.add_argument("--activation", nargs="+", default=["tanh", "relu"],
                        help=f"activations, of {activations} (default: tanh relu)")
    parser.add_argument("--schemes", nargs="+", default=list(DEFAULT_SCHEMES),
                        help=f"initialisation schemes, and {BATCHNORM} (default: all but dbn)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128, 128], help="hidden layer sizes")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    rates = " ".join(f"{lr:g}" for lr in DEFAULT_LRS)
    parser.add_argument("--lr", type=float, nargs="+", default=list(DEFAULT_LRS),
                        help=f"learning rates searched per scheme (default: {rates})")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--target", type=float, default=0.9, help="validation accuracy for 'epochs to target'")
    parser.add_argument("--dbn-epochs", type=int, default=10, help="RBM epochs per layer for the dbn scheme")
    parser.add_argument("--max-rows", type=int, default=None, help="use at most this many training rows")
    parser.add_argument("--search-rows", type=int, default=None,
                        help="two-stage search: rates tried on this many training rows")
    parser.add_argument("--search-epochs", type=int, default=None, help="two-stage search: epochs per rate tried")
    parser.add_argument("--search-seeds", type=int, default=None, help="two-stage search: seeds per rate tried")
    parser.add_argument("--monitor-rows", type=int, default=None,
                        help="measure the training loss on at most this many rows")
    parser.add_argument("--sequential", action="store_true",
                        help="train the models one after another (slower, same numbers)")
    parser.add_argument("--out", default="runs/compare", help="directory for the tables and figures")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="where the models train: cpu, cuda or auto")
    parser.set_defaults(handler=run_compare)
    return parser


#: the data of a comparison: training features and labels, and the test set (None: split from the training rows)
CompareData = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _load_compare_data(name: str, max_rows: int | None) -> CompareData:
    """Training rows (at most ``max_rows``, stratified) and, except for digits, the official test set."""
    if name.lower() == "digits":
        X, y = load("digits")
        X_test = y_test = None
    else:
        X, y = load(name, split="train")
        X_test, y_test = load(name, split="test")
    if max_rows is not None and max_rows < len(X):
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=0)
    return X, y, X_test, y_test


def _compare_text(args: argparse.Namespace, records: list[dict], elapsed: float) -> str:
    """The Markdown report of ``table.md``: the settings, the summary table and the details."""
    return (f"# Initialisation comparison on {args.data}\n\n{len(records)} models in {elapsed:.0f} s; "
            f"hidden {args.hidden}, {args.epochs} epochs of SGD (momentum {args.momentum}, batch {args.batch_size}), "
            f"learning rate searched over {args.lr} per scheme (selected on validation accuracy).\n\n"
            f"## Test accuracy (%), mean ± std over {args.seeds} seeds\n\n{summary_table(records)}\n\n"
            f"## Details at the selected rate\n\n{results_table(records)}\n")


def _write_figures(args: argparse.Namespace, records: list[dict], data: CompareData, out: Path) -> None:
    """``curves.png`` and, per activation, ``histograms_<activation>.png`` and ``filters_<activation>.png``
    (the histograms on 500 of the fitting rows :func:`dbn.compare.split_data` gives)."""
    X, y, X_test, y_test = data
    X_fit, y_fit = split_data(X, y, X_test=X_test, y_test=y_test)["train"]
    plot_curves(records, out / "curves.png")
    for name in args.activation:
        plot_histogram_grid(records, X_fit[:500], y_fit[:500], out / f"histograms_{name}.png", activation=name)
        plot_filter_grid(records, out / f"filters_{name}.png", activation=name)
    print(f"figures written to {out}")


def run_compare(args: argparse.Namespace) -> list[dict]:
    """Run :func:`dbn.compare.compare_inits` with the parsed arguments; write ``table.md``,
    ``results.csv`` and, with matplotlib, ``curves.png``, ``histograms_<activation>.png`` and
    ``filters_<activation>.png``; return the records."""
    config = CompareConfig(hidden=args.hidden, activation=args.activation, schemes=args.schemes, seeds=args.seeds,
                           epochs=args.epochs, batch_size=args.batch_size, lrs=args.lr, momentum=args.momentum,
                           target_accuracy=args.target, scheme_options={"dbn": {"epochs": args.dbn_epochs}},
                           search_rows=args.search_rows, search_epochs=args.search_epochs,
                           search_seeds=args.search_seeds, monitor_rows=args.monitor_rows, batched=not args.sequential,
                           device=args.device, keep_models=not args.no_figures, progress=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = output_directory(args.out, "compare")
    data = _load_compare_data(args.data, args.max_rows)
    X, y, X_test, y_test = data
    started = time.perf_counter()
    records = compare_inits(X, y, X_test=X_test, y_test=y_test, config=config)
    elapsed = time.perf_counter() - started
    text = _compare_text(args, records, elapsed)
    (out / "table.md").write_text(text)
    write_csv(records, out / "results.csv")
    print(text)
    if not args.no_figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: no figures")
            return records
        _write_figures(args, records, data, out)
    command = "python -m dbn compare " + " ".join(getattr(args, "argv", []) or [])
    print(f"{command}: {elapsed:.0f} s; tables in {out}")
    return records


# --------------------------------------------------------------------------- the program


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``dbn``, one subcommand per command, each with ``--config``."""
    parser = argparse.ArgumentParser(prog="dbn", description="RBMs and deep belief networks on PyTorch")
    commands = parser.add_subparsers(dest="command", required=True)
    add_workflow_parsers(commands)
    add_rbm_parser(commands)
    add_compare_parser(commands)
    for subparser in commands.choices.values():
        subparser.add_argument("--config", default=None, help="a TOML file of options (flags override it)")
    parser.commands = commands.choices  # the subparsers by name, for --config
    return parser


def _config_defaults(known: set[str], command: str, path: str) -> dict[str, Any]:
    """The options of ``command`` in the TOML file ``path``, as ``argparse`` destinations (of ``known``)."""
    import tomllib

    try:
        with open(path, "rb") as stream:
            table = tomllib.load(stream)
    except OSError as error:
        raise CommandError(f"--config: cannot read {path!r} ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise CommandError(f"--config: {path} is not valid TOML: {error}") from error
    values = {key: value for key, value in table.items() if not isinstance(value, dict)} | table.get(command, {})
    options = {key.replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(options) - known)
    if unknown:
        raise CommandError(f"--config: {path} sets unknown option(s) {unknown} for dbn {command}")
    return options


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        known = set(vars(args)) - {"command", "config", "handler"}
        parser.commands[args.command].set_defaults(**_config_defaults(known, args.command, args.config))
        args = parser.parse_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """``dbn <command> ...``: parse ``argv`` (default ``sys.argv[1:]``) and run the command.

    A mistake (a bad option, a missing or unreadable file, data a model refuses) ends it with a
    one-line error on standard error and exit status 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in argv if not word.startswith("-")), "")
    try:
        args = _parse(argv)
        args.argv = argv[1:]
        args.handler(args)
    except (CommandError, ValueError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"dbn {command}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
