"""Figures of models and of their training, drawn with matplotlib (``pip install dbn[plot]``).

- :func:`plot_filters` — the weights of the first layer (of an :class:`~dbn.rbm.RBM`, a
  :class:`~dbn.stack.DeepBeliefNet`, an MLP or a weight matrix) tiled as images;
- :func:`plot_samples` — a grid of samples, e.g. from :meth:`dbn.rbm.RBM.sample` or
  :meth:`dbn.stack.DeepBeliefNet.sample`;
- :func:`plot_reconstructions` — rows of data above their reconstructions;
- :func:`plot_history` — learning curves of ``RBM.history_``, ``DeepBeliefNet.pretrain_history_``
  (one line per layer) or ``DeepBeliefNet.finetune_history_``, one panel per monitor;
- :func:`plot_layer_histograms` — Glorot & Bengio's (2010) histograms of the activations and
  back-propagated gradients of every hidden layer (:mod:`dbn.diagnostics`).

Every function returns the :class:`matplotlib.figure.Figure` and, given ``path``, also saves it
there (PNG at ``dpi`` = :data:`DPI` by default; missing directories are created). The figures
are created as plain ``Figure`` objects, not through :mod:`matplotlib.pyplot`: no backend is
selected, nothing needs closing, and any number can be drawn in a script. In a notebook, display
one with ``IPython.display.display(figure)`` or as the value of a cell (inline backend).

matplotlib is imported only when a figure is drawn, so ``import dbn`` does not need it.
:func:`line_styles` gives up to 40 lines distinct (colour, line style) pairs; the figures of a
comparison (:mod:`dbn.figures`) use it.

Examples
--------
>>> from dbn import RBM
>>> from dbn.datasets import load_digits
>>> from dbn.plotting import plot_filters, plot_history
>>> X, _ = load_digits()
>>> rbm = RBM(64, 64).fit(X, epochs=5, progress=False)
>>> figure = plot_filters(rbm, "filters.png")  # doctest: +SKIP
>>> figure = plot_history(rbm, keys=["recon_mse", "pseudo_likelihood"])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "DPI",
    "LINE_STYLES",
    "line_styles",
    "new_figure",
    "outside_legend",
    "plot_filters",
    "plot_history",
    "plot_layer_histograms",
    "plot_reconstructions",
    "plot_samples",
    "save_figure",
]

#: resolution of the saved PNG files (dots per inch)
DPI = 150

#: the line styles :func:`line_styles` combines with matplotlib's ten ``tab10`` colours
LINE_STYLES = ("-", "--", "-.", ":")

# keys of the training records that are not curves
_NOT_CURVES = ("epoch",)


# --------------------------------------------------------------------------- figures


def new_figure(width: float, height: float, *, layout: str = "constrained") -> Any:
    """A :class:`matplotlib.figure.Figure` of ``width`` x ``height`` inches, not registered with pyplot.

    The ``constrained`` layout keeps titles, labels and outside legends from overlapping; use
    ``compressed`` for grids of images (axes of a fixed aspect ratio), whose labels it places
    correctly.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def save_figure(figure: Any, path: str | Path | None, *, dpi: float = DPI) -> Any:
    """Save ``figure`` to ``path`` (creating its directory) at ``dpi``, if ``path`` is given; return it.

    The file's pixel size is the figure's size in inches times ``dpi``, rounded down (no tight
    bounding box: the constrained layout already keeps everything inside the figure).
    """
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi)
    return figure


