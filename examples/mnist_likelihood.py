"""Test log-probability of MNIST RBMs with 500 hidden units, after Salakhutdinov & Murray (2008).

Each contender trains a 784-500 RBM on the 60,000 training images, binarised by sampling every
pixel once with its grey level as the probability (seeded, the same images for all), and is
scored by annealed importance sampling: ``log Z`` from ``AIS_CHAINS`` forward chains over
``AIS_BETAS`` temperatures spaced as in the paper (``dbn.likelihood.ais``, with the standard error
of 10 independent batches of chains, the effective sample size and a half-temperature convergence
check), once over the visible layer as in the paper and once over the hidden layer (the same RBM
transposed, ``dbn.prior.transposed``, from a base rate of the hidden units' mean on the training
images): both are stochastic lower bounds on the same ``log Z``, so the higher is used and a
disagreement beyond 3 combined errors is flagged; and an upper bound on ``log Z`` from reverse
AIS started at test images after 1000 Gibbs steps (``dbn.likelihood.log_partition_bounds``),
which turns the estimate into an interval
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

``CD-25-anneal`` (not run by default: about an hour on one core) trains CD-25 as the training
program distributed with Salakhutdinov's AIS code does with its ``anneal_lr`` switch
(:func:`dbn.recipes.fit_annealed_cd`): T = ceil(epoch / 10) Gibbs steps over 250 epochs, at a rate
of 0.05 / T, momentum 0.5 then 0.9, weight cost 2e-4, sampled visible states in the negative
phase, and each image binarised afresh at every epoch from its grey levels. ``--train-on grey``
trains the other contenders on the grey levels as probabilities instead of the fixed sampled
images (tried on fast PCD and CD-25, 20 epochs, AIS over the visible layer: -104.72 and -100.06,
no better);
``--set NAME=VALUE`` and ``--final-lr`` change the shared settings and let the rate fall
geometrically.

``--dbn NAME`` then stacks a 500-2000 RBM on contender ``NAME``'s RBM and reports the variational
lower bound on the test log-probability of the two-layer DBN (``dbn.likelihood.dbn_log_likelihood_bound``,
10 samples of the first layer's posterior per image, ``log Z`` of the top RBM by the same AIS),
the model of the paper's DBN row. The top RBM starts as the first one's prior
(:func:`dbn.prior.start_as_prior`; ``--dbn-start random`` for random weights), so that the DBN
starts with exactly the first RBM's likelihood (the bound of the untrained start is printed too),
and trains with the options of contender ``--top NAME:RATE`` at that rate (default ``PCD:0.001``,
its chains started at posterior samples; several give one top RBM each, from the same start) for
``--top-epochs`` epochs on fresh samples of the first RBM's posterior every epoch.

Published numbers, Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief
networks", ICML, Table 2 (test log-probabilities of MNIST RBMs with 500 hidden units):
CD1(500) -125.53, CD3(500) -105.50, CD25(500) -86.34 nats; and the lower bound of their
two-layer DBN (500 and 2000 hidden units), -86.22 (CD1's and CD25's checked against secondary
sources that quote them, not against the paper's text).

Usage (``--quick``: 10,000 training images, 3 epochs, CD-25 ramped to 5 steps, the anneal to 5 steps
of one epoch each, 1000 temperatures)::

    DBN_DATA=../shared/datasets python examples/mnist_likelihood.py [--quick] [--only CD-1 PCD] [--threads 2]
"""

import argparse
import ast
import hashlib
import json
import math
import time
import warnings
from pathlib import Path

import torch

from dbn import RBM
from dbn.config import hinton_momentum
from dbn.datasets import load
from dbn.likelihood import AISResult, ais, dbn_log_likelihood_bound, log_partition_bounds
from dbn.prior import start_as_prior, transposed
from dbn.recipes import anneal_schedule, fit_annealed_cd

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
#: CD-T as the training program distributed with Salakhutdinov's AIS code runs it (``rbm.m`` with
#: ``anneal_lr = 1``): :func:`dbn.recipes.fit_annealed_cd` with these options
ANNEALED = {"CD-25-anneal": {"final_k": 25, "epochs_per_step": 10}}
PUBLISHED = {"CD-1": -125.53, "CD-3": -105.50, "CD-25": -86.34, "CD-25-anneal": -86.34, "DBN": -86.22}
AIS_CHAINS, AIS_BETAS = 100, 14500
QUICK = {"rows": 10_000, "epochs": 3, "max_k": 5, "every": 1, "betas": 1000}


