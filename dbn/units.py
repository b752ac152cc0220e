"""Unit types of an RBM layer.

A layer of units with bias ``b`` receiving input ``x`` from the other layer contributes to the
energy ``E(u) = base(u) - (b + x) . u``.  Everything the RBM needs from a unit type follows from
its base term:

* ``mean(z)``: the conditional mean ``E[u | z]`` for the total input ``z = b + x``;
* ``sample(z)``: a draw from ``p(u | z)``;
* ``log_partition(z)``: ``log integral exp(z u - base(u)) du`` (a sum over ``{0, 1}`` for binary
  units), whose derivative is ``mean(z)``; summed over a layer it is that layer's contribution to
  the free energy of the other one;
* ``base(u)``: the term of the energy that involves neither the bias nor the other layer, summed
  over the layer (zero for binary units).

Adding a unit type means writing one subclass of :class:`Units`: an instance of it is accepted wherever a
unit type is (``RBM(..., hidden=MyUnits())``), and checkpoints store it by import path and attributes
(:func:`units_to_json`). Registering the class in ``UNITS`` also makes its name a valid string.
"""

from __future__ import annotations

import importlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Units", "BernoulliUnits", "GaussianUnits", "ReLUUnits", "UNITS", "get_units", "units_from_json",
           "units_to_json"]


class Units:
    """Interface of a unit type; subclasses implement the four element-wise maps."""

    name: str = ""
    #: whether ``log_partition`` is exact, so that likelihoods can be computed
    exact_free_energy: bool = True
    #: whether states lie in [0, 1] (the data a visible layer of this type accepts)
    unit_interval: bool = False
    #: whether visible data is standardised to zero mean and unit variance before it reaches the layer
    standardize_data: bool = False
    #: default learning rate of an RBM with this unit type (the smaller of its two layers' wins)
    default_lr: float = 0.1

    def mean(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def log_partition(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def base(self, u: Tensor) -> Tensor:
        return u.new_zeros(u.shape[:-1])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BernoulliUnits(Units):
    r"""Binary units: :math:`p(u=1 \mid z) = \sigma(z)`, :math:`\log Z(z) = \operatorname{softplus}(z)`."""

    name = "bernoulli"
    unit_interval = True

    def mean(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z)

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        p = self.mean(z) if mean is None else mean
        # uniform numbers in at least float32, so that bfloat16 probabilities are not quantised
        u = torch.rand(p.shape, generator=generator, device=p.device, dtype=torch.promote_types(p.dtype, torch.float32))
        # 1 where u < p: ceil(p - u) is 1 there and 0 (or -0, hence abs) elsewhere; in place, in
        # the floating dtype, with no boolean intermediate
        return torch.sub(p, u, out=u).ceil_().abs_()

    def log_partition(self, z: Tensor) -> Tensor:
        return F.softplus(z)


class GaussianUnits(Units):
    r"""Linear units with unit-variance Gaussian noise: :math:`u \mid z \sim N(z, 1)`.

    ``base(u) = u^2 / 2`` and :math:`\log Z(z) = z^2/2 + \tfrac12 \log 2\pi`.  The RBM standardises
    Gaussian visible data to zero mean and unit variance, which is what makes unit variance right.
    """

    name = "gaussian"
    standardize_data = True
    default_lr = 0.01

    def mean(self, z: Tensor) -> Tensor:
        return z

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        return noise.add_(z)

    def log_partition(self, z: Tensor) -> Tensor:
        return 0.5 * z * z + 0.5 * math.log(2 * math.pi)

    def base(self, u: Tensor) -> Tensor:
        return 0.5 * (u * u).sum(-1)


class ReLUUnits(Units):
    r"""Noisy rectified linear units (Nair & Hinton 2010).

    The mean is :math:`\max(0, z)` and a sample is :math:`\max(0, z + \epsilon)` with
    :math:`\epsilon \sim N(0, \sigma(z))`, the approximation of an infinite set of tied binary units.
    The free-energy term :math:`\tfrac12 \max(0, z)^2` is the one whose derivative is that mean, so
    CD with it gives Nair & Hinton's learning rule; it is not the log-partition of a normalised
    distribution, so likelihoods of models with ReLU units are not defined here.
    """

    name = "relu"
    exact_free_energy = False

    def mean(self, z: Tensor) -> Tensor:
        return torch.relu(z)

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        return noise.mul_(torch.sigmoid(z).sqrt_()).add_(z).relu_()

    def log_partition(self, z: Tensor) -> Tensor:
        r = torch.relu(z)
        return 0.5 * r * r


UNITS: dict[str, type[Units]] = {cls.name: cls for cls in (BernoulliUnits, GaussianUnits, ReLUUnits)}


def get_units(name: str | Units, *, argument: str) -> Units:
    """Return the unit type called ``name`` (or ``name`` itself when it already is one).

    Raises
    ------
    ValueError
        When the name is unknown; the message names ``argument`` and the valid names.
    """
    if isinstance(name, Units):
        return name
    if not isinstance(name, str) or name.lower() not in UNITS:
        raise ValueError(f"{argument} must be one of {sorted(UNITS)}, got {name!r}")
    return UNITS[name.lower()]()


def units_to_json(units: Units) -> str | dict:
    """A registered unit type by its name; any other by its class's import path and its attributes."""
    if UNITS.get(units.name) is type(units) and not vars(units):
        return units.name
    cls = type(units)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "attributes": dict(vars(units))}


def units_from_json(value: str | dict, *, argument: str) -> Units:
    """The unit type :func:`units_to_json` wrote (the class is imported again)."""
    if isinstance(value, str):
        return get_units(value, argument=argument)
    module_name, _, qualname = value["class"].partition(":")
    try:
        cls = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{argument} units of class {value['class']!r} cannot be imported again") from error
    units = cls.__new__(cls)
    units.__dict__.update(value["attributes"])
    return units
