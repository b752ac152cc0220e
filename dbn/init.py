r"""Weight initialisation schemes for the ``nn.Linear`` layers of a network, by name.

:func:`init_` applies one scheme of :data:`SCHEMES` to every ``nn.Linear`` of a module, biases
to zero unless the scheme says otherwise. Every formula that ``torch.nn.init`` has is delegated
to it; only the data-dependent schemes (``lsuv``, ``dbn``) are written here. With
:math:`n_\text{in}`, :math:`n_\text{out}` a layer's fan-in and fan-out:

=====================  ============================================================================
``zeros``              :math:`W = 0` (every hidden unit identical: the symmetry failure)
``constant``           :math:`W = c` (default ``value=0.1``; symmetric as well)
``uniform``            :math:`W \sim U(-a, a)`, default ``a=0.1``
``normal``             :math:`W \sim N(0, \sigma^2)`, default ``std=0.01``
``truncated_normal``   :math:`N(0, \sigma^2)` redrawn outside :math:`\pm 2\sigma`, default ``std=0.01``
``xavier_uniform``     :math:`U(-a, a)`, :math:`a = g\sqrt{6 / (n_\text{in} + n_\text{out})}`,
                       ``gain`` :math:`g = 1` as in Glorot & Bengio (2010)
``xavier_normal``      :math:`N(0, g^2\, 2 / (n_\text{in} + n_\text{out}))` (Glorot & Bengio 2010)
``he_uniform``         :math:`U(-a, a)`, :math:`a = g \sqrt{3 / n_\text{in}}` (He et al. 2015)
``he_normal``          :math:`N(0, g^2 / n_\text{in})` (He et al. 2015); the gain :math:`g`
                       comes from the activation (:func:`torch.nn.init.calculate_gain`:
                       :math:`\sqrt 2` for ReLU, :math:`\sqrt{2 / (1 + s^2)}` for leaky ReLU of
                       slope :math:`s`, 5/3 for tanh, 1 for the sigmoid)
``orthogonal``         :math:`W = g\,Q`, :math:`Q` with orthonormal rows or columns (Saxe et al. 2014)
``lsuv``               layer-sequential unit variance (Mishkin & Matas 2016): orthonormal start,
                       then, layer by layer from the input, :math:`W \leftarrow W / \sqrt{\mathrm{Var}(z)}`
                       on a data batch until :math:`|\mathrm{Var}(z) - 1| <` ``tol``
``dbn``                greedy RBM pretraining (Hinton, Osindero & Teh 2006) of a
                       :class:`~dbn.dbn.DeepBeliefNet` with the network's hidden sizes on ``X``;
                       its weights and hidden biases fill the hidden layers, the output layer is
                       Xavier-uniform with zero bias; for tanh networks the whole sigmoid network
                       is rewritten exactly in tanh units (:func:`sigmoid_to_tanh_`)
=====================  ============================================================================

The activations the package knows (their gain, their flat regions for the diagnostics, the RBM
unit type that pretrains them) are the entries of :data:`ACTIVATIONS`. Both tables are
registries: a new scheme is one function decorated with :func:`register_scheme`, a new
activation one :class:`Activation` added with :func:`register_activation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dbn.validation import as_float_tensor

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


# --------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class Activation:
    r"""What the package needs to know about a hidden-unit non-linearity.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"tanh"``.
    module : callable
        Builds the ``nn.Module`` (e.g. ``nn.Tanh``).
    nonlinearity : str
        Its name for :func:`torch.nn.init.calculate_gain`.
    param : float, optional
        The parameter of ``calculate_gain`` (the negative slope of a leaky ReLU).
    flat : callable
        Maps pre-activations :math:`z` to a boolean mask of the units in a flat region: saturated
        (the output within 1 % of its range from a bound) for bounded activations, off
        (:math:`z \le 0`) for rectifiers, nowhere for the identity.
    rbm_hidden : str
        The RBM hidden unit type whose mean this activation resembles, for ``dbn`` pretraining.
    module_types : tuple of type
        ``nn.Module`` classes recognised as this activation inside a network.
    """

    name: str
    module: Callable[[], nn.Module]
    nonlinearity: str
    flat: Callable[[Tensor], Tensor]
    rbm_hidden: str = "bernoulli"
    param: float | None = None
    module_types: tuple[type, ...] = field(default=())

    @property
    def gain(self) -> float:
        """The recommended gain, from :func:`torch.nn.init.calculate_gain`."""
        return nn.init.calculate_gain(self.nonlinearity, self.param)


#: name -> :class:`Activation`
ACTIVATIONS: dict[str, Activation] = {}


def register_activation(activation: Activation) -> Activation:
    """Add ``activation`` to :data:`ACTIVATIONS` (under ``activation.name``) and return it."""
    ACTIVATIONS[activation.name] = activation
    return activation


_SIGMOID_SATURATION = math.log(99.0)  # sigmoid(z) > 0.99 beyond this
_TANH_SATURATION = math.atanh(0.99)  # |tanh(z)| > 0.99 beyond this

register_activation(Activation("sigmoid", nn.Sigmoid, "sigmoid", lambda z: z.abs() > _SIGMOID_SATURATION, module_types=(nn.Sigmoid,)))
register_activation(Activation("tanh", nn.Tanh, "tanh", lambda z: z.abs() > _TANH_SATURATION, module_types=(nn.Tanh,)))
register_activation(Activation("relu", nn.ReLU, "relu", lambda z: z <= 0, rbm_hidden="relu", module_types=(nn.ReLU,)))
register_activation(
    Activation("leaky_relu", lambda: nn.LeakyReLU(0.01), "leaky_relu", lambda z: z <= 0, rbm_hidden="relu", param=0.01,
               module_types=(nn.LeakyReLU,))
)
register_activation(Activation("identity", nn.Identity, "linear", torch.zeros_like, rbm_hidden="gaussian", module_types=(nn.Identity,)))


def get_activation(name: str | Activation) -> Activation:
    """The registered :class:`Activation` called ``name`` (an ``Activation`` passes through).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if isinstance(name, Activation):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _infer_activation(module: nn.Module) -> Activation:
    """The first registered activation found among the module's submodules (identity if none)."""
    for sub in module.modules():
        for activation in ACTIVATIONS.values():
            if activation.module_types and isinstance(sub, activation.module_types) and activation.name != "identity":
                return activation
    return ACTIVATIONS["identity"]


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """Every ``nn.Linear`` of ``module``, in registration (forward) order."""
    return [sub for sub in module.modules() if isinstance(sub, nn.Linear)]


