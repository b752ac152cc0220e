r"""Negative phases beyond plain PCD, and the centered gradient: three density-modelling options of CD training.

Each is part of the CD objective (:class:`dbn.cd.ContrastiveDivergence`, options ``sampler`` and
``centering``) and is switched on by fields of :class:`dbn.config.CDConfig`. None of them changes
how the model is parameterised: the RBM keeps its ordinary :math:`W, b, c`, so sampling, the
likelihood and the unrolled networks work as before.

**Fast persistent CD** (:class:`FastWeights`; Tieleman & Hinton 2009). The persistent chains move
with the parameters :math:`\theta + \theta_f`, where the *fast* parameters :math:`\theta_f`
(weights and both biases, zero at the start) follow the same gradient :math:`g` of the CD
surrogate as the regular ones, with their own rate :math:`\eta_f` and a strong decay :math:`\rho`
instead of weight decay:

.. math::  \theta_f \leftarrow \rho\, \theta_f - \eta_f\, g \qquad (\rho = 19/20 \text{ in the paper}).

The fast parameters are used for nothing but the Gibbs steps of the chains: the data's and the
chains' hidden means in the gradient are those of the regular model, so the gradient is the
regular model's free-energy gradient at the chains' states, as in PCD. Since the fast weights
quickly raise the energy of wherever the chains are, the chains are pushed out of modes the
regular model has already learnt to dislike, and mix faster.

**Parallel tempering** (:class:`ParallelTempering`; Desjardins, Courville, Bengio, Vincent &
Delalleau 2010). ``n_chains`` persistent chains at each of :math:`M` inverse temperatures
:math:`\beta_1 < \dots < \beta_M = 1`. The tempered model is the geometric path between the
base-rate model :math:`E_A(v) = \mathrm{base}(v) - b_A^\top v` (independent visible units with
the data's means; :meth:`dbn.energy.EnergyModel.base_rate_bias`) and the RBM, the path AIS takes
(:mod:`dbn.likelihood`):

.. math::

    E_\beta(v, h) = (1 - \beta) E_A(v) + \beta E(v, h)
                  = \mathrm{base}(v) - \big((1-\beta) b_A + \beta b\big)^\top v - \beta (c^\top h + h^\top W v),

.. math::  F_\beta(v) = \mathrm{base}(v) - \big((1-\beta) b_A + \beta b\big)^\top v
                        - \textstyle\sum_j \log Z_h\big(\beta (W v + c)_j\big),

so :math:`p(h \mid v)` at :math:`\beta` has the input :math:`\beta (W v + c)` and :math:`p(v \mid h)`
the input :math:`\beta (W^\top h + b) + (1 - \beta) b_A`. With the base-rate model at the cold end
instead of the uniform distribution of a plain :math:`\beta E`, :math:`\beta_1 = 0` is allowed (its
chains are exact, independent draws of the base-rate model) and the hot chains already have the
data's marginals. Each update runs ``k`` Gibbs steps of every chain at its own temperature, then
proposes to exchange the states of neighbouring temperatures, first the pairs
:math:`(1, 2), (3, 4), \dots`, then :math:`(2, 3), (4, 5), \dots`. The swap of :math:`v_i` (at
:math:`\beta_i`) and :math:`v_j` (at :math:`\beta_j`) is a Metropolis move on the product
:math:`\prod_k p_{\beta_k}(v_k)`, accepted with probability

.. math::

    \min\Big(1, \frac{p_{\beta_i}(v_j)\, p_{\beta_j}(v_i)}{p_{\beta_i}(v_i)\, p_{\beta_j}(v_j)}\Big)
    = \min\big(1, \exp\big(F_{\beta_i}(v_i) + F_{\beta_j}(v_j) - F_{\beta_i}(v_j) - F_{\beta_j}(v_i)\big)\big)

(the partition functions cancel: each appears once above and once below). Written in joint
energies of states :math:`x = (v, h)` the exponent is
:math:`(\beta_i - \beta_j)\big(\Delta E(x_i) - \Delta E(x_j)\big)` with
:math:`\Delta E = E - E_A`, which is :math:`(\beta_i - \beta_j)(E(x_i) - E(x_j))` for the plain path
(:math:`b_A = 0`, no base term); the free energies used here are that rule with the hidden states
summed out. The move is symmetric and this acceptance satisfies detailed balance, so the product
distribution stays invariant; the chains at :math:`\beta = 1` are the negative sample.

**Centering** (:class:`Centering`; Melchior, Fischer & Wiskott 2016). The centered RBM has the
energy :math:`-(v - \mu)^\top b' - (h - \lambda)^\top c' - (h - \lambda)^\top W (v - \mu)` with
offsets :math:`\mu` (visible) and :math:`\lambda` (hidden); it is the ordinary RBM with
:math:`b = b' - W^\top \lambda` and :math:`c = c' - W \mu` (up to a constant). With the ordinary
log-likelihood gradient estimates

.. math::  g_W = \langle h v^\top \rangle_d - \langle h v^\top \rangle_m, \quad
           g_b = \langle v \rangle_d - \langle v \rangle_m, \quad
           g_c = \langle h \rangle_d - \langle h \rangle_m

(``n_hidden x n_visible`` layout), the centered gradient is
:math:`\langle (h - \lambda)(v - \mu)^\top \rangle_d - \langle (h - \lambda)(v - \mu)^\top \rangle_m
= g_W - g_c \mu^\top - \lambda g_b^\top` for the weights and :math:`g_b, g_c` for :math:`b', c'`. A
step :math:`\eta` in the centered parameters, mapped back to the ordinary ones, is

.. math::  \Delta W = \eta\, \tilde g_W, \qquad \Delta b = \eta\,(g_b - \tilde g_W^\top \lambda), \qquad
           \Delta c = \eta\,(g_c - \tilde g_W \mu), \qquad \tilde g_W = g_W - g_c \mu^\top - \lambda g_b^\top,

so :meth:`Centering.transform_` replaces the ordinary gradient by this one (the map is linear, so
it holds for the gradients of the surrogate, which are :math:`-g`, too) and the RBM stays in the
ordinary parameterisation. The offsets are running means, updated before each gradient with the
sliding factor :math:`\nu`: :math:`\mu \leftarrow (1 - \nu) \mu + \nu \langle v \rangle`,
:math:`\lambda \leftarrow (1 - \nu) \lambda + \nu \langle h \rangle`, of the data's means
(``"data"``) or of the average of the data's and the model's (``"average"``). Since the ordinary
parameters define the model, moving the offsets needs no reparameterisation. ``torch.optim``'s
momentum and weight decay act on the transformed gradient (the paper's momentum acts on the
centered one, which differs only by the offsets' drift).

All three compute in the parameters' dtype without autocast, and allocate (unlike the buffered
default step). :func:`negative_sampler` and :func:`make_centering` build them from a configuration.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from dbn.config import CDConfig
from dbn.energy import EnergyModel

__all__ = ["Centering", "FastWeights", "Gradients", "NegativeSampler", "ParallelTempering", "check_sampler_options",
           "make_centering", "negative_sampler", "swap_log_ratio", "tempered_free_energy", "tempering_betas"]

#: the gradients of the weights, visible and hidden biases
Gradients = tuple[Tensor, Tensor, Tensor]


class NegativeSampler(Protocol):
    """What the CD objective needs of a negative phase other than plain PCD."""

    def sample(self, chains: Tensor, generator: torch.Generator, k: int) -> Tensor:
        """The chains' next states (at :math:`\\beta = 1`) after ``k`` Gibbs steps from ``chains``."""
        ...

    def observe(self, gradients: Gradients) -> None:
        """See the step's final gradient (of the surrogate: weights, visible and hidden biases)."""
        ...

    def state(self) -> dict[str, Tensor]:
        """What a resumed run needs (CPU copies)."""
        ...

    def load_state(self, state: dict[str, Tensor]) -> None:
        """Continue from :meth:`state`'s output."""
        ...


