"""Figures of the records of :func:`dbn.compare.compare_inits`.

- :func:`plot_curves` — a training curve (mean over seeds), one panel per activation, one line
  per scheme at its selected rate, each scheme with its own (colour, line style) pair
  (:func:`dbn.plotting.line_styles`) and the legend outside the panels;
- :func:`plot_histogram_grid` — Glorot & Bengio's (2010) histograms of the activations and
  back-propagated gradients of every hidden layer at initialisation, one row per scheme;
- :func:`plot_filter_grid` — the first-layer filters after training, one row per scheme.

Each function returns the :class:`matplotlib.figure.Figure` and, given ``path``, saves it there
as a PNG at ``dpi`` (:data:`dbn.plotting.DPI` by default). matplotlib is an optional dependency
(``pip install dbn[plot]``), imported only when a figure is drawn; the figures are not
registered with pyplot (see :mod:`dbn.plotting`). The histogram and filter grids need the
networks, so the records must come from ``compare_inits(..., keep_models=True)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dbn.plotting import DPI, line_styles, new_figure, outside_legend, save_figure

__all__ = ["CURVE_COLUMNS", "plot_curves", "plot_filter_grid", "plot_histogram_grid"]

#: panels per line of :func:`plot_curves`
CURVE_COLUMNS = 3


def _mean_curve(records: list[dict], metric: str) -> np.ndarray | None:
    """The mean over seeds of the records' curve (the first seed's if no value is finite)."""
    runs = np.array([record["curves"][metric] for record in records], dtype=float)
    if not len(runs):
        return None
    return np.nanmean(runs, 0) if np.isfinite(runs).any() else runs[0]


def plot_curves(records: list[dict], path: str | Path | None = None, *, metric: str = "train_loss",
                dpi: float = DPI) -> Any:
    """Mean over seeds of a curve, one panel per activation, one line per scheme (selected rates).

    Parameters
    ----------
    records : list of dict
        Records of :func:`dbn.compare.compare_inits`; only the ``selected`` ones are drawn.
    path : str or Path, optional
        Where to save the figure (PNG).
    metric : str
        A key of the records' ``curves`` (``train_loss``, ``val_accuracy``, ...); losses are drawn
        on a logarithmic axis.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per activation (lines of :data:`CURVE_COLUMNS`), one line per scheme: every
        scheme keeps its (colour, line style) in every panel; one legend, right of the panels.
    """
    from matplotlib.ticker import MaxNLocator

    selected = [r for r in records if r["selected"]]
    if not selected:
        raise ValueError("no selected record to draw (records of dbn.compare.compare_inits)")
    activations = list(dict.fromkeys(r["activation"] for r in selected))
    styles = line_styles([r["scheme"] for r in selected])
    columns = min(len(activations), CURVE_COLUMNS)
    lines = math.ceil(len(activations) / columns)
    legend_columns = 1 if len(styles) <= 12 else 2
    legend_height = 0.16 * math.ceil(len(styles) / legend_columns) + 0.6
    figure = new_figure(3.4 * columns + 1.6 * legend_columns, max(2.7 * lines, legend_height))
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for axis in axes[len(activations):]:
        axis.set_visible(False)
    for axis, name in zip(axes, activations, strict=False):
        for scheme, style in styles.items():
            curve = _mean_curve([r for r in selected if r["activation"] == name and r["scheme"] == scheme], metric)
            if curve is not None:  # else the scheme does not apply to this activation
                axis.plot(np.arange(len(curve)), curve, label=scheme, linewidth=1.3, **style)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("epoch", fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_yscale("log" if "loss" in metric else "linear")
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for axis in axes[::columns]:
        axis.set_ylabel(metric.replace("_", " "), fontsize=8)
    outside_legend(figure, axes[: len(activations)])
    return save_figure(figure, path, dpi=dpi)


def _first_models(records: list[dict], activation: str, key: str, *, selected: bool = False) -> dict[str, Any]:
    """``{scheme: model}`` of the first record (seed) of each scheme holding ``key``."""
    firsts: dict[str, Any] = {}
    for record in records:
        if record["activation"] == activation and key in record and (record["selected"] or not selected):
            firsts.setdefault(record["scheme"], record[key])
    if not firsts:
        raise ValueError(f"no record of {activation!r} holds {key!r}: run compare_inits(..., keep_models=True)")
    return firsts


def plot_histogram_grid(records: list[dict], X: Any, y: Any, path: str | Path | None = None, *, activation: str,
                        dpi: float = DPI) -> Any:
    """Glorot & Bengio's histograms at initialisation, one row per scheme (first seed).

    Parameters
    ----------
    records : list of dict
        Records with ``initial_model`` (``keep_models=True``).
    X, y : arrays
        The rows traced through each initial network (a few hundred training rows suffice).
    path : str or Path, optional
        Where to save the figure (PNG).
    activation : str
        The activation whose networks are drawn.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes per scheme (activations, gradients), the legend of the layers right of them.
    """
    from dbn.diagnostics import draw_layer_histograms, trace_layers

    firsts = _first_models(records, activation, "initial_model")
    figure = new_figure(9.5, 1.45 * len(firsts) + 0.9)
    axes = figure.subplots(len(firsts), 2, squeeze=False)
    for row, (scheme, model) in zip(axes, firsts.items(), strict=True):
        draw_layer_histograms(trace_layers(model, X, y), row[0], row[1], legend=False)
        row[0].set_ylabel(scheme, fontsize=8)
        row[1].xaxis.get_offset_text().set_fontsize(6)
    axes[0][0].set_title("activation value", fontsize=8)
    axes[0][1].set_title(r"back-propagated gradient $\partial L / \partial z$", fontsize=8)
    outside_legend(figure, [axes[0][0]])
    figure.suptitle(f"{activation}: histograms per hidden layer at initialisation (fraction of entries per bin)",
                    fontsize=9)
    return save_figure(figure, path, dpi=dpi)


def plot_filter_grid(records: list[dict], path: str | Path | None = None, *, activation: str, n: int = 16,
                     dpi: float = DPI) -> Any:
    """The first ``n`` first-layer filters after training, one row per scheme (first seed, selected rate).

    Parameters
    ----------
    records : list of dict
        Records with ``model`` (``keep_models=True``).
    path : str or Path, optional
        Where to save the figure (PNG).
    activation : str
        The activation whose networks are drawn.
    n : int
        Filters per row.
    dpi : float
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per scheme, each holding one image (black: most negative, white: most positive).
    """
    from dbn.diagnostics import filter_mosaic

    firsts = _first_models(records, activation, "model", selected=True)
    figure = new_figure(7.5, 0.5 * len(firsts) + 0.5, layout="compressed")
    axes = figure.subplots(len(firsts), 1, squeeze=False)[:, 0]
    for axis, (scheme, model) in zip(axes, firsts.items(), strict=True):
        mosaic = filter_mosaic(model[0].weight, n=n, columns=n)
        axis.imshow(mosaic, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([(mosaic.shape[0] - 1) / 2], [scheme], fontsize=7)  # a tick label: the layout makes room
        axis.tick_params(axis="y", length=0)
    figure.suptitle(f"{activation}: first-layer filters after training", fontsize=9)
    return save_figure(figure, path, dpi=dpi)
