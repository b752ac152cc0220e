r"""A stack of RBMs unrolled into feed-forward networks: the MLP and the deep autoencoder.

The upward pass of a stack computes :math:`h_l = f_l(W_l \tilde h_{l-1} + c_l)`, where
:math:`\tilde h = (h - m) / s` is the standardisation an RBM with Gaussian visible units applies to
its data (the identity otherwise). Each layer becomes one ``nn.Linear`` with the standardisation
folded in,

.. math::  W_l \tilde h + c_l = (W_l \operatorname{diag}(1/s)) h + (c_l - W_l (m / s)),

followed by the activation that computes the hidden units' mean (:func:`dbn.activations.unit_activation`),
so :func:`unrolled_mlp` reproduces :meth:`dbn.stack.DeepBeliefNet.transform` to rounding error. The
deep autoencoder of Hinton & Salakhutdinov (2006) appends the mirror image, a decoder with the
transposed weights and the visible biases, :math:`\tilde v = g_l(W_l^\top h + b_l)` and
:math:`v = m + s \odot \tilde v`, again folded into each ``nn.Linear``; the two halves are
independent copies (untied). The arithmetic is done in float64 and rounded once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dbn.activations import get_activation, unit_activation
from dbn.energy import EnergyModel
from dbn.validation import check_positive

__all__ = ["decoder_linear", "encoder_linear", "unrolled_autoencoder", "unrolled_mlp"]

#: the activations an unrolled network may use in place of the units' own
UNROLL_ACTIVATIONS = ("sigmoid", "relu", "tanh", "identity")


def encoder_linear(rbm: EnergyModel) -> nn.Linear:
    """``nn.Linear`` computing the hidden input of ``rbm`` from data in data units."""
    weight, bias = rbm.weight.detach().double(), rbm.hidden_bias.detach().double()
    if rbm.visible.standardize_data:
        scale = 1.0 / rbm.data_std.double()
        bias = bias - weight @ (rbm.data_mean.double() * scale)
        weight = weight * scale
    return _linear(weight, bias, rbm.weight.dtype)


def decoder_linear(rbm: EnergyModel) -> nn.Linear:
    """``nn.Linear`` computing the visible input of ``rbm`` from its hidden states, in data units."""
    weight, bias = rbm.weight.detach().double().T, rbm.visible_bias.detach().double()
    if rbm.visible.standardize_data:
        std = rbm.data_std.double()
        weight, bias = weight * std[:, None], rbm.data_mean.double() + std * bias
    return _linear(weight, bias, rbm.weight.dtype)


def _linear(weight: Tensor, bias: Tensor, dtype: torch.dtype) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def _append_activation(modules: list[nn.Module], name: str) -> None:
    """Append the activation's module; the identity adds none (so layer indices stay those of the linears)."""
    if name != "identity":
        modules.append(get_activation(name).module())


def unrolled_mlp(
    rbms: Sequence[EnergyModel],
    n_outputs: int | None = None,
    activation: str | None = None,
    *,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """The upward pass as a flat ``nn.Sequential`` of ``nn.Linear`` and activation modules.

    Parameters
    ----------
    rbms : sequence of EnergyModel
        The stack, bottom first.
    n_outputs : int, optional
        Append a new output ``nn.Linear(n_hidden, n_outputs)`` (Xavier-uniform weights, zero
        biases) producing logits or regression outputs.
    activation : {"sigmoid", "relu", "tanh", "identity"}, optional
        Replace every hidden activation; by default each layer computes its units' mean.
    generator : torch.Generator, optional
        For the output layer's initial weights.
    """
    if activation is not None and activation not in UNROLL_ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(UNROLL_ACTIVATIONS)}, got {activation!r}")
    modules: list[nn.Module] = []
    for rbm in rbms:
        modules.append(encoder_linear(rbm))
        _append_activation(modules, activation or unit_activation(rbm.hidden.name).name)
    if n_outputs is not None:
        check_positive(n_outputs, "n_outputs", integer=True)
        top = rbms[-1].weight
        output = nn.Linear(top.shape[0], n_outputs, device=top.device, dtype=top.dtype)
        nn.init.xavier_uniform_(output.weight, generator=generator)
        nn.init.zeros_(output.bias)
        modules.append(output)
    return nn.Sequential(*modules)


def unrolled_autoencoder(rbms: Sequence[EnergyModel]) -> nn.Sequential:
    """``encoder`` (:func:`unrolled_mlp`'s hidden part) then ``decoder``, top RBM first.

    Each decoder layer computes the mean of that RBM's visible units given its hidden states;
    the last layer is left linear: for Bernoulli data it outputs the logits of the reconstruction
    (apply ``torch.sigmoid``).
    """
    decoder: list[nn.Module] = []
    for depth, rbm in enumerate(reversed(rbms)):
        decoder.append(decoder_linear(rbm))
        if depth < len(rbms) - 1:
            _append_activation(decoder, "sigmoid" if rbm.visible.unit_interval else "identity")
    return nn.Sequential(OrderedDict(encoder=unrolled_mlp(rbms), decoder=nn.Sequential(*decoder)))

