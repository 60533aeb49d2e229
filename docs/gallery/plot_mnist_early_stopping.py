"""
Early stopping on MNIST
=======================

SGD with ``early_stopping=True`` holds out 10% of the training set, scores it
after every epoch, stops once it no longer improves and keeps the weights of
the best epoch. The figure shows the training loss and the validation
accuracy per epoch.

MNIST (the four standard IDX ``.gz`` files) is read from the directory named
by ``SK_SOFTMAX_MNIST_DIR``, or from a ``shared/data/mnist`` directory beside
the project; nothing is downloaded. Where MNIST is absent the example says so
and runs on scikit-learn's digits instead.
"""

import gzip
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sk_softmax import SoftmaxRegressionClassifier, TrainingCurveDisplay


def read_idx(path):
    """An IDX file (gzip) as a NumPy array: images scaled to [0, 1]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    n_dims = data[3]
    shape = np.frombuffer(data, ">u4", count=n_dims, offset=4)
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * n_dims).reshape(shape)
    if values.ndim == 1:
        return values.astype(np.int64)
    return values.reshape(len(values), -1).astype(np.float32) / 255


def find_mnist():
    candidates = [os.environ.get("SK_SOFTMAX_MNIST_DIR")]
    candidates += [p / "shared" / "data" / "mnist" for p in Path.cwd().parents]
    for directory in candidates:
        if directory and (Path(directory) / "train-images-idx3-ubyte.gz").is_file():
            return Path(directory)
    return None


mnist = find_mnist()
if mnist is not None:
    X, y, X_test, y_test = (
        read_idx(mnist / f"{part}-ubyte.gz")
        for part in (
            "train-images-idx3",
            "train-labels-idx1",
            "t10k-images-idx3",
            "t10k-labels-idx1",
        )
    )
    name = "MNIST"
else:
    print("MNIST not found (set SK_SOFTMAX_MNIST_DIR): this run shows digits.")
    X, y = load_digits(return_X_y=True)
    X, X_test, y, y_test = train_test_split(X / 16.0, y, random_state=0, stratify=y)
    name = "digits (MNIST not found)"

# %%
# Fit with early stopping, then score on the test set (never seen in training).
clf = SoftmaxRegressionClassifier(early_stopping=True, random_state=0)
clf.fit(X, y)
best = int(np.argmax(clf.validation_scores_)) + 1
print(
    f"{name}: {X.shape[0]} training samples, {clf.n_iter_} epochs, weights of "
    f"epoch {best} kept; test accuracy {clf.score(X_test, y_test):.4f}"
)

fig, ax = plt.subplots()
TrainingCurveDisplay.from_estimator(clf, ax=ax)
ax.set_title(f"{name}: early stopping keeps the best epoch")
plt.tight_layout()
