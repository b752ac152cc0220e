"""Semi-supervised MNIST: pretraining on all 60,000 images, fine-tuning on 100 to 3000 labels.

The setting where RBM pretraining still beats a good random start: few labels, many images. For
each number of labels and each seed, a class-balanced labeled subset is drawn from the training
set; the rest of the training images are unlabeled. Three starts of the same 784-500-500-10
network, each fine-tuned on the labeled rows only:

- ``dbn``: sigmoid network from a :class:`~dbn.stack.DeepBeliefNet` pretrained on all 60,000
  training images (labels unused), ``DeepBeliefNet.pretrain(X_all)`` then
  ``finetune(X_labeled, y_labeled)``;
- ``xavier``: the sigmoid network from Xavier-uniform weights (Glorot & Bengio 2010);
- ``he``: the ReLU network from He-normal weights (He et al. 2015).

Same care for each: SGD with momentum 0.9, batch ``min(100, labels // 10)``, ``UPDATES``
updates (as many epochs as that takes), and the learning rate chosen from ``LRS`` by the accuracy
on a labeled validation set (``VALIDATION_ROWS`` training images outside the labeled subset, the
same for every start: the protocol of the published results, which choose hyper-parameters on a
validation set), per start, label count and seed. Test error on MNIST's official 10,000 test
images (used for nothing else), mean ± std over ``SEEDS`` seeds.

Usage (``--quick``: 2 seeds, 100 and 1000 labels, 3 pretraining epochs)::

    DBN_DATA=../shared/datasets python examples/mnist_semisupervised.py [--quick] [--threads 1]
"""

import argparse
import time

import numpy as np
import torch

from dbn.datasets import load
from dbn.init import init_
from dbn.stack import DeepBeliefNet
from dbn.stacked import build_mlp
from dbn.training import evaluate, train_network
from dbn.unroll import unrolled_mlp

HIDDEN = (500, 500)
LABELS = (100, 600, 1000, 3000)
SEEDS = 2
PRETRAIN = {"epochs": 10, "lr": 0.1, "batch_size": 100}
LRS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
UPDATES = 1000
VALIDATION_ROWS = 1000
STARTS = ("dbn", "xavier", "he")


def labeled_split(y: np.ndarray, n_labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n_labels`` class-balanced labeled rows and of ``VALIDATION_ROWS`` other rows."""
    rng = np.random.default_rng(seed)
    labeled = np.concatenate([rng.permutation(np.flatnonzero(y == c))[: n_labels // 10] for c in range(10)])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), labeled))
    return rng.permutation(labeled), rest[:VALIDATION_ROWS]


def start(name: str, pretrained: DeepBeliefNet, seed: int) -> torch.nn.Sequential:
    """The network to fine-tune: unrolled from the pretrained stack, or from a random scheme."""
    generator = torch.Generator().manual_seed(seed)
    if name == "dbn":
        return unrolled_mlp(pretrained.rbms, 10, generator=generator)
    activation, scheme = {"xavier": ("sigmoid", "xavier_uniform"), "he": ("relu", "he_normal")}[name]
    return init_(build_mlp(784, HIDDEN, 10, activation), scheme, generator=generator, activation=activation)


def error(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Classification error (%) of ``model`` on ``(X, y)``."""
    _, accuracy = evaluate(model, X, y, torch.nn.functional.cross_entropy, accuracy=True)
    return 100 * (1 - float(accuracy))


def fine_tuned(name: str, pretrained: DeepBeliefNet, data: dict, n_labels: int, seed: int) -> tuple[float, float]:
    """The test error (%) of the start fine-tuned at the rate of best validation accuracy, and that rate."""
    batch_size = min(100, n_labels // 10)
    epochs = -(-UPDATES * batch_size // n_labels)
    best = (np.inf, None, None)
    for lr in LRS:
        model = start(name, pretrained, seed)
        train_network(model, data["X"], data["y"], lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                      guard=False, progress=False)
        val_error = error(model, data["X_val"], data["y_val"])
        if val_error < best[0]:
            best = (val_error, lr, model)
    return error(best[2], data["X_test"], data["y_test"]), best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 100 and 1000 labels, 3 pretraining epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on 2 shared cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    labels, seeds, pretrain = (
        ((100, 1000), 2, {**PRETRAIN, "epochs": 3}) if args.quick else (LABELS, SEEDS, PRETRAIN)
    )
    X, y = load("mnist", split="train")
    X_test, y_test = load("mnist", split="test")
    X_test, y_test = torch.as_tensor(X_test), torch.as_tensor(y_test)
    started = time.perf_counter()
    errors: dict[tuple[str, int], list[float]] = {}
    for seed in range(seeds):
        pretrained = DeepBeliefNet([784, *HIDDEN], **pretrain).pretrain(X, seed=seed, progress=False)
        elapsed = time.perf_counter() - started
        print(f"seed {seed}: pretrained on {len(X)} unlabeled images after {elapsed:.0f} s", flush=True)
        for n_labels in labels:
            train, val = labeled_split(y, n_labels, seed)
            data = {"X": X[train], "y": y[train], "X_val": torch.as_tensor(X[val]), "y_val": torch.as_tensor(y[val]),
                    "X_test": X_test, "y_test": y_test}
            for name in STARTS:
                test_error, lr = fine_tuned(name, pretrained, data, n_labels, seed)
                errors.setdefault((name, n_labels), []).append(test_error)
                edge = " (at the grid's edge)" if lr in (LRS[0], LRS[-1]) else ""
                print(f"  {n_labels:5d} labels  {name:7s} lr {lr:<5g} test error {test_error:.2f} %{edge}", flush=True)
    print(f"\nTest error (%) on MNIST's 10,000 test images, mean ± std over {seeds} seeds; "
          f"{time.perf_counter() - started:.0f} s with {args.threads} thread(s)\n")
    print("| start | " + " | ".join(f"{n} labels" for n in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in STARTS:
        cells = [f"{np.mean(errors[name, n]):.2f} ± {np.std(errors[name, n]):.2f}" for n in labels]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