def gibbs_schedule(final_k: int, epochs: int) -> list[int]:
    """Gibbs steps of each epoch: rising linearly from 1 to ``final_k`` (constant for ``final_k=1``)."""
    if epochs == 1:
        return [final_k]
    return [1 + round((final_k - 1) * epoch / (epochs - 1)) for epoch in range(epochs)]


def rate_schedule(lr: float, final_lr: float | None, epochs: int) -> list[float]:
    """Learning rate of each epoch: constant ``lr``, or falling geometrically from ``lr`` to ``final_lr``."""
    if final_lr is None or epochs == 1:
        return [lr] * epochs
    return [lr * (final_lr / lr) ** (epoch / (epochs - 1)) for epoch in range(epochs)]


def train(name: str, X: torch.Tensor, epochs: int, max_k: int | None, seed: int, settings: dict,
          final_lr: float | None = None) -> tuple[RBM, list[int]]:
    """The contender ``name`` trained on ``X``: one ``fit`` per run of epochs with the same k and rate."""
    final_k, options = CONTENDERS[name]
    options = {**settings, **options}
    schedule = gibbs_schedule(min(final_k, max_k or final_k), epochs)
    rates = rate_schedule(options.pop("lr"), final_lr, epochs)
    steps = list(zip(schedule, rates, strict=True))
    rbm = RBM(784, 500)
    done = 0
    while done < epochs:
        k, lr = steps[done]
        run = next((i for i in range(done, epochs) if steps[i] != steps[done]), epochs) - done
        rbm.fit(X, epochs=run, k=k, lr=lr, seed=seed + done, warm_start=done > 0, progress=False, **options)
        done += run
    return rbm, schedule


def train_annealed(name: str, X_grey: torch.Tensor, max_k: int | None, every: int | None,
                   seed: int) -> tuple[RBM, list[int]]:
    """The contender ``name`` of :data:`ANNEALED` trained on the grey levels ``X_grey``, binarised
    afresh every epoch (with at most ``max_k`` steps and ``every`` epochs per step, if given)."""
    spec = ANNEALED[name]
    final_k, every = min(spec["final_k"], max_k or spec["final_k"]), every or spec["epochs_per_step"]
    rbm = fit_annealed_cd(RBM(784, 500), X_grey, final_k=final_k, epochs_per_step=every, seed=seed)
    return rbm, anneal_schedule(final_k, every)


def scored(rbm: RBM, X_train: torch.Tensor, X_test: torch.Tensor, betas: int, seed: int) -> dict:
    """Forward AIS over each layer (the higher estimate is used), the reverse-AIS interval, and the
    mean log-probabilities of test and training rows."""
    generator = torch.Generator().manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        over_v, over_h = anneals_over_both_layers(rbm, X_train, betas, generator)
        lower_z, upper_z = log_partition_bounds(rbm, X_test, n_chains=AIS_CHAINS, n_betas=betas, generator=generator,
                                                check_convergence=False)
    best = max(over_v, over_h, key=lambda result: result.log_z)
    with torch.no_grad():
        test_f = -float(rbm.free_energy(X_test).double().mean())
        train_f = -float(rbm.free_energy(X_train[:10_000]).double().mean())
    gap = over_h.log_z - over_v.log_z
    return {"log_z": best.log_z, "se": best.std_error, "ess": best.ess, "converged": best.converged,
            "over_v": over_v.log_z, "over_h": over_h.log_z,
            "disagree": abs(gap) > 3 * math.hypot(over_v.std_error, over_h.std_error),
            "test": test_f - best.log_z, "train": train_f - best.log_z,
            "interval": (test_f - upper_z, test_f - max(lower_z, best.log_z)),
            "warnings": [str(w.message) for w in caught]}


