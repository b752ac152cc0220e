"""Input checks shared by the models: each error names the argument and what was expected.

The public entry points (``fit``, ``pretrain``, ``finetune``, ``train_network``, ``init_``, the
estimators, the loaders) call these before any work, so that a bad argument is refused with a
``TypeError`` (wrong type) or ``ValueError`` (wrong value) that names it, and never after an
optimiser step.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MAX_SEED",
    "UNIT_INTERVAL_TOLERANCE",
    "as_float_tensor",
    "check_batch",
    "check_dtype",
    "check_flag",
    "check_generator",
    "check_layer_sizes",
    "check_positive",
    "check_seed",
    "is_array_like",
    "resolve_device",
]

#: seeds are integers in [0, MAX_SEED): torch's generators and the broadcast of a seed hold an int64
MAX_SEED = 2**63
#: the parameter dtypes the models support
FLOAT_DTYPES = (torch.float32, torch.float64)
#: how far outside [0, 1] an in-memory array for Bernoulli units may stray and still be accepted
#: (then clipped): the rounding of a scaler such as ``MinMaxScaler``, whose ``X * scale + offset``
#: can give 1 + 2e-16. Batches of an iterable and sparse matrices, which are not clipped, get none.
UNIT_INTERVAL_TOLERANCE = 1e-6


def _device_available(device: torch.device) -> str | None:
    """Why ``device`` cannot be used on this machine, or None when it can."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return "no CUDA device is available (torch.cuda.is_available() is False)"
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            return f"this machine has {count} CUDA device(s), numbered from 0"
        return None
    if device.type == "mps":
        return None if torch.backends.mps.is_available() else "no MPS device is available"
    if device.type == "meta":
        return "the meta device holds no data to train on"
    backend = getattr(torch, device.type, None)
    is_available = getattr(backend, "is_available", None)
    if device.type != "cpu" and callable(is_available) and not is_available():
        return f"no {device.type} device is available"
    return None


def resolve_device(device: torch.device | str | None, fallback: torch.device, name: str = "device") -> torch.device:
    """The device to compute on: ``None`` gives ``fallback``; ``"auto"`` CUDA when available, else the CPU.

    Raises
    ------
    TypeError
        If ``device`` is neither a string nor a ``torch.device``.
    ValueError
        If it names no torch device (``"tpu"``), or one this machine does not have (``"cuda"``
        without a CUDA device, ``"cuda:3"`` with fewer GPUs).
    """
    if device is None:
        return fallback
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a str or torch.device (e.g. 'cpu', 'cuda', 'cuda:1', 'auto'), got {device!r}")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"{name} must name a torch device (e.g. 'cpu', 'cuda', 'cuda:1') or be 'auto', got {device!r}"
        ) from error
    reason = _device_available(resolved)
    if reason is not None:
        raise ValueError(f"{name}={str(device)!r} was requested, but {reason}: use {name}='cpu' or {name}='auto'")
    return resolved


def check_seed(seed: Any, name: str = "seed", *, allow_none: bool = True) -> int | None:
    """``seed`` as a plain int in [0, 2**63) (``None`` passes through when ``allow_none``).

    Raises
    ------
    TypeError
        For a non-integer (a string, a float, a bool).
    ValueError
        For a negative seed or one of 2**63 or more.
    """
    if seed is None and allow_none:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**63) or None, got {seed!r}")
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"{name} must be in [0, 2**63), got {seed!r}")
    return int(seed)


