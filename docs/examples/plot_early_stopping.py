"""Early stopping keeps the weights of the best validation epoch."""

from sklearn.datasets import load_digits
from sklearn.preprocessing import scale

from sk_softmax import SoftmaxRegressionClassifier, TrainingCurveDisplay

X, y = load_digits(return_X_y=True)
clf = SoftmaxRegressionClassifier(early_stopping=True, random_state=0)
clf.fit(scale(X), y)
disp = TrainingCurveDisplay.from_estimator(clf)
disp.figure_.tight_layout()
