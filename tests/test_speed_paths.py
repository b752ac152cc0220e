"""The fast paths of RBM.fit give the results of the general ones, bit for bit.

- ``ContrastiveDivergence.set_gradients`` (no autograd, buffers reused) against ``forward`` then
  ``backward``: the same gradients, persistent chains, running activity and generator state;
- ``OptimizerStep`` (the fused SGD kernel called directly) against ``optimizer.step()``;
- the exact statistics of binary data against ``BatchSource.statistics``, and a checkpoint whose
  fingerprint came from the latter still resumes;
- the per-epoch ``cd_loss`` and ``batch_recon_mse`` leave the training generator alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import step_both_paths

from dbn import RBM
from dbn.batches import make_source
from dbn.cd import ContrastiveDivergence
from dbn.cd_trainer import OptimizerStep, in_memory_statistics, make_optimizer
from dbn.config import CDConfig
from dbn.resume import fingerprint
from dbn.units import SoftmaxUnits, UnitGroups


@pytest.fixture(scope="module")
def grey(digits):
    return torch.as_tensor(digits[0][:200], dtype=torch.float32)


def trained_rbm(visible="bernoulli", hidden="bernoulli", n_hidden=24, dtype=torch.float32):
    rbm = RBM(64, n_hidden, visible=visible, hidden=hidden, dtype=dtype)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        rbm.weight.normal_(0, 0.3, generator=generator)
        rbm.visible_bias.normal_(0, 0.5, generator=generator)
        rbm.hidden_bias.normal_(0, 0.5, generator=generator)
    return rbm


CASES = {
    "cd1": ({}, {}),
    "cd3-sample-visible": ({}, {"k": 3, "sample_visible": True}),
    "pcd-equal": ({}, {"chains": 50}),
    "pcd-unequal": ({}, {"chains": 30, "k": 2}),
    "sparsity": ({}, {"sparsity_target": 0.1, "sparsity_cost": 0.3}),
    "gaussian-visible": ({"visible": "gaussian"}, {}),
    "relu-hidden": ({"hidden": "relu"}, {}),
    "groups": ({"visible": UnitGroups([("bernoulli", 54), (SoftmaxUnits(10), 10)])}, {}),
    "float64": ({"dtype": torch.float64}, {}),
    "bfloat16": ({}, {"precision": "bfloat16"}),
    "bfloat16-pcd-unequal": ({}, {"precision": "bfloat16", "chains": 30}),
    "bfloat16-sparsity": ({}, {"precision": "bfloat16", "sparsity_target": 0.1, "sparsity_cost": 0.3}),
}


def objective_for(rbm, options, seed):
    options = dict(options)
    chains = options.pop("chains", None)
    if chains is not None:
        start = torch.Generator().manual_seed(11)
        options["chains"] = (torch.rand(chains, 64, generator=start, dtype=rbm.weight.dtype) < 0.3).to(rbm.weight.dtype)
    return ContrastiveDivergence(rbm, k=options.pop("k", 1), generator=torch.Generator().manual_seed(seed), **options)


@pytest.mark.parametrize("case", list(CASES))
def test_set_gradients_is_forward_and_backward_bit_for_bit(grey, case):
    model_options, options = CASES[case]
    data = grey.to(model_options.get("dtype", torch.float32))
    if model_options.get("visible") == "gaussian":
        data = (data - data.mean(0)) / (data.std(0) + 1e-3)
    slow_rbm, fast_rbm = trained_rbm(**model_options), trained_rbm(**model_options)
    slow, fast = objective_for(slow_rbm, options, 3), objective_for(fast_rbm, options, 3)
    for step, batch in enumerate(data.split(50)):
        batch = batch[: 50 - 7 * (step == 3)]  # a ragged last batch: a second set of buffers
        step_both_paths(slow, fast, batch, (case, step))
    assert torch.equal(slow.generator.get_state(), fast.generator.get_state())
    if slow.chains is not None:
        assert torch.equal(slow.chains, fast.chains)
    if slow.sparsity is not None:
        assert torch.equal(slow.running_activity, fast.running_activity)


def test_set_gradients_allocates_nothing_after_the_first_step_of_a_shape(grey):
    rbm = trained_rbm()
    objective = objective_for(rbm, {}, 0)
    objective.set_gradients(grey[:50])
    buffers = [tensor.data_ptr() for tensor in objective.workspace.tensors()]
    gradients = [parameter.grad for parameter in rbm.parameters()]
    for batch in grey[50:].split(50):
        objective.set_gradients(batch)
    after = [tensor.data_ptr() for tensor in objective.workspace.tensors()]
    assert after == buffers
    assert all(parameter.grad is gradient for parameter, gradient in zip(rbm.parameters(), gradients, strict=True))


def test_set_gradients_tracks_the_step_monitors_like_forward_when_asked(grey):
    slow, fast = objective_for(trained_rbm(), {}, 1), objective_for(trained_rbm(), {}, 1)
    fast.track_steps = True
    for batch in grey.split(50):
        slow(batch)
        fast.set_gradients(batch)
    assert fast.read_monitors() == slow.read_monitors()


@pytest.mark.parametrize("weight_decay", [0.0, 2e-4])
def test_the_direct_fused_sgd_step_is_optimizer_step_bit_for_bit(weight_decay):
    config = CDConfig(weight_decay=weight_decay, lr=0.1)
    models = [trained_rbm(), trained_rbm()]
    optimizers = [make_optimizer(model, config, 0.1) for model in models]
    direct = OptimizerStep(optimizers[1], direct=True)
    generator = torch.Generator().manual_seed(0)
    for step in range(6):
        gradients = [torch.randn(p.shape, generator=generator) for p in models[0].parameters()]
        for model in models:
            for parameter, gradient in zip(model.parameters(), gradients, strict=True):
                parameter.grad = gradient.clone()
        if step == 3:  # a new epoch's momentum and rate, set in the groups
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["momentum"], group["lr"] = 0.9, 0.05
        optimizers[0].step()
        direct()
        assert all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True))
    assert direct.plan is not None  # the kernel was called directly from the second step on
    state = [optimizers[0].state[p]["momentum_buffer"] for p in models[0].parameters()]
    assert all(torch.equal(a, optimizers[1].state[p]["momentum_buffer"]) for a, p in zip(state, models[1].parameters(),
                                                                                         strict=True))


def test_other_optimizers_go_through_their_step():
    model = trained_rbm()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    update = OptimizerStep(optimizer, direct=True)
    for parameter in model.parameters():
        parameter.grad = torch.ones_like(parameter)
    update()
    update()
    assert update.plan is None and optimizer.state[model.weight]["step"] == 2


@pytest.mark.parametrize("kind", ["binary", "grey", "offset gaussian"])
def test_the_in_memory_statistics_match_the_general_ones(digits, kind):
    X = {"binary": (digits[0] > 0.5), "grey": digits[0], "offset gaussian": 1e4 + 3 * digits[0]}[kind]
    X = X.astype(np.float32)
    sources = [
        make_source(X, "X", batch_size=10, device=torch.device("cpu"), dtype=torch.float32,
                    generator=torch.Generator().manual_seed(4), n_features=64, unit_interval=kind != "offset gaussian")
        for _ in range(2)
    ]
    assert (sources[0].data.dtype == torch.uint8) == (kind == "binary")
    general = sources[0].statistics(n_features=64, unit_interval=kind != "offset gaussian", sample_size=300)
    exact = in_memory_statistics(sources[1], 300, chunk_size=256)
    scale = float(general.mean.abs().max())
    torch.testing.assert_close(exact.mean, general.mean, rtol=0, atol=1e-14 * scale)
    torch.testing.assert_close(exact.std, general.std, rtol=1e-12, atol=1e-14 * scale)
    assert torch.equal(exact.mean.float(), general.mean.float())
    assert torch.equal(exact.std.float(), general.std.float())
    assert torch.equal(exact.sample, general.sample)
    assert torch.equal(sources[0].generator.get_state(), sources[1].generator.get_state())


def test_a_checkpoint_fingerprinted_by_the_general_statistics_resumes(digits, tmp_path):
    X = (digits[0] > 0.5).astype(np.float32)
    settings = {"epochs": 4, "batch_size": 50, "progress": False, "seed": 2}
    whole = RBM(64, 16).fit(X, **settings)

    class Stop(Exception):
        pass

    def crash(model, record):
        if record["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        RBM(64, 16).fit(X, checkpoint=tmp_path / "rbm.pt", callbacks=[crash], **settings)
    interrupted = RBM.load(tmp_path / "rbm.pt")
    source = make_source(X, "X", batch_size=50, device=torch.device("cpu"), dtype=torch.float32, generator=None,
                         n_features=64, unit_interval=True)
    general = source.statistics(n_features=64, unit_interval=True, sample_size=1)
    interrupted.training_state_["data"] = fingerprint(general.mean, general.std)  # as written before the exact path
    interrupted.resume(X, progress=False)
    assert torch.equal(interrupted.weight, whole.weight)


def test_the_epoch_monitors_leave_the_training_generator_alone(digits):
    X = (digits[0] > 0.5).astype(np.float32)
    rbm = RBM(64, 16).fit(X, epochs=2, batch_size=50, progress=False, seed=5)
    objective = ContrastiveDivergence(rbm, k=1, generator=torch.Generator().manual_seed(0))
    rows = torch.as_tensor(X[:256])
    state = objective.generator.get_state()
    first = objective.epoch_monitors(rows, torch.Generator().manual_seed(0))
    again = objective.epoch_monitors(rows, torch.Generator().manual_seed(0))
    assert first == again and torch.equal(state, objective.generator.get_state())
    assert 0 < first["batch_recon_mse"] < 0.25 and np.isfinite(first["cd_loss"])
    record = rbm.history_[-1]
    assert np.isfinite(record["cd_loss"]) and 0 < record["batch_recon_mse"] < 0.25


class Wrapped(torch.nn.Module):
    """Stands in for DistributedDataParallel: the trainer then takes the autograd path."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.module(v)


