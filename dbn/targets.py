"""Targets of supervised training, checked in one place: class labels, regression targets, splits.

Every error names the argument (``y``, ``y_val``, ``validation_fraction``) and what was expected,
and is raised before any training. :func:`encode_labels` turns labels of any discrete type into
class indices (the fine-tuned classifiers and their scikit-learn wrappers); for labels read batch by
batch from a stream, :func:`merge_classes` gathers the classes in one pass and
:func:`encode_with_classes` encodes each batch the same way; :func:`class_indices` checks labels that
must already be indices 0..C-1; :func:`as_target_tensor` checks what the
supervised loop of :mod:`dbn.training` receives; :func:`check_split` tells whether a validation part
can be held out, and :func:`split_rows` holds it out.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_target_tensor",
    "check_split",
    "class_indices",
    "class_labels",
    "encode_labels",
    "encode_with_classes",
    "merge_classes",
    "numeric_targets",
    "regression_targets",
    "split_rows",
]

#: the largest magnitude a float32 target can hold
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: how many of the smallest classes an error message lists
_SHOWN_CLASSES = 10


def _as_numpy(y: Any, name: str = "y") -> np.ndarray:
    if isinstance(y, Tensor):
        return y.detach().cpu().numpy()
    try:
        return np.asarray(y)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array (one target per row): {error}") from error


def _rows_message(name: str, rows: int, n_rows: int) -> str:
    return f"{name} has {rows} rows but {name.replace('y', 'X')} has {n_rows}"


def _label_kind(value: Any) -> str:
    if isinstance(value, (str, np.str_, bytes)):
        return "string"
    if isinstance(value, (numbers.Number, np.number, np.bool_)):
        return "number"
    return type(value).__name__


def _check_label_types(y: np.ndarray, name: str) -> None:
    """Refuse an object array that mixes strings, numbers and other objects (they cannot be sorted)."""
    if y.dtype != object:
        return
    kinds = sorted({_label_kind(value) for value in y})
    if len(kinds) > 1:
        raise TypeError(f"{name} mixes labels of different types ({', '.join(kinds)}): all labels must be strings "
                        "or all numbers")
    if kinds and kinds[0] not in ("string", "number"):
        raise TypeError(f"{name} must hold strings or numbers as class labels, got {kinds[0]} objects")


def class_labels(y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    """Check class labels: one per row, finite, discrete (scikit-learn's rules), of one type; a 1-D array.

    Raises
    ------
    TypeError
        For labels mixing strings and numbers (or holding other objects).
    ValueError
        For a wrong number of labels, NaN or infinity, or continuous values.
    """
    from sklearn.utils import assert_all_finite, column_or_1d  # imported where used, as in dbn.validation
    from sklearn.utils.multiclass import check_classification_targets

    y = column_or_1d(_as_numpy(y, name))
    if y.shape[0] != n_rows:
        raise ValueError(_rows_message(name, y.shape[0], n_rows))
    if y.dtype.kind in "fc":
        assert_all_finite(y, input_name=name)
    _check_label_types(y, name)
    try:
        check_classification_targets(y)
    except ValueError as error:
        raise ValueError(f"{name} must hold discrete class labels (integers or strings): {error}") from error
    return y


def class_indices(y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    """Check labels that must be class indices 0..C-1 (integers, or integral floats); int64, 1-D.

    Raises
    ------
    TypeError
        For labels that are not numbers.
    ValueError
        For what :func:`class_labels` refuses, or negative labels.
    """
    y = class_labels(y, n_rows, name)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integer class indices 0..C-1, got labels of dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} must hold class indices >= 0, got {y.min()}")
    return y.astype(np.int64)


def encode_labels(
    y: Any, n_rows: int, y_val: Any = None, n_val: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The classes and the class indices of ``y`` (and of ``y_val``, in the same encoding).

    Raises
    ------
    TypeError
        For labels mixing strings and numbers.
    ValueError
        For a wrong number of labels, NaN, continuous values, or ``y_val`` labels unseen in ``y``.
    """
    from sklearn.preprocessing import LabelEncoder  # imported where used, as in dbn.validation

    labels = class_labels(y, n_rows, "y")
    encoder = LabelEncoder().fit(labels)
    codes = encoder.transform(labels)
    if y_val is None:
        return encoder.classes_, codes, None
    val_labels = class_labels(y_val, n_val, "y_val")
    unseen = np.setdiff1d(val_labels, encoder.classes_)
    if unseen.size:
        raise ValueError(f"y_val holds labels absent from y: {unseen[:_SHOWN_CLASSES].tolist()}")
    return encoder.classes_, codes, encoder.transform(val_labels)


def _kinds_message(name: str, found: np.ndarray, classes: np.ndarray) -> str | None:
    """Why the labels ``found`` cannot join ``classes`` (strings among numbers, or the reverse), or None."""
    if not (found.size and classes.size):
        return None
    new, old = _label_kind(found[0]), _label_kind(classes[0])
    if new == old:
        return None
    return (f"{name} holds {new} labels but the earlier labels are {old}s: all labels must be strings or all "
            "numbers")


def merge_classes(classes: np.ndarray | None, y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    """``classes`` (sorted, or None for none yet) joined with the labels of one more batch ``y``.

    Each batch is checked as :func:`class_labels` checks labels. After every batch of a stream
    has been merged, the result is the ``classes`` that :func:`encode_labels` would find in all of
    them, in the same (sorted) order; only the distinct labels are kept, never the rows' labels.

    Raises
    ------
    TypeError
        For labels mixing strings and numbers, within the batch or with the earlier batches.
    ValueError
        For what :func:`class_labels` refuses.
    """
    found = np.unique(class_labels(y, n_rows, name))
    if classes is None:
        return found
    reason = _kinds_message(name, found, classes)
    if reason is not None:
        raise TypeError(reason)
    return np.union1d(classes, found)


def encode_with_classes(y: Any, n_rows: int, classes: np.ndarray, name: str = "y", *, known: str = "y") -> np.ndarray:
    """The class indices (int64) of the labels ``y`` in ``classes`` (sorted): :func:`encode_labels`'s encoding.

    ``known`` names where ``classes`` came from, for the message about labels outside them.

    Raises
    ------
    TypeError
        For labels mixing strings and numbers, or of another kind than ``classes``.
    ValueError
        For what :func:`class_labels` refuses, and labels absent from ``classes``.
    """
    labels = class_labels(y, n_rows, name)
    reason = _kinds_message(name, labels, classes)
    if reason is not None:
        raise TypeError(reason)
    codes = np.searchsorted(classes, labels)
    found = classes[np.minimum(codes, len(classes) - 1)] == labels
    if not found.all():
        unseen = np.unique(labels[~found])[:_SHOWN_CLASSES].tolist()
        raise ValueError(f"{name} holds labels absent from {known}: {unseen}")
    return codes.astype(np.int64)


def _check_float32_range(y: np.ndarray, name: str) -> None:
    largest = float(np.abs(y).max()) if y.size else 0.0
    if largest > FLOAT32_MAX:
        raise ValueError(
            f"{name} holds values as large as {largest:.3g} in magnitude, too large for float32 "
            f"(largest {FLOAT32_MAX:.3g}): rescale the targets"
        )


def numeric_targets(y: Any, name: str = "y") -> np.ndarray:
    """Check the values of regression targets (any shape): finite numbers within float32's range; float64.

    Objects and text that hold numbers (``"1.5"``) are converted, as scikit-learn's ``y_numeric``
    does; the messages keep the phrases scikit-learn's estimator checks look for.

    Raises
    ------
    TypeError
        For targets that are not numbers (words, dates, other objects).
    ValueError
        For a missing ``y``, complex numbers, NaN or infinity, or finite values too large for float32.
    """
    if y is None:
        raise ValueError(f"{name} is required: this estimator requires y to be passed, but the target y is None")
    values = _as_numpy(y, name)
    if values.dtype.kind == "c":
        raise ValueError(f"{name} holds complex numbers: Complex data not supported for regression targets")
    if values.dtype.kind in "OUS":
        try:
            values = values.astype(np.float64)
        except (ValueError, TypeError) as error:
            raise TypeError(f"{name} must hold numbers for regression, got dtype {values.dtype}: {error}") from error
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers for regression, got dtype {values.dtype}")
    from sklearn.utils import assert_all_finite  # imported where used, as in dbn.validation

    assert_all_finite(values, input_name=name)
    _check_float32_range(values, name)
    return values


def regression_targets(y: Any, n_rows: int, name: str = "y") -> np.ndarray:
    """Check regression targets: shape (n_rows,) or (n_rows, k), finite numbers within float32's range; float32.

    Raises
    ------
    TypeError
        For targets that are not numbers (strings, objects).
    ValueError
        For a wrong shape, NaN or infinity, or finite values too large for float32.
    """
    y = _as_numpy(y, name)
    if y.ndim not in (1, 2) or y.shape[0] != n_rows:
        rows = y.shape[0] if y.ndim else 0
        raise ValueError(f"{_rows_message(name, rows, n_rows)} (shape {y.shape})")
    return numeric_targets(y, name).astype(np.float32)


def _overflow_message(name: str, target: Tensor, dtype: torch.dtype) -> str:
    largest = float(target.double().abs().max())
    return (
        f"{name} holds values as large as {largest:.3g} in magnitude, too large for {dtype} "
        f"(largest {torch.finfo(dtype).max:.3g}): rescale the targets"
    )


def as_target_tensor(
    y: Any, n_rows: int, *, classify: bool, device: torch.device, dtype: torch.dtype, name: str = "y"
) -> Tensor:
    """Targets on ``device``: class indices (int64, 1-D) or real values (2-D, ``dtype``).

    Raises
    ------
    TypeError
        For targets that are not real numbers (strings, booleans, complex numbers).
    ValueError
        For a missing ``y``, a wrong number of rows, NaN or infinity, finite values too large for
        ``dtype``, and class indices that are not integers >= 0.
    """
    if y is None:
        raise ValueError(f"{name} is required")
    if not isinstance(y, Tensor):
        y = _as_numpy(y, name)
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
        converted = target.to(device=device, dtype=dtype)
        if target.is_floating_point() and not bool(torch.isfinite(converted).all()):
            raise ValueError(_overflow_message(name, target, dtype))
        return converted.unsqueeze(1) if converted.ndim == 1 else converted
    return _class_index_tensor(target, name, device)


def _class_index_tensor(target: Tensor, name: str, device: torch.device) -> Tensor:
    """Checked class indices (1-D, integral, >= 0) as int64 on ``device``."""
    if target.ndim != 1:
        raise ValueError(
            f"{name} must be 1-dimensional class indices for cross-entropy, got shape {tuple(target.shape)}"
        )
    if target.is_floating_point():
        if not bool((target == target.round()).all()):
            raise ValueError(f"{name} must hold integer class indices for cross-entropy")
        if bool((target.abs() >= 2**62).any()):
            raise ValueError(f"{name} holds a class index of {float(target.abs().max()):.3g}, too large to be one")
    target = target.to(device=device, dtype=torch.int64)
    if bool((target < 0).any()):
        raise ValueError(f"{name} must hold class indices >= 0")
    return target


def _class_counts(labels: np.ndarray) -> str:
    """The smallest classes and their row counts, for messages."""
    classes, counts = np.unique(labels, return_counts=True)
    order = np.argsort(counts, kind="stable")[:_SHOWN_CLASSES]
    names, sizes = classes.tolist(), counts.tolist()  # plain Python values print without their NumPy type
    shown = ", ".join(f"{names[i]!r}: {sizes[i]}" for i in order)
    return "{" + shown + (", ..." if len(classes) > _SHOWN_CLASSES else "") + "}"


def check_split(y: Any, n_rows: int, fraction: float, *, stratify: bool, name: str = "validation_fraction") -> None:
    """Raise unless holding out ``fraction`` of the rows leaves rows on both sides of the split.

    The sizes are those of :func:`sklearn.model_selection.train_test_split`: ``ceil(fraction *
    n_rows)`` held out. Stratified by the labels ``y``, every class needs two rows or more, and
    both parts at least one row per class. A ``fraction`` of 0 holds out nothing and passes.

    Raises
    ------
    ValueError
        Naming ``name``, the rows on each side and, when stratified, the smallest class counts.
    """
    if fraction == 0:
        return
    n_val = math.ceil(fraction * n_rows)
    n_train = n_rows - n_val
    if n_val < 1 or n_train < 1:
        raise ValueError(
            f"{name}={fraction} of the n_samples={n_rows} rows leaves {n_train} training and {n_val} validation rows: "
            f"pass more rows, another {name}, or {name}=0"
        )
    if not stratify:
        return
    labels = _as_numpy(y, "y").reshape(-1)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        raise ValueError(
            f"{name}={fraction} holds out a stratified validation split, for which every class of y needs at least "
            f"2 rows; the smallest class counts are {_class_counts(labels)}: pass more rows or {name}=0"
        )
    if n_val < len(classes) or n_train < len(classes):
        raise ValueError(
            f"{name}={fraction} of the n_samples={n_rows} rows leaves {n_train} training and {n_val} validation rows, "
            f"but a stratified split needs at least one row of each of the {len(classes)} classes on both sides; "
            f"class counts {_class_counts(labels)}: change {name} or pass {name}=0"
        )


def split_rows(n_rows: int, y: Tensor, fraction: float, *, stratify: bool, seed: int) -> tuple[Tensor, Tensor]:
    """Row indices of the training and validation parts (stratified by class when asked).

    Raises
    ------
    ValueError
        When the split cannot be made (:func:`check_split`), naming ``validation_fraction``.
    """
    from sklearn.model_selection import train_test_split  # imported where used, as in dbn.validation

    labels = y.cpu().numpy() if stratify else None
    check_split(labels, n_rows, fraction, stratify=stratify)
    train, val = train_test_split(np.arange(n_rows), test_size=fraction, stratify=labels, random_state=seed % 2**32)
    return torch.as_tensor(train), torch.as_tensor(val)
