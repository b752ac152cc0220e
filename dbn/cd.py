r"""Contrastive divergence as one differentiable node: the free-energy difference.

The CD update of an RBM is the gradient of

.. math::  L = \frac1n \sum_{a} F(v^{data}_a) - \frac1m \sum_{b} F(\mathrm{sg}(v^{model}_b)),

where the model samples end a Gibbs chain and are held constant. Since
:math:`\partial F / \partial W = -E[h \mid v]\, v^\top`, :math:`\partial F / \partial b = -v`
(plus nothing from the base term) and :math:`\partial F / \partial c = -E[h \mid v]`,

.. math::

    \nabla_W L = \tfrac1m P_{model}^\top V_{model} - \tfrac1n P_{data}^\top V_{data}, \quad
    \nabla_b L = \overline{v^{model}} - \overline{v^{data}}, \quad
    \nabla_c L = \overline{p^{model}} - \overline{p^{data}}.

:class:`FreeEnergyDifference` computes ``L`` from pre-activations and hidden means that the
sampling chain has already produced, and returns exactly this gradient in its backward pass: two
accumulated matrix products for the weights, nothing recomputed. So a CD-1 step costs the five
products of a hand-written loop, while the gradient lands in ``.grad`` where ``torch.optim``,
schedulers, gradient clipping and DDP's all-reduce find it. ``tests/test_cd.py`` checks that it
equals autograd's gradient of the same expression written with :meth:`RBM.model_free_energy`.

A sparsity penalty (Hinton 2010, sec. 11) adds :math:`\lambda (q_j - p)` to the derivative with
respect to each hidden unit's total input on the data side; it enters as ``hidden_offset``, which
is subtracted from the data's hidden means.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dbn.energy import EnergyModel
from dbn.precision import autocast
from dbn.units import Units

__all__ = ["ContrastiveDivergence", "FreeEnergyDifference", "free_energy_difference"]


def _mean_free_energy(visible: Units, hidden: Units, v: Tensor, x: Tensor, visible_bias: Tensor) -> Tensor:
    """Mean free energy of the rows ``v`` with hidden inputs ``x``, accumulated in the bias dtype."""
    dtype = visible_bias.dtype
    base = visible.base(v).sum(dtype=dtype) - v.sum(0, dtype=dtype) @ visible_bias
    return (base - hidden.log_partition(x).sum(dtype=dtype)) / v.shape[0]


class FreeEnergyDifference(torch.autograd.Function):
    """Mean free energy of the data minus that of the model samples; see the module docstring."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        weight: Tensor,
        visible_bias: Tensor,
        hidden_bias: Tensor,
        v_data: Tensor,
        x_data: Tensor,
        p_data: Tensor,
        v_model: Tensor,
        x_model: Tensor,
        p_model: Tensor,
        visible: Units,
        hidden: Units,
    ) -> Tensor:
        ctx.save_for_backward(v_data, p_data, v_model, p_model)
        ctx.compute_dtype = x_data.dtype  # bfloat16 under autocast: the products of backward too
        with torch.autocast(v_data.device.type, enabled=False):
            return _mean_free_energy(visible, hidden, v_data, x_data, visible_bias) - _mean_free_energy(
                visible, hidden, v_model, x_model, visible_bias
            )

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        v_data, p_data, v_model, p_model = ctx.saved_tensors
        scale_model, scale_data = grad / v_model.shape[0], grad / v_data.shape[0]
        grad_weight = grad_visible = grad_hidden = None
        dtype, compute = grad.dtype, ctx.compute_dtype
        # (g/m) (P_model^T V_model - (m/n) P_data^T V_data): the tensor g never becomes a Python
        # number, so backward never waits for the device (and can be captured in a CUDA graph)
        ratio = -v_model.shape[0] / v_data.shape[0]
        if ctx.needs_input_grad[0] and compute != dtype and ratio == -1:
            # reduced precision: the two terms nearly cancel, so round only their difference, by
            # taking it inside one product (accumulated in float32): [P_m; P_d]^T [V_m; -V_d]
            stacked_p = torch.cat([p_model.to(compute), p_data.to(compute)])
            stacked_v = torch.cat([v_model.to(compute), v_data.to(compute).neg()])
            grad_weight = torch.mm(stacked_p.T, stacked_v).to(dtype).mul_(scale_model)
        elif ctx.needs_input_grad[0]:
            # full precision (also for reduced precision with unequal row counts, PCD with
            # n_chains != batch size): .to(dtype) is a no-op for float32 inputs
            grad_weight = torch.mm(p_model.T.to(dtype), v_model.to(dtype))
            grad_weight.addmm_(p_data.T.to(dtype), v_data.to(dtype), alpha=ratio).mul_(scale_model)
        if ctx.needs_input_grad[1]:
            grad_visible = (
                v_model.sum(0, dtype=dtype).mul_(scale_model).sub_(v_data.sum(0, dtype=dtype).mul_(scale_data))
            )
        if ctx.needs_input_grad[2]:
            grad_hidden = (
                p_model.sum(0, dtype=dtype).mul_(scale_model).sub_(p_data.sum(0, dtype=dtype).mul_(scale_data))
            )
        return (grad_weight, grad_visible, grad_hidden) + (None,) * 8


