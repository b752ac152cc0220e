"""The CD node's value and hand-written backward equal autograd on the literal free energies."""

from __future__ import annotations

import pytest
import torch
from conftest import random_rbm

from dbn.cd import free_energy_difference
from dbn.units import get_units


@pytest.mark.parametrize(
    ("visible", "hidden"),
    [("bernoulli", "bernoulli"), ("gaussian", "bernoulli"), ("bernoulli", "relu"), ("bernoulli", "gaussian")],
)
@pytest.mark.parametrize("with_offset", [False, True])
def test_free_energy_difference_matches_autograd(visible, hidden, with_offset):
    rbm = random_rbm(7, 5, visible=visible, seed=1)
    rbm.hidden = get_units(hidden, argument="hidden")
    generator = torch.Generator().manual_seed(0)
    v_data = torch.rand(9, 7, generator=generator, dtype=torch.float64)
    v_model = torch.rand(4, 7, generator=generator, dtype=torch.float64)
    offset = torch.randn(5, generator=generator, dtype=torch.float64) if with_offset else None

    x_data = rbm.hidden_input(v_data)
    literal = rbm.model_free_energy(v_data, x_data).mean() - rbm.model_free_energy(v_model).mean()
    if offset is not None:
        literal = literal + (offset * x_data).sum(1).mean()
    expected = torch.autograd.grad(literal, [rbm.weight, rbm.visible_bias, rbm.hidden_bias])

    with torch.no_grad():
        x_data, x_model = rbm.hidden_input(v_data), rbm.hidden_input(v_model)
        p_data, p_model = rbm.hidden.mean(x_data), rbm.hidden.mean(x_model)
    loss = free_energy_difference(rbm, v_data, x_data, p_data, v_model, x_model, p_model, offset)
    found = torch.autograd.grad(loss, [rbm.weight, rbm.visible_bias, rbm.hidden_bias])
    torch.testing.assert_close(loss, literal.detach())
    for got, want in zip(found, expected, strict=False):
        torch.testing.assert_close(got, want)
