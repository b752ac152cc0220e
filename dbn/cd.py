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
equals autograd's gradient of the same expression written with :meth:`RBM._free_energy`.

A sparsity penalty (Hinton 2010, sec. 11) adds :math:`\lambda (q_j - p)` to the derivative with
respect to each hidden unit's total input on the data side; it enters as ``hidden_offset``, which
is subtracted from the data's hidden means.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dbn.units import Units

__all__ = ["FreeEnergyDifference", "free_energy_difference"]


def _mean_free_energy(visible: Units, hidden: Units, v: Tensor, x: Tensor, visible_bias: Tensor) -> Tensor:
    return (visible.base(v).sum() - (v.sum(0) @ visible_bias) - hidden.log_partition(x).sum()) / v.shape[0]


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
        return _mean_free_energy(visible, hidden, v_data, x_data, visible_bias) - _mean_free_energy(
            visible, hidden, v_model, x_model, visible_bias
        )

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        v_data, p_data, v_model, p_model = ctx.saved_tensors
        scale_model, scale_data = grad / v_model.shape[0], grad / v_data.shape[0]
        grad_weight = grad_visible = grad_hidden = None
        if ctx.needs_input_grad[0]:
            grad_weight = torch.mm(p_model.T, v_model).mul_(scale_model)
            grad_weight.addmm_(p_data.T, v_data, alpha=-scale_data)
        if ctx.needs_input_grad[1]:
            grad_visible = v_model.sum(0).mul_(scale_model).sub_(v_data.sum(0).mul_(scale_data))
        if ctx.needs_input_grad[2]:
            grad_hidden = p_model.sum(0).mul_(scale_model).sub_(p_data.sum(0).mul_(scale_data))
        return (grad_weight, grad_visible, grad_hidden) + (None,) * 8


def free_energy_difference(
    rbm: Any,
    v_data: Tensor,
    x_data: Tensor,
    p_data: Tensor,
    v_model: Tensor,
    x_model: Tensor,
    p_model: Tensor,
    hidden_offset: Tensor | None = None,
) -> Tensor:
    """The CD surrogate of ``rbm`` from the chain's ends (all tensors computed without autograd).

    ``x`` are hidden pre-activations :math:`W v + c` and ``p`` the hidden means for the data and
    model rows. ``hidden_offset`` (per hidden unit) is added to the derivative with respect to
    the data's hidden inputs, and its penalty :math:`\\overline{\\text{offset} \\cdot x_{data}}`
    to the value.
    """
    if hidden_offset is not None:
        p_data = p_data - hidden_offset
    loss = FreeEnergyDifference.apply(
        rbm.weight, rbm.visible_bias, rbm.hidden_bias, v_data, x_data, p_data, v_model, x_model, p_model, rbm.visible, rbm.hidden
    )
    if hidden_offset is not None:
        loss = loss + (x_data.mean(0) @ hidden_offset)
    return loss
