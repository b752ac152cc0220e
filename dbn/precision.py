r"""Arithmetic precision of training: exact float32, TF32 matmuls, or bfloat16 mixed precision.

Parameters, optimiser state and updates are float32 in every mode; only the products (and, for
``"bfloat16"``, the activations of the Gibbs chain) lose precision:

``"float32"`` (default)
    exact float32 products (``torch.set_float32_matmul_precision("highest")``), reproducible
    across runs and machines.
``"tf32"``
    float32 tensors whose products use TF32 tensor cores on CUDA GPUs of compute capability 8.0+
    (10-bit mantissa, float32 accumulation; ``torch.set_float32_matmul_precision("high")``). On a
    CPU torch keeps plain float32 unless the CPU has a faster reduced-precision mode.
``"bfloat16"``
    mixed precision with :func:`torch.autocast`: products and activations in bfloat16 (8-bit
    mantissa, float32 accumulation inside each product), parameters and updates in float32. On
    CPUs with AVX-512 BF16 or AMX and on GPUs this roughly halves the time of the products.

Why reduced precision is harmless for contrastive divergence: the gradient is a difference of two
Monte Carlo estimates, :math:`\frac1n P_{data}^\top V_{data} - \frac1m P_{model}^\top V_{model}`,
whose sampling error with a minibatch of :math:`m` rows is of relative order
:math:`1/\sqrt{m}` (10% at :math:`m = 100`), while bfloat16 rounds each product to a relative
:math:`2^{-9} \approx 0.2\%`. Random numbers for Bernoulli sampling stay float32, so sampling
probabilities are not quantised. The monitors are computed in float32 after each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["PRECISIONS", "autocast", "check_precision", "matmul_precision"]

PRECISIONS = ("float32", "tf32", "bfloat16")

_MATMUL_PRECISION = {"float32": "highest", "tf32": "high", "bfloat16": "highest"}


def check_precision(precision: str) -> None:
    """Raise a ValueError naming the parameter unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Set torch's float32 matmul precision for ``precision`` in the enclosed block, then restore it."""
    check_precision(precision)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(_MATMUL_PRECISION[precision])
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The :func:`torch.autocast` context of ``precision`` (disabled unless it is ``"bfloat16"``).

    Examples
    --------
    >>> with autocast("bfloat16", torch.device("cpu")):
    ...     torch.mm(torch.ones(2, 3), torch.ones(3, 2)).dtype
    torch.bfloat16
    """
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