def line_styles(labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A distinct (colour, line style) for each label, in order: ``{label: {"color", "linestyle"}}``.

    The ten ``tab10`` colours cycle with every label and the four :data:`LINE_STYLES` shift so
    that consecutive labels differ in both, and the first 40 labels all get different pairs (the
    i-th label has colour ``i % 10`` and style ``(i + i // 10) % 4``).
    """
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    styles = {}
    for index, label in enumerate(dict.fromkeys(labels)):
        style = LINE_STYLES[(index + index // 10) % len(LINE_STYLES)]
        styles[label] = {"color": colours[index % 10], "linestyle": style}
    return styles


# --------------------------------------------------------------------------- images


def _as_rows(values: Any, name: str) -> np.ndarray:
    """A 2-D float array of ``values`` (a tensor, array or nested list), one image per row."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must hold at least one image (a 2-D array, one row per image), got {array.shape}")
    return array


def _image_shape(n_pixels: int, image_shape: tuple[int, int] | None) -> tuple[int, int]:
    if image_shape is None:
        side = math.isqrt(n_pixels)
        if side * side != n_pixels:
            raise ValueError(f"rows of {n_pixels} values are not square images: give image_shape=(height, width)")
        return side, side
    height, width = (int(size) for size in image_shape)
    if height * width != n_pixels:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold rows of {n_pixels} values")
    return height, width


def _mosaic(rows: np.ndarray, image_shape: tuple[int, int], columns: int) -> np.ndarray:
    """The rows tiled as images, ``columns`` per line, separated by 1-pixel borders (NaN)."""
    height, width = image_shape
    lines = math.ceil(len(rows) / columns)
    mosaic = np.full((lines * (height + 1) + 1, columns * (width + 1) + 1), np.nan)
    for index, row in enumerate(rows):
        top, left = 1 + (index // columns) * (height + 1), 1 + (index % columns) * (width + 1)
        mosaic[top : top + height, left : left + width] = row.reshape(height, width)
    return mosaic


def _show(axis: Any, mosaic: np.ndarray, low: float, high: float, cmap: str = "gray") -> Any:
    from matplotlib import colormaps

    colours = colormaps[cmap].with_extremes(bad=(0.85, 0.85, 0.85))  # grey borders between the tiles
    image = axis.imshow(mosaic, cmap=colours, vmin=low, vmax=high, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)
    return image


def _mosaic_size(mosaic: np.ndarray, longest: float = 7.0) -> tuple[float, float]:
    """Inches for a mosaic: its longest side ``longest`` inches (at most 1/8 inch per pixel), at least 2 wide."""
    scale = min(longest / max(mosaic.shape), 0.125)
    scale = max(scale, 2.0 / mosaic.shape[1])
    return mosaic.shape[1] * scale, mosaic.shape[0] * scale


def _first_weight(model: Any) -> Any:
    """The first-layer weight matrix (one row per unit) of an RBM, a stack of RBMs or a network."""
    if isinstance(model, (Tensor, np.ndarray, list, tuple)):
        return model
    if hasattr(model, "rbms"):
        model = model.rbms[0]
    if isinstance(model, nn.Module) and not isinstance(getattr(model, "weight", None), Tensor):
        layers = [module for module in model.modules() if isinstance(module, nn.Linear)]
        if not layers:
            raise TypeError(f"{type(model).__name__} has no weight matrix and no nn.Linear layer to draw")
        model = layers[0]
    if not isinstance(getattr(model, "weight", None), Tensor):
        raise TypeError(f"filters are drawn from an RBM, a DeepBeliefNet, an nn.Module or a weight matrix, "
                        f"got {type(model).__name__}")
    return model.weight


def plot_filters(
    model: Any,
    path: str | Path | None = None,
    *,
    n: int = 64,
    image_shape: tuple[int, int] | None = None,
    columns: int | None = None,
    title: str = "",
    dpi: float = DPI,
) -> Any:
    """The first ``n`` first-layer filters tiled as images, each scaled to [-1, 1] by its largest magnitude.

    Parameters
    ----------
    model : RBM, DeepBeliefNet, nn.Module, Tensor or array
        An RBM (its ``weight``, shape ``(n_hidden, n_visible)``), a stack of RBMs (its first RBM),
        a network (its first ``nn.Linear``) or a weight matrix, one filter per row.
    path : str or Path, optional
        Where to save the figure (PNG).
    n : int
        The number of filters drawn (the first ``n`` rows).
    image_shape : (int, int), optional
        ``(height, width)`` of a filter; by default square.
    columns : int, optional
        Filters per line of the mosaic; by default about the square root of ``n``.
    title : str
        The figure's title.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding one image: black is the most negative weight, white the most positive.
    """
    rows = _as_rows(_first_weight(model), "the weight matrix")[: max(int(n), 1)]
    scales = np.abs(rows).max(1, keepdims=True)
    rows = rows / np.where(scales > 0, scales, 1.0)
    columns = columns or math.ceil(math.sqrt(len(rows)))
    mosaic = _mosaic(rows, _image_shape(rows.shape[1], image_shape), columns)
    width, height = _mosaic_size(mosaic)
    figure = new_figure(width, height + (0.3 if title else 0.0), layout="compressed")
    _show(figure.add_subplot(), mosaic, -1.0, 1.0)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path, dpi=dpi)


def _value_range(rows: np.ndarray) -> tuple[float, float]:
    """[0, 1] for probabilities and binary samples, else the data's range."""
    finite = rows[np.isfinite(rows)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def plot_samples(
    samples: Any,
    path: str | Path | None = None,
    *,
    image_shape: tuple[int, int] | None = None,
    columns: int | None = None,
    title: str = "",
    dpi: float = DPI,
) -> Any:
    """A grid of samples (one per row of ``samples``) drawn as images in grey levels.

    Parameters
    ----------
    samples : Tensor or array, shape (n_samples, n_pixels)
        E.g. ``rbm.sample(64, steps=1000)`` or ``net.sample(64)``. Values in [0, 1]
        (probabilities, binary states) are drawn black (0) to white (1); other values span
        their range.
    path : str or Path, optional
        Where to save the figure (PNG).
    image_shape : (int, int), optional
        ``(height, width)`` of an image; by default square.
    columns : int, optional
        Images per line; by default about the square root of the number of samples.
    title : str
        The figure's title.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding one image.
    """
    rows = _as_rows(samples, "samples")
    columns = columns or math.ceil(math.sqrt(len(rows)))
    mosaic = _mosaic(rows, _image_shape(rows.shape[1], image_shape), columns)
    width, height = _mosaic_size(mosaic)
    figure = new_figure(width, height + (0.3 if title else 0.0), layout="compressed")
    _show(figure.add_subplot(), mosaic, *_value_range(rows))
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path, dpi=dpi)


@torch.no_grad()
def _reconstruct(model: Any, X: Any) -> Any:
    """The reconstructions of ``X`` by ``model`` (see :func:`plot_reconstructions`)."""
    if isinstance(model, (Tensor, np.ndarray)):
        return model
    if hasattr(model, "reconstruct"):
        return model.reconstruct(X)
    if callable(model):
        return model(torch.as_tensor(np.asarray(X, dtype=np.float32)) if isinstance(X, np.ndarray) else X)
    raise TypeError(f"model must be an RBM, a DeepBeliefNet, a callable or the reconstructions, got {type(model)}")


def plot_reconstructions(
    model: Any,
    X: Any,
    path: str | Path | None = None,
    *,
    n: int = 10,
    columns: int = 10,
    image_shape: tuple[int, int] | None = None,
    title: str = "",
    dpi: float = DPI,
) -> Any:
    """The first ``n`` rows of ``X``, each line of ``columns`` images above their reconstructions.

    Parameters
    ----------
    model : RBM, DeepBeliefNet, callable, Tensor or array
        Anything with a ``reconstruct`` method: an RBM (:meth:`dbn.rbm.RBM.reconstruct`, the
        mean-field recreation) or a pretrained DeepBeliefNet (its fine-tuned autoencoder, else the
        mean-field pass up the stack and back down); a callable mapping a tensor of rows to their
        reconstructions (e.g. ``lambda v: torch.sigmoid(autoencoder(v))`` for the logits of
        :meth:`~dbn.stack.DeepBeliefNet.to_autoencoder`); or the reconstructions themselves.
    X : Tensor or array, shape (n_samples, n_pixels)
        The data.
    path : str or Path, optional
        Where to save the figure (PNG).
    n : int
        The number of rows drawn.
    columns : int
        Images per line.
    image_shape : (int, int), optional
        ``(height, width)`` of an image; by default square.
    title : str
        The figure's title.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (data, then reconstructions) per line of ``columns`` images, each holding one image.
    """
    data = _as_rows(X, "X")[: max(int(n), 1)]
    recreated = _as_rows(_reconstruct(model, X[: len(data)]), "the reconstructions")
    recreated = recreated[: len(data)]
    if recreated.shape != data.shape:
        raise ValueError(f"the reconstructions have shape {recreated.shape}, the data {data.shape}")
    shape = _image_shape(data.shape[1], image_shape)
    low, high = _value_range(np.concatenate([data, recreated]))
    columns = min(max(int(columns), 1), len(data))
    lines = math.ceil(len(data) / columns)
    strip = _mosaic(data[:columns], shape, columns)
    width, height = _mosaic_size(strip, longest=min(7.0, 0.75 * columns))
    figure = new_figure(width + 0.9, 2 * lines * height + (0.3 if title else 0.0), layout="compressed")
    axes = figure.subplots(2 * lines, 1, squeeze=False)[:, 0]
    for line in range(lines):
        part = slice(line * columns, (line + 1) * columns)
        for axis, rows, label in ((axes[2 * line], data, "data"), (axes[2 * line + 1], recreated, "recon.")):
            _show(axis, _mosaic(rows[part], shape, columns), low, high)
            axis.set_ylabel(label, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path, dpi=dpi)


# --------------------------------------------------------------------------- curves


def _runs(history: Any) -> dict[str, list[dict]]:
    """``{label: records}`` of a model, a list of records, a list of lists or a mapping of them."""
    if hasattr(history, "history_"):
        history = history.history_
    elif hasattr(history, "pretrain_history_"):
        history = history.pretrain_history_
    if isinstance(history, Mapping):
        runs = {str(label): list(records) for label, records in history.items()}
    elif len(history) and all(isinstance(records, (list, tuple)) for records in history):
        runs = {f"layer {index + 1}": list(records) for index, records in enumerate(history)}
    else:
        runs = {"": list(history)}
    for label, records in runs.items():
        if not all(isinstance(record, Mapping) for record in records):
            raise TypeError(f"history {label!r}: expected a list of dicts (one per epoch)")
    return runs


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _curve_keys(runs: dict[str, list[dict]], keys: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(key for records in runs.values() for record in records for key in record))
    numeric = [key for key in present
               if any(_is_number(record.get(key)) for records in runs.values() for record in records)]
    if keys is None:
        return [key for key in numeric if key not in _NOT_CURVES]
    missing = [key for key in keys if key not in numeric]
    if missing:
        raise ValueError(f"no numeric values for {missing} in the history; it holds {numeric}")
    return list(keys)


def _draw_curve(axis: Any, records: list[dict], key: str, style: dict[str, Any], label: str) -> list[float]:
    """One run's curve of ``key`` against its epochs (missing values leave gaps); its finite values."""
    epochs = [record.get("epoch", index + 1) for index, record in enumerate(records)]
    values = [float(record[key]) if _is_number(record.get(key)) else np.nan for record in records]
    finite = [value for value in values if math.isfinite(value)]
    if finite:
        marker = "o" if len(values) <= 15 else None
        axis.plot(epochs, values, marker=marker, markersize=3, linewidth=1.4, label=label or None, **style)
    return finite


def _panels(count: int, most: int, width: float, height: float) -> tuple[Any, np.ndarray]:
    """A figure with ``count`` panels in lines of at most ``most``; the unused ones hidden."""
    columns = min(count, most)
    lines = math.ceil(count / columns)
    figure = new_figure(width * columns, height * lines)
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for axis in axes[count:]:
        axis.set_visible(False)
    return figure, axes[:count]


def outside_legend(figure: Any, axes: Sequence[Any], *, fontsize: float = 7) -> Any:
    """One legend of every labelled line of ``axes``, right of the panels, outside them (None if no label).

    One column of up to 12 labels, else two columns; the figure's constrained layout makes room.
    """
    labels: dict[str, Any] = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            labels.setdefault(label, handle)
    if not labels:
        return None
    return figure.legend(list(labels.values()), list(labels), loc="outside right upper", fontsize=fontsize,
                         ncols=1 if len(labels) <= 12 else 2, frameon=False, handlelength=3.0)


def plot_history(
    history: Any,
    path: str | Path | None = None,
    *,
    keys: Sequence[str] | None = None,
    columns: int = 4,
    title: str = "",
    dpi: float = DPI,
) -> Any:
    """Learning curves, one panel per monitor, one line per run (e.g. per layer of a stack).

    Parameters
    ----------
    history : list of dict, list of lists of dict, dict of lists of dict, RBM or DeepBeliefNet
        Per-epoch records: ``rbm.history_`` (or the RBM), ``net.finetune_history_``,
        ``net.pretrain_history_`` (or the network: one line per layer), or a mapping of labels to
        such lists (one line each). Curves are drawn against the records' ``epoch``.
    path : str or Path, optional
        Where to save the figure (PNG).
    keys : sequence of str, optional
        The monitors drawn; by default every key with a numeric value in some record (keys whose
        values are all None, such as ``free_energy_gap`` without validation data, are left out).
    columns : int
        Panels per line.
    title : str
        The figure's title.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per monitor (a linear axis, logarithmic for positive values spanning more than
        two decades), the legend of the runs outside them, on the right.
    """
    from matplotlib.ticker import MaxNLocator

    runs = _runs(history)
    keys = _curve_keys(runs, keys)
    if not keys:
        raise ValueError("the history holds no numeric monitor to draw")
    figure, axes = _panels(len(keys), max(int(columns), 1), 2.9, 2.2)
    styles = line_styles(list(runs))
    for axis, key in zip(axes, keys, strict=True):
        finite = [value for label, records in runs.items()
                  for value in _draw_curve(axis, records, key, styles[label], label)]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
            axis.set_yscale("log")
        axis.set_title(key, fontsize=9)
        axis.set_xlabel("epoch", fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    if len(runs) > 1:
        outside_legend(figure, axes)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path, dpi=dpi)


# --------------------------------------------------------------------------- histograms


def _traces(source: Any, X: Any, y: Any) -> list:
    from dbn.diagnostics import LayerTrace, trace_layers

    if isinstance(source, nn.Module):
        if X is None or y is None:
            raise ValueError("a model's histograms need the rows X and their classes y it is traced on")
        return trace_layers(source, X, y)
    traces = list(source)
    if not traces or not all(isinstance(trace, LayerTrace) for trace in traces):
        raise TypeError("expected a network (with X and y) or the list of LayerTrace of dbn.diagnostics.trace_layers")
    return traces


def plot_layer_histograms(
    source: Any,
    path: str | Path | None = None,
    *,
    X: Any = None,
    y: Any = None,
    bins: int = 60,
    title: str = "",
    dpi: float = DPI,
) -> Any:
    r"""Histograms of the activations and back-propagated gradients :math:`\partial L / \partial z`
    of every hidden layer (Glorot & Bengio 2010, figures 3-7), one line per layer.

    Parameters
    ----------
    source : nn.Module or list of LayerTrace
        A network traced on ``(X, y)`` by :func:`dbn.diagnostics.trace_layers` (one forward and
        backward pass of the cross-entropy), or the traces themselves.
    path : str or Path, optional
        Where to save the figure (PNG).
    X, y : arrays or tensors, optional
        The rows and their class indices (needed with a network).
    bins : int
        Bins of each histogram.
    title : str
        The figure's title.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (activations, gradients), the legend of the layers outside them, on the right.
    """
    from dbn.diagnostics import draw_layer_histograms

    figure = new_figure(8.5, 3.0 + (0.3 if title else 0.0))
    left, right = figure.subplots(1, 2)
    draw_layer_histograms(_traces(source, X, y), left, right, bins=bins, legend=False)
    left.set_xlabel("activation value", fontsize=8)
    right.set_xlabel(r"back-propagated gradient $\partial L / \partial z$", fontsize=8)
    left.set_ylabel("fraction of entries", fontsize=8)
    right.xaxis.get_offset_text().set_fontsize(7)
    outside_legend(figure, [left])
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path, dpi=dpi)
