"""The figures of dbn.plotting and dbn.figures (matplotlib, the ``plot`` extra), and the Sphinx build.

Every figure is checked as drawn: its axes, images and lines, its (colour, line style) pairs, that
its legends lie outside the data areas and its title above the panels, and the pixel size of the
PNG it saves (the figure's inches times its dpi, at least 120).
"""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dbn import RBM, DeepBeliefNet, figures, plotting
from dbn.init import init_
from dbn.stacked import build_mlp

ROOT = Path(__file__).resolve().parents[1]

#: the drawing tests: slow (about 10 s in all) and skipped without matplotlib (the ``plot`` extra)
drawing = [pytest.mark.slow, pytest.mark.usefixtures("matplotlib")]


@pytest.fixture
def matplotlib():
    return pytest.importorskip("matplotlib")


def draws(test):
    for mark in reversed(drawing):
        test = mark(test)
    return test


def _rows(n: int = 30, pixels: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, pixels)).astype(np.float32)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _check_png(figure, path: Path, dpi: float = plotting.DPI) -> None:
    width, height = figure.get_size_inches()
    assert path.exists() and dpi >= 120
    pixels = _png_size(path)  # matplotlib rounds a fractional pixel down
    assert abs(pixels[0] - width * dpi) < 1 and abs(pixels[1] - height * dpi) < 1


def _visible_axes(figure) -> list:
    return [axis for axis in figure.axes if axis.get_visible()]


def _outside_every_axes(figure, artist) -> bool:
    """``artist``'s drawn box does not overlap the data area of any visible axes of ``figure``."""
    figure.draw_without_rendering()
    box = artist.get_window_extent()
    return not any(box.overlaps(axis.bbox) for axis in _visible_axes(figure))


def _pairs(axis) -> dict[str, tuple]:
    return {line.get_label(): (tuple(line.get_color()), line.get_linestyle()) for line in axis.get_lines()}


# --------------------------------------------------------------------------- images


@draws
def test_plot_filters_draws_an_rbm_a_stack_a_network_and_a_weight_matrix_alike(tmp_path):
    rbm = RBM(16, 6)
    drawn = plotting.plot_filters(rbm, tmp_path / "rbm" / "filters.png", title="filters")
    assert len(drawn.axes) == 1 and len(drawn.axes[0].images) == 1
    image = drawn.axes[0].images[0].get_array()
    assert image.shape == (2 * 5 + 1, 3 * 5 + 1)  # 6 filters of 4 x 4, 3 per line, 1-pixel borders
    _check_png(drawn, tmp_path / "rbm" / "filters.png")
    net = DeepBeliefNet([16, 6, 3])
    net.rbms[0].load_state_dict(rbm.state_dict())
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 6), torch.nn.Tanh())
    with torch.no_grad():
        mlp[0].weight.copy_(rbm.weight)
    for source in (rbm.weight, rbm.weight.detach().numpy(), rbm.weight.tolist(), net, mlp):
        again = plotting.plot_filters(source).axes[0].images[0].get_array()
        np.testing.assert_allclose(again.filled(np.nan), image.filled(np.nan))
    assert len(plotting.plot_filters(rbm, n=4, columns=4).axes[0].images[0].get_array()[0]) == 4 * 5 + 1


@draws
def test_plot_filters_needs_an_image_shape_for_rows_that_are_not_square():
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_filters(torch.zeros(3, 12))
    drawn = plotting.plot_filters(torch.randn(3, 12), image_shape=(3, 4))
    assert drawn.axes[0].images[0].get_array().shape == (2 * 4 + 1, 2 * 5 + 1)  # 2 x 2 tiles of 3 x 4
    with pytest.raises(ValueError, match="does not hold"):
        plotting.plot_filters(torch.zeros(3, 12), image_shape=(5, 5))
    with pytest.raises(TypeError, match="filters are drawn from"):
        plotting.plot_filters("weights")


@draws
def test_plot_samples_draws_one_grid_of_every_sample(tmp_path):
    rbm = RBM(16, 4)
    samples = rbm.sample(9, steps=2, generator=torch.Generator().manual_seed(0))
    drawn = plotting.plot_samples(samples, tmp_path / "samples.png", title="samples")
    assert len(drawn.axes) == 1 and len(drawn.axes[0].images) == 1
    image = drawn.axes[0].images[0]
    assert image.get_array().shape == (3 * 5 + 1, 3 * 5 + 1) and image.get_clim() == (0.0, 1.0)
    _check_png(drawn, tmp_path / "samples.png")
    wide = plotting.plot_samples(np.linspace(-3, 5, 32).reshape(2, 16), columns=2)
    assert wide.axes[0].images[0].get_clim() == (-3.0, 5.0)


