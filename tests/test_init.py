"""dbn.init: every scheme draws from its documented distribution; clear errors for bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dbn.activations import Maxout, maxout_gain
from dbn.init import (
    ACTIVATIONS,
    SCHEMES,
    Activation,
    get_activation,
    init_,
    linear_layers,
    register_activation,
    sigmoid_to_tanh_,
)
from dbn.stack import DeepBeliefNet

FAN_IN, FAN_OUT = 400, 300


def wide(activation: str = "relu") -> nn.Sequential:
    return nn.Sequential(nn.Linear(FAN_IN, FAN_OUT), get_activation(activation).module(), nn.Linear(FAN_OUT, 10))


def first_weight(scheme: str, activation: str = "relu", **options) -> torch.Tensor:
    model = init_(wide(activation), scheme, generator=torch.Generator().manual_seed(0), **options)
    assert all(float(layer.bias.detach().abs().max()) == 0 for layer in linear_layers(model))
    return model[0].weight.detach()


def test_registries_name_every_documented_scheme():
    expected = {"zeros", "constant", "uniform", "normal", "truncated_normal", "xavier_uniform", "xavier_normal",
                "he_uniform", "he_normal", "orthogonal", "lsuv", "dbn"}
    assert expected <= set(SCHEMES)
    assert {"sigmoid", "tanh", "relu", "leaky_relu"} <= set(ACTIVATIONS)


@pytest.mark.parametrize(
    "scheme, options, bound",
    [("uniform", {}, 0.1), ("uniform", {"a": 0.5}, 0.5), ("xavier_uniform", {}, math.sqrt(6 / (FAN_IN + FAN_OUT)))],
)
def test_uniform_schemes_fill_their_interval(scheme, options, bound):
    weight = first_weight(scheme, **options)
    assert float(weight.abs().max()) <= bound
    assert float(weight.abs().max()) > 0.99 * bound
    assert float(weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.03)


@pytest.mark.parametrize(
    "scheme, activation, std",
    [
        ("normal", "relu", 0.01),
        ("xavier_normal", "tanh", math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("he_normal", "relu", math.sqrt(2 / FAN_IN)),
        ("he_normal", "tanh", 5 / 3 / math.sqrt(FAN_IN)),
        ("he_uniform", "relu", math.sqrt(2 / FAN_IN)),
        ("he_normal", "leaky_relu", math.sqrt(2 / (1 + 0.01**2) / FAN_IN)),
    ],
)
def test_scaled_schemes_have_the_documented_std(scheme, activation, std):
    weight = first_weight(scheme, activation)
    assert float(weight.mean()) == pytest.approx(0.0, abs=0.05 * std)
    assert float(weight.std()) == pytest.approx(std, rel=0.03)


def test_truncated_normal_stays_within_two_std():
    weight = first_weight("truncated_normal", std=0.02)
    assert float(weight.abs().max()) <= 0.04
    assert float(weight.std()) == pytest.approx(0.02 * 0.8796, rel=0.03)  # std of N(0,1) truncated at +-2


def test_constant_and_zeros():
    assert float(first_weight("zeros").abs().max()) == 0
    assert torch.equal(first_weight("constant", value=0.3), torch.full((FAN_OUT, FAN_IN), 0.3))


def test_orthogonal_rows_are_orthonormal():
    weight = first_weight("orthogonal").double()
    assert torch.allclose(weight @ weight.T, torch.eye(FAN_OUT, dtype=torch.float64), atol=1e-4)


def test_same_generator_state_same_weights():
    assert torch.equal(first_weight("he_normal"), first_weight("he_normal"))


def test_lsuv_gives_unit_output_variance_in_every_layer(digits):
    X = torch.as_tensor(digits[0])
    model = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(64, 64), nn.Tanh())], nn.Linear(64, 10))
    init_(model, "lsuv", X=X, generator=torch.Generator().manual_seed(0), tol=0.05, batch_size=len(X))
    outputs, h = [], X.detach()
    for module in model:
        h = module(h)
        if isinstance(module, nn.Linear):
            outputs.append(float(h.detach().var()))
    assert all(abs(v - 1) < 0.05 for v in outputs), outputs


def test_dbn_copies_pretrained_weights(digits):
    X = digits[0][:300]
    model = nn.Sequential(nn.Linear(64, 20), nn.Sigmoid(), nn.Linear(20, 10))
    init_(model, "dbn", X=X, generator=torch.Generator().manual_seed(3), epochs=2)
    net = DeepBeliefNet([64, 20], epochs=2).pretrain(
        X, progress=False, seed=int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(3)))
    )
    assert torch.allclose(model[0].weight, net.rbms[0].weight)
    assert torch.allclose(model[0].bias, net.rbms[0].hidden_bias)
    assert float(model[2].bias.detach().abs().max()) == 0 and float(model[2].weight.detach().abs().max()) > 0


def test_unknown_names_and_missing_data_give_clear_errors(digits):
    with pytest.raises(ValueError, match="unknown initialisation scheme 'glorot'"):
        init_(wide(), "glorot")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        init_(wide(), "he_normal", activation="swish")
    for scheme in ("lsuv", "dbn"):
        with pytest.raises(ValueError, match="data-dependent: pass X"):
            init_(wide(), scheme)
    with pytest.raises(ValueError, match="features"):
        init_(wide(), "lsuv", X=digits[0])  # 64 features, the network expects 400
    with pytest.raises(ValueError, match="do not chain"):
        init_(nn.Sequential(nn.Linear(5, 4), nn.Linear(3, 2)), "normal")
    with pytest.raises(ValueError, match="no nn.Linear"):
        init_(nn.ReLU(), "normal")
    with pytest.raises(TypeError, match="unknown option"):
        init_(wide(), "normal", width=3)


def test_a_new_activation_is_one_registry_entry():
    entry = Activation("test_elu", nn.ELU, "relu", lambda z: z < -3, module_types=(nn.ELU,))
    register_activation(entry)
    try:
        model = nn.Sequential(nn.Linear(FAN_IN, FAN_OUT), nn.ELU(), nn.Linear(FAN_OUT, 10))
        init_(model, "he_normal", generator=torch.Generator().manual_seed(0))
        assert float(model[0].weight.detach().std()) == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.03)
    finally:
        del ACTIVATIONS["test_elu"]


@pytest.mark.parametrize("hidden", [[20], [20, 12, 8]])
def test_dbn_for_tanh_is_the_sigmoid_network_rewritten_exactly(digits, hidden):
    """sigmoid(x) = (1 + tanh(x/2))/2: the tanh network starts from the sigmoid one's function."""
    X = torch.as_tensor(digits[0][:300])
    nets = {}
    for name in ("sigmoid", "tanh"):
        sizes = [64, *hidden]
        model = nn.Sequential(
            *[m for a, b in zip(sizes, sizes[1:], strict=False)
              for m in (nn.Linear(a, b), get_activation(name).module())],
            nn.Linear(sizes[-1], 10),
        ).double()
        nets[name] = init_(model, "dbn", X=X, generator=torch.Generator().manual_seed(5), epochs=2)
    with torch.no_grad():
        assert torch.allclose(nets["tanh"](X.double()), nets["sigmoid"](X.double()), atol=1e-6, rtol=0)
        assert not torch.allclose(nets["tanh"][0].weight, nets["sigmoid"][0].weight)


