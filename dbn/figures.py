"""Figures of the records of :func:`dbn.compare.compare_inits`, written as PNG files.

- :func:`plot_curves` — a training curve (mean over seeds), one panel per activation, one line
  per scheme at its selected rate;
- :func:`plot_histogram_grid` — Glorot & Bengio's (2010) histograms of the activations and
  back-propagated gradients of every hidden layer at initialisation, one row per scheme;
- :func:`plot_filter_grid` — the first-layer filters after training, one row per scheme.

matplotlib is an optional dependency (``pip install dbn[plot]``): it is imported, with the
non-interactive ``Agg`` backend, only when a figure is drawn. The histogram and filter grids need
the networks, so the records must come from ``compare_inits(..., keep_models=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_curves", "plot_filter_grid", "plot_histogram_grid"]


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the ``Agg`` backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(records: list[dict], path: str | Path, *, metric: str = "train_loss") -> None:
    """Mean over seeds of a curve, one panel per activation, one line per scheme (selected rates).

    Parameters
    ----------
    records : list of dict
        Records of :func:`dbn.compare.compare_inits`; only the ``selected`` ones are drawn.
    path : str or Path
        The PNG file written.
    metric : str
        A key of the records' ``curves`` (``train_loss``, ``val_accuracy``, ...); losses are drawn
        on a logarithmic axis.
    """
    plt = _pyplot()
    selected = [r for r in records if r["selected"]]
    activations = list(dict.fromkeys(r["activation"] for r in selected))
    figure, axes = plt.subplots(1, len(activations), figsize=(3.6 * len(activations), 3.0), squeeze=False)
    for axis, name in zip(axes[0], activations, strict=True):
        for scheme in dict.fromkeys(r["scheme"] for r in selected):
            curves = [r["curves"][metric] for r in selected if r["activation"] == name and r["scheme"] == scheme]
            runs = np.array(curves, dtype=float)
            if not len(runs):
                continue  # the scheme does not apply to this activation
            axis.plot(np.nanmean(runs, 0) if np.isfinite(runs).any() else runs[0], label=scheme)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("epoch")
        axis.set_yscale("log" if "loss" in metric else "linear")
    axes[0][0].set_ylabel(metric.replace("_", " "))
    axes[0][-1].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    plt.close(figure)


def plot_histogram_grid(records: list[dict], X: Any, y: Any, path: str | Path, *, activation: str) -> None:
    """Glorot & Bengio's histograms at initialisation, one row per scheme (first seed).

    Parameters
    ----------
    records : list of dict
        Records with ``initial_model`` (``keep_models=True``).
    X, y : arrays
        The rows traced through each initial network (a few hundred training rows suffice).
    path : str or Path
        The PNG file written.
    activation : str
        The activation whose networks are drawn.
    """
    from dbn.diagnostics import draw_layer_histograms, trace_layers

    plt = _pyplot()
    firsts = {}
    for record in records:
        if record["activation"] == activation and "initial_model" in record:
            firsts.setdefault(record["scheme"], record["initial_model"])
    figure, axes = plt.subplots(len(firsts), 2, figsize=(8, 1.6 * len(firsts)), squeeze=False)
    for row, (scheme, model) in zip(axes, firsts.items(), strict=True):
        draw_layer_histograms(trace_layers(model, X, y), row[0], row[1], legend=row is axes[0])
        row[0].set_ylabel(scheme, fontsize=8)
    title = f"{activation}: activations (left) and dL/dz (right) per hidden layer at initialisation"
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=60)
    plt.close(figure)


def plot_filter_grid(records: list[dict], path: str | Path, *, activation: str, n: int = 16) -> None:
    """The first ``n`` first-layer filters after training, one row per scheme (first seed, selected rate).

    Parameters
    ----------
    records : list of dict
        Records with ``model`` (``keep_models=True``).
    path : str or Path
        The PNG file written.
    activation : str
        The activation whose networks are drawn.
    n : int
        Filters per row.
    """
    from dbn.diagnostics import filter_mosaic

    plt = _pyplot()
    firsts = {}
    for record in records:
        if record["activation"] == activation and record["selected"] and "model" in record:
            firsts.setdefault(record["scheme"], record["model"])
    figure, axes = plt.subplots(len(firsts), 1, figsize=(6, 0.75 * len(firsts) + 0.3), squeeze=False)
    for axis, (scheme, model) in zip(axes[:, 0], firsts.items(), strict=True):
        mosaic = filter_mosaic(model[0].weight, n=n, columns=n)
        axis.imshow(mosaic, cmap="gray")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(scheme, fontsize=7, rotation=0, ha="right")
    figure.suptitle(f"{activation}: first-layer filters after training", fontsize=9)
    figure.savefig(path, dpi=70, bbox_inches="tight")
    plt.close(figure)
