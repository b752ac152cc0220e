"""dbn: Restricted Boltzmann Machines and Deep Belief Networks on PyTorch.

Map of the package:

- :mod:`dbn.units` — unit types (Bernoulli, Gaussian, ReLU): mean, sample, free-energy term;
- :mod:`dbn.rbm` — :class:`RBM`, its inference methods and CD/PCD training;
- :mod:`dbn.cd` — the CD objective (an ``nn.Module``) and the analytic gradient of its surrogate;
- :mod:`dbn.graphs` — epochs over static index buffers, replayed from CUDA graphs on a GPU;
- :mod:`dbn.precision` — exact float32, TF32 and bfloat16 mixed-precision training;
- :mod:`dbn.monitors` — per-epoch training monitors (reconstruction, pseudo-likelihood, ...);
- :mod:`dbn.likelihood` — exact and AIS estimates of the partition function;
- :mod:`dbn.batches` — minibatches from arrays, tensors and iterables;
- :mod:`dbn.validation` — input checks with errors that name the argument;
- :mod:`dbn.serialization` — atomic, versioned checkpoints;
- :mod:`dbn.dbn` — :class:`DeepBeliefNet`: greedy pretraining, unrolling, fine-tuning, sampling;
- :mod:`dbn.training` — the one supervised training loop (fine-tuning and comparisons);
- :mod:`dbn.distributed` — data-parallel training under ``torchrun`` (DDP, sharding, reductions);
- :mod:`dbn.init` — initialisation schemes (``init_``, ``SCHEMES``) and activations;
- :mod:`dbn.activations` — maxout and its He gain;
- :mod:`dbn.diagnostics` — per-layer activation/gradient statistics, symmetry score, histograms;
- :mod:`dbn.compare` — every scheme on the same network, batched over seeds and schemes;
- :mod:`dbn.sklearn` — scikit-learn estimators ``RBMTransformer``, ``DBNClassifier``, ``DBNRegressor``;
- :mod:`dbn.datasets` — scikit-learn's digits (the default data) and MNIST from IDX files;
- :mod:`dbn.cli` — ``python -m dbn`` (``rbm``, ``compare``).
"""

from dbn.dbn import DeepBeliefNet
from dbn.rbm import RBM, hinton_momentum
from dbn.sklearn import DBNClassifier, DBNRegressor, RBMTransformer

__all__ = ["RBM", "DeepBeliefNet", "hinton_momentum", "RBMTransformer", "DBNClassifier", "DBNRegressor"]
__version__ = "0.1.0"
