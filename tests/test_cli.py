"""dbn.cli: ``python -m dbn`` parses every command's options and runs ``compare`` end to end."""

from __future__ import annotations

import csv

import pytest

from dbn.cli import build_parser, main


def test_every_command_parses_its_options():
    parser = build_parser()
    rbm = parser.parse_args(["rbm", "--hidden", "20", "--persistent"])
    assert (rbm.command, rbm.hidden, rbm.persistent, rbm.epochs) == ("rbm", 20, True, 30)
    assert parser.parse_args(["compare", "--seeds", "3"]).seeds == 3
    staged = parser.parse_args(["compare", "--search-rows", "800", "--search-epochs", "1", "--search-seeds", "1",
                                "--monitor-rows", "50"])
    assert (staged.search_rows, staged.search_epochs, staged.search_seeds, staged.monitor_rows) == (800, 1, 1, 50)
    with pytest.raises(SystemExit):
        parser.parse_args([])  # a command is required


def test_compare_writes_tables(tmp_path):
    main(["compare", "--schemes", "normal", "he_normal", "--activation", "relu", "--seeds", "2", "--epochs", "1",
          "--hidden", "8", "--lr", "0.1", "--no-figures", "--out", str(tmp_path)])
    assert "| he_normal |" in (tmp_path / "table.md").read_text()
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and rows[0]["scheme"] == "normal"


@pytest.mark.slow
def test_compare_writes_figures(tmp_path):
    pytest.importorskip("matplotlib")
    main(["compare", "--schemes", "normal", "xavier_uniform", "--activation", "tanh", "--seeds", "1", "--epochs", "2",
          "--hidden", "16", "16", "--lr", "0.1", "--out", str(tmp_path)])
    assert {"curves.png", "histograms_tanh.png", "filters_tanh.png"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("command", ["rbm", "compare"])
def test_an_unusable_out_directory_is_refused_before_any_training(tmp_path, command):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="--out: cannot create the directory"):
        main([command, "--out", str(blocker / "results"), "--epochs", "1"])
