"""dbn: Restricted Boltzmann Machines and Deep Belief Networks on PyTorch.

Map of the package:

- :mod:`dbn.units` — unit types (Bernoulli, Gaussian, ReLU): mean, sample, free-energy term;
- :mod:`dbn.rbm` — :class:`RBM`, its inference methods and CD/PCD training;
- :mod:`dbn.monitors` — per-epoch training monitors (reconstruction, pseudo-likelihood, ...);
- :mod:`dbn.likelihood` — exact and AIS estimates of the partition function;
- :mod:`dbn.batches` — minibatches from arrays, tensors and iterables;
- :mod:`dbn.validation` — input checks with errors that name the argument;
- :mod:`dbn.datasets` — scikit-learn's digits (the default data) and MNIST from IDX files.
"""

from dbn.rbm import RBM, hinton_momentum

__all__ = ["RBM", "hinton_momentum"]
__version__ = "0.1.0"
