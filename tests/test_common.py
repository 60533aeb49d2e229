"""scikit-learn's estimator checks over every solver configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_softmax import SoftmaxRegressionClassifier

CONFIGURATIONS = [
    SoftmaxRegressionClassifier(solver="lbfgs"),
    SoftmaxRegressionClassifier(solver="cg"),
    SoftmaxRegressionClassifier(solver="lbfgs", l1_ratio=1.0),
    SoftmaxRegressionClassifier(solver="lbfgs", l1_ratio=0.5),
    SoftmaxRegressionClassifier(solver="sgd", l1_ratio=1.0),
    SoftmaxRegressionClassifier(solver="sgd", l1_ratio=0.5),
    SoftmaxRegressionClassifier(solver="sgd"),
    SoftmaxRegressionClassifier(solver="sgd", early_stopping=True),
    SoftmaxRegressionClassifier(solver="sgd", learning_rate="linear"),
    SoftmaxRegressionClassifier(solver="sgd", learning_rate="auto"),
    SoftmaxRegressionClassifier(solver="sgd", average=True),
    # pinned to the host: no array API support tag, every other check applies
    SoftmaxRegressionClassifier(solver="lbfgs", backend="numpy"),
]


@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
