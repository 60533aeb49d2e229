"""sk_softmax: multinomial logistic (softmax) regression for scikit-learn."""

from ._classifier import SoftmaxRegressionClassifier
from ._display import TrainingCurveDisplay

__version__ = "0.1.0"
__all__ = ["SoftmaxRegressionClassifier", "TrainingCurveDisplay", "__version__"]
