"""Training curves on MNIST with early stopping (digits when MNIST is absent)."""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from sk_softmax import SoftmaxRegressionClassifier, TrainingCurveDisplay
from sk_softmax._datasets import default_mnist_dir, load_mnist

data_dir = default_mnist_dir()
if data_dir is not None and data_dir.is_dir():
    X, y, X_test, y_test = load_mnist(data_dir)
    name = "MNIST"
else:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_test, y_test, name = X, y, "digits (MNIST not found)"
clf = SoftmaxRegressionClassifier(early_stopping=True, max_iter=60, random_state=0)
clf.fit(X, y)
print(
    f"{name}: {clf.n_iter_} epochs, best epoch kept, test accuracy "
    f"{clf.score(X_test, y_test):.4f}"
)
fig, ax = plt.subplots()
TrainingCurveDisplay.from_estimator(clf, ax=ax)
ax.set_title(f"{name}: early stopping restores the best epoch")
plt.tight_layout()