@draws
def test_plot_reconstructions_draws_data_lines_above_their_reconstructions(tmp_path):
    X = _rows()
    rbm = RBM(16, 4)
    drawn = plotting.plot_reconstructions(rbm, X, tmp_path / "recon.png", n=12, columns=5)
    assert len(drawn.axes) == 2 * 3 and all(len(axis.images) == 1 for axis in drawn.axes)
    assert [axis.get_ylabel() for axis in drawn.axes[:2]] == ["data", "recon."]
    assert drawn.axes[0].get_position().y0 > drawn.axes[1].get_position().y0
    expected = rbm.reconstruct(X[:12]).numpy()
    np.testing.assert_allclose(drawn.axes[1].images[0].get_array()[1:5, 1:5], expected[0].reshape(4, 4), rtol=1e-6)
    _check_png(drawn, tmp_path / "recon.png")
    net = DeepBeliefNet([16, 4, 3])
    net.n_trained.fill_(2)  # as if pretrained: its reconstruct is the mean-field pass up and down
    for model in (net, lambda v: torch.sigmoid(v), expected):
        assert len(plotting.plot_reconstructions(model, X, n=12, columns=5).axes) == 6
    with pytest.raises(ValueError, match="reconstructions have shape"):
        plotting.plot_reconstructions(expected[:, :9], X, n=3)


# --------------------------------------------------------------------------- curves


def _history(epochs: int = 4, scale: float = 1.0) -> list[dict]:
    return [{"epoch": epoch + 1, "recon_mse": scale / (epoch + 1), "pseudo_likelihood": -0.5 + 0.01 * epoch,
             "free_energy_gap": None, "lr": 0.1, "best": epoch == 2} for epoch in range(epochs)]


@draws
def test_plot_history_draws_one_panel_per_numeric_monitor_and_one_line_per_run(tmp_path):
    rbm = RBM(16, 4)
    rbm.history_ = _history()
    drawn = plotting.plot_history(rbm, tmp_path / "history.png", title="RBM")
    axes = _visible_axes(drawn)
    assert [axis.get_title() for axis in axes] == ["recon_mse", "pseudo_likelihood", "lr"]  # no None, bool, epoch
    assert all(len(axis.get_lines()) == 1 for axis in axes) and not drawn.legends
    np.testing.assert_allclose(axes[0].get_lines()[0].get_xdata(), [1, 2, 3, 4])
    _check_png(drawn, tmp_path / "history.png")
    net = DeepBeliefNet([16, 4, 3])
    net.rbms[0].history_, net.rbms[1].history_ = _history(), _history(3, scale=1000.0)
    for source in (net, net.pretrain_history_):
        layers = plotting.plot_history(source, keys=["recon_mse"])
        assert len(layers.axes) == 1 and [line.get_label() for line in layers.axes[0].get_lines()] == [
            "layer 1", "layer 2"]
        assert layers.axes[0].get_yscale() == "log"  # positive values over more than two decades
        assert len(layers.legends) == 1 and _outside_every_axes(layers, layers.legends[0])
    runs = plotting.plot_history({"pretraining": _history(), "fine-tuning": _history(6)}, columns=2)
    assert len(_visible_axes(runs)) == 3 and len(runs.axes) == 4  # 2 x 2 panels, the last hidden
    with pytest.raises(ValueError, match="no numeric values for"):
        plotting.plot_history(_history(), keys=["free_energy_gap"])


@draws
def test_line_styles_gives_distinct_pairs_that_change_both_colour_and_style_from_line_to_line():
    styles = list(plotting.line_styles([f"run {index}" for index in range(40)]).values())
    pairs = [(style["color"], style["linestyle"]) for style in styles]
    assert len(set(pairs)) == 40
    for before, after in zip(pairs[:-1], pairs[1:], strict=True):
        assert before[0] != after[0] and before[1] != after[1]


# --------------------------------------------------------------------------- histograms


def _mlp(scheme: str = "xavier_uniform", seed: int = 0) -> torch.nn.Module:
    return init_(build_mlp(16, [8, 8, 8], 3, "tanh"), scheme, generator=torch.Generator().manual_seed(seed))


@draws
def test_plot_layer_histograms_draws_one_line_per_hidden_layer(tmp_path):
    from dbn.diagnostics import trace_layers

    X, y = _rows(), np.arange(30) % 3
    drawn = plotting.plot_layer_histograms(_mlp(), tmp_path / "histograms.png", X=X, y=y, title="tanh")
    assert len(drawn.axes) == 2 and all(len(axis.get_lines()) == 3 for axis in drawn.axes)
    assert len(drawn.legends) == 1 and _outside_every_axes(drawn, drawn.legends[0])
    _check_png(drawn, tmp_path / "histograms.png")
    assert len(plotting.plot_layer_histograms(trace_layers(_mlp(), X, y)).axes) == 2
    with pytest.raises(ValueError, match="need the rows X"):
        plotting.plot_layer_histograms(_mlp())


