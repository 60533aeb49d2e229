"""L1 and elastic-net penalties (``l1_ratio``): the same optimum as scikit-learn.

``SoftmaxRegressionClassifier(alpha, l1_ratio)`` minimises
``LogisticRegression(C=1 / (alpha * S), l1_ratio)``'s objective divided by
``C * S``; ``solver="lbfgs"`` solves it exactly (a bound-constrained split of
``W``), so its probabilities and its zero weights are those of saga run to a
tight tolerance.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _fitted_state import assert_unchanged, fitted_state  # noqa: I001
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _binary():
    X, y = make_classification(
        n_samples=300, n_features=12, n_informative=4, random_state=0
    )
    return X, y


def _digits_sparse():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16.0, y[:400]
    return sp.csr_matrix(X), y


def _binary_sparse():
    rng = np.random.default_rng(0)
    X = sp.random(300, 40, density=0.15, random_state=0, format="csr")
    y = (X @ rng.standard_normal(40) > 0.1).astype(int)
    return X, y


DATASETS = {
    "iris": _iris,
    "binary": _binary,
    "digits_sparse": _digits_sparse,
    "binary_sparse": _binary_sparse,
}


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("l1_ratio", [1.0, 0.3, 0.7])
@pytest.mark.parametrize("alpha", [1e-3, 3e-2])
def test_lbfgs_l1_and_elastic_net_equal_scikit_learn(name, l1_ratio, alpha):
    X, y = DATASETS[name]()
    C = 1.0 / (alpha * X.shape[0])
    # saga on the same rows densified: on sparse input scikit-learn damps its
    # intercept's steps, which at this tol stop short of the optimum
    ref = LogisticRegression(
        solver="saga", C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=100_000
    ).fit(X.toarray() if sp.issparse(X) else X, y)
    ours = SoftmaxRegressionClassifier(
        solver="lbfgs", alpha=alpha, l1_ratio=l1_ratio, tol=1e-10, max_iter=20_000
    ).fit(X, y)
    np.testing.assert_allclose(
        ours.predict_proba(X), ref.predict_proba(X), rtol=0, atol=1e-4
    )
    # the zero weights are exactly zero, where scikit-learn's are
    ref_zero = np.abs(ref.coef_) <= 1e-6
    if l1_ratio == 1.0 and alpha == 3e-2:
        assert ref_zero.any()  # a sparse optimum, on every dataset
    np.testing.assert_array_equal(ours.coef_ == 0, ref_zero)


def test_l1_ratio_zero_is_the_l2_model():
    X, y = _iris()
    params = dict(solver="lbfgs", alpha=1e-2, tol=1e-10, max_iter=5000)
    l2 = SoftmaxRegressionClassifier(**params).fit(X, y)
    zero = SoftmaxRegressionClassifier(l1_ratio=0.0, **params).fit(X, y)
    np.testing.assert_array_equal(l2.coef_, zero.coef_)


def test_l1_warm_start_and_float32():
    X, y = _iris()
    params = dict(solver="lbfgs", alpha=1e-1, l1_ratio=1.0, tol=1e-8, max_iter=5000)
    clf = SoftmaxRegressionClassifier(**params).fit(X, y)
    warm = SoftmaxRegressionClassifier(warm_start=True, **params)
    warm.coef_, warm.intercept_, warm.classes_ = clf.coef_, clf.intercept_, clf.classes_
    warm.fit(X, y)
    assert warm.n_iter_ <= 2
    np.testing.assert_array_equal(warm.coef_ == 0, clf.coef_ == 0)
    f32 = SoftmaxRegressionClassifier(**params).fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == np.float32
    np.testing.assert_allclose(f32.coef_, clf.coef_, atol=1e-4)


@pytest.mark.parametrize("solver", ["cg", "sgd"])
def test_solvers_without_l1_refuse_it_and_leave_the_model(solver):
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(solver=solver, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    before = fitted_state(clf)
    clf.set_params(l1_ratio=0.5)
    with pytest.raises(
        ValueError, match=f"solver='{solver}' does not support l1_ratio"
    ):
        clf.fit(X, y)
    assert_unchanged(before, clf)
    if solver == "sgd":
        with pytest.raises(ValueError, match="use solver='lbfgs'"):
            clf.partial_fit(X, y)
        assert_unchanged(before, clf)


@pytest.mark.parametrize("l1_ratio", [-0.1, 1.5, "l1"])
def test_l1_ratio_outside_0_1_is_refused(l1_ratio):
    X, y = _iris()
    with pytest.raises((ValueError, TypeError), match="l1_ratio"):
        SoftmaxRegressionClassifier(solver="lbfgs", l1_ratio=l1_ratio).fit(X, y)


def test_l1_verbose_and_callbacks_see_the_model_parameters(capsys):
    from sk_softmax._callbacks import observe  # noqa: F401  (SGD only)

    X, y = _iris()
    clf = SoftmaxRegressionClassifier(
        solver="lbfgs", alpha=1e-1, l1_ratio=1.0, verbose=1, max_iter=500
    ).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == clf.n_iter_


def test_l1_on_dask_equals_in_memory():
    da = pytest.importorskip("dask.array")
    X, y = _iris()
    params = dict(solver="lbfgs", alpha=3e-2, l1_ratio=1.0, tol=1e-10, max_iter=5000)
    ref = SoftmaxRegressionClassifier(**params).fit(X, y)
    clf = SoftmaxRegressionClassifier(**params).fit(
        da.from_array(X, chunks=(50, 4)), da.from_array(y, chunks=50)
    )
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-7)
    np.testing.assert_array_equal(clf.coef_ == 0, ref.coef_ == 0)


def test_l1_with_array_api_inputs_equals_numpy():
    xp = pytest.importorskip("array_api_strict")
    import sklearn

    X, y = _iris()
    params = dict(solver="lbfgs", alpha=3e-2, l1_ratio=0.5, max_iter=2000)
    ref = SoftmaxRegressionClassifier(**params).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        clf = SoftmaxRegressionClassifier(**params).fit(xp.asarray(X), xp.asarray(y))
    np.testing.assert_allclose(np.asarray(clf.coef_), ref.coef_, atol=1e-10)


def test_sparsify_keeps_predictions_and_densify_restores_coef():
    import pickle

    X, y = _iris()
    clf = SoftmaxRegressionClassifier(
        solver="lbfgs", alpha=3e-2, l1_ratio=1.0, max_iter=2000
    ).fit(X, y)
    dense = clf.coef_.copy()
    expected = {m: getattr(clf, m)(X) for m in ("predict_proba", "decision_function")}
    assert clf.sparsify() is clf
    assert sp.issparse(clf.coef_) and clf.coef_.nnz == np.count_nonzero(dense)
    for Xs in (X, sp.csr_matrix(X), X.astype(np.float32)):
        for method, value in expected.items():
            np.testing.assert_allclose(getattr(clf, method)(Xs), value, atol=1e-6)
    np.testing.assert_array_equal(
        clf.predict(X), np.argmax(expected["predict_proba"], 1)
    )
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X), expected["predict_proba"])
    assert clf.densify() is clf
    np.testing.assert_array_equal(clf.coef_, dense)


def test_sparsify_then_partial_fit_and_warm_start_go_on_densely():
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    before = clf.coef_.copy()
    clf.sparsify().partial_fit(X, y)
    assert isinstance(clf.coef_, np.ndarray) and not np.array_equal(clf.coef_, before)
    warm = SoftmaxRegressionClassifier(solver="lbfgs", warm_start=True).fit(X, y)
    target = warm.coef_.copy()
    warm.sparsify().fit(X, y)
    assert isinstance(warm.coef_, np.ndarray) and warm.n_iter_ <= 2
    np.testing.assert_allclose(warm.coef_, target, atol=1e-4)


def test_sparsify_before_fit_is_a_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SoftmaxRegressionClassifier().sparsify()
