"""RBM features for digit classification with scikit-learn, then a deep belief network classifier.

scikit-learn's RBM example, redone side by side: the 8x8 digits, each image also shifted by one
pixel in the four directions (five times the data), grey levels scaled to [0, 1], and a Pipeline
of an RBM (100 hidden units, learning rate 0.06, 10 epochs, minibatches of 10) and a logistic
regression (C=6000). The RBM is scikit-learn's ``BernoulliRBM`` (persistent CD-1, plain SGD) in
the first pipeline; ``dbn.sklearn.RBMTransformer`` takes its place, with the same settings, in
the next two: trained by BernoulliRBM's rule (``persistent=True, momentum=0.0``), then by its
own defaults (CD-1 with momentum 0.5, then 0.9). All see the same float32 data and the same
split. A ``DBNClassifier`` (two pretrained layers of 256 units, fine-tuned end to end) is then
fitted on the same split. The script prints each model's test accuracy and fit time (the
pipelines also the time of each step), then reads the fitted RBMs with BernoulliRBM's
attributes and methods, which both estimators have.

Usage::

    python examples/sklearn_pipeline.py
"""

import time

import numpy as np
import sklearn.datasets
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline

from dbn.sklearn import DBNClassifier, RBMTransformer

RBM_SETTINGS = {"n_components": 100, "learning_rate": 0.06, "n_iter": 10, "batch_size": 10, "random_state": 0}
LOGISTIC = LogisticRegression(C=6000.0, max_iter=1000)
DBN = DBNClassifier(hidden_layer_sizes=(256, 256), pretrain_epochs=10, finetune_epochs=50, random_state=0)
TEST_SIZE, SEED = 0.2, 0


def shifted_digits(images: np.ndarray) -> np.ndarray:
    """The images, then the same images moved one pixel up, down, left and right (zeros fill in)."""
    up, down, left, right = (np.zeros_like(images) for _ in range(4))
    up[:, :-1], down[:, 1:] = images[:, 1:], images[:, :-1]
    left[:, :, :-1], right[:, :, 1:] = images[:, :, 1:], images[:, :, :-1]
    return np.concatenate([images, up, down, left, right])


def rbm_pipeline(rbm: BernoulliRBM | RBMTransformer) -> Pipeline:
    return Pipeline([("rbm", rbm), ("logistic", clone(LOGISTIC))], verbose=True)


digits = sklearn.datasets.load_digits()
X = shifted_digits(digits.images / 16.0).reshape(-1, 64).astype(np.float32)
y = np.tile(digits.target, 5)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)
print(f"digits shifted 5 ways: {len(X_train)} training and {len(X_test)} test images of 64 pixels")

models = {
    "BernoulliRBM": rbm_pipeline(BernoulliRBM(**RBM_SETTINGS)),
    "RBMTransformer, PCD-1 without momentum": rbm_pipeline(
        RBMTransformer(**RBM_SETTINGS, persistent=True, momentum=0.0)
    ),
    "RBMTransformer, defaults": rbm_pipeline(RBMTransformer(**RBM_SETTINGS)),
    "DBNClassifier 64-256-256-10": DBN,
}
for name, model in models.items():
    started = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    print(f"{name:40s} test accuracy {model.score(X_test, y_test):.4f}   fit {seconds:6.1f} s")
print(f"(RBMTransformer and DBNClassifier ran on {models['RBMTransformer, defaults']['rbm'].rbm_.device})")

# The same code reads either RBM: BernoulliRBM's fitted attributes, a Gibbs step, the pseudo-likelihood.
for name in ("BernoulliRBM", "RBMTransformer, PCD-1 without momentum"):
    rbm = models[name]["rbm"]
    fantasies = rbm.gibbs(X_test[:100])
    print(
        f"{name:40s} components_ {rbm.components_.shape}, intercept_hidden_ {rbm.intercept_hidden_.shape}, "
        f"intercept_visible_ {rbm.intercept_visible_.shape}, h_samples_ {rbm.h_samples_.shape}; "
        f"gibbs: {fantasies.dtype} {fantasies.shape}, {fantasies.mean():.3f} on; "
        f"test pseudo-likelihood {rbm.score_samples(X_test).mean():.2f}"
    )
