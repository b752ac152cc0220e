"""Input checks shared by the models: each error names the argument and what was expected."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_array
from torch import Tensor

__all__ = ["as_float_tensor", "check_positive", "check_batch", "is_array_like", "resolve_device"]


def resolve_device(device: torch.device | str | None, fallback: torch.device) -> torch.device:
    """``None`` gives ``fallback``; ``"auto"`` gives CUDA when available, else the CPU."""
    if device is None:
        return fallback
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def is_array_like(X: Any) -> bool:
    """Whether ``X`` is one in-memory array rather than an iterable of batches.

    Arrays, tensors and nested lists of numbers are arrays; a list or tuple whose first element is
    itself a 2-D array or tensor is a sequence of batches.
    """
    if isinstance(X, (list, tuple)):
        return not (len(X) > 0 and getattr(X[0], "ndim", 0) == 2)
    return isinstance(X, (np.ndarray, Tensor)) or hasattr(X, "__array__")


def check_positive(value: Any, name: str, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise unless ``value`` is a (strictly, unless ``allow_zero``) positive number.

    Raises
    ------
    TypeError
        If ``value`` is not a number (an integer when ``integer``).
    ValueError
        If it is not positive (or is NaN or infinite).
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    bound_ok = value >= 0 if allow_zero else value > 0
    if not (bound_ok and np.isfinite(value)):
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def check_batch(v: Tensor, name: str, *, n_features: int | None, unit_interval: bool) -> None:
    """Check a 2-D floating tensor: width, finiteness and, for binary units, the range [0, 1].

    One reduction (the extremes) serves all value checks; meant for whole arrays before training
    and for each batch of an iterable once, during the statistics pass that precedes training.
    """
    if v.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features), got shape {tuple(v.shape)}")
    if v.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one sample, got shape {tuple(v.shape)}")
    if n_features is not None and v.shape[1] != n_features:
        raise ValueError(f"{name} has {v.shape[1]} features, but the model expects {n_features}")
    low, high = (float(bound) for bound in torch.aminmax(v))  # NaN and inf show in the extremes
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinity")
    if unit_interval:
        if low < 0 or high > 1:
            raise ValueError(
                f"{name} must lie in [0, 1] for Bernoulli visible units, got values in "
                f"[{float(low):.4g}, {float(high):.4g}]; scale the data or use visible='gaussian'"
            )


def as_float_tensor(
    X: Any,
    name: str,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    n_features: int | None = None,
    unit_interval: bool = False,
) -> Tensor:
    """Validate an in-memory 2-D array and return it as a floating tensor.

    NumPy input is converted by :func:`sklearn.utils.check_array`; then arrays and tensors alike are
    checked with torch reductions where they live (no round trip through the host for GPU tensors),
    so the messages are the same for both. A float32 array is wrapped without a copy.

    Raises
    ------
    TypeError
        For a non-numeric dtype (strings, objects, complex numbers).
    ValueError
        For a wrong shape, an empty array, NaN/inf, a wrong number of features, or values outside
        [0, 1] when ``unit_interval``.
    """
    if isinstance(X, Tensor):
        if X.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {X.dtype}")
        tensor = X.detach().to(device=device if device is not None else X.device, dtype=dtype)
    else:
        array = np.asarray(X) if not isinstance(X, np.ndarray) else X
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
        if array.ndim != 2:
            raise ValueError(
                f"{name} must be 2-dimensional (n_samples, n_features), got shape {array.shape}"
            )
        if array.shape[0] == 0:
            raise ValueError(f"{name} is empty: expected at least one sample, got shape {array.shape}")
        array = check_array(array, dtype=[np.float32, np.float64], order="C", input_name=name, ensure_all_finite=False)
        if not array.flags.writeable:  # torch cannot wrap read-only memory (e.g. a memory map)
            array = array.copy()
        tensor = torch.as_tensor(array).to(device=device, dtype=dtype)
    check_batch(tensor, name, n_features=n_features, unit_interval=unit_interval)
    return tensor
