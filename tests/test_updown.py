"""The DBN of Hinton, Osindero & Teh (2006): one up-down step against their Appendix B written out
line by line, greedy pretraining and untying, classification and label-clamped generation on
digits, sequences of images from one label-clamped chain, and the divergence guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from dbn.loop import DivergenceError
from dbn.updown import UpDownDBN, paper_gibbs_schedule, updown_step

LAYERS, N_CLASSES = [6, 5, 4, 7], 3  # vis, hid, pen, top, as in the appendix (with lab)


def random_net(seed: int = 0) -> UpDownDBN:
    """A tiny float64 net with random parameters of order one (untied: every matrix its own)."""
    generator = torch.Generator().manual_seed(seed)
    net = UpDownDBN(LAYERS, N_CLASSES, dtype=torch.float64)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return net


def appendix_b(net: UpDownDBN, data: torch.Tensor, targets: torch.Tensor, r: float, numCDiters: int,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Hinton, Osindero & Teh (2006), Appendix B, line by line (rows are training cases; the updates
    are divided by the number of rows, so that one row is the appendix verbatim). Returns the new
    parameters under the net's names."""
    p = {name: value.detach().clone() for name, value in net.named_parameters()}
    numpen = LAYERS[2]
    vishid, hidrecbiases = p["rec_weight.0"].T, p["rec_bias.0"]
    hidpen, penrecbiases = p["rec_weight.1"].T, p["rec_bias.1"]
    hidvis, visgenbiases = p["gen_weight.0"].T, p["gen_bias.0"]
    penhid, hidgenbiases = p["gen_weight.1"].T, p["gen_bias.1"]
    pentop, labtop = p["top.rbm.weight"][:, :numpen].T, p["top.rbm.weight"][:, numpen:].T
    pengenbiases, labgenbiases = p["top.rbm.visible_bias"][:numpen], p["top.rbm.visible_bias"][numpen:]
    topbiases = p["top.rbm.hidden_bias"]
    n = data.shape[0]

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, dtype=torch.float64)

    logistic = torch.sigmoid
    numhid, numtop = LAYERS[1], LAYERS[3]
    targets = torch.nn.functional.one_hot(targets, N_CLASSES).double()
    # PERFORM A BOTTOM-UP PASS TO GET WAKE/POSITIVE PHASE PROBABILITIES AND SAMPLE STATES
    wakehidprobs = logistic(data @ vishid + hidrecbiases)
    wakehidstates = (wakehidprobs > rand(n, numhid)).double()
    wakepenprobs = logistic(wakehidstates @ hidpen + penrecbiases)
    wakepenstates = (wakepenprobs > rand(n, numpen)).double()
    waketopprobs = logistic(wakepenstates @ pentop + targets @ labtop + topbiases)
    waketopstates = (waketopprobs > rand(n, numtop)).double()
    # POSITIVE PHASE STATISTICS FOR CONTRASTIVE DIVERGENCE
    poslabtopstatistics = targets.T @ waketopstates
    pospentopstatistics = wakepenstates.T @ waketopstates
    # PERFORM numCDiters GIBBS SAMPLING ITERATIONS USING THE TOP LEVEL UNDIRECTED ASSOCIATIVE MEMORY
    negtopstates = waketopstates
    for _ in range(numCDiters):
        negpenprobs = logistic(negtopstates @ pentop.T + pengenbiases)
        negpenstates = (negpenprobs > rand(n, numpen)).double()
        neglabprobs = torch.softmax(negtopstates @ labtop.T + labgenbiases, 1)
        negtopprobs = logistic(negpenstates @ pentop + neglabprobs @ labtop + topbiases)
        negtopstates = (negtopprobs > rand(n, numtop)).double()
    # NEGATIVE PHASE STATISTICS FOR CONTRASTIVE DIVERGENCE
    negpentopstatistics = negpenstates.T @ negtopstates
    neglabtopstatistics = neglabprobs.T @ negtopstates
    # STARTING FROM THE END OF THE GIBBS SAMPLING RUN, PERFORM A TOP-DOWN GENERATIVE PASS
    sleeppenstates = negpenstates
    sleephidprobs = logistic(sleeppenstates @ penhid + hidgenbiases)
    sleephidstates = (sleephidprobs > rand(n, numhid)).double()
    sleepvisprobs = logistic(sleephidstates @ hidvis + visgenbiases)
    # PREDICTIONS
    psleeppenstates = logistic(sleephidstates @ hidpen + penrecbiases)
    psleephidstates = logistic(sleepvisprobs @ vishid + hidrecbiases)
    pvisprobs = logistic(wakehidstates @ hidvis + visgenbiases)
    phidprobs = logistic(wakepenstates @ penhid + hidgenbiases)
    # UPDATES TO GENERATIVE PARAMETERS ("poshidstates" in the appendix: the wake states)
    hidvis = hidvis + r * wakehidstates.T @ (data - pvisprobs) / n
    visgenbiases = visgenbiases + r * (data - pvisprobs).sum(0) / n
    penhid = penhid + r * wakepenstates.T @ (wakehidstates - phidprobs) / n
    hidgenbiases = hidgenbiases + r * (wakehidstates - phidprobs).sum(0) / n
    # UPDATES TO TOP LEVEL ASSOCIATIVE MEMORY PARAMETERS
    labtop = labtop + r * (poslabtopstatistics - neglabtopstatistics) / n
    labgenbiases = labgenbiases + r * (targets - neglabprobs).sum(0) / n
    pentop = pentop + r * (pospentopstatistics - negpentopstatistics) / n
    pengenbiases = pengenbiases + r * (wakepenstates - negpenstates).sum(0) / n
    topbiases = topbiases + r * (waketopstates - negtopstates).sum(0) / n
    # UPDATES TO RECOGNITION/INFERENCE APPROXIMATION PARAMETERS
    hidpen = hidpen + r * sleephidstates.T @ (sleeppenstates - psleeppenstates) / n
    penrecbiases = penrecbiases + r * (sleeppenstates - psleeppenstates).sum(0) / n
    vishid = vishid + r * sleepvisprobs.T @ (sleephidstates - psleephidstates) / n
    hidrecbiases = hidrecbiases + r * (sleephidstates - psleephidstates).sum(0) / n
    return {
        "rec_weight.0": vishid.T, "rec_bias.0": hidrecbiases, "rec_weight.1": hidpen.T, "rec_bias.1": penrecbiases,
        "gen_weight.0": hidvis.T, "gen_bias.0": visgenbiases, "gen_weight.1": penhid.T, "gen_bias.1": hidgenbiases,
        "top.rbm.weight": torch.cat([pentop.T, labtop.T], 1),
        "top.rbm.visible_bias": torch.cat([pengenbiases, labgenbiases]), "top.rbm.hidden_bias": topbiases,
    }


