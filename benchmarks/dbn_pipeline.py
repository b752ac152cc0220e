"""End-to-end time of the Hinton & Salakhutdinov (2006) MNIST pipeline: pretraining, fine-tuning, test.

The network and settings of ``examples/mnist_hinton2006.py``: a 784-500-500-2000 DBN pretrained
greedily (50 epochs per RBM, batch 100, learning rate 0.1, weight cost 2e-4, momentum 0.5 then
0.9), a 10-way softmax added, and the whole 784-500-500-2000-10 network fine-tuned by SGD with
momentum on all 60,000 training images; the test error is measured on the 10,000 test images.

Printed: the seconds of each phase, the samples per second of each RBM, the test error against
the paper's 1.2%, and the peak resident memory of the process after pretraining and at the end
(``ru_maxrss``: data loading, the three RBMs and their propagated inputs included).

Usage::

    python benchmarks/dbn_pipeline.py                        # CPU, float32
    python benchmarks/dbn_pipeline.py --device cuda          # one GPU, epochs replayed from CUDA graphs
    python benchmarks/dbn_pipeline.py --precision bfloat16   # bfloat16 products in pretraining

MNIST is read from ``--path``, ``$DBN_DATA/mnist`` or ``data/mnist``. ``--epochs`` and
``--finetune-epochs`` shorten a trial run (the result is then marked as reduced).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch

from dbn import DeepBeliefNet
from dbn.datasets import load
from dbn.precision import PRECISIONS

HIDDEN = [500, 500, 2000]
PRETRAIN = {"batch_size": 100, "lr": 0.1, "weight_decay": 2e-4}
FINETUNE = {"batch_size": 100, "lr": 0.1, "momentum": 0.9}
EPOCHS, FINETUNE_EPOCHS = 50, 30
PAPER_ERROR = 1.2


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (``ru_maxrss`` is in kB on Linux)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS, help="precision of pretraining")
    parser.add_argument("--path", default=None, help="directory of the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="pretraining epochs per RBM")
    parser.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)

    started = time.perf_counter()
    X_train, y_train = load("mnist", path=args.path, split="train")
    X_test, y_test = load("mnist", path=args.path, split="test")
    loaded = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    reduced = (args.epochs, args.finetune_epochs) != (EPOCHS, FINETUNE_EPOCHS)
    print(f"torch {torch.__version__} on {name}; precision {args.precision}")
    print(
        f"784-{'-'.join(map(str, HIDDEN))}-10, {args.epochs} epochs per RBM, {args.finetune_epochs} fine-tuning epochs"
        + ("  (REDUCED: not the paper's budget)" if reduced else "")
    )

    net = DeepBeliefNet([784, *HIDDEN], **PRETRAIN)
    net.pretrain(X_train, epochs=args.epochs, device=device, seed=args.seed, precision=args.precision, progress=False)
    pretrained = time.perf_counter()
    rss_pretraining = peak_rss_gb()
    for index, rbm in enumerate(net.rbms):
        seconds = sum(record["seconds"] for record in rbm.history_)
        print(
            f"  RBM {index + 1} {rbm.n_visible}-{rbm.n_hidden}: {seconds:7.1f} s of updates, "
            f"{len(X_train) * len(rbm.history_) / seconds:12,.0f} "
            f"samples/s, recon_mse {rbm.history_[-1]['recon_mse']:.4f}"
        )
    net.finetune(
        X_train,
        y_train,
        epochs=args.finetune_epochs,
        validation_fraction=0.0,
        device=device,
        seed=args.seed,
        progress=False,
        **FINETUNE,
    )
    finetuned = time.perf_counter()
    error = 100 * (1 - net.score(X_test, y_test))
    finished = time.perf_counter()

    print(
        f"loading {loaded - started:.1f} s, pretraining {pretrained - loaded:.1f} "
        f"s, fine-tuning {finetuned - pretrained:.1f} s, "
        f"test {finished - finetuned:.1f} s"
    )
    print(f"end to end: {finished - started:.1f} s = {(finished - started) / 60:.1f} min")
    print(f"test error: {error:.2f}%   (paper: {PAPER_ERROR}%)")
    print(f"peak resident memory: {rss_pretraining:.2f} GB after pretraining, {peak_rss_gb():.2f} GB at the end")


if __name__ == "__main__":
    main()
