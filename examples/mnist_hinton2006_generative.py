"""The generative DBN of Hinton, Osindero & Teh (2006) on MNIST: greedy pretraining, then up-down.

Their setup (Neural Computation 18, 2006, sec. 6 and Appendix B), followed here:

- the network of their Figure 1: 784 pixels -> 500 -> 500 <-> 2000 top units <-> 10 label units,
  the top two layers (with the labels) an undirected associative memory (:class:`dbn.updown.UpDownDBN`);
- greedy training of each RBM for 30 epochs on 44,000 training images (the other 10,000 of the
  training set for validation), real-valued activities passed up (the hidden probabilities),
  stochastic binary hidden units, the labels a softmax group of the top RBM's visible layer;
- 300 epochs of the up-down algorithm on the same 44,000 images, 3 Gibbs steps in the associative
  memory for the first 100 epochs, 6 for the next 100 and 10 for the last 100
  (:func:`dbn.updown.paper_gibbs_schedule`); then 59 more epochs on all 60,000 images (10 steps);
- testing: a deterministic up pass, then the label of lowest free energy in the top RBM.

They report 2.49 % test error after the greedy training, 1.39 % for the network that did best on
the validation set after the 300 epochs, and 1.25 % after the 59 epochs on all 60,000 images.
The learning rates, momentum and weight decay they chose on the validation set are not given in
the paper: the greedy stage here uses the values of Hinton & Salakhutdinov's (2006) code (rate
0.1, momentum 0.5 then 0.9, weight cost 2e-4, minibatches of 100), and up-down plain SGD at 0.01
(Appendix B's rule, one rate everywhere). Their minibatches held 10 images of each class; ours are
random.

Usage::

    python examples/mnist_hinton2006_generative.py --quick      # about a minute: 10,000 MNIST images
    python examples/mnist_hinton2006_generative.py              # the paper's schedule (hours)
    python examples/mnist_hinton2006_generative.py --updown-epochs 20 --extra-epochs 0   # its first part
    python examples/mnist_hinton2006_generative.py --data digits
    python examples/mnist_hinton2006_generative.py --quick --figure docs/figures/hinton2006_samples.png

``--quick`` trains the full-sized network on 10,000 training images for 10 greedy epochs per RBM and
4 up-down epochs (CD-3, the last CD-10), reports its errors beside the paper's, and times each
phase to estimate the full run on this machine (with the threads torch uses here). MNIST is read
from ``--path``, ``$DBN_DATA/mnist`` or ``data/mnist``; without it ``--quick`` falls back to
scikit-learn's digits.

``--figure PATH`` saves two figures: the generated digits at ``PATH``, and beside it
``hinton2006_in_mind.png``, what the network has in mind: for each label (one row each) one chain
of alternating Gibbs sampling in the associative memory with that label clamped, an image passed
down the generative weights every ``IN_MIND["steps_between"]`` steps
(:meth:`dbn.updown.UpDownDBN.sample_sequence`), as in the paper's sequences of images per class.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from dbn.datasets import load
from dbn.updown import UpDownDBN, paper_gibbs_schedule

LAYERS = {"mnist": [784, 500, 500, 2000], "digits": [64, 200, 200, 500]}
GREEDY = {"lr": 0.1, "batch_size": 100, "weight_decay": 2e-4}  # momentum: 0.5, then 0.9 after 5 epochs
UPDOWN = {"lr": 0.01, "batch_size": 100}
PAPER = {"greedy": 2.49, "updown_44k": 1.39, "final": 1.25}
FULL = {"train": 44_000, "greedy_epochs": 30, "updown_epochs": 300, "extra_epochs": 59}
IN_MIND = {"n_images": 10, "steps_between": 1000}  # images per label, Gibbs steps before each


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist", choices=["mnist", "digits"])
    parser.add_argument("--path", default=None, help="directory of the MNIST IDX files")
    parser.add_argument("--quick", action="store_true", help="a short run on a subset, and a time estimate")
    parser.add_argument("--train-rows", type=int, default=None, help="training rows (quick: 10000; full: 44000)")
    parser.add_argument("--greedy-epochs", type=int, default=None, help="epochs per RBM (paper: 30)")
    parser.add_argument("--updown-epochs", type=int, default=None, help="up-down epochs (paper: 300)")
    parser.add_argument("--extra-epochs", type=int, default=None,
                        help="up-down epochs on all 60,000 images after those (paper: 59; 0 skips the stage)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None, help="save the generated digits here (PNG; needs matplotlib)")
    parser.add_argument("--save", default=None,
                        help="checkpoint the network here after each stage (UpDownDBN.load reads it back)")
    return parser.parse_args()


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """Training, validation and test rows: MNIST's 60,000 split 44,000 / 10,000 (+ the rest unused in
    the 44k stage) and its test set; for digits a 60 / 10 / 30 % split."""
    if args.data == "mnist":
        try:
            X, y = load("mnist", path=args.path, split="train")
            X_test, y_test = load("mnist", path=args.path, split="test")
        except (FileNotFoundError, OSError, ValueError) as error:
            if not args.quick:
                raise
            print(f"MNIST not found ({error}); --quick falls back to digits")
            args.data = "digits"
    if args.data == "digits":
        X, y = load("digits")
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
    n_val = 10_000 if args.data == "mnist" else len(X) // 7
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=n_val, stratify=y, random_state=args.seed)
    return X, y, X_train, y_train, X_val, y_val, X_test, y_test


def error(net: UpDownDBN, X: np.ndarray, y: np.ndarray) -> float:
    return 100 * (1 - net.score(X, y))


def estimate_full_run(seconds: dict[str, float], rows: int) -> float:
    """Seconds of the paper's schedule on this machine, scaled from per-row epoch times measured on
    ``rows`` rows: the greedy stage, 100 up-down epochs at each of k = 3, 6, 10 on 44,000 rows (k = 6
    interpolated), and 59 epochs at k = 10 on 60,000 rows."""
    per_row = {key: value / rows for key, value in seconds.items()}
    k6 = per_row["updown_k3"] + (per_row["updown_k10"] - per_row["updown_k3"]) * 3 / 7
    updown = 100 * FULL["train"] * (per_row["updown_k3"] + k6 + per_row["updown_k10"])
    return (FULL["greedy_epochs"] * FULL["train"] * per_row["greedy"] + updown
            + FULL["extra_epochs"] * 60_000 * per_row["updown_k10"])


def main() -> None:
    args = arguments()
    X_all, y_all, X_train, y_train, X_val, y_val, X_test, y_test = load_data(args)
    quick = args.quick
    rows = args.train_rows or ((10_000 if quick else FULL["train"]) if args.data == "mnist" else None)
    if rows is not None and rows < len(X_train):
        X_train, _, y_train, _ = train_test_split(X_train, y_train, train_size=rows, stratify=y_train,
                                                  random_state=args.seed)
    if quick and args.data == "mnist":
        X_test, _, y_test, _ = train_test_split(X_test, y_test, train_size=2000, stratify=y_test,
                                                random_state=args.seed)
    mnist = args.data == "mnist"
    greedy_epochs = args.greedy_epochs or (10 if quick and mnist else FULL["greedy_epochs"] if mnist else 20)
    updown_epochs = args.updown_epochs or (4 if quick and mnist else FULL["updown_epochs"] if mnist else 10)
    batch = {"batch_size": 100 if mnist else 20}  # digits: 1,257 rows, too few updates in batches of 100
    layers = LAYERS[args.data]
    print(f"data: {args.data}, {len(X_train)} training / {len(X_val)} validation / {len(X_test)} test rows; "
          f"network {'-'.join(map(str, layers))} + 10 labels; torch threads: {torch.get_num_threads()}")
    if quick or not mnist or len(X_train) != FULL["train"]:
        print("REDUCED RUN: the paper's numbers are for the full schedule on MNIST; compare with care")

    net = UpDownDBN(layers, 10)
    started = time.perf_counter()
    net.pretrain(X_train, y_train, epochs=greedy_epochs, seed=args.seed, device=args.device, **{**GREEDY, **batch})
    greedy_seconds = time.perf_counter() - started
    print(f"greedy: {greedy_epochs} epochs per RBM in {greedy_seconds:.0f} s; validation error "
          f"{error(net, X_val, y_val):.2f}%, test error {error(net, X_test, y_test):.2f}%   "
          f"(paper, MNIST: {PAPER['greedy']}%)")
    checkpoint(net, args.save, "greedy")

    started = time.perf_counter()
    schedule = paper_gibbs_schedule if not quick else (lambda epoch: 10 if epoch == updown_epochs - 1 else 3)
    net.finetune(X_train, y_train, epochs=updown_epochs, k=schedule, seed=args.seed + 1, device=args.device,
                 **{**UPDOWN, **batch})
    updown_seconds = time.perf_counter() - started
    print(f"up-down: {updown_epochs} epochs in {updown_seconds:.0f} s; validation error "
          f"{error(net, X_val, y_val):.2f}%, test error {error(net, X_test, y_test):.2f}%   "
          f"(paper, after 300 epochs: {PAPER['updown_44k']}%)")
    checkpoint(net, args.save, "up-down")

    extra_epochs = FULL["extra_epochs"] if args.extra_epochs is None else args.extra_epochs
    if not quick and mnist and extra_epochs > 0:
        started = time.perf_counter()
        net.finetune(X_all, y_all, epochs=extra_epochs, k=10, seed=args.seed + 2, device=args.device, **UPDOWN)
        print(f"up-down on all 60,000: {extra_epochs} epochs in {time.perf_counter() - started:.0f} s; "
              f"test error {error(net, X_test, y_test):.2f}%   (paper: {PAPER['final']}%)")
        checkpoint(net, args.save, "up-down on all 60,000")
    if quick and mnist:
        history = net.finetune_history_
        per_rbm = [sum(record["seconds"] for record in rbm) / len(rbm) for rbm in net.pretrain_history_]
        seconds = {"greedy": sum(per_rbm), "updown_k3": history[-2]["seconds"], "updown_k10": history[-1]["seconds"]}
        estimate = estimate_full_run(seconds, len(X_train))
        print(f"epoch times on {len(X_train)} rows: greedy {seconds['greedy']:.2f} s (all RBMs), up-down "
              f"{seconds['updown_k3']:.2f} s (k=3), {seconds['updown_k10']:.2f} s (k=10)")
        print(f"estimated full run ({FULL['greedy_epochs']} + {FULL['updown_epochs']} + {FULL['extra_epochs']} epochs) "
              f"with {torch.get_num_threads()} torch thread(s) here: {estimate / 3600:.1f} hours")

    labels = np.repeat(np.arange(10), 10)
    samples = net.sample(labels, gibbs_steps=200, seed=args.seed).cpu().numpy()
    agreement = (net.predict(samples) == labels).mean()
    print(f"100 samples generated with clamped labels (200 Gibbs steps): {100 * agreement:.0f}% classified as "
          "their label by the network itself")
    if args.figure:
        save_figures(net, samples, args.figure, args.seed)


def checkpoint(net: UpDownDBN, path: str | None, stage: str) -> None:
    """Save ``net`` at ``path`` (atomically, replacing the previous stage's) when a path is given."""
    if path:
        net.save(path)
        print(f"network after the {stage} stage saved to {path}")


def save_figures(net: UpDownDBN, samples: np.ndarray, path: str, seed: int) -> None:
    """The generated digits at ``path``; beside it, one label-clamped chain per class shown every
    ``IN_MIND["steps_between"]`` Gibbs steps (``hinton2006_in_mind.png``)."""
    from dbn.plotting import plot_samples

    plot_samples(samples, path, columns=10, title="10 samples per clamped label (rows 0-9)")
    print(f"generated digits saved to {path}")
    started = time.perf_counter()
    sequences = net.sample_sequence(np.arange(10), seed=seed, **IN_MIND).cpu().numpy()
    in_mind = Path(path).with_name("hinton2006_in_mind.png")
    plot_samples(sequences.reshape(-1, sequences.shape[-1]), in_mind, columns=IN_MIND["n_images"],
                 title=f"one chain per clamped label (rows 0-9), an image every {IN_MIND['steps_between']} Gibbs steps")
    print(f"what the network has in mind ({IN_MIND['n_images']} images per label, "
          f"{time.perf_counter() - started:.0f} s) saved to {in_mind}")


if __name__ == "__main__":
    main()