def _gibbs(rbm: EnergyModel, v: Tensor, k: int, generator: torch.Generator, weight: Tensor, visible_bias: Tensor,
           hidden_bias: Tensor, beta: Tensor | None = None, base_bias: Tensor | None = None) -> Tensor:
    """``k`` Gibbs steps v -> h -> v with the given parameters, at the inverse temperatures ``beta``
    (one per row, a column; None for 1) on the path from the base-rate model ``base_bias``."""
    with torch.autocast(v.device.type, enabled=False):
        for _ in range(k):
            x = torch.addmm(hidden_bias, v, weight.t())
            h = rbm.hidden.sample(x if beta is None else beta * x, generator)
            z = torch.addmm(visible_bias, h, weight)
            v = rbm.visible.sample(z if beta is None else beta * z + (1 - beta) * base_bias, generator)
    return v


def _parameters(rbm: EnergyModel) -> Gradients:
    return rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()


class FastWeights:
    """The negative phase of fast persistent CD (see the module docstring).

    Parameters
    ----------
    rbm : EnergyModel
        The model whose regular parameters the fast ones are added to.
    lr : float
        The fast learning rate :math:`\\eta_f` (>= 0; 0 leaves the fast parameters decaying only).
    decay : float
        The factor :math:`\\rho` in [0, 1) the fast parameters are multiplied by at every update.

    Attributes
    ----------
    weight, visible_bias, hidden_bias : Tensor
        The fast parameters, shaped like the regular ones, zero at the start.
    """

    def __init__(self, rbm: EnergyModel, *, lr: float, decay: float) -> None:
        self.rbm, self.lr, self.decay = rbm, float(lr), float(decay)
        self.weight, self.visible_bias, self.hidden_bias = (torch.zeros_like(p) for p in _parameters(rbm))

    def sample(self, chains: Tensor, generator: torch.Generator, k: int) -> Tensor:
        """``k`` Gibbs steps of the chains under :math:`\\theta + \\theta_f`."""
        weight, visible_bias, hidden_bias = (p + f for p, f in zip(_parameters(self.rbm), self.fast(), strict=True))
        return _gibbs(self.rbm, chains, k, generator, weight, visible_bias, hidden_bias)

    def observe(self, gradients: Gradients) -> None:
        """:math:`\\theta_f \\leftarrow \\rho\\, \\theta_f - \\eta_f\\, g` for the step's gradient ``g``."""
        for fast, gradient in zip(self.fast(), gradients, strict=True):
            fast.mul_(self.decay).sub_(gradient, alpha=self.lr)

    def fast(self) -> Gradients:
        """The fast weights, visible and hidden biases."""
        return self.weight, self.visible_bias, self.hidden_bias

    def state(self) -> dict[str, Tensor]:
        names = ("weight", "visible_bias", "hidden_bias")
        return {name: tensor.detach().cpu().clone() for name, tensor in zip(names, self.fast(), strict=True)}

    def load_state(self, state: dict[str, Tensor]) -> None:
        for name, tensor in zip(("weight", "visible_bias", "hidden_bias"), self.fast(), strict=True):
            tensor.copy_(state[name])