# --------------------------------------------------------------------------- a comparison's figures


def _records(schemes: list[str], activations: tuple[str, ...] = ("tanh", "relu"), models: bool = False) -> list:
    rng = np.random.default_rng(0)
    records = []
    for activation in activations:
        for index, scheme in enumerate(schemes):
            record = {"scheme": scheme, "activation": activation, "selected": True,
                      "curves": {"train_loss": list(2.3 * np.exp(-np.arange(5) * rng.uniform(0.1, 1.0)))}}
            if models:
                record["initial_model"] = record["model"] = _mlp(seed=index)
            records.append(record)
    return records


@draws
def test_compare_curves_give_twenty_schemes_distinct_styles_and_a_legend_outside(tmp_path):
    schemes = [f"scheme_{index:02d}" for index in range(20)]
    drawn = figures.plot_curves(_records(schemes, ("sigmoid", "tanh", "relu", "maxout")), tmp_path / "curves.png")
    axes = _visible_axes(drawn)
    assert len(axes) == 4 and len(drawn.axes) == 6  # lines of 3 panels
    first = _pairs(axes[0])
    assert list(first) == schemes and len(set(first.values())) == 20
    assert all(_pairs(axis) == first for axis in axes)  # a scheme keeps its style in every panel
    assert len(drawn.legends) == 1 and len(drawn.legends[0].get_texts()) == 20
    assert _outside_every_axes(drawn, drawn.legends[0])
    _check_png(drawn, tmp_path / "curves.png")


@draws
def test_compare_histogram_grid_keeps_its_title_and_legend_off_the_panels(tmp_path):
    X, y = _rows(), np.arange(30) % 3
    drawn = figures.plot_histogram_grid(_records(["zeros", "normal", "orthogonal"], models=True), X, y,
                                        tmp_path / "histograms.png", activation="tanh")
    assert len(drawn.axes) == 2 * 3 and all(len(axis.get_lines()) == 3 for axis in drawn.axes)
    assert [axis.get_ylabel() for axis in drawn.axes[::2]] == ["zeros", "normal", "orthogonal"]
    assert len(drawn.legends) == 1 and _outside_every_axes(drawn, drawn.legends[0])
    title = next(text for text in drawn.texts if text.get_text() == drawn.get_suptitle())
    assert _outside_every_axes(drawn, title)
    top = max(axis.get_tightbbox().y1 for axis in drawn.axes)  # the panels' own titles included
    assert title.get_window_extent().y0 >= top
    _check_png(drawn, tmp_path / "histograms.png")


@draws
def test_compare_filter_grid_draws_one_labelled_row_per_scheme_inside_the_figure(tmp_path):
    drawn = figures.plot_filter_grid(_records(["zeros", "xavier_truncated_normal"], models=True),
                                     tmp_path / "filters.png", activation="relu", n=8)
    assert len(drawn.axes) == 2 and all(len(axis.images) == 1 for axis in drawn.axes)
    drawn.draw_without_rendering()
    assert [label.get_text() for axis in drawn.axes for label in axis.get_yticklabels()] == [
        "zeros", "xavier_truncated_normal"]
    assert all(axis.get_tightbbox().x0 >= 0 for axis in drawn.axes)  # no row label cut at the left edge
    _check_png(drawn, tmp_path / "filters.png")
    with pytest.raises(ValueError, match="keep_models=True"):
        figures.plot_filter_grid(_records(["zeros"]), activation="relu")


# --------------------------------------------------------------------------- lightness and documentation


@pytest.mark.slow
def test_importing_the_package_and_its_figure_modules_leaves_matplotlib_unimported():
    code = "import sys, dbn, dbn.plotting, dbn.figures, dbn.cli; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_every_module_has_an_api_page():
    modules = {path.stem for path in (ROOT / "dbn").glob("*.py") if not path.stem.startswith("__")}
    pages = {path.stem for path in (ROOT / "docs" / "api").glob("*.rst")}
    assert pages == modules
    for name in modules:
        assert f".. automodule:: dbn.{name}" in (ROOT / "docs" / "api" / f"{name}.rst").read_text()


@pytest.mark.slow
def test_the_sphinx_documentation_builds_without_a_warning(tmp_path):
    for module in ("sphinx", "myst_parser"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"),
               str(tmp_path / "html")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "html" / "api" / "plotting.html").exists()
