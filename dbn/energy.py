r"""The interface of an energy model that the training rule, the monitors, the likelihood and the
unrolling compute with.

An RBM with visible units :math:`v` and hidden units :math:`h` of the unit types
:mod:`dbn.units`, weights :math:`W` (``n_hidden x n_visible``, the ``nn.Linear`` layout) and biases
:math:`b, c` has the energy and free energy

.. math::

    E(v, h) = \mathrm{base}(v) - b^\top v - c^\top h - h^\top W v, \qquad
    F(v) = \mathrm{base}(v) - b^\top v - \sum_j \log Z_h\big((W v + c)_j\big).

The methods of :class:`EnergyModel` work in *model units*: visible states as the energy sees them,
after the standardisation :math:`\tilde v = (v - m) / s` that Gaussian visible units apply to their
data (the identity for Bernoulli units). They take tensors already checked and on the model's
device; :class:`dbn.rbm.RBM` offers the checked, data-unit versions (``free_energy``,
``hidden_probs``, ...) to users.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from dbn.units import Units

__all__ = ["EnergyModel"]


@runtime_checkable
class EnergyModel(Protocol):
    """What :mod:`dbn.cd`, :mod:`dbn.monitors`, :mod:`dbn.likelihood` and :mod:`dbn.unroll` need of an RBM."""

    visible: Units
    hidden: Units
    n_visible: int
    n_hidden: int
    weight: Tensor
    visible_bias: Tensor
    hidden_bias: Tensor
    data_mean: Tensor
    data_std: Tensor

    def hidden_input(self, v: Tensor) -> Tensor:
        """:math:`W v + c` for visible states ``v`` (model units), one row per state."""
        ...

    def visible_input(self, h: Tensor) -> Tensor:
        """:math:`W^\\top h + b` for hidden states ``h``."""
        ...

    def model_free_energy(self, v: Tensor, x: Tensor | None = None) -> Tensor:
        """:math:`F(v)` of each row of ``v`` (model units); ``x`` is ``hidden_input(v)`` if known."""
        ...

    def standardize(self, v: Tensor) -> Tensor:
        """Data units to model units."""
        ...

    def unstandardize(self, v: Tensor) -> Tensor:
        """Model units to data units."""
        ...

    def gibbs_chain(self, v: Tensor, steps: int, generator: torch.Generator | None, progress: bool = False) -> Tensor:
        """``steps`` full Gibbs steps v -> h -> v from ``v`` (model units); the last visible sample."""
        ...

    def base_rate_bias(self) -> Tensor:
        """Visible biases of the base-rate model (the data's log-odds; zeros for Gaussian units)."""
        ...
