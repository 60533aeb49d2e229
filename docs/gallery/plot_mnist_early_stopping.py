"""
Early stopping on MNIST
=======================

SGD with ``early_stopping=True`` holds out 10% of the training set, scores
its log-loss after every epoch, lowers the rate and then decays it to zero as
that score stops improving, and keeps the weights of the best epoch. The
figure shows the training loss and the validation log-loss per epoch.

MNIST (the four standard IDX ``.gz`` files) is never downloaded. It is found
as by the demo and the benchmarks: in ``$SK_SOFTMAX_MNIST_DIR``, else in
``../shared/data/mnist`` beside the checkout. Where it is in neither, the
example prints so and runs on scikit-learn's digits instead, and its figure
says "digits".
"""

# %%
# Load MNIST
# ----------
# ``default_mnist_dir`` and ``load_mnist`` are the helpers the demo
# (``python -m sk_softmax --dataset mnist``) and the benchmarks use; they are
# not part of the API.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sk_softmax import SoftmaxRegressionClassifier, TrainingCurveDisplay
from sk_softmax._datasets import default_mnist_dir, load_mnist

try:
    mnist_dir = default_mnist_dir()
    if mnist_dir is None:
        raise FileNotFoundError(
            "no SK_SOFTMAX_MNIST_DIR, no ../shared/data/mnist"
        )
    X, y, X_test, y_test = load_mnist(mnist_dir)
    name = "MNIST"
except FileNotFoundError as exc:
    print(
        "MNIST NOT FOUND: set SK_SOFTMAX_MNIST_DIR or put the four IDX .gz\n"
        "files in ../shared/data/mnist beside the checkout. This run shows\n"
        f"scikit-learn's digits instead.\n({exc})"
    )
    X, y = load_digits(return_X_y=True)
    X, X_test, y, y_test = train_test_split(
        X / 16.0, y, random_state=0, stratify=y
    )
    name = "digits (MNIST not found)"
print(f"{name}: {X.shape[0]} training, {X_test.shape[0]} test images")

# %%
# Fit with early stopping
# -----------------------
# The test set is never seen in training: the validation split comes out of
# the training set.
clf = SoftmaxRegressionClassifier(early_stopping=True, random_state=0)
clf.fit(X, y)
best = int(np.argmax(clf.validation_scores_)) + 1
test_accuracy = clf.score(X_test, y_test)
print(f"epochs run: {clf.n_iter_}, weights kept: epoch {best}")
print(f"best validation log-loss: {-clf.best_validation_score_:.4f}")
print(f"test accuracy: {test_accuracy:.4f}")

# %%
# The curves
# ----------
# The training loss (left axis) and the validation log-loss (right axis) per
# epoch; the dashed line marks the epoch whose weights the model kept. The
# loss drops in steps where the default ``learning_rate="auto"`` divides the
# rate by 5 after an epoch without a better validation score; it ends with a
# short linear decay to zero.
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
TrainingCurveDisplay.from_estimator(clf, ax=ax)
title = f"{name}: early stopping keeps the best epoch"
ax.set_title(f"{title}\n(test accuracy {test_accuracy:.4f})")
plt.show()
