"""The estimator with the full-batch solvers: same model as LogisticRegression."""

import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from sk_softmax import SoftmaxRegressionClassifier

FULL_BATCH = ["lbfgs", "cg"]


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _reference(X, y, alpha, sample_weight, fit_intercept=True):
    S = sample_weight.sum()
    ref = LogisticRegression(
        C=1.0 / (alpha * S), tol=1e-10, max_iter=100_000, fit_intercept=fit_intercept
    )
    return ref.fit(X, y, sample_weight=sample_weight)


def _tight(solver, **params):
    return SoftmaxRegressionClassifier(
        solver=solver, tol=1e-10, max_iter=20_000, **params
    )


DATASETS = {
    "iris": lambda: _standardised(load_iris),
    "wine": lambda: _standardised(load_wine),
    "breast_cancer": lambda: _standardised(load_breast_cancer),
    "digits": lambda: _standardised(load_digits),
}


@pytest.mark.parametrize("solver", FULL_BATCH)
@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("alpha", [1e-2, 1e-1])
def test_classifier_matches_logistic_regression(solver, dataset, alpha):
    X, y = DATASETS[dataset]()
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    ref = _reference(X, y, alpha, sw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # precision-limited stop
        clf = _tight(solver, alpha=alpha).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    n_classes = len(np.unique(y))
    n_rows = 1 if n_classes == 2 else n_classes  # binomial model: one row
    assert clf.coef_.shape == ref.coef_.shape == (n_rows, X.shape[1])
    assert clf.intercept_.shape == ref.intercept_.shape == (n_rows,)
    np.testing.assert_array_equal(clf.classes_, ref.classes_)


@pytest.mark.parametrize("solver", FULL_BATCH)
def test_classifier_matches_logistic_regression_digits_small_alpha(solver):
    X, y = DATASETS["digits"]()
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    ref = _reference(X, y, 1e-3, sw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _tight(solver, alpha=1e-3).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("solver", FULL_BATCH)
@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_classifier_without_intercept_matches_logistic_regression(solver, dataset):
    X, y = DATASETS[dataset]()
    sw = np.ones(X.shape[0])
    ref = _reference(X, y, 0.05, sw, fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _tight(solver, alpha=0.05, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(clf.intercept_, np.zeros_like(clf.intercept_))


@pytest.mark.parametrize("solver", FULL_BATCH)
@pytest.mark.parametrize("class_weight", [{0: 3.0, 1: 0.5, 2: 1.0}, "balanced"])
def test_classifier_class_weight_matches_logistic_regression(solver, class_weight):
    X, y = DATASETS["wine"]()
    keep = np.r_[np.flatnonzero(y == 0)[:20], np.flatnonzero(y != 0)]
    X, y = X[keep], y[keep]
    alpha = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # precision-limited stop
        clf = _tight(solver, alpha=alpha, class_weight=class_weight).fit(X, y)

    cw = compute_class_weight(class_weight, classes=np.unique(y), y=y)
    S = cw[y].sum()
    ref = LogisticRegression(
        C=1 / (alpha * S), class_weight=class_weight, tol=1e-10, max_iter=10_000
    ).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("solver", FULL_BATCH)
def test_classifier_balanced_class_weight_counts_sample_weight(solver):
    # "balanced" balances the classes' total weights, as LogisticRegression
    # does: integer weights balance as repeated rows, and the weights are the
    # dict of weighted counts.
    X, y = DATASETS["wine"]()
    sw = np.random.default_rng(0).integers(0, 4, X.shape[0])
    totals = np.bincount(y, weights=sw)
    by_weight = {c: totals.sum() / (3 * totals[c]) for c in range(3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # precision-limited stop
        weighted = _tight(solver, alpha=0.05, class_weight="balanced").fit(
            X, y, sample_weight=sw
        )
        repeated = _tight(solver, alpha=0.05, class_weight="balanced").fit(
            np.repeat(X, sw, 0), np.repeat(y, sw)
        )
        as_dict = _tight(solver, alpha=0.05, class_weight=by_weight).fit(
            X, y, sample_weight=sw
        )
    P = weighted.predict_proba(X)
    np.testing.assert_allclose(P, repeated.predict_proba(X), atol=1e-7)
    np.testing.assert_allclose(P, as_dict.predict_proba(X), atol=1e-7)


def test_classifier_balanced_class_weight_with_a_weightless_class():
    # A class whose rows all weigh 0 gets class weight 0 (not inf times 0):
    # the fit is the one without those rows' weights, finite.
    X, y = DATASETS["wine"]()
    sw = np.where(y == 2, 0.0, 1.0)
    totals = np.bincount(y[y != 2])
    clf = _tight("lbfgs", alpha=0.05, class_weight="balanced")
    ref = _tight("lbfgs", alpha=0.05, class_weight={0: 1.0, 1: totals[0] / totals[1]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # precision-limited stop
        clf.fit(X, y, sample_weight=sw)
        ref.fit(X, y, sample_weight=sw)
    assert np.all(np.isfinite(clf.coef_))
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-7)


@pytest.mark.parametrize("solver", FULL_BATCH)
def test_classifier_weighted_equals_repeated(solver):
    X, y = make_classification(
        n_samples=60, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    sw = np.random.default_rng(0).integers(0, 4, X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # precision-limited stop
        weighted = _tight(solver, alpha=0.01).fit(X, y, sample_weight=sw)
        repeated = _tight(solver, alpha=0.01).fit(np.repeat(X, sw, 0), np.repeat(y, sw))
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-7
    )


@pytest.mark.parametrize("solver", ["lbfgs", "cg", "sgd"])
@pytest.mark.parametrize("loader", [load_iris, load_breast_cancer])
def test_classifier_huge_inputs_are_stable(solver, loader):
    X, y = _standardised(loader)
    X = X * 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(solver=solver, max_iter=20, random_state=0)
        clf.fit(X, y)
        proba = clf.predict_proba(X)
        log_proba = clf.predict_log_proba(X)
        decision = clf.decision_function(X)
    for out in (proba, log_proba, decision, clf.coef_, clf.intercept_):
        assert np.all(np.isfinite(out))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(log_proba <= 0)


def test_classifier_loss_and_gradient_finite_at_huge_scale():
    from sk_softmax._loss import SoftmaxLoss

    X, y = _standardised(load_iris)
    X = X * 1e4
    loss = SoftmaxLoss(3, X.shape[1])
    Y = (y[:, None] == np.arange(3)).astype(float)
    coef = np.random.default_rng(0).standard_normal(loss.n_coef)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = loss.loss_gradient(coef, X, Y, None, 1e-3)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("solver", ["lbfgs", "cg", "sgd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_keeps_float_dtype(solver, dtype):
    X, y = _standardised(load_iris)
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(solver=solver, random_state=0).fit(X, y)
    assert clf.coef_.dtype == dtype
    assert clf.intercept_.dtype == dtype
    assert clf.predict_proba(X).dtype == dtype
    assert clf.predict_log_proba(X).dtype == dtype
    assert clf.decision_function(X).dtype == dtype


def test_classifier_string_and_noncontiguous_labels():
    X, y = _standardised(load_iris)
    for labels in (
        np.array(["setosa", "versicolor", "virginica"]),
        np.array([3, 7, 42]),
    ):
        clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, labels[y])
        np.testing.assert_array_equal(clf.classes_, labels)
        assert clf.score(X, labels[y]) > 0.9
        assert set(clf.predict(X)) <= set(labels)


def test_classifier_binary_follows_scikit_learn_shapes():
    X, y = _standardised(load_breast_cancer)
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    assert clf.coef_.shape == (1, X.shape[1])
    assert clf.intercept_.shape == (1,)
    assert clf.decision_function(X).shape == (X.shape[0],)
    assert clf.predict_proba(X).shape == (X.shape[0], 2)
    np.testing.assert_array_equal(
        clf.predict(X), clf.classes_[(clf.decision_function(X) > 0).astype(int)]
    )


def test_classifier_pickle_round_trip():
    X, y = _standardised(load_wine)
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("solver", FULL_BATCH)
def test_classifier_warm_start_starts_from_previous_solution(solver):
    X, y = _standardised(load_wine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # precision-limited stop
        cold = _tight(solver, alpha=0.01).fit(X, y)
        warm = _tight(solver, alpha=0.01, warm_start=True).fit(X, y)
        n_iter_cold = warm.n_iter_
        warm.fit(X, y)
    assert n_iter_cold > 10
    assert warm.n_iter_ <= 2
    np.testing.assert_allclose(warm.predict_proba(X), cold.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("solver", ["lbfgs", "cg", "sgd"])
def test_classifier_convergence_warning_says_what_to_change(solver):
    X, y = _standardised(load_digits)
    with pytest.warns(ConvergenceWarning, match=r"[Ii]ncrease max_iter"):
        SoftmaxRegressionClassifier(solver=solver, max_iter=2).fit(X, y)


def test_classifier_convergence_warning_tells_precision_limit_from_max_iter():
    # with tol=0 the gradient test can never pass: CG stops when its line
    # search cannot lower the loss in float64, long before max_iter
    X, y = _standardised(load_iris)
    with pytest.warns(
        ConvergenceWarning, match="floating-point precision.*will not help"
    ):
        SoftmaxRegressionClassifier(solver="cg", tol=0.0, max_iter=100_000).fit(X, y)


def test_classifier_lbfgs_stopped_by_a_flat_objective_warns():
    # L-BFGS-B ends "successfully" when a float32 objective stops falling,
    # here 80% above the optimum with a gradient 100 times tol: say so
    X, y = load_iris(return_X_y=True)
    X = (X * 1000).astype(np.float32)
    clf = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1e-3)
    with pytest.warns(ConvergenceWarning, match="float32 data as float64"):
        clf.fit(X, y)


def test_classifier_in_pipeline_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SoftmaxRegressionClassifier(random_state=0))
    grid = GridSearchCV(
        pipe,
        {
            "softmaxregressionclassifier__alpha": [1e-4, 1e-2],
            "softmaxregressionclassifier__solver": ["lbfgs", "sgd"],
        },
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.9


# ------------------------------------------------------------------ bad input
def _iris():
    return load_iris(return_X_y=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(
    "params",
    [
        {"solver": "lbfgs"},
        {"solver": "sgd"},
        # the validation rows get zero weight in the preconditioner's sums
        {"solver": "sgd", "early_stopping": True},
    ],
)
@pytest.mark.parametrize("kind", ["dense32", "dense64", "sparse"])
@pytest.mark.parametrize("zero_weight", [False, True])
def test_classifier_rejects_non_finite_X(bad, params, kind, zero_weight):
    # SGD checks finiteness in its preconditioner's pass over X: every bad
    # entry must still be found, also in a row of zero weight
    X, y = _iris()
    X = X.astype(np.float32 if kind == "dense32" else np.float64)
    sw = np.ones(len(y))
    for row in (3, 140):
        X_bad = X.copy()
        X_bad[row, 1] = bad
        if zero_weight:
            sw[row] = 0.0
        X_bad = sp.csr_matrix(X_bad) if kind == "sparse" else X_bad
        with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
            SoftmaxRegressionClassifier(**params).fit(X_bad, y, sample_weight=sw)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_classifier_partial_fit_rejects_non_finite_X_and_keeps_model(bad):
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(random_state=0)
    X_bad = X.copy()
    X_bad[7, 2] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        clf.partial_fit(X_bad, y, classes=[0, 1, 2])
    assert not hasattr(clf, "coef_")
    clf.partial_fit(X, y, classes=[0, 1, 2])
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        clf.partial_fit(X_bad, y, sample_weight=(np.arange(len(y)) != 7) * 1.0)
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.n_iter_ == 1


def test_classifier_sgd_huge_finite_X_is_not_mistaken_for_non_finite():
    # float32 squares overflow past 1.8e19: the fused check cannot vouch for X,
    # the exact check runs and passes, and the feature keeps a zero step
    from sk_softmax._solvers._scaling import column_moments

    X, y = _iris()
    X = X.astype(np.float32)
    X[:, 3] *= np.float32(1e19)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy: "overflow"
        *_, surely_finite = column_moments(X, np.ones(len(y)), check_finite=True)
        assert not surely_finite
        clf = SoftmaxRegressionClassifier(random_state=0, max_iter=5)
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert np.all(np.isfinite(clf.coef_))


def test_classifier_rejects_mismatched_lengths():
    X, y = _iris()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SoftmaxRegressionClassifier().fit(X, y[:-1])


def test_classifier_rejects_single_class():
    X, y = _iris()
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 0"):
        SoftmaxRegressionClassifier().fit(X[y == 0], y[y == 0])


def test_classifier_rejects_negative_sample_weight():
    X, y = _iris()
    sw = np.ones(len(y))
    sw[5] = -1
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        SoftmaxRegressionClassifier().fit(X, y, sample_weight=sw)


def test_classifier_rejects_all_zero_sample_weight():
    X, y = _iris()
    with pytest.raises(ValueError, match="sample weights sum to zero"):
        SoftmaxRegressionClassifier().fit(X, y, sample_weight=np.zeros(len(y)))


def test_classifier_rejects_sample_weight_of_wrong_shape():
    X, y = _iris()
    with pytest.raises(
        ValueError, match=re.escape("sample_weight must have shape (150,)")
    ):
        SoftmaxRegressionClassifier().fit(X, y, sample_weight=np.ones(3))


def test_classifier_rejects_3d_X():
    X, y = _iris()
    with pytest.raises(ValueError, match="Found array with dim 3"):
        SoftmaxRegressionClassifier().fit(X.reshape(150, 2, 2), y)


def test_classifier_rejects_unknown_solver():
    X, y = _iris()
    with pytest.raises(ValueError, match="'solver' parameter .* must be a str among"):
        SoftmaxRegressionClassifier(solver="newton").fit(X, y)


def test_classifier_rejects_negative_alpha():
    X, y = _iris()
    with pytest.raises(ValueError, match="'alpha' parameter .* must be a float in"):
        SoftmaxRegressionClassifier(alpha=-1.0).fit(X, y)


def test_classifier_rejects_wrong_number_of_features_at_predict():
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.predict(X[:, :3])


@pytest.mark.parametrize("loader", [load_iris, load_breast_cancer])
def test_classifier_predicts_on_huge_inputs_without_warnings(loader):
    X, y = _standardised(loader)
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_proba = clf.predict_log_proba(X * 1e4)
        proba = clf.predict_proba(X * 1e4)
    assert np.all(np.isfinite(log_proba)) and np.all(log_proba <= 0)
    assert log_proba.min() < -1e3  # the tail is kept, not rounded to log(0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


# ------------------------------------------------------------------ callbacks
def _callback_api():
    return pytest.importorskip(
        "sklearn.callback", reason="scikit-learn < 1.9 has no callback API"
    )


class _StopAfter:
    """A fit callback that asks to stop after ``n`` iterations and counts hooks."""

    def __init__(self, n):
        self.n = n
        self.calls = {"setup": 0, "begin": 0, "end": 0, "teardown": 0}

    def setup(self, estimator, context):
        self.calls["setup"] += 1

    def teardown(self, estimator, context):
        self.calls["teardown"] += 1

    def on_fit_task_begin(self, estimator, context):
        self.calls["begin"] += 1

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.calls["end"] += 1
        # the root task is the fit; its children are the iterations
        return context.parent is not None and context.task_id + 1 >= self.n


@pytest.mark.parametrize("solver", ["sgd", "lbfgs", "cg"])
def test_classifier_progress_bar_works_with_every_solver(solver, capsys):
    callback = _callback_api()
    pytest.importorskip("rich", reason="ProgressBar needs rich")
    X, y = _standardised(load_iris)
    clf = SoftmaxRegressionClassifier(solver=solver, max_iter=5, random_state=0)
    clf.set_callbacks(callback.ProgressBar())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    out = capsys.readouterr().out
    assert "SoftmaxRegressionClassifier - fit" in out
    assert "100%" in out
    assert clf.score(X, y) > 0.8


def test_classifier_progress_bar_propagates_from_a_pipeline(capsys):
    callback = _callback_api()
    pytest.importorskip("rich", reason="ProgressBar needs rich")
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), SoftmaxRegressionClassifier(max_iter=3, random_state=0)
    )
    pipe.set_callbacks(callback.ProgressBar(max_propagation_depth=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    out = capsys.readouterr().out
    assert "Pipeline - fit-final-estimator | SoftmaxRegressionClassifier - fit" in out
    assert not hasattr(pipe[-1], "_skl_callbacks")  # lent for the fit only


@pytest.mark.parametrize("solver", ["sgd", "lbfgs", "cg"])
def test_classifier_scoring_monitor_scores_every_iteration(solver):
    callback = _callback_api()
    X, y = _standardised(load_wine)
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = SoftmaxRegressionClassifier(solver=solver, max_iter=8, random_state=0)
    clf.set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    rows = monitor.get_logs().data
    iterations = [row for row in rows if row["task_id_path"] != (0,)]
    (root,) = [row for row in rows if row["task_id_path"] == (0,)]
    # one row per epoch / SciPy iteration, each scoring the model as it was then
    assert len(iterations) == clf.n_iter_
    assert sorted(row["task_id"] for row in iterations) == list(range(clf.n_iter_))
    last = max(iterations, key=lambda row: row["task_id"])
    assert last["accuracy"] == pytest.approx(clf.score(X, y))
    assert root["accuracy"] == pytest.approx(clf.score(X, y))


def test_classifier_scoring_monitor_with_partial_fit_and_sample_weight():
    callback = _callback_api()
    X, y = _standardised(load_iris)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = SoftmaxRegressionClassifier(random_state=0).set_callbacks(monitor)
    clf.partial_fit(X, y, classes=[0, 1, 2], sample_weight=sw)
    clf.partial_fit(X, y, sample_weight=sw)
    logs = monitor.get_logs(select="all")
    assert len(logs) == 2  # one run per call
    epoch_rows = [row for row in logs[-1].data if row["task_id_path"] == (0, 0)]
    assert len(epoch_rows) == 1
    assert epoch_rows[0]["accuracy"] == pytest.approx(clf.score(X, y, sample_weight=sw))


def test_classifier_callback_can_stop_sgd():
    _callback_api()
    X, y = _standardised(load_digits)
    stopper = _StopAfter(3)
    clf = SoftmaxRegressionClassifier(max_iter=50, random_state=0)
    clf.set_callbacks(stopper)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert stopper.calls == {"setup": 1, "begin": 4, "end": 4, "teardown": 1}


@pytest.mark.parametrize("solver", ["lbfgs", "cg"])
def test_classifier_callback_can_stop_the_full_batch_solvers(solver):
    """A callback's stop ends L-BFGS-B / CG after that iteration (they ran
    to convergence before), without a ConvergenceWarning; every begun
    iteration is ended once, and the model is the stopped iterate's."""
    _callback_api()
    X, y = _standardised(load_digits)
    stopper = _StopAfter(3)
    clf = SoftmaxRegressionClassifier(solver=solver).set_callbacks(stopper)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert stopper.calls == {"setup": 1, "begin": 4, "end": 4, "teardown": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SoftmaxRegressionClassifier(solver=solver, max_iter=3).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("average", [False, True])
def test_classifier_callback_stop_lets_its_epoch_compete_for_the_best(average):
    # the epoch at which a callback stops early stopping was scored but never
    # offered as the best: the weights of an earlier epoch were kept, where
    # the same fit ended by max_iter keeps the last (here the best)
    _callback_api()
    X, y = make_classification(
        2000, 10, n_informative=5, n_classes=3, random_state=0
    )  # fmt: skip
    params = dict(early_stopping=True, average=average, random_state=0)
    for k in (2, 4, 6):
        clf = SoftmaxRegressionClassifier(**params).set_callbacks(_StopAfter(k))
        clf.fit(X, y)
        assert clf.n_iter_ == k
        assert clf.best_validation_score_ == max(clf.validation_scores_)
        ref = SoftmaxRegressionClassifier(**params, tol=None, max_iter=k).fit(X, y)
        np.testing.assert_array_equal(clf.validation_scores_, ref.validation_scores_)
        np.testing.assert_array_equal(clf.coef_, ref.coef_)


@pytest.mark.parametrize("solver", ["lbfgs", "cg"])
def test_classifier_callbacks_pair_every_begin_with_an_end(solver):
    _callback_api()
    X, y = _standardised(load_iris)
    counter = _StopAfter(10**9)
    clf = SoftmaxRegressionClassifier(solver=solver).set_callbacks(counter)
    clf.fit(X, y)
    # the root task, n_iter_ iterations and the empty one begun after the last
    assert counter.calls["begin"] == counter.calls["end"] == clf.n_iter_ + 2
    assert counter.calls["setup"] == counter.calls["teardown"] == 1


def test_classifier_callback_teardown_runs_when_fit_fails():
    _callback_api()
    X, y = _standardised(load_iris)
    counter = _StopAfter(10**9)
    clf = SoftmaxRegressionClassifier(
        learning_rate_init=1e12, learning_rate="constant", random_state=0
    ).set_callbacks(counter)
    with pytest.raises(ValueError, match="diverged"):
        with np.errstate(all="ignore"):
            clf.fit(X * 1e3, y)
    assert counter.calls["setup"] == counter.calls["teardown"] == 1
    assert not hasattr(clf, "coef_")


class _FailAtFitEnd(_StopAfter):
    """A fit callback whose end-of-fit hook fails (a monitor that cannot write)."""

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.parent is None:
            raise RuntimeError("the monitor failed at the end of the fit")


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_classifier_callback_failing_at_the_end_leaves_the_model(solver):
    _callback_api()
    X, y = _standardised(load_iris)
    clf = SoftmaxRegressionClassifier(solver=solver, random_state=0).fit(X[:, :2], y)
    before = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    clf.set_callbacks(_FailAtFitEnd(10**9))
    calls = [(clf.fit, X)]
    if solver == "sgd":
        calls.append((clf.partial_fit, X[:, :2]))
    for call, X_call in calls:
        with pytest.raises(RuntimeError, match="failed at the end"):
            call(X_call, y)
        after = {k: v for k, v in vars(clf).items() if k.endswith("_")}
        assert after.keys() == before.keys() and clf.n_features_in_ == 2
        for key, value in before.items():
            assert after[key] is value, key


def test_classifier_works_without_the_callback_api():
    # scikit-learn < 1.9 has no sklearn.callback: in a fresh process, make that
    # import fail for sk_softmax (scikit-learn itself keeps using it)
    code = textwrap.dedent(
        """
        import builtins
        real_import = builtins.__import__
        def fake_import(name, globals=None, *args, **kwargs):
            caller = (globals or {}).get("__name__", "")
            if name.startswith("sklearn.callback") and caller.startswith("sk_softmax"):
                raise ImportError(f"No module named {name!r}")
            return real_import(name, globals, *args, **kwargs)
        builtins.__import__ = fake_import
        from sklearn.datasets import load_iris
        from sk_softmax import SoftmaxRegressionClassifier
        assert not hasattr(SoftmaxRegressionClassifier, "set_callbacks")
        X, y = load_iris(return_X_y=True)
        for solver in ("sgd", "lbfgs"):
            clf = SoftmaxRegressionClassifier(solver=solver, random_state=0)
            clf.fit(X / 8, y)
            if solver == "sgd":
                clf.partial_fit(X / 8, y)
            assert clf.score(X / 8, y) > 0.8, clf.score(X / 8, y)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_predict_proba_of_a_row_whose_logit_overflows_is_a_distribution():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X.astype(np.float32), y)
    x = np.zeros((1, 4), np.float32)
    x[0, 1] = 3e38  # finite in float32; its logits overflow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow
        proba = clf.predict_proba(x)
        top = clf.decision_function(x).argmax()
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.argmax() == top
