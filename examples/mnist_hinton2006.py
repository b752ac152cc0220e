"""The MNIST classifier of Hinton & Salakhutdinov (2006): a pretrained 784-500-500-2000 DBN, fine-tuned.

Greedy pretraining follows their code: 50 epochs per RBM, minibatches of 100, learning rate 0.1,
weight cost 2e-4 on the weights, momentum 0.5 for 5 epochs then 0.9 (``dbn.hinton_momentum``,
RBM.fit's default), mean-field activities passed upward, grey levels used as probabilities. A
10-way softmax layer is then added and the whole 784-500-500-2000-10 network is trained by
backpropagation on all 60,000 training images for a fixed number of epochs (SGD with momentum;
they used conjugate gradients). The paper reports 1.2% test error, and 1.6% for the same network
trained by backpropagation from a random initialisation. ``--baseline`` trains ours that way
(Xavier-uniform weights, zero biases) with the same budget, through the package's comparison
(:func:`dbn.compare.compare_inits`, the same training loop): since a deep sigmoid network from
random weights needs its own rate, every rate of ``BASELINE_RATES`` is first trained with the
full budget on 90% of the training rows and the one with the best accuracy on the other 10%
(stratified) is kept, the rule of every comparison in the package
(:func:`dbn.compare.select_learning_rates`); the network is then retrained at that rate on all
training rows. ``--baseline-only`` skips the pretrained network.

Usage::

    python examples/mnist_hinton2006.py                # digits: 20 + 100 epochs (about 40 s of CPU)
    python examples/mnist_hinton2006.py --data mnist   # the paper's settings (16-17 minutes on 2 CPU cores)
    python examples/mnist_hinton2006.py --data mnist --baseline-only   # the Xavier baseline (tens of minutes)

MNIST files are read from ``--path``, ``$DBN_DATA/mnist`` or ``data/mnist``.
"""

import argparse
import time

from sklearn.model_selection import train_test_split

from dbn.compare import compare_inits
from dbn.datasets import load
from dbn.stack import DeepBeliefNet

HIDDEN = [500, 500, 2000]
PRETRAIN = {"batch_size": 100, "lr": 0.1, "weight_decay": 2e-4}
FINETUNE = {"batch_size": 100, "lr": 0.1, "momentum": 0.9}
EPOCHS = {"mnist": (50, 30), "digits": (20, 100)}  # (pretraining epochs per RBM, fine-tuning epochs)
PAPER_ERROR, PAPER_ERROR_NO_PRETRAINING = 1.2, 1.6
BASELINE_RATES = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
BASELINE_MONITOR_ROWS = 2000  # training rows on which the baseline's training loss is measured every epoch
# On a CPU the six rates train one after another (the same numbers, to rounding): at these widths a
# stacked batch of them is slower there; on a GPU they train together as one batch.

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--path", default=None, help="directory of the MNIST IDX files")
parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs per RBM (paper: 50)")
parser.add_argument("--finetune-epochs", type=int, default=None, help="fine-tuning epochs")
parser.add_argument("--baseline", action="store_true", help="also train the network from a Xavier initialisation")
parser.add_argument("--baseline-only", action="store_true", help="train only the Xavier-initialised network")
parser.add_argument("--device", default="cpu")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

if args.data == "mnist":
    X_train, y_train = load("mnist", path=args.path, split="train")
    X_test, y_test = load("mnist", path=args.path, split="test")
else:
    X, y = load("digits")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
pretrain_epochs = args.epochs or EPOCHS[args.data][0]
finetune_epochs = args.finetune_epochs or EPOCHS[args.data][1]
reduced = args.data == "mnist" and (pretrain_epochs, finetune_epochs) != EPOCHS["mnist"]
layers = [X_train.shape[1], *HIDDEN]
print(f"data: {args.data}, {len(X_train)} training / {len(X_test)} test rows; network {'-'.join(map(str, layers))}-10")
print(f"pretraining: {pretrain_epochs} epochs per RBM, {PRETRAIN}, momentum 0.5 -> 0.9 after epoch 5")
print(f"fine-tuning: {finetune_epochs} epochs, SGD {FINETUNE}, all training rows, no early stopping")
if reduced:
    print(f"REDUCED RUN: the paper's settings are {EPOCHS['mnist'][0]} pretraining epochs per RBM; compare with care")

if not args.baseline_only:
    started = time.perf_counter()
    net = DeepBeliefNet(layers, **PRETRAIN)
    net.pretrain(X_train, epochs=pretrain_epochs, device=args.device, seed=args.seed)
    pretrained = time.perf_counter()
    for index, rbm in enumerate(net.rbms):
        last = rbm.history_[-1]
        print(f"  RBM {index + 1} ({rbm.n_visible}-{rbm.n_hidden}): recon_mse {last['recon_mse']:.4f} "
              f"after {last['epoch']} epochs")
    net.finetune(X_train, y_train, epochs=finetune_epochs, validation_fraction=0.0, device=args.device, seed=args.seed,
                 **FINETUNE)
    finished = time.perf_counter()
    error = 100 * (1 - net.score(X_test, y_test))
    print(f"pretraining {pretrained - started:.0f} s, fine-tuning {finished - pretrained:.0f} s, "
          f"total {finished - started:.0f} s")
    print(f"test error: {error:.2f}%   (paper, MNIST: {PAPER_ERROR}%)")

if args.baseline or args.baseline_only:
    started = time.perf_counter()
    records = compare_inits(X_train, y_train, X_test=X_test, y_test=y_test, hidden=HIDDEN, activation="sigmoid",
                            schemes=["xavier_uniform"], seeds=[args.seed], epochs=finetune_epochs,
                            batch_size=FINETUNE["batch_size"], momentum=FINETUNE["momentum"], lrs=BASELINE_RATES,
                            validation_fraction=0.1, search_seeds=1, monitor_rows=BASELINE_MONITOR_ROWS,
                            data_seed=args.seed, device=args.device, batched=args.device != "cpu")
    for search in (r for r in records if r["stage"] == "search"):
        print(f"  Xavier baseline, lr {search['lr']}: validation accuracy {search['val_accuracy']:.4f}, "
              f"loss {search['val_loss']:.4f}")
    final = next(r for r in records if r["selected"])
    edge = " (at the grid's edge)" if final["lr_at_edge"] else ""
    print(f"without pretraining (Xavier, lr {final['lr']}{edge} chosen from {BASELINE_RATES}): test error "
          f"{100 * (1 - final['test_accuracy']):.2f}% in {time.perf_counter() - started:.0f} s   "
          f"(paper: {PAPER_ERROR_NO_PRETRAINING}%)")
