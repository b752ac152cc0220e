"""dbn: Restricted Boltzmann Machines and Deep Belief Networks on PyTorch, and a laboratory for
comparing weight initialisation.

Map of the package:

- :mod:`dbn.config` — ``CDConfig`` and ``TrainConfig``: training options as checked, JSON-serialisable data
  (``DENSITY``: a recipe for density models);
- :mod:`dbn.energy` — ``EnergyModel``, the interface of an RBM that training, monitors and unrolling use;
- :mod:`dbn.units` — unit types (Bernoulli, Gaussian, ReLU, one-of-K groups, mixed layers): mean, sample, free energy;
- :mod:`dbn.rbm` — :class:`RBM`: the model, its inference and likelihood methods, ``fit``;
- :mod:`dbn.cd` — the CD objective (an ``nn.Module``) and the analytic gradient of its surrogate;
- :mod:`dbn.samplers` — fast persistent CD, parallel tempering and the centered gradient, options of the CD objective;
- :mod:`dbn.cd_trainer` — one CD/PCD training run: data, optimiser, objective, epoch plan, monitors;
- :mod:`dbn.loop` — the one epoch loop: progress bar, timing, history, callbacks, divergence guard;
- :mod:`dbn.callbacks` — CSV and TensorBoard loggers, early stopping and checkpoints for every training call;
- :mod:`dbn.resume` — checkpoints inside a training run, and exact resumption from them;
- :mod:`dbn.graphs` — epochs over static index buffers, replayed from CUDA graphs on a GPU;
- :mod:`dbn.precision` — exact float32, TF32 and bfloat16 mixed-precision training;
- :mod:`dbn.monitors` — per-epoch training monitors (reconstruction, pseudo-likelihood, ...);
- :mod:`dbn.likelihood` — exact and AIS estimates of the partition function;
- :mod:`dbn.batches` — minibatches from arrays, tensors and iterables;
- :mod:`dbn.validation` — input checks with errors that name the argument;
- :mod:`dbn.targets` — class labels and regression targets, checked in one place;
- :mod:`dbn.serialization` — atomic, versioned, checksummed checkpoints;
- :mod:`dbn.stack` — :class:`DeepBeliefNet`: the stack of RBMs, greedy pretraining, sampling, persistence;
- :mod:`dbn.prior` — an upper RBM started as the prior of the one below (the greedy guarantee's start);
- :mod:`dbn.recipes` — schedules beyond one ``fit`` call: CD-T with T rising, the density recipe;
- :mod:`dbn.classrbm` — ``ClassRBM``: the classification RBM of Larochelle & Bengio (2008), three objectives;
- :mod:`dbn.updown` — ``UpDownDBN``: the DBN of Hinton, Osindero & Teh (2006), up-down fine-tuning, generation;
- :mod:`dbn.unroll` — the stack unrolled into an MLP or a deep autoencoder;
- :mod:`dbn.supervised` — fine-tuning the unrolled stack, and its predictions;
- :mod:`dbn.training` — the supervised training loop (fine-tuning and comparisons);
- :mod:`dbn.streams` — supervised training batches streamed from a ``DataLoader``, checked batch by batch;
- :mod:`dbn.distributed` — data-parallel training under ``torchrun`` (DDP, sharding, reductions);
- :mod:`dbn.activations` — the one registry of activations, and maxout;
- :mod:`dbn.init` — initialisation schemes (``init_``, ``SCHEMES``);
- :mod:`dbn.diagnostics` — per-layer activation/gradient statistics, symmetry score, histograms;
- :mod:`dbn.stacked` — many MLPs of one architecture trained as one module;
- :mod:`dbn.compare` — every scheme on the same network, with a fair learning-rate search;
- :mod:`dbn.reports` — tables and CSV of a comparison;
- :mod:`dbn.figures` — figures of a comparison;
- :mod:`dbn.plotting` — figures of models and training: filters, samples, reconstructions, learning curves, histograms;
- :mod:`dbn.sklearn` — scikit-learn estimators ``RBMTransformer``, ``DBNClassifier``, ``DBNRegressor``;
- :mod:`dbn.datasets` — scikit-learn's digits (the default data) and MNIST from IDX files;
- :mod:`dbn.workflow` — the command line's pretrain, finetune, sample and evaluate commands;
- :mod:`dbn.cli` — the command line, ``dbn`` (or ``python -m dbn``): every command, options from flags or TOML.
"""

from typing import Any

from dbn.config import DENSITY, CDConfig, TrainConfig, hinton_momentum
from dbn.rbm import RBM
from dbn.stack import DeepBeliefNet

#: names served from :mod:`dbn.sklearn` on first use, so that ``import dbn`` does not import scikit-learn
_ESTIMATORS = ("RBMTransformer", "DBNClassifier", "DBNRegressor", "ClassRBMClassifier")

__all__ = [
    "RBM",
    "DeepBeliefNet",
    "CDConfig",
    "DENSITY",
    "TrainConfig",
    "hinton_momentum",
    "RBMTransformer",
    "DBNClassifier",
    "DBNRegressor",
    "ClassRBMClassifier",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _ESTIMATORS:
        import dbn.sklearn

        return getattr(dbn.sklearn, name)
    raise AttributeError(f"module 'dbn' has no attribute {name!r}")
