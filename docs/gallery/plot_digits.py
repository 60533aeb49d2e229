"""
Digits walkthrough
==================

Fit :class:`~sk_softmax.SoftmaxRegressionClassifier` on scikit-learn's digits,
score it on images it has not seen, and look at the weight it learned for each
pixel and class.
"""

# %%
# Fit and score
# -------------
# The 8 x 8 images are standardised with the training set's pixel means and
# spreads; a stratified quarter of the images is held out for the test.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, random_state=0, stratify=y
)
scaler = StandardScaler().fit(X_train)
clf = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1e-3)
clf.fit(scaler.transform(X_train), y_train)
accuracy = clf.score(scaler.transform(X_test), y_test)
print(f"test accuracy: {accuracy:.3f}")

# %%
# The weights of each class
# -------------------------
# Row ``k`` of ``coef_`` holds the weight of each (standardised) pixel in the
# logit of class ``k``. The colour scale is centred at zero and the same for
# every class: a red pixel brighter than usual pushes an image towards the
# class, a blue one away from it, and a white pixel does not matter.
limit = np.abs(clf.coef_).max()
fig, axes = plt.subplots(2, 5, figsize=(8, 4), layout="constrained")
for k, ax in enumerate(axes.ravel()):
    image = ax.imshow(
        clf.coef_[k].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    ax.set_title(f"class {clf.classes_[k]}")
    ax.set_axis_off()
fig.colorbar(image, ax=axes, shrink=0.8, label="weight (0: white)")
fig.suptitle("coef_: each class's weight on each pixel")
plt.show()