def test_sigmoid_to_tanh_formula_on_random_layers():
    torch.manual_seed(0)
    layers = [nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 3)]
    sigmoid = nn.Sequential(layers[0], nn.Sigmoid(), layers[1], nn.Sigmoid(), layers[2]).double()
    x = torch.randn(9, 6, dtype=torch.float64)
    with torch.no_grad():
        expected = sigmoid(x)
        sigmoid_to_tanh_(layers)
        assert torch.allclose(
            nn.Sequential(layers[0], nn.Tanh(), layers[1], nn.Tanh(), layers[2])(x), expected, atol=1e-12
        )


# ------------------------------------------------------------ LeCun, truncated Xavier, orthogonal-He, VLReLU, maxout


def test_registries_name_every_row_and_column_of_the_mnist_table():
    assert {"lecun_normal", "xavier_truncated_normal", "orthogonal_he", "default"} <= set(SCHEMES)
    assert {"vlrelu", "maxout"} <= set(ACTIVATIONS)
    assert get_activation("vlrelu").gain == pytest.approx(math.sqrt(2 / (1 + 1 / 9)))


def test_lecun_normal_is_fan_in_only_unlike_xavier_normal():
    lecun, xavier = first_weight("lecun_normal"), first_weight("xavier_normal")
    assert float(lecun.std()) == pytest.approx(1 / math.sqrt(FAN_IN), rel=0.03)
    assert float(xavier.std()) == pytest.approx(math.sqrt(2 / (FAN_IN + FAN_OUT)), rel=0.03)
    assert float(lecun.std()) / float(xavier.std()) == pytest.approx(
        math.sqrt((FAN_IN + FAN_OUT) / (2 * FAN_IN)), rel=0.05
    )
    assert float(first_weight("lecun_normal", "sigmoid").std()) == pytest.approx(
        float(lecun.std()), rel=0.03
    )  # no gain


def test_xavier_truncated_normal_is_bounded_and_narrower_than_its_sigma():
    sigma = math.sqrt(3 / (FAN_IN + FAN_OUT))
    weight = first_weight("xavier_truncated_normal")
    assert float(weight.abs().max()) <= 2 * sigma
    assert float(weight.abs().max()) > 1.9 * sigma  # redrawn beyond 2 sigma, not clipped to a smaller bound
    assert float(weight.std()) == pytest.approx(0.8796 * sigma, rel=0.03)  # the realised std, documented
    assert float(weight.std()) == pytest.approx(math.sqrt(2.321 / (FAN_IN + FAN_OUT)), rel=0.03)


