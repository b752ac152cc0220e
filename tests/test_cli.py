"""dbn.cli: every command of ``dbn`` on digits (exit status, files written), configuration files, one-line errors."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from dbn import RBM, DeepBeliefNet
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


def fails(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """The one-line error of a command that must fail with exit status 2."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "Traceback" not in error
    return error.splitlines()[-1]


@pytest.mark.parametrize("command", ["rbm", "compare", "pretrain"])
def test_an_unusable_out_directory_is_refused_before_any_training(tmp_path, command, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    error = fails([command, "--out", str(blocker / "results"), "--epochs", "1"], capsys)
    assert error.startswith(f"dbn {command}: error: --out: cannot create the directory")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> str:
    """The output directory of a small ``dbn pretrain`` run."""
    out = tmp_path_factory.mktemp("pretrain")
    main(["pretrain", "--layers", "32", "16", "--epochs", "2", "--quiet", "--out", str(out)])
    return str(out)


def test_pretrain_writes_the_network_and_a_log_per_layer(pretrained):
    net = DeepBeliefNet.load(f"{pretrained}/dbn.pt")
    assert net.layers == [64, 32, 16] and int(net.n_trained) == 2
    with open(f"{pretrained}/pretrain.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["layer"], row["epoch"]) for row in rows] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]


def test_finetune_sample_and_evaluate_run_on_the_saved_network(pretrained, tmp_path, capsys):
    tuned, samples, evaluated = tmp_path / "ft", tmp_path / "s", tmp_path / "ev"
    main(["finetune", "--model", f"{pretrained}/dbn.pt", "--epochs", "3", "--lr", "0.5", "--quiet",
          "--out", str(tuned)])
    net = DeepBeliefNet.load(tuned / "dbn.pt")
    assert net.task_ == "classify" and len(net.finetune_history_) == 3
    assert len((tuned / "finetune.csv").read_text().splitlines()) == 4
    main(["sample", "--model", str(tuned / "dbn.pt"), "--n", "5", "--steps", "3", "--out", str(samples)])
    drawn = np.load(samples / "samples.npy")
    assert drawn.shape == (5, 64) and ((drawn >= 0) & (drawn <= 1)).all()
    main(["evaluate", "--model", str(tuned / "dbn.pt"), "--out", str(evaluated)])
    with open(evaluated / "evaluation.csv") as stream:
        metrics = {row["metric"]: float(row["value"]) for row in csv.DictReader(stream)}
    assert set(metrics) == {"accuracy", "recon_mse"} and 0 <= metrics["accuracy"] <= 1
    assert f"writing to {evaluated}" in capsys.readouterr().out


def test_rbm_writes_its_log_and_evaluate_measures_its_likelihood(tmp_path):
    main(["rbm", "--hidden", "8", "--epochs", "2", "--quiet", "--out", str(tmp_path / "rbm")])
    assert len((tmp_path / "rbm" / "rbm.csv").read_text().splitlines()) == 3
    assert RBM.load(tmp_path / "rbm" / "rbm.pt").n_hidden == 8
    main(["evaluate", "--model", str(tmp_path / "rbm" / "rbm.pt"), "--out", str(tmp_path / "ev")])
    text = (tmp_path / "ev" / "evaluation.csv").read_text()
    assert "log_likelihood_exact" in text and "recon_mse" in text


def test_a_config_file_sets_options_and_flags_override_it(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('epochs = 5\nlayers = [12]\n[pretrain]\nbatch-size = 50\n')
    args = build_parser().parse_args(["pretrain", "--config", str(config)])
    assert args.config == str(config)
    main(["pretrain", "--config", str(config), "--epochs", "1", "--quiet", "--out", str(tmp_path / "out")])
    net = DeepBeliefNet.load(tmp_path / "out" / "dbn.pt")
    assert net.layers == [64, 12] and net.layer_configs[0].batch_size == 50 and net.layer_configs[0].epochs == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["finetune", "--model", "missing.pt"], "dbn finetune: error: --model: no file 'missing.pt'"),
        (["sample", "--model", "missing.pt"], "dbn sample: error: --model: no file 'missing.pt'"),
        (["evaluate", "--model", "missing.pt"], "dbn evaluate: error: --model: no file 'missing.pt'"),
        (["pretrain", "--config", "missing.toml"], "dbn pretrain: error: --config: cannot read 'missing.toml'"),
    ],
)
def test_missing_files_end_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert fails(argv, capsys).startswith(message)
    assert not (tmp_path / "runs").exists()  # refused before the output directory was made


def test_bad_flags_and_config_keys_end_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "argument --epochs: invalid int value" in fails(["pretrain", "--epochs", "x"], capsys)
    assert "argument --lr: expected a positive number or auto" in fails(["finetune", "--model", "m", "--lr", "-1"],
                                                                         capsys)
    (tmp_path / "bad.toml").write_text("epoch = 2\n")
    assert "sets unknown option(s) ['epoch']" in fails(["pretrain", "--config", "bad.toml"], capsys)
    (tmp_path / "broken.toml").write_text("epochs = [\n")
    assert "is not valid TOML" in fails(["pretrain", "--config", "broken.toml"], capsys)
    monkeypatch.setenv("DBN_DATA", str(tmp_path))
    assert "--data mnist: its files are in neither" in fails(["pretrain", "--data", "mnist"], capsys)


def test_the_module_runs_as_a_program():
    result = subprocess.run([sys.executable, "-m", "dbn", "finetune", "--model", "missing.pt"], capture_output=True,
                            text=True)
    assert result.returncode == 2 and result.stderr.strip() == "dbn finetune: error: --model: no file 'missing.pt'"
