"""A catalogue of bad arguments to every public entry point, and what each must raise.

Every entry is refused with a ``ValueError`` or ``TypeError`` (or a ``FileNotFoundError``) whose
message names the argument and what was expected, before any optimiser step: the autouse fixture
below makes ``step`` of SGD and Adam raise :class:`StepTaken`, which no ``pytest.raises`` of these
tests catches. The last tables are documented successes: inputs that look odd but are accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from dbn import RBM, DeepBeliefNet
from dbn.compare import compare_inits
from dbn.config import CDConfig, TrainConfig
from dbn.datasets import load, load_digits, load_fashion_mnist, load_mnist, read_idx
from dbn.init import init_
from dbn.sklearn import DBNClassifier, DBNRegressor, RBMTransformer
from dbn.training import train_network

# one epoch of training on 24 rows learns little, and huge targets overflow scikit-learn's scaler: expected here
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*chance level:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
]

RNG = np.random.default_rng(0)
X = RNG.random((24, 6)).astype(np.float32)
Y = np.arange(24) % 2
GAUSSIAN = RNG.normal(size=(24, 6)).astype(np.float32)


class StepTaken(BaseException):
    """Raised by a patched optimiser step: a bad input got as far as training."""


@pytest.fixture(autouse=True)
def no_optimizer_step(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every SGD and Adam step raise, unless the test asks for ``allow_steps``."""
    if "allow_steps" in request.fixturenames:
        return

    def refuse(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
        raise StepTaken("an optimiser step was taken before the bad input was refused")

    for optimizer in (torch.optim.SGD, torch.optim.Adam):
        monkeypatch.setattr(optimizer, "step", refuse)


@pytest.fixture()
def allow_steps() -> None:
    """Requested by the tests that train for real."""


def without_cuda(call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` run as on a machine without CUDA (whatever this machine has)."""

    def run() -> Any:
        with mock.patch("torch.cuda.is_available", return_value=False), mock.patch("torch.cuda.device_count",
                                                                                   return_value=0):
            return call()

    return run


def with_cuda_devices(count: int, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` run as on a machine with ``count`` CUDA devices (nothing is computed on them)."""

    def run() -> Any:
        with mock.patch("torch.cuda.is_available", return_value=True), mock.patch("torch.cuda.device_count",
                                                                                  return_value=count):
            return call()

    return run


def bad(case: str, call: Callable[..., Any], error: type[BaseException], match: str) -> Any:
    """One catalogue entry."""
    return pytest.param(call, error, match, id=case)


def check(call: Callable[..., Any], error: type[BaseException], match: str, *args: Any) -> None:
    with pytest.raises(error, match=match):
        call(*args)


def fit(**options: Any) -> RBM:
    return RBM(6, 3).fit(X, progress=False, **options)


def gaussian_fit(data: Any, **options: Any) -> RBM:
    return RBM(6, 3, visible="gaussian").fit(data, progress=False, **options)


class OnePass:
    """An iterable whose ``__iter__`` returns the same iterator every time: empty after one pass."""

    def __init__(self, batches: list) -> None:
        self.iterator = iter(batches)

    def __iter__(self) -> Any:
        return self.iterator


class Empty:
    """An iterable of no batches."""

    def __iter__(self) -> Any:
        return iter(())


def batches(*arrays: Any) -> list:
    return list(arrays)


# --------------------------------------------------------------------------- RBM: constructor

RBM_CONSTRUCTOR = [
    bad("n_visible=0", lambda: RBM(0, 3), ValueError, "n_visible must be > 0"),
    bad("n_visible=2.5", lambda: RBM(2.5, 3), TypeError, "n_visible must be an integer"),
    bad("n_hidden=str", lambda: RBM(6, "4"), TypeError, "n_hidden must be an integer"),
    bad("n_hidden=-1", lambda: RBM(6, -1), ValueError, "n_hidden must be > 0"),
    bad("visible=poisson", lambda: RBM(6, 3, visible="poisson"), ValueError, "visible must be one of"),
    bad("visible=None", lambda: RBM(6, 3, visible=None), ValueError, "visible must be one of"),
    bad("visible=relu", lambda: RBM(6, 3, visible="relu"), ValueError, "visible must be 'bernoulli' or 'gaussian'"),
    bad("hidden=softmax", lambda: RBM(6, 3, hidden="softmax"), ValueError, "hidden must be one of"),
    bad("dtype=float16", lambda: RBM(6, 3, dtype=torch.float16), ValueError, "dtype must be torch.float32 or"),
    bad("dtype=bfloat16", lambda: RBM(6, 3, dtype=torch.bfloat16), ValueError, "dtype must be torch.float32"),
    bad("dtype=int64", lambda: RBM(6, 3, dtype=torch.int64), ValueError, "dtype must be torch.float32 or"),
    bad("dtype=str", lambda: RBM(6, 3, dtype="float32"), TypeError, "dtype must be torch.float32 or"),
]


@pytest.mark.parametrize(("call", "error", "match"), RBM_CONSTRUCTOR)
def test_rbm_constructor(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


# --------------------------------------------------------------------------- RBM.fit: data

RBM_DATA = [
    bad("ragged-list", lambda: RBM(3, 2).fit([[0.1, 0.2, 0.3], [0.1, 0.2]], progress=False), ValueError,
        "X must be a rectangular 2-D array"),
    bad("generator", lambda: fit_iterable(torch.rand(4, 6) for _ in range(3)), TypeError, "X is a one-shot iterator"),
    bad("map", lambda: fit_iterable(map(torch.as_tensor, [X[:4], X[4:8]])), TypeError, "X is a one-shot iterator"),
    bad("iter-of-list", lambda: fit_iterable(iter([X[:4], X[4:]])), TypeError, "one-shot iterator"),
    bad("one-pass-iterable", lambda: fit_iterable(OnePass([X[:12], X[12:]])), ValueError,
        "yielded no batch in training epoch 1"),
    bad("empty-iterable", lambda: fit_iterable(Empty()), ValueError, "the iterable of batches yielded no batch"),
    bad("loader-of-dicts", lambda: fit_iterable(DataLoader([{"x": torch.rand(6)} for _ in range(8)], batch_size=4)),
        TypeError, r"X \(batch 0\) is a mapping with keys \['x'\]"),
    bad("string", lambda: fit_iterable("abc"), TypeError, "X must be an array, a tensor or an iterable"),
    bad("dict", lambda: fit_iterable({"X": X}), TypeError, "X must be an array, a tensor or an iterable"),
    bad("None", lambda: fit_iterable(None), TypeError, "X must be an array, a tensor or an iterable"),
    bad("int", lambda: fit_iterable(5), TypeError, "X must be an array, a tensor or an iterable"),
    bad("3-d", lambda: fit_iterable(np.zeros((2, 3, 6))), ValueError, "X must be 2-dimensional"),
    bad("empty-list", lambda: fit_iterable([]), ValueError, "X must be 2-dimensional"),
    bad("no-rows", lambda: fit_iterable(np.zeros((0, 6))), ValueError, "X is empty"),
    bad("no-columns", lambda: RBM(6, 3).fit(np.zeros((4, 0)), progress=False), ValueError, "X has no features"),
    bad("width", lambda: fit_iterable(X[:, :5]), ValueError, "X has 5 features, but the model expects 6"),
    bad("nan", lambda: fit_iterable(np.where(X > 0.5, np.nan, X)), ValueError, "X contains NaN or infinity"),
    bad("inf-tensor", lambda: fit_iterable(torch.full((4, 6), float("inf"))), ValueError, "X contains NaN"),
    bad("above-one", lambda: fit_iterable(X * 2), ValueError, r"X must lie in \[0, 1\] for Bernoulli visible units"),
    bad("negative", lambda: fit_iterable(X - 0.5), ValueError, r"X must lie in \[0, 1\]"),
    bad("strings", lambda: fit_iterable(np.full((3, 6), "a")), TypeError, "X must hold real numbers"),
    bad("objects", lambda: fit_iterable(np.full((3, 6), None, dtype=object)), TypeError, "X must hold real numbers"),
    bad("complex", lambda: fit_iterable(torch.zeros(3, 6, dtype=torch.complex64)), TypeError, "real numbers"),
    bad("overflow-float32", lambda: gaussian_fit(np.full((4, 6), 1e300)), ValueError,
        "X holds values as large as 1e.300 in magnitude, too large for torch.float32"),
    bad("batch-nan", lambda: fit_iterable(batches(X[:12], np.full((4, 6), np.nan, np.float32))), ValueError,
        r"X \(batch 1\) contains NaN or infinity"),
    bad("batch-width", lambda: fit_iterable(batches(torch.rand(4, 5))), ValueError, r"X \(batch 0\) has 5 features"),
    bad("batch-pair-width", lambda: fit_iterable([(torch.rand(4, 5), torch.zeros(4))]), ValueError,
        r"X \(batch 0\) has 5 features"),
    bad("batch-strings", lambda: fit_iterable(batches(torch.rand(4, 6), np.full((4, 6), "a"))), TypeError,
        r"X \(batch 1\) must be an array or tensor of real numbers"),
    bad("batch-complex", lambda: fit_iterable(batches(torch.zeros(4, 6, dtype=torch.complex64))), TypeError,
        r"X \(batch 0\) must hold real numbers"),
    bad("batch-above-one", lambda: fit_iterable(batches(torch.rand(4, 6) + 1)), ValueError,
        r"X \(batch 0\) must lie in \[0, 1\]"),
    bad("batch-overflow", lambda: gaussian_fit(batches(np.full((4, 6), 1e300))), ValueError,
        r"X \(batch 0\) holds values as large as 1e.300"),
    bad("X_val-width", lambda: fit(X_val=X[:, :3]), ValueError, "X_val has 3 features, but the model expects 6"),
    bad("X_val-nan", lambda: fit(X_val=np.full((3, 6), np.nan)), ValueError, "X_val contains NaN"),
]


def fit_iterable(data: Any, **options: Any) -> RBM:
    return RBM(6, 3).fit(data, progress=False, **options)


@pytest.mark.parametrize(("call", "error", "match"), RBM_DATA)
def test_rbm_fit_data(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


# --------------------------------------------------------------------------- RBM.fit: options

RBM_OPTIONS = [
    bad("persistent=no", lambda: fit(persistent="no"), TypeError, "persistent must be True or False"),
    bad("momentum=1.5", lambda: fit(momentum=1.5), ValueError, r"momentum must be in \[0, 1\)"),
    bad("momentum=-0.1", lambda: fit(momentum=-0.1), ValueError, "momentum must be >= 0"),
    bad("momentum=str", lambda: fit(momentum="high"), TypeError, "momentum must be a number"),
    bad("sparsity_target=x", lambda: fit(sparsity_target="x"), TypeError, "sparsity_target must be a number"),
    bad("sparsity_target=1.5", lambda: fit(sparsity_target=1.5), ValueError, r"sparsity_target must be in \(0, 1\)"),
    bad("sparsity_cost=-1", lambda: fit(sparsity_cost=-1.0), ValueError, "sparsity_cost must be >= 0"),
    bad("optimizer=adam", lambda: fit(optimizer="adam"), TypeError, "optimizer must be None or a factory"),
    bad("optimizer-returns-None", lambda: fit(optimizer=lambda groups: None), TypeError,
        "optimizer must return a torch.optim.Optimizer"),
    bad("callbacks=function", lambda: fit(callbacks=print), TypeError, "callbacks must be a sequence of callables"),
    bad("callbacks=[1]", lambda: fit(callbacks=[1]), TypeError, r"callbacks\[0\] must be callable"),
    bad("epochs=0", lambda: fit(epochs=0), ValueError, "epochs must be > 0"),
    bad("epochs=2.0", lambda: fit(epochs=2.0), TypeError, "epochs must be an integer"),
    bad("epochs=True", lambda: fit(epochs=True), TypeError, "epochs must be an integer"),
    bad("batch_size=0", lambda: fit(batch_size=0), ValueError, "batch_size must be > 0"),
    bad("k=0", lambda: fit(k=0), ValueError, "k must be > 0"),
    bad("lr=-1", lambda: fit(lr=-1.0), ValueError, "lr must be > 0"),
    bad("lr=inf", lambda: fit(lr=float("inf")), ValueError, "lr must be > 0"),
    bad("weight_decay=-1", lambda: fit(weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
    bad("n_chains=0", lambda: fit(persistent=True, n_chains=0), ValueError, "n_chains must be > 0"),
    bad("monitor_size=0", lambda: fit(monitor_size=0), ValueError, "monitor_size must be > 0"),
    bad("precision=fp8", lambda: fit(precision="fp8"), ValueError, "precision must be one of"),
    bad("cuda_graph=yes", lambda: fit(cuda_graph="yes"), TypeError, "cuda_graph must be True or False"),
    bad("sample_visible=1", lambda: fit(sample_visible=1), TypeError, "sample_visible must be True or False"),
    bad("unknown-option", lambda: fit(foo=1), TypeError, r"unknown CDConfig option\(s\) \['foo'\]"),
    bad("config=dict", lambda: fit(config={"epochs": 1}), TypeError, "config must be a CDConfig"),
    bad("config=TrainConfig", lambda: fit(config=TrainConfig()), TypeError, "config must be a CDConfig"),
    bad("device=tpu", lambda: fit(device="tpu"), ValueError, "device must name a torch device"),
    bad("device=cuda-absent", without_cuda(lambda: fit(device="cuda")), ValueError,
        "device='cuda' was requested, but no CUDA device is available"),
    bad("device=cuda:1-absent", without_cuda(lambda: fit(device="cuda:1")), ValueError, "no CUDA device is available"),
    bad("device=cuda:3-of-1", with_cuda_devices(1, lambda: fit(device="cuda:3")), ValueError,
        r"device='cuda:3' was requested, but this machine has 1 CUDA device\(s\)"),
    bad("device=mps-absent", lambda: fit(device="mps") if not torch.backends.mps.is_available() else fit(device="tpu"),
        ValueError, "no MPS device is available|device must name a torch device"),
    bad("device=meta", lambda: fit(device="meta"), ValueError, "the meta device holds no data"),
    bad("device=int", lambda: fit(device=5), TypeError, "device must be a str or torch.device"),
    bad("seed=a", lambda: fit(seed="a"), TypeError, "seed must be an integer"),
    bad("seed=1.5", lambda: fit(seed=1.5), TypeError, "seed must be an integer"),
    bad("seed=2**70", lambda: fit(seed=2**70), ValueError, r"seed must be in \[0, 2\*\*63\)"),
    bad("seed=-1", lambda: fit(seed=-1), ValueError, r"seed must be in \[0, 2\*\*63\)"),
    bad("seed=True", lambda: fit(seed=True), TypeError, "seed must be an integer"),
    bad("warm_start=yes", lambda: fit(warm_start="yes"), TypeError, "warm_start must be True or False"),
    bad("progress=no", lambda: RBM(6, 3).fit(X, progress="no"), TypeError, "progress must be True or False"),
    bad("cuda_graph-on-cpu", lambda: fit(cuda_graph=True, device="cpu"), ValueError, "cuda_graph=True needs"),
    bad("fast_weights=1", lambda: fit(persistent=True, fast_weights=1), TypeError,
        "fast_weights must be True or False"),
    bad("fast_weights-without-persistent", lambda: fit(fast_weights=True), ValueError,
        "fast_weights needs persistent chains"),
    bad("fast_lr=-1", lambda: fit(persistent=True, fast_weights=True, fast_lr=-1.0), ValueError,
        "fast_lr must be >= 0"),
    bad("fast_lr-without-fast_weights", lambda: fit(fast_lr=0.1), ValueError, "fast_lr is the rate of the fast"),
    bad("fast_decay=1", lambda: fit(persistent=True, fast_weights=True, fast_decay=1.0), ValueError,
        r"fast_decay must be in \[0, 1\)"),
    bad("tempering=1", lambda: fit(persistent=True, tempering=1), ValueError, "tempering must be the number of"),
    bad("tempering=2.5", lambda: fit(persistent=True, tempering=2.5), TypeError, "tempering must be an integer"),
    bad("tempering-without-persistent", lambda: fit(tempering=4), ValueError, "tempering needs persistent chains"),
    bad("tempering-and-fast_weights", lambda: fit(persistent=True, tempering=4, fast_weights=True), ValueError,
        "fast_weights and tempering are two negative phases"),
    bad("tempering_min_beta=1", lambda: fit(persistent=True, tempering=3, tempering_min_beta=1.0), ValueError,
        r"tempering_min_beta must be in \[0, 1\)"),
    bad("centering=yes", lambda: fit(centering="yes"), TypeError, "centering must be True or False"),
    bad("centering_rate=2", lambda: fit(centering=True, centering_rate=2.0), ValueError,
        r"centering_rate must be in \[0, 1\]"),
    bad("centering_offsets=model", lambda: fit(centering=True, centering_offsets="model"), ValueError,
        "centering_offsets must be 'data' or 'average'"),
    bad("cuda_graph-with-centering", lambda: fit(centering=True, cuda_graph=True), ValueError,
        "cuda_graph=True cannot replay the steps of fast_weights, tempering or centering"),
]


@pytest.mark.parametrize(("call", "error", "match"), RBM_OPTIONS)
def test_rbm_fit_options(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


def test_refused_options_leave_the_model_unchanged(allow_steps: None) -> None:
    rbm = RBM(6, 3).fit(X, epochs=1, progress=False, seed=0)
    state = {name: tensor.clone() for name, tensor in rbm.state_dict().items()}
    history = list(rbm.history_)
    for options in ({"momentum": 1.5}, {"persistent": "no"}, {"device": "tpu"}, {"optimizer": "adam"}):
        with pytest.raises((ValueError, TypeError)):
            rbm.fit(X, progress=False, **options)
    assert all(torch.equal(tensor, rbm.state_dict()[name]) for name, tensor in state.items())
    assert rbm.history_ == history


# --------------------------------------------------------------------------- RBM inference, sampling, likelihood


def rbm() -> RBM:
    return RBM(6, 3)


RBM_INFERENCE = [
    bad("transform-batch_size=0", lambda: rbm().transform(X, batch_size=0), ValueError, "batch_size must be > 0"),
    bad("transform-batch_size=1.5", lambda: rbm().transform(X, batch_size=1.5), TypeError,
        "batch_size must be an integer"),
    bad("transform-width", lambda: rbm().transform(X[:, :5]), ValueError, "X has 5 features, but the model expects 6"),
    bad("transform-nan", lambda: rbm().transform(np.full((2, 6), np.nan)), ValueError, "X contains NaN"),
    bad("free_energy-strings", lambda: rbm().free_energy(np.full((2, 6), "a")), TypeError, "v must hold real numbers"),
    bad("hidden_probs-1d", lambda: rbm().hidden_probs(X[0]), ValueError, "v must be 2-dimensional"),
    bad("reconstruct-width", lambda: rbm().reconstruct(X[:, :2]), ValueError, "v has 2 features"),
    bad("gibbs-steps=0", lambda: rbm().gibbs(X, steps=0), ValueError, "steps must be > 0"),
    bad("gibbs-steps=1.5", lambda: rbm().gibbs(X, steps=1.5), TypeError, "steps must be an integer"),
    bad("gibbs-width", lambda: rbm().gibbs(X[:, :5]), ValueError, "v has 5 features"),
    bad("gibbs-generator=str", lambda: rbm().gibbs(X, generator="g"), TypeError, "generator must be a torch.Generator"),
    bad("sample_hidden-nan", lambda: rbm().sample_hidden(np.full((2, 6), np.nan)), ValueError, "v contains NaN"),
    bad("sample_hidden-generator=str", lambda: rbm().sample_hidden(X, generator="g"), TypeError,
        "generator must be a torch.Generator"),
    bad("sample_visible-width", lambda: rbm().sample_visible(torch.zeros(2, 5)), ValueError,
        "h has 5 features, but the model expects 3"),
    bad("sample_visible-generator=int", lambda: rbm().sample_visible(torch.zeros(2, 3), generator=3), TypeError,
        "generator must be a torch.Generator"),
    bad("sample-n=0", lambda: rbm().sample(0), ValueError, "n must be > 0"),
    bad("sample-steps=0", lambda: rbm().sample(2, steps=0), ValueError, "steps must be > 0"),
    bad("sample-generator=str", lambda: rbm().sample(2, steps=1, generator="g"), TypeError,
        "generator must be a torch.Generator"),
    bad("visible_probs-1d", lambda: rbm().visible_probs(torch.zeros(3)), ValueError, "h must be 2-dimensional"),
    bad("log_partition-method", lambda: rbm().log_partition("bridge"), ValueError, "method must be 'exact' or 'ais'"),
    bad("ais-n_chains=0", lambda: rbm().log_partition("ais", n_chains=0), ValueError, "n_chains must be > 0"),
    bad("ais-n_chains=1.5", lambda: rbm().log_partition("ais", n_chains=1.5), TypeError,
        "n_chains must be an integer"),
    bad("ais-n_betas=5", lambda: rbm().log_partition("ais", n_betas=5), ValueError, "n_betas must be at least 10"),
    bad("ais-n_betas=str", lambda: rbm().log_partition("ais", n_betas="a"), TypeError, "n_betas must be an integer"),
    bad("ais-base_bias-shape", lambda: rbm().log_partition("ais", n_betas=10, base_bias=torch.zeros(3)), ValueError,
        r"base_bias must have shape \(6,\)"),
    bad("ais-base_bias-nan", lambda: rbm().log_partition("ais", n_betas=10, base_bias=torch.full((6,), np.nan)),
        ValueError, "base_bias contains NaN"),
    bad("ais-base_bias-str", lambda: rbm().log_partition("ais", n_betas=10, base_bias="zero"), TypeError,
        "base_bias must be a tensor of real numbers"),
    bad("ais-generator=str", lambda: rbm().log_partition("ais", n_betas=10, generator="g"), TypeError,
        "generator must be a torch.Generator"),
    bad("ais-unknown-option", lambda: rbm().log_partition("ais", temperature=2), TypeError, "temperature"),
    bad("exact-chunk_size=0", lambda: rbm().log_partition("exact", chunk_size=0), ValueError,
        "chunk_size must be > 0"),
    bad("exact-too-large", lambda: RBM(30, 30).log_partition(), ValueError, "refusing above 25 units"),
    bad("likelihood-relu", lambda: RBM(6, 3, hidden="relu").log_likelihood(X), ValueError, "is not defined here"),
    bad("log_likelihood-width", lambda: rbm().log_likelihood(X[:, :5]), ValueError, "X has 5 features"),
    bad("log_likelihood-method", lambda: rbm().log_likelihood(X, "bridge"), ValueError, "method must be"),
    bad("log_likelihood-ais-n_chains=0", lambda: rbm().log_likelihood(X, "ais", n_chains=0), ValueError,
        "n_chains must be > 0"),
]


@pytest.mark.parametrize(("call", "error", "match"), RBM_INFERENCE)
def test_rbm_inference(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


# --------------------------------------------------------------------------- DeepBeliefNet


def net(**options: Any) -> DeepBeliefNet:
    return DeepBeliefNet([6, 4], **options)


def pretrain(**options: Any) -> DeepBeliefNet:
    return net(epochs=1).pretrain(X, progress=False, **options)


DBN_CONSTRUCTOR = [
    bad("layers=[6]", lambda: DeepBeliefNet([6]), ValueError, "layers must list at least 2 sizes"),
    bad("layers=str", lambda: DeepBeliefNet("64"), ValueError, "layers must list at least 2 sizes"),
    bad("layers=int", lambda: DeepBeliefNet(6), ValueError, "layers must list at least 2 sizes"),
    bad("layers-zero", lambda: DeepBeliefNet([6, 0]), ValueError, r"layers\[1\] must be > 0"),
    bad("layers-float", lambda: DeepBeliefNet([6, 2.5]), TypeError, r"layers\[1\] must be an integer"),
    bad("hidden-count", lambda: DeepBeliefNet([6, 4], hidden=["bernoulli"] * 2), ValueError,
        "hidden lists 2 unit types but layers defines 1 RBMs"),
    bad("hidden=softmax", lambda: DeepBeliefNet([6, 4], hidden="softmax"), ValueError, "hidden must be one of"),
    bad("visible=relu", lambda: DeepBeliefNet([6, 4], visible="relu"), ValueError, "visible must be 'bernoulli' or"),
    bad("dtype=float16", lambda: net(dtype=torch.float16), ValueError, "dtype must be torch.float32"),
    bad("dtype=int64", lambda: net(dtype=torch.int64), ValueError, "dtype must be torch.float32"),
    bad("config=str", lambda: net(config="fast"), TypeError, "config must be a CDConfig or a list"),
    bad("config-count", lambda: net(config=[CDConfig(), CDConfig()]), ValueError, "config must be a CDConfig or a"),
    bad("config=TrainConfig", lambda: net(config=TrainConfig()), TypeError, "config must be a CDConfig or a list"),
    bad("lr-count", lambda: net(lr=[0.1, 0.1]), ValueError, "lr lists 2 values but there are 1 RBMs"),
    bad("unknown-option", lambda: net(foo=1), TypeError, r"unknown CDConfig option\(s\) \['foo'\]"),
    bad("momentum=1.5", lambda: net(momentum=1.5), ValueError, r"momentum must be in \[0, 1\)"),
]


@pytest.mark.parametrize(("call", "error", "match"), DBN_CONSTRUCTOR)
def test_dbn_constructor(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


DBN_PRETRAIN = [
    bad("propagate=x", lambda: pretrain(propagate="x"), ValueError, "propagate must be 'mean' or 'sample'"),
    bad("X-width", lambda: net().pretrain(X[:, :5], progress=False), ValueError, "X has 5 features"),
    bad("X-above-one", lambda: net().pretrain(X + 1, progress=False), ValueError, r"X must lie in \[0, 1\]"),
    bad("X-ragged", lambda: net().pretrain([[0.5] * 6, [0.5] * 5], progress=False), ValueError, "rectangular"),
    bad("X_val-width", lambda: pretrain(X_val=X[:, :5]), ValueError, "X_val has 5 features"),
    bad("epochs=0", lambda: net().pretrain(X, epochs=0, progress=False), ValueError, "epochs must be > 0"),
    bad("epochs-count", lambda: net().pretrain(X, epochs=[1, 1], progress=False), ValueError,
        "epochs lists 2 values but there are 1 RBMs"),
    bad("config=TrainConfig", lambda: net().pretrain(X, config=TrainConfig(), progress=False), TypeError,
        "config must be a CDConfig or a list"),
    bad("persistent=no", lambda: pretrain(persistent="no"), TypeError, "persistent must be True or False"),
    bad("device=tpu", lambda: pretrain(device="tpu"), ValueError, "device must name a torch device"),
    bad("device=cuda-absent", without_cuda(lambda: pretrain(device="cuda")), ValueError,
        "no CUDA device is available"),
    bad("callbacks=function", lambda: pretrain(callbacks=print), TypeError, "callbacks must be a sequence"),
    bad("seed=a", lambda: pretrain(seed="a"), TypeError, "seed must be an integer"),
    bad("seed=2**70", lambda: pretrain(seed=2**70), ValueError, r"seed must be in \[0, 2\*\*63\)"),
    bad("resume=no", lambda: pretrain(resume="no"), TypeError, "resume must be True or False"),
]


@pytest.mark.parametrize(("call", "error", "match"), DBN_PRETRAIN)
def test_dbn_pretrain(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


@pytest.fixture(scope="module")
def trained() -> SimpleNamespace:
    """Models trained once (before the step guard of each test) for the inference entries."""
    pretrained = DeepBeliefNet([6, 4], epochs=1).pretrain(X, progress=False, seed=0)
    tuned = DeepBeliefNet([6, 4], epochs=1).pretrain(X, progress=False, seed=0)
    tuned.finetune(X, Y, epochs=1, progress=False, seed=0)
    options = {"device": "cpu", "random_state": 0}
    return SimpleNamespace(
        pretrained=pretrained,
        tuned=tuned,
        transformer=RBMTransformer(3, n_iter=1, **options).fit(X),
        classifier=DBNClassifier((4,), pretrain_epochs=1, finetune_epochs=1, **options).fit(X, Y),
    )


def finetune(c: SimpleNamespace, *args: Any, **options: Any) -> Any:
    return c.pretrained.finetune(*(args or (X, Y)), progress=False, **options)


DBN_FINETUNE = [
    bad("task=cluster", lambda c: finetune(c, task="cluster"), ValueError, "task must be one of"),
    bad("y=None", lambda c: finetune(c, X, None), ValueError, "y is required for task='classify'"),
    bad("y-rows", lambda c: finetune(c, X, Y[:10]), ValueError, "y has 10 rows but X has 24"),
    bad("y-nan", lambda c: finetune(c, X, np.full(24, np.nan)), ValueError, "y contains NaN"),
    bad("y-continuous", lambda c: finetune(c, X, np.linspace(0, 1, 24)), ValueError, "Unknown label type"),
    bad("y-mixed-types", lambda c: finetune(c, X, np.array(["a", 1] * 12, dtype=object)), TypeError,
        "y mixes labels of different types"),
    bad("y-ragged", lambda c: finetune(c, X, [[0], [1, 2]] + [[0]] * 22), ValueError, "y must be a rectangular"),
    bad("y_val-unseen", lambda c: finetune(c, X, Y, X_val=X[:4], y_val=np.array([0, 1, 2, 0])), ValueError,
        r"y_val holds labels absent from y: \[2\]"),
    bad("X_val-without-y_val", lambda c: finetune(c, X, Y, X_val=X[:4]), ValueError,
        "X_val and y_val must be given together"),
    bad("X_val-width", lambda c: finetune(c, X, Y, X_val=X[:4, :5], y_val=Y[:4]), ValueError, "X_val has 5 features"),
    bad("X-width", lambda c: finetune(c, X[:, :5], Y), ValueError, "X has 5 features"),
    bad("regress-strings", lambda c: finetune(c, X, np.array(["a"] * 24), task="regress"), TypeError,
        "y must hold numbers for regression"),
    bad("regress-1e300", lambda c: finetune(c, X, np.full(24, 1e300), task="regress"), ValueError,
        "y holds values as large as 1e.300 in magnitude, too large for float32"),
    bad("autoencode-with-y", lambda c: finetune(c, X, Y, task="autoencode"), ValueError,
        "y and y_val must be None for task='autoencode'"),
    bad("config=CDConfig", lambda c: finetune(c, config=CDConfig()), TypeError, "config must be a TrainConfig"),
    bad("optimizer=rmsprop", lambda c: finetune(c, optimizer="rmsprop"), ValueError,
        "optimizer must be 'sgd', 'adam' or a callable"),
    bad("validation_fraction=1", lambda c: finetune(c, validation_fraction=1.0), ValueError,
        r"validation_fraction must be in \[0, 1\)"),
    bad("validation_fraction=str", lambda c: finetune(c, validation_fraction="10%"), TypeError,
        "validation_fraction must be a number"),
    bad("patience=0", lambda c: finetune(c, patience=0), ValueError, "patience must be > 0"),
    bad("momentum=1.5", lambda c: finetune(c, momentum=1.5), ValueError, r"momentum must be in \[0, 1\)"),
    bad("lr=0", lambda c: finetune(c, lr=0.0), ValueError, "lr must be > 0"),
    bad("split-too-small", lambda c: finetune(c, X[:4], Y[:4], validation_fraction=0.25), ValueError,
        "validation_fraction=0.25 of the n_samples=4 rows leaves 3 training and 1 validation rows, but a stratified"),
    bad("split-singleton-class", lambda c: finetune(c, X[:5], np.array([0, 0, 0, 0, 1])), ValueError,
        r"every class of y needs at least 2 rows; the smallest class counts are \{1: 1, 0: 4\}"),
    bad("callbacks=function", lambda c: finetune(c, callbacks=print), TypeError, "callbacks must be a sequence"),
    bad("device=tpu", lambda c: finetune(c, device="tpu"), ValueError, "device must name a torch device"),
    bad("seed=a", lambda c: finetune(c, seed="a"), TypeError, "seed must be an integer"),
]


@pytest.mark.parametrize(("call", "error", "match"), DBN_FINETUNE)
def test_dbn_finetune(trained: SimpleNamespace, call: Callable, error: type, match: str) -> None:
    check(call, error, match, trained)


DBN_INFERENCE = [
    bad("predict-width", lambda c: c.tuned.predict(X[:, :5]), ValueError, "X has 5 features"),
    bad("predict-nan", lambda c: c.tuned.predict(np.full((2, 6), np.nan)), ValueError, "X contains NaN"),
    bad("score-width", lambda c: c.tuned.score(X[:, :5], Y), ValueError, "X has 5 features"),
    bad("transform-strings", lambda c: c.tuned.transform(np.full((2, 6), "a")), TypeError, "X must hold real numbers"),
    bad("transform-3d", lambda c: c.pretrained.transform(np.zeros((2, 2, 6))), ValueError, "X must be 2-dimensional"),
    bad("reconstruct-width", lambda c: c.pretrained.reconstruct(X[:, :3]), ValueError, "X has 3 features"),
    bad("sample-n=0", lambda c: c.pretrained.sample(0), ValueError, "n must be > 0"),
    bad("sample-n=1.5", lambda c: c.pretrained.sample(1.5), TypeError, "n must be an integer"),
    bad("sample-gibbs_steps=0", lambda c: c.pretrained.sample(2, gibbs_steps=0), ValueError,
        "gibbs_steps must be > 0"),
    bad("sample-seed=a", lambda c: c.pretrained.sample(2, 1, seed="a"), TypeError, "seed must be an integer"),
    bad("sample-seed=2**70", lambda c: c.pretrained.sample(2, 1, seed=2**70), ValueError, r"seed must be in \[0"),
]


@pytest.mark.parametrize(("call", "error", "match"), DBN_INFERENCE)
def test_dbn_inference(trained: SimpleNamespace, call: Callable, error: type, match: str) -> None:
    check(call, error, match, trained)


def test_state_errors_are_runtime_errors() -> None:
    """Calling a method before the training it needs is a wrong order of calls, not a bad argument."""
    with pytest.raises(RuntimeError, match="needs a pretrained DeepBeliefNet"):
        net().transform(X)
    with pytest.raises(RuntimeError, match="needs a fine-tuned DeepBeliefNet"):
        net().predict(X)


# --------------------------------------------------------------------------- scikit-learn estimators

CPU = {"device": "cpu", "random_state": 0}


def transformer(**options: Any) -> RBMTransformer:
    return RBMTransformer(3, n_iter=1, **{**CPU, **options})


def classifier(**options: Any) -> DBNClassifier:
    return DBNClassifier(**{"hidden_layer_sizes": (4,), "pretrain_epochs": 1, "finetune_epochs": 1, **CPU, **options})


def regressor(**options: Any) -> DBNRegressor:
    return DBNRegressor(**{"hidden_layer_sizes": (4,), "pretrain_epochs": 1, "finetune_epochs": 1, **CPU, **options})


ESTIMATORS = [
    bad("transformer-n_components=0", lambda c: RBMTransformer(0).fit(X), ValueError, "n_components"),
    bad("transformer-visible", lambda c: transformer(visible="poisson").fit(X), ValueError, "visible"),
    bad("transformer-momentum=1.5", lambda c: transformer(momentum=1.5).fit(X), ValueError, "momentum"),
    bad("transformer-batch_size=0", lambda c: transformer(batch_size=0).fit(X), ValueError, "batch_size"),
    bad("transformer-random_state", lambda c: transformer(random_state="a").fit(X), ValueError, "random_state"),
    bad("transformer-device=tpu", lambda c: transformer(device="tpu").fit(X), ValueError, "device"),
    bad("transformer-device=cuda-absent", lambda c: without_cuda(lambda: transformer(device="cuda").fit(X))(),
        ValueError, "device='cuda' was requested, but no CUDA device is available"),
    bad("transformer-negative", lambda c: transformer().fit(X - 1), ValueError, "Negative values in data"),
    bad("transformer-nan", lambda c: transformer().fit(np.full((4, 6), np.nan)), ValueError, "Input X contains NaN"),
    bad("transformer-above-one", lambda c: transformer().fit(X + 1), ValueError, r"X must lie in \[0, 1\]"),
    bad("transformer-transform-width", lambda c: c.transformer.transform(X[:, :5]), ValueError,
        "X has 5 features, but RBMTransformer is expecting 6"),
    bad("classifier-sizes-zero", lambda c: classifier(hidden_layer_sizes=(0,)).fit(X, Y), ValueError,
        r"hidden_layer_sizes\[0\] must be > 0"),
    bad("classifier-sizes-negative", lambda c: classifier(hidden_layer_sizes=(4, -1)).fit(X, Y), ValueError,
        r"hidden_layer_sizes\[1\] must be > 0"),
    bad("classifier-sizes-float", lambda c: classifier(hidden_layer_sizes=(1.5,)).fit(X, Y), TypeError,
        r"hidden_layer_sizes\[0\] must be an integer"),
    bad("classifier-sizes-empty", lambda c: classifier(hidden_layer_sizes=()).fit(X, Y), ValueError,
        "hidden_layer_sizes must list at least 1"),
    bad("classifier-sizes-str", lambda c: classifier(hidden_layer_sizes="a").fit(X, Y), ValueError,
        "hidden_layer_sizes"),
    bad("classifier-optimizer", lambda c: classifier(optimizer="lbfgs").fit(X, Y), ValueError, "optimizer"),
    bad("classifier-validation_fraction=1", lambda c: classifier(validation_fraction=1.0).fit(X, Y), ValueError,
        "validation_fraction"),
    bad("classifier-mixed-labels", lambda c: classifier().fit(X, np.array(["a", 1] * 12, dtype=object)), TypeError,
        "y mixes labels of different types"),
    bad("classifier-continuous", lambda c: classifier().fit(X, np.linspace(0, 1, 24)), ValueError,
        "Unknown label type"),
    bad("classifier-y-nan", lambda c: classifier().fit(X, np.full(24, np.nan)), ValueError, "Input y contains NaN"),
    bad("classifier-rows", lambda c: classifier().fit(X, Y[:10]), ValueError, "inconsistent numbers of samples"),
    bad("classifier-above-one", lambda c: classifier().fit(X + 1, Y), ValueError, r"X must lie in \[0, 1\]"),
    bad("classifier-device=tpu", lambda c: classifier(device="tpu").fit(X, Y), ValueError, "device"),
    bad("classifier-device=cuda-absent", lambda c: without_cuda(lambda: classifier(device="cuda").fit(X, Y))(),
        ValueError, "no CUDA device is available"),
    bad("classifier-predict-width", lambda c: c.classifier.predict(X[:, :5]), ValueError,
        "X has 5 features, but DBNClassifier is expecting 6"),
    bad("regressor-1e300", lambda c: regressor().fit(X, np.full(24, 1e300)), ValueError,
        "y holds values as large as 1e.300 in magnitude, too large for float32"),
    bad("regressor-strings", lambda c: regressor().fit(X, np.array(["a"] * 24)), TypeError,
        "y must hold numbers for regression"),
    bad("regressor-y-nan", lambda c: regressor().fit(X, np.full(24, np.nan)), ValueError, "Input y contains NaN"),
]


@pytest.mark.parametrize(("call", "error", "match"), ESTIMATORS)
def test_estimators(trained: SimpleNamespace, call: Callable, error: type, match: str) -> None:
    check(call, error, match, trained)


# --------------------------------------------------------------------------- init_ and compare_inits


def mlp(*sizes: int) -> nn.Sequential:
    sizes = sizes or (6, 5, 3)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    return nn.Sequential(*layers[:-1])


INIT = [
    bad("scheme=nope", lambda: init_(mlp(), "nope"), ValueError, "unknown initialisation scheme 'nope'"),
    bad("scheme=int", lambda: init_(mlp(), 3), TypeError, "scheme must be the name of an initialisation scheme"),
    bad("scheme=list", lambda: init_(mlp(), ["normal"]), TypeError, "scheme must be the name"),
    bad("module=str", lambda: init_("net", "normal"), TypeError, "module must be a torch.nn.Module"),
    bad("module-without-linear", lambda: init_(nn.ReLU(), "normal"), ValueError, "has no nn.Linear layer"),
    bad("layers-do-not-chain", lambda: init_(nn.Sequential(nn.Linear(6, 5), nn.Linear(4, 3)), "normal"), ValueError,
        "do not chain"),
    bad("activation=swish", lambda: init_(mlp(), "he_normal", activation="swish"), ValueError,
        "unknown activation 'swish'"),
    bad("generator=str", lambda: init_(mlp(), "normal", generator="g"), TypeError,
        "generator must be a torch.Generator"),
    bad("unknown-option", lambda: init_(mlp(), "normal", mean=1.0), TypeError, "got an unknown option"),
    bad("normal-std=-1", lambda: init_(mlp(), "normal", std=-1.0), ValueError, "std must be > 0"),
    bad("uniform-a=0", lambda: init_(mlp(), "uniform", a=0), ValueError, "a must be > 0"),
    bad("constant-value=str", lambda: init_(mlp(), "constant", value="x"), TypeError, "value must be a finite number"),
    bad("xavier-gain=nan", lambda: init_(mlp(), "xavier_uniform", gain=float("nan")), ValueError,
        "gain must be a finite number"),
    bad("lsuv-without-X", lambda: init_(mlp(), "lsuv"), ValueError, "is data-dependent: pass X"),
    bad("lsuv-X-width", lambda: init_(mlp(), "lsuv", X=X[:, :5]), ValueError, "X has 5 features"),
    bad("lsuv-X-nan", lambda: init_(mlp(), "lsuv", X=np.full((4, 6), np.nan)), ValueError, "X contains NaN"),
    bad("lsuv-X-one-row", lambda: init_(mlp(), "lsuv", X=X[:1]), ValueError, "pass 2 rows or more"),
    bad("lsuv-batch_size=0", lambda: init_(mlp(), "lsuv", X=X, batch_size=0), ValueError, "batch_size must be > 0"),
    bad("lsuv-tol=-1", lambda: init_(mlp(), "lsuv", X=X, tol=-1.0), ValueError, "tol must be > 0"),
    bad("lsuv-max_iter=-1", lambda: init_(mlp(), "lsuv", X=X, max_iter=-1), ValueError, "max_iter must be >= 0"),
    bad("lsuv-max_iter=1.5", lambda: init_(mlp(), "lsuv", X=X, max_iter=1.5), TypeError,
        "max_iter must be an integer"),
    bad("dbn-output=nope", lambda: init_(mlp(), "dbn", X=X, output="nope"), ValueError,
        "output must name a scheme that needs no data"),
    bad("dbn-output=lsuv", lambda: init_(mlp(), "dbn", X=X, output="lsuv"), ValueError, "output must name a scheme"),
    bad("dbn-epochs=0", lambda: init_(mlp(), "dbn", X=X, epochs=0), ValueError, "epochs must be > 0"),
    bad("dbn-lr=-1", lambda: init_(mlp(), "dbn", X=X, lr=-1.0), ValueError, "lr must be > 0"),
    bad("dbn-one-layer", lambda: init_(nn.Sequential(nn.Linear(6, 3)), "dbn", X=X), ValueError,
        "needs at least one hidden layer"),
]


@pytest.mark.parametrize(("call", "error", "match"), INIT)
def test_init(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


def compare(**options: Any) -> Any:
    settings = {"hidden": (4,), "schemes": ("dbn",), "seeds": 1, "epochs": 1, "lrs": (0.1,), "batch_size": 8,
                "test_fraction": 0.25, "validation_fraction": 0.25}
    return compare_inits(X, Y, **{**settings, **options})


COMPARE_INITS = [
    bad("hidden=(0,)", lambda: compare(hidden=(0,)), ValueError,
        r"hidden must be a non-empty sequence of positive integers .* got \(0,\)"),
    bad("hidden=()", lambda: compare(hidden=()), ValueError, "hidden must be a non-empty sequence"),
    bad("hidden=(2.5,)", lambda: compare(hidden=(2.5,)), ValueError, "hidden must be a non-empty sequence"),
    bad("activation=swish", lambda: compare(activation="swish"), ValueError, "unknown activation 'swish'"),
    bad("schemes=nope", lambda: compare(schemes=("nope",)), ValueError, "unknown initialisation scheme"),
    bad("seeds=0", lambda: compare(seeds=0), ValueError, "seeds must be a positive int"),
    bad("lrs=-1", lambda: compare(lrs=(-1.0,)), ValueError, "lrs must be a non-empty sequence of positive"),
    bad("epochs=0", lambda: compare(epochs=0), ValueError, "epochs must be > 0"),
    bad("batch_size=1.5", lambda: compare(batch_size=1.5), TypeError, "batch_size must be an integer"),
    bad("test_fraction=1.5", lambda: compare(test_fraction=1.5), ValueError, r"test_fraction must be a number in \(0"),
    bad("validation_fraction=0", lambda: compare(validation_fraction=0), ValueError, "validation_fraction must be"),
    bad("unknown-option", lambda: compare(colour="red"), TypeError, r"unknown compare_inits option\(s\) \['colour'\]"),
    bad("config=str", lambda: compare_inits(X, Y, config="fast"), TypeError, "config must be a CompareConfig"),
    bad("rows", lambda: compare_inits(X, Y[:10]), ValueError, "one label per row in y"),
    bad("X_test-alone", lambda: compare_inits(X, Y, X_test=X), ValueError, "X_test and y_test must be given together"),
    bad("momentum=1.5", lambda: compare(momentum=1.5), ValueError, r"momentum must be in \[0, 1\)"),
    bad("device=tpu", lambda: compare(device="tpu"), ValueError, "device must name a torch device"),
    bad("data_seed=a", lambda: compare(data_seed="a"), TypeError, "data_seed must be an integer"),
    bad("y-float-labels", lambda: compare_inits(X, Y + 0.5, hidden=(4,)), ValueError, "Unknown label type"),
]


@pytest.mark.parametrize(("call", "error", "match"), COMPARE_INITS)
def test_compare_inits(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


# --------------------------------------------------------------------------- loaders


def truncated_idx(directory: Any) -> Any:
    path = directory / "short.idx"
    path.write_bytes(b"\x00\x00")
    return path


LOADERS = [
    bad("load-unknown", lambda tmp: load("cifar"), ValueError, "unknown data set 'cifar'"),
    bad("load-int", lambda tmp: load(5), TypeError, "name must be a data set name"),
    bad("split=val", lambda tmp: load_mnist(tmp, split="val"), ValueError, "split must be one of"),
    bad("split=int", lambda tmp: load_mnist(tmp, split=0), ValueError, "split must be one of"),
    bad("binarize=otsu", lambda tmp: load_mnist(tmp, binarize="otsu"), ValueError, "binarize must be one of"),
    bad("dtype=int32", lambda tmp: load_mnist(tmp, dtype=np.int32), ValueError, "dtype must be a floating type"),
    bad("dtype=str", lambda tmp: load_mnist(tmp, dtype="foo"), TypeError, "dtype must be a NumPy data type"),
    bad("path=int", lambda tmp: load_mnist(5), TypeError, "path must be a str or os.PathLike"),
    bad("path-empty", lambda tmp: load_mnist(tmp), FileNotFoundError, "MNIST files not found"),
    bad("fashion-path-empty", lambda tmp: load_fashion_mnist(tmp), FileNotFoundError, "Fashion-MNIST files not found"),
    bad("fashion-split", lambda tmp: load_fashion_mnist(tmp, split="dev"), ValueError, "split must be one of"),
    bad("random_state=str", lambda tmp: load_mnist(tmp, random_state="x"), TypeError, "random_state must be None"),
    bad("random_state=-1", lambda tmp: load_mnist(tmp, random_state=-1), ValueError, "random_state must be >= 0"),
    bad("mirror=int", lambda tmp: load_mnist(tmp, download=True, mirror=5), TypeError, "mirror must be a base URL"),
    bad("download=yes", lambda tmp: load_mnist(tmp, download="yes"), TypeError, "download must be True or False"),
    bad("checksums=int", lambda tmp: load_mnist(tmp, checksums=5), TypeError, "checksums must be a mapping"),
    bad("read_idx-int", lambda tmp: read_idx(5), TypeError, "path must be a str or os.PathLike"),
    bad("read_idx-missing", lambda tmp: read_idx(tmp / "absent.idx"), FileNotFoundError, "absent.idx"),
    bad("read_idx-truncated", lambda tmp: read_idx(truncated_idx(tmp)), ValueError, "too short for an IDX header"),
    bad("read_idx-ndim=str", lambda tmp: read_idx(tmp / "absent.idx", ndim="3"), TypeError, "ndim must be None or"),
    bad("load_digits-return_X_y", lambda tmp: load_digits(return_X_y="yes"), TypeError,
        "return_X_y must be True or False"),
]


@pytest.mark.parametrize(("call", "error", "match"), LOADERS)
def test_loaders(tmp_path: Any, call: Callable, error: type, match: str) -> None:
    check(call, error, match, tmp_path)


# --------------------------------------------------------------------------- train_network


def linear(n_out: int = 2) -> nn.Module:
    return nn.Linear(6, n_out)


def train(*args: Any, model: nn.Module | None = None, **options: Any) -> Any:
    return train_network(linear() if model is None else model, *(args or (X, Y)), progress=False, **options)


TRAIN_NETWORK = [
    bad("model=str", lambda: train_network("net", X, Y, progress=False), TypeError,
        "model must be a torch.nn.Module"),
    bad("model-without-parameters", lambda: train(model=nn.ReLU()), ValueError, "model has no parameters"),
    bad("loss=hinge", lambda: train(loss="hinge"), ValueError, "loss must be one of"),
    bad("loss=int", lambda: train(loss=5), TypeError, "loss must be one of .* or a callable"),
    bad("classify=yes", lambda: train(classify="yes"), TypeError, "classify must be True or False"),
    bad("y-rows", lambda: train(X, Y[:10]), ValueError, "y has 10 rows but X has 24"),
    bad("y-nan", lambda: train(X, np.full(24, np.nan)), ValueError, "y contains NaN or infinity"),
    bad("y-fractional", lambda: train(X, Y + 0.5), ValueError, "y must hold integer class indices"),
    bad("y-negative", lambda: train(X, Y - 1), ValueError, "y must hold class indices >= 0"),
    bad("y-too-many-classes", lambda: train(X, Y * 5), ValueError, "y holds class index 5 but the model outputs"),
    bad("y-strings", lambda: train(X, np.array(["a"] * 24)), TypeError, "y must hold numbers"),
    bad("y-bool", lambda: train(X, torch.zeros(24, dtype=torch.bool)), TypeError, "y must hold real numbers"),
    bad("y-1e300-mse", lambda: train(X, np.full(24, 1e300), model=linear(1), loss="mse"), ValueError,
        "y holds values as large as 1e.300 in magnitude, too large for torch.float32"),
    bad("y_val-without-X_val", lambda: train(y_val=Y[:4]), ValueError, "y_val was given without X_val"),
    bad("X_val-without-y_val", lambda: train(X_val=X[:4]), ValueError, "y_val is required"),
    bad("X_val-width", lambda: train(X_val=X[:4, :5], y_val=Y[:4]), ValueError, "X_val has 5 features"),
    bad("X-does-not-fit-model", lambda: train(X[:, :5], Y), ValueError, "the model cannot take X of shape"),
    bad("X-1e300", lambda: train(np.full((24, 6), 1e300), Y), ValueError,
        "X holds values as large as 1e.300 in magnitude, too large for torch.float32"),
    bad("X-no-columns", lambda: train(np.zeros((24, 0)), Y), ValueError, "X has no features"),
    bad("split-too-small", lambda: train(X[:3], Y[:3], validation_fraction=0.5), ValueError,
        r"validation_fraction=0.5 .*every class of y needs at least 2 rows"),
    bad("config=CDConfig", lambda: train(config=CDConfig()), TypeError, "config must be a TrainConfig"),
    bad("optimizer=rmsprop", lambda: train(optimizer="rmsprop"), ValueError, "optimizer must be 'sgd', 'adam'"),
    bad("epochs=0", lambda: train(epochs=0), ValueError, "epochs must be > 0"),
    bad("callbacks=function", lambda: train(callbacks=print), TypeError, "callbacks must be a sequence"),
    bad("device=tpu", lambda: train(device="tpu"), ValueError, "device must name a torch device"),
    bad("device=cuda-absent", without_cuda(lambda: train(device="cuda")), ValueError, "no CUDA device is available"),
    bad("seed=a", lambda: train(seed="a"), TypeError, "seed must be an integer"),
    bad("seed=2**70", lambda: train(seed=2**70), ValueError, r"seed must be in \[0, 2\*\*63\)"),
]


@pytest.mark.parametrize(("call", "error", "match"), TRAIN_NETWORK)
def test_train_network(call: Callable, error: type, match: str) -> None:
    check(call, error, match)


CATALOGUE = {
    "RBM constructor": RBM_CONSTRUCTOR,
    "RBM.fit data": RBM_DATA,
    "RBM.fit options": RBM_OPTIONS,
    "RBM inference": RBM_INFERENCE,
    "DeepBeliefNet constructor": DBN_CONSTRUCTOR,
    "DeepBeliefNet.pretrain": DBN_PRETRAIN,
    "DeepBeliefNet.finetune": DBN_FINETUNE,
    "DeepBeliefNet inference": DBN_INFERENCE,
    "estimators": ESTIMATORS,
    "init_": INIT,
    "compare_inits": COMPARE_INITS,
    "loaders": LOADERS,
    "train_network": TRAIN_NETWORK,
}


def test_the_catalogue_is_large_and_its_ids_are_unique() -> None:
    for table in CATALOGUE.values():
        ids = [entry.id for entry in table]
        assert len(ids) == len(set(ids))
    assert sum(map(len, CATALOGUE.values())) >= 120


# --------------------------------------------------------------------------- documented successes


class Batches:
    """A re-iterable of batches: every ``__iter__`` starts afresh."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __iter__(self) -> Any:
        return iter(self.make())


def test_any_re_iterable_of_batches_trains(allow_steps: None) -> None:
    """A list of batches, (data, target) pairs, a DataLoader and a generator function behind ``__iter__``."""
    pairs = DataLoader(list(zip(torch.as_tensor(X), torch.as_tensor(Y), strict=True)), batch_size=8)
    for data in ([X[:12], X[12:]], [(X[:12], Y[:12]), (X[12:], Y[12:])], pairs,
                 Batches(lambda: (torch.as_tensor(X[i:i + 8]) for i in range(0, 24, 8)))):
        rbm = RBM(6, 3).fit(data, epochs=2, progress=False, seed=0)
        assert len(rbm.history_) == 2 and np.isfinite(rbm.history_[-1]["recon_mse"])


def test_a_one_shot_generator_trains_once_listed(allow_steps: None) -> None:
    generator = (torch.as_tensor(X[i:i + 8]) for i in range(0, 24, 8))
    rbm = RBM(6, 3).fit(list(generator), epochs=2, progress=False, seed=0)
    assert len(rbm.history_) == 2


@pytest.mark.parametrize("scale", [1e20, 1e30], ids=["1e20", "1e30"])
def test_gaussian_statistics_of_huge_data_are_computed_in_float64(allow_steps: None, scale: float) -> None:
    data = (GAUSSIAN * scale).astype(np.float32)
    model = gaussian_fit(data, epochs=1, seed=0)
    expected = data.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(model.data_std.double().numpy(), expected, rtol=1e-5)
    assert torch.isfinite(model.data_std).all() and bool((model.data_std > 1).all())  # no column standardised to 0
    features = model.transform(data)
    assert np.isfinite(features).all() and features.std(axis=0).min() > 0


def test_gaussian_statistics_of_batches_of_huge_data(allow_steps: None) -> None:
    data = (GAUSSIAN * 1e20).astype(np.float32)
    model = gaussian_fit([data[:12], data[12:]], epochs=1, seed=0)
    np.testing.assert_allclose(model.data_std.double().numpy(), data.astype(np.float64).std(axis=0), rtol=1e-5)


@pytest.mark.parametrize("seed", [
    pytest.param(0, id="0"),
    pytest.param(np.int64(7), id="numpy-int"),
    pytest.param(2**63 - 1, id="2**63-1"),
])
def test_seeds_at_the_edges_are_accepted(allow_steps: None, seed: Any) -> None:
    assert len(fit(epochs=1, seed=seed).history_) == 1


def test_binary_data_of_any_real_dtype_is_accepted(allow_steps: None) -> None:
    for data in (X > 0.5, (X > 0.5).astype(np.int64), torch.as_tensor(X).double(), X.tolist()):
        assert fit(epochs=1, seed=0).transform(data).shape == (24, 3)


def test_device_auto_is_accepted(allow_steps: None) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert fit(epochs=1, seed=0, device="auto").device.type == expected


def test_string_labels_and_no_validation_split_with_singleton_classes(allow_steps: None) -> None:
    labels = np.array(["cat", "dog", "eel"] * 8)
    model = classifier(validation_fraction=0.0).fit(X[:5], labels[:5])  # "eel" has 1 row: fine without a split
    assert set(model.predict(X[:5])) <= {"cat", "dog", "eel"}


def test_large_but_representable_regression_targets_are_standardised(allow_steps: None) -> None:
    model = regressor(validation_fraction=0.0).fit(X, np.linspace(-1e30, 1e30, 24))
    assert np.isfinite(model.predict(X)).all()


def test_ais_with_one_chain_reports_an_infinite_error() -> None:
    log_z, error = RBM(6, 3).log_partition("ais", n_chains=1, n_betas=10, return_error=True)
    assert np.isfinite(log_z) and error == float("inf")


def test_output_scheme_default_is_accepted_by_dbn(allow_steps: None) -> None:
    model = init_(mlp(), "dbn", X=X, output="default", epochs=1, generator=torch.Generator().manual_seed(0))
    assert all(torch.isfinite(p).all() for p in model.parameters())

