r"""Training monitors of an RBM, computed after an epoch on fixed subsets of the data.

``RBM.fit`` measures them every ``CDConfig.monitor_every`` epochs and after the last; the records
of the epochs between hold None for them (``update_ratio``, ``seconds``, ``lr`` and ``momentum``
are in every record). ``cd_loss`` and ``batch_recon_mse`` come from one CD-k chain started at 256
of the monitoring rows (:meth:`dbn.cd.ContrastiveDivergence.epoch_monitors`).

All functions take data already in the model's space (standardised for Gaussian visible units),
compute with the energy interface of :mod:`dbn.energy` only, and run without autograd. Each one is
a deterministic function of the parameters except the pseudo-likelihood monitor, whose flipped
units are drawn from the generator it is given; :func:`exact_pseudo_likelihood` sums the same
terms over every unit (scikit-learn's ``score_samples`` scale, :mod:`dbn.sklearn`).

Keys of ``RBM.history_`` records (one dict per epoch):

``epoch``
    1-based epoch number.
``recon_mse``
    mean over samples and visible units of :math:`(v_i - \hat v_i)^2`, where
    :math:`\hat v = E[v \mid h = E[h \mid v]]` is the mean-field recreation of the data.
``recon_kl``
    mean over samples of :math:`\sum_i \mathrm{KL}(\mathrm{Bern}(v_i) \,\|\, \mathrm{Bern}(\hat v_i))`
    (nats): 0 for a perfect recreation; equal to the cross-entropy for binary data. ``None`` for
    Gaussian visible units and for layers with one-of-K groups (whose recreation is not the
    sigmoid of the logits the formula uses).
``pseudo_likelihood``
    stochastic estimate of :math:`\frac1D \sum_i \log p(v_i \mid v_{-i})` per visible unit (nats),
    one randomly chosen unit per sample: :math:`\log \sigma(F(\tilde v) - F(v))` with
    :math:`\tilde v_i = 1 - v_i`. Multiply by ``n_visible`` for scikit-learn's per-sample scale.
    Exact for binary data; for grey levels in [0, 1] it is the same formula (as in scikit-learn)
    and no longer a likelihood. ``None`` for Gaussian visible units and for layers with one-of-K
    groups, where flipping one unit leaves the valid states (``Units.elementwise`` is False).
``free_energy_gap``
    mean free energy of ``X_val`` minus that of a training subset of the same size (Hinton 2010,
    sec. 6): growing means overfitting. ``None`` without ``X_val``.
``val_recon_mse``
    ``recon_mse`` on ``X_val`` (``None`` without it).
``cd_loss``
    the CD surrogate :math:`\overline{F(v_{data})} - \overline{F(v_{model})}` (:mod:`dbn.cd`) of
    one CD-k chain started at 256 monitoring rows (for persistent CD: those rows against the
    persistent chains).
``batch_recon_mse``
    mean of :math:`(v - v_{model})^2` over those rows, where :math:`v_{model}` ends the same chain
    (Hinton & Salakhutdinov's training error). ``None`` for persistent CD, whose negative phase
    does not start at the data.
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

import torch
import torch.nn.functional as F
from torch import Tensor

from dbn.energy import EnergyModel

__all__ = [
    "reconstruction_errors",
    "pseudo_likelihood",
    "exact_pseudo_likelihood",
    "hidden_activity",
    "free_energy_gap",
]

#: elements of the flipped states and their hidden inputs that :func:`exact_pseudo_likelihood` holds at once
PSEUDO_LIKELIHOOD_ELEMENTS = 2**22


@torch.no_grad()
def reconstruction_errors(rbm: EnergyModel, v: Tensor) -> tuple[float, float | None]:
    """Mean squared error and mean summed Bernoulli KL between ``v`` and its recreation."""
    h = rbm.hidden.mean(rbm.hidden_input(v))
    z = rbm.visible_input(h)
    recreation = rbm.visible.mean(z)
    mse = float(torch.mean((v - recreation) ** 2))
    if not (rbm.visible.unit_interval and rbm.visible.elementwise):
        return mse, None
    # KL(Bern(v) || Bern(sigmoid(z))) = [softplus(z) - v z] - H(v), computed from the logits.
    cross_entropy = F.softplus(z) - v * z
    entropy = -(torch.xlogy(v, v) + torch.xlogy(1 - v, 1 - v))
    kl = (cross_entropy - entropy).sum(1).mean()
    return mse, float(kl)


@torch.no_grad()
def pseudo_likelihood(rbm: EnergyModel, v: Tensor, generator: torch.Generator | None = None) -> float | None:
    """Per-unit log pseudo-likelihood, estimated by flipping one random unit of each sample
    (the mean of :func:`exact_pseudo_likelihood` over the rows, divided by ``n_visible``); ``None``
    unless the visible units are element-wise and in [0, 1]."""
    if not (rbm.visible.unit_interval and rbm.visible.elementwise):
        return None
    rows = torch.arange(v.shape[0], device=v.device)
    cols = torch.randint(v.shape[1], (v.shape[0],), generator=generator, device=v.device)
    flipped = v.clone()
    flipped[rows, cols] = 1 - flipped[rows, cols]
    gap = rbm.model_free_energy(flipped) - rbm.model_free_energy(v)
    return float(F.logsigmoid(gap).mean())


@torch.no_grad()
def exact_pseudo_likelihood(rbm: EnergyModel, v: Tensor, *, max_elements: int = PSEUDO_LIKELIHOOD_ELEMENTS) -> Tensor:
    r"""Log pseudo-likelihood of each row of ``v``, summed exactly over its visible units (nats).

    The pseudo-likelihood (Besag 1975) replaces :math:`p(v)` by the product of the conditionals of
    single units, which need no partition function: for binary units,
    :math:`p(v_i \mid v_{-i}) = e^{-F(v)} / (e^{-F(v)} + e^{-F(\tilde v^{(i)})})`, so

    .. math::

        \log \mathrm{PL}(v) = \sum_{i=1}^{D} \log p(v_i \mid v_{-i})
        = \sum_{i=1}^{D} \log \sigma\big(F(\tilde v^{(i)}) - F(v)\big),

    where :math:`\tilde v^{(i)}` is :math:`v` with unit :math:`i` flipped to :math:`1 - v_i` and
    :math:`F` the free energy. Flipping unit :math:`i` moves the hidden input :math:`W v + c` by
    :math:`(1 - 2 v_i) W_{:, i}`, so the :math:`D` flipped states of a row take their hidden inputs
    from one broadcast sum and their free energies from one call of ``model_free_energy``. Grey
    levels are flipped the same way (as scikit-learn does); the result is then no longer a
    likelihood. :func:`pseudo_likelihood` estimates the mean of this sum divided by :math:`D`.

    Parameters
    ----------
    rbm : EnergyModel
        A model with binary (Bernoulli) visible units, element-wise (no one-of-K groups).
    v : Tensor of shape (n_samples, n_visible)
        Visible states in [0, 1], on the model's device.
    max_elements : int, default=PSEUDO_LIKELIHOOD_ELEMENTS
        Bound on the elements of the flipped states and their hidden inputs held at once: the rows
        are scored in chunks of ``max_elements // (D * (D + n_hidden))`` (at least one).

    Returns
    -------
    Tensor of shape (n_samples,)
        :math:`\log \mathrm{PL}(v)` of each row (<= 0), in the dtype of ``v``.

    Raises
    ------
    ValueError
        For visible units that are not binary, whose conditionals are densities, or that form
        one-of-K groups, whose states do not differ in single units.
    """
    if not (rbm.visible.unit_interval and rbm.visible.elementwise):
        raise ValueError(
            f"the pseudo-likelihood needs binary visible units that can be flipped one at a time, "
            f"got {rbm.visible!r} units"
        )
    n_visible = v.shape[1]
    rows = max(1, max_elements // (n_visible * (n_visible + rbm.n_hidden)))
    flip = torch.eye(n_visible, dtype=torch.bool, device=v.device)  # state i of a row flips unit i
    weight_t = rbm.weight.detach().T  # (n_visible, n_hidden): row i is what unit i adds to the hidden input
    scores = []
    for chunk in v.split(rows):
        x = rbm.hidden_input(chunk)
        flipped = torch.where(flip, (1 - chunk).unsqueeze(1), chunk.unsqueeze(1))  # (rows, D, D)
        x_flipped = x.unsqueeze(1) + (1 - 2 * chunk).unsqueeze(2) * weight_t  # (rows, D, n_hidden)
        gap = rbm.model_free_energy(flipped, x_flipped) - rbm.model_free_energy(chunk, x).unsqueeze(1)
        scores.append(F.logsigmoid(gap).sum(1))
    return torch.cat(scores)


@torch.no_grad()
def hidden_activity(rbm: EnergyModel, v: Tensor) -> tuple[float, float]:
    """Fractions of hidden units that are dead and saturated on ``v``."""
    activity = rbm.hidden.mean(rbm.hidden_input(v))
    if rbm.hidden.unit_interval:
        mean = activity.mean(0)
        return float((mean < 0.01).float().mean()), float((mean > 0.99).float().mean())
    return float((activity.amax(0) <= 0).float().mean()), 0.0


@torch.no_grad()
def free_energy_gap(rbm: EnergyModel, v_val: Tensor, v_train: Tensor) -> float:
    """Mean free energy of validation rows minus that of as many training rows."""
    n = min(v_val.shape[0], v_train.shape[0])
    return float(rbm.model_free_energy(v_val[:n]).mean() - rbm.model_free_energy(v_train[:n]).mean())
