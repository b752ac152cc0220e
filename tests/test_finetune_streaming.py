"""Fine-tuning and ``train_network`` from a DataLoader: batches streamed one at a time, checked as they
come, with the in-memory path's results where the two can be compared."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

import dbn.streams
from dbn import DeepBeliefNet
from dbn.training import train_network

N_TRAIN = 1500
LETTERS = np.array(list("abcdefghij"))


class Interrupted(Exception):
    """Raised by a callback to stop a run the way a crash would."""


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def pretrained(digits) -> DeepBeliefNet:
    return DeepBeliefNet([64, 32]).pretrain(digits[0][:N_TRAIN], epochs=2, progress=False, seed=0)


@pytest.fixture
def net(pretrained) -> DeepBeliefNet:
    return copy.deepcopy(pretrained)


class Rows(Dataset):
    """Rows of ``X`` with their labels (any type, strings too); counts the rows read."""

    def __init__(self, X: np.ndarray, y: np.ndarray | None = None) -> None:
        self.X, self.y, self.reads = torch.as_tensor(X), y, 0

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, index: int):
        self.reads += 1
        return self.X[index] if self.y is None else (self.X[index], self.y[index])


class InMemoryOrder(Sampler):
    """The in-memory path's minibatches: a permutation per epoch from a generator seeded with ``seed``."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, torch.Generator().manual_seed(seed)

    def __iter__(self):
        yield from (rows.tolist() for rows in torch.randperm(self.n, generator=self.generator).split(self.batch_size))

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


class Batches:
    """A re-iterable of fixed batches; ``passes`` lists the batches of each successive pass, if given."""

    def __init__(self, batches: list, passes: list[list] | None = None) -> None:
        self.batches, self.passes, self.done = batches, passes, 0

    def __iter__(self):
        batches = self.batches if self.passes is None else self.passes[min(self.done, len(self.passes) - 1)]
        self.done += 1
        return iter(batches)


def shuffled(dataset: Dataset, batch_size: int = 100) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))


def test_finetune_from_a_loader_is_as_accurate_as_in_memory_with_string_labels(digits, pretrained):
    X, y = digits
    labels = LETTERS[y]
    settings = {"epochs": 12, "progress": False, "seed": 0}
    streamed = copy.deepcopy(pretrained).finetune(shuffled(Rows(X[:N_TRAIN], labels[:N_TRAIN])), **settings)
    whole = copy.deepcopy(pretrained).finetune(X[:N_TRAIN], labels[:N_TRAIN], validation_fraction=0.0, **settings)
    held_out = streamed.score(X[N_TRAIN:], labels[N_TRAIN:]), whole.score(X[N_TRAIN:], labels[N_TRAIN:])
    assert min(held_out) > 0.85 and abs(held_out[0] - held_out[1]) < 0.06
    assert streamed.classes_.tolist() == list("abcdefghij") and streamed.classes_.dtype == whole.classes_.dtype
    assert set(streamed.predict(X[N_TRAIN:])) <= set("abcdefghij")
    # the stream was not split: every epoch trained on all its rows, and the stored configuration says so
    assert streamed.finetune_config_.validation_fraction == 0.0
    assert all(record["val_loss"] is None for record in streamed.finetune_history_)


def test_a_loader_in_the_in_memory_order_trains_bit_identically(digits, net):
    X, y = digits[0][:600], digits[1][:600]
    # autoencoding reads the loader only for its epochs, so the sampler's permutations are the in-memory path's
    whole = copy.deepcopy(net).finetune(X, task="autoencode", epochs=3, batch_size=50, validation_fraction=0.0,
                                        lr=0.1, progress=False, seed=4)
    loader = DataLoader(TensorDataset(torch.as_tensor(X)), batch_sampler=InMemoryOrder(600, 50, seed=4))
    streamed = net.finetune(loader, task="autoencode", epochs=3, lr=0.1, progress=False, seed=4)
    for a, b in zip(whole.mlp_.state_dict().values(), streamed.mlp_.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [r["train_loss"] for r in whole.finetune_history_] == [r["train_loss"] for r in streamed.finetune_history_]
    # train_network with integer classes: no label pass either
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    twin = copy.deepcopy(model)
    train_network(model, X, y, epochs=2, batch_size=50, progress=False, seed=9)
    pairs = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_sampler=InMemoryOrder(600, 50, 9))
    train_network(twin, pairs, epochs=2, progress=False, seed=9)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True))