def tempered_free_energy(rbm: EnergyModel, v: Tensor, beta: Tensor, base_bias: Tensor,
                         x: Tensor | None = None) -> Tensor:
    """:math:`F_\\beta(v)` of each row of ``v`` (module docstring) at the inverse temperatures ``beta``
    (a number, or one per row); ``x`` is ``rbm.hidden_input(v)`` when known."""
    x = rbm.hidden_input(v) if x is None else x
    beta = torch.as_tensor(beta, dtype=v.dtype, device=v.device).reshape(-1, 1)
    bias = (1 - beta) * base_bias + beta * rbm.visible_bias.detach()
    return rbm.visible.base(v) - (v * bias).sum(-1) - rbm.hidden.log_partition(beta * x).sum(-1)


def swap_log_ratio(rbm: EnergyModel, v_i: Tensor, v_j: Tensor, beta_i: Tensor, beta_j: Tensor,
                   base_bias: Tensor) -> Tensor:
    """The log Metropolis ratio of exchanging ``v_i`` (at ``beta_i``) and ``v_j`` (at ``beta_j``), row by row:
    :math:`F_{\\beta_i}(v_i) + F_{\\beta_j}(v_j) - F_{\\beta_i}(v_j) - F_{\\beta_j}(v_i)`."""
    x_i, x_j = rbm.hidden_input(v_i), rbm.hidden_input(v_j)
    staying = tempered_free_energy(rbm, v_i, beta_i, base_bias, x_i) + tempered_free_energy(rbm, v_j, beta_j, base_bias,
                                                                                            x_j)
    swapped = tempered_free_energy(rbm, v_j, beta_i, base_bias, x_j) + tempered_free_energy(rbm, v_i, beta_j, base_bias,
                                                                                            x_i)
    return staying - swapped


