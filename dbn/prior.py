r"""An upper RBM that starts as the prior of the RBM below it: the start of the greedy guarantee.

A binary RBM with weights :math:`W` (hidden :math:`\times` visible), visible biases :math:`b`
and hidden biases :math:`c` defines a prior over its hidden layer,

.. math::

    p(h) \propto \exp\Big(c^\top h + \sum_i \operatorname{softplus}(b_i + W_{:, i}^\top h)\Big),

which is itself the marginal of an RBM over :math:`h`: visible biases :math:`c`, one hidden unit
per visible unit of the lower RBM, with weights :math:`W^\top` and biases :math:`b`. A deep
belief net whose top RBM starts there has the lower RBM's likelihood (exactly, for an upper RBM
of that width; up to the small remainder below for a wider one), its factorial
posterior is exact, and the variational bound equals :math:`\log p(v)`; training the top RBM on
the lower one's posterior samples can then only raise the bound, as far as training increases
their likelihood (Hinton, Osindero & Teh 2006).

An upper layer wider than the lower RBM's visible layer gets its extra hidden units with small
random weights :math:`w_k` and bias 0. Each contributes
:math:`\operatorname{softplus}(w_k^\top h) = \log 2 + \tfrac12 w_k^\top h + O((w_k^\top h)^2)`
to the log-marginal; the linear term is taken out of the visible biases, so the start differs
from the lower RBM's prior only by the quadratic remainder, :math:`\sum_k (w_k^\top h)^2 / 8`:
about ``n_extra * scale**2 * |h| / 8`` nats for a state with :math:`|h|` active units (0.015 for
the 1216 extra units of a 500-2000 RBM over a 784-500 one, 100 active ones and the default
``scale=1e-3``), and only its variation across states changes the normalised prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dbn.rbm import RBM
from dbn.validation import check_generator, check_positive

__all__ = ["check_prior_start", "check_upper_start", "start_as_prior", "transposed"]


def check_binary(rbm: RBM, name: str) -> None:
    """Raise unless both layers of ``rbm`` are Bernoulli units."""
    kinds = (rbm.visible.name, rbm.hidden.name)
    if kinds != ("bernoulli", "bernoulli"):
        raise ValueError(f"{name} must have Bernoulli visible and hidden units, got {kinds[0]} and {kinds[1]}")


def check_prior_start(upper: RBM, lower: RBM) -> None:
    """Raise unless ``upper`` can start as ``lower``'s prior: both binary, ``upper`` over ``lower``'s
    hidden layer and at least as wide as ``lower``'s visible layer."""
    check_binary(upper, "upper")
    check_binary(lower, "lower")
    if upper.n_visible != lower.n_hidden:
        raise ValueError(f"upper.n_visible must equal lower.n_hidden ({lower.n_hidden}), got {upper.n_visible}")
    if upper.n_hidden < lower.n_visible:
        raise ValueError(f"upper.n_hidden must be at least lower.n_visible ({lower.n_visible}), got {upper.n_hidden}")


def check_upper_start(upper_start: str, rbms: Sequence[RBM]) -> None:
    """Raise unless ``upper_start`` is "random" or "prior", and for "prior" unless every RBM of the
    stack ``rbms`` (bottom first) can start as the prior of the one below it."""
    if upper_start not in ("random", "prior"):
        raise ValueError(f"upper_start must be 'random' or 'prior', got {upper_start!r}")
    if upper_start == "prior":
        for lower, upper in zip(rbms[:-1], rbms[1:], strict=True):
            check_prior_start(upper, lower)


@torch.no_grad()
def start_as_prior(upper: RBM, lower: RBM, *, data_mean: Tensor | None = None, chains: Tensor | None = None,
                   scale: float = 1e-3, generator: torch.Generator | None = None) -> RBM:
    """Set ``upper`` (an RBM over ``lower``'s hidden layer) to ``lower``'s prior over that layer.

    Parameters
    ----------
    upper : RBM
        Binary, with ``upper.n_visible == lower.n_hidden`` and ``upper.n_hidden >=
        lower.n_visible``; changed in place, its ``history_`` emptied.
    lower : RBM
        Binary; left unchanged.
    data_mean : Tensor, optional
        The mean of ``upper``'s training data (``lower``'s hidden means on the data), stored as
        ``upper.data_mean`` for the base-rate model of AIS and of persistent chains.
    chains : Tensor, optional, shape (n_chains, upper.n_visible)
        Binary rows (samples of ``lower``'s posterior on the data) to start persistent chains from:
        ``upper.fit(..., persistent=True, n_chains=n_chains, warm_start=True)`` continues them. The
        start is a good model, whose samples its posterior samples already are; chains drawn from
        the base rate instead would be far from it, and the first updates would spoil it.
    scale : float
        Standard deviation of the weights of the extra hidden units: enough to tell them apart
        (units with equal weights get equal gradients), small enough to leave the prior as it is.
    generator : torch.Generator, optional
        Source of those weights.

    Returns
    -------
    RBM
        ``upper``; continue it with ``upper.fit(H, warm_start=True, ...)``.
    """
    check_prior_start(upper, lower)
    check_positive(scale, "scale")
    check_generator(generator, "generator", upper.weight.device)
    if data_mean is not None and tuple(data_mean.shape) != (upper.n_visible,):
        raise ValueError(f"data_mean must have shape ({upper.n_visible},), got {tuple(data_mean.shape)}")
    if chains is not None and (chains.ndim != 2 or chains.shape[1] != upper.n_visible):
        raise ValueError(f"chains must have shape (n_chains, {upper.n_visible}), got {tuple(chains.shape)}")
    n_copied = lower.n_visible
    extra = torch.randn(upper.n_hidden - n_copied, upper.n_visible, generator=generator,
                        dtype=upper.weight.dtype, device=upper.weight.device).mul_(scale)
    upper.weight[:n_copied] = lower.weight.T.to(upper.weight)
    upper.weight[n_copied:] = extra
    upper.hidden_bias[:n_copied] = lower.visible_bias.to(upper.hidden_bias)
    upper.hidden_bias[n_copied:] = 0
    upper.visible_bias.copy_(lower.hidden_bias.to(upper.visible_bias) - 0.5 * extra.sum(0))
    if data_mean is not None:
        upper.data_mean.copy_(data_mean.to(upper.data_mean))
    upper.history_ = []
    upper.training_state_ = None  # an interrupted run of other parameters is not to be resumed
    upper.persistent_chains_ = None if chains is None else chains.to(upper.weight).clone()
    return upper


def transposed(rbm: RBM, *, data_mean: Tensor | None = None) -> RBM:
    r"""The binary RBM ``rbm`` with its layers swapped: the same model, the same partition function.

    Annealed importance sampling on it anneals over ``rbm``'s hidden layer instead of its visible
    one, from a base-rate model of the hidden units (``data_mean``: their mean on the data, e.g.
    ``rbm.transform(X).mean(0)``; default 0.5). Each anneal is a stochastic lower bound on the same
    :math:`\log Z`, so when they disagree beyond their errors the higher is the closer, and the
    lower one's error bar missed its bias.
    """
    swapped = RBM(rbm.n_hidden, rbm.n_visible, dtype=rbm.weight.dtype).to(rbm.weight.device)
    return start_as_prior(swapped, rbm, data_mean=data_mean)
