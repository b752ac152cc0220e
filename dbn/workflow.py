"""The command line's workflow: ``pretrain``, ``finetune``, ``sample`` and ``evaluate``.

A run goes ``dbn pretrain`` (a :class:`~dbn.stack.DeepBeliefNet` on the training rows) then
``dbn finetune --model <out>/dbn.pt`` (classification), and ``dbn sample`` / ``dbn evaluate`` on
any saved RBM or network. Every command writes into ``--out`` (named on the console when it
starts): the model it trained (``dbn.pt``, checkpointed during training) and a CSV log of its
epochs (:class:`dbn.callbacks.CSVLogger`), or its samples or measurements.

Data: ``digits`` is split 80/20 (stratified, fixed seed 0), MNIST and Fashion-MNIST use their
official training and test sets. The ``--data`` of ``finetune`` and ``evaluate`` must be the one
the model was pretrained on.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dbn.callbacks import CSVLogger
from dbn.datasets import load
from dbn.rbm import RBM
from dbn.resume import check_writable
from dbn.stack import DeepBeliefNet

__all__ = ["CommandError", "add_workflow_parsers", "load_model", "load_split", "output_directory"]

#: the data sets the commands know
DATA = ("digits", "mnist", "fashion-mnist")


class CommandError(Exception):
    """A mistake in a command's arguments or files: printed as one line, without a traceback."""


def output_directory(directory: str, command: str) -> Path:
    """``--out`` created if need be, checked writable before any work, and named on the console."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"--out: cannot create the directory {directory!r} ({error.strerror})") from error
    check_writable(out / "probe", "--out")
    print(f"dbn {command}: writing to {out}")
    return out


def load_split(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training features and labels, then test features and labels, of the data set ``name``."""
    if name == "digits":
        from sklearn.model_selection import train_test_split

        X, y = load("digits")
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
        return X_train, y_train, X_test, y_test
    try:
        return (*load(name, split="train"), *load(name, split="test"))
    except FileNotFoundError as error:
        loader = f"dbn.datasets.load_{name.replace('-', '_')}(download=True)"
        raise CommandError(f"--data {name}: its files are in neither $DBN_DATA/{name} nor data/{name}; set DBN_DATA to "
                           f"a directory that holds {name}/, or fetch them once with {loader}") from error


def load_model(path: str) -> RBM | DeepBeliefNet:
    """The RBM or network saved at ``path``."""
    if not Path(path).is_file():
        raise CommandError(f"--model: no file {path!r}")
    try:
        return DeepBeliefNet.load(path)
    except ValueError as error:
        if "holds a 'RBM'" not in str(error):
            raise CommandError(f"--model: {error}") from error
    return RBM.load(path)


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_pretrain(args: argparse.Namespace) -> DeepBeliefNet:
    """Pretrain a deep belief network on the training rows; save it and its per-epoch log."""
    X, *_ = load_split(args.data)
    out = output_directory(args.out, "pretrain")
    net = DeepBeliefNet([X.shape[1], *args.layers], visible=args.visible, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, k=args.k, persistent=args.persistent)
    started = time.perf_counter()
    net.pretrain(X, checkpoint=out / "dbn.pt", callbacks=[CSVLogger(out / "pretrain.csv")], seed=args.seed,
                 device=args.device, progress=not args.quiet)
    for index, history in enumerate(net.pretrain_history_, start=1):
        last = history[-1]
        print(f"RBM {index}: {len(history)} epochs, recon_mse {last['recon_mse']:.4g}")
    print(f"pretrained {'-'.join(map(str, net.layers))} on {len(X)} rows in {time.perf_counter() - started:.1f} s; "
          f"saved {out / 'dbn.pt'}, log {out / 'pretrain.csv'}")
    return net


def run_finetune(args: argparse.Namespace) -> DeepBeliefNet:
    """Fine-tune a pretrained network as a classifier; save it and its log, print the test accuracy."""
    net = load_model(args.model)
    if not isinstance(net, DeepBeliefNet):
        raise CommandError(f"--model: {args.model} holds an RBM; finetune needs a network saved by dbn pretrain")
    X, y, X_test, y_test = load_split(args.data)
    out = output_directory(args.out, "finetune")
    started = time.perf_counter()
    net.finetune(X, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
                 validation_fraction=args.validation_fraction, patience=args.patience, seed=args.seed,
                 device=args.device, checkpoint=out / "dbn.pt", callbacks=[CSVLogger(out / "finetune.csv")],
                 progress=not args.quiet)
    print(f"fine-tuned {len(net.finetune_history_)} epochs at lr {net.finetune_config_.lr:g} in "
          f"{time.perf_counter() - started:.1f} s; test accuracy {net.score(X_test, y_test):.4f}; "
          f"saved {out / 'dbn.pt'}, log {out / 'finetune.csv'}")
    return net