@pytest.mark.parametrize("options", [{}, {"persistent": True, "k": 2}, {"sparsity_target": 0.1, "sparsity_cost": 0.2,
                                                                          "weight_decay": 1e-3}])
def test_fit_takes_the_same_steps_through_autograd_as_without(digits, monkeypatch, options):
    X = (digits[0][:600] > 0.5).astype(np.float32)
    settings = {"epochs": 2, "batch_size": 64, "progress": False, "seed": 1, **options}
    direct = RBM(64, 16).fit(X, **settings)
    monkeypatch.setattr("dbn.cd_trainer.data_parallel", lambda module, device, sync_buffers: Wrapped(module))
    through_autograd = RBM(64, 16).fit(X, **settings)
    for name in ("weight", "visible_bias", "hidden_bias"):
        assert torch.equal(getattr(direct, name), getattr(through_autograd, name)), name
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in direct.history_] == [
        {k: v for k, v in r.items() if k not in drop} for r in through_autograd.history_
    ]


def test_statistics_next_to_a_float32_tie_come_from_the_general_computation():
    from dbn.cd_trainer import checked_statistics, same_float32

    X = np.ones((64, 3), dtype=np.float32)
    X[::2, 0] = np.nextafter(np.float32(1), np.float32(2))  # the mean of column 0 is the tie 1 + 2**-24
    rbm = RBM(3, 2, visible="gaussian")
    made = [make_source(X, "X", batch_size=8, device=torch.device("cpu"), dtype=torch.float32,
                        generator=torch.Generator().manual_seed(0), n_features=3, unit_interval=False)
            for _ in range(2)]
    assert not same_float32(in_memory_statistics(made[0], 4).mean)
    made[0].generator.manual_seed(0)
    stats, _ = checked_statistics(made[0], rbm, CDConfig(monitor_size=4), None)
    general = made[1].statistics(n_features=3, unit_interval=False, sample_size=4)
    assert torch.equal(stats.mean, general.mean) and torch.equal(stats.std, general.std)
    assert torch.equal(stats.sample, general.sample)


