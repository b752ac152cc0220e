"""DeepBeliefNet: greedy pretraining, exact unrolling, fine-tuning, generation, save/load, resume."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from dbn.datasets import load_digits
from dbn.rbm import RBM
from dbn.stack import DeepBeliefNet


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def pretrained(digits):
    X_train = digits[0]
    return DeepBeliefNet([64, 48, 32], epochs=3).pretrain(X_train, progress=False, seed=0)


@pytest.fixture(scope="module")
def classifier(digits):
    X_train, _, y_train, _ = digits
    net = DeepBeliefNet([64, 128, 128], epochs=20)
    net.pretrain(X_train, progress=False, seed=0)
    return net.finetune(X_train, y_train, epochs=50, lr=0.1, progress=False, seed=0)


@torch.no_grad()
def upward(net, X):
    """The upward pass written with the RBMs' public inference methods."""
    H = torch.as_tensor(X)
    for rbm in net.rbms:
        H = rbm.hidden_probs(H)
    return H


# ------------------------------------------------------------------ construction


def test_structure_and_unit_types():
    net = DeepBeliefNet(
        [10, 8, 6, 4], visible="gaussian", hidden=["relu", "bernoulli", "gaussian"], lr=[0.01, 0.1, 0.001]
    )
    assert [(rbm.n_visible, rbm.n_hidden) for rbm in net.rbms] == [(10, 8), (8, 6), (6, 4)]
    assert [rbm.visible.name for rbm in net.rbms] == ["gaussian", "gaussian", "bernoulli"]
    assert [rbm.hidden.name for rbm in net.rbms] == ["relu", "bernoulli", "gaussian"]
    assert isinstance(net.rbms, torch.nn.ModuleList)
    assert DeepBeliefNet(np.array([10, 8])).layers == [10, 8]
    assert {"rbms.0.weight", "rbms.2.hidden_bias", "n_trained"} <= set(net.state_dict())


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([784],), {}, ValueError, "layers must list at least 2 sizes"),
        ((784,), {}, ValueError, "layers must list at least 2 sizes"),
        (([784, 0],), {}, ValueError, r"layers\[1\] must be > 0"),
        (([784, 2.5],), {}, TypeError, r"layers\[1\] must be an integer"),
        (([4, 3, 2],), {"hidden": ["bernoulli"]}, ValueError, "hidden lists 1 unit types but layers defines 2 RBMs"),
        (([4, 3, 2],), {"hidden": "softmax"}, ValueError, "hidden must be one of"),
        (([4, 3],), {"learning_rate": 0.1}, TypeError, "unknown CDConfig option"),
        (([4, 3, 2],), {"lr": [0.1]}, ValueError, "lr lists 1 values but there are 2 RBMs"),
    ],
)
def test_bad_construction(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        DeepBeliefNet(*args, **kwargs)


def test_bad_input_raises_before_any_training(digits):
    X_train = digits[0]
    net = DeepBeliefNet([64, 8])
    with pytest.raises(ValueError, match="X has 63 features, but the model expects 64"):
        net.pretrain(X_train[:, :63], progress=False)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        net.pretrain(X_train * 16, progress=False)
    with pytest.raises(ValueError, match="propagate"):
        net.pretrain(X_train, propagate="max", progress=False)
    assert int(net.n_trained) == 0 and net.rbms[0].history_ == []
    with pytest.raises(RuntimeError, match="call pretrain"):
        net.finetune(X_train, np.zeros(len(X_train)))


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.zeros(10), "y has 10 rows but X has 12"),
        (np.r_[np.zeros(11), np.nan], "y contains NaN"),
        (np.linspace(0, 1, 12), "Unknown label type"),
    ],
)
def test_bad_labels_raise_before_fine_tuning(pretrained, y, message):
    X = np.random.default_rng(0).random((12, 64), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        pretrained.finetune(X, y, progress=False)
    assert not hasattr(pretrained, "mlp_")


def test_other_fine_tuning_errors(pretrained):
    X = np.random.default_rng(0).random((12, 64), dtype=np.float32)
    with pytest.raises(ValueError, match="task must be one of"):
        pretrained.finetune(X, np.zeros(12), task="cluster")
    with pytest.raises(ValueError, match="y and y_val must be None"):
        pretrained.finetune(X, np.zeros(12), task="autoencode")
    with pytest.raises(ValueError, match="y is required"):
        pretrained.finetune(X, task="regress")
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        pretrained.finetune(X, np.arange(12) % 2, X_val=X, progress=False)
    with pytest.raises(RuntimeError, match="call finetune"):
        DeepBeliefNet([64, 8]).predict(X)


# ------------------------------------------------------------------ pretraining and resume


def test_pretraining_trains_every_layer_on_the_layer_below(pretrained, digits):
    assert int(pretrained.n_trained) == 2
    assert [len(history) for history in pretrained.pretrain_history_] == [3, 3]
    # the second RBM's data statistics are those of the first RBM's hidden means
    H = pretrained.rbms[0].hidden_probs(torch.as_tensor(digits[0]))
    assert torch.allclose(pretrained.rbms[1].data_mean, H.mean(0), atol=1e-5)


def test_sampled_propagation_differs_from_mean_field(digits):
    X_train = digits[0][:300]
    mean = DeepBeliefNet([64, 16, 8], epochs=2).pretrain(X_train, progress=False, seed=0)
    sampled = DeepBeliefNet([64, 16, 8], epochs=2).pretrain(X_train, propagate="sample", progress=False, seed=0)
    assert torch.equal(mean.rbms[0].weight, sampled.rbms[0].weight)
    assert not torch.equal(mean.rbms[1].weight, sampled.rbms[1].weight)
    assert set(sampled.rbms[1].data_mean.mul(300).round().unique().tolist()) <= set(range(301))  # binary data


class Interrupt:
    """A callback that stops the run (as Ctrl-C would) in the first epoch of RBM number ``at``."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, rbm, record):
        self.calls += record["epoch"] == 1
        if self.calls == self.at + 1:
            raise KeyboardInterrupt


def test_resume_after_an_interruption_gives_the_same_layers(digits, tmp_path):
    X_train = digits[0][:400]
    options = {"epochs": [2, 3, 2], "lr": 0.05}
    reference = DeepBeliefNet([64, 24, 16, 8], **options).pretrain(X_train, progress=False, seed=3)

    path = tmp_path / "stack.pt"
    net = DeepBeliefNet([64, 24, 16, 8], **options)
    with pytest.raises(KeyboardInterrupt):
        net.pretrain(X_train, checkpoint=path, callbacks=[Interrupt(at=2)], progress=False, seed=3)
    assert int(net.n_trained) == 2
    resumed = DeepBeliefNet.load(path)
    assert int(resumed.n_trained) == 2 and resumed.rbms[2].history_ == []
    assert [len(history) for history in resumed.pretrain_history_] == [2, 3, 0]
    resumed.pretrain(X_train, checkpoint=path, progress=False, seed=3)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert DeepBeliefNet.load(path).n_trained == 3  # saved after the last layer too


def test_pretrain_skips_trained_layers_unless_told_to_restart(pretrained, digits):
    before = {key: value.clone() for key, value in pretrained.state_dict().items()}
    pretrained.pretrain(digits[0], progress=False, seed=1)
    assert all(torch.equal(before[key], value) for key, value in pretrained.state_dict().items())
    fresh = DeepBeliefNet([64, 48, 32], epochs=1).pretrain(digits[0][:100], progress=False, seed=1)
    weight = fresh.rbms[1].weight.clone()
    fresh.pretrain(digits[0][:100], resume=False, epochs=1, progress=False, seed=2)
    assert not torch.equal(weight, fresh.rbms[1].weight)


# ------------------------------------------------------------------ unrolling


def test_to_mlp_reproduces_transform(pretrained, digits):
    X_test = digits[1]
    mlp = pretrained.to_mlp()
    assert all(isinstance(m, (torch.nn.Linear, torch.nn.Sigmoid)) for m in mlp)
    features = pretrained.transform(X_test)
    assert isinstance(features, np.ndarray) and features.shape == (len(X_test), 32)
    with torch.no_grad():
        unrolled = mlp(torch.as_tensor(X_test)).numpy()
    np.testing.assert_allclose(unrolled, features, atol=1e-6, rtol=0)
    np.testing.assert_allclose(features, upward(pretrained, X_test).numpy(), atol=1e-6, rtol=0)
    with_output = pretrained.to_mlp(10)
    assert isinstance(with_output[-1], torch.nn.Linear) and with_output[-1].out_features == 10
    assert mlp[0].weight.data_ptr() != pretrained.rbms[0].weight.data_ptr()


def test_to_mlp_folds_the_gaussian_standardisation(digits):
    X = digits[0][:300] * 16 - 5  # real-valued, far from zero mean and unit variance
    net = DeepBeliefNet(
        [64, 16, 12, 6], visible="gaussian", hidden=["relu", "bernoulli", "gaussian"], epochs=2, lr=0.01
    )
    net.pretrain(X, progress=False, seed=0)
    assert float(net.rbms[0].data_std.min()) < 1 < float(net.rbms[0].data_std.max())
    with torch.no_grad():
        unrolled = net.to_mlp()(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(unrolled, net.transform(X), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(net.transform(X), upward(net, X).numpy(), atol=1e-6, rtol=1e-6)


def test_to_autoencoder_is_the_mean_field_up_down_pass(pretrained, digits):
    X_test = digits[1]
    autoencoder = pretrained.to_autoencoder()
    with torch.no_grad():
        code = autoencoder.encoder(torch.as_tensor(X_test)).numpy()
        recreated = torch.sigmoid(autoencoder(torch.as_tensor(X_test))).numpy()
    np.testing.assert_allclose(code, pretrained.transform(X_test), atol=1e-6, rtol=0)
    down = torch.as_tensor(pretrained.transform(X_test))
    for rbm in reversed(pretrained.rbms):
        down = rbm.visible_probs(down)
    np.testing.assert_allclose(recreated, down.detach().numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(pretrained.reconstruct(X_test), recreated, atol=1e-6, rtol=0)
    # untied: the decoder owns its weights
    decoder_first = autoencoder.decoder[0].weight
    assert torch.equal(decoder_first, pretrained.rbms[-1].weight.T)
    shared = {p.data_ptr() for p in autoencoder.encoder.parameters()} | {p.data_ptr() for p in pretrained.parameters()}
    assert not shared & {p.data_ptr() for p in autoencoder.decoder.parameters()}


# ------------------------------------------------------------------ fine-tuning


def test_fine_tuned_classifier_is_accurate_on_held_out_digits(classifier, digits):
    _, X_test, _, y_test = digits
    assert classifier.score(X_test, y_test) >= 0.95
    proba = classifier.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    assert np.array_equal(classifier.classes_[proba.argmax(1)], classifier.predict(X_test))
    assert classifier.finetune_history_[0]["val_accuracy"] is not None


def test_fine_tuning_keeps_the_rbms(classifier):
    assert not torch.equal(classifier.mlp_[0].weight, classifier.rbms[0].weight)


def test_string_labels_and_tensor_input(pretrained, digits):
    X_train, X_test, y_train, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    net = DeepBeliefNet([64, 48, 32], epochs=3).pretrain(X_train, progress=False, seed=0)
    net.finetune(torch.as_tensor(X_train), names[y_train], epochs=3, progress=False, seed=0)
    predicted = net.predict(torch.as_tensor(X_test))
    assert set(predicted) <= set(names)
    assert isinstance(net.predict_proba(torch.as_tensor(X_test)), torch.Tensor)


def test_regression_and_autoencoding(digits):
    X_train, X_test, y_train, y_test = digits
    net = DeepBeliefNet([64, 48, 32], epochs=3).pretrain(X_train, progress=False, seed=0)
    net.finetune(X_train, y_train.astype(float), task="regress", epochs=30, lr=0.01, progress=False, seed=0)
    assert net.predict(X_test).shape == (len(X_test),)
    assert net.score(X_test, y_test) > 0.5
    before = float(((net.reconstruct(X_test) - X_test) ** 2).sum(1).mean())
    net.finetune(X_train, task="autoencode", epochs=20, lr=0.1, progress=False, seed=0)
    after = -net.score(X_test)
    assert after < before
    assert net.predict(X_test).shape == X_test.shape
    with pytest.raises(RuntimeError, match="not defined"):
        net.predict_proba(X_test)


def test_gaussian_code_layer_autoencoder(digits):
    X_train, X_test = digits[0][:400], digits[1]
    net = DeepBeliefNet([64, 32, 6], hidden=["bernoulli", "gaussian"], epochs=3, lr=[0.1, 0.001])
    net.pretrain(X_train, progress=False, seed=0)
    code = net.transform(X_test)
    assert (code < 0).any() or (code > 1).any()  # linear code units
    net.finetune(X_train, task="autoencode", epochs=5, lr=0.01, progress=False, seed=0)
    recreated = net.reconstruct(X_test)
    assert recreated.shape == X_test.shape and 0 <= recreated.min() and recreated.max() <= 1


# ------------------------------------------------------------------ generation


def test_samples_have_the_right_shape_and_range(pretrained):
    samples = pretrained.sample(7, gibbs_steps=20, seed=0)
    assert samples.shape == (7, 64)
    assert 0 <= float(samples.min()) and float(samples.max()) <= 1
    assert torch.equal(samples, pretrained.sample(7, gibbs_steps=20, seed=0))
    assert not torch.equal(samples, pretrained.sample(7, gibbs_steps=20, seed=1))
    with pytest.raises(ValueError, match="gibbs_steps must be > 0"):
        pretrained.sample(3, gibbs_steps=0)


def test_gaussian_samples_are_in_data_units(digits):
    X = digits[0][:300] * 10 + 100
    net = DeepBeliefNet([64, 16], visible="gaussian", epochs=2, lr=0.01).pretrain(X, progress=False, seed=0)
    samples = net.sample(50, gibbs_steps=5, seed=0)
    assert abs(float(samples.mean()) - X.mean()) < 3 * X.std()


# ------------------------------------------------------------------ persistence


def test_save_load_round_trip_gives_identical_predictions(classifier, digits, tmp_path):
    X_test = digits[1]
    path = tmp_path / "net.pt"
    classifier.save(path)
    loaded = DeepBeliefNet.load(path)
    assert loaded.config() == classifier.config()
    np.testing.assert_array_equal(loaded.predict_proba(X_test), classifier.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.predict(X_test), classifier.predict(X_test))
    np.testing.assert_array_equal(loaded.transform(X_test), classifier.transform(X_test))
    assert loaded.finetune_history_ == classifier.finetune_history_
    assert loaded.pretrain_history_ == classifier.pretrain_history_


def test_save_load_of_an_autoencoder(pretrained, digits, tmp_path):
    X_train, X_test = digits[0][:200], digits[1]
    net = DeepBeliefNet([64, 48, 32])
    net.load_state_dict(pretrained.state_dict())
    net.finetune(X_train, task="autoencode", epochs=2, progress=False, seed=0)
    net.save(tmp_path / "ae.pt")
    np.testing.assert_array_equal(DeepBeliefNet.load(tmp_path / "ae.pt").reconstruct(X_test), net.reconstruct(X_test))


def test_loading_a_bad_file_gives_a_clear_error(pretrained, tmp_path):
    path = tmp_path / "net.pt"
    pretrained.save(path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.pt is a truncated dbn checkpoint"):
        DeepBeliefNet.load(truncated)
    RBM(4, 3).save(tmp_path / "rbm.pt")
    with pytest.raises(ValueError, match="not a 'DeepBeliefNet'"):
        DeepBeliefNet.load(tmp_path / "rbm.pt")
    with pytest.raises(FileNotFoundError):
        DeepBeliefNet.load(tmp_path / "missing.pt")
