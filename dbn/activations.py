r"""The activations the package knows, in one registry, and maxout, which ``torch.nn`` lacks.

:data:`ACTIVATIONS` maps a name to an :class:`Activation`: the ``nn.Module`` it builds, its gain
for initialisation, its flat regions (for the diagnostics) and the RBM unit type that pretrains it.
The stack's unrolling (:mod:`dbn.unroll`), the initialisation schemes (:mod:`dbn.init`), the
diagnostics and the comparisons all read it; :func:`register_activation` adds one. Known: sigmoid,
tanh, relu, leaky_relu (slope 0.01), vlrelu (slope 1/3), maxout (2 pieces) and identity.
:func:`unit_activation` names the activation that computes an RBM unit type's conditional mean.

Maxout (Goodfellow et al. 2013) with :math:`k` pieces maps :math:`k\,n` pre-activations to
:math:`n` units, unit :math:`j` taking the largest of its pieces,

.. math:: h_j = \max_{i < k} z_{jk + i},

so the linear layer below a maxout layer of width :math:`n` has :math:`k\,n` outputs. Its gain for
He-style initialisation (:func:`maxout_gain`) follows He et al.'s (2015) second-moment argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Maxout",
    "get_activation",
    "infer_activation",
    "maxout_gain",
    "register_activation",
    "unit_activation",
]


class Maxout(nn.Module):
    r"""The maximum over groups of ``k`` consecutive features of the last dimension.

    Parameters
    ----------
    k : int
        Pieces per unit, at least 2. An input of shape (..., k n) gives an output of shape (..., n):
        :math:`h_j = \max_{i < k} z_{jk + i}`. The gradient flows to the largest piece of each
        unit only.

    Raises
    ------
    ValueError
        If ``k`` is not an integer of at least 2.
    """

    def __init__(self, k: int = 2) -> None:
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"maxout needs k >= 2 pieces per unit, got k={k!r}")
        self.k = k

    def forward(self, z: Tensor) -> Tensor:
        if z.shape[-1] % self.k:
            raise ValueError(
                f"maxout with k={self.k} needs a last dimension divisible by k, got shape {tuple(z.shape)}"
            )
        return z.unflatten(-1, (-1, self.k)).amax(-1)

    def extra_repr(self) -> str:
        return f"k={self.k}"


def maxout_gain(k: int) -> float:
    r"""The He gain of maxout with ``k`` pieces: :math:`g = 1 / \sqrt{E[M_k^2]}`.

    He et al. (2015) choose :math:`\mathrm{Var}(w) = g^2 / n_\text{in}` so that a layer keeps the
    variance of its pre-activations: :math:`\mathrm{Var}(z_{l+1}) = n_\text{in} \mathrm{Var}(w)
    E[h_l^2]`, with :math:`E[h^2] = \mathrm{Var}(z)/g^2`. For ReLU, :math:`E[h^2] = \mathrm{Var}(z)/2`
    and :math:`g = \sqrt 2`. For maxout over :math:`k` independent pieces of variance
    :math:`\sigma^2`, :math:`E[h^2] = \sigma^2 E[M_k^2]` with :math:`M_k` the largest of
    :math:`k` standard normals, :math:`E[M_k^2] = \int x^2\, k\,\varphi(x)\,\Phi(x)^{k-1}\,dx`
    (evaluated by the trapezoid rule on [-12, 12]). For :math:`k = 2`,
    :math:`\max(a, b) = (a + b)/2 + |a - b|/2` gives :math:`E[M_2^2] = 1`, so :math:`g = 1`;
    :math:`k = 3`: :math:`E[M_3^2] = 1 + \sqrt 3 / (2\pi)`, :math:`g \approx 0.885`.
    The pieces of one unit are independent at initialisation (distinct rows of :math:`W`).

    Raises
    ------
    ValueError
        If ``k`` is not an integer of at least 2.
    """
    Maxout(k)  # validates k
    x = torch.linspace(-12.0, 12.0, 24001, dtype=torch.float64)
    normal = torch.distributions.Normal(0.0, 1.0)
    density = k * normal.log_prob(x).exp() * torch.special.ndtr(x) ** (k - 1)
    return 1.0 / math.sqrt(float(torch.trapezoid(x * x * density, x)))


# --------------------------------------------------------------------------- the registry


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
    rbm_hidden : str or None
        The RBM hidden unit type whose mean this activation resembles, for ``dbn`` pretraining;
        None where no RBM fits (maxout: its layers have ``pieces`` times more pre-activations
        than units, which no stack of RBMs of the network's widths provides).
    module_types : tuple of type
        ``nn.Module`` classes recognised as this activation inside a network (together with the
        module's settings, see :meth:`recognises`).
    pieces : int
        Pre-activations per unit: the linear layer below a hidden layer of width :math:`n` has
        ``pieces * n`` outputs (:math:`k` for maxout, 1 otherwise).
    fixed_gain : float, optional
        The gain where ``calculate_gain`` has none (maxout, :func:`dbn.activations.maxout_gain`).
    """

    name: str
    module: Callable[[], nn.Module]
    nonlinearity: str
    flat: Callable[[Tensor], Tensor]
    rbm_hidden: str | None = "bernoulli"
    param: float | None = None
    module_types: tuple[type, ...] = field(default=())
    pieces: int = 1
    fixed_gain: float | None = None

    @property
    def gain(self) -> float:
        r"""The recommended gain :math:`g`: ``fixed_gain`` if set, else
        :func:`torch.nn.init.calculate_gain` (:math:`\sqrt{2 / (1 + s^2)}` for a leaky ReLU of
        slope :math:`s`)."""
        return self.fixed_gain if self.fixed_gain is not None else nn.init.calculate_gain(self.nonlinearity, self.param)

    def recognises(self, module: nn.Module) -> bool:
        """Whether ``module`` is this activation: one of ``module_types`` with the same settings
        (``extra_repr``: the slope of a leaky ReLU, the pieces of a maxout) as ``self.module()``."""
        return (
            bool(self.module_types)
            and isinstance(module, self.module_types)
            and module.extra_repr() == self.module().extra_repr()
        )