@pytest.mark.parametrize("options", [{}, {"chains": 30, "k": 2}])
def test_a_float32_step_allocates_nothing_after_the_first(grey, options):
    from torch.profiler import ProfilerActivity, profile

    rbm = trained_rbm()
    objective = objective_for(rbm, options, 0)
    objective.track_steps = False
    optimizer = make_optimizer(rbm, CDConfig(lr=0.1), 0.1)
    update = OptimizerStep(optimizer, direct=True)
    for batch in grey[:100].split(50):
        objective.set_gradients(batch)
        update()
    batch = grey[100:150].clone()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, torch.no_grad():
        objective.set_gradients(batch)
        update()
    assert [event.name for event in prof.events() if event.cpu_memory_usage > 0] == []


@pytest.mark.parametrize(("row", "value", "kept"), [(None, None, torch.uint8), (700, 0.5, torch.float32),
                                                     (0, 1e-30, torch.float32), (999, 0.999, torch.float32)])
def test_binary_data_is_held_as_bytes_and_any_grey_value_anywhere_keeps_floats(row, value, kept):
    X = (torch.rand(1000, 30, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    if row is not None:
        X[row, 7] = value  # one grey value, in some chunk of the check
    source = make_source(X, "X", batch_size=50, device=torch.device("cpu"), dtype=torch.float32, generator=None,
                         n_features=30, unit_interval=True)
    assert source.data.dtype == kept
    assert torch.equal(source.data.float(), X)


def test_narrow_and_empty_tensors_convert_to_bytes_too():
    from dbn.batches import as_binary_bytes

    narrow = (torch.rand(100_000, 2, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    assert torch.equal(as_binary_bytes(narrow).float(), narrow)
    narrow[-1, 1] = 0.25
    assert as_binary_bytes(narrow) is None
    assert as_binary_bytes(torch.zeros(0, 5)).shape == (0, 5)
