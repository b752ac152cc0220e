"""RBM features for digit classification with scikit-learn, then a deep belief network classifier.

scikit-learn's RBM example, redone side by side: the 8x8 digits, each image also shifted by one
pixel in the four directions (five times the data), grey levels scaled to [0, 1], and a Pipeline
of an RBM (100 hidden units, learning rate 0.06, 10 epochs, minibatches of 10) and a logistic
regression (C=6000). The RBM is scikit-learn's ``BernoulliRBM`` (persistent CD-1, plain SGD) in
one pipeline and ``dbn.sklearn.RBMTransformer`` (CD-1 with momentum 0.5, then 0.9) in the other;
both see the same float32 data and the same split. A ``DBNClassifier`` (two pretrained layers
of 256 units, fine-tuned end to end) is then fitted on the same split. The script prints each
model's test accuracy and fit time; the pipelines also print the time of each step.

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


digits = sklearn.datasets.load_digits()
X = shifted_digits(digits.images / 16.0).reshape(-1, 64).astype(np.float32)
y = np.tile(digits.target, 5)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)
print(f"digits shifted 5 ways: {len(X_train)} training and {len(X_test)} test images of 64 pixels")

models = {
    "BernoulliRBM + logistic regression": Pipeline(
        [("rbm", BernoulliRBM(**RBM_SETTINGS)), ("logistic", clone(LOGISTIC))], verbose=True
    ),
    "RBMTransformer + logistic regression": Pipeline(
        [("rbm", RBMTransformer(**RBM_SETTINGS)), ("logistic", clone(LOGISTIC))], verbose=True
    ),
    "DBNClassifier 64-256-256-10": DBN,
}
for name, model in models.items():
    started = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    print(f"{name:38s} test accuracy {model.score(X_test, y_test):.4f}   fit {seconds:6.1f} s")
print(f"(RBMTransformer and DBNClassifier ran on {models['RBMTransformer + logistic regression']['rbm'].rbm_.device})")