def run_sample(args: argparse.Namespace) -> np.ndarray:
    """Draw samples from a saved RBM or network; save them (and, with matplotlib, a grid of the
    samples that are square images)."""
    model = load_model(args.model)
    out = output_directory(args.out, "sample")
    torch.manual_seed(args.seed)
    if isinstance(model, DeepBeliefNet):
        samples = model.sample(args.n, gibbs_steps=args.steps, seed=args.seed, progress=not args.quiet)
    else:
        samples = model.sample(args.n, args.steps, generator=torch.Generator().manual_seed(args.seed),
                               progress=not args.quiet)
    samples = samples.detach().cpu().numpy()
    np.save(out / "samples.npy", samples)
    saved = [out / "samples.npy"]
    side = int(round(samples.shape[1] ** 0.5))
    if side * side == samples.shape[1] and importlib.util.find_spec("matplotlib") is not None:
        from dbn.plotting import plot_samples

        plot_samples(samples, out / "samples.png")
        saved.append(out / "samples.png")
    print(f"{args.n} samples after {args.steps} Gibbs steps: saved {', '.join(map(str, saved))}")
    return samples


def run_evaluate(args: argparse.Namespace) -> dict[str, float]:
    """Measure a saved model on the test rows: accuracy, reconstruction error, log-likelihood (RBM)."""
    model = load_model(args.model)
    _, _, X_test, y_test = load_split(args.data)
    out = output_directory(args.out, "evaluate")
    results: dict[str, float] = {}
    if isinstance(model, DeepBeliefNet) and getattr(model, "task_", None) == "classify":
        results["accuracy"] = model.score(X_test, y_test)
    reconstruction = np.asarray(model.reconstruct(X_test))
    results["recon_mse"] = float(np.mean((reconstruction - X_test) ** 2))
    if isinstance(model, RBM) and model.visible.exact_free_energy and model.hidden.exact_free_energy:
        method = "exact" if min(model.n_visible, model.n_hidden) <= 20 else "ais"
        generator = torch.Generator().manual_seed(args.seed)
        options = {"generator": generator, "progress": not args.quiet} if method == "ais" else {}
        value, error = model.log_likelihood(X_test, method, return_error=True, **options)
        results[f"log_likelihood_{method}"], results["log_likelihood_error"] = value, error
    _write_rows(out / "evaluation.csv", [{"metric": key, "value": value} for key, value in results.items()])
    for key, value in results.items():
        print(f"{key}: {value:.4f}")
    print(f"on {len(X_test)} test rows of {args.data}; saved {out / 'evaluation.csv'}")
    return results


def _rate(text: str) -> float | str:
    """``--lr``: a positive number or ``auto``."""
    try:
        rate = text if text == "auto" else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {text!r}") from None
    if rate != "auto" and not rate > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {text!r}")
    return rate


def _common_options(parser: argparse.ArgumentParser, command: str, *, data: bool = True) -> None:
    if data:
        parser.add_argument("--data", default="digits", choices=DATA, help="the data set (default digits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--out", default=f"runs/{command}", help=f"output directory (default runs/{command})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_workflow_parsers(subparsers: Any) -> None:
    """Add ``pretrain``, ``finetune``, ``sample`` and ``evaluate`` to an ``argparse`` subparsers object."""
    pretrain = subparsers.add_parser("pretrain", help="pretrain a deep belief network (saves dbn.pt, pretrain.csv)")
    pretrain.add_argument("--layers", type=int, nargs="+", default=[256, 256], help="hidden sizes, bottom first")
    pretrain.add_argument("--visible", default="bernoulli", choices=["bernoulli", "gaussian"])
    pretrain.add_argument("--epochs", type=int, default=30, help="epochs per RBM")
    pretrain.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1, 0.01 for Gaussian)")
    pretrain.add_argument("--batch-size", type=int, default=100)
    pretrain.add_argument("--k", type=int, default=1, help="Gibbs steps per update (CD-k)")
    pretrain.add_argument("--persistent", action="store_true", help="persistent CD")
    _common_options(pretrain, "pretrain")
    pretrain.set_defaults(handler=run_pretrain)
    finetune = subparsers.add_parser("finetune", help="fine-tune a pretrained network as a classifier")
    finetune.add_argument("--model", required=True, help="a network saved by dbn pretrain")
    finetune.add_argument("--epochs", type=int, default=50)
    finetune.add_argument("--lr", type=_rate, default="auto", help="learning rate, or auto (a short search; default)")
    finetune.add_argument("--batch-size", type=int, default=100)
    finetune.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    finetune.add_argument("--validation-fraction", type=float, default=0.1)
    finetune.add_argument("--patience", type=int, default=10)
    _common_options(finetune, "finetune")
    finetune.set_defaults(handler=run_finetune)
    sample = subparsers.add_parser("sample", help="draw samples from a saved RBM or network")
    sample.add_argument("--model", required=True, help="a saved RBM or network")
    sample.add_argument("--n", type=int, default=16, help="number of samples")
    sample.add_argument("--steps", type=int, default=1000, help="Gibbs steps")
    _common_options(sample, "sample", data=False)
    sample.set_defaults(handler=run_sample)
    evaluate = subparsers.add_parser("evaluate", help="accuracy, reconstruction error and likelihood on test rows")
    evaluate.add_argument("--model", required=True, help="a saved RBM or network")
    _common_options(evaluate, "evaluate")
    evaluate.set_defaults(handler=run_evaluate)
