"""The supervised training loop: convergence, early stopping, determinism and input checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dbn.targets import split_rows
from dbn.training import LOSSES, BestEpoch, evaluate, train_network


def blobs(n=300, seed=0):
    """Three well separated Gaussian blobs in 5 dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(0, 4, (3, 5))
    X = (centres[y] + rng.normal(0, 1, (n, 5))).astype(np.float32)
    return X, y


def make_model(n_in=5, n_out=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 16), nn.Sigmoid(), nn.Linear(16, n_out))


def test_classification_learns_and_records_history():
    X, y = blobs()
    model = make_model()
    history = train_network(model, X, y, epochs=20, lr=0.1, validation_fraction=0.2, progress=False, seed=0)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(record["val_accuracy"] for record in history) > 0.95
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "seconds", "lr", "best"}
    assert sum(record["best"] for record in history) == 1


def test_restores_the_weights_of_the_best_validation_epoch():
    X, y = blobs()
    X_val, y_val = blobs(100, seed=1)
    model = make_model()
    # a large learning rate makes the validation loss move up and down
    history = train_network(
        model, X, y, epochs=15, lr=2.0, X_val=X_val, y_val=y_val, patience=None, progress=False, seed=0
    )
    best = min(record["val_loss"] for record in history)
    loss, _ = evaluate(model, torch.as_tensor(X_val), torch.as_tensor(y_val), LOSSES["cross_entropy"])
    assert float(loss) == pytest.approx(best, rel=1e-5)
    assert [r["best"] for r in history].index(True) == [r["val_loss"] for r in history].index(best)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    X, y = blobs()
    X_val, y_val = blobs(100, seed=1)
    history = train_network(
        make_model(), X, y, epochs=200, lr=0.5, X_val=X_val, y_val=y_val, patience=3, progress=False, seed=0
    )
    losses = [record["val_loss"] for record in history]
    best = int(np.argmin(losses))
    assert len(history) < 200
    assert len(history) - 1 - best == 3


def test_falls_smaller_than_min_delta_do_not_reset_the_patience_but_still_keep_the_lowest_loss():
    model = nn.Linear(1, 1)
    stopping = BestEpoch(patience=3, min_delta=0.01)
    losses = [1.0, 0.5, 0.498, 0.496, 0.494]  # after 0.5, falls of 0.002 an epoch: under min_delta
    stops = [stopping(model, {"val_loss": loss}) for loss in losses]
    assert stops == [False, False, False, False, True]
    assert stopping.best_index == 4  # the lowest loss is kept all the same
    plain = BestEpoch(patience=3)
    assert not any(plain(model, {"val_loss": loss}) for loss in losses)
    # the fall is measured from the loss at the last reset: a slide of 0.004 an epoch adds up
    sliding = BestEpoch(patience=3, min_delta=0.01)
    assert not any(sliding(model, {"val_loss": 1.0 - 0.004 * epoch}) for epoch in range(20))


def test_the_early_stopping_state_round_trips_and_old_states_resume_with_the_best_loss_as_the_bar():
    model = nn.Linear(1, 1)
    stopping = BestEpoch(patience=3, min_delta=0.01)
    for loss in (1.0, 0.5, 0.498):
        stopping(model, {"val_loss": loss})
    resumed = BestEpoch(patience=3, min_delta=0.01)
    resumed.load_state(stopping.state())
    assert (resumed.bar, resumed.waited, resumed.best_loss) == (0.5, 1, 0.498)
    old = {key: value for key, value in stopping.state().items() if key != "bar"}  # a checkpoint of before min_delta
    resumed = BestEpoch(patience=3)
    resumed.load_state(old)
    assert resumed.bar == 0.498


def test_min_delta_is_checked():
    with pytest.raises(ValueError, match="min_delta"):
        train_network(make_model(), *blobs(), min_delta=-1.0, progress=False)


def test_same_seed_gives_the_same_weights():
    X, y = blobs()
    first, second = make_model(), make_model()
    for model in (first, second):
        train_network(model, X, y, epochs=3, validation_fraction=0.2, progress=False, seed=7)
    for a, b in zip(first.parameters(), second.parameters(), strict=False):
        assert torch.equal(a, b)


def test_split_is_stratified():
    y = torch.as_tensor(np.repeat([0, 1, 2], [100, 50, 50]))
    train, val = split_rows(200, y, 0.2, stratify=True, seed=0)
    assert len(val) == 40 and len(set(train.tolist()) | set(val.tolist())) == 200
    assert np.bincount(y[val].numpy()).tolist() == [20, 10, 10]


def test_weight_decay_shrinks_weights_but_not_biases():
    X, _ = blobs(50)
    y = np.zeros((50, 3), dtype=np.float32)
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    zero_loss = lambda output, target: output.sum() * 0.0  # noqa: E731 - only the decay moves the parameters
    train_network(model, X, y, loss=zero_loss, epochs=1, lr=0.1, momentum=0.0, weight_decay=0.1, progress=False, seed=0)
    for old, new in zip(before, model.parameters(), strict=False):
        if new.ndim > 1:
            assert torch.linalg.vector_norm(new) < torch.linalg.vector_norm(old)
        else:
            assert torch.equal(old, new)