def top_options(name: str, lr: float) -> dict:
    """``RBM.fit`` options of a top RBM trained like contender ``name`` (its final number of Gibbs
    steps, ``COMMON`` otherwise) at rate ``lr``."""
    final_k, options = CONTENDERS[name]
    return {**COMMON, "k": final_k, **options, "lr": lr}


def top_start(first: RBM, X_train: torch.Tensor, options: dict, start: str, generator: torch.Generator) -> RBM:
    """An untrained 500-2000 RBM over ``first``'s hidden layer: random, or (``start="prior"``) ``first``'s
    prior (:mod:`dbn.prior`) with persistent chains, if ``options`` use them, at posterior samples."""
    top = RBM(first.n_hidden, 2000)
    if start == "prior":
        n_chains = options.get("n_chains") or options["batch_size"]
        rows = X_train[torch.randperm(len(X_train), generator=generator)[:n_chains]]
        chains = first.sample_hidden(rows, generator=generator) if options.get("persistent") else None
        start_as_prior(top, first, data_mean=first.transform(X_train).mean(0), chains=chains, generator=generator)
    return top


def train_top(top: RBM, first: RBM, X_train: torch.Tensor, epochs: int, options: dict, start: str,
              generator: torch.Generator, seed: int) -> RBM:
    """``top`` trained with ``options`` on fresh samples of ``first``'s posterior every epoch (one
    ``fit`` per epoch, so momentum buffers restart each epoch)."""
    for epoch in range(epochs):
        hidden = first.sample_hidden(X_train, generator=generator)
        top.fit(hidden, epochs=1, seed=seed + epoch, warm_start=start == "prior" or epoch > 0, progress=False,
                **options)
    return top


def anneals_over_both_layers(rbm: RBM, data: torch.Tensor, betas: int,
                             generator: torch.Generator) -> tuple[AISResult, AISResult]:
    """Forward AIS over ``rbm``'s visible layer, then over its hidden one (``data``: rows of its
    training data, for the hidden units' base rate)."""
    over_v = ais(rbm, n_chains=AIS_CHAINS, n_betas=betas, generator=generator)
    flipped = transposed(rbm, data_mean=rbm.transform(data).mean(0))
    return over_v, ais(flipped, n_chains=AIS_CHAINS, n_betas=betas, generator=generator)


