"""dbn.diagnostics: statistics against hand computation on a tiny network; the symmetry score."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dbn.diagnostics import filter_mosaic, layer_statistics, symmetry_score, symmetry_scores, trace_layers
from dbn.init import init_
from dbn.training import train_network


def tiny() -> tuple[nn.Sequential, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * 2)
    X = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1])
    return model, X, y


def test_statistics_match_hand_computation():
    model, X, y = tiny()
    W1, b1, W2, b2 = (p.detach() for p in model.parameters())
    z1 = X @ W1.T + b1
    a1 = torch.tanh(z1)
    z2 = a1 @ W2.T + b2
    dz2 = (torch.softmax(z2, 1) - nn.functional.one_hot(y, 2)) / len(y)  # d mean CE / d logits
    dz1 = (dz2 @ W2) * (1 - a1**2)
    stats = layer_statistics(model, X, y)
    hidden, output = stats
    assert hidden["activation"] == "tanh" and output["activation"] is None
    assert hidden["mean"] == pytest.approx(float(a1.mean()))
    assert hidden["std"] == pytest.approx(float(a1.std()))
    assert hidden["saturated"] == pytest.approx(float((a1.abs() > 0.99).double().mean()))
    assert hidden["dead_units"] == pytest.approx(float((a1.abs() > 0.99).all(0).double().mean()))
    assert hidden["gradient_std"] == pytest.approx(float(dz1.std()))
    assert hidden["gradient_norm"] == pytest.approx(float(dz1.norm()))
    assert hidden["weight_gradient_norm"] == pytest.approx(float((dz1.T @ X).norm()))
    assert output["gradient_norm"] == pytest.approx(float(dz2.norm()))
    assert output["weight_gradient_norm"] == pytest.approx(float((dz2.T @ a1).norm()))
    assert output["mean"] == pytest.approx(float(z2.mean())) and output["saturated"] is None
    assert all(p.grad is None for p in model.parameters())


def test_relu_dead_fraction():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]))
        model[0].bias.zero_()
    X = torch.tensor([[1.0, 0.0], [2.0, 1.0]])
    hidden = layer_statistics(model, X, torch.tensor([0, 1]))[0]
    assert hidden["saturated"] == pytest.approx(4 / 6)  # unit 2 and unit 3 are off on both rows
    assert hidden["dead_units"] == pytest.approx(2 / 3)


def test_zero_init_stays_symmetric_after_training(digits):
    X, y = digits
    model = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 10))
    init_(model, "zeros")
    train_network(model, X[:400], y[:400], epochs=3, lr=0.1, progress=False, seed=0)
    assert symmetry_scores(model) == [1, 1]
    init_(model, "normal", generator=torch.Generator().manual_seed(0))
    assert symmetry_scores(model) == [16, 16]


def test_symmetry_score_counts_groups():
    layer = nn.Linear(2, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0], [1.0, 2.0], [3.0, 0.0], [1.0, 2.0 + 1e-9]]))
        layer.bias.zero_()
    assert symmetry_score(layer) == 2


def test_traces_and_mosaic_shapes(digits):
    X, y = digits
    model = init_(nn.Sequential(nn.Linear(64, 8), nn.Sigmoid(), nn.Linear(8, 10)), "xavier_uniform")
    traces = trace_layers(model, X[:50], y[:50])
    assert [tuple(t.activation.shape) for t in traces] == [(50, 8), (50, 10)]
    assert filter_mosaic(model[0].weight, n=8, columns=4).shape == (2 * 9 + 1, 4 * 9 + 1)
    with pytest.raises(ValueError, match="one class index per row"):
        trace_layers(model, X[:50], y[:40])
