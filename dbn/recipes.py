r"""Training schedules that one ``RBM.fit`` call cannot express: CD-T with T rising over the epochs.

:func:`fit_annealed_cd` trains a binary RBM as the training program distributed with
Salakhutdinov's AIS code does with its ``anneal_lr`` switch (the CD25(500) model of Salakhutdinov
& Murray 2008): in epoch :math:`e = 1, 2, \dots` the negative phase runs

.. math::  T_e = \lceil e / s \rceil \text{ Gibbs steps at a rate of } \epsilon / T_e,

``s`` epochs per step up to ``final_k`` steps (``final_k * s`` epochs), with momentum 0.5 then 0.9,
weight decay, and sampled visible states in the negative phase. Data in [0, 1] is binarised
afresh at every epoch, each value the probability of a 1, so grey-level images train as a
stream of their samples. On MNIST (784-500, ``final_k=25``, 250 epochs) this gave a test
log-probability of -84.5 nats (``examples/mnist_likelihood.py --only CD-25-anneal``), against
-94.8 for :data:`dbn.config.DENSITY`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from dbn.config import MomentumSchedule, hinton_momentum
from dbn.rbm import RBM
from dbn.validation import as_float_tensor, check_positive, check_seed

__all__ = ["anneal_schedule", "fit_annealed_cd"]


def anneal_schedule(final_k: int, epochs_per_step: int) -> list[int]:
    """Gibbs steps of each epoch: 1 for ``epochs_per_step`` epochs, then 2, ... up to ``final_k``."""
    check_positive(final_k, "final_k", integer=True)
    check_positive(epochs_per_step, "epochs_per_step", integer=True)
    return [epoch // epochs_per_step + 1 for epoch in range(final_k * epochs_per_step)]


def fit_annealed_cd(
    rbm: RBM,
    X: Tensor | np.ndarray,
    *,
    final_k: int = 25,
    epochs_per_step: int = 10,
    lr: float = 0.05,
    momentum: float | MomentumSchedule = hinton_momentum,
    weight_decay: float = 2e-4,
    batch_size: int = 100,
    seed: int | None = None,
    **fit_options: Any,
) -> RBM:
    """Train ``rbm`` (Bernoulli visible units) by CD-T with T rising as :func:`anneal_schedule` says.

    Parameters
    ----------
    rbm : RBM
        Trained from fresh parameters (one ``fit`` per epoch, the later ones warm-started, so momentum
        buffers restart every epoch while the momentum schedule follows the epoch count).
    X : array or tensor, shape (n_samples, n_visible)
        Data in [0, 1]: probabilities of ones, binarised afresh at every epoch (binary data stays as
        it is).
    final_k, epochs_per_step : int
        The last number of Gibbs steps, and the epochs spent at each number.
    lr : float
        Rate at one step; at T steps the rate is ``lr / T``.
    momentum, weight_decay, batch_size
        As in :class:`dbn.config.CDConfig`.
    seed : int, optional
        Seeds the binarisation and every epoch's ``fit``.
    **fit_options
        Other options of :meth:`RBM.fit` (``device``, ``callbacks``, ``progress``, ...).

    Returns
    -------
    RBM
        ``rbm``, with one ``history_`` record per epoch.
    """
    schedule = anneal_schedule(final_k, epochs_per_step)
    check_positive(lr, "lr")
    if rbm.visible.name != "bernoulli":
        raise ValueError(f"fit_annealed_cd needs Bernoulli visible units, got {rbm.visible.name}")
    for name in ("k", "lr", "epochs", "warm_start", "seed"):
        if name in fit_options:
            raise TypeError(f"fit_annealed_cd sets {name} itself: got {name}={fit_options[name]!r}")
    seed = check_seed(seed)
    seed = int(torch.randint(2**62, (1,))) if seed is None else seed
    data = as_float_tensor(X, "X", dtype=rbm.weight.dtype, n_features=rbm.n_visible, unit_interval=True)
    generator = torch.Generator().manual_seed(seed)
    for epoch, k in enumerate(schedule):
        rbm.fit(torch.bernoulli(data, generator=generator), epochs=1, k=k, lr=lr / k, momentum=momentum,
                weight_decay=weight_decay, batch_size=batch_size, sample_visible=True, seed=(seed + epoch) % 2**63,
                warm_start=epoch > 0, **{"progress": False, **fit_options})
    return rbm