def best_log_partition(rbm: RBM, data: torch.Tensor, betas: int, generator: torch.Generator) -> AISResult:
    """The higher of the two anneals of :func:`anneals_over_both_layers` (their warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return max(anneals_over_both_layers(rbm, data, betas, generator), key=lambda result: result.log_z)


def dbn_bound(first: RBM, top: RBM, X_train: torch.Tensor, X_test: torch.Tensor, betas: int,
              seed: int) -> tuple[float, float]:
    """The DBN's test lower bound and its error: 10 posterior samples per image, ``log Z`` of the top
    by the higher of AIS over each of its layers."""
    generator = torch.Generator().manual_seed(seed)
    posterior = first.sample_hidden(X_train[:10_000], generator=generator)
    top_z = best_log_partition(top, posterior, betas, generator)
    return dbn_log_likelihood_bound([first, top], X_test, n_samples=10, return_error=True, generator=generator,
                                    log_z=(top_z.log_z, top_z.std_error))


def report(rows: dict, betas: int) -> None:
    print(f"\nAIS: {AIS_CHAINS} chains x {betas} temperatures (forward over each layer, 10 batches; the higher "
          "is used), reverse from test images; nats")
    print(f"{'model':>8} {'epochs k':>10} {'log Z':>16} {'ESS':>5} {'over v':>8} {'over h':>8} {'test':>8} "
          f"{'test interval':>18} {'train':>8} {'published test':>15} {'time':>7}")
    for name, row in rows.items():
        s = row["score"]
        low, high = s["interval"]
        published = f"{PUBLISHED[name]:.2f}" if name in PUBLISHED else "-"
        flags = ("" if s["converged"] else "  (AIS not converged)") + ("  (layers disagree)" if s["disagree"] else "")
        print(f"{name:>8} {row['k']:>10} {s['log_z']:9.2f} ± {s['se']:4.2f} {s['ess']:5.0f} {s['over_v']:8.2f} "
              f"{s['over_h']:8.2f} {s['test']:8.2f} [{low:7.2f}, {high:7.2f}] {s['train']:8.2f} {published:>15} "
              f"{row['seconds']:6.0f}s{flags}")
        for message in s["warnings"]:
            print(f"       warning: {message[:140]}")
    print("published: Salakhutdinov & Murray (2008), Table 2, test log-probability of 500-hidden-unit RBMs")


def model_path(args: argparse.Namespace, name: str, epochs: int, settings: dict) -> Path | None:
    """Where ``--models`` keeps contender ``name``'s RBM: named by the contender and a digest of
    every setting that shapes its training, so that no other run's model is taken for it."""
    if args.models is None:
        return None
    shaping = {"quick": args.quick, "seed": args.seed}
    if name not in ANNEALED:
        shaping |= {"epochs": epochs, "settings": settings, "train_on": args.train_on, "final_lr": args.final_lr}
    digest = hashlib.sha1(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Path(args.models) / f"{name}-{digest}.pt"


def trained_or_loaded(name: str, args: argparse.Namespace, X_fit: torch.Tensor, X_grey: torch.Tensor, epochs: int,
                      settings: dict) -> tuple[RBM, str]:
    """Contender ``name``'s RBM, from ``--models`` when it holds one, and its epochs and Gibbs steps."""
    quick, saved = QUICK if args.quick else {}, model_path(args, name, epochs, settings)
    if saved is not None and saved.exists():
        rbm = RBM.load(saved)
        print(f"{name}: loaded from {saved}")
        return rbm, f"{len(rbm.history_)} loaded"
    if name in ANNEALED:
        rbm, schedule = train_annealed(name, X_grey, quick.get("max_k"), quick.get("every"), args.seed)
    else:
        rbm, schedule = train(name, X_fit, epochs, quick.get("max_k"), args.seed, settings, args.final_lr)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        rbm.save(saved)
    k = f"{schedule[0]}" if len(set(schedule)) == 1 else f"{schedule[0]}->{schedule[-1]}"
    return rbm, f"{len(schedule)} {k}"


def parse_settings(parser: argparse.ArgumentParser, pairs: list[str]) -> dict:
    """``NAME=VALUE`` pairs as fit settings (values read as Python literals)."""
    settings = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in COMMON or not value:
            parser.error(f"--set takes NAME=VALUE with NAME one of {list(COMMON)}, got {pair!r}")
        try:
            settings[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parser.error(f"--set {name} takes a Python number or literal, got {value!r}")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_help = "a short run: " + ", ".join(f"{key}={value}" for key, value in QUICK.items())
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--only", nargs="+", choices=[*CONTENDERS, *ANNEALED], default=list(CONTENDERS))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dbn", choices=[*CONTENDERS, *ANNEALED], default=None,
                        help="stack a 500-2000 RBM on this contender's RBM and bound the DBN's test log-probability")
    parser.add_argument("--top", nargs="+", default=["PCD:0.001"], metavar="NAME:RATE",
                        help="how --dbn trains its 500-2000 RBM: a contender's options at a rate; several "
                             "train one top RBM each from the same start")
    parser.add_argument("--top-epochs", type=int, default=None, help="epochs of --dbn's top RBM (default --epochs)")
    parser.add_argument("--dbn-start", choices=["prior", "random"], default="prior",
                        help="start the top RBM as the first RBM's prior (default) or from random weights")
    parser.add_argument("--models", default=None, metavar="DIR",
                        help="save each trained RBM there as NAME.pt, and load it from there instead of training")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="override a shared fit setting, e.g. --set momentum=0.9 weight_decay=2e-4 (a "
                             "contender's own options still win; CD-25-anneal keeps its schedule)")
    parser.add_argument("--final-lr", type=float, default=None,
                        help="let the rate fall geometrically, epoch by epoch, to this value")
    parser.add_argument("--train-on", choices=["samples", "grey"], default="samples",
                        help="train on the images binarised by sampling (default) or on their grey levels as "
                             "probabilities; tests are always on sampled images")
    args = parser.parse_args()
    settings, tops = {**COMMON, **parse_settings(parser, args.set)}, parse_tops(parser, args.top)
    if args.dbn is not None and args.dbn not in args.only:
        parser.error(f"--dbn {args.dbn} needs {args.dbn} among the contenders (--only)")
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = QUICK if args.quick else {}
    X_train = torch.from_numpy(load("mnist", split="train", binarize="stochastic", random_state=args.seed)[0])
    X_test = torch.from_numpy(load("mnist", split="test", binarize="stochastic", random_state=args.seed + 1)[0])
    X_train = X_train[: quick.get("rows", len(X_train))]
    X_grey = torch.from_numpy(load("mnist", split="train")[0])[: len(X_train)]
    X_fit = X_train if args.train_on == "samples" else X_grey
    epochs = args.epochs or quick.get("epochs", EPOCHS)
    betas = quick.get("betas", AIS_BETAS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(X_train)} training images "
          f"({args.train_on}), {epochs} epochs, fit settings {settings}, final rate {args.final_lr}")
    rows, models = {}, {}
    for name in args.only:
        started = time.perf_counter()
        rbm, label = trained_or_loaded(name, args, X_fit, X_grey, epochs, settings)
        models[name] = rbm
        score = scored(rbm, X_train, X_test, betas, args.seed)
        rows[name] = {"score": score, "k": label, "seconds": time.perf_counter() - started}
        print(f"{name}: test {score['test']:.2f} nats, {rows[name]['seconds']:.0f} s", flush=True)
    report(rows, betas)
    if args.dbn is not None:
        report_dbn(args, tops, models[args.dbn], X_train, X_test, epochs, betas)


