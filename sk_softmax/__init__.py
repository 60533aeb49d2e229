"""sk_softmax: multinomial logistic (softmax) regression for scikit-learn."""

from ._classifier import SoftmaxRegressionClassifier
from ._display import TrainingCurveDisplay
from ._exceptions import DaskFitError

__version__ = "0.1.0"
__all__ = [
    "DaskFitError",
    "SoftmaxRegressionClassifier",
    "TrainingCurveDisplay",
    "__version__",
]
