"""dbn.compare, dbn.stacked, dbn.reports: batched equals sequential; settings, selection, tables, CSV, errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from dbn.compare import (
    BATCHNORM,
    CONVERGENCE_FRACTION,
    DEFAULT_LRS,
    CompareConfig,
    chance_loss,
    compare_inits,
    converged,
    initial_model,
    mark_selected,
    select_learning_rates,
    split_data,
)
from dbn.reports import results_table, summary_table, write_csv
from dbn.stacked import StackedMLP, build_mlp

SMALL = dict(hidden=[16, 16], schemes=["zeros", "normal", "xavier_uniform", "lsuv"], seeds=2, epochs=2,
             lrs=[0.02, 0.05])


def _models(scheme: str, activation: str) -> list[torch.nn.Sequential]:
    sizes = dict(n_inputs=5, hidden=[4, 3], n_outputs=2)
    return [initial_model(scheme, seed, activation=activation, **sizes) for seed in range(3)]


def test_stacked_mlp_matches_each_model():
    models = _models("he_normal", "tanh")
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
    keys = ("scheme", "activation", "seed", "lr", "selected")
    for a, b in zip(batched, sequential, strict=True):
        assert [a[key] for key in keys] == [b[key] for key in keys]
        for metric in ("train_loss", "test_loss", "val_accuracy"):
            np.testing.assert_allclose(a["curves"][metric], b["curves"][metric], atol=2e-4, rtol=1e-4)


def test_records_tables_and_selection(digits):
    X, y = digits
    records = compare_inits(X, y, activation="tanh", **SMALL)
    first = records[0]
    assert {"scheme", "activation", "seed", "lr", "curves", "train_loss", "test_loss", "test_accuracy",
            "epochs_to_target", "init_statistics"} <= set(first)
    assert len(first["curves"]["train_loss"]) == SMALL["epochs"] + 1
    for scheme in SMALL["schemes"]:
        chosen = {r["lr"] for r in records if r["scheme"] == scheme and r["selected"]}
        assert len(chosen) == 1  # one rate per scheme, the same for every seed
    zeros = [r for r in records if r["scheme"] == "zeros"]
    assert all(r["curves"]["train_loss"][0] == pytest.approx(np.log(10), abs=1e-4) for r in zeros)
    # same (scheme, seed): the same initial network whatever else is compared
    again = compare_inits(X, y, activation="tanh", **{**SMALL, "schemes": ["normal"]})
    normal = [r for r in records if r["scheme"] == "normal"]
    assert again[0]["curves"]["train_loss"][0] == normal[0]["curves"]["train_loss"][0]
    table = summary_table(records)
    assert table.splitlines()[0] == "| scheme | tanh |" and "| lsuv | " in table and " ± " in table


def _fake(scheme: str, lr: float, accuracy: float) -> dict:
    return {"activation": "sigmoid", "scheme": scheme, "seed": 0, "lr": lr, "selected": False, "lr_at_edge": False,
            "diverged": False, "converged": True, "val_accuracy": accuracy, "val_loss": 1 - accuracy, "train_loss": 0.1,
            "test_loss": 0.1, "test_accuracy": accuracy, "epochs_to_target": None}


def test_a_best_rate_at_the_grid_edge_is_flagged_and_marked():
    assert min(DEFAULT_LRS) <= 0.01 and max(DEFAULT_LRS) >= 3.0  # deep sigmoid nets need rates above 1
    records = [_fake("inner", lr, acc) for lr, acc in ((0.1, 0.5), (1.0, 0.9), (3.0, 0.8))]
    records += [_fake("top", lr, acc) for lr, acc in ((0.1, 0.5), (1.0, 0.6), (3.0, 0.9))]
    mark_selected(records, select_learning_rates(records))
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


def test_selection_breaks_ties_on_validation_loss_and_counts_diverged_runs_as_zero():
    records = [{**_fake("tie", 0.1, 0.9), "val_loss": 0.3}, {**_fake("tie", 1.0, 0.9), "val_loss": 0.2}]
    records += [{**_fake("blowup", 3.0, 0.99), "diverged": True, "val_loss": float("nan")}, _fake("blowup", 0.3, 0.5)]
    chosen = select_learning_rates(records)
    assert chosen == {"tie": (1.0, True), "blowup": (0.3, True)}
    assert chosen["tie"].lr == 1.0 and chosen["tie"].at_edge


def test_csv_has_one_row_per_model(tmp_path):
    records = [_fake("a", 0.1, 0.5), _fake("a", 1.0, 0.9)]
    mark_selected(records, select_learning_rates(records))
    write_csv(records, tmp_path / "sub" / "results.csv")
    with (tmp_path / "sub" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["lr"], row["selected"]) for row in rows] == [("0.1", "False"), ("1.0", "True")]


BAD_SETTINGS = [("hidden", (0,)), ("hidden", [16, -1]), ("hidden", []), ("batch_size", 0), ("epochs", 0), ("lrs", []),
                ("lrs", [0.1, -1.0]), ("seeds", []), ("schemes", []), ("search_rows", 0)]


@pytest.mark.parametrize("option, value", BAD_SETTINGS)
def test_settings_are_checked_once_before_any_training(option, value):
    with pytest.raises(ValueError, match=option):
        CompareConfig(**{option: value})
    with pytest.raises(ValueError, match=option):
        compare_inits(np.zeros((4, 3)), np.arange(4), **{option: value})  # refused before the data are even split


def test_the_configuration_is_passed_whole_and_keywords_override_it(digits):
    X, y = digits
    config = CompareConfig(hidden=[8], activation="tanh", schemes=["normal"], seeds=1, epochs=1, lrs=[0.1])
    assert (config.hidden, config.activation, config.seeds, config.lrs) == ((8,), ("tanh",), (0,), (0.1,))
    assert config.replace(seeds=2).seeds == (0, 1) and config.two_stage is False
    with pytest.raises(TypeError, match="unknown compare_inits option"):
        compare_inits(X, y, config=config, learning_rate=0.1)
    whole = compare_inits(X, y, config=config)
    keywords = compare_inits(X, y, hidden=[8], activation="tanh", schemes=["normal"], seeds=1, epochs=1, lrs=[0.1])
    overridden = compare_inits(X, y, config=config.replace(epochs=3), epochs=1)
    assert whole[0]["curves"] == keywords[0]["curves"] == overridden[0]["curves"]


# --------------------------------------------------------------------------- maxout, batch normalisation, n/c


def test_stacked_mlp_with_maxout_matches_each_model():
    models = _models("he_normal", "maxout")
    assert models[0][0].out_features == 8 and models[0][2].in_features == 4  # k * width pre-activations per layer
    stacked = StackedMLP(models)
    x = torch.randn(7, 5)
    for index, model in enumerate(models):
        assert torch.allclose(stacked(x)[:, index], model(x), atol=1e-6)


def test_stacked_batchnorm_is_each_model_batchnorm_in_train_and_eval_mode():
    models = _models(BATCHNORM, "tanh")
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in models[0]) == 2
    stacked = StackedMLP(models)
    x = torch.randn(9, 5)
    stacked.train()
    output = stacked(x)  # batch statistics, and one update of the running ones
    for index, model in enumerate(models):
        model.train()
        assert torch.allclose(output[:, index], model(x), atol=1e-5)
        unstacked = stacked.unstack(index)
        assert not unstacked.training
        assert torch.allclose(unstacked[1].running_mean, model[1].running_mean, atol=1e-6)
        assert float(model[1].running_mean.abs().max()) > 0
        model.eval()
        stacked.eval()
        assert torch.allclose(stacked(x)[:, index], model(x), atol=1e-5)  # running statistics
        assert torch.allclose(unstacked(x), model(x), atol=1e-5)
        stacked.train()


def test_batchnorm_rows_train_in_train_mode_and_are_measured_in_eval_mode(digits):
    X, y = digits
    settings = dict(hidden=[16, 16], activation="relu", schemes=[BATCHNORM], seeds=1, epochs=2, lrs=[0.05],
                    keep_models=True)
    for batched in (True, False):
        record = compare_inits(X, y, batched=batched, **settings)[0]
        model = record["model"]
        n_fit = round(len(y) * 0.75 * 0.8)
        # one running-statistics update per minibatch, none when measured
        assert int(model[1].num_batches_tracked) == 2 * -(-n_fit // 64)
        parts = split_data(X, y)
        X_test, y_test = parts["test"]
        with torch.no_grad():
            model.eval()
            eval_loss = float(torch.nn.functional.cross_entropy(model(X_test), y_test))
            model.train()
            train_loss = float(torch.nn.functional.cross_entropy(model(X_test), y_test))
        assert record["test_loss"] == pytest.approx(eval_loss, rel=1e-4)
        assert abs(record["test_loss"] - train_loss) > 1e-4


def test_a_run_forced_to_diverge_is_reported_not_converged(digits):
    X, y = digits
    huge = compare_inits(X, y, hidden=[16, 16], activation="relu", schemes=["he_normal"], seeds=2, epochs=2, lrs=[1e4])
    assert not any(r["converged"] for r in huge) and all(r["train_loss"] > 100 for r in huge)
    cell = summary_table(huge).splitlines()[2]
    assert cell.startswith("| he_normal | n/c (") and float(cell.split("(")[1].split(")")[0]) > 100
    assert "| relu | he_normal | 10000 | " in results_table(huge) and " 2/2 |" in results_table(huge)
    stuck = compare_inits(X, y, hidden=[16, 16], activation="relu", schemes=["zeros"], seeds=2, epochs=2, lrs=[0.05])
    assert "| zeros | n/c (2.30) |" in summary_table(stuck)  # stuck at chance: the class frequencies and no more
    nan = [{**_fake("s", 0.1, 0.1), "converged": False, "diverged": True, "train_loss": float("nan")}]
    mark_selected(nan, {"s": (0.1, False)})
    assert "| s | n/c (diverged) |" in summary_table(nan)


def test_convergence_is_defined_against_the_chance_level():
    assert chance_loss(np.repeat(np.arange(10), 5)) == pytest.approx(np.log(10))
    chance = np.log(10)
    assert converged(0.3, chance) and not converged(0.95 * chance, chance) and not converged(float("nan"), chance)
    assert not converged(float("inf"), chance) and CONVERGENCE_FRACTION == 0.9


def test_a_cell_mixes_converged_and_failed_seeds_honestly():
    runs = [{**_fake("s", 0.1, acc), "converged": ok, "train_loss": loss}
            for acc, ok, loss in ((0.9, True, 0.1), (0.1, False, 2.3))]
    mark_selected(runs, {"s": (0.1, False)})
    assert "| s | 90.0 ± 0.0 (1/2 n/c) |" in summary_table(runs)


def test_two_stage_search_and_schemes_that_do_not_apply(digits):
    X, y = digits
    records = compare_inits(X, y, hidden=[12, 12], activation=["maxout", "relu"], schemes=["he_normal", "dbn"], seeds=2,
                            epochs=2, lrs=[0.01, 0.1], search_rows=400, search_epochs=1, search_seeds=1,
                            scheme_options={"dbn": {"epochs": 1}})
    search = [r for r in records if r["stage"] == "search"]
    final = [r for r in records if r["stage"] == "final"]
    expected = {("maxout", "he_normal"), ("relu", "he_normal"), ("relu", "dbn")}
    assert {(r["activation"], r["scheme"]) for r in final} == expected
    assert len(search) == 3 * 2 and {r["seed"] for r in search} == {0} and len(search[0]["curves"]["train_loss"]) == 2
    assert all(r["selected"] for r in final) and not any(r["selected"] for r in search) and len(final) == 3 * 2
    # the test set chooses nothing
    assert all(r["test_accuracy"] is None and r["val_accuracy"] is not None for r in search)
    assert all(r["val_accuracy"] is None and r["test_accuracy"] is not None for r in final)
    for key in {(r["activation"], r["scheme"]) for r in final}:
        best = max((r for r in search if (r["activation"], r["scheme"]) == key), key=lambda r: r["val_accuracy"])
        assert {r["lr"] for r in final if (r["activation"], r["scheme"]) == key} == {best["lr"]}
    assert "| dbn | — |" in summary_table(records)


def test_batchnorm_refuses_a_last_minibatch_of_one_row(digits):
    X, y = digits
    with pytest.raises(ValueError, match="batch_size=269"):
        compare_inits(X, y, schemes=[BATCHNORM], seeds=1, epochs=1, batch_size=269)  # 1077 fitting rows = 4 * 269 + 1