def parse_tops(parser: argparse.ArgumentParser, specs: list[str]) -> list[tuple[str, float]]:
    """``NAME:RATE`` pairs of ``--top``."""
    tops = []
    for spec in specs:
        name, _, rate = spec.partition(":")
        try:
            tops.append((name, float(rate)))
        except ValueError:
            parser.error(f"--top takes NAME:RATE, got {spec!r}")
        if name not in CONTENDERS:
            parser.error(f"--top names one of {list(CONTENDERS)}, got {name!r}")
    return tops


def report_dbn(args: argparse.Namespace, tops: list[tuple[str, float]], first: RBM, X_train: torch.Tensor,
               X_test: torch.Tensor, epochs: int, betas: int) -> None:
    """Train each top RBM of ``tops`` on ``first`` from the same start, and print the DBN's bound with
    each, and with the untrained start (from the prior start: ``first``'s own test log-probability)."""
    epochs = epochs if args.top_epochs is None else args.top_epochs
    for index, (name, lr) in enumerate(tops):
        started = time.perf_counter()
        options, generator = top_options(name, lr), torch.Generator().manual_seed(args.seed)
        top = top_start(first, X_train, options, args.dbn_start, generator)
        if index == 0:
            bound, error = dbn_bound(first, top, X_train, X_test, betas, args.seed)
            print(f"\nDBN {args.dbn} RBM + 500-2000 RBM, {args.dbn_start} start, untrained: test lower bound "
                  f"{bound:.2f} ± {error:.2f}")
        train_top(top, first, X_train, epochs, options, args.dbn_start, generator, args.seed)
        bound, error = dbn_bound(first, top, X_train, X_test, betas, args.seed)
        print(f"DBN {args.dbn} RBM + 500-2000 {name} RBM ({args.dbn_start} start, rate {lr}, {epochs} epochs on "
              f"posterior samples): test lower bound {bound:.2f} ± {error:.2f} nats, "
              f"{time.perf_counter() - started:.0f} s (published: {PUBLISHED['DBN']:.2f})", flush=True)


if __name__ == "__main__":
    main()
