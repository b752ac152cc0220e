"""Test log-probability of MNIST RBMs with 500 hidden units, after Salakhutdinov & Murray (2008).

Each contender trains a 784-500 RBM on the 60,000 training images, binarised by sampling every
pixel once with its grey level as the probability (seeded, the same images for all), and is
scored by annealed importance sampling: ``log Z`` from ``AIS_CHAINS`` forward chains over
``AIS_BETAS`` temperatures spaced as in the paper (``dbn.likelihood.ais``, with the standard error
of 10 independent batches of chains, the effective sample size and a half-temperature convergence
check), and an upper bound on ``log Z`` from reverse AIS started at test images after 1000 Gibbs
steps (``dbn.likelihood.log_partition_bounds``), which turns the estimate into an interval
``[lower, upper]`` of the test log-probability. The mean log-probability of the test images (all
10,000) and of 10,000 training images follows from ``log Z`` and their exact free energies.

Contenders (``CONTENDERS``): CD-1, CD-3 and CD-25, where the number of Gibbs steps of CD-T rises
linearly from 1 to T over the epochs, fixed within an epoch (Salakhutdinov & Murray raised the
number of steps of their CD-T models gradually; their exact schedule was not checked against the
paper here); persistent CD (Tieleman 2008) with ``n_chains=100`` fantasy particles; fast
persistent CD (Tieleman & Hinton 2009) with fast weights at twice the learning rate, decaying by
0.95 a step; parallel tempering (Desjardins et al. 2010) over 10 inverse temperatures evenly
spaced in [0, 1]; CD-1 and PCD with the centered gradient (Melchior, Fischer & Wiskott 2016); and, for
comparison, CD-1 with ``CDConfig()``'s own rate and momentum (0.1; 0.5, then 0.9 from epoch 6),
the recipe for features. All share ``COMMON`` where their own options do not override it:
batch 100, a constant learning rate of 0.01 without momentum, no weight decay, and ``EPOCHS``
epochs. :data:`dbn.config.DENSITY` is the recipe these runs chose.

``--dbn NAME`` then stacks a 500-2000 RBM on contender ``NAME``'s RBM (trained on its hidden
probabilities with the same settings, one Gibbs step) and reports the variational lower bound on the test
log-probability of the two-layer DBN (``dbn.likelihood.dbn_log_likelihood_bound``, 10 samples of
the first layer's posterior per image, ``log Z`` of the top RBM by the same AIS), the model of
the paper's DBN row.

Published numbers, Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief
networks", ICML, Table 2 (test log-probabilities of MNIST RBMs with 500 hidden units):
CD1(500) -125.53, CD3(500) -105.50, CD25(500) -86.34 nats; and the lower bound of their
two-layer DBN (500 and 2000 hidden units), -86.22 (CD1's and CD25's checked against secondary
sources that quote them, not against the paper's text).

Usage (``--quick``: 10,000 training images, 3 epochs, CD-25 ramped to 5 steps, 1000 temperatures)::

    DBN_DATA=../shared/datasets python examples/mnist_likelihood.py [--quick] [--only CD-1 PCD] [--threads 2]
"""

import argparse
import time
import warnings

import torch

from dbn import RBM
from dbn.config import hinton_momentum
from dbn.datasets import load
from dbn.likelihood import ais, dbn_log_likelihood_bound, log_partition_bounds