# --------------------------------------------------------------------------- schemes


@dataclass(frozen=True)
class Scheme:
    """An initialisation scheme: ``apply(layers, context, **options)`` fills the layers in place.

    ``context`` holds ``module``, ``X`` (a tensor on the module's device, or None),
    ``generator`` and ``activation`` (an :class:`Activation`).
    """

    name: str
    apply: Callable[..., None]
    needs_data: bool = False


#: name -> :class:`Scheme`
SCHEMES: dict[str, Scheme] = {}


def register_scheme(name: str, *, needs_data: bool = False, per_layer: bool = True) -> Callable[[Callable], Callable]:
    """Decorator adding a scheme to :data:`SCHEMES`.

    With ``per_layer=True`` the function is ``fn(weight, generator, activation, **options)`` and
    fills one weight matrix (the biases are zeroed); otherwise it is
    ``fn(layers, context, **options)`` and owns every weight and bias.
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
        SCHEMES[name] = Scheme(name, apply, needs_data)
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
def _truncated_normal(weight: Tensor, generator: torch.Generator | None, activation: Activation, std: float = 0.01) -> None:
    nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std, generator=generator)


@register_scheme("xavier_uniform")
def _xavier_uniform(weight: Tensor, generator: torch.Generator | None, activation: Activation, gain: float = 1.0) -> None:
    nn.init.xavier_uniform_(weight, gain, generator=generator)


@register_scheme("xavier_normal")
def _xavier_normal(weight: Tensor, generator: torch.Generator | None, activation: Activation, gain: float = 1.0) -> None:
    nn.init.xavier_normal_(weight, gain, generator=generator)


def _kaiming_options(activation: Activation) -> dict:
    return {"a": activation.param or 0.0, "mode": "fan_in", "nonlinearity": activation.nonlinearity}


@register_scheme("he_uniform")
def _he_uniform(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.kaiming_uniform_(weight, generator=generator, **_kaiming_options(activation))


@register_scheme("he_normal")
def _he_normal(weight: Tensor, generator: torch.Generator | None, activation: Activation) -> None:
    nn.init.kaiming_normal_(weight, generator=generator, **_kaiming_options(activation))


@register_scheme("orthogonal")
def _orthogonal(weight: Tensor, generator: torch.Generator | None, activation: Activation, gain: float = 1.0) -> None:
    nn.init.orthogonal_(weight, gain, generator=generator)


@register_scheme("lsuv", needs_data=True, per_layer=False)
@torch.no_grad()
def _lsuv(layers: list[nn.Linear], context: dict, tol: float = 0.1, max_iter: int = 10, batch_size: int = 500) -> None:
    r"""Mishkin & Matas (2016), Algorithm 1: orthonormal weights, zero biases, then for each layer
    in forward order, :math:`W \leftarrow W / \sqrt{v}` with :math:`v` the variance of the layer's
    outputs over a batch (all rows and units together), until :math:`|v - 1| <` ``tol`` or
    ``max_iter`` rescalings. Each layer's output depends only on the layers below it, so every
    layer ends within ``tol`` of unit variance on that batch."""
    module, X, generator = context["module"], context["X"], context["generator"]
    rows = torch.randperm(X.shape[0], generator=generator)[:batch_size] if X.shape[0] > batch_size else slice(None)
    batch = X[rows.to(X.device) if isinstance(rows, Tensor) else rows]
    for layer in layers:
        nn.init.orthogonal_(layer.weight, generator=generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    for layer in layers:
        captured: list[Tensor] = []
        hook = layer.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
        try:
            for iteration in range(max_iter + 1):
                captured.clear()
                module(batch)
                variance = float(captured[-1].var())
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


@register_scheme("dbn", needs_data=True, per_layer=False)
def _dbn(layers: list[nn.Linear], context: dict, epochs: int = 10, output: str = "xavier_uniform", **rbm_options: Any) -> None:
    """Pretrain a DeepBeliefNet on ``X`` with the sizes of all layers but the last and copy its
    unrolled weights (standardisation folded in, :meth:`~dbn.dbn.DeepBeliefNet.to_mlp`) and hidden
    biases; the last layer gets ``output`` (a per-layer scheme). ``rbm_options`` go to the
    network (``lr``, ``batch_size``, ...).

    The RBM hidden units are those of the activation (``rbm_hidden``). With Bernoulli units the
    result is a sigmoid network; for a tanh network it is rewritten into the exactly equivalent
    tanh network (:func:`sigmoid_to_tanh_`), so the tanh row starts from the same function as the
    sigmoid one. ReLU-RBM weights are copied unchanged into ReLU and leaky-ReLU networks (the
    leaky slope makes the function differ slightly; there is no exact equivalent)."""
    from dbn.dbn import DeepBeliefNet  # dbn.dbn imports the training loop; keep this module light

    X, generator, activation = context["X"], context["generator"], context["activation"]
    if len(layers) < 2:
        raise ValueError("the 'dbn' scheme needs at least one hidden layer below the output layer")
    sizes = [layers[0].in_features] + [layer.out_features for layer in layers[:-1]]
    in_unit_interval = bool(((X >= 0) & (X <= 1)).all())
    net = DeepBeliefNet(sizes, visible="bernoulli" if in_unit_interval else "gaussian", hidden=activation.rbm_hidden,
                        dtype=layers[0].weight.dtype, **rbm_options)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    net.pretrain(X, epochs=epochs, progress=False, device=X.device, seed=seed)
    with torch.no_grad():
        for layer, pretrained in zip(layers[:-1], linear_layers(net.to_mlp())):
            layer.weight.copy_(pretrained.weight)
            if layer.bias is not None:
                layer.bias.copy_(pretrained.bias)
    SCHEMES[output].apply(layers[-1:], context)
    if activation.name == "tanh" and activation.rbm_hidden == "bernoulli":
        sigmoid_to_tanh_(layers)


# --------------------------------------------------------------------------- entry point


def _check_chain(layers: list[nn.Linear]) -> None:
    for below, above in zip(layers, layers[1:]):
        if below.out_features != above.in_features:
            raise ValueError(
                f"the nn.Linear layers do not chain: one outputs {below.out_features} features, the next expects {above.in_features}"
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
        (an ``nn.Sequential`` MLP, e.g. :meth:`~dbn.dbn.DeepBeliefNet.to_mlp`).
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
        ``batch_size`` (lsuv), ``epochs``, ``output`` and :class:`~dbn.dbn.DeepBeliefNet`
        options (dbn).

    Returns
    -------
    nn.Module
        ``module``, initialised.

    Raises
    ------
    ValueError
        For an unknown scheme or activation, a module without ``nn.Linear`` layers or whose layers
        do not chain, ``X`` missing for a data-dependent scheme, or ``X`` with the wrong number of
        features.
    TypeError
        For an option the scheme does not take.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    entry = SCHEMES[scheme]
    layers = linear_layers(module)
    if not layers:
        raise ValueError("the module has no nn.Linear layer to initialise")
    _check_chain(layers)
    context = {
        "module": module,
        "X": None,
        "generator": generator,
        "activation": _infer_activation(module) if activation is None else get_activation(activation),
    }
    if entry.needs_data:
        if X is None:
            raise ValueError(f"the {scheme!r} scheme is data-dependent: pass X (a batch of inputs)")
        weight = layers[0].weight
        context["X"] = as_float_tensor(X, "X", dtype=weight.dtype, device=weight.device, n_features=layers[0].in_features)
    try:
        entry.apply(layers, context, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TypeError(f"scheme {scheme!r} got an unknown option: {error}") from error
        raise
    return module
