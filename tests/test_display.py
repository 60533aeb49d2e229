"""TrainingCurveDisplay renders for fitted models, with and without early stopping."""

import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import scale

from sk_softmax import SoftmaxRegressionClassifier, TrainingCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return scale(X), y


@pytest.mark.parametrize("early_stopping", [False, True])
def test_display_renders_png(digits, tmp_path, early_stopping):
    import matplotlib.pyplot as plt

    X, y = digits
    clf = SoftmaxRegressionClassifier(
        early_stopping=early_stopping, max_iter=15, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    disp = TrainingCurveDisplay.from_estimator(clf)
    path = tmp_path / "curve.png"
    disp.figure_.savefig(path)
    plt.close(disp.figure_)
    assert path.stat().st_size > 5_000
    np.testing.assert_array_equal(disp.ax_.lines[0].get_ydata(), clf.loss_curve_)
    if early_stopping:
        assert disp.best_epoch_ == int(np.argmax(clf.validation_scores_)) + 1
        assert disp.ax_validation_ is not None
    else:
        assert disp.best_epoch_ is None and disp.ax_validation_ is None


def test_display_on_given_axes(digits):
    import matplotlib.pyplot as plt

    X, y = digits
    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(max_iter=3, random_state=0).fit(X, y)
    disp = TrainingCurveDisplay.from_estimator(clf, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    plt.close(fig)


def test_display_needs_sgd_model(digits):
    X, y = digits
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="solver='sgd'"):
        TrainingCurveDisplay.from_estimator(clf)


def test_display_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        TrainingCurveDisplay([1.0, 0.5]).plot()


@pytest.mark.parametrize("layout", [None, "constrained"])
def test_display_legend_sits_under_the_axis_label(layout):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(layout=layout)
    disp = TrainingCurveDisplay([0.9, 0.5, 0.4], [0.8, 0.9, 0.85]).plot(ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    label = ax.xaxis.label.get_window_extent(renderer)
    assert legend.y1 <= label.y0  # below the x label: the curves stay clear
    assert legend.y1 <= disp.ax_validation_.get_window_extent(renderer).y0
    assert ax.yaxis.label.get_color() != disp.ax_validation_.yaxis.label.get_color()
    plt.close(fig)


@pytest.mark.parametrize(
    "scoring, label",
    [("loss", "validation log-loss"), ("accuracy", "validation accuracy")],
)
def test_display_shows_what_early_stopping_scored(digits, scoring, label):
    import matplotlib.pyplot as plt

    X, y = digits
    clf = SoftmaxRegressionClassifier(
        early_stopping=True, scoring=scoring, max_iter=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # what the fit scored, whatever scoring says now
    clf.set_params(scoring="accuracy" if scoring == "loss" else "loss")
    disp = TrainingCurveDisplay.from_estimator(clf)
    plt.close(disp.figure_)
    assert disp.ax_validation_.get_ylabel() == label
    shown = disp.ax_validation_.lines[0].get_ydata()
    sign = -1 if scoring == "loss" else 1  # the log-loss itself, positive
    np.testing.assert_allclose(shown, sign * np.asarray(clf.validation_scores_))
    assert np.all(shown > 0)
    assert disp.best_epoch_ == int(np.argmax(clf.validation_scores_)) + 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(loss_curve=[1, 0.5], validation_metric="log-loss"), "validation_metric"),
        (dict(loss_curve=[1, 0.5, 0.4], validation_scores=[0.8, 0.9]), "one score"),
        (dict(loss_curve=np.ones((3, 2))), "1-D"),
    ],
)
def test_display_refuses_curves_it_cannot_draw(kwargs, match):
    """A typo in validation_metric was drawn as accuracy; curves of the wrong
    shape failed inside matplotlib."""
    import matplotlib.pyplot as plt

    with pytest.raises(ValueError, match=match):
        TrainingCurveDisplay(**kwargs).plot()
    plt.close("all")


def test_display_never_keeps_a_nan_epoch():
    import matplotlib.pyplot as plt

    disp = TrainingCurveDisplay([1, 0.5, 0.4], [np.nan, -0.8, -0.9]).plot()
    assert disp.best_epoch_ == 2
    assert TrainingCurveDisplay([1, 0.5], [np.nan, np.nan]).plot().best_epoch_ is None
    plt.close("all")


def test_display_from_estimator_reads_a_pipelines_last_step(digits):
    import matplotlib.pyplot as plt
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(
            StandardScaler(), SoftmaxRegressionClassifier(random_state=0, max_iter=3)
        ).fit(X, y)
    disp = TrainingCurveDisplay.from_estimator(pipe)
    np.testing.assert_array_equal(disp.loss_curve, pipe[-1].loss_curve_)
    nested = make_pipeline(StandardScaler(), pipe)  # fitted through pipe
    disp = TrainingCurveDisplay.from_estimator(nested)
    np.testing.assert_array_equal(disp.loss_curve, pipe[-1].loss_curve_)
    plt.close("all")
