"""
Grid search over alpha and solver
=================================

The estimator in a :class:`~sklearn.pipeline.Pipeline` after a
:class:`~sklearn.preprocessing.StandardScaler`, tuned with
:class:`~sklearn.model_selection.GridSearchCV` over the penalty ``alpha`` and
the solver: every solver reaches about the same accuracy for a given
``alpha``.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier

X, y = load_digits(return_X_y=True)
alphas = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
solvers = ["sgd", "lbfgs"]
grid = GridSearchCV(
    make_pipeline(
        StandardScaler(), SoftmaxRegressionClassifier(random_state=0, max_iter=300)
    ),
    {
        "softmaxregressionclassifier__alpha": alphas,
        "softmaxregressionclassifier__solver": solvers,
    },
    cv=3,
)
grid.fit(X, y)
print("best:", grid.best_params_, f"{grid.best_score_:.3f}")
scores = grid.cv_results_["mean_test_score"].reshape(len(alphas), len(solvers))
fig, ax = plt.subplots()
for j, solver in enumerate(solvers):
    ax.semilogx(alphas, scores[:, j], "-o", label=solver)
ax.set_xlabel("alpha")
ax.set_ylabel("mean CV accuracy")
ax.legend()
ax.set_title("GridSearchCV over alpha and solver")
plt.tight_layout()