#: name -> :class:`Activation`
ACTIVATIONS: dict[str, Activation] = {}


def register_activation(activation: Activation) -> Activation:
    """Add ``activation`` to :data:`ACTIVATIONS` (under ``activation.name``) and return it."""
    ACTIVATIONS[activation.name] = activation
    return activation


_SIGMOID_SATURATION = math.log(99.0)  # sigmoid(z) > 0.99 beyond this
_TANH_SATURATION = math.atanh(0.99)  # |tanh(z)| > 0.99 beyond this

register_activation(
    Activation("sigmoid", nn.Sigmoid, "sigmoid", lambda z: z.abs() > _SIGMOID_SATURATION, module_types=(nn.Sigmoid,))
)
register_activation(Activation("tanh", nn.Tanh, "tanh", lambda z: z.abs() > _TANH_SATURATION, module_types=(nn.Tanh,)))
register_activation(Activation("relu", nn.ReLU, "relu", lambda z: z <= 0, rbm_hidden="relu", module_types=(nn.ReLU,)))
register_activation(
    Activation(
        "leaky_relu",
        lambda: nn.LeakyReLU(0.01),
        "leaky_relu",
        lambda z: z <= 0,
        rbm_hidden="relu",
        param=0.01,
        module_types=(nn.LeakyReLU,),
    )
)
register_activation(
    Activation(
        "vlrelu",
        lambda: nn.LeakyReLU(1 / 3),
        "leaky_relu",
        lambda z: z <= 0,
        rbm_hidden="relu",
        param=1 / 3,
        module_types=(nn.LeakyReLU,),
    )
)
register_activation(
    Activation(
        "maxout",
        lambda: Maxout(2),
        "maxout",
        torch.zeros_like,
        rbm_hidden=None,
        module_types=(Maxout,),
        pieces=2,
        fixed_gain=maxout_gain(2),
    )
)
register_activation(
    Activation("identity", nn.Identity, "linear", torch.zeros_like, rbm_hidden="gaussian", module_types=(nn.Identity,))
)


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


def infer_activation(module: nn.Module) -> Activation:
    """The first registered activation found among the module's submodules (identity if none)."""
    for sub in module.modules():
        for activation in ACTIVATIONS.values():
            if activation.name != "identity" and activation.recognises(sub):
                return activation
    return ACTIVATIONS["identity"]


#: the activation computing the conditional mean of each RBM hidden unit type
_UNIT_ACTIVATIONS = {"bernoulli": "sigmoid", "relu": "relu", "gaussian": "identity"}


def unit_activation(units: str) -> Activation:
    """The activation whose output is the conditional mean of the RBM unit type ``units``."""
    if units not in _UNIT_ACTIVATIONS:
        raise ValueError(
            f"no activation computes the mean of {units!r} units; known unit types: {', '.join(_UNIT_ACTIVATIONS)}"
        )
    return ACTIVATIONS[_UNIT_ACTIVATIONS[units]]
