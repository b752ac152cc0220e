"""Forward AIS of a saved binary RBM over each of its layers, for several seeds.

Both anneals are stochastic lower bounds on the same ``log Z`` (the hidden-layer one runs on the
RBM transposed, :func:`dbn.prior.transposed`, from a base rate of the hidden units' mean on the
MNIST training images), so their spread across seeds and layers shows how far one estimate's
error bar can be trusted. Prints ``log Z``, its standard error, the effective sample size, the
half-temperature estimate and the mean test log-probability each implies.

Usage::

    DBN_DATA=../shared/datasets python benchmarks/ais_layers.py results/likelihood/e100/FPCD.pt [--seeds 2]
"""

import argparse
import time
import warnings

import torch

from dbn import RBM
from dbn.datasets import load
from dbn.likelihood import ais
from dbn.prior import transposed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an RBM saved by RBM.save (784 binary visible units)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--betas", type=int, default=14500)
    args = parser.parse_args()
    rbm = RBM.load(args.model)
    X_train = torch.from_numpy(load("mnist", split="train", binarize="stochastic", random_state=0)[0])
    X_test = torch.from_numpy(load("mnist", split="test", binarize="stochastic", random_state=1)[0])
    layers = {"visible": rbm, "hidden": transposed(rbm, data_mean=rbm.transform(X_train).mean(0))}
    with torch.no_grad():
        test_f = -float(rbm.free_energy(X_test).double().mean())
    print(f"{args.model}: {args.chains} chains x {args.betas} temperatures, torch {torch.get_num_threads()} threads")
    for seed in range(args.seeds):
        for layer, model in layers.items():
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                generator = torch.Generator().manual_seed(seed)
                result = ais(model, n_chains=args.chains, n_betas=args.betas, generator=generator)
            print(f"seed {seed}, over the {layer:7} layer: log Z {result.log_z:.2f} ± {result.std_error:.2f}, "
                  f"ESS {result.ess:.1f}, half the temperatures {result.log_z_half:.2f}, converged {result.converged}, "
                  f"test {test_f - result.log_z:.2f} nats ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
