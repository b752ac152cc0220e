"""Tables and CSV of the records of :func:`dbn.compare.compare_inits`.

- :func:`summary_table` — Markdown, schemes as rows and activations as columns: mean ± std over
  the seeds of one metric at each scheme's selected learning rate;
- :func:`results_table` — Markdown, one row per (activation, scheme): losses, accuracy, the runs
  that did not converge and the epochs to the target accuracy;
- :func:`write_csv` — every model (every rate searched, both stages), one row each.

How the cells read. Only the selected records enter the tables (the rate chosen on validation
accuracy, :func:`dbn.compare.select_learning_rates`). A selected rate at either end of the
searched grid is marked :data:`EDGE_MARK` (†) and explained in a footnote. A run that did not
converge (:func:`dbn.compare.converged`) is left out of a cell's mean and counted,
``(1/3 n/c)``; a cell where no seed converged reads ``n/c (2.30)`` with the mean final training
loss (``n/c (diverged)`` when that is not finite); "—" marks a scheme that does not apply to the
activation (``dbn`` for maxout).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

__all__ = ["CSV_FIELDS", "EDGE_MARK", "results_table", "summary_table", "write_csv"]

#: the marker of a selected rate at the edge of the searched grid
EDGE_MARK = "†"
#: the scalar fields written by :func:`write_csv`, one row per model
CSV_FIELDS = ("activation", "scheme", "seed", "lr", "stage", "selected", "lr_at_edge", "train_loss", "train_accuracy",
              "val_loss", "val_accuracy", "test_loss", "test_accuracy", "epochs_to_target", "diverged", "converged")


def _mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    finite = [v * scale for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "diverged" if values else "-"
    text = f"{np.mean(finite):.{digits}f} ± {np.std(finite):.{digits}f}"
    return text + (f" ({len(values) - len(finite)} diverged)" if len(finite) < len(values) else "")


def _edge_note(records: list[dict]) -> str:
    """The footnote explaining the edge marker, empty if no selected rate carries it."""
    if not any(r["lr_at_edge"] for r in records):
        return ""
    searched = ", ".join(f"{lr:g}" for lr in sorted({r["lr"] for r in records}))
    return f"\n\n{EDGE_MARK}: best rate at the grid's edge (searched: {searched})"


def _edge(runs: list[dict]) -> str:
    return f" {EDGE_MARK}" if runs and runs[0]["lr_at_edge"] else ""


def _cell(runs: list[dict], metric: str, scale: float, digits: int) -> str:
    """One table cell: "—" for a scheme that does not apply, ``n/c (loss)`` when no seed
    converged (the mean final training loss, or "diverged"), else mean ± std over the converged
    seeds, with the count of the others."""
    if not runs:
        return "—"
    failed = [r for r in runs if not r["converged"]]
    if len(failed) == len(runs):
        losses = [r["train_loss"] for r in runs]
        loss = f"{np.mean(losses):.2f}" if all(math.isfinite(v) for v in losses) else "diverged"
        return f"n/c ({loss})" + _edge(runs)
    text = _mean_std([r[metric] for r in runs if r["converged"]], scale, digits)
    return text + (f" ({len(failed)}/{len(runs)} n/c)" if failed else "") + _edge(runs)


def summary_table(records: list[dict], metric: str = "test_accuracy") -> str:
    """Markdown: schemes as rows, activations as columns, mean ± std over seeds of ``metric``.

    Parameters
    ----------
    records : list of dict
        Records of :func:`dbn.compare.compare_inits`; only the ``selected`` ones are used.
    metric : str
        A scalar field of the records; accuracies are shown in %, losses with three decimals.

    Returns
    -------
    str
        The table, then the edge footnote when a selected rate carries :data:`EDGE_MARK` (see the
        module docstring for ``n/c`` and "—").
    """
    selected = [r for r in records if r["selected"]]
    schemes = list(dict.fromkeys(r["scheme"] for r in selected))
    activations = list(dict.fromkeys(r["activation"] for r in selected))
    scale, digits = (100.0, 1) if "accuracy" in metric else (1.0, 3)
    lines = ["| scheme | " + " | ".join(activations) + " |", "|---|" + "---|" * len(activations)]
    for scheme in schemes:
        groups = [[r for r in selected if r["scheme"] == scheme and r["activation"] == a] for a in activations]
        lines.append(f"| {scheme} | " + " | ".join(_cell(runs, metric, scale, digits) for runs in groups) + " |")
    return "\n".join(lines) + _edge_note(records)


def results_table(records: list[dict]) -> str:
    """Markdown: one row per (activation, scheme) at the selected rate.

    The columns: the rate (with :data:`EDGE_MARK` at the grid's edge), mean ± std over all seeds
    of the final training loss, test loss and test accuracy (%), the runs that did not converge,
    and the mean epochs to the target validation accuracy with how many seeds reached it ("—"
    without validation, as in the final stage of a two-stage search).
    """
    selected = [r for r in records if r["selected"]]
    lines = ["| activation | scheme | lr | train loss | test loss | test accuracy (%) | n/c | epochs to target |",
             "|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["activation"], r["scheme"]) for r in selected):
        runs = [r for r in selected if (r["activation"], r["scheme"]) == key]
        reached = [r["epochs_to_target"] for r in runs if r["epochs_to_target"] is not None]
        target = f"{np.mean(reached):.1f} ({len(reached)}/{len(runs)})" if reached else f"never (0/{len(runs)})"
        failed = sum(not r["converged"] for r in runs)
        cells = [key[0], key[1], f"{runs[0]['lr']:g}{_edge(runs)}",
                 _mean_std([r["train_loss"] for r in runs], digits=3),
                 _mean_std([r["test_loss"] for r in runs], digits=3),
                 _mean_std([r["test_accuracy"] for r in runs], 100.0),
                 f"{failed}/{len(runs)}",
                 target if runs[0]["val_accuracy"] is not None else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + _edge_note(records)


def write_csv(records: list[dict], path: str | Path) -> None:
    """One row per model (every rate searched, both stages) with the fields of :data:`CSV_FIELDS`;
    the parent directories of ``path`` are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