EPOCHS = 20
COMMON = {"batch_size": 100, "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0}
CONTENDERS = {  # name -> (final number of Gibbs steps, options of RBM.fit)
    "CD-1": (1, {}),
    "CD-3": (3, {}),
    "CD-25": (25, {}),
    "PCD": (1, {"persistent": True, "n_chains": 100}),
    "FPCD": (1, {"persistent": True, "n_chains": 100, "fast_weights": True, "fast_lr": 0.02}),
    "PT": (1, {"persistent": True, "n_chains": 100, "tempering": 10}),
    "centered": (1, {"centering": True}),
    "centered-PCD": (1, {"centering": True, "persistent": True, "n_chains": 100}),
    "defaults": (1, {"lr": 0.1, "momentum": hinton_momentum}),  # CDConfig()'s feature recipe
}
PUBLISHED = {"CD-1": -125.53, "CD-3": -105.50, "CD-25": -86.34, "DBN": -86.22}
AIS_CHAINS, AIS_BETAS = 100, 14500
QUICK = {"rows": 10_000, "epochs": 3, "max_k": 5, "betas": 1000}


def gibbs_schedule(final_k: int, epochs: int) -> list[int]:
    """Gibbs steps of each epoch: rising linearly from 1 to ``final_k`` (constant for ``final_k=1``)."""
    if epochs == 1:
        return [final_k]
    return [1 + round((final_k - 1) * epoch / (epochs - 1)) for epoch in range(epochs)]


def train(name: str, X: torch.Tensor, epochs: int, max_k: int | None, seed: int) -> tuple[RBM, list[int]]:
    """The contender ``name`` trained on ``X``: one ``fit`` per run of epochs with the same k."""
    final_k, options = CONTENDERS[name]
    schedule = gibbs_schedule(min(final_k, max_k or final_k), epochs)
    rbm = RBM(784, 500)
    done = 0
    while done < epochs:
        k = schedule[done]
        run = next((i for i in range(done, epochs) if schedule[i] != k), epochs) - done
        rbm.fit(X, epochs=run, k=k, seed=seed + done, warm_start=done > 0, progress=False, **{**COMMON, **options})
        done += run
    return rbm, schedule


def scored(rbm: RBM, X_train: torch.Tensor, X_test: torch.Tensor, betas: int, seed: int) -> dict:
    """Forward AIS, reverse-AIS interval and the mean log-probabilities of test and training rows."""
    generator = torch.Generator().manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ais(rbm, n_chains=AIS_CHAINS, n_betas=betas, generator=generator)
        lower_z, upper_z = log_partition_bounds(rbm, X_test, n_chains=AIS_CHAINS, n_betas=betas, generator=generator,
                                                check_convergence=False)
    with torch.no_grad():
        test_f = -float(rbm.free_energy(X_test).double().mean())
        train_f = -float(rbm.free_energy(X_train[:10_000]).double().mean())
    return {"log_z": result.log_z, "se": result.std_error, "ess": result.ess, "converged": result.converged,
            "test": test_f - result.log_z, "train": train_f - result.log_z,
            "interval": (test_f - upper_z, test_f - lower_z), "warnings": [str(w.message) for w in caught]}


def dbn_bound(name: str, first: RBM, X_train: torch.Tensor, X_test: torch.Tensor, epochs: int, betas: int,
              seed: int) -> dict:
    """The test lower bound of the DBN of ``first`` and a 500-2000 RBM trained on its hidden
    probabilities with contender ``name``'s options (one Gibbs step)."""
    started = time.perf_counter()
    with torch.no_grad():
        hidden = first.transform(X_train)
    options = {**COMMON, **CONTENDERS[name][1]}
    top = RBM(first.n_hidden, 2000).fit(hidden, epochs=epochs, seed=seed, progress=False, **options)
    generator = torch.Generator().manual_seed(seed)
    bound, error = dbn_log_likelihood_bound([first, top], X_test, n_samples=10, return_error=True,
                                            n_chains=AIS_CHAINS, n_betas=betas, generator=generator)
    return {"bound": bound, "error": error, "seconds": time.perf_counter() - started}


def report(rows: dict, betas: int) -> None:
    print(f"\nAIS: {AIS_CHAINS} chains x {betas} temperatures (forward, 10 batches), reverse from test images; nats")
    print(f"{'model':>8} {'epochs k':>10} {'log Z':>16} {'ESS':>5} {'test':>8} {'test interval':>18} "
          f"{'train':>8} {'published test':>15} {'time':>7}")
    for name, row in rows.items():
        s = row["score"]
        low, high = s["interval"]
        published = f"{PUBLISHED[name]:.2f}" if name in PUBLISHED else "-"
        print(f"{name:>8} {row['k']:>10} {s['log_z']:9.2f} ± {s['se']:4.2f} {s['ess']:5.0f} {s['test']:8.2f} "
              f"[{low:7.2f}, {high:7.2f}] {s['train']:8.2f} {published:>15} "
              f"{row['seconds']:6.0f}s{'' if s['converged'] else '  (AIS not converged)'}")
        for message in s["warnings"]:
            print(f"       warning: {message[:140]}")
    print("published: Salakhutdinov & Murray (2008), Table 2, test log-probability of 500-hidden-unit RBMs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_help = "a short run: " + ", ".join(f"{key}={value}" for key, value in QUICK.items())
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--only", nargs="+", choices=list(CONTENDERS), default=list(CONTENDERS))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dbn", choices=list(CONTENDERS), default=None,
                        help="stack a 500-2000 RBM on this contender's RBM and bound the DBN's test log-probability")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = QUICK if args.quick else {}
    X_train = torch.from_numpy(load("mnist", split="train", binarize="stochastic", random_state=args.seed)[0])
    X_test = torch.from_numpy(load("mnist", split="test", binarize="stochastic", random_state=args.seed + 1)[0])
    X_train = X_train[: quick.get("rows", len(X_train))]
    epochs = args.epochs or quick.get("epochs", EPOCHS)
    betas = quick.get("betas", AIS_BETAS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(X_train)} training images, "
          f"{epochs} epochs, fit settings {COMMON}")
    if args.dbn is not None and args.dbn not in args.only:
        parser.error(f"--dbn {args.dbn} needs {args.dbn} among the contenders (--only)")
    rows, models = {}, {}
    for name in args.only:
        started = time.perf_counter()
        rbm, schedule = train(name, X_train, epochs, quick.get("max_k"), args.seed)
        models[name] = rbm
        score = scored(rbm, X_train, X_test, betas, args.seed)
        k = f"{schedule[0]}" if len(set(schedule)) == 1 else f"{schedule[0]}->{schedule[-1]}"
        rows[name] = {"score": score, "k": f"{epochs} {k}", "seconds": time.perf_counter() - started}
        print(f"{name}: test {score['test']:.2f} nats, {rows[name]['seconds']:.0f} s", flush=True)
    report(rows, betas)
    if args.dbn is not None:
        found = dbn_bound(args.dbn, models[args.dbn], X_train, X_test, epochs, betas, args.seed)
        print(f"\nDBN {args.dbn} RBM + 500-2000 RBM ({epochs} epochs): test lower bound {found['bound']:.2f} "
              f"± {found['error']:.2f} nats, {found['seconds']:.0f} s (published: {PUBLISHED['DBN']:.2f})")


if __name__ == "__main__":
    main()