@pytest.mark.parametrize(("n_rows", "k"), [(1, 1), (1, 3), (8, 2)])
def test_one_updown_step_moves_every_parameter_as_appendix_b(n_rows, k):
    data_generator = torch.Generator().manual_seed(5)
    data = torch.rand(n_rows, LAYERS[0], generator=data_generator, dtype=torch.float64)
    targets = torch.randint(N_CLASSES, (n_rows,), generator=data_generator)
    net, r = random_net(), 0.3
    expected = appendix_b(net, data, targets, r, k, torch.Generator().manual_seed(11))
    before = {name: value.detach().clone() for name, value in net.named_parameters()}
    updown_step(net, data, targets, lr=r, k=k, generator=torch.Generator().manual_seed(11))
    for name, parameter in net.named_parameters():
        torch.testing.assert_close(parameter.detach(), expected[name], rtol=1e-12, atol=1e-12, msg=name)
    moved = [name for name, parameter in net.named_parameters() if not torch.equal(parameter, before[name])]
    assert len(moved) >= 9  # (a weight whose presynaptic states were all 0 in the one row stays put)


def test_finetune_with_plain_sgd_takes_the_appendix_b_steps():
    # one epoch of one minibatch with momentum 0: the optimiser's step is updown_step's
    data_generator = torch.Generator().manual_seed(2)
    data = torch.rand(6, LAYERS[0], generator=data_generator, dtype=torch.float64)
    targets = torch.randint(N_CLASSES, (6,), generator=data_generator)
    tuned, stepped = random_net(), random_net()
    tuned.finetune(data, targets, epochs=1, lr=0.2, batch_size=6, k=2, seed=4, progress=False)
    generator = torch.Generator().manual_seed(4)
    order = torch.randperm(6, generator=generator)  # the epoch's shuffle comes first
    updown_step(stepped, data[order], targets[order], lr=0.2, k=2, generator=generator)
    for (name, a), b in zip(tuned.named_parameters(), stepped.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)
    assert tuned.finetune_history_[0]["k"] == 2 and len(tuned.finetune_history_) == 1


def test_the_papers_gibbs_schedule():
    assert [paper_gibbs_schedule(epoch) for epoch in (0, 99, 100, 199, 200, 299)] == [3, 3, 6, 6, 10, 10]


@pytest.fixture(scope="module")
def digits_net(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    net = UpDownDBN([64, 100, 100, 200], 10)
    net.pretrain(X_train, y_train, epochs=20, lr=0.1, batch_size=20, seed=0, progress=False)
    greedy = net.score(X_test, y_test)
    net.finetune(X_train, y_train, epochs=10, lr=0.01, batch_size=20, k=3, seed=1, progress=False)
    return net, greedy, (X_test, y_test)


def test_pretraining_unties_the_rbms_and_both_models_classify_digits(digits_net):
    net, greedy, (X_test, y_test) = digits_net
    assert greedy > 0.9 and net.score(X_test, y_test) > 0.9  # chance: 0.1
    assert [len(history) for history in net.pretrain_history_] == [20, 20, 20]
    assert len(net.finetune_history_) == 10
    # fine-tuning moved the two directions apart: recognition and generative weights are untied
    assert not torch.allclose(net.rec_weight[0], net.gen_weight[0].t())
    proba = net.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)


