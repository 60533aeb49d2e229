"""Property-based tests: whatever the input, a clear error or a good model.

Hypothesis draws X (dense float64 / float32 or CSR, with NaN, infinities,
huge and tiny values), y, sample weights and parameters, for every solver.
The invariant: either a ``ValueError`` / ``TypeError`` with the model left
exactly as it was, or a finite model whose ``predict_proba`` rows sum to 1.
``partial_fit`` sequences are held to the same rule call by call.

The default run draws a bounded number of examples; ``-m slow`` runs the
long profile (``SK_SOFTMAX_HYPOTHESIS_EXAMPLES`` overrides both).
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _fitted_state import assert_unchanged, fitted_state  # noqa: I001
from sklearn.exceptions import ConvergenceWarning

from sk_softmax import SoftmaxRegressionClassifier

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
from hypothesis import HealthCheck, given, settings  # noqa: E402

QUICK, LONG = 40, 400
SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 3e38, 1e19, 0.0]
WEIGHTS = [0.0, 1.0, 2.5, -1.0, 1e300, 1e-300, np.nan, np.inf, 1e308]


def _examples(default):
    return int(os.environ.get("SK_SOFTMAX_HYPOTHESIS_EXAMPLES", default))


@st.composite
def _matrix(draw, n_samples, n_features):
    values = draw(
        st.lists(
            st.floats(-10, 10, allow_nan=False, width=32),
            min_size=n_samples * n_features,
            max_size=n_samples * n_features,
        )
    )
    X = np.asarray(values, dtype=np.float64).reshape(n_samples, n_features)
    for _ in range(draw(st.integers(0, 3))):  # a few special values
        i = draw(st.integers(0, n_samples - 1))
        j = draw(st.integers(0, n_features - 1))
        X[i, j] = draw(st.sampled_from(SPECIAL))
    kind = draw(st.sampled_from(["float64", "float32", "csr"]))
    with np.errstate(over="ignore"):  # 1e300 as float32 is inf: a bad input
        if kind == "csr":
            return sp.csr_matrix(X)
        return X.astype(kind)


@st.composite
def _problem(draw):
    n_samples = draw(st.integers(1, 24))
    n_features = draw(st.integers(1, 4))
    X = draw(_matrix(n_samples, n_features))
    n_labels = draw(st.integers(1, 4))
    y = np.asarray(
        draw(
            st.lists(
                st.integers(0, n_labels - 1), min_size=n_samples, max_size=n_samples
            )
        )
    )
    sample_weight = None
    if draw(st.booleans()):
        sample_weight = np.asarray(
            draw(
                st.lists(
                    st.one_of(st.sampled_from(WEIGHTS), st.floats(0, 10)),
                    min_size=n_samples,
                    max_size=n_samples,
                )
            )
        )
    params = {
        "solver": draw(st.sampled_from(["sgd", "cg", "lbfgs"])),
        "alpha": draw(st.sampled_from([0.0, 1e-4, 1.0])),
        "fit_intercept": draw(st.booleans()),
        "max_iter": 5,
        "random_state": 0,
    }
    if params["solver"] == "sgd":
        params["early_stopping"] = draw(st.booleans())
        params["learning_rate_init"] = draw(st.sampled_from(["auto", 0.1, 1e6]))
        params["batch_size"] = draw(st.sampled_from([1, 4, 256]))
    return X, y, sample_weight, params


def _check_call(clf, call, X_check):
    """Run ``call``: a clear error and no change, or a finite, normalised model."""
    before = fitted_state(clf)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # early stopping's notes
            warnings.simplefilter("error", RuntimeWarning)
            call()
    except (ValueError, TypeError) as exc:
        assert str(exc), "an error must say what is wrong"
        assert_unchanged(before, clf)
        return False
    assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = clf.predict_proba(X_check)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-4)
    return True


def _fit_property(problem):
    X, y, sample_weight, params = problem
    n_features = X.shape[1]
    X_check = np.random.default_rng(0).normal(size=(5, n_features))
    # a fitted model first (with safe settings): a failing fit must leave it
    clf = SoftmaxRegressionClassifier(solver=params["solver"], random_state=0)
    X_good = np.random.default_rng(1).normal(size=(30, n_features))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_good, np.arange(30) % 3)
    clf.set_params(**params)
    _check_call(clf, lambda: clf.fit(X, y, sample_weight=sample_weight), X_check)


@st.composite
def _stream(draw):
    n_features = draw(st.integers(1, 4))
    chunks = []
    for _ in range(draw(st.integers(1, 3))):
        n_samples = draw(st.integers(1, 12))
        X = draw(_matrix(n_samples, n_features))
        y = np.asarray(
            draw(st.lists(st.integers(0, 3), min_size=n_samples, max_size=n_samples))
        )
        chunks.append((X, y))
    rate = draw(st.sampled_from(["auto", 0.1, 1e6]))
    return n_features, chunks, rate


def _stream_property(stream):
    n_features, chunks, rate = stream
    clf = SoftmaxRegressionClassifier(random_state=0)
    X_check = np.random.default_rng(0).normal(size=(5, n_features))
    X_first = np.random.default_rng(1).normal(size=(8, n_features))
    clf.partial_fit(X_first, np.arange(8) % 4, classes=range(4))
    clf.set_params(learning_rate_init=rate)
    for X, y in chunks:
        _check_call(clf, lambda X=X, y=y: clf.partial_fit(X, y), X_check)


_SETTINGS = dict(
    deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@settings(max_examples=_examples(QUICK), **_SETTINGS)
@given(_problem())
def test_property_fit_errors_cleanly_or_fits_a_good_model(problem):
    _fit_property(problem)


@settings(max_examples=_examples(QUICK // 2), **_SETTINGS)
@given(_stream())
def test_property_partial_fit_errors_cleanly_or_trains(stream):
    _stream_property(stream)


@pytest.mark.slow
@settings(
    max_examples=_examples(LONG), deadline=None, suppress_health_check=list(HealthCheck)
)
@given(_problem())
def test_property_fit_long_profile(problem):
    _fit_property(problem)


@pytest.mark.slow
@settings(
    max_examples=_examples(LONG // 2),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(_stream())
def test_property_partial_fit_long_profile(stream):
    _stream_property(stream)
