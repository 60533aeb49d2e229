"""
Digits walkthrough
==================

Fit :class:`~sk_softmax.SoftmaxRegressionClassifier` on scikit-learn's digits,
score it, and look at the weights it learned for each class (an 8 x 8 image
per class: red pixels push towards the class, blue ones away from it).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
clf = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1e-3)
clf.fit(scaler.transform(X_train), y_train)
print(f"test accuracy: {clf.score(scaler.transform(X_test), y_test):.3f}")

fig, axes = plt.subplots(2, 5, figsize=(8, 3.6))
for k, ax in enumerate(axes.ravel()):
    ax.imshow(clf.coef_[k].reshape(8, 8), cmap="RdBu_r")
    ax.set_title(f"class {clf.classes_[k]}")
    ax.set_axis_off()
fig.suptitle("coef_ rows: what each class's logit responds to")
fig.tight_layout()