@pytest.mark.parametrize("optimizer", ["adam", lambda groups: torch.optim.RMSprop(groups, lr=1e-2)])
def test_other_optimizers(optimizer):
    X, y = blobs()
    history = train_network(make_model(), X, y, epochs=5, optimizer=optimizer, progress=False, seed=0)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "squared_error"])
def test_autoencoder_losses(loss):
    X = (blobs()[0] > 0).astype(np.float32)
    model = nn.Sequential(nn.Linear(5, 3), nn.Sigmoid(), nn.Linear(3, 5))
    history = train_network(model, X, X, loss=loss, epochs=10, lr=0.05, progress=False, seed=0)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[0]["val_loss"] is None and history[-1]["best"]


def test_regression_accepts_one_dimensional_targets():
    X, _ = blobs()
    target = X @ np.arange(5, dtype=np.float32)
    model = nn.Sequential(nn.Linear(5, 1))
    history = train_network(model, X, target, loss="mse", epochs=20, lr=1e-3, progress=False, seed=0)
    assert history[-1]["train_loss"] < 0.1 * history[0]["train_loss"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"y": np.zeros(12, dtype=int)}, ValueError, "y has 12 rows but X has 300"),
        ({"y": np.full(300, np.nan), "loss": "mse"}, ValueError, "y contains NaN"),
        ({"y": np.full(300, 0.5)}, ValueError, "integer class indices"),
        ({"y": np.full(300, 3)}, ValueError, "class index 3 but the model outputs"),
        ({"y": np.zeros((300, 2)), "loss": "mse"}, ValueError, "outputs shape"),
        ({"loss": "hinge"}, ValueError, "loss must be one of"),
        ({"optimizer": "lbfgs"}, ValueError, "optimizer must be"),
        ({"epochs": 0}, ValueError, "epochs must be > 0"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"y_val": np.zeros(3, dtype=int)}, ValueError, "y_val was given without X_val"),
        ({"X": np.zeros((300, 4), dtype=np.float32)}, ValueError, "cannot take X"),
    ],
)
def test_bad_input_raises_before_training(kwargs, error, message):
    X, y = blobs()
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    arguments = {"X": X, "y": y, **kwargs}
    with pytest.raises(error, match=message):
        train_network(model, arguments.pop("X"), arguments.pop("y"), progress=False, **arguments)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=False))


def test_divergence_is_reported():
    X, _ = blobs()
    with pytest.raises(ValueError, match="lower lr"):
        train_network(nn.Linear(5, 1), X, X.sum(1), loss="mse", epochs=20, lr=10.0, progress=False, seed=0)


def test_callbacks_see_every_epoch_and_can_stop_training():
    X, y = blobs()
    seen = []

    def record(model, record):
        seen.append((isinstance(model, nn.Module), record["epoch"]))

    history = train_network(make_model(), X, y, epochs=4, lr=0.1, progress=False, seed=0, callbacks=[record])
    assert seen == [(True, 1), (True, 2), (True, 3), (True, 4)] and len(history) == 4
    stopped = train_network(
        make_model(),
        X,
        y,
        epochs=50,
        lr=0.1,
        progress=False,
        seed=0,
        callbacks=[record, lambda model, record: record["epoch"] == 3],
    )
    assert len(stopped) == 3 and stopped[-1]["best"]


def test_a_callable_loss_can_keep_integer_class_targets():
    X, y = blobs()
    seen = []

    def smoothed(output, target):
        seen.append(target.dtype)
        return torch.nn.functional.cross_entropy(output, target, label_smoothing=0.1)

    history = train_network(
        make_model(),
        X,
        y,
        loss=smoothed,
        classify=True,
        epochs=10,
        lr=0.1,
        validation_fraction=0.2,
        progress=False,
        seed=0,
    )
    assert set(seen) == {torch.int64}
    assert history[-1]["val_accuracy"] > 0.95
    with pytest.raises(ValueError, match="integer class indices"):
        train_network(make_model(), X, np.full(300, 0.5), loss=smoothed, classify=True, progress=False)


def test_outputs_with_a_middle_dimension_are_scored_per_row_and_class():
    """Outputs (rows, models, classes): the accuracy averages over the models."""
    X, y = blobs()
    model = make_model()

    class Twice(nn.Module):  # a model and its negation side by side
        def forward(self, x):
            z = model(x)
            return torch.stack([z, -z], 1)

    def loss(output, target):
        return F.cross_entropy(output[:, 0], target)

    train_network(model, X, y, epochs=10, lr=0.1, progress=False, seed=0)
    _, accuracy = evaluate(Twice(), torch.as_tensor(X), torch.as_tensor(y), loss, accuracy=True)
    _, alone = evaluate(model, torch.as_tensor(X), torch.as_tensor(y), F.cross_entropy, accuracy=True)
    negated = float((model(torch.as_tensor(X)).argmin(1) == torch.as_tensor(y)).double().mean())
    assert float(accuracy) == pytest.approx((float(alone) + negated) / 2)


def test_the_shape_check_leaves_batch_norm_statistics_and_mode_alone():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    seen = []

    def snapshot(net, record):
        seen.append(net[1].num_batches_tracked.item())

    train_network(
        model,
        X,
        y,
        epochs=1,
        batch_size=20,
        lr=0.01,
        validation_fraction=0.0,
        progress=False,
        seed=0,
        callbacks=[snapshot],
    )
    assert seen == [2]  # the two minibatches, not the check's single row
