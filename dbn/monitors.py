r"""Training monitors of an RBM, computed once per epoch on fixed subsets of the data.

(``cd_loss`` and ``batch_recon_mse`` are the exceptions: running sums over the epoch's batches,
kept on the device by :class:`dbn.cd.ContrastiveDivergence` and read once at its end.)

All functions take data already in the model's space (standardised for Gaussian visible units)
and run without autograd. Each one is a deterministic function of the parameters except the
pseudo-likelihood, whose flipped units are drawn from the generator it is given.

Keys of ``RBM.history_`` records (one dict per epoch):

``epoch``
    1-based epoch number.
``recon_mse``
    mean over samples and visible units of :math:`(v_i - \hat v_i)^2`, where
    :math:`\hat v = E[v \mid h = E[h \mid v]]` is the mean-field recreation of the data.
``recon_kl``
    mean over samples of :math:`\sum_i \mathrm{KL}(\mathrm{Bern}(v_i) \,\|\, \mathrm{Bern}(\hat v_i))`
    (nats): 0 for a perfect recreation; equal to the cross-entropy for binary data. ``None`` for
    Gaussian visible units.
``pseudo_likelihood``
    stochastic estimate of :math:`\frac1D \sum_i \log p(v_i \mid v_{-i})` per visible unit (nats),
    one randomly chosen unit per sample: :math:`\log \sigma(F(\tilde v) - F(v))` with
    :math:`\tilde v_i = 1 - v_i`. Multiply by ``n_visible`` for scikit-learn's per-sample scale.
    Exact for binary data; for grey levels in [0, 1] it is the same formula (as in scikit-learn)
    and no longer a likelihood. ``None`` for Gaussian visible units.
``free_energy_gap``
    mean free energy of ``X_val`` minus that of a training subset of the same size (Hinton 2010,
    sec. 6): growing means overfitting. ``None`` without ``X_val``.
``val_recon_mse``
    ``recon_mse`` on ``X_val`` (``None`` without it).
``cd_loss``
    mean over the epoch's batches of the CD surrogate :math:`\overline{F(v_{data})} -
    \overline{F(v_{model})}` (:mod:`dbn.cd`), accumulated on the device during the epoch.
``batch_recon_mse``
    mean over the epoch's batches of :math:`(v - v_{model})^2`, where :math:`v_{model}` is the
    negative phase of CD-k started at the batch (Hinton & Salakhutdinov's training error; it is
    free, being accumulated on the device during the epoch). ``None`` for persistent CD, whose
    negative phase does not start at the data.
``update_ratio``
    :math:`\|\Delta W\| / \|W\|` of the first weight update of the epoch (Hinton 2010, sec. 4,
    suggests about 1e-3).
``dead_fraction``, ``saturated_fraction``
    fraction of hidden units whose mean activation over the monitoring subset is below 0.01 or
    above 0.99 (binary units); for ReLU units dead means never positive, saturated does not apply.
``seconds``
    wall time of the epoch's updates (monitors excluded).
``lr``, ``momentum``
    the learning rate and momentum used in the epoch (``None`` where the optimiser has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from dbn.rbm import RBM

__all__ = ["reconstruction_errors", "pseudo_likelihood", "hidden_activity", "free_energy_gap"]


@torch.no_grad()
def reconstruction_errors(rbm: RBM, v: Tensor) -> tuple[float, float | None]:
    """Mean squared error and mean summed Bernoulli KL between ``v`` and its recreation."""
    h = rbm.hidden.mean(rbm._hidden_input(v))
    z = rbm._visible_input(h)
    recreation = rbm.visible.mean(z)
    mse = float(torch.mean((v - recreation) ** 2))
    if not rbm.visible.unit_interval:
        return mse, None
    # KL(Bern(v) || Bern(sigmoid(z))) = [softplus(z) - v z] - H(v), computed from the logits.
    cross_entropy = F.softplus(z) - v * z
    entropy = -(torch.xlogy(v, v) + torch.xlogy(1 - v, 1 - v))
    kl = (cross_entropy - entropy).sum(1).mean()
    return mse, float(kl)


@torch.no_grad()
def pseudo_likelihood(rbm: RBM, v: Tensor, generator: torch.Generator | None = None) -> float | None:
    """Per-unit log pseudo-likelihood, estimated by flipping one random unit of each sample."""
    if not rbm.visible.unit_interval:
        return None
    rows = torch.arange(v.shape[0], device=v.device)
    cols = torch.randint(v.shape[1], (v.shape[0],), generator=generator, device=v.device)
    flipped = v.clone()
    flipped[rows, cols] = 1 - flipped[rows, cols]
    gap = rbm._free_energy(flipped) - rbm._free_energy(v)
    return float(F.logsigmoid(gap).mean())


@torch.no_grad()
def hidden_activity(rbm: RBM, v: Tensor) -> tuple[float, float]:
    """Fractions of hidden units that are dead and saturated on ``v``."""
    activity = rbm.hidden.mean(rbm._hidden_input(v))
    if rbm.hidden.unit_interval:
        mean = activity.mean(0)
        return float((mean < 0.01).float().mean()), float((mean > 0.99).float().mean())
    return float((activity.amax(0) <= 0).float().mean()), 0.0


@torch.no_grad()
def free_energy_gap(rbm: RBM, v_val: Tensor, v_train: Tensor) -> float:
    """Mean free energy of validation rows minus that of as many training rows."""
    n = min(v_val.shape[0], v_train.shape[0])
    return float(rbm._free_energy(v_val[:n]).mean() - rbm._free_energy(v_train[:n]).mean())
