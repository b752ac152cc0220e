"""Unit types of an RBM layer.

A layer of units with bias ``b`` receiving input ``x`` from the other layer contributes to the
energy ``E(u) = base(u) - (b + x) . u``.  Everything the RBM needs from a unit type follows from
its base term:

* ``mean(z)``: the conditional mean ``E[u | z]`` for the total input ``z = b + x``;
* ``sample(z)``: a draw from ``p(u | z)``;
* ``log_partition(z)``: the log-normaliser of ``p(u | z)``, whose derivative is ``mean(z)``. Its
  values *summed over the last axis* are ``log sum_u exp(z . u - base(u))`` (an integral for
  continuous units), the layer's contribution to the free energy of the other one: element-wise
  units return one value per unit (``softplus(z)`` for binary units), one-of-K groups one value
  per group (:class:`SoftmaxUnits`);
* ``base(u)``: the term of the energy that involves neither the bias nor the other layer, summed
  over the layer (zero for binary units).

A type may also fix the size of its layer (``n_units``, ``check_size``), set biases from the
data's mean (``bias_from_mean``), and list its states for exact likelihoods (``n_states``,
``states``). :class:`SoftmaxUnits` makes one-of-K groups (labels, categorical data) and
:class:`UnitGroups` a layer of consecutive segments of different types, such as the features and
the label of a top-level RBM.

Adding a unit type means writing one subclass of :class:`Units`: an instance of it is accepted wherever a
unit type is (``RBM(..., hidden=MyUnits())``), and checkpoints store it by import path and attributes
(:func:`units_to_json`). Registering the class in ``UNITS`` also makes its name a valid string.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dbn.validation import check_positive

__all__ = ["Units", "BernoulliUnits", "GaussianUnits", "ReLUUnits", "SoftmaxUnits", "UnitGroups", "UNITS",
           "PROBABILITY_CLIP", "get_units", "units_from_json", "units_to_json"]

#: probabilities are clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP] before biases are taken from them
PROBABILITY_CLIP = 1e-3
#: the key that marks a unit type among the attributes of another one in :func:`units_to_json`
_UNITS_KEY = "__units__"


class Units:
    """Interface of a unit type; subclasses implement the four maps (``base`` defaults to zero)."""

    name: str = ""
    #: whether ``log_partition`` is exact, so that likelihoods can be computed
    exact_free_energy: bool = True
    #: whether states lie in [0, 1] (the data a visible layer of this type accepts)
    unit_interval: bool = False
    #: whether visible data is standardised to zero mean and unit variance before it reaches the layer
    standardize_data: bool = False
    #: default learning rate of an RBM with this unit type (the smaller of its two layers' wins)
    default_lr: float = 0.1
    #: whether the units are independent given the other layer, each with its own element-wise maps,
    #: so that changing one unit leaves a valid state (False for one-of-K groups)
    elementwise: bool = True

    def mean(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def log_partition(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def base(self, u: Tensor) -> Tensor:
        return u.new_zeros(u.shape[:-1])

    @property
    def n_units(self) -> int | None:
        """The size of the layer this type makes (``None``: any size)."""
        return None

    def check_size(self, n: int, argument: str) -> None:
        """Raise a ValueError naming ``argument`` unless a layer of ``n`` units of this type exists."""
        if self.n_units is not None and n != self.n_units:
            raise ValueError(f"{argument} units {self!r} make a layer of {self.n_units} units, got {n} units")

    def bias_from_mean(self, mean: Tensor) -> Tensor:
        r"""Biases under which units without input have the mean ``mean`` (data units).

        For units in [0, 1] the log-odds :math:`\log(p / (1 - p))` (Hinton 2010, sec. 8), ``p``
        clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]; zero for other types (the mean of
        standardised Gaussian data).
        """
        if not self.unit_interval:
            return torch.zeros_like(mean)
        p = mean.clamp(PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        return torch.log(p) - torch.log1p(-p)

    def n_states(self, n: int) -> int | None:
        """How many states a layer of ``n`` units has (``None``: not a finite set that can be listed)."""
        return None

    def states(self, n: int, index: Tensor, dtype: torch.dtype) -> Tensor:
        """The states numbered ``index`` (integers in ``[0, n_states(n))``) of a layer of ``n`` units,
        one row each, in ``dtype`` on ``index``'s device."""
        raise NotImplementedError(f"{self!r} units have no finite set of states to enumerate")

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

    def n_states(self, n: int) -> int:
        """:math:`2^n`."""
        return 2**n

    def states(self, n: int, index: Tensor, dtype: torch.dtype) -> Tensor:
        """State ``k`` has unit ``i`` on where bit ``i`` of ``k`` is set."""
        bits = torch.arange(n, device=index.device)
        return ((index.unsqueeze(-1) >> bits) & 1).to(dtype)


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


