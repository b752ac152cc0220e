r"""Hidden-unit non-linearities that ``torch.nn`` does not provide: maxout.

Maxout (Goodfellow et al. 2013) with :math:`k` pieces maps :math:`k\,n` pre-activations to
:math:`n` units, unit :math:`j` taking the largest of its pieces,

.. math:: h_j = \max_{i < k} z_{jk + i},

so the linear layer below a maxout layer of width :math:`n` has :math:`k\,n` outputs. Its gain for
He-style initialisation (:func:`maxout_gain`) follows He et al.'s (2015) second-moment argument.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["Maxout", "maxout_gain"]


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
            raise ValueError(f"maxout with k={self.k} needs a last dimension divisible by k, got shape {tuple(z.shape)}")
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
