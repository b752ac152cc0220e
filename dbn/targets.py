"""Targets of supervised training, checked in one place: class labels, regression targets, splits.

Every error names the argument (``y``, ``y_val``) and what was expected, and is raised before any
training. :func:`encode_labels` turns labels of any discrete type into class indices (the fine-tuned
classifiers and their scikit-learn wrappers); :func:`as_target_tensor` checks what the supervised
loop of :mod:`dbn.training` receives; :func:`split_rows` holds out a validation part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import assert_all_finite, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from torch import Tensor

__all__ = ["as_target_tensor", "class_labels", "encode_labels", "regression_targets", "split_rows"]


def _as_numpy(y: Any) -> np.ndarray:
    return y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)


def _rows_message(name: str, rows: int, n_rows: int) -> str:
    return f"{name} has {rows} rows but {name.replace('y', 'X')} has {n_rows}"


def class_labels(y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    """Check class labels: one per row, finite, discrete (scikit-learn's rules); a 1-D array."""
    y = column_or_1d(_as_numpy(y))
    if y.shape[0] != n_rows:
        raise ValueError(_rows_message(name, y.shape[0], n_rows))
    if y.dtype.kind in "fc":
        assert_all_finite(y, input_name=name)
    check_classification_targets(y)
    return y


def encode_labels(y: Any, n_rows: int, y_val: Any = None, n_val: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The classes and the class indices of ``y`` (and of ``y_val``, in the same encoding).

    Raises
    ------
    ValueError
        For a wrong number of labels, NaN, continuous values, or ``y_val`` labels unseen in ``y``.
    """
    encoder = LabelEncoder().fit(class_labels(y, n_rows, "y"))
    codes = encoder.transform(column_or_1d(_as_numpy(y)))
    val_codes = None if y_val is None else encoder.transform(class_labels(y_val, n_val, "y_val"))
    return encoder.classes_, codes, val_codes


def regression_targets(y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    """Check regression targets: shape (n_rows,) or (n_rows, k), finite numbers; float32."""
    y = _as_numpy(y)
    if y.ndim not in (1, 2) or y.shape[0] != n_rows:
        rows = y.shape[0] if y.ndim else 0
        raise ValueError(f"{_rows_message(name, rows, n_rows)} (shape {y.shape})")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers for regression, got dtype {y.dtype}")
    assert_all_finite(y, input_name=name)
    return y.astype(np.float32)


def as_target_tensor(y: Any, n_rows: int, *, classify: bool, device: torch.device, dtype: torch.dtype, name: str = "y") -> Tensor:
    """Targets on ``device``: class indices (int64, 1-D) or real values (2-D, ``dtype``)."""
    if y is None:
        raise ValueError(f"{name} is required")
    if not isinstance(y, Tensor):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got an array of dtype {y.dtype}")
    target = y.detach() if isinstance(y, Tensor) else torch.as_tensor(y)
    if target.ndim == 0 or target.shape[0] != n_rows:
        raise ValueError(_rows_message(name, target.shape[0] if target.ndim else 0, n_rows))
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {target.dtype}")
    if target.is_floating_point() and not bool(torch.isfinite(target).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    if not classify:
        target = target.to(device=device, dtype=dtype)
        return target.unsqueeze(1) if target.ndim == 1 else target
    if target.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional class indices for cross-entropy, got shape {tuple(target.shape)}")
    if target.is_floating_point() and not bool((target == target.round()).all()):
        raise ValueError(f"{name} must hold integer class indices for cross-entropy")
    target = target.to(device=device, dtype=torch.int64)
    if bool((target < 0).any()):
        raise ValueError(f"{name} must hold class indices >= 0")
    return target


def split_rows(n_rows: int, y: Tensor, fraction: float, *, stratify: bool, seed: int) -> tuple[Tensor, Tensor]:
    """Row indices of the training and validation parts (stratified by class when asked)."""
    labels = y.cpu().numpy() if stratify else None
    train, val = train_test_split(np.arange(n_rows), test_size=fraction, stratify=labels, random_state=seed % 2**32)
    return torch.as_tensor(train), torch.as_tensor(val)