class ParallelTempering:
    """The negative phase of parallel tempering (see the module docstring).

    Parameters
    ----------
    rbm : EnergyModel
        The model, its data statistics set (the base-rate model is taken from them now).
    betas : Tensor, shape (M,)
        Increasing inverse temperatures in [0, 1], the last 1.
    n_chains : int
        Chains per temperature.
    generator : torch.Generator
        Draws the first states of the chains below :math:`\\beta = 1` from the base-rate model.

    Attributes
    ----------
    states : Tensor, shape (M - 1, n_chains, n_visible)
        The chains below :math:`\\beta = 1` (those at 1 are the objective's persistent chains).
    accepted, proposed : Tensor, shape (M - 1,)
        Accepted and proposed swaps of each neighbouring pair since the start (float64).
    """

    def __init__(self, rbm: EnergyModel, betas: Tensor, n_chains: int, generator: torch.Generator) -> None:
        self.rbm = rbm
        device, dtype = rbm.weight.device, rbm.weight.dtype
        self.betas = betas.to(device=device, dtype=dtype)
        self.base_bias = rbm.base_rate_bias().detach().to(dtype).clone()
        n_pairs = self.betas.numel() - 1
        start = self.base_bias.expand(n_pairs * n_chains, -1).contiguous()
        self.states = rbm.visible.sample(start, generator).reshape(n_pairs, n_chains, -1)
        self.accepted = torch.zeros(n_pairs, dtype=torch.float64, device=device)
        self.proposed = torch.zeros(n_pairs, dtype=torch.float64, device=device)

    def sample(self, chains: Tensor, generator: torch.Generator, k: int) -> Tensor:
        """``k`` Gibbs steps of every chain at its temperature, then the swaps of the even and of the
        odd neighbouring pairs; the new states at :math:`\\beta = 1`."""
        n_temperatures, n_chains = self.betas.numel(), chains.shape[0]
        stack = torch.cat([self.states, chains.unsqueeze(0)]).reshape(n_temperatures * n_chains, -1)
        beta = self.betas.repeat_interleave(n_chains).unsqueeze(1)
        stack = _gibbs(self.rbm, stack, k, generator, *_parameters(self.rbm), beta=beta, base_bias=self.base_bias)
        stack = stack.reshape(n_temperatures, n_chains, -1)
        with torch.autocast(chains.device.type, enabled=False):
            for first in (0, 1):
                self._swap(stack, first, generator)
        self.states.copy_(stack[:-1])
        return stack[-1]

    def _swap(self, stack: Tensor, first: int, generator: torch.Generator) -> None:
        """Propose the exchanges of temperatures ``first, first + 2, ...`` with the next ones, in place."""
        low = torch.arange(first, self.betas.numel() - 1, 2, device=stack.device)
        if low.numel() == 0:
            return
        v_low, v_high = stack[low], stack[low + 1]
        n_chains = stack.shape[1]
        beta_low = self.betas[low].repeat_interleave(n_chains)
        beta_high = self.betas[low + 1].repeat_interleave(n_chains)
        log_r = swap_log_ratio(self.rbm, v_low.flatten(0, 1), v_high.flatten(0, 1), beta_low, beta_high,
                               self.base_bias).reshape(low.numel(), n_chains)
        u = torch.rand(log_r.shape, generator=generator, dtype=log_r.dtype, device=log_r.device)
        accept = (u.log() < log_r).unsqueeze(-1)
        stack[low], stack[low + 1] = torch.where(accept, v_high, v_low), torch.where(accept, v_low, v_high)
        self.accepted.index_add_(0, low, accept.squeeze(-1).sum(1, dtype=torch.float64))
        self.proposed.index_add_(0, low, torch.full((low.numel(),), float(n_chains), dtype=torch.float64,
                                                    device=stack.device))

    def observe(self, gradients: Gradients) -> None:
        """Nothing: the tempered chains do not depend on the gradient."""

    def acceptance_rate(self) -> Tensor:
        """The fraction of accepted swaps of each neighbouring pair (NaN before the first)."""
        return self.accepted / self.proposed

    def state(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).detach().cpu().clone() for name in ("states", "accepted", "proposed")}

    def load_state(self, state: dict[str, Tensor]) -> None:
        for name in ("states", "accepted", "proposed"):
            getattr(self, name).copy_(state[name])