class SoftmaxUnits(Units):
    r"""One-of-K groups: consecutive groups of ``size`` units with exactly one unit on in each.

    A group with inputs :math:`z_1, \dots, z_K` has states the unit vectors :math:`e_k`, so

    .. math::

        p(u = e_k \mid z) = \frac{e^{z_k}}{\sum_l e^{z_l}}, \qquad
        \log Z(z) = \operatorname{logsumexp}_l z_l,

    with ``base = 0``: ``mean`` is the softmax within each group, and ``log_partition`` returns one
    value per group, shape ``(..., n / size)``. A sample draws one uniform number per group and
    takes the first unit whose cumulative probability exceeds it. For labels and categorical data
    (visible) or competing hidden units; the layer size must be a multiple of ``size``.

    Parameters
    ----------
    size : int
        Units per group, ``K >= 2``.
    """

    name = "softmax"
    unit_interval = True
    elementwise = False

    def __init__(self, size: int) -> None:
        check_positive(size, "size", integer=True)
        if size < 2:
            raise ValueError(f"size must be at least 2 (the units of one one-of-K group), got {size!r}")
        self.size = int(size)

    def _groups(self, t: Tensor) -> Tensor:
        return t.unflatten(-1, (-1, self.size))

    def mean(self, z: Tensor) -> Tensor:
        return torch.softmax(self._groups(z), -1).flatten(-2)

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        p = self._groups(self.mean(z) if mean is None else mean)
        # uniform numbers and cumulative sums in at least float32, as for Bernoulli units
        dtype = torch.promote_types(p.dtype, torch.float32)
        u = torch.rand((*p.shape[:-1], 1), generator=generator, device=p.device, dtype=dtype)
        # unit k is on where cumsum_{k-1} <= u < cumsum_k: k counts the cumulative sums <= u
        # (capped at K - 1 in case the last one is rounded below u)
        k = (p.to(dtype).cumsum(-1) <= u).sum(-1, keepdim=True).clamp_(max=self.size - 1)
        return torch.zeros(p.shape, dtype=dtype, device=p.device).scatter_(-1, k, 1.0).flatten(-2)

    def log_partition(self, z: Tensor) -> Tensor:
        return torch.logsumexp(self._groups(z), -1)

    def check_size(self, n: int, argument: str) -> None:
        if n % self.size:
            raise ValueError(f"{argument} units {self!r} need a layer whose size is a multiple of {self.size}, "
                             f"got {n} units")

    def bias_from_mean(self, mean: Tensor) -> Tensor:
        r""":math:`\log p`, ``p`` clipped below at PROBABILITY_CLIP: the softmax of it is ``p`` in each group."""
        return torch.log(mean.clamp(min=PROBABILITY_CLIP))

    def n_states(self, n: int) -> int:
        """:math:`K^{n / K}`: one unit of each group."""
        return self.size ** (n // self.size)

    def states(self, n: int, index: Tensor, dtype: torch.dtype) -> Tensor:
        """State ``k`` turns on unit ``d_g`` of group ``g``, where ``d_g`` is digit ``g`` of ``k`` in base ``K``."""
        radix = self.size ** torch.arange(n // self.size, device=index.device)
        return F.one_hot(index.unsqueeze(-1) // radix % self.size, self.size).to(dtype).flatten(-2)

    def __repr__(self) -> str:
        return f"SoftmaxUnits({self.size})"


class UnitGroups(Units):
    r"""A layer of consecutive segments of different unit types.

    ``UnitGroups([(BernoulliUnits(), 500), (SoftmaxUnits(10), 10)])`` is a layer of 510 units whose
    first 500 are binary and whose last 10 are one one-of-10 group, e.g. the features and the label
    of a top-level RBM. The energy is the sum of the segments' energies, so every map splits the
    last axis into the segments, applies each segment's type, and concatenates (``log_partition``
    the segments' outputs, ``base`` sums them). A flag holds when it holds for every segment;
    ``default_lr`` is the smallest. Segments of types that standardise their data (Gaussian units)
    are refused: the RBM standardises a whole visible layer or none of it.

    Parameters
    ----------
    parts : sequence of (Units or str, int)
        Each segment's unit type and number of units, in order.

    Attributes
    ----------
    parts : list of Units
    sizes : list of int
    """

    name = "groups"

    def __init__(self, parts: Sequence[tuple[Units | str, int]]) -> None:
        self.parts: list[Units] = []
        self.sizes: list[int] = []
        for index, pair in enumerate(parts):
            if not (isinstance(pair, Sequence) and len(pair) == 2):
                raise TypeError(f"parts[{index}] must be a (units, size) pair, got {pair!r}")
            units, size = get_units(pair[0], argument=f"parts[{index}]"), pair[1]
            check_positive(size, f"parts[{index}] size", integer=True)
            if units.standardize_data:
                raise ValueError(f"parts[{index}]: {units!r} standardise their data, which a segment of a layer "
                                 "cannot do; give Gaussian units a layer of their own")
            units.check_size(int(size), f"parts[{index}]")
            self.parts.append(units)
            self.sizes.append(int(size))
        if not self.parts:
            raise ValueError("parts must hold at least one (units, size) pair")

    def _split(self, t: Tensor) -> tuple[Tensor, ...]:
        return t.split(self.sizes, -1)

    @property
    def unit_interval(self) -> bool:  # type: ignore[override]
        return all(units.unit_interval for units in self.parts)

    @property
    def exact_free_energy(self) -> bool:  # type: ignore[override]
        return all(units.exact_free_energy for units in self.parts)

    @property
    def elementwise(self) -> bool:  # type: ignore[override]
        return all(units.elementwise for units in self.parts)

    @property
    def default_lr(self) -> float:  # type: ignore[override]
        return min(units.default_lr for units in self.parts)

    @property
    def n_units(self) -> int:
        return sum(self.sizes)

    def mean(self, z: Tensor) -> Tensor:
        return torch.cat([units.mean(x) for units, x in zip(self.parts, self._split(z), strict=True)], -1)

    def sample(self, z: Tensor, generator: torch.Generator | None = None, mean: Tensor | None = None) -> Tensor:
        means = self._split(mean) if mean is not None else [None] * len(self.parts)
        return torch.cat(
            [units.sample(x, generator, m) for units, x, m in zip(self.parts, self._split(z), means, strict=True)], -1
        )

    def log_partition(self, z: Tensor) -> Tensor:
        return torch.cat([units.log_partition(x) for units, x in zip(self.parts, self._split(z), strict=True)], -1)

    def base(self, u: Tensor) -> Tensor:
        bases = [units.base(x) for units, x in zip(self.parts, self._split(u), strict=True)]
        return torch.stack(bases).sum(0)

    def bias_from_mean(self, mean: Tensor) -> Tensor:
        return torch.cat([units.bias_from_mean(p) for units, p in zip(self.parts, self._split(mean), strict=True)], -1)

    def n_states(self, n: int) -> int | None:
        """The product of the segments' numbers of states (``None`` if one has no finite list)."""
        counts = [units.n_states(size) for units, size in zip(self.parts, self.sizes, strict=True)]
        return None if None in counts else math.prod(counts)

    def states(self, n: int, index: Tensor, dtype: torch.dtype) -> Tensor:
        """State ``k`` joins state ``d_s`` of each segment ``s``, the digits of ``k`` in the mixed
        radix of the segments' numbers of states (the first segment's digit varies fastest)."""
        segments, radix = [], 1
        for units, size in zip(self.parts, self.sizes, strict=True):
            count = units.n_states(size)
            segments.append(units.states(size, index // radix % count, dtype))
            radix *= count
        return torch.cat(segments, -1)

    def __repr__(self) -> str:
        parts = ", ".join(f"({units!r}, {size})" for units, size in zip(self.parts, self.sizes, strict=True))
        return f"UnitGroups([{parts}])"


UNITS: dict[str, type[Units]] = {cls.name: cls for cls in (BernoulliUnits, GaussianUnits, ReLUUnits)}


def get_units(name: str | Units, *, argument: str) -> Units:
    """Return the unit type called ``name`` (or ``name`` itself when it already is one).

    Types that need arguments (:class:`SoftmaxUnits`, :class:`UnitGroups`) are passed as instances.

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


def _encode(value: Any) -> Any:
    """``value`` with unit types, also inside lists and tuples, replaced by their JSON form."""
    if isinstance(value, Units):
        return {_UNITS_KEY: units_to_json(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any, argument: str) -> Any:
    """The inverse of :func:`_encode` (tuples come back as lists)."""
    if isinstance(value, dict) and set(value) == {_UNITS_KEY}:
        return units_from_json(value[_UNITS_KEY], argument=argument)
    if isinstance(value, list):
        return [_decode(item, argument) for item in value]
    return value


def units_to_json(units: Units) -> str | dict:
    """A registered unit type by its name; any other by its class's import path and its attributes
    (unit types among them, as in :class:`UnitGroups`, written the same way).

    Raises
    ------
    ValueError
        If the class cannot be imported again by its path (defined inside a function, say), or an
        attribute is not a JSON value or a unit type: such a unit type could be saved but never
        loaded. The message names the class.
    """
    if UNITS.get(units.name) is type(units) and not vars(units):
        return units.name
    cls = type(units)
    path = f"{cls.__module__}:{cls.__qualname__}"
    if _import_class(path) is not cls:
        raise ValueError(
            f"unit type {cls.__qualname__!r} cannot be saved: checkpoints name a unit type by its import path, "
            f"and {path!r} does not import this class; define it at the top level of an importable module"
        )
    attributes = {key: _encode(value) for key, value in vars(units).items()}
    try:
        json.dumps(attributes)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"unit type {cls.__qualname__!r} cannot be saved: its attributes must be JSON values "
            f"(numbers, strings, lists) or unit types, and {error}"
        ) from None
    return {"class": path, "attributes": attributes}


def _import_class(path: str) -> Any:
    """The object that ``"module:qualified.name"`` names, or ``None`` when it cannot be imported."""
    module_name, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError):
        return None
    return found


def units_from_json(value: str | dict, *, argument: str) -> Units:
    """The unit type :func:`units_to_json` wrote (the class is imported again).

    Raises
    ------
    ValueError
        If ``value`` is not in the form :func:`units_to_json` writes, or names a class that cannot
        be imported here or is not a unit type; the message names ``argument``.
    """
    if isinstance(value, str):
        return get_units(value, argument=argument)
    if not (isinstance(value, dict) and isinstance(value.get("class"), str)
            and isinstance(value.get("attributes"), dict)):
        raise ValueError(f"{argument} units are stored as {value!r}, not as a name or a class and its attributes")
    cls = _import_class(value["class"])
    if cls is None:
        raise ValueError(
            f"{argument} units of class {value['class']!r} cannot be imported again: the module that defines "
            "the class must be importable where the model is loaded"
        )
    if not (isinstance(cls, type) and issubclass(cls, Units)):
        raise ValueError(f"{argument} units of class {value['class']!r}: that is not a dbn.units.Units subclass")
    units = cls.__new__(cls)
    units.__dict__.update({key: _decode(item, argument) for key, item in value["attributes"].items()})
    return units