def check_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """``dtype`` if it is a parameter dtype the models support: ``torch.float32`` or ``torch.float64``.

    Raises
    ------
    TypeError
        If ``dtype`` is not a ``torch.dtype``.
    ValueError
        For any other dtype (half precision: use ``precision="bfloat16"`` for mixed precision).
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name} must be torch.float32 or torch.float64, got {dtype!r}")
    if dtype not in FLOAT_DTYPES:
        advice = "; for mixed precision keep float32 and pass precision='bfloat16'" if dtype.is_floating_point else ""
        raise ValueError(f"{name} must be torch.float32 or torch.float64, got {dtype}{advice}")
    return dtype


def check_flag(value: Any, name: str) -> bool:
    """``value`` as a bool, refusing anything but ``True``, ``False`` (and NumPy's booleans)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_generator(generator: Any, name: str = "generator", device: torch.device | None = None) -> None:
    """Raise unless ``generator`` is None or a ``torch.Generator`` (on ``device``'s type, when given)."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {generator!r}")
    if device is not None and generator.device.type != torch.device(device).type:
        raise ValueError(f"{name} is on {generator.device} but the model is on {device}: create it on that device")


def check_layer_sizes(sizes: Any, name: str, *, minimum: int = 1) -> list[int]:
    """Layer sizes (an int, or a sequence of them) as a list of plain ints, each >= 1.

    Raises
    ------
    TypeError
        If ``sizes`` is neither an int nor a sequence of ints; the message names ``name[i]``.
    ValueError
        If it lists fewer than ``minimum`` sizes or a size below 1.
    """
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
        sizes = [sizes]
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray, Tensor)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < minimum:
        raise ValueError(f"{name} must list at least {minimum} size(s), got {sizes!r}")
    for index, size in enumerate(sizes):
        check_positive(size.item() if isinstance(size, Tensor) else size, f"{name}[{index}]", integer=True)
    return [int(size) for size in sizes]


def is_array_like(X: Any) -> bool:
    """Whether ``X`` is one in-memory array rather than an iterable of batches.

    Arrays, tensors and nested lists of numbers are arrays; a list or tuple whose first element is
    itself a 2-D array or tensor, or a ``(data, target)`` pair of them, is a sequence of batches.
    """
    if isinstance(X, (list, tuple)):
        if not X:
            return True
        first = X[0]
        if isinstance(first, (list, tuple)) and first and getattr(first[0], "ndim", 0) == 2:
            return False  # (data, target) pairs
        return not (getattr(first, "ndim", 0) == 2 or isinstance(first, dict))
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
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        expected = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    bound_ok = value >= 0 if allow_zero else value > 0
    if not (bound_ok and np.isfinite(value)):
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def _nonfinite_message(name: str, v: Tensor, source: Tensor | np.ndarray | None) -> str:
    """Why ``v`` holds NaN or infinity: so does the data, or its finite values overflow ``v``'s dtype."""
    if source is not None:
        finite = bool(torch.isfinite(source).all()) if isinstance(source, Tensor) else bool(np.isfinite(source).all())
        if finite:
            largest = float(source.abs().max()) if isinstance(source, Tensor) else float(np.abs(source).max())
            return (
                f"{name} holds values as large as {largest:.3g} in magnitude, too large for {v.dtype} "
                f"(largest {torch.finfo(v.dtype).max:.3g}): rescale the data or use a float64 model"
            )
    return f"{name} contains NaN or infinity"


def check_batch(
    v: Tensor, name: str, *, n_features: int | None, unit_interval: bool, source: Tensor | np.ndarray | None = None,
    tolerance: float = 0.0,
) -> tuple[float, float]:
    """Check a 2-D floating tensor: width, finiteness and, for binary units, the range [0, 1]
    (widened by ``tolerance`` on both sides, for a caller that clips); return its smallest and
    largest value.

    One reduction (the extremes) serves all value checks; meant for whole arrays before training
    and for each batch of an iterable once, during the statistics pass that precedes training.
    ``source``, the data before its conversion to ``v``'s dtype, tells finite values too large for
    that dtype from NaN and infinity.
    """
    if v.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features), got shape {tuple(v.shape)}")
    if v.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one sample, got shape {tuple(v.shape)}")
    if n_features is not None and v.shape[1] != n_features:
        raise ValueError(f"{name} has {v.shape[1]} features, but the model expects {n_features}")
    if v.shape[1] == 0:
        raise ValueError(f"{name} has no features: expected at least one column, got shape {tuple(v.shape)}")
    low, high = (float(bound) for bound in torch.aminmax(v))  # NaN and inf show in the extremes
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(_nonfinite_message(name, v, source))
    if unit_interval and (low < -tolerance or high > 1 + tolerance):
        raise ValueError(
            f"{name} must lie in [0, 1] for Bernoulli visible units, got values in "
            f"[{low:.8g}, {high:.8g}]; scale the data or use visible='gaussian'"
        )
    return low, high


def _as_array(X: Any, name: str) -> np.ndarray:
    """``X`` as a NumPy array of real numbers, 2-D and not empty (not yet converted to float)."""
    try:
        array = np.asarray(X) if not isinstance(X, np.ndarray) else X
    except (ValueError, TypeError) as error:  # ragged nested lists, objects NumPy cannot hold
        raise ValueError(f"{name} must be a rectangular 2-D array (rows of equal length): {error}") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one sample, got shape {array.shape}")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has no features: expected at least one column, got shape {array.shape}")
    return array


def as_float_tensor(
    X: Any,
    name: str,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    n_features: int | None = None,
    unit_interval: bool = False,
    clip: bool = False,
) -> Tensor:
    """Validate an in-memory 2-D array and return it as a floating tensor.

    With ``unit_interval`` the values must lie in [0, 1] (values outside it by no more than
    :data:`UNIT_INTERVAL_TOLERANCE`, a scaler's rounding, are clipped to it); with ``clip`` as well,
    all finite values outside it are clipped to it instead (inference: data scaled with statistics
    of other rows).

    NumPy input is converted by :func:`sklearn.utils.check_array`; then arrays and tensors alike are
    checked with torch reductions where they live (no round trip through the host for GPU tensors),
    so the messages are the same for both. A float32 array is wrapped without a copy.

    Raises
    ------
    TypeError
        For a non-numeric dtype (strings, objects, complex numbers).
    ValueError
        For a ragged nested list, a wrong shape, an empty array, NaN/inf, finite values too large
        for ``dtype``, a wrong number of features, or values outside [0, 1] when ``unit_interval``.
    """
    if isinstance(X, Tensor):
        if X.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {X.dtype}")
        source = X.detach()
        tensor = source.to(device=device if device is not None else X.device, dtype=dtype)
    else:
        from sklearn.utils import check_array  # scikit-learn is imported where it is used (~0.7 s)

        source = check_array(_as_array(X, name), dtype=[np.float32, np.float64], order="C", input_name=name,
                             ensure_all_finite=False)
        if not source.flags.writeable:  # torch cannot wrap read-only memory (e.g. a memory map)
            source = source.copy()
        tensor = torch.as_tensor(source).to(device=device, dtype=dtype)
    low, high = check_batch(tensor, name, n_features=n_features, unit_interval=unit_interval and not clip,
                            source=source, tolerance=UNIT_INTERVAL_TOLERANCE)
    return tensor.clamp(0.0, 1.0) if unit_interval and (clip or low < 0 or high > 1) else tensor
