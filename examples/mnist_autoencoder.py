"""The deep autoencoder of Hinton & Salakhutdinov (2006): 784-1000-500-250-30, pretrained, unrolled.

Pretraining follows their code: four RBMs, the last with linear (Gaussian) code units, 50 epochs
each, minibatches of 100, learning rate 0.1 (0.001 for the linear layer), weight cost 2e-4,
momentum 0.5 then 0.9 after 5 epochs. The stack is unrolled into an encoder and a mirrored
decoder (untied) and fine-tuned on the cross-entropy of the reconstruction summed over the
pixels, on all training images for a fixed number of epochs (with Adam; they used conjugate
gradients). Reported: the test squared error per image, :math:`\\frac1N \\sum_n \\|x_n - \\hat x_n\\|^2`;
the paper gives 3.00 for the autoencoder and 13.87 for PCA with 30 components (computed here
too, with scikit-learn, on the same images).

Usage::

    python examples/mnist_autoencoder.py                # digits, 64-256-128-64-10 (about a minute)
    python examples/mnist_autoencoder.py --data mnist   # the paper's settings (18 minutes on 2 CPU cores)

MNIST files are read from ``--path``, ``$DBN_DATA/mnist`` or ``data/mnist``.
"""

import argparse
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from dbn.datasets import load
from dbn.stack import DeepBeliefNet

HIDDEN = {"mnist": [1000, 500, 250, 30], "digits": [256, 128, 64, 10]}
UNITS = ["bernoulli", "bernoulli", "bernoulli", "gaussian"]
PRETRAIN = {"batch_size": 100, "lr": [0.1, 0.1, 0.1, 0.001], "weight_decay": 2e-4}
FINETUNE = {"batch_size": 100, "optimizer": "adam", "lr": 1e-3}
EPOCHS = {"mnist": (50, 50), "digits": (20, 100)}  # (pretraining epochs per RBM, fine-tuning epochs)
PAPER_ERROR, PAPER_PCA_ERROR = 3.00, 13.87

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--path", default=None, help="directory of the MNIST IDX files")
parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs per RBM (paper: 50)")
parser.add_argument("--finetune-epochs", type=int, default=None, help="fine-tuning epochs")
parser.add_argument("--device", default="cpu")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

if args.data == "mnist":
    X_train, _ = load("mnist", path=args.path, split="train")
    X_test, _ = load("mnist", path=args.path, split="test")
else:
    X, y = load("digits")
    X_train, X_test = train_test_split(X, test_size=0.3, stratify=y, random_state=args.seed)
pretrain_epochs = args.epochs or EPOCHS[args.data][0]
finetune_epochs = args.finetune_epochs or EPOCHS[args.data][1]
layers = [X_train.shape[1], *HIDDEN[args.data]]
print(
    f"data: {args.data}, {len(X_train)} training / {len(X_test)} test "
    f"rows; autoencoder {'-'.join(map(str, layers))} (linear code)"
)
print(f"pretraining: {pretrain_epochs} epochs per RBM, {PRETRAIN}, momentum 0.5 -> 0.9 after epoch 5")
print(f"fine-tuning: {finetune_epochs} epochs, {FINETUNE}, all training rows, no early stopping")
if args.data == "mnist" and (pretrain_epochs, finetune_epochs) != EPOCHS["mnist"]:
    print(f"REDUCED RUN: the default settings are {EPOCHS['mnist']} epochs (pretraining per RBM, fine-tuning)")


def squared_error_per_image(reconstruction: np.ndarray) -> float:
    return float(((reconstruction - X_test) ** 2).sum(1).mean())


started = time.perf_counter()
net = DeepBeliefNet(layers, hidden=UNITS, **PRETRAIN).pretrain(
    X_train, epochs=pretrain_epochs, device=args.device, seed=args.seed
)
pretrained = time.perf_counter()
print(f"  after pretraining (mean-field up and down the stack): {squared_error_per_image(net.reconstruct(X_test)):.2f}")
net.finetune(
    X_train,
    task="autoencode",
    epochs=finetune_epochs,
    validation_fraction=0.0,
    device=args.device,
    seed=args.seed,
    **FINETUNE,
)
finished = time.perf_counter()
pca = PCA(n_components=layers[-1], random_state=args.seed).fit(X_train)
pca_error = squared_error_per_image(pca.inverse_transform(pca.transform(X_test)))

print(
    f"pretraining {pretrained - started:.0f} s, fine-tuning "
    f"{finished - pretrained:.0f} s, total {finished - started:.0f} s"
)
print(
    f"test squared error per image: autoencoder {squared_error_per_image(net.reconstruct(X_test)):.2f}, "
    f"PCA ({layers[-1]} components) {pca_error:.2f}   (paper, MNIST: {PAPER_ERROR} and {PAPER_PCA_ERROR})"
)