def free_energy_difference(rbm: EnergyModel, v_data: Tensor, x_data: Tensor, p_data: Tensor, v_model: Tensor,
                           x_model: Tensor, p_model: Tensor, hidden_offset: Tensor | None = None) -> Tensor:
    """The CD surrogate of ``rbm`` from the chain's ends (all tensors computed without autograd).

    ``x`` are hidden pre-activations :math:`W v + c` and ``p`` the hidden means for the data and
    model rows. ``hidden_offset`` (per hidden unit) is added to the derivative with respect to
    the data's hidden inputs, and its penalty :math:`\\overline{\\text{offset} \\cdot x_{data}}`
    to the value.
    """
    if hidden_offset is not None:
        p_data = p_data - hidden_offset
    loss = FreeEnergyDifference.apply(
        rbm.weight,
        rbm.visible_bias,
        rbm.hidden_bias,
        v_data,
        x_data,
        p_data,
        v_model,
        x_model,
        p_model,
        rbm.visible,
        rbm.hidden,
    )
    if hidden_offset is not None:
        loss = loss + (x_data.mean(0) @ hidden_offset)
    return loss


class ContrastiveDivergence(nn.Module):
    """The CD-k (or PCD-k) objective of an RBM: ``loss = objective(v_data)``, then ``backward``.

    The forward pass runs the Gibbs chain without autograd, from the data (CD) or from the
    persistent chains (PCD), and returns :func:`free_energy_difference` of the chain's two ends.
    Everything it changes is changed in place on the device: the persistent chains, the running
    hidden activity of the sparsity penalty, and the running sums behind the per-epoch monitors
    ``cd_loss`` and ``batch_recon_mse``. A step therefore never waits for the device, has the same
    memory addresses every time (so it can be captured in a CUDA graph, :mod:`dbn.graphs`), and
    can be wrapped in ``DistributedDataParallel``, whose all-reduce then averages the CD gradient.

    Parameters
    ----------
    rbm : EnergyModel
        The model; its parameters are this module's parameters.
    k : int
        Gibbs steps per update.
    generator : torch.Generator
        Source of every random number drawn by the chain.
    chains : Tensor, optional
        Persistent chains (PCD); ``None`` for CD. Kept as a plain attribute, not a buffer: chains
        are per process and must not be broadcast or saved with the model.
    sample_visible : bool
        In CD, sample the final visible state instead of using its probabilities.
    sparsity_target, sparsity_cost : float, optional
        Target hidden activity :math:`p` and penalty weight :math:`\\lambda` (Hinton 2010, sec. 11).
    precision : str
        ``"bfloat16"`` runs the chain and the gradient's products under :func:`torch.autocast`
        (:mod:`dbn.precision`).
    """

    def __init__(
        self,
        rbm: EnergyModel,
        *,
        k: int,
        generator: torch.Generator,
        chains: Tensor | None = None,
        sample_visible: bool = False,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
        precision: str = "float32",
    ) -> None:
        super().__init__()
        self.rbm = rbm
        self.k = k
        self.generator = generator
        self.chains = chains
        self.sample_visible = sample_visible
        self.precision = precision
        device, dtype = rbm.weight.device, rbm.weight.dtype
        self.sparsity = None
        if sparsity_target is not None and sparsity_cost > 0:
            self.sparsity = (sparsity_target, sparsity_cost)
            self.running_activity = torch.full((rbm.n_hidden,), sparsity_target, device=device, dtype=dtype)
        # running sums of cd_loss and batch_recon_mse, and the number of batches
        self.totals = torch.zeros(3, device=device, dtype=torch.float64)

    def forward(self, v_data: Tensor) -> Tensor:
        """The surrogate loss of one step on the (standardised) batch ``v_data``."""
        rbm, generator = self.rbm, self.generator
        with autocast(self.precision, v_data.device):
            with torch.no_grad():
                x_data = rbm.hidden_input(v_data)
                p_data = rbm.hidden.mean(x_data)
                if self.chains is None:
                    h = rbm.hidden.sample(x_data, generator, mean=p_data)
                else:
                    h = rbm.hidden.sample(rbm.hidden_input(self.chains), generator)
                for step in range(self.k):
                    z = rbm.visible_input(h)
                    if step == self.k - 1 and self.chains is None and not self.sample_visible:
                        v_model = rbm.visible.mean(z)
                    else:
                        v_model = rbm.visible.sample(z, generator)
                    x_model = rbm.hidden_input(v_model)
                    if step < self.k - 1:
                        h = rbm.hidden.sample(x_model, generator)
                p_model = rbm.hidden.mean(x_model)
                offset = None
                if self.sparsity is not None:
                    target, cost = self.sparsity
                    self.running_activity.mul_(0.9).add_(p_data.mean(0), alpha=0.1)
                    # d/dx of the cross-entropy between target and running activity is (q - p)
                    offset = cost * (self.running_activity - target)
            loss = free_energy_difference(rbm, v_data, x_data, p_data, v_model, x_model, p_model, offset)
        with torch.no_grad():
            if self.chains is None:
                error = (v_data - v_model).square().mean(dtype=torch.float64)
            else:
                self.chains.copy_(v_model)
                error = torch.zeros((), device=v_data.device, dtype=torch.float64)
            self.totals.add_(torch.stack([loss.detach().double(), error, torch.ones_like(error)]))
        return loss

    def read_monitors(self) -> dict[str, float | None]:
        """Means of ``cd_loss`` and ``batch_recon_mse`` since the last call (one device sync)."""
        loss, error, batches = self.totals.tolist()
        self.totals.zero_()
        if batches == 0:
            return {"cd_loss": None, "batch_recon_mse": None}
        loss, error = loss / batches, error / batches
        return {"cd_loss": loss, "batch_recon_mse": None if self.chains is not None else error}
