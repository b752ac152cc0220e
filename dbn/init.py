r"""Weight initialisation schemes for the ``nn.Linear`` layers of a network, by name.

:func:`init_` applies one scheme of :data:`SCHEMES` to every ``nn.Linear`` of a module, biases
to zero unless the scheme says otherwise. Every formula that ``torch.nn.init`` has is delegated
to it; only the data-dependent schemes (``lsuv``, ``dbn``) are written here. With
:math:`n_\text{in}`, :math:`n_\text{out}` a layer's fan-in and fan-out:

===========================  ============================================================================
``zeros``                    :math:`W = 0` (every hidden unit identical: the symmetry failure)
``constant``                 :math:`W = c` (default ``value=0.1``; symmetric as well)
``uniform``                  :math:`W \sim U(-a, a)`, default ``a=0.1``
``normal``                   :math:`W \sim N(0, \sigma^2)`, default ``std=0.01``
``truncated_normal``         :math:`N(0, \sigma^2)` redrawn outside :math:`\pm 2\sigma`, default ``std=0.01``
                             (the realised std is :math:`0.8796\,\sigma`, that of a standard normal
                             truncated at :math:`\pm 2`)
``lecun_normal``             :math:`N(0, 1 / n_\text{in})` (LeCun et al. 1998): the formula the CS231n
                             notes call "Xavier", ``randn(fan_in, fan_out) / sqrt(fan_in)``; it keeps
                             the variance of the forward signal only, unlike Glorot's fan average below
``xavier_uniform``           :math:`U(-a, a)`, :math:`a = g\sqrt{6 / (n_\text{in} + n_\text{out})}`,
                             ``gain`` :math:`g = 1` as in Glorot & Bengio (2010)
``xavier_normal``            :math:`N(0, g^2\, 2 / (n_\text{in} + n_\text{out}))` (Glorot & Bengio 2010)
``xavier_truncated_normal``  :math:`N(0, \sigma^2)`, :math:`\sigma = \sqrt{3 / (n_\text{in} + n_\text{out})}`,
                             redrawn outside :math:`\pm 2\sigma` (prettytensor's ``xavier_init``, via
                             :func:`torch.nn.init.trunc_normal_`): the truncation narrows the
                             distribution, whose realised std is :math:`0.8796\,\sigma =
                             \sqrt{2.321 / (n_\text{in} + n_\text{out})}`, 7.7 % above ``xavier_normal``
``he_uniform``               :math:`U(-a, a)`, :math:`a = g \sqrt{3 / n_\text{in}}` (He et al. 2015)
``he_normal``                :math:`N(0, g^2 / n_\text{in})` (He et al. 2015); the gain :math:`g` is the
                             activation's (:attr:`Activation.gain`: :math:`\sqrt 2` for ReLU,
                             :math:`\sqrt{2 / (1 + s^2)}` for a leaky ReLU of slope :math:`s`, so 1.342
                             for the very leaky :math:`s = 1/3`, 5/3 for tanh, 1 for the sigmoid, and
                             1 for maxout of 2 pieces, :func:`dbn.activations.maxout_gain`)
``orthogonal``               :math:`W = g\,Q`, :math:`Q` with orthonormal rows or columns (Saxe et al. 2014)
``orthogonal_he``            :math:`W = g\,Q` with the activation's He gain :math:`g` ("OrthoNorm-MSRA
                             scaled" in Mishkin & Matas 2016). A matrix with more rows than columns
                             (a maxout layer's :math:`k n` pieces over fewer inputs) gets orthonormal
                             columns, hence entries of variance :math:`g^2 / n_\text{out}`, not
                             :math:`g^2 / n_\text{in}`
``default``                  torch's ``nn.Linear.reset_parameters``: :math:`W, b \sim U(-a, a)`,
                             :math:`a = 1 / \sqrt{n_\text{in}}` (biases included)
``lsuv``                     layer-sequential unit variance (Mishkin & Matas 2016): orthonormal start,
                             then, layer by layer from the input, :math:`W \leftarrow W / \sqrt{\mathrm{Var}(z)}`
                             on a data batch until :math:`|\mathrm{Var}(z) - 1| <` ``tol``
``dbn``                      greedy RBM pretraining (Hinton, Osindero & Teh 2006) of a
                             :class:`~dbn.stack.DeepBeliefNet` with the network's hidden sizes on ``X``;
                             its weights and hidden biases fill the hidden layers, the output layer is
                             Xavier-uniform with zero bias; for tanh networks the whole sigmoid network
                             is rewritten exactly in tanh units (:func:`sigmoid_to_tanh_`); not defined
                             for maxout (no RBM has its pieces)
===========================  ============================================================================

Fans are those of the weight matrix, :math:`n_\text{out} \times n_\text{in}`: below a maxout
layer of :math:`n` units of :math:`k` pieces, :math:`n_\text{out} = k n`.

The activations (their gain, their flat regions, the RBM unit type that pretrains them) come from
the one registry of :mod:`dbn.activations`, whose names this module re-exports. :data:`SCHEMES` is
a registry too: a new scheme is one function decorated with :func:`register_scheme`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dbn.activations import (
    ACTIVATIONS,
    Activation,
    get_activation,
    infer_activation,
    register_activation,
)
from dbn.validation import as_float_tensor, check_generator, check_positive

__all__ = [
    "ACTIVATIONS",
    "SCHEMES",
    "Activation",
    "Scheme",
    "get_activation",
    "init_",
    "linear_layers",
    "register_activation",
    "register_scheme",
    "sigmoid_to_tanh_",
]


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """Every ``nn.Linear`` of ``module``, in registration (forward) order."""
    return [sub for sub in module.modules() if isinstance(sub, nn.Linear)]


# --------------------------------------------------------------------------- schemes


@dataclass(frozen=True)
class Scheme:
    """An initialisation scheme: ``apply(layers, context, **options)`` fills the layers in place.

    ``context`` holds ``module``, ``X`` (a tensor on the module's device, or None),
    ``generator`` and ``activation`` (an :class:`Activation`). ``applies(activation)`` tells
    whether the scheme is defined for networks of that activation; ``per_layer`` whether it fills
    each layer on its own (rather than owning them all).
    """

    name: str
    apply: Callable[..., None]
    needs_data: bool = False
    applies: Callable[[Activation], bool] = lambda activation: True
    per_layer: bool = True


#: name -> :class:`Scheme`
SCHEMES: dict[str, Scheme] = {}


def register_scheme(
    name: str, *, needs_data: bool = False, per_layer: bool = True, applies: Callable[[Activation], bool] | None = None
) -> Callable[[Callable], Callable]:
    """Decorator adding a scheme to :data:`SCHEMES`.

    With ``per_layer=True`` the function is ``fn(weight, generator, activation, **options)`` and
    fills one weight matrix (the biases are zeroed); otherwise it is
    ``fn(layers, context, **options)`` and owns every weight and bias. ``applies`` (default:
    every activation) restricts the activations the scheme is defined for.
    """

    def decorate(fn: Callable) -> Callable:
        if per_layer:
            def apply(layers: list[nn.Linear], context: dict, **options: Any) -> None:
                for layer in layers:
                    fn(layer.weight, context["generator"], context["activation"], **options)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)
        else:
            apply = fn
        SCHEMES[name] = Scheme(name, apply, needs_data, applies or Scheme.applies, per_layer=per_layer)
        return fn

    return decorate


@register_scheme("zeros")
def _zeros(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.zeros_(weight)


@register_scheme("constant")
def _constant(weight: Tensor, generator: torch.Generator | None, activation: Activation, value: float = 0.1) -> None:
    nn.init.constant_(weight, value)


@register_scheme("uniform")
def _uniform(weight: Tensor, generator: torch.Generator | None, activation: Activation, a: float = 0.1) -> None:
    nn.init.uniform_(weight, -a, a, generator=generator)


@register_scheme("normal")
def _normal(weight: Tensor, generator: torch.Generator | None, activation: Activation, std: float = 0.01) -> None:
    nn.init.normal_(weight, 0.0, std, generator=generator)


@register_scheme("truncated_normal")
def _truncated_normal(
    weight: Tensor, generator: torch.Generator | None, activation: Activation, std: float = 0.01
) -> None:
    nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std, generator=generator)


@register_scheme("lecun_normal")
def _lecun_normal(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="linear", generator=generator)


@register_scheme("xavier_uniform")
def _xavier_uniform(
    weight: Tensor, generator: torch.Generator | None, activation: Activation, gain: float = 1.0
) -> None:
    nn.init.xavier_uniform_(weight, gain, generator=generator)


@register_scheme("xavier_normal")
def _xavier_normal(
    weight: Tensor, generator: torch.Generator | None, activation: Activation, gain: float = 1.0
) -> None:
    nn.init.xavier_normal_(weight, gain, generator=generator)


@register_scheme("xavier_truncated_normal")
def _xavier_truncated_normal(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    fan_out, fan_in = weight.shape
    std = math.sqrt(3.0 / (fan_in + fan_out))
    nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std, generator=generator)


# He et al. with the activation's gain: torch's fan-in scaling with gain 1, times Activation.gain
# (calculate_gain knows no maxout, so the gain is applied here for every activation alike).
@register_scheme("he_uniform")
@torch.no_grad()
def _he_uniform(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="linear", generator=generator).mul_(activation.gain)


@register_scheme("he_normal")
@torch.no_grad()
def _he_normal(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="linear", generator=generator).mul_(activation.gain)


@register_scheme("orthogonal")
def _orthogonal(weight: Tensor, generator: torch.Generator | None, activation: Activation, gain: float = 1.0) -> None:
    nn.init.orthogonal_(weight, gain, generator=generator)


@register_scheme("orthogonal_he")
def _orthogonal_he(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.orthogonal_(weight, activation.gain, generator=generator)


@register_scheme("default", per_layer=False)
def _default(layers: list[nn.Linear], context: dict) -> None:
    """torch's own ``nn.Linear.reset_parameters``, drawn from a seed taken from the generator."""
    seed = int(torch.randint(2**62, (1,), generator=context["generator"]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in layers:
            layer.reset_parameters()


@register_scheme("lsuv", needs_data=True, per_layer=False)
@torch.no_grad()
def _lsuv(layers: list[nn.Linear], context: dict, tol: float = 0.1, max_iter: int = 10, batch_size: int = 500) -> None:
    r"""Mishkin & Matas (2016), Algorithm 1: orthonormal weights, zero biases, then for each layer
    in forward order, :math:`W \leftarrow W / \sqrt{v}` with :math:`v` the variance of the layer's
    outputs over a batch (all rows and units together), until :math:`|v - 1| <` ``tol`` or
    ``max_iter`` rescalings. Each layer's output depends only on the layers below it, so every
    layer ends within ``tol`` of unit variance on that batch."""
    module, X, generator = context["module"], context["X"], context["generator"]
    if X.shape[0] < 2:
        raise ValueError(f"the 'lsuv' scheme measures variances over rows of X: pass 2 rows or more, not {X.shape[0]}")
    rows = torch.randperm(X.shape[0], generator=generator)[:batch_size] if X.shape[0] > batch_size else slice(None)
    batch = X[rows.to(X.device) if isinstance(rows, Tensor) else rows]
    for layer in layers:
        nn.init.orthogonal_(layer.weight, generator=generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    for index, layer in enumerate(layers):
        captured: list[Tensor] = []
        hook = layer.register_forward_hook(lambda _module, _inputs, output, store=captured: store.append(output))
        try:
            for iteration in range(max_iter + 1):
                captured.clear()
                module(batch)
                variance = float(captured[-1].var())
                if not math.isfinite(variance):
                    raise ValueError(
                        f"the 'lsuv' scheme met outputs of variance {variance} in layer {index}: X holds values too "
                        "large (or not finite) for the network's dtype; rescale X"
                    )
                if abs(variance - 1.0) < tol or variance == 0.0 or iteration == max_iter:
                    break
                layer.weight.div_(math.sqrt(variance))
        finally:
            hook.remove()


@torch.no_grad()
def sigmoid_to_tanh_(layers: list[nn.Linear]) -> None:
    r"""Rewrite, in place, the layers of a sigmoid MLP so that with tanh units it computes the same outputs.

    From :math:`\sigma(x) = (1 + \tanh(x/2))/2`, a sigmoid unit :math:`h_k = \sigma(z_k)` is
    :math:`(1 + t_k)/2` with :math:`t_k = \tanh(z_k/2)`. For layers :math:`(W_k, c_k)`,
    :math:`k = 1..L`, the last one linear, substituting gives the tanh network

    * first layer: :math:`(W_1/2,\; c_1/2)`,
    * hidden layers :math:`1 < k < L`: :math:`(W_k/4,\; c_k/2 + W_k\mathbf 1/4)`,
    * output layer: :math:`(W_L/2,\; c_L + W_L\mathbf 1/2)`,

    whose outputs equal the sigmoid network's for every input (:math:`\mathbf 1` the all-ones
    vector, so :math:`W\mathbf 1` holds the row sums). Layers without a bias get none added, so
    every layer but the first must have one.
    """
    for index, layer in enumerate(layers):
        first, last = index == 0, index == len(layers) - 1
        row_sums = layer.weight.sum(1)
        if layer.bias is not None:
            layer.bias.mul_(1.0 if last else 0.5).add_(row_sums, alpha=0.0 if first else 0.5 if last else 0.25)
        elif not first:
            raise ValueError("sigmoid_to_tanh_ needs a bias in every layer above the first")
        layer.weight.mul_(0.5 if first or last else 0.25)


@register_scheme("dbn", needs_data=True, per_layer=False, applies=lambda activation: activation.rbm_hidden is not None)
def _dbn(
    layers: list[nn.Linear], context: dict, epochs: int = 10, output: str = "xavier_uniform", **rbm_options: Any
) -> None:
    """Pretrain a DeepBeliefNet on ``X`` with the sizes of all layers but the last and copy its
    unrolled weights (standardisation folded in, :meth:`~dbn.stack.DeepBeliefNet.to_mlp`) and hidden
    biases; the last layer gets ``output`` (a per-layer scheme). ``rbm_options`` go to the
    network (``lr``, ``batch_size``, ...).

    The RBM hidden units are those of the activation (``rbm_hidden``). With Bernoulli units the
    result is a sigmoid network; for a tanh network it is rewritten into the exactly equivalent
    tanh network (:func:`sigmoid_to_tanh_`), so the tanh row starts from the same function as the
    sigmoid one. ReLU-RBM weights are copied unchanged into ReLU, leaky-ReLU and very leaky ReLU
    networks (the leaky slope makes the function differ, slightly for 0.01, more for 1/3; there is
    no exact equivalent). Maxout networks have none (the scheme does not apply)."""
    from dbn.stack import (
        DeepBeliefNet,  # dbn.stack imports the training loops; keep this module light
    )

    X, generator, activation = context["X"], context["generator"], context["activation"]
    if len(layers) < 2:
        raise ValueError("the 'dbn' scheme needs at least one hidden layer below the output layer")
    _check_output_scheme(output)
    sizes = [layers[0].in_features] + [layer.out_features for layer in layers[:-1]]
    in_unit_interval = bool(((X >= 0) & (X <= 1)).all())
    net = DeepBeliefNet(sizes, visible="bernoulli" if in_unit_interval else "gaussian", hidden=activation.rbm_hidden,
                        dtype=layers[0].weight.dtype, **rbm_options)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    net.pretrain(X, epochs=epochs, progress=False, device=X.device, seed=seed)
    with torch.no_grad():
        for layer, pretrained in zip(layers[:-1], linear_layers(net.to_mlp()), strict=False):
            layer.weight.copy_(pretrained.weight)
            if layer.bias is not None:
                layer.bias.copy_(pretrained.bias)
    SCHEMES[output].apply(layers[-1:], context)
    if activation.name == "tanh" and activation.rbm_hidden == "bernoulli":
        sigmoid_to_tanh_(layers)


def _check_output_scheme(output: Any) -> None:
    """Raise unless ``output`` names a scheme that can fill the output layer on its own (no data)."""
    choices = [name for name, entry in SCHEMES.items() if not entry.needs_data]
    if not isinstance(output, str) or output not in SCHEMES or SCHEMES[output].needs_data:
        raise ValueError(f"output must name a scheme that needs no data, one of {', '.join(choices)}; got {output!r}")


# --------------------------------------------------------------------------- entry point


def _check_real(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


#: checks of the scheme options whose meaning is the same in every scheme that takes them
_OPTION_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "value": _check_real,
    "gain": _check_real,
    "a": lambda value, name: check_positive(value, name),
    "std": lambda value, name: check_positive(value, name),
    "tol": lambda value, name: check_positive(value, name),
    "max_iter": lambda value, name: check_positive(value, name, integer=True, allow_zero=True),
    "batch_size": lambda value, name: check_positive(value, name, integer=True),
    "epochs": lambda value, name: check_positive(value, name, integer=True),
    "output": lambda value, name: _check_output_scheme(value),
}


def _check_arguments(module: Any, scheme: Any, generator: Any, options: dict[str, Any]) -> None:
    """The argument checks of :func:`init_` that need no layer: types, the scheme's name, option values."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(scheme, str):
        raise TypeError(f"scheme must be the name of an initialisation scheme (a str), got {scheme!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    check_generator(generator, "generator")
    for name, value in options.items():
        if name in _OPTION_CHECKS:
            _OPTION_CHECKS[name](value, name)


def _check_chain(layers: list[nn.Linear], pieces: int) -> None:
    """Each layer's outputs feed the next: ``pieces`` pre-activations per unit (maxout)."""
    for below, above in pairwise(layers):
        if below.out_features != pieces * above.in_features:
            raise ValueError(
                f"the nn.Linear layers do not chain: one outputs {below.out_features} features, the next expects "
                f"{above.in_features}" + (f" units of {pieces} pieces each" if pieces > 1 else "")
            )


def init_(
    module: nn.Module,
    scheme: str,
    *,
    X: Tensor | np.ndarray | None = None,
    generator: torch.Generator | None = None,
    activation: str | Activation | None = None,
    **options: Any,
) -> nn.Module:
    """Initialise every ``nn.Linear`` of ``module`` in place with ``scheme``; return ``module``.

    Parameters
    ----------
    module : nn.Module
        A network whose ``nn.Linear`` layers, in registration order, form the forward chain
        (an ``nn.Sequential`` MLP, e.g. :meth:`~dbn.stack.DeepBeliefNet.to_mlp`).
    scheme : str
        A key of :data:`SCHEMES` (see the module docstring for each formula).
    X : array or tensor, shape (n_samples, in_features), optional
        Data, required by the data-dependent schemes (``lsuv``, ``dbn``), ignored by the others.
    generator : torch.Generator, optional
        The source of every random draw; the same generator state gives the same weights.
    activation : str or Activation, optional
        The hidden non-linearity, for the gain of ``he_*`` and the RBM units of ``dbn``; default
        the first registered activation module found in ``module``.
    **options
        Scheme options: ``value`` (constant), ``a`` (uniform), ``std`` (normal,
        truncated_normal), ``gain`` (xavier_*, orthogonal), ``tol``, ``max_iter``,
        ``batch_size`` (lsuv), ``epochs``, ``output`` and :class:`~dbn.stack.DeepBeliefNet`
        options (dbn).

    Returns
    -------
    nn.Module
        ``module``, initialised.

    Raises
    ------
    ValueError
        For an unknown scheme or activation, a scheme that does not apply to the activation
        (``dbn`` for maxout), a module without ``nn.Linear`` layers or whose layers
        do not chain, ``X`` missing for a data-dependent scheme, or ``X`` with the wrong number of
        features.
    TypeError
        For an option the scheme does not take.
    """
    _check_arguments(module, scheme, generator, options)
    entry = SCHEMES[scheme]
    layers = linear_layers(module)
    if not layers:
        raise ValueError("the module has no nn.Linear layer to initialise")
    activation = infer_activation(module) if activation is None else get_activation(activation)
    _check_chain(layers, activation.pieces)
    if not entry.applies(activation):
        raise ValueError(f"the {scheme!r} scheme does not apply to {activation.name!r} networks")
    check_generator(generator, "generator", layers[0].weight.device)
    context = {"module": module, "X": None, "generator": generator, "activation": activation}
    if entry.needs_data:
        if X is None:
            raise ValueError(f"the {scheme!r} scheme is data-dependent: pass X (a batch of inputs)")
        weight = layers[0].weight
        context["X"] = as_float_tensor(
            X, "X", dtype=weight.dtype, device=weight.device, n_features=layers[0].in_features
        )
    try:
        entry.apply(layers, context, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TypeError(f"scheme {scheme!r} got an unknown option: {error}") from error
        raise
    return module
