"""Pretrain and fine-tune a deep belief net on one process or many: the same script under torchrun.

Nothing in it is specific to distributed training. Started by ``torchrun``, every process runs it;
``pretrain`` and ``finetune`` join torchrun's process group (dbn initialises it from the
environment: NCCL on GPUs, gloo on CPUs), each process trains on its shard of the rows, the
gradients are averaged across processes, and only rank 0 shows progress, writes the checkpoint
and prints. Each process holds the whole (small) data set and reads its shard of it.

Usage::

    python examples/distributed_pretrain.py                                    # one process
    torchrun --standalone --nproc_per_node=2 examples/distributed_pretrain.py  # 2 processes, this machine
    # 2 machines x 4 GPUs: run on each machine, HOST being the first one
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv-backend=c10d --rdzv-endpoint=HOST:29400 \\
        --rdzv-id=dbn-run examples/distributed_pretrain.py --data mnist --device cuda

With N processes each update sees N x ``--batch-size`` rows, so an epoch takes 1/N as many updates.
Interrupted pretraining resumes from ``--checkpoint`` when the script is started again.
"""

import argparse
import time
from pathlib import Path

from sklearn.model_selection import train_test_split

from dbn import DeepBeliefNet
from dbn.datasets import load
from dbn.distributed import get_world_size, is_rank_zero

HIDDEN = [256, 256]
PRETRAIN = {"lr": 0.1, "weight_decay": 2e-4}
FINETUNE = {"lr": 0.1, "momentum": 0.9}
EPOCHS = {"digits": (10, 50), "mnist": (10, 20)}  # (pretraining epochs per RBM, fine-tuning epochs)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--path", default=None, help="directory of the MNIST IDX files")
parser.add_argument("--batch-size", type=int, default=50, help="rows per process per update")
parser.add_argument("--device", default="cpu", help="cpu, cuda (one GPU per process: cuda:LOCAL_RANK) or auto")
parser.add_argument("--checkpoint", default="results/distributed_dbn.pt")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

if args.data == "mnist":
    X_train, y_train = load("mnist", path=args.path, split="train")
    X_test, y_test = load("mnist", path=args.path, split="test")
else:
    X, y = load("digits")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
pretrain_epochs, finetune_epochs = EPOCHS[args.data]
checkpoint = Path(args.checkpoint)

started = time.perf_counter()
net = (
    DeepBeliefNet.load(checkpoint)
    if checkpoint.exists()
    else DeepBeliefNet([X_train.shape[1], *HIDDEN], batch_size=args.batch_size, **PRETRAIN)
)
net.pretrain(X_train, epochs=pretrain_epochs, checkpoint=checkpoint, device=args.device, seed=args.seed)
pretrained = time.perf_counter()
net.finetune(
    X_train,
    y_train,
    epochs=finetune_epochs,
    batch_size=args.batch_size,
    validation_fraction=0.1,
    device=args.device,
    seed=args.seed,
    **FINETUNE,
)
finished = time.perf_counter()

if is_rank_zero():
    accuracy = net.score(X_test, y_test)
    print(f"{get_world_size()} process(es), {args.data}, network {'-'.join(map(str, net.layers))}-10")
    print(
        f"pretraining {pretrained - started:.1f} s, fine-tuning "
        f"{finished - pretrained:.1f} s, test accuracy {accuracy:.4f}"
    )