def test_pretraining_starts_the_directed_weights_at_the_rbms(digits):
    X, y = digits
    net = UpDownDBN([64, 16, 16, 32], 10).pretrain(X[:200], y[:200], epochs=2, seed=0, progress=False)
    for recognition, generative in zip(net.rec_weight, net.gen_weight, strict=True):
        torch.testing.assert_close(recognition, generative.t(), rtol=0, atol=0)


def test_samples_generated_with_a_clamped_label_are_recognised_as_that_label(digits, digits_net):
    net = digits_net[0]
    X, y = digits
    judge = LogisticRegression(max_iter=2000).fit(X, y)  # trained on the real digits
    labels = np.repeat(np.arange(10), 20)
    samples = net.sample(labels, gibbs_steps=200, seed=0)
    assert samples.shape == (200, 64) and float(samples.min()) >= 0 and float(samples.max()) <= 1
    assert (judge.predict(samples.numpy()) == labels).mean() > 0.5  # chance: 0.1


def sequence_net() -> UpDownDBN:
    """A random net wide enough (16 and 12 hidden units) that two images of a moving chain differ."""
    generator = torch.Generator().manual_seed(3)
    net = UpDownDBN([20, 16, 12, 24], N_CLASSES, dtype=torch.float64)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return net


def test_a_sequence_shows_one_moving_chain_and_starts_with_what_sample_generates():
    net = sequence_net()
    sequence = net.sample_sequence(1, n_images=6, steps_between=4, seed=0)
    assert sequence.shape == (6, 20) and float(sequence.min()) >= 0 and float(sequence.max()) <= 1
    assert torch.equal(sequence, net.sample_sequence(1, n_images=6, steps_between=4, seed=0))
    assert not torch.equal(sequence, net.sample_sequence(1, n_images=6, steps_between=4, seed=1))
    assert all(not torch.equal(before, after) for before, after in zip(sequence[:-1], sequence[1:], strict=True))
    # the same generator and chain: the first image is sample()'s after as many Gibbs steps
    assert torch.equal(sequence[0], net.sample([1], gibbs_steps=4, seed=0)[0])
    # the chain continues between images: a longer sequence begins with the shorter one
    assert torch.equal(net.sample_sequence(1, n_images=9, steps_between=4, seed=0)[:6], sequence)
    chains = net.sample_sequence([0, 1, 2], n_images=3, steps_between=4, seed=5)
    assert chains.shape == (3, 3, 20)
    assert torch.equal(chains[:, 0], net.sample([0, 1, 2], gibbs_steps=4, seed=5))
    with pytest.raises(ValueError, match="n_images"):
        net.sample_sequence(1, n_images=0)
    with pytest.raises(ValueError, match="steps_between"):
        net.sample_sequence(1, steps_between=0)


def test_the_images_a_label_clamped_chain_shows_are_recognised_as_that_label(digits, digits_net):
    net = digits_net[0]
    X, y = digits
    judge = LogisticRegression(max_iter=2000).fit(X, y)
    sequences = net.sample_sequence(np.arange(10), n_images=5, steps_between=100, seed=0)
    assert sequences.shape == (10, 5, 64)
    predicted = judge.predict(sequences.reshape(50, 64).numpy()).reshape(10, 5)
    assert (predicted == np.arange(10)[:, None]).mean() > 0.5  # chance: 0.1


def test_a_diverging_finetune_stops_and_restores_the_last_good_parameters(digits):
    X, y = digits
    net = UpDownDBN([64, 16, 16, 32], 10).pretrain(X[:300], y[:300], epochs=2, seed=0, progress=False)
    before = {name: value.detach().clone() for name, value in net.state_dict().items()}
    with pytest.raises(DivergenceError, match="diverged in epoch 1 at lr=1e\\+06"):
        net.finetune(X[:300], y[:300], epochs=2, lr=1e6, seed=0, progress=False)
    for name, value in net.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert net.finetune_history_ == []


def test_invalid_arguments_are_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="at least 3 sizes"):
        UpDownDBN([64, 10], 10)
    net = UpDownDBN([64, 8, 8], 10)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        net.pretrain(X * 16, y, progress=False)
    with pytest.raises(ValueError, match="epochs lists 3 values but there are 2 RBMs"):
        net.pretrain(X, y, epochs=[1, 2, 3], progress=False)
    with pytest.raises(ValueError, match=r"class indices in \[0, 10\)"):
        net.sample([10])
