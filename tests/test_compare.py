"""dbn.compare: the batched comparison equals the sequential one; tables, CSV, CLI, errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from dbn.compare import DEFAULT_LRS, StackedMLP, _select_learning_rates, results_table, add_compare_parser, build_mlp, compare_inits, initial_model, main, summary_table

SMALL = dict(hidden=[16, 16], schemes=["zeros", "normal", "xavier_uniform", "lsuv"], seeds=2, epochs=2, lrs=[0.02, 0.05])


def test_stacked_mlp_matches_each_model():
    models = [initial_model("he_normal", seed, n_inputs=5, hidden=[4, 3], n_outputs=2, activation="tanh") for seed in range(3)]
    stacked = StackedMLP(models)
    x = torch.randn(7, 5)
    output = stacked(x)
    assert output.shape == (7, 3, 2)  # rows first, as train_network expects
    for index, model in enumerate(models):
        assert torch.allclose(output[:, index], model(x), atol=1e-6)
        assert torch.allclose(stacked.unstack(index)(x), model(x), atol=1e-6)


def test_batched_and_sequential_give_the_same_numbers(digits):
    X, y = digits
    batched = compare_inits(X, y, activation=["tanh", "relu"], **SMALL)
    sequential = compare_inits(X, y, activation=["tanh", "relu"], batched=False, **SMALL)
    assert len(batched) == len(sequential) == 2 * 4 * 2 * 2
    for a, b in zip(batched, sequential):
        assert (a["scheme"], a["activation"], a["seed"], a["lr"], a["selected"]) == (b["scheme"], b["activation"], b["seed"], b["lr"], b["selected"])
        for metric in ("train_loss", "test_loss", "val_accuracy"):
            np.testing.assert_allclose(a["curves"][metric], b["curves"][metric], atol=2e-4, rtol=1e-4)


def test_records_tables_and_selection(digits):
    X, y = digits
    records = compare_inits(X, y, activation="tanh", **SMALL)
    first = records[0]
    assert {"scheme", "activation", "seed", "lr", "curves", "train_loss", "test_loss", "test_accuracy", "epochs_to_target",
            "init_statistics"} <= set(first)
    assert len(first["curves"]["train_loss"]) == SMALL["epochs"] + 1
    for scheme in SMALL["schemes"]:
        chosen = {r["lr"] for r in records if r["scheme"] == scheme and r["selected"]}
        assert len(chosen) == 1  # one rate per scheme, the same for every seed
    zeros = [r for r in records if r["scheme"] == "zeros"]
    assert all(r["curves"]["train_loss"][0] == pytest.approx(np.log(10), abs=1e-4) for r in zeros)
    # same (scheme, seed): the same initial network whatever else is compared
    again = compare_inits(X, y, activation="tanh", **{**SMALL, "schemes": ["normal"]})
    assert again[0]["curves"]["train_loss"][0] == [r for r in records if r["scheme"] == "normal"][0]["curves"]["train_loss"][0]
    table = summary_table(records)
    assert table.splitlines()[0] == "| scheme | tanh |" and "| lsuv | " in table and " ± " in table


def _fake(scheme: str, lr: float, accuracy: float) -> dict:
    return {"activation": "sigmoid", "scheme": scheme, "seed": 0, "lr": lr, "selected": False, "lr_at_edge": False,
            "diverged": False, "val_accuracy": accuracy, "val_loss": 1 - accuracy, "train_loss": 0.1, "test_loss": 0.1,
            "test_accuracy": accuracy, "epochs_to_target": None}


def test_a_best_rate_at_the_grid_edge_is_flagged_and_marked():
    assert min(DEFAULT_LRS) <= 0.01 and max(DEFAULT_LRS) >= 3.0  # deep sigmoid nets need rates above 1
    records = [_fake("inner", lr, acc) for lr, acc in ((0.1, 0.5), (1.0, 0.9), (3.0, 0.8))]
    records += [_fake("top", lr, acc) for lr, acc in ((0.1, 0.5), (1.0, 0.6), (3.0, 0.9))]
    _select_learning_rates(records)
    flags = {(r["scheme"], r["lr"]): r["lr_at_edge"] for r in records if r["selected"]}
    assert flags == {("inner", 1.0): False, ("top", 3.0): True}
    summary = summary_table(records)
    assert "| inner | 90.0 ± 0.0 |" in summary and "| top | 90.0 ± 0.0 † |" in summary
    assert "†: best rate at the grid's edge (searched: 0.1, 1, 3)" in summary
    assert "| sigmoid | top | 3 † |" in results_table(records)


def test_errors_are_clear(digits):
    X, y = digits
    with pytest.raises(ValueError, match="unknown initialisation scheme"):
        compare_inits(X, y, schemes=["glorot"], seeds=1, epochs=1)
    with pytest.raises(ValueError, match="unknown activation"):
        compare_inits(X, y, activation="swish", seeds=1, epochs=1)
    with pytest.raises(ValueError, match="one label per row"):
        compare_inits(X, y[:-1], seeds=1, epochs=1)
    with pytest.raises(ValueError, match="same layer shapes"):
        StackedMLP([build_mlp(4, [3], 2, "relu"), build_mlp(4, [5], 2, "relu")])


def test_command_line_writes_tables(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_compare_parser(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["compare", "--seeds", "3"]).seeds == 3
    main(["--schemes", "normal", "he_normal", "--activation", "relu", "--seeds", "2", "--epochs", "1", "--hidden", "8",
          "--lr", "0.1", "--no-figures", "--out", str(tmp_path)])
    assert "| he_normal |" in (tmp_path / "table.md").read_text()
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and rows[0]["scheme"] == "normal"


@pytest.mark.slow
def test_command_line_figures(tmp_path):
    pytest.importorskip("matplotlib")
    main(["--schemes", "normal", "xavier_uniform", "--activation", "tanh", "--seeds", "1", "--epochs", "2", "--hidden", "16", "16",
          "--lr", "0.1", "--out", str(tmp_path)])
    assert {"curves.png", "histograms_tanh.png", "filters_tanh.png"} <= {p.name for p in tmp_path.iterdir()}
