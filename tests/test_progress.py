"""Progress bars of the long non-training passes: sampling from an RBM or a deep belief net."""

from __future__ import annotations

from dbn import RBM, DeepBeliefNet
from dbn.datasets import load_digits


def test_sampling_shows_a_bar_over_the_gibbs_steps_only_when_asked(capsys):
    X, _ = load_digits()
    rbm = RBM(64, 8).fit(X[:200], epochs=1, progress=False, seed=0)
    net = DeepBeliefNet([64, 8, 4], epochs=1).pretrain(X[:200], progress=False, seed=0)
    capsys.readouterr()
    rbm.sample(3, 5)
    net.sample(3, gibbs_steps=5, seed=0)
    assert capsys.readouterr().err == ""
    assert rbm.sample(3, 5, progress=True).shape == (3, 64)
    assert "Gibbs, 3 chains" in capsys.readouterr().err
    assert net.sample(3, gibbs_steps=5, seed=0, progress=True).shape == (3, 64)
    assert "Gibbs, 3 chains" in capsys.readouterr().err


def test_pretraining_shows_the_propagation_of_large_data(capsys):
    X, _ = load_digits()
    rows = X[[i % len(X) for i in range(9000)]]  # more than one chunk of 4096 rows
    DeepBeliefNet([64, 4, 2], epochs=1, batch_size=1000).pretrain(rows, progress=True, seed=0)
    assert "propagating 9000 rows up RBM 64-4" in capsys.readouterr().err
    DeepBeliefNet([64, 4, 2], epochs=1, batch_size=1000).pretrain(rows, progress=False, seed=0)
    assert capsys.readouterr().err == ""