def test_rows_are_read_per_epoch_and_never_held_whole(digits, net):
    X, y = digits[0][:500], digits[1][:500]
    rows = Rows(X, y)
    seen: list[int] = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Linear):
            seen.append(inputs[0].shape[0])

    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        net.finetune(shuffled(rows, batch_size=50), epochs=3, lr=0.1, progress=False, seed=0)
    finally:
        handle.remove()
    assert rows.reads == 4 * 500  # one pass for the classes, then one per epoch
    assert seen and max(seen) <= 50  # no forward pass over more rows than a batch
    assert len(net.finetune_history_) == 3 and np.isfinite(net.finetune_history_[-1]["train_loss"])


def test_autoencode_from_plain_tensors_and_regress_from_pairs(digits, net):
    X, y = digits[0][:N_TRAIN], digits[1][:N_TRAIN].astype(np.float32)
    autoencoder = copy.deepcopy(net).finetune(shuffled(Rows(X)), task="autoencode", epochs=3, progress=False, seed=0)
    losses = [record["train_loss"] for record in autoencoder.finetune_history_]
    assert losses[-1] < losses[0] and autoencoder.reconstruct(X[:5]).shape == (5, 64)
    regressor = copy.deepcopy(net).finetune(shuffled(Rows(X, y / 9)), task="regress", epochs=10, progress=False, seed=0)
    assert regressor.predict(X[:7]).shape == (7,) and regressor.score(X, y / 9) > 0.5
    two = np.stack([y / 9, 1 - y / 9], axis=1).astype(np.float32)
    wide = copy.deepcopy(net).finetune(shuffled(Rows(X, two)), task="regress", epochs=2, progress=False, seed=0)
    assert wide.predict(X[:7]).shape == (7, 2) and wide.mlp_[-1].out_features == 2


def test_early_stopping_on_in_memory_validation_data(digits, net):
    X, y = digits
    loader = shuffled(TensorDataset(torch.as_tensor(X[:400]), torch.as_tensor(y[:400])))
    net.finetune(loader, X_val=X[N_TRAIN:], y_val=y[N_TRAIN:], epochs=40, lr=2.0, patience=3, progress=False, seed=0)
    history = net.finetune_history_
    val = [record["val_loss"] for record in history]
    assert all(v is not None for v in val) and all(r["val_accuracy"] is not None for r in history)
    best = [index for index, record in enumerate(history) if record["best"]]
    assert best == [int(np.argmin(val))]
    assert len(history) < 40 and len(history) - 1 - best[0] == 3  # stopped after 3 epochs without improvement
    kept = net.score(X[N_TRAIN:], y[N_TRAIN:])
    assert kept == pytest.approx(history[best[0]]["val_accuracy"])
    with pytest.raises(ValueError, match="validation_fraction=0.2 cannot hold out rows of a stream"):
        net.finetune(loader, validation_fraction=0.2, progress=False)


def test_an_interrupted_streamed_finetuning_resumes(digits, net, tmp_path):
    X, y = digits[0][:300], digits[1][:300]
    loader = shuffled(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)))

    def crash(model, record):
        if record["epoch"] == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        net.finetune(loader, epochs=5, lr=0.5, checkpoint=tmp_path / "ft.pt", callbacks=[crash], progress=False,
                     seed=1)
    resumed = DeepBeliefNet.load(tmp_path / "ft.pt")
    assert len(resumed.finetune_state_["history"]) == 2 and resumed.finetune_state_["data"] is None
    resumed.finetune(loader, progress=False)
    assert [record["epoch"] for record in resumed.finetune_history_] == [1, 2, 3, 4, 5]
    assert resumed.finetune_state_ is None and resumed.score(X, y) > 0.5