@pytest.mark.parametrize("activation", ["relu", "vlrelu", "tanh", "maxout"])
def test_orthogonal_he_is_orthogonal_times_the_he_gain(activation):
    gain = get_activation(activation).gain
    model = nn.Sequential(
        nn.Linear(FAN_IN, FAN_OUT),
        get_activation(activation).module(),
        nn.Linear(FAN_OUT // get_activation(activation).pieces, 10),
    )
    weight = init_(model, "orthogonal_he", generator=torch.Generator().manual_seed(0))[0].weight.detach().double()
    assert torch.allclose(weight @ weight.T, gain**2 * torch.eye(FAN_OUT, dtype=torch.float64), atol=1e-4)


@pytest.mark.parametrize(
    "activation, gain", [("vlrelu", math.sqrt(1.8)), ("maxout", 1.0), ("leaky_relu", math.sqrt(2 / 1.0001))]
)
def test_he_uses_the_activation_gain(activation, gain):
    model = nn.Sequential(
        nn.Linear(FAN_IN, 2 * FAN_OUT),
        get_activation(activation).module(),
        nn.Linear(2 * FAN_OUT // get_activation(activation).pieces, 10),
    )
    for scheme in ("he_normal", "he_uniform"):
        weight = init_(model, scheme, generator=torch.Generator().manual_seed(1))[
            0
        ].weight.detach()  # activation inferred
        assert float(weight.std()) == pytest.approx(gain / math.sqrt(FAN_IN), rel=0.03), scheme


def test_the_very_leaky_relu_module_is_not_mistaken_for_the_leaky_one():
    assert get_activation("vlrelu").recognises(nn.LeakyReLU(1 / 3))
    assert not get_activation("leaky_relu").recognises(nn.LeakyReLU(1 / 3))
    assert get_activation("leaky_relu").recognises(nn.LeakyReLU(0.01))


def test_maxout_gain_matches_the_second_moment_of_the_largest_piece():
    assert maxout_gain(2) == pytest.approx(1.0, abs=1e-6)
    assert maxout_gain(3) == pytest.approx(1 / math.sqrt(1 + math.sqrt(3) / (2 * math.pi)), abs=1e-6)
    pieces = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(pieces.amax(1).square().mean()) == pytest.approx(maxout_gain(4) ** -2, rel=0.01)


def test_maxout_output_shape_and_gradient():
    z = torch.tensor([[1.0, 3.0, -2.0, -5.0, 0.5, 0.25]], requires_grad=True)
    h = Maxout(2)(z)
    assert torch.equal(h, torch.tensor([[3.0, -2.0, 0.5]]))
    h.sum().backward()
    assert torch.equal(z.grad, torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0, 0.0]]))  # only each unit's largest piece
    assert Maxout(3)(torch.randn(7, 5, 12)).shape == (7, 5, 4)


def test_maxout_bad_input_names_the_parameter():
    for k in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="k="):
            Maxout(k)
    with pytest.raises(ValueError, match="divisible by k"):
        Maxout(2)(torch.randn(3, 5))


def test_maxout_layers_chain_through_their_pieces():
    model = nn.Sequential(nn.Linear(FAN_IN, 2 * 50), Maxout(2), nn.Linear(50, 10))
    init_(model, "lsuv", X=torch.rand(64, FAN_IN), generator=torch.Generator().manual_seed(0))
    assert model(torch.rand(3, FAN_IN)).shape == (3, 10)
    with pytest.raises(ValueError, match="pieces"):
        init_(nn.Sequential(nn.Linear(FAN_IN, 50), Maxout(2), nn.Linear(50, 10)), "normal")
    with pytest.raises(ValueError, match="'dbn' scheme does not apply to 'maxout'"):
        init_(model, "dbn", X=torch.rand(64, FAN_IN))


def test_default_is_torch_nn_linear_default_and_reproducible():
    model = init_(wide(), "default", generator=torch.Generator().manual_seed(0))
    bound = 1 / math.sqrt(FAN_IN)
    for tensor in (model[0].weight, model[0].bias):
        assert float(tensor.detach().abs().max()) <= bound and float(tensor.detach().abs().max()) > 0.95 * bound
    again = init_(wide(), "default", generator=torch.Generator().manual_seed(0))
    assert torch.equal(model[0].weight, again[0].weight) and torch.equal(model[2].bias, again[2].bias)


def test_default_leaves_the_global_random_state_alone():
    model = wide()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    init_(model, "default", generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(3), expected)
