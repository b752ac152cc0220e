r"""The partition function of an RBM: exact enumeration for small models, and AIS.

With energy :math:`E(v, h) = \mathrm{base}(v) - b^\top v - c^\top h - h^\top W v` the partition
function :math:`Z = \sum_h \int e^{-E(v, h)} dv` can be written as a sum over either layer:

.. math::

    \log Z = \operatorname{logsumexp}_h \Big[c^\top h + \sum_i \log Z_v\big(b_i + (W^\top h)_i\big)\Big]
           = \operatorname{logsumexp}_v \big[-F(v)\big],

so enumerating the layer with fewer states costs that many evaluations (done in chunks, in
float64): :math:`2^n` for binary units, :math:`K^{n/K}` for one-of-K groups, the product over the
segments of a mixed layer (``Units.n_states`` and ``Units.states``). Annealed importance
sampling (Neal 2001; Salakhutdinov & Murray 2008) moves chains from
a base-rate model :math:`p_A(v) \propto e^{b_A^\top v - \mathrm{base}(v)}` (no weights, visible
biases fitted to the data) to the RBM through the geometric path
:math:`p_\beta^*(v) = e^{(1-\beta) b_A^\top v + \beta b^\top v - \mathrm{base}(v)}
\prod_j Z_h(\beta (c + W v)_j)`, each step a Gibbs transition that leaves
:math:`p_\beta` invariant. The log importance weights are accumulated in float64.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import Tensor

from dbn.energy import EnergyModel
from dbn.validation import check_generator, check_positive

__all__ = ["MAX_ENUMERATED_UNITS", "exact_log_partition", "ais_log_partition", "ais_betas"]

#: exact enumeration accepts at most 2**MAX_ENUMERATED_UNITS states (a binary layer of 25 units)
MAX_ENUMERATED_UNITS = 25


def _check_likelihood_defined(rbm: EnergyModel) -> None:
    if not (rbm.visible.exact_free_energy and rbm.hidden.exact_free_energy):
        raise ValueError(
            f"the likelihood of an RBM with {rbm.visible.name} visible and {rbm.hidden.name} hidden "
            "units is not defined here: its free energy is an approximation"
        )


@torch.no_grad()
def exact_log_partition(rbm: EnergyModel, *, chunk_size: int = 2**16) -> float:
    """Exact :math:`\\log Z` by enumerating the layer with fewer states (binary or one-of-K units).

    Raises
    ------
    TypeError
        If ``chunk_size`` is not an integer.
    ValueError
        If neither layer has a finite list of states, the layer to enumerate has more than
        ``2**MAX_ENUMERATED_UNITS`` states, the model has unit types without an exact free
        energy, or ``chunk_size`` is not positive.
    """
    check_positive(chunk_size, "chunk_size", integer=True)
    _check_likelihood_defined(rbm)
    W = rbm.weight.detach().double()
    b = rbm.visible_bias.detach().double()
    c = rbm.hidden_bias.detach().double()
    visible_states, hidden_states = rbm.visible.n_states(rbm.n_visible), rbm.hidden.n_states(rbm.n_hidden)
    if visible_states is None and hidden_states is None:
        raise ValueError("exact log-partition needs a binary (or one-of-K) layer to enumerate; use method='ais'")
    enumerate_visible = visible_states is not None and (hidden_states is None or visible_states < hidden_states)
    units, n_units, count = (
        (rbm.visible, rbm.n_visible, visible_states) if enumerate_visible else (rbm.hidden, rbm.n_hidden, hidden_states)
    )
    if count > 2**MAX_ENUMERATED_UNITS:
        states_text = f"2**{count.bit_length() - 1}" if count & (count - 1) == 0 else f"{count:.3g}"
        raise ValueError(
            f"exact log-partition enumerates {states_text} states of the "
            f"{'visible' if enumerate_visible else 'hidden'} layer; refusing above "
            f"{MAX_ENUMERATED_UNITS} units (2**{MAX_ENUMERATED_UNITS} states): use method='ais'"
        )
    chunks = []
    for start in range(0, count, chunk_size):
        states = units.states(n_units, torch.arange(start, min(start + chunk_size, count), device=W.device), W.dtype)
        if enumerate_visible:
            log_weight = states @ b - rbm.visible.base(states) + rbm.hidden.log_partition(states @ W.T + c).sum(1)
        else:
            log_weight = states @ c - rbm.hidden.base(states) + rbm.visible.log_partition(states @ W + b).sum(1)
        chunks.append(torch.logsumexp(log_weight, 0))
    return float(torch.logsumexp(torch.stack(chunks), 0))


def ais_betas(n_betas: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Inverse temperatures from 0 to 1, spaced as in Salakhutdinov & Murray (2008).

    Their 14,500 temperatures put 500 in [0, 0.5], 4,000 in [0.5, 0.9] and 10,000 in [0.9, 1]; the
    same proportions are kept for any ``n_betas`` (at least 10).
    """
    check_positive(n_betas, "n_betas", integer=True)
    if n_betas < 10:
        raise ValueError(f"n_betas must be at least 10, got {n_betas}")
    first = max(1, round(n_betas * 500 / 14500))
    second = max(1, round(n_betas * 4000 / 14500))
    third = n_betas - first - second
    return torch.cat(
        [
            torch.linspace(0, 0.5, first + 1, dtype=dtype)[:-1],
            torch.linspace(0.5, 0.9, second + 1, dtype=dtype)[:-1],
            torch.linspace(0.9, 1.0, third + 1, dtype=dtype),
        ]
    )


