r"""The partition function of an RBM: exact enumeration for small models, AIS with honest error
bars, reverse AIS for an upper bound, and the variational lower bound of a deep belief net.

With energy :math:`E(v, h) = \mathrm{base}(v) - b^\top v - c^\top h - h^\top W v` the partition
function :math:`Z = \sum_h \int e^{-E(v, h)} dv` can be written as a sum over either layer:

.. math::

    \log Z = \operatorname{logsumexp}_h \Big[c^\top h + \sum_i \log Z_v\big(b_i + (W^\top h)_i\big)\Big]
           = \operatorname{logsumexp}_v \big[-F(v)\big],

so enumerating the layer with fewer states costs that many evaluations (done in chunks, in
float64): :math:`2^n` for binary units, :math:`K^{n/K}` for one-of-K groups, the product over the
segments of a mixed layer (``Units.n_states`` and ``Units.states``).

Annealed importance sampling (Neal 2001; Salakhutdinov & Murray 2008) moves chains from a
base-rate model :math:`p_0(v) \propto e^{b_A^\top v - \mathrm{base}(v)}` (no weights, hidden units
without bias, visible biases fitted to the data; :math:`Z_0` is known) to the RBM through the
geometric path :math:`p_\beta^*(v) = e^{(1-\beta) b_A^\top v + \beta b^\top v - \mathrm{base}(v)}
\prod_j Z_h(\beta (c + W v)_j)`, :math:`0 = \beta_0 < \dots < \beta_K = 1`, each step a Gibbs
transition :math:`T_k` (v -> h -> v) that leaves :math:`p_{\beta_k}` invariant. A chain
:math:`v_0 \sim p_0`, :math:`v_k \sim T_k(v_{k-1}, \cdot)` has the importance weight

.. math::  w = \prod_{k=1}^{K} \frac{p^*_{\beta_k}(v_{k-1})}{p^*_{\beta_{k-1}}(v_{k-1})},
           \qquad E[w] = Z / Z_0,

so :math:`\hat Z = Z_0 \frac1M \sum_m w_m` is unbiased for :math:`Z`, and by Jensen's inequality
:math:`E[\log \hat Z] \le \log Z`: **forward AIS is a stochastic lower bound on** :math:`\log Z`
(it overestimates log-likelihoods), low by :math:`\approx \frac12 \mathrm{Var}[w]/(M E[w]^2)`
when the anneal is too short. *Reverse* AIS (Burda, Grosse & Salakhutdinov 2015) runs the
same path backwards from samples of the model, :math:`v_{K-1} \sim p`, :math:`v_{k-1} \sim
T_k(v_k, \cdot)` (the v-h-v Gibbs kernel is reversible, so it is its own reversal), and weighs
the path by the same :math:`w`; then :math:`E[1/w] = Z_0 / Z`, and
:math:`\log Z_0 - \log \frac1M \sum_m 1/w_m` is a **stochastic upper bound** on :math:`\log Z`
(exactly so when the starting states are exact samples of the model; chains started from data and
run through Gibbs steps make it approximate). The two together bracket :math:`\log Z`
(:func:`log_partition_bounds`).

The error of an AIS estimate is taken from ``n_batches`` independent batches of chains: the
standard error of the mean of the batches' estimates. The delta-method error
:math:`\mathrm{sd}(w) / (\sqrt M \bar w)` cannot exceed about one nat (a single chain carrying all
the weight gives :math:`\mathrm{sd}(w) = \sqrt M \bar w`), however wild the weights, so it
understates the error of a heavy-tailed estimate; it is reported as ``delta_std_error``. Neither
error sees the bias of a short anneal, which is why each estimate is checked (:class:`AISResult`):
the effective sample size of its weights, and an independent run with half the temperatures.
Log-weights are accumulated in float64 from increments in the model's dtype (float32 increments
change the estimate by < 1e-3 nats on a 784-500 MNIST model).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from dbn.energy import EnergyModel
from dbn.validation import as_float_tensor, check_generator, check_positive

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "MIN_ESS_FRACTION",
    "CONVERGENCE_TOLERANCE",
    "AISResult",
    "ais",
    "reverse_ais",
    "log_partition_bounds",
    "effective_sample_size",
    "exact_log_partition",
    "ais_log_partition",
    "ais_betas",
    "log_partition_estimate",
    "mean_log_likelihood",
    "dbn_log_likelihood_bound",
]

#: exact enumeration accepts at most 2**MAX_ENUMERATED_UNITS states (a binary layer of 25 units)
MAX_ENUMERATED_UNITS = 25
#: an AIS estimate whose importance weights have an effective sample size below this fraction of
#: the chains is reported as not converged: a handful of chains carry it
MIN_ESS_FRACTION = 0.05
#: halving the temperatures may move a converged estimate by this many nats (or 3 standard errors)
CONVERGENCE_TOLERANCE = 0.1


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


@dataclass(frozen=True)
class AISResult:
    r"""An AIS estimate of :math:`\log Z` and the numbers that say how far to trust it.

    Attributes
    ----------
    log_z : float
        The estimate from all :math:`M` chains pooled: :math:`\log Z_0 + \log \frac1M \sum_m w_m`
        (forward, a stochastic lower bound) or :math:`\log Z_0 - \log \frac1M \sum_m w_m^{-1}`
        (reverse, a stochastic upper bound).
    std_error : float
        :math:`\mathrm{sd}(\hat\ell_1, \dots, \hat\ell_B) / \sqrt B`, the spread of the estimates
        :math:`\hat\ell_b` of ``n_batches`` independent batches of chains (infinite for one batch).
        It covers the noise of the estimate, not the bias of a short anneal.
    delta_std_error : float
        The delta-method error of ``log_z``, :math:`\mathrm{sd}(w) / (\sqrt M \bar w)` (of
        :math:`1/w` for reverse AIS): at most about one nat, so too small for heavy-tailed weights.
    batch_log_z : tuple of float
        The estimates :math:`\hat\ell_b` of the batches.
    ess : float
        Effective sample size of the weights, :math:`(\sum_m w_m)^2 / \sum_m w_m^2`, in
        :math:`[1, M]`: how many chains effectively carry the estimate.
    n_chains, n_betas : int
        Chains :math:`M` and temperatures :math:`K`.
    direction : {"forward", "reverse"}
        Annealing from the base-rate model to the RBM, or back.
    log_z_half : float or None
        The estimate of an independent run with half the temperatures (``None`` when not run). A
        forward estimate that is still rising with the number of temperatures (a reverse one still
        falling) has not converged: its bias is about ``log_z - log_z_half``.
    converged : bool
        ``std_error`` is finite, ``ess >= MIN_ESS_FRACTION * n_chains``, and (when run) halving the
        temperatures lowers a forward estimate (raises a reverse one) by at most
        ``max(3 * hypot(std_error, std error of log_z_half), CONVERGENCE_TOLERANCE)``. An estimate
        that fails raises a ``RuntimeWarning``.
    """

    log_z: float
    std_error: float
    delta_std_error: float
    batch_log_z: tuple[float, ...]
    ess: float
    n_chains: int
    n_betas: int
    direction: str
    log_z_half: float | None
    converged: bool

    @property
    def ess_fraction(self) -> float:
        """``ess / n_chains``, in ``(0, 1]``."""
        return self.ess / self.n_chains


def effective_sample_size(log_weights: Tensor) -> float:
    r"""Effective sample size :math:`(\sum_m w_m)^2 / \sum_m w_m^2` of weights given by their logs.

    Computed stably as :math:`\exp(2 \operatorname{logsumexp}(\log w) - \operatorname{logsumexp}(2 \log w))`,
    in float64; it lies in :math:`[1, M]` and equals :math:`M` for equal weights.
    """
    log_weights = log_weights.double()
    return float(torch.exp(2 * torch.logsumexp(log_weights, 0) - torch.logsumexp(2 * log_weights, 0)))


def _base_log_partition(rbm: EnergyModel, b_base: Tensor) -> float:
    r""":math:`\log Z_0 = \sum_i \log Z_v(b_{A,i}) + \sum_j \log Z_h(0)` of the base-rate model."""
    zeros = torch.zeros(rbm.n_hidden, dtype=torch.float64, device=b_base.device)
    return float(rbm.visible.log_partition(b_base.double()).sum()) + float(rbm.hidden.log_partition(zeros).sum())


def _transition(rbm: EnergyModel, v: Tensor, beta: float, b_base: Tensor, generator: torch.Generator | None) -> Tensor:
    """One Gibbs step v -> h -> v that leaves :math:`p_\\beta` invariant."""
    h = rbm.hidden.sample(beta * rbm.hidden_input(v), generator)
    bias = (1 - beta) * b_base + beta * rbm.visible_bias.detach()
    return rbm.visible.sample(torch.addmm(bias, h, rbm.weight.detach(), alpha=beta), generator)


def _anneal(
    rbm: EnergyModel, v: Tensor, betas: list[float], b_base: Tensor, generator: torch.Generator | None, *,
    reverse: bool, progress: bool = False,
) -> Tensor:
    r"""The log-weights of chains started at ``v``: :math:`\log w` forward, :math:`\log w^{-1}` reverse.

    Each step adds :math:`\log p^*_{\beta_k}(v) - \log p^*_{\beta_{k-1}}(v)` at the current state, then
    moves the state with :math:`T` at the next temperature of the walk: forward
    :math:`\beta_1, \dots, \beta_{K-1}`, reverse :math:`\beta_{K-1}, \dots, \beta_1`.
    """
    b = rbm.visible_bias.detach()
    steps = list(pairwise(betas))
    log_w = torch.zeros(v.shape[0], dtype=torch.float64, device=v.device)
    walk = tqdm(reversed(steps) if reverse else steps, total=len(steps), disable=not progress, leave=False,
                desc=f"{'reverse ' if reverse else ''}AIS, {v.shape[0]} chains", unit="temperature")
    for previous, beta in walk:
        x = rbm.hidden_input(v)
        step = (beta - previous) * (v @ (b - b_base))
        step += (rbm.hidden.log_partition(beta * x) - rbm.hidden.log_partition(previous * x)).sum(1)
        log_w += step.double()
        following = previous if reverse else beta
        if 0.0 < following < 1.0:
            v = _transition(rbm, v, following, b_base, generator)
    return -log_w if reverse else log_w


def _estimate(log_r: Tensor, log_z_base: float, sign: int, n_batches: int) -> tuple[float, float, tuple[float, ...]]:
    """``log_z`` of all chains, the batches' standard error, the batches' estimates (``sign`` -1: reverse)."""
    def log_mean(part: Tensor) -> float:
        return float(torch.logsumexp(part, 0)) - math.log(part.numel())

    batches = tuple(log_z_base + sign * log_mean(part) for part in log_r.tensor_split(min(n_batches, log_r.numel())))
    std_error = statistics.stdev(batches) / math.sqrt(len(batches)) if len(batches) > 1 else math.inf
    return log_z_base + sign * log_mean(log_r), std_error, batches


def _converged(
    log_z: float, std_error: float, ess: float, n_chains: int, half: tuple[float, float] | None, sign: int
) -> bool:
    """The test of :attr:`AISResult.converged` (``half``: log Z and standard error with half the temperatures)."""
    if not (math.isfinite(std_error) and ess >= MIN_ESS_FRACTION * n_chains):
        return False
    return half is None or sign * (log_z - half[0]) <= max(3 * math.hypot(std_error, half[1]), CONVERGENCE_TOLERANCE)


def _external_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller name the first frame outside
    this package and torch (whose ``no_grad`` wrappers sit between)."""
    inside = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(torch.__file__)))
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _checked_result(
    rbm: EnergyModel, run: Callable[[int], Tensor], n_betas: int, n_batches: int, b_base: Tensor, *,
    reverse: bool, check_convergence: bool,
) -> AISResult:
    """Run the anneal ``run(n_betas)`` (and ``run(n_betas // 2)``), summarise it, warn unless converged."""
    sign, log_z_base = (-1 if reverse else 1), _base_log_partition(rbm, b_base)
    log_r = run(n_betas)
    n_chains = log_r.numel()
    log_z, std_error, batches = _estimate(log_r, log_z_base, sign, n_batches)
    half = None
    if check_convergence and max(10, n_betas // 2) < n_betas:
        half = _estimate(run(max(10, n_betas // 2)), log_z_base, sign, n_batches)[:2]
    relative = torch.exp(log_r - log_r.logsumexp(0) + math.log(n_chains))
    ess = effective_sample_size(log_r)
    result = AISResult(
        log_z=log_z, std_error=std_error, batch_log_z=batches, ess=ess, n_chains=n_chains, n_betas=n_betas,
        delta_std_error=float(relative.std()) / math.sqrt(n_chains) if n_chains > 1 else math.inf,
        direction="reverse" if reverse else "forward", log_z_half=None if half is None else half[0],
        converged=_converged(log_z, std_error, ess, n_chains, half, sign),
    )
    if not result.converged:
        moved = "" if half is None else f"; halving the temperatures moves it by {log_z - half[0]:+.2f} nats"
        warnings.warn(
            f"{result.direction} AIS has not converged: log Z = {log_z:.2f} +- {std_error:.2f} from {n_chains} chains "
            f"in {len(batches)} batches, effective sample size {ess:.1f}{moved}; the estimate is probably too "
            f"{'high' if reverse else 'low'}: use more temperatures (n_betas) or more chains (n_chains)",
            RuntimeWarning,
            stacklevel=_external_stacklevel(),
        )
    return result


def _checked_options(rbm: EnergyModel, n_betas: int, n_batches: int, base_bias: Any, generator: Any) -> Tensor:
    """Check the options shared by forward and reverse AIS; return the base-rate biases."""
    check_positive(n_betas, "n_betas", integer=True)
    check_positive(n_batches, "n_batches", integer=True)
    check_generator(generator, "generator", rbm.weight.device)
    _check_likelihood_defined(rbm)
    b = rbm.visible_bias.detach()
    return rbm.base_rate_bias().to(b) if base_bias is None else _checked_base_bias(base_bias, b)


@torch.no_grad()
def ais(
    rbm: EnergyModel,
    *,
    n_chains: int = 100,
    n_betas: int = 14500,
    n_batches: int = 10,
    base_bias: Tensor | None = None,
    generator: torch.Generator | None = None,
    check_convergence: bool = True,
    progress: bool = False,
) -> AISResult:
    r"""Estimate :math:`\log Z` by (forward) annealed importance sampling, with its diagnostics.

    :math:`\log \hat Z = \log Z_0 + \log \frac1M \sum_m w_m` over all chains satisfies
    :math:`E[\log \hat Z] \le \log Z` (:math:`E[w] = Z/Z_0` and Jensen): a stochastic lower bound,
    so a log-likelihood computed with it is too high in expectation.

    Parameters
    ----------
    rbm : EnergyModel
        Model with exact free energies (e.g. Bernoulli or one-of-K hidden units).
    n_chains : int
        Independent AIS chains :math:`M`.
    n_betas : int
        Number of intermediate temperatures (see :func:`ais_betas`).
    n_batches : int
        The chains are split into this many batches (at most one per chain), each giving its own
        estimate; ``std_error`` is their standard error.
    base_bias : Tensor, optional
        Visible biases :math:`b_A` of the base-rate model; by default ``visible.bias_from_mean`` of
        the training data's mean (``rbm.base_rate_bias()``): its log-odds (Bernoulli visible), the
        log of the category frequencies (one-of-K groups), or zero (standardised Gaussian visible).
    generator : torch.Generator, optional
        Source of randomness, on the model's device.
    check_convergence : bool
        Also run ``n_chains`` chains with half the temperatures (50% more time) to detect an
        estimate still rising with the number of temperatures.
    progress : bool
        Show a progress bar over the temperatures of each anneal.

    Returns
    -------
    AISResult
        ``converged`` is False, and a ``RuntimeWarning`` is raised, when the estimate cannot be
        trusted at its error bar (see :class:`AISResult`).

    Raises
    ------
    TypeError
        For an ``n_chains``, ``n_betas`` or ``n_batches`` that is not an integer, a ``base_bias``
        that is not an array of real numbers, or a ``generator`` that is not a ``torch.Generator``.
    ValueError
        For ``n_chains < 1``, ``n_batches < 1``, ``n_betas < 10``, a ``base_bias`` that is not
        finite or not of shape ``(n_visible,)``, a generator on another device, or unit types
        without an exact free energy.
    """
    check_positive(n_chains, "n_chains", integer=True)
    b_base = _checked_options(rbm, n_betas, n_batches, base_bias, generator)

    def run(n: int) -> Tensor:
        v = rbm.visible.sample(b_base.expand(n_chains, -1).contiguous(), generator)
        return _anneal(rbm, v, ais_betas(n).tolist(), b_base, generator, reverse=False, progress=progress)

    return _checked_result(rbm, run, n_betas, n_batches, b_base, reverse=False, check_convergence=check_convergence)


@torch.no_grad()
def reverse_ais(
    rbm: EnergyModel,
    start: Tensor,
    *,
    n_betas: int = 14500,
    n_batches: int = 10,
    gibbs_steps: int = 1000,
    base_bias: Tensor | None = None,
    generator: torch.Generator | None = None,
    check_convergence: bool = True,
) -> AISResult:
    r"""Estimate :math:`\log Z` by reverse AIS from samples of the model: a stochastic upper bound.

    Each chain starts at a row of ``start``, runs ``gibbs_steps`` Gibbs steps at :math:`\beta = 1`
    and anneals down to the base-rate model, :math:`v_{k-1} \sim T_k(v_k, \cdot)`, weighed by the
    forward weight :math:`w` of the path. For exact samples of the model :math:`E[1/w] = Z_0/Z`
    (Burda, Grosse & Salakhutdinov 2015), so :math:`\log \hat Z = \log Z_0 - \log \frac1M \sum_m
    w_m^{-1}` has :math:`E[\log \hat Z] \ge \log Z`, and a log-likelihood computed with it is a
    conservative (low) estimate. From states that are not exact samples (data rows after a finite
    number of Gibbs steps) the bound holds only as far as the chains have reached the model.

    Parameters
    ----------
    rbm : EnergyModel
        Model with exact free energies.
    start : Tensor, shape (n_chains, n_visible)
        Starting visible states in model units (``rbm.standardize`` of data), one chain each.
    gibbs_steps : int
        Gibbs steps at :math:`\beta = 1` before the anneal (0: ``start`` are exact samples).
    n_betas, n_batches, base_bias, generator, check_convergence
        As for :func:`ais` (``check_convergence`` anneals the same started states again with half
        the temperatures).

    Returns
    -------
    AISResult
        With ``direction="reverse"``.
    """
    check_positive(gibbs_steps, "gibbs_steps", integer=True, allow_zero=True)
    b_base = _checked_options(rbm, n_betas, n_batches, base_bias, generator)
    v = as_float_tensor(start, "start", dtype=rbm.weight.dtype, device=rbm.weight.device, n_features=rbm.n_visible)
    v = rbm.gibbs_chain(v, gibbs_steps, generator) if gibbs_steps else v

    def run(n: int) -> Tensor:
        return _anneal(rbm, v, ais_betas(n).tolist(), b_base, generator, reverse=True)

    return _checked_result(rbm, run, n_betas, n_batches, b_base, reverse=True, check_convergence=check_convergence)


def log_partition_bounds(
    rbm: EnergyModel, start: Tensor, *, n_chains: int = 100, n_std_errors: float = 2.0,
    generator: torch.Generator | None = None, **options: Any,
) -> tuple[float, float]:
    r"""An interval for :math:`\log Z` from forward and reverse AIS.

    .. math::

        \Big[\log \hat Z_{\mathrm{fwd}} - s\,\mathrm{se}_{\mathrm{fwd}},\;
        \log \hat Z_{\mathrm{rev}} + s\,\mathrm{se}_{\mathrm{rev}}\Big], \qquad s = \texttt{n\_std\_errors}:

    each end is a stochastic bound (:func:`ais` below, :func:`reverse_ais` above) widened by its
    standard error, so a short anneal widens the interval instead of moving it off the truth. A
    wide interval says the estimates cannot be trusted; a narrow one can be trusted as far as the
    reverse chains start from samples of the model (chains that all miss a mode of the model, in
    both directions, agree on a wrong value).

    Parameters
    ----------
    rbm : EnergyModel
        Model with exact free energies.
    start : Tensor, shape (n_rows, n_visible)
        States (model units) the reverse chains start from: model samples, or data rows, which
        ``gibbs_steps`` Gibbs steps (default 1000) move towards the model. ``n_chains`` rows are
        drawn from them (without replacement when there are enough).
    n_chains : int
        Chains of each direction.
    n_std_errors : float
        :math:`s`, the number of standard errors each end is widened by.
    generator : torch.Generator, optional
        Source of randomness, on the model's device.
    **options
        ``n_betas``, ``n_batches``, ``base_bias``, ``check_convergence`` (both directions) and
        ``gibbs_steps`` (reverse).

    Returns
    -------
    lower, upper : float
        ``upper < lower`` (with a ``RuntimeWarning``) when the reverse estimate falls below the
        forward one by more than their widening: then the reverse chains cannot have started
        from samples of the model (data rows of a CD-trained model that Gibbs sampling does not
        carry to the model's modes do this).
    """
    check_positive(n_std_errors, "n_std_errors", allow_zero=True)
    rows = as_float_tensor(start, "start", dtype=rbm.weight.dtype, device=rbm.weight.device, n_features=rbm.n_visible)
    gibbs_steps = options.pop("gibbs_steps", 1000)
    forward = ais(rbm, n_chains=n_chains, generator=generator, **options)
    if len(rows) >= n_chains:
        index = torch.randperm(len(rows), generator=generator, device=rows.device)[:n_chains]
    else:
        index = torch.randint(len(rows), (n_chains,), generator=generator, device=rows.device)
    reverse = reverse_ais(rbm, rows[index], gibbs_steps=gibbs_steps, generator=generator, **options)
    lower, upper = forward.log_z - n_std_errors * forward.std_error, reverse.log_z + n_std_errors * reverse.std_error
    if upper < lower:
        warnings.warn(
            f"reverse AIS ({reverse.log_z:.2f} +- {reverse.std_error:.2f}) is below forward AIS ({forward.log_z:.2f} "
            f"+- {forward.std_error:.2f}): the reverse chains did not start from samples of the model, so the upper "
            "bound does not hold; start them from model samples or run more gibbs_steps",
            RuntimeWarning,
            stacklevel=_external_stacklevel(),
        )
    return lower, upper


def ais_log_partition(rbm: EnergyModel, **options: Any) -> tuple[float, float]:
    """``(log_z, std_error)`` of :func:`ais` (same options): the estimate and its batches' standard error."""
    result = ais(rbm, **options)
    return result.log_z, result.std_error


def log_partition_estimate(rbm: EnergyModel, method: str = "exact", **options: Any) -> tuple[float, float]:
    """``(log Z, standard error)`` by ``method``: ``"exact"`` (error 0, options of
    :func:`exact_log_partition`) or ``"ais"`` (options of :func:`ais`).

    Raises
    ------
    ValueError
        For another ``method``.
    """
    if method == "exact":
        return exact_log_partition(rbm, **options), 0.0
    if method == "ais":
        return ais_log_partition(rbm, **options)
    raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")


def _log_jacobian(rbm: EnergyModel) -> float:
    r""":math:`\sum_i \log s_i` of the standardisation of Gaussian visible data (0 for other units)."""
    return float(torch.log(rbm.data_std.double()).sum()) if rbm.visible.standardize_data else 0.0


@torch.no_grad()
def mean_log_likelihood(
    rbm: EnergyModel, V: Tensor, method: str = "exact", *, return_error: bool = False, bounds: bool = False,
    **options: Any,
) -> float | tuple[float, float]:
    r"""Mean log-probability :math:`\frac1N \sum_n \log p(x_n) = -\overline{F(\tilde x)} - \log Z -
    \sum_i \log s_i` of the rows ``V`` (model units :math:`\tilde x`; the last term is the
    standardisation's Jacobian for Gaussian visible units).

    Parameters
    ----------
    rbm : EnergyModel
    V : Tensor, shape (N, n_visible)
        Checked rows in model units.
    method : {"exact", "ais"}
        How :math:`\log Z` is found (:func:`log_partition_estimate`).
    return_error : bool
        Return ``(value, standard error of log Z)``.
    bounds : bool
        Return an interval ``(lower, upper)`` instead: with ``"ais"`` the log-likelihood under the
        two ends of :func:`log_partition_bounds` (the lower end is conservative), with ``"exact"``
        the exact value twice.
    **options
        Options of the ``method``; with ``bounds``, of :func:`log_partition_bounds`, and ``start``:
        the states the reverse chains start from (default the rows of ``V``; model samples, such
        as persistent chains, make the upper bound on :math:`\log Z` hold better).
    """
    if return_error and bounds:
        raise ValueError("return_error and bounds cannot both be set: the bounds already include the error")
    mean_free_energy = float(torch.cat([rbm.model_free_energy(chunk).double() for chunk in V.split(4096)]).mean())
    data_term = -mean_free_energy - _log_jacobian(rbm)
    if bounds and method == "ais":
        lower_z, upper_z = log_partition_bounds(rbm, options.pop("start", V), **options)
        return data_term - upper_z, data_term - lower_z
    log_z, error = log_partition_estimate(rbm, method, **options)
    if bounds:
        return data_term - log_z, data_term - log_z
    return (data_term - log_z, error) if return_error else data_term - log_z


def _conditional_log_density(rbm: EnergyModel, v: Tensor, h: Tensor) -> Tensor:
    r""":math:`\log p(v \mid h)` of each row (``v`` in model units; the density of the data units)."""
    z = rbm.visible_input(h)
    log_p = (z * v).sum(1) - rbm.visible.base(v) - rbm.visible.log_partition(z).sum(1)
    return log_p.double() - _log_jacobian(rbm)


def _bound_terms(rbms: Sequence[EnergyModel], H: Tensor, log_z_top: float, generator: torch.Generator | None) -> Tensor:
    r"""One sample per row of :math:`\log p_L(h_{L-1}) + \sum_l [\log p(h_{l-1} \mid h_l) + H(q(h_l \mid h_{l-1}))]`."""
    terms = torch.zeros(H.shape[0], dtype=torch.float64, device=H.device)
    for rbm in rbms[:-1]:
        v = rbm.standardize(H)
        x = rbm.hidden_input(v)
        H = rbm.hidden.sample(x, generator)
        # entropy of the factorial posterior: sum_j log Z_h(x_j) - x . E[h] + E[base(h)] (this sample's base)
        entropy = rbm.hidden.log_partition(x).sum(1) - (x * rbm.hidden.mean(x)).sum(1) + rbm.hidden.base(H)
        terms += entropy.double() + _conditional_log_density(rbm, v, H)
    top = rbms[-1]
    return terms - top.model_free_energy(top.standardize(H)).double() - _log_jacobian(top) - log_z_top


@torch.no_grad()
def dbn_log_likelihood_bound(
    rbms: Sequence[EnergyModel],
    X: Tensor,
    *,
    n_samples: int = 10,
    method: str = "ais",
    return_error: bool = False,
    generator: torch.Generator | None = None,
    chunk_size: int = 4096,
    log_z: tuple[float, float] | None = None,
    **options: Any,
) -> float | tuple[float, float]:
    r"""Variational lower bound on the mean log-likelihood of a deep belief net (Salakhutdinov & Murray 2008).

    For a DBN :math:`v - h_1 - h_2` whose top RBM models :math:`h_1` (the generative model
    :math:`p(v, h_1) = p(v \mid h_1)\, p^*(h_1) / Z_{top}`, :math:`p^*(h_1) = e^{-F_{top}(h_1)}`)
    and any distribution :math:`q`, Jensen's inequality gives

    .. math::

        \log p(v) \ge \sum_{h_1} q(h_1 \mid v) \big[\log p^*(h_1) + \log p(v \mid h_1)\big]
        - \log Z_{top} + \mathcal H\big(q(h_1 \mid v)\big),

    with equality when :math:`q` is the DBN's posterior; :math:`q` is the first RBM's factorial
    posterior. The sum is estimated with ``n_samples`` samples :math:`h_1 \sim q` per row, the
    entropy exactly (:math:`\sum_j \log Z_h(x_j) - x^\top E[h]`, plus the sampled base term of
    units that have one), and :math:`\log Z_{top}` by ``method``. Deeper nets chain the posteriors
    :math:`q(h_l \mid h_{l-1})` the same way, adding :math:`\log p(h_{l-1} \mid h_l) + \mathcal
    H(q(h_l \mid h_{l-1}))` per layer; a single RBM gives its exact log-likelihood.

    The estimate is a lower bound only up to its noise: with :math:`\log Z_{top}` from forward AIS
    (biased low) it is biased *up*, by that bias; with ``method="exact"`` it is unbiased.

    Parameters
    ----------
    rbms : sequence of EnergyModel
        The stack, bottom first; each RBM's visible layer models the hidden layer below.
    X : Tensor, shape (N, n_visible)
        Checked data rows, in data units.
    n_samples : int
        Samples :math:`h_1 \sim q(h_1 \mid v)` per row.
    method : {"ais", "exact"}
        How :math:`\log Z_{top}` is found (:func:`log_partition_estimate`; ``options`` go there).
    return_error : bool
        Also return the standard error: the Monte Carlo error of the mean (from the spread of
        each row's samples; infinite for ``n_samples=1``) and the error of
        :math:`\log Z_{top}`, added in quadrature.
    generator : torch.Generator, optional
        Source of randomness (samples and AIS), on the models' device.
    chunk_size : int
        Rows sampled at a time (each taking ``n_samples`` rows of memory).
    log_z : (float, float), optional
        :math:`\log Z_{top}` and its standard error when already estimated (for instance the higher
        of two anneals); ``method`` and ``options`` are then unused.

    Returns
    -------
    float, or (float, float) with ``return_error``
    """
    check_positive(n_samples, "n_samples", integer=True)
    check_positive(chunk_size, "chunk_size", integer=True)
    for rbm in rbms:
        _check_likelihood_defined(rbm)
    check_generator(generator, "generator", rbms[0].weight.device)
    if log_z is None:
        top_options = {**options, "generator": generator} if method == "ais" else options
        log_z = log_partition_estimate(rbms[-1], method, **top_options)
    log_z_top, z_error = log_z
    row_means, row_variances = [], []
    for chunk in X.split(chunk_size):
        terms = _bound_terms(rbms, chunk.repeat_interleave(n_samples, 0), log_z_top, generator).view(-1, n_samples)
        row_means.append(terms.mean(1))
        row_variances.append(terms.var(1) if n_samples > 1 else torch.full_like(terms[:, 0], math.inf))
    means, variances = torch.cat(row_means), torch.cat(row_variances)
    bound = float(means.mean())
    if not return_error:
        return bound
    monte_carlo = math.sqrt(float(variances.sum()) / n_samples) / len(means)
    return bound, math.hypot(monte_carlo, z_error)