def bad_batches(X: np.ndarray, y: np.ndarray, index: int, bad: np.ndarray) -> Batches:
    batches = [(torch.as_tensor(X[i:i + 50]), torch.as_tensor(y[i:i + 50])) for i in range(0, 200, 50)]
    batches[index] = (torch.as_tensor(bad), batches[index][1])
    return Batches(batches)


def test_bad_streams_are_refused_naming_the_batch(digits, net):
    X, y = digits[0][:200], digits[1][:200]
    pairs = shuffled(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)))
    options = {"epochs": 1, "progress": False, "seed": 0}
    with pytest.raises(TypeError, match="X is a one-shot iterator"):
        net.finetune((torch.as_tensor(X[i:i + 50]), torch.as_tensor(y[i:i + 50])) for i in range(0, 200, 50))
    with pytest.raises(TypeError, match=r"X is a Dataset \(TensorDataset\) of single rows: wrap it in"):
        net.finetune(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), **options)
    with pytest.raises(ValueError, match="y must be None when X is a stream of batches"):
        net.finetune(pairs, y, **options)
    with pytest.raises(ValueError, match=r"X \(batch 2\) has 63 features, but the model expects 64"):
        net.finetune(bad_batches(X, y, 2, X[100:150, :63]), **options)
    nan = X[150:200].copy()
    nan[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"X \(batch 3\) contains NaN or infinity"):
        net.finetune(bad_batches(X, y, 3, nan), **options)
    with pytest.raises(ValueError, match=r"X \(batch 1\) must lie in \[0, 1\]"):
        net.finetune(bad_batches(X, y, 1, X[50:100] * 16), **options)
    with pytest.raises(ValueError, match=r"y_val holds labels absent from the labels of the training batches: \[10\]"):
        net.finetune(pairs, X_val=X[:3], y_val=np.array([0, 1, 10]), **options)
    with pytest.raises(TypeError, match=r"X \(batch 0\) is a Tensor, not an \(inputs, targets\) pair"):
        net.finetune(shuffled(Rows(X)), task="regress", **options)
    changing = Batches([], passes=[[(torch.as_tensor(X[:50]), ["a"] * 50)], [(torch.as_tensor(X[:50]), ["b"] * 50)]])
    with pytest.raises(ValueError, match=r"y \(batch 0\) holds labels absent from the first pass over X .*\['b'\]"):
        net.finetune(changing, **options)
    assert not hasattr(net, "mlp_")  # nothing failed half-way into a fine-tuned network


def test_train_network_on_a_loader_with_a_plain_sequential(digits, monkeypatch):
    X, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    loader = shuffled(TensorDataset(torch.as_tensor(X[:N_TRAIN]), torch.as_tensor(y[:N_TRAIN])))
    history = train_network(model, loader, X_val=X[N_TRAIN:], y_val=y[N_TRAIN:], epochs=8, lr=0.1, progress=False,
                            seed=0)
    assert len(history) == 8 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(record["val_accuracy"] for record in history) > 0.85
    # plain tensors are their own targets: an autoencoder
    autoencoder = nn.Sequential(nn.Linear(64, 16), nn.Sigmoid(), nn.Linear(16, 64))
    history = train_network(autoencoder, shuffled(Rows(X)), loss="binary_cross_entropy", epochs=2, progress=False)
    assert len(history) == 2 and np.isfinite(history[-1]["train_loss"])
    with pytest.raises(ValueError, match=r"holds class index 10 but the model outputs \(10,\) logits"):
        train_network(model, shuffled(TensorDataset(torch.as_tensor(X[:200]), torch.as_tensor(y[:200] + 1))),
                      epochs=1, progress=False)
    with pytest.raises(ValueError, match="y must be None when X is a stream"):
        train_network(model, loader, y, progress=False)
    monkeypatch.setattr(dbn.streams, "is_distributed", lambda: True)  # as under torchrun
    with pytest.raises(ValueError, match="not supported in a distributed run: pass in-memory arrays"):
        train_network(model, loader, progress=False)