def _checked_base_bias(base_bias: object, visible_bias: Tensor) -> Tensor:
    """``base_bias`` as a finite tensor like ``visible_bias`` (its shape, dtype and device)."""
    try:
        bias = torch.as_tensor(base_bias)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"base_bias must be a tensor of real numbers, got {type(base_bias).__name__}") from error
    if bias.is_complex() or bias.dtype == torch.bool:
        raise TypeError(f"base_bias must hold real numbers, got dtype {bias.dtype}")
    if tuple(bias.shape) != tuple(visible_bias.shape):
        raise ValueError(f"base_bias must have shape {tuple(visible_bias.shape)} (n_visible,), got {tuple(bias.shape)}")
    bias = bias.to(visible_bias)
    if not bool(torch.isfinite(bias).all()):
        raise ValueError("base_bias contains NaN or infinity")
    return bias


@torch.no_grad()
def ais_log_partition(
    rbm: EnergyModel,
    *,
    n_chains: int = 100,
    n_betas: int = 14500,
    base_bias: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """Estimate :math:`\\log Z` by annealed importance sampling.

    Parameters
    ----------
    rbm : EnergyModel
        Model with exact free energies (e.g. Bernoulli or one-of-K hidden units).
    n_chains : int
        Independent AIS runs; the estimate averages their importance weights.
    n_betas : int
        Number of intermediate temperatures (see :func:`ais_betas`).
    base_bias : Tensor, optional
        Visible biases :math:`b_A` of the base-rate model; by default ``visible.bias_from_mean`` of
        the training data's mean: its log-odds (Bernoulli visible), the log of the category
        frequencies (one-of-K groups), or zero (standardised Gaussian visible).
    generator : torch.Generator, optional
        Source of randomness, on the model's device.

    Returns
    -------
    log_z : float
        :math:`\\log Z_A + \\log \\frac1M \\sum_m w_m`.
    std_error : float
        Standard error of ``log_z`` by the delta method,
        :math:`\\mathrm{sd}(w) / (\\sqrt{M}\\,\\bar w)`; infinite for a single chain.

    Raises
    ------
    TypeError
        For an ``n_chains`` or ``n_betas`` that is not an integer, a ``base_bias`` that is not an
        array of real numbers, or a ``generator`` that is not a ``torch.Generator``.
    ValueError
        For ``n_chains < 1``, ``n_betas < 10``, a ``base_bias`` that is not finite or not of shape
        ``(n_visible,)``, a generator on another device, or unit types without an exact free energy.
    """
    check_positive(n_chains, "n_chains", integer=True)
    check_positive(n_betas, "n_betas", integer=True)
    check_generator(generator, "generator", rbm.weight.device)
    _check_likelihood_defined(rbm)
    W, c = rbm.weight.detach(), rbm.hidden_bias.detach()
    b = rbm.visible_bias.detach()
    b_base = rbm.base_rate_bias() if base_bias is None else _checked_base_bias(base_bias, b)
    betas = ais_betas(n_betas).tolist()

    log_z_base = float(rbm.visible.log_partition(b_base).sum()) + float(
        rbm.hidden.log_partition(torch.zeros(rbm.n_hidden, dtype=torch.float64)).sum()
    )
    v = rbm.visible.sample(b_base.expand(n_chains, -1).contiguous(), generator)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=v.device)
    for previous, beta in pairwise(betas):
        x = torch.addmm(c, v, W.T)
        # log p*_beta(v) - log p*_previous(v): the bias terms and the hidden terms, unit by unit
        step = (beta - previous) * (v @ (b - b_base))
        step += (rbm.hidden.log_partition(beta * x) - rbm.hidden.log_partition(previous * x)).sum(1)
        log_w += step.double()
        if beta < 1.0:
            h = rbm.hidden.sample(beta * x, generator)
            v = rbm.visible.sample(torch.addmm((1 - beta) * b_base + beta * b, h, W, alpha=beta), generator)
    log_mean_w = torch.logsumexp(log_w, 0) - math.log(n_chains)
    relative = torch.exp(log_w - log_mean_w)
    std_error = float(relative.std(correction=1) / math.sqrt(n_chains)) if n_chains > 1 else float("inf")
    return log_z_base + float(log_mean_w), std_error
