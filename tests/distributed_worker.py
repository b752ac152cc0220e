"""One rank of the multi-process tests in ``test_distributed.py``: trains, then saves what it saw.

Run by the tests in two ways, both on CPU with gloo and 2 processes on 127.0.0.1:

- ``python -m torch.distributed.run --standalone --nproc_per_node=2 distributed_worker.py OUT torchrun``:
  dbn initialises the process group itself from torchrun's environment (the path a user script
  takes), then the RBM and pretraining scenarios run;
- ``python distributed_worker.py OUT filestore RANK WORLD_SIZE``: the test initialises the group
  itself, from a FileStore in ``OUT``, and dbn must use that group; the fine-tuning scenario runs.

Each rank writes ``OUT/<scenario>_rank<r>.pt``; the tests compare the ranks' files with each other
and with single-process runs.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from dbn import RBM, DeepBeliefNet, monitors
from dbn.datasets import load_digits
from dbn.distributed import get_rank, get_world_size
from dbn.units import BernoulliUnits

#: rows per rank in the one-step scenario
STEP_BATCH = 20


class MeanFieldBernoulli(BernoulliUnits):
    """Bernoulli units whose "sample" is the mean: a deterministic, mean-field CD chain.

    With these hidden units (and the default mean-field last visible step of CD) the negative
    phase of a row depends on that row and the parameters only, not on a random stream, so a
    step on 2 ranks of B rows and a step on 1 rank of the same 2B rows see the same samples.
    """

    def sample(self, z, generator=None, mean=None):  # noqa: ANN001, ANN201 - the signature of Units.sample
        return self.mean(z) if mean is None else mean


def step_rbm() -> RBM:
    """The starting point of the one-step scenario: fixed random parameters and data statistics."""
    generator = torch.Generator().manual_seed(0)
    rbm = RBM(16, 8, hidden=MeanFieldBernoulli())
    with torch.no_grad():
        rbm.weight.normal_(0, 0.3, generator=generator)
        rbm.visible_bias.normal_(0, 0.3, generator=generator)
        rbm.hidden_bias.normal_(0, 0.3, generator=generator)
    return rbm


def step_data() -> torch.Tensor:
    """The 2 x STEP_BATCH rows of the one-step scenario (grey levels in [0, 1])."""
    return torch.rand(2 * STEP_BATCH, 16, generator=torch.Generator().manual_seed(1))


def binary_digits(n_rows: int) -> np.ndarray:
    X, _ = load_digits()
    return (X[:n_rows] > 0.5).astype(np.float32)


def one_step(out: Path) -> None:
    """One CD update from fixed parameters: batch STEP_BATCH on each rank covers step_data() once."""
    rbm = step_rbm().fit(step_data(), epochs=1, batch_size=STEP_BATCH, lr=0.5, momentum=0.5, warm_start=True, seed=2)
    torch.save({"state": rbm.state_dict(), "steps": len(rbm.history_)}, out / f"step_rank{get_rank()}.pt")


def pretrain(out: Path) -> None:
    """Two RBMs, persistent CD in the first, a checkpoint after each (rank 0 only)."""
    net = DeepBeliefNet([64, 24, 12], epochs=2, batch_size=25, persistent=[True, False], n_chains=10)
    net.pretrain(binary_digits(400), checkpoint=out / f"dbn_rank{get_rank()}.pt", seed=0)
    torch.save(
        {"state": net.state_dict(), "chains": net.rbms[0].persistent_chains_}, out / f"pretrain_rank{get_rank()}.pt"
    )


def monitored_fit(out: Path) -> None:
    """An RBM whose monitors cover each rank's whole statistics shard (``X[rank::world_size]``)."""
    X = binary_digits(300)
    rbm = RBM(64, 16).fit(X, epochs=2, batch_size=25, monitor_size=10_000, X_val=binary_digits(360)[300:], seed=1)
    shard = torch.as_tensor(X[get_rank() :: get_world_size()])
    recon_mse, recon_kl = monitors.reconstruction_errors(rbm, shard)
    dead, saturated = monitors.hidden_activity(rbm, shard)
    local = {"recon_mse": recon_mse, "recon_kl": recon_kl, "dead_fraction": dead, "saturated_fraction": saturated}
    result = {
        "history": rbm.history_,
        "local": local,
        "data_mean": rbm.data_mean,
        "full_mean": torch.as_tensor(X).mean(0),
    }
    torch.save(result, out / f"monitors_rank{get_rank()}.pt")


def finetune(out: Path) -> None:
    """Pretrain, then fine-tune with a validation split and early stopping."""
    X, y = load_digits()
    net = DeepBeliefNet([64, 32], epochs=1, batch_size=50).pretrain(X[:600], seed=0)
    net.finetune(X[:600], y[:600], epochs=3, batch_size=50, validation_fraction=0.2, seed=0)
    state = {name: value.clone() for name, value in net.mlp_.state_dict().items()}
    torch.save({"state": state, "history": net.finetune_history_}, out / f"finetune_rank{get_rank()}.pt")


def main() -> None:
    out, mode = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    if mode == "filestore":
        rank, world_size = int(sys.argv[3]), int(sys.argv[4])
        dist.init_process_group(
            "gloo",
            init_method=f"file://{out / 'store'}",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=120),
        )
        finetune(out)
        dist.destroy_process_group()
    else:
        one_step(out)  # its fit joins torchrun's group: dbn initialises it from the environment
        assert dist.is_initialized() and get_world_size() == 2, "RBM.fit did not initialise torchrun's process group"
        pretrain(out)
        monitored_fit(out)


if __name__ == "__main__":
    main()