class Centering:
    """The centered gradient as a transform of the ordinary one (see the module docstring).

    Parameters
    ----------
    rbm : EnergyModel
        The model; the offsets start at its data mean (model units) and at the hidden means of
        its hidden biases (0.5 for Bernoulli units with zero biases).
    rate : float
        The sliding factor :math:`\\nu` in [0, 1] of the offsets' running means (0 keeps them).
    offsets : {"data", "average"}
        Running means of the data's means, or of the average of the data's and the model's.

    Attributes
    ----------
    visible_offset, hidden_offset : Tensor
        :math:`\\mu` and :math:`\\lambda`.
    """

    def __init__(self, rbm: EnergyModel, *, rate: float, offsets: str = "data") -> None:
        self.rate, self.offsets = float(rate), offsets
        with torch.no_grad():
            self.visible_offset = rbm.standardize(rbm.data_mean).detach().to(rbm.weight.dtype).clone()
            self.hidden_offset = rbm.hidden.mean(rbm.hidden_bias.detach()).clone()

    def update(self, v_data: Tensor, p_data: Tensor, v_model: Tensor, p_model: Tensor) -> None:
        """Move the offsets towards this step's means (of the data, or of data and model averaged)."""
        dtype = self.visible_offset.dtype
        visible, hidden = v_data.mean(0, dtype=dtype), p_data.mean(0, dtype=dtype)
        if self.offsets == "average":
            visible = (visible + v_model.mean(0, dtype=dtype)) / 2
            hidden = (hidden + p_model.mean(0, dtype=dtype)) / 2
        self.visible_offset.lerp_(visible, self.rate)
        self.hidden_offset.lerp_(hidden, self.rate)

    def transform_(self, gradients: Gradients) -> Gradients:
        """The ordinary gradients ``(W, b, c)`` replaced, in place, by the centered step mapped back:
        :math:`\\tilde g_W = g_W - g_c \\mu^\\top - \\lambda g_b^\\top`, :math:`g_b - \\tilde g_W^\\top \\lambda`,
        :math:`g_c - \\tilde g_W \\mu`."""
        weight, visible, hidden = gradients
        mu, lam = self.visible_offset, self.hidden_offset
        with torch.autocast(weight.device.type, enabled=False):  # in the parameters' dtype in either path
            weight.sub_(torch.outer(hidden, mu)).sub_(torch.outer(lam, visible))
            visible.sub_(lam @ weight)
            hidden.sub_(weight @ mu)
        return gradients

    def state(self) -> dict[str, Tensor]:
        return {"visible_offset": self.visible_offset.cpu().clone(), "hidden_offset": self.hidden_offset.cpu().clone()}

    def load_state(self, state: dict[str, Tensor]) -> None:
        self.visible_offset.copy_(state["visible_offset"])
        self.hidden_offset.copy_(state["hidden_offset"])


def tempering_betas(n_temperatures: int, min_beta: float) -> Tensor:
    """:math:`M` inverse temperatures evenly spaced from ``min_beta`` to 1 (float64)."""
    return torch.linspace(min_beta, 1.0, n_temperatures, dtype=torch.float64)


def check_sampler_options(rbm: EnergyModel, config: CDConfig) -> None:
    """Refuse, before training, options the model's unit types cannot support: parallel tempering
    swaps by free energies, so both layers need exact ones (not ReLU hidden units, say)."""
    if config.tempering is not None and not (rbm.visible.exact_free_energy and rbm.hidden.exact_free_energy):
        raise ValueError(
            f"tempering needs unit types with an exact free energy for its swaps; {rbm.visible.name} visible and "
            f"{rbm.hidden.name} hidden units do not both have one: use fast_weights or plain persistent CD"
        )


def negative_sampler(rbm: EnergyModel, config: CDConfig, generator: torch.Generator,
                     n_chains: int) -> NegativeSampler | None:
    """The negative phase that ``config`` (``lr`` resolved) asks for, with ``n_chains`` chains per temperature:
    :class:`FastWeights`, :class:`ParallelTempering`, or None for plain CD/PCD."""
    if config.fast_weights:
        return FastWeights(rbm, lr=config.lr if config.fast_lr is None else config.fast_lr, decay=config.fast_decay)
    if config.tempering is not None:
        return ParallelTempering(rbm, tempering_betas(config.tempering, config.tempering_min_beta), n_chains,
                                 generator)
    return None


def make_centering(rbm: EnergyModel, config: CDConfig) -> Centering | None:
    """The :class:`Centering` of ``config``, or None without centering."""
    if not config.centering:
        return None
    return Centering(rbm, rate=config.centering_rate, offsets=config.centering_offsets)
