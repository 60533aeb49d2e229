"""Minibatch SGD: early stopping, partial_fit, warm start, divergence, determinism."""

import contextlib
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _fitted_state import assert_unchanged, fitted_state  # noqa: I001
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier
from sk_softmax._callbacks import observe
from sk_softmax._split import make_validation_split


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def test_sgd_default_reaches_95_percent_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(random_state=0).fit(X_train, y_train)
    assert clf.solver == "sgd"
    assert clf.score(X_test, y_test) >= 0.95


def _noisy_labels(y, seed=0, fraction=0.3):
    rng = np.random.default_rng(seed)
    y_noisy = y.copy()
    flip = rng.random(len(y_noisy)) < fraction
    y_noisy[flip] = rng.integers(0, 10, flip.sum())
    return y_noisy


# a constant, too-high rate on noisy labels: the validation score peaks, then drops
OVERSHOOTING = dict(
    early_stopping=True,
    learning_rate="constant",
    learning_rate_init=2.0,
    alpha=0.0,
    n_iter_no_change=8,
    max_iter=60,
    random_state=0,
)


def test_sgd_early_stopping_keeps_the_best_epochs_weights(digits):
    X_train, _, y_train, _ = digits
    y_noisy = _noisy_labels(y_train)
    full = SoftmaxRegressionClassifier(**OVERSHOOTING).fit(X_train, y_noisy)
    best = int(np.argmax(full.validation_scores_))
    assert best + 1 < full.n_iter_, "the run should go past its best epoch"
    # the same run cut at the best epoch: its weights are the best epoch's
    cut = SoftmaxRegressionClassifier(**{**OVERSHOOTING, "max_iter": best + 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cut.fit(X_train, y_noisy)
    assert cut.validation_scores_ == full.validation_scores_[: best + 1]
    np.testing.assert_array_equal(full.coef_, cut.coef_)
    np.testing.assert_array_equal(full.intercept_, cut.intercept_)
    # ... and not the last epoch's
    assert full.loss_curve_[-1] != full.loss_curve_[best]
    # partial_fit resumes from coef_ (the state keeps no second copy), at rest
    assert full._sgd_state["params"]["coef"] is None
    assert full._sgd_state["momentum"] is None


def test_sgd_partial_fit_after_early_stopping_resumes_from_kept_weights(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(**OVERSHOOTING).fit(
        X_train, _noisy_labels(y_train)
    )
    kept = clf.coef_.copy()
    clf.set_params(learning_rate_init=1e-9)  # a negligible step
    clf.partial_fit(X_train, y_train)
    np.testing.assert_allclose(clf.coef_, kept, atol=1e-6)


@pytest.mark.parametrize("scoring", ["loss", "accuracy"])
def test_sgd_early_stopping_restores_best_epoch(digits, scoring):
    X_train, _, y_train, _ = digits
    y_noisy = _noisy_labels(y_train)
    clf = SoftmaxRegressionClassifier(scoring=scoring, **OVERSHOOTING)
    clf.fit(X_train, y_noisy)
    scores = clf.validation_scores_
    best = int(np.argmax(scores))
    assert clf.best_validation_score_ == max(scores)
    assert best < len(scores) - 1, "the run should go past its best epoch"
    # recompute the validation score of the kept weights on the same split
    sw = np.ones(len(y_noisy))
    classes = np.unique(y_noisy)
    _, val_idx = make_validation_split(
        X_train,
        np.searchsorted(classes, y_noisy),
        sw,
        0.1,
        np.random.RandomState(0),
        classes,
    )
    X_val, y_val = X_train[val_idx], y_noisy[val_idx]
    if scoring == "loss":  # the scores are minus the validation log-loss
        log_proba = clf.predict_log_proba(X_val)
        kept = np.mean(
            log_proba[np.arange(len(y_val)), np.searchsorted(classes, y_val)]
        )
    else:
        kept = clf.score(X_val, y_val)
    assert kept == pytest.approx(clf.best_validation_score_)
    assert kept > scores[-1] or best == len(scores) - 1


@pytest.mark.parametrize(
    "scoring, low, high", [("accuracy", 0.9, 1.0), ("loss", -0.3, 0)]
)
def test_sgd_early_stopping_attributes(digits, scoring, low, high):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(
        early_stopping=True, scoring=scoring, random_state=0
    )
    clf.fit(X_train, y_train)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.t_ > clf.n_iter_
    assert low < clf.best_validation_score_ <= high


def test_sgd_without_early_stopping_has_no_validation_attributes(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(early_stopping=True, random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
        clf.set_params(early_stopping=False).fit(X_train, y_train)
    assert not hasattr(clf, "validation_scores_")
    assert not hasattr(clf, "best_validation_score_")


def test_sgd_early_stopping_split_errors_are_clear():
    X = np.arange(6, dtype=float).reshape(-1, 1)
    y = np.array([0, 1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="cannot hold out a validation set"):
        SoftmaxRegressionClassifier(early_stopping=True).fit(X, y)
    X = np.arange(8, dtype=float).reshape(-1, 1)
    y = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    with pytest.warns(UserWarning, match=r"classes \[2\] have fewer than 2 distinct"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            SoftmaxRegressionClassifier(early_stopping=True, max_iter=2).fit(X, y)


def test_sgd_validation_split_keeps_duplicates_together():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.arange(40) % 2
    X_rep, y_rep = np.repeat(X, 3, axis=0), np.repeat(y, 3)
    train, val = make_validation_split(
        X_rep, y_rep, np.ones(120), 0.25, np.random.RandomState(0), np.array([0, 1])
    )
    train_rows = {X_rep[i].tobytes() for i in train}
    assert not any(X_rep[i].tobytes() in train_rows for i in val)
    assert set(y_rep[val]) == {0, 1}


@pytest.mark.parametrize("n", [0, 1, 500])
def test_sgd_validation_split_groups_rows_as_numpy_unique(n):
    from sk_softmax._split import _unique_rows

    rng = np.random.default_rng(n)
    table = rng.integers(0, 4, size=(n, 3)).astype(np.uint64)  # many repeats
    groups, ids = _unique_rows(table)
    expected, inverse = np.unique(table, axis=0, return_inverse=True)
    np.testing.assert_array_equal(groups, expected)
    np.testing.assert_array_equal(ids, inverse.reshape(-1))


def test_sgd_validation_split_groups_hashed_rows_as_numpy_unique():
    """The split's tables, ``(label, key, key)`` with hashed keys, are
    grouped by one sort where the first two columns decide; ties of them
    that are not whole-row ties (a key's collision, a row with two labels)
    take the lexicographic sort: the same groups either way."""
    from sk_softmax._split import _unique_rows

    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**63, size=(300, 2), dtype=np.int64).astype(np.uint64)
    keys = keys[rng.integers(0, 300, 900)]  # repeated rows
    labels = rng.integers(0, 3, size=(900, 1)).astype(np.uint64)
    tables = [np.hstack([labels, keys])]
    collided = tables[0].copy()
    collided[1::7, 1] = collided[0, 1]  # one first key, other second keys
    tables.append(collided)
    for table in tables:
        groups, ids = _unique_rows(table)
        expected, inverse = np.unique(table, axis=0, return_inverse=True)
        np.testing.assert_array_equal(groups, expected)
        np.testing.assert_array_equal(ids, inverse.reshape(-1))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_validation_split_row_keys_dense_and_sparse_alike(dtype, compiled):
    # compiled: CSR and C-ordered keys from the compiled passes (NumPy's
    # otherwise, and for F-ordered rows)
    from sk_softmax._split import _row_keys

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 7)).astype(dtype)
    X[rng.random(X.shape) < 0.6] = 0.0
    X[5] = X[2900]  # a duplicate across 2048-row blocks
    keys = _row_keys(X)
    np.testing.assert_array_equal(keys[5], keys[2900])
    assert len(np.unique(keys, axis=0)) == len(np.unique(X, axis=0))
    # the same values stored differently: -0.0, explicit zeros, duplicate and
    # unsorted entries in CSR, dense vs sparse
    X_neg = X.copy()
    X_neg[X_neg == 0] = -0.0
    np.testing.assert_array_equal(_row_keys(X_neg, compiled), keys)
    np.testing.assert_array_equal(_row_keys(X, compiled), keys)
    np.testing.assert_array_equal(_row_keys(np.asfortranarray(X_neg), compiled), keys)
    csr = sp.csr_matrix(X)
    np.testing.assert_array_equal(_row_keys(csr, compiled), keys)
    coo = sp.coo_matrix(X)
    half = coo.data / 2
    messy = sp.csr_matrix(
        (
            np.concatenate([half, half, np.zeros(3, dtype=dtype)])[::-1],
            (
                np.concatenate([coo.row, coo.row, [0, 1, 2]])[::-1],
                np.concatenate([coo.col, coo.col, [0, 1, 2]])[::-1],
            ),
        ),
        shape=X.shape,
    )
    messy.has_canonical_format = False
    np.testing.assert_array_equal(_row_keys(messy, compiled), keys)
    # a canonical CSR matrix (read in place) storing explicit 0.0 and -0.0
    rows, cols = np.nonzero(X == 0)
    data = np.concatenate([coo.data, np.zeros(4, dtype), np.full(4, -0.0, dtype)])
    zeros = sp.csr_matrix(
        (data, (np.append(coo.row, rows[:8]), np.append(coo.col, cols[:8]))),
        shape=X.shape,
    )
    zeros.sum_duplicates()
    stored_zeros = zeros.data[zeros.data == 0]
    assert stored_zeros.shape == (8,) and np.signbit(stored_zeros).sum() == 4
    np.testing.assert_array_equal(_row_keys(zeros, compiled), keys)
    np.testing.assert_array_equal(_row_keys(sp.csr_array(X), compiled), keys)


def test_sgd_partial_fit_reaches_fit_accuracy(digits):
    X_train, X_test, y_train, y_test = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = SoftmaxRegressionClassifier(random_state=0, max_iter=20)
        full.fit(X_train, y_train)
    stream = SoftmaxRegressionClassifier(random_state=0)
    classes = np.unique(y_train)
    for _ in range(20):
        for chunk in np.array_split(np.arange(len(y_train)), 5):
            stream.partial_fit(X_train[chunk], y_train[chunk], classes=classes)
    assert stream.n_iter_ == 100
    assert stream.score(X_test, y_test) >= full.score(X_test, y_test) - 0.01


def test_sgd_partial_fit_equals_fit_epoch():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    a = SoftmaxRegressionClassifier(random_state=0, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y)
    b = SoftmaxRegressionClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    assert a.t_ == b.t_


def test_sgd_partial_fit_needs_classes_first():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegressionClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not [name for name in vars(clf) if name.endswith("_")]  # untouched
    clf.partial_fit(X[:10], y[:10], classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes"):
        clf.partial_fit(X[:2], np.array([0, 7]))


def test_sgd_partial_fit_only_for_sgd():
    assert not hasattr(SoftmaxRegressionClassifier(solver="lbfgs"), "partial_fit")


def test_sgd_failed_partial_fit_leaves_model_unchanged():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = SoftmaxRegressionClassifier(random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    before = {k: np.copy(getattr(clf, k)) for k in ("coef_", "intercept_")}
    n_iter, t = clf.n_iter_, clf.t_
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.partial_fit(X_bad, y)
    with pytest.raises(ValueError, match="X has 2 features"):
        clf.partial_fit(X[:, :2], y)
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(clf, key), value)
    assert (clf.n_iter_, clf.t_) == (n_iter, t)
    # and it continues exactly as if the failed calls never happened
    ref = SoftmaxRegressionClassifier(random_state=0)
    ref.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)


def test_sgd_divergence_raises_and_keeps_previous_model(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=5, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    coef, intercept, n_iter = clf.coef_.copy(), clf.intercept_.copy(), clf.n_iter_
    clf.set_params(learning_rate_init=1e12, learning_rate="constant")
    with pytest.raises(ValueError, match="diverged.*learning rate 1e\\+12"):
        with np.errstate(all="ignore"):
            clf.fit(X_train, y_train)
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(clf.intercept_, intercept)
    assert clf.n_iter_ == n_iter
    with pytest.raises(ValueError, match="learning_rate_init"):
        with np.errstate(all="ignore"):
            clf.partial_fit(X_train, y_train)
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.n_iter_ == n_iter


def test_sgd_divergence_in_partial_fit_keeps_previous_model(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(random_state=0)
    clf.partial_fit(X_train, y_train, classes=np.arange(10))
    before = {
        name: np.copy(getattr(clf, name))
        for name in ("coef_", "intercept_", "loss_curve_", "n_iter_", "t_")
    }
    state = fitted_state(clf)
    clf.set_params(learning_rate_init=1e12, learning_rate="constant")
    with pytest.raises(ValueError, match=r"diverged.*learning rate 1e\+12"):
        with np.errstate(all="ignore"):
            clf.partial_fit(X_train, y_train)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(clf, name), value)
    assert_unchanged(state, clf)


def test_sgd_warm_start_continues(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
        first_loss = clf.loss_curve_[-1]
        clf.fit(X_train, y_train)
    # the second fit starts where the first ended: its first epoch is already
    # much better than the first fit's first epoch
    assert clf.loss_curve_[0] < first_loss * 1.05
    # n_iter_ and loss_curve_ describe this call, as in scikit-learn's SGD
    assert clf.n_iter_ == len(clf.loss_curve_) == 3
    cold = SoftmaxRegressionClassifier(random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X_train, y_train)
    assert clf.loss_curve_[0] < cold.loss_curve_[0]


def test_sgd_is_deterministic_across_processes():
    # Python's hash() is salted per process: nothing in the fit (e.g. the
    # validation split's grouping of duplicate rows) may depend on it
    code = textwrap.dedent(
        """
        import warnings
        import numpy as np
        from sklearn.datasets import load_iris
        from sk_softmax import SoftmaxRegressionClassifier
        X, y = load_iris(return_X_y=True)
        warnings.simplefilter("ignore")
        clf = SoftmaxRegressionClassifier(
            early_stopping=True, random_state=0, max_iter=5
        ).fit(X / 8, y)
        print(np.concatenate([clf.coef_.ravel(), clf.intercept_]).tobytes().hex())
        """
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1


@pytest.mark.parametrize("early_stopping", [False, True])
def test_sgd_is_deterministic(digits, early_stopping):
    X_train, _, y_train, _ = digits
    fits = []
    for _ in range(2):
        clf = SoftmaxRegressionClassifier(
            random_state=42, max_iter=5, early_stopping=early_stopping
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(clf.fit(X_train, y_train))
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    np.testing.assert_array_equal(fits[0].intercept_, fits[1].intercept_)


def test_sgd_float32_trains_in_float32(digits):
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train.astype(np.float32), y_train)
    assert clf.coef_.dtype == np.float32
    assert clf._sgd_state["scaling"]["precond"].dtype == np.float32
    assert clf._sgd_state["momentum"]["velocity"].dtype == np.float32
    assert clf.predict_proba(X_test.astype(np.float32)).dtype == np.float32
    assert clf.score(X_test.astype(np.float32), y_test) > 0.9


@pytest.mark.parametrize(
    "params",
    [
        {"learning_rate": "constant"},
        {"learning_rate": "invscaling", "learning_rate_init": 0.5},
        {"learning_rate": "adaptive"},
        {"learning_rate": "decay"},
        {"learning_rate": "linear"},
        {"momentum": 0.0},
        {"nesterov": True},
        {"batch_size": 32},
        {"shuffle": False},
    ],
)
def test_sgd_options_train_a_good_model(digits, params):
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=30, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.93


def test_sgd_verbose_prints_one_line_per_epoch(digits, capsys):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(
        random_state=0, max_iter=3, early_stopping=True, verbose=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    lines = [
        ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch")
    ]
    assert len(lines) == clf.n_iter_ == 3
    number = r"[0-9.e+-]+"
    pattern = (
        rf"Epoch (\d+): loss ({number}), validation log-loss ({number}), "
        rf"lr {number}, {number} s"
    )
    for epoch, line in enumerate(lines, start=1):
        match = re.fullmatch(pattern, line)
        assert match, line
        assert int(match[1]) == epoch
        assert float(match[2]) == pytest.approx(clf.loss_curve_[epoch - 1], rel=1e-5)
        assert float(match[3]) == pytest.approx(
            -clf.validation_scores_[epoch - 1], abs=1e-6
        )


def test_sgd_verbose_without_early_stopping_has_no_validation_score(digits, capsys):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=2, verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    lines = capsys.readouterr().out.splitlines()
    epochs = [ln for ln in lines if ln.startswith("Epoch")]
    assert len(epochs) == 2
    assert all("validation" not in ln and ln.endswith(" s") for ln in epochs)


def test_sgd_verbose_is_silent_by_default(digits, capsys):
    X_train, _, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        SoftmaxRegressionClassifier(random_state=0, max_iter=2).fit(X_train, y_train)
    assert capsys.readouterr().out == ""


def test_sgd_weighted_equals_repeated_full_batch():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.random.default_rng(0).integers(0, 3, len(y))
    params = dict(random_state=0, batch_size=1000, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = SoftmaxRegressionClassifier(**params).fit(X, y, sample_weight=sw)
        b = SoftmaxRegressionClassifier(**params).fit(
            np.repeat(X, sw, 0), np.repeat(y, sw)
        )
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9)


def test_sgd_partial_fit_preconditioner_follows_all_chunks_seen(digits):
    # A feature that is constant (zero after scaling) in the first chunk used
    # to keep the 1 / alpha step of an unseen feature and blow up later.
    X_train, X_test, y_train, y_test = digits
    j = int(np.argmax(np.abs(X_train).max(axis=0)))
    order = np.argsort(np.abs(X_train[:, j]), kind="stable")  # chunk 1: x_j ~ 0
    clf = SoftmaxRegressionClassifier(random_state=0)
    for _ in range(5):
        for chunk in np.array_split(order, 4):
            clf.partial_fit(X_train[chunk], y_train[chunk], classes=np.arange(10))
    assert clf.score(X_test, y_test) > 0.93
    state = clf._sgd_state
    np.testing.assert_allclose(
        state["scaling"]["moments"]["sq_sum"], 5 * (X_train**2).sum(axis=0), rtol=1e-10
    )


@contextlib.contextmanager
def _record_rates():
    """Record ``(progress, rate, eta0)`` of every SGD update, through the hooks."""
    calls = []

    def record(report, parameters):
        calls.extend(
            (p, eta, report.eta0)
            for p, eta in zip(report.progress, report.rates, strict=True)
        )

    with observe(record):
        yield calls


def test_sgd_linear_schedule_decays_to_zero_over_max_iter(digits):
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxRegressionClassifier(
        learning_rate="linear",
        max_iter=4,
        batch_size=256,
        n_iter_no_change=100,
        random_state=0,
    )
    with warnings.catch_warnings(), _record_rates() as calls:
        warnings.simplefilter("error", ConvergenceWarning)  # its planned end
        clf.fit(X_train, y_train)
    progress, eta, eta0 = np.asarray(calls).T
    n_batches = -(-len(y_train) // clf.batch_size)
    assert len(calls) == clf.t_ == 4 * n_batches
    # one update per minibatch, evenly spaced over the 4 epochs
    within = np.arange(n_batches) * clf.batch_size / len(y_train)
    np.testing.assert_allclose(
        progress, np.repeat(np.arange(4), n_batches) + np.tile(within, 4)
    )
    np.testing.assert_allclose(eta, eta0 * (1 - progress / 4))
    assert eta[0] == eta0[0] and np.all(np.diff(eta) < 0)
    assert eta[-1] < eta0[0] / (4 * n_batches) * 2  # ends near zero
    assert clf.score(X_test, y_test) > 0.93


def test_sgd_linear_schedule_spends_max_iter_without_a_convergence_warning(digits):
    """max_iter is "linear"'s budget, not a cut-off: the user guide's
    GridSearchCV over a 3-epoch budget warned on every fit, advising a larger
    max_iter. An open-ended schedule cut off there still warns."""
    X_train, _, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(learning_rate="linear", max_iter=3)
        clf.fit(X_train, y_train)
    assert clf.n_iter_ == 3
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        SoftmaxRegressionClassifier(max_iter=3).fit(X_train, y_train)


def test_sgd_linear_schedule_in_partial_fit_counts_calls(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(
        learning_rate="linear", max_iter=2, batch_size=len(y_train), random_state=0
    )
    with _record_rates() as calls:
        for _ in range(4):  # one update per call: progress 0, 1, 2, 3 of 2 epochs
            clf.partial_fit(X_train, y_train, classes=np.unique(y_train))
        eta0 = calls[0][2]
        np.testing.assert_allclose(
            [c[1] for c in calls], eta0 * np.array([1, 0.5, 1e-3, 1e-3])
        )
        clf.set_params(max_iter=8)  # a longer horizon takes effect from the next call
        clf.partial_fit(X_train, y_train)
    np.testing.assert_allclose(calls[-1][1], eta0 * (1 - 4 / 8))


def test_sgd_partial_fit_stream_reaches_fit_on_a_hard_problem():
    """Defaults, 24 chunks, 10 passes: the stream lowers its rate like fit does."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=24000,
        n_features=40,
        n_informative=12,
        n_redundant=4,
        n_classes=6,
        n_clusters_per_class=2,
        class_sep=1.0,
        flip_y=0.08,  # label noise
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    full = SoftmaxRegressionClassifier(random_state=0).fit(X_train, y_train)
    stream = SoftmaxRegressionClassifier(random_state=0)
    rates = []
    with observe(lambda report, parameters: rates.append(report.rates[-1])):
        for _ in range(10):
            for chunk in np.array_split(np.arange(len(y_train)), 24):
                stream.partial_fit(X_train[chunk], y_train[chunk], classes=range(6))
    assert stream.n_iter_ == len(rates) == 240
    assert rates[-1] < rates[0] / 100  # the adaptive rate was lowered across calls
    assert stream.score(X_test, y_test) >= full.score(X_test, y_test) - 0.01


def test_sgd_partial_fit_verbose_prints_one_line_per_call(digits, capsys):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(random_state=0, max_iter=2, verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    fit_lines = capsys.readouterr().out.splitlines()
    for chunk in np.array_split(np.arange(len(y_train)), 3):
        clf.partial_fit(X_train[chunk], y_train[chunk])
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in fit_lines] == ["Epoch 1", "Epoch 2"]
    assert [ln.split(":")[0] for ln in lines] == ["Epoch 3", "Epoch 4", "Epoch 5"]
    number = r"[0-9.e+-]+"
    for line, loss in zip(lines, clf.loss_curve_[2:], strict=True):
        match = re.fullmatch(
            rf"Epoch \d+: loss ({number}), lr {number}, {number} s", line
        )
        assert match, line
        assert float(match[1]) == pytest.approx(loss, rel=1e-5)


def test_sgd_early_stopping_warns_when_validation_is_smaller_than_the_classes():
    X, y = load_digits(return_X_y=True)
    # three classes of one sample each: 7 validation samples for 10 classes
    keep = np.concatenate(
        [np.flatnonzero(y == k)[: 12 if k < 7 else 1] for k in range(10)]
    )
    clf = SoftmaxRegressionClassifier(early_stopping=True, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="holds out .* samples for 10 classes"):
            clf.fit(X[keep], y[keep], sample_weight=None)


def test_sgd_auto_schedule_ends_with_a_decay_to_zero(digits):
    """The "auto" schedule stops by itself, at the end of a linear decay."""
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxRegressionClassifier(learning_rate="auto", random_state=0)
    reports = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with observe(lambda report, _: reports.append(report)):
            clf.fit(X_train, y_train)
    assert clf.n_iter_ == len(reports) < clf.max_iter
    rates = np.concatenate([r.rates for r in reports])
    eta0 = reports[0].eta0
    assert rates[0] == eta0 and np.all(np.diff(rates) <= 0)
    assert rates[-1] < 0.1 * rates[-len(reports[-1].rates) - 1]  # decayed to ~0
    # the last epochs fall linearly, update by update
    last = np.asarray(reports[-1].rates)
    np.testing.assert_allclose(np.diff(np.diff(last)), 0, atol=1e-12 * eta0)
    assert clf.score(X_test, y_test) > 0.95


def test_sgd_auto_schedule_lowers_a_rate_too_large_for_the_noise():
    """A loss that gets worse is met by a lower rate, not by a decay to zero."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=3000, n_features=20, n_informative=10, n_classes=6,
        flip_y=0.15, class_sep=0.8, random_state=0,
    )  # fmt: skip
    clf = SoftmaxRegressionClassifier(
        learning_rate="auto", learning_rate_init=5.0, random_state=0
    )
    lowered = []
    with observe(lambda report, _: lowered.append(report.rates[0] < report.eta0)):
        clf.fit(X, y)
    assert any(lowered)
    ref = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    assert clf.score(X, y) >= ref.score(X, y) - 0.02


def test_sgd_auto_schedule_stream_after_fit_goes_on(digits):
    """A stream after an "auto" fit (whose rate reached zero) keeps learning."""
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(learning_rate="auto", random_state=0)
    clf.fit(X_train, y_train)
    with _record_rates() as calls:
        clf.partial_fit(X_train[:300], y_train[:300])
    assert all(eta > 0 for _, eta, _ in calls)
    # the state round-trips through plain values (skops) with the decay cleared
    assert clf._sgd_state["rate"]["decay_start"] is None


@pytest.mark.parametrize("early_stopping", [False, True])
def test_sgd_auto_schedule_on_large_data_lowers_once_then_decays(early_stopping):
    """Above 10,000 training rows, not averaged, "auto" lowers the rate once
    (at a stall judged against the noise of the criterion: the pass's loss,
    or a validation split's log-loss), then decays it to zero."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=12_000, n_features=30, n_informative=20, n_classes=8,
        flip_y=0.1, random_state=0,
    )  # fmt: skip
    reports = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with observe(lambda report, _: reports.append(report)):
            clf = SoftmaxRegressionClassifier(
                random_state=0, early_stopping=early_stopping
            ).fit(X, y)
    eta0 = reports[0].eta0
    rates = np.concatenate([r.rates for r in reports])
    levels = np.unique(rates[rates >= eta0 / 5 * (1 - 1e-12)])
    np.testing.assert_allclose(levels, [eta0 / 5, eta0])  # one lowering
    decaying = rates[rates < eta0 / 5 * (1 - 1e-12)]
    assert decaying.size and np.all(np.diff(decaying) < 0)  # then the decay
    assert rates[-1] < 0.01 * eta0  # to its end
    assert clf.n_iter_ == len(reports) < 30
    ref = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    assert clf.score(X, y) >= ref.score(X, y) - 0.01


def test_sgd_early_stopping_final_decay_trains_on_every_row():
    """With early stopping on large data, the split's rows rejoin the
    training rows for "auto"'s final decay: its epochs take the updates of
    every row, the epochs before it the training part's; the split is still
    scored every epoch, and the state has seen every row at the end."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=12_000, n_features=30, n_informative=20, n_classes=8,
        flip_y=0.1, random_state=0,
    )  # fmt: skip
    reports = []
    with observe(lambda report, _: reports.append(report)):
        clf = SoftmaxRegressionClassifier(
            random_state=0, early_stopping=True, batch_size=200
        ).fit(X, y)
    eta0 = reports[0].eta0
    decaying = [min(r.rates) < eta0 / 5 * (1 - 1e-12) for r in reports]
    updates = np.array([len(r.rates) for r in reports])
    assert not decaying[0] and decaying[-1]
    first = decaying.index(True)
    assert np.all(updates[first:] == 12_000 // 200)  # every row
    n_train = 12_000 - round(0.1 * 12_000)
    assert np.all(updates[:first] == -(-n_train // 200))  # the training part
    assert len(clf.validation_scores_) == clf.n_iter_ == len(reports)
    # the state has seen every row (a stream that follows reads their moments)
    scaling = clf._sgd_state["scaling"]
    assert scaling["rows"] == 12_000
    np.testing.assert_allclose(scaling["moments"]["sq_sum"], np.sum(X * X, axis=0))


def test_sgd_early_stopping_rejoined_rows_step_by_every_rows_scaling():
    """The split's rows rejoin with the preconditioner of every row: a
    feature that only a split's row uses stepped by ``1 / alpha`` with the
    training part's, and its weights blew up (12 where the fit without a
    split has 0.46; a standardised digits column 57 where the optimum has
    0.2)."""
    rng = np.random.default_rng(0)
    n = 1000
    X = rng.standard_normal((n, 10))
    y = (X[:, :3] @ rng.standard_normal((3, 3))).argmax(1)
    rare = np.zeros((n, 30))  # 30 columns, each non-zero in one row
    rare[rng.choice(n, 30, replace=False), np.arange(30)] = 5.0
    X = np.hstack([X, rare])
    plain = SoftmaxRegressionClassifier(random_state=0).fit(X, y)
    split = SoftmaxRegressionClassifier(random_state=0, early_stopping=True)
    split.fit(X, y)
    assert split._sgd_state["scaling"]["rows"] == n  # rejoined: every row
    limit = 2 * np.abs(plain.coef_[:, 10:]).max()
    assert np.abs(split.coef_[:, 10:]).max() < limit
    # the scaling is every row's, as a stream's next call would make it
    scaling = split._sgd_state["scaling"]
    np.testing.assert_allclose(scaling["moments"]["sq_sum"], np.sum(X * X, axis=0))
    stream = SoftmaxRegressionClassifier(random_state=0)
    stream.partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_allclose(
        scaling["precond"], stream._sgd_state["scaling"]["precond"], rtol=1e-12
    )


def test_sgd_auto_schedule_decays_once_the_lowered_rate_leaves_little_noise():
    """With its single lowering, "auto" starts the decay without a stall
    two epochs after the lowering where the drop since it says the lowered
    rate leaves under 1.5% of noise in the loss (a quarter of the drop) and
    the last epoch gained no more than that; a large drop (a noisy problem,
    with much left at the lowered rate) or a descent still under way waits
    for the stall, and a decay with much left lasts longer."""
    from sk_softmax._solvers._schedule import Schedule

    def schedule_stall(rate, best, epoch):
        return Schedule("auto", 0.5).after_epoch(
            rate, best, epoch, "loss", 2, once=True
        )

    def run(bests):
        """The reactions to the epochs' bests: a stall at the first, then
        improvements."""
        schedule = Schedule("auto", 0.5)
        rate = schedule.init(1.0, 100)
        reactions = [schedule.after_epoch(rate, bests[0], 1, "loss", 2, once=True)]
        for epoch, best in enumerate(bests[1:], start=2):
            reactions.append(
                schedule.after_epoch(rate, best, epoch, None, 2, once=True)
            )
        return reactions, rate

    # MNIST-like: 4% in two epochs (1% left), the second one's gain 0.7%
    reactions, rate = run([0.300, 0.290, 0.288])
    assert reactions == ["lowered", "continue", "lowered"]
    assert rate.decay_start == 3 and rate.eta == pytest.approx(0.2)
    # noisy: 27% (7% left), the decay waits for the stall and takes an epoch
    # per 1.5% left: (1.10 - 0.78) / 4 / 0.78 = 10.3%, 7 epochs
    reactions, rate = run([1.10, 1.04, 0.80, 0.79, 0.78])
    assert reactions == ["lowered"] + ["continue"] * 4
    assert schedule_stall(rate, 0.78, 6) == "lowered"
    assert rate.decay_start == 6 and rate.decay_epochs == 7
    # 1% left but the last epoch still gained 1.5%: not settled yet
    reactions, _ = run([0.300, 0.293, 0.288, 0.2875])
    assert reactions == ["lowered", "continue", "continue", "lowered"]
    # without the single lowering (small data, the exact objective): no change
    schedule = Schedule("auto", 0.5)
    rate = schedule.init(1.0, 100)
    schedule.after_epoch(rate, 0.300, 1, "loss", 2)
    assert schedule.after_epoch(rate, 0.290, 2, None, 2) == "continue"
    assert schedule.after_epoch(rate, 0.288, 3, None, 2) == "continue"


@pytest.mark.parametrize(
    "name", ["auto", "constant", "adaptive", "invscaling", "decay", "linear"]
)
def test_schedule_rates_of_a_pass_follow_the_schedule(name):
    """A pass's step sizes, all computed when it starts, are each update's
    rate by the schedule's formula (the ``t``-th update, ``progress`` epochs
    in, epoch 3; "auto" also within its final decay)."""
    from sk_softmax._solvers._schedule import LINEAR_FLOOR, Schedule

    schedule = Schedule(name, 0.25)
    rate = schedule.init(0.5, 10)
    rate.eta = 0.1
    t = np.arange(40, 50)
    progress = 3.0 + np.arange(10) / 10.0
    expected = {
        "auto": np.full(10, 0.1),
        "constant": np.full(10, 0.1),
        "adaptive": np.full(10, 0.1),
        "invscaling": 0.5 / (t + 1.0) ** 0.25,
        "decay": np.full(10, 0.5 / 4.0**0.25),
        "linear": 0.5 * np.maximum(1.0 - progress / 10.0, LINEAR_FLOOR),
    }[name]
    rates = schedule.rates(rate, t, 3, progress)
    np.testing.assert_array_equal(rates, expected)
    assert Schedule("linear", 0.25).rates(rate, t, 3, progress + 20.0)[0] == (
        0.5 * LINEAR_FLOOR
    )
    if name == "auto":  # a decay from epoch 3 over 2 epochs: zero from 5
        rate.decay_start, rate.decay_epochs = 3.0, 2.0
        rates = schedule.rates(rate, t, 3, progress)
        np.testing.assert_allclose(
            rates, 0.1 * np.clip(1.0 - (progress - 3.0) / 2.0, 0.0, None)
        )
        assert schedule.rates(rate, t, 5, progress + 3.0).max() == 0.0


@pytest.mark.parametrize("sparse", [False, True])
def test_sgd_batch_size_beyond_the_rows_is_one_batch_of_every_row(sparse):
    """A ``batch_size`` larger than the data is one batch of every row, with
    buffers of that size (``10**9`` asked for 30 GB on iris and failed with
    a MemoryError); ``True`` is a batch of 1, as in MLPClassifier."""
    X, y = load_iris(return_X_y=True)
    X = sp.csr_matrix(X) if sparse else X
    fits = {
        bs: SoftmaxRegressionClassifier(random_state=0, max_iter=3, batch_size=bs)
        for bs in (150, 10**9, 1, True)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for clf in fits.values():
            clf.fit(X, y)
    np.testing.assert_array_equal(fits[10**9].coef_, fits[150].coef_)
    np.testing.assert_array_equal(fits[True].coef_, fits[1].coef_)


def test_validation_split_warns_of_a_single_sample_class_not_a_zero_weight_one():
    """A class weighted 0 on purpose has no sample to keep for training: the
    split says nothing of it; a class of one sample still gets its warning."""
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 30)
    y[-1] = 3  # one sample of class 3
    X = rng.standard_normal((90, 3))
    rest = (0.1, np.random.RandomState(0), np.arange(4))
    with pytest.warns(UserWarning, match=r"classes \[3\] have fewer than 2 distinct"):
        make_validation_split(X, y, np.ones(90), *rest)
    weight = np.where(y == 2, 0.0, 1.0)
    weight[-1] = 0.0  # classes 2 and 3 weighted 0: nothing to warn of
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_validation_split(X, y, weight, *rest)


def test_sgd_stall_judged_against_the_loss_noise():
    from sk_softmax._stopping import StoppingRule

    rule = StoppingRule(tol=1e-3, n_iter_no_change=1)
    history = rule.init()
    rule.update(history, 0.30)
    # 1% better: progress by tol, but within the loss's standard error (2%)
    assert rule.update(history, 0.297, loss_noise=0.006).stalled == "loss"
    history = rule.init()
    rule.update(history, 0.30)
    assert rule.update(history, 0.297, loss_noise=0.001).stalled is None


def test_sgd_stream_window_holds_enough_rows():
    from sk_softmax._stopping import STREAM_WINDOW_ROWS, StoppingRule

    rule = StoppingRule(tol=1e-3, n_iter_no_change=5, stream=True)
    # calls of 100 rows: the last 5 (500 rows), patience 5 calls
    history = rule.init()
    verdicts = [rule.update(history, 1.0, rows=100) for _ in range(10)]
    assert [v.stalled for v in verdicts] == [None] * 9 + ["loss"]
    assert len(history.recent) == 5
    # calls of one row: no verdict before the window holds 256 rows, then
    # the mean of the last 256 calls (weighted by rows), patience 256 calls
    history = rule.init()
    for i in range(STREAM_WINDOW_ROWS - 1):
        assert rule.update(history, float(i % 2), rows=1).stalled is None
    rule.update(history, 1.0, rows=1)
    assert history.losses == [0.5]
    stalls = [rule.update(history, 0.5, rows=1).stalled for _ in range(256)]
    assert stalls == [None] * 255 + ["loss"]
    # a history kept before rows were: its calls count as full ones
    history = rule.init()
    history.recent = [1.0] * 4
    assert rule.update(history, 1.0, rows=1).stalled is None
    assert history.losses == [1.0]


def test_sgd_pass_noise_is_the_standard_error_of_the_mean_loss():
    from sk_softmax._solvers._sgd._passes import PassResult

    rng = np.random.default_rng(0)
    means = rng.uniform(0.2, 0.4, 40)
    record = PassResult(
        means.mean(), 40 * 256.0, [], [],
        batch_losses=256.0 * means, batch_weights=np.full(40, 256.0),
    )  # fmt: skip
    loss, noise = record.read()
    assert loss == pytest.approx(means.mean())
    assert noise == pytest.approx(means.std(ddof=1) / np.sqrt(40))
    one = PassResult(0.3, 9.0, [], [], batch_losses=np.ones(1), batch_weights=[9.0])
    assert one.read() == (0.3, 0.0)
    # none kept (the compiled sparse loop): not measured
    assert PassResult(0.3, 256.0, [], []).read() == (0.3, None)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_sgd_auto_schedule_on_sparse_and_early_stopping(digits, early_stopping):
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxRegressionClassifier(
        learning_rate="auto", early_stopping=early_stopping, random_state=0
    ).fit(sp.csr_matrix(X_train), y_train)
    assert clf.n_iter_ < clf.max_iter
    assert clf.score(X_test, y_test) > 0.92


# ------------------------------------------------------------------ averaging
@pytest.mark.parametrize("sparse", [False, True])
def test_sgd_average_stream_goes_on_from_the_iterate(digits, sparse):
    """Averaged SGD in calls: the model is the average, the next call goes on
    from the iterate, and the window restarts once, as in fit."""
    X_train, _, y_train, _ = digits
    X = sp.csr_matrix(X_train) if sparse else X_train
    params = dict(
        average=True,
        batch_size=64,
        learning_rate="constant",
        learning_rate_init=0.05,
        shuffle=False,
        tol=0.0,
        random_state=0,
    )
    fitted = SoftmaxRegressionClassifier(max_iter=3, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X, y_train)
    stream = SoftmaxRegressionClassifier(**params)
    for _ in range(3):
        stream.partial_fit(X, y_train, classes=np.unique(y_train))
    np.testing.assert_allclose(stream.coef_, fitted.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(stream.intercept_, fitted.intercept_, atol=1e-10)
    # the iterate is kept for the next call, and differs from the average
    iterate = stream._sgd_state["params"]["coef"]
    assert iterate.shape == (stream.coef_.size + stream.intercept_.size,)
    assert not np.allclose(iterate[: stream.coef_.size], stream.coef_.ravel())


def test_sgd_average_objective_is_the_loss_curve(digits):
    """With averaging, the loss curve is the averaged model's training
    objective: its last value is the fitted model's."""
    from sk_softmax._loss import SoftmaxLoss

    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(average=True, max_iter=4, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    loss = SoftmaxLoss(10, X_train.shape[1])
    Y = (y_train[:, None] == np.arange(10)).astype(float)
    coef = loss.pack(clf.coef_, clf.intercept_, np)
    expected = loss.loss(coef, X_train, Y, alpha=clf.alpha, xp=np)
    assert clf.loss_curve_[-1] == pytest.approx(float(expected), rel=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_sgd_average_early_stopping_keeps_the_best_average(digits, sparse):
    X_train, X_test, y_train, y_test = digits
    X = sp.csr_matrix(X_train) if sparse else X_train
    clf = SoftmaxRegressionClassifier(
        average=True, early_stopping=True, random_state=0, max_iter=30
    )
    clf.fit(X, y_train)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.score(X_test, y_test) > 0.9


def test_sgd_average_auto_on_wide_sparse_only():
    """``average="auto"`` and ``batch_size="auto"``: averaged steps of 32 rows
    where SGD runs its sparse loop on more than 10,000 rows, plain steps of
    256 rows elsewhere (fewer sparse rows included: there the average stalls
    short of held-out parity at small ``alpha``)."""
    from sk_softmax._data import InMemoryData
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._solvers._sgd import SGDConfig

    rng = np.random.default_rng(0)
    n = 10_001  # 10 stored values a row, of 50,000 columns
    columns = rng.integers(0, 50_000, size=10 * n)
    wide = sp.csr_matrix(
        (rng.random(10 * n), columns, np.arange(0, 10 * n + 1, 10)), (n, 50_000)
    )
    cases = [(wide, 32, True), (wide[:10_000], 256, False)]
    cases.append((rng.normal(size=(n, 20)), 256, False))
    for X, batch, average in cases:
        y = np.arange(X.shape[0]) % 3
        weights = np.ones(X.shape[0])
        data = InMemoryData(
            X, y, weights, SoftmaxLoss(3, X.shape[1]), classes=np.arange(3)
        )
        cfg = SGDConfig().resolved(data)
        assert (cfg.batch_size, cfg.average) == (batch, average)
        # early_stopping="auto": the same data, where the training objective
        # falls long after held-out quality stops improving
        assert cfg.early_stopping is average
        # an L1 penalty keeps its exact zeros: no average, plain steps
        cfg = SGDConfig(l1_ratio=1.0).resolved(data)
        assert (cfg.batch_size, cfg.average) == (256, False)
        assert cfg.early_stopping is average
    # set by the user: kept
    cfg = SGDConfig(batch_size=8, average=False, early_stopping=True).resolved(data)
    assert (cfg.batch_size, cfg.average, cfg.early_stopping) == (8, False, True)


def test_sgd_early_stopping_auto_on_wide_sparse_fits_only():
    """The estimator's ``early_stopping="auto"``: a validation split on wide
    sparse data of more than 10,000 rows (``validation_scores_``), none on
    10,000, and never in ``partial_fit`` (the caller decides when to stop)."""
    rng = np.random.default_rng(0)
    n = 10_001
    y = rng.integers(0, 3, n)
    columns = rng.integers(0, 50_000, size=(n, 10))
    columns[:, 0] = y  # a signal
    X = sp.csr_matrix(
        (rng.random(10 * n), columns.ravel(), np.arange(0, 10 * n + 1, 10)),
        (n, 50_000),
    )
    clf = SoftmaxRegressionClassifier(max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        assert len(clf.validation_scores_) == clf.n_iter_
        clf.fit(X[:10_000], y[:10_000])
        assert not hasattr(clf, "validation_scores_")
        clf.partial_fit(X, y)
        assert not hasattr(clf, "validation_scores_")


# ---------------------------------------------------------------- centering
def _offset_features(n=600, seed=0):
    """Three classes on features far from zero, of spreads 0.1 to 10."""
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(seed)
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, n_classes=3, random_state=seed
    )
    return X * 10.0 ** rng.uniform(-1, 1, 6) + rng.uniform(-50, 50, 6), y


def _as_input(X, kind):
    if kind == "array_api_strict":
        xps = pytest.importorskip("array_api_strict")
        return xps.asarray(X)
    if kind == "sparse":  # narrow: the generic pass, not the compiled loop
        return sp.csr_matrix(X)
    return X


@pytest.mark.parametrize("kind", ["numpy", "array_api_strict", "sparse"])
@pytest.mark.parametrize("average", [False, True])
def test_sgd_steps_as_if_the_features_were_centered(kind, average):
    # the same steps as on the centered features, mapped back: W equal, the
    # intercept b' - W mu
    from sk_softmax._backend import to_numpy

    X, y = _offset_features()
    mu = X.mean(axis=0)
    params = dict(random_state=0, max_iter=4, average=average)
    fits = []
    for data in (X, X - mu):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = SoftmaxRegressionClassifier(**params).fit(_as_input(data, kind), y)
        fits.append(
            (np.asarray(to_numpy(clf.coef_)), np.asarray(to_numpy(clf.intercept_)))
        )
    (W, b), (Wc, bc) = fits
    np.testing.assert_allclose(W, Wc, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b, bc - Wc @ mu, rtol=1e-7, atol=1e-7)


def test_sgd_default_fit_does_not_depend_on_the_features_offsets():
    # raw-scale features (spreads 1e-2 to 1e3) far from zero: the default fit
    # is as good as on the same features around zero (the steps see the
    # spreads; scaled by second moments instead, it ended 29% higher here)
    from sklearn.datasets import make_classification

    from sk_softmax._loss import SoftmaxLoss

    rng = np.random.default_rng(0)
    X, y = make_classification(
        n_samples=2000,
        n_features=25,
        n_informative=10,
        n_classes=5,
        n_clusters_per_class=1,
        random_state=0,
    )
    X = X * 10.0 ** rng.uniform(-2, 3, 25)
    loss = SoftmaxLoss(5, 25, True)
    objectives = []
    for data in (X, X + rng.uniform(-50, 50, 25)):
        clf = SoftmaxRegressionClassifier(random_state=0).fit(data, y)
        coef = loss.pack(clf.coef_, clf.intercept_, np)
        objectives.append(float(loss.loss(coef, data, np.eye(5)[y], alpha=1e-4)))
    assert objectives[1] <= 1.01 * objectives[0]


@pytest.mark.parametrize(
    "dtype, value, sparse",
    [
        (np.float64, 1e14, False),
        (np.float64, 1e20, False),
        (np.float64, 1e145, True),
        (np.float32, 1e6, False),
        (np.float32, 1e12, False),
    ],
)
def test_sgd_constant_column_of_any_value_trains_as_without_it(dtype, value, sparse):
    # a constant column's centered values (computed as x w - mu w) are
    # rounding noise, which its variance's scaling (1 / alpha) made steps of:
    # at 1e14 (float32: 1e6) the default fit ended at 0.31 training accuracy
    # with a warning, at 1e20 (float32: 1e8) it diverged, where the same rows
    # without the column train to 0.76; sparse, at 1e145, the rate underflowed
    # to 0 and the model stayed all zeros, silently. Its weight stays about 0
    # now, as the optimum's (the intercept holds the column's mean)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    without = SoftmaxRegressionClassifier(random_state=0).fit(X[:, :4].astype(dtype), y)
    X[:, 4] = value
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = SoftmaxRegressionClassifier(random_state=0).fit(
            sp.csr_matrix(X) if sparse else X, y
        )
    assert clf.coef_.dtype == dtype
    assert abs(clf.score(X, y) - without.score(X[:, :4], y)) <= 0.01
    if not sparse:  # (sparse sums leave the column a spread of rounding)
        assert np.max(np.abs(clf.coef_[:, 4])) * value <= 1e-3


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e-30), (np.float64, 1e-160)])
def test_sgd_features_too_small_without_a_penalty_say_so(dtype, scale):
    # the step 1 / E[x^2] overflowed: "SGD diverged ... with learning rate
    # nan", whose advice (a lower rate) failed the same way
    X, y = load_iris(return_X_y=True)
    X = (X * scale).astype(dtype)
    for rate in ("auto", 1e-3):
        clf = SoftmaxRegressionClassifier(alpha=0.0, learning_rate_init=rate)
        with pytest.raises(ValueError, match="too small to train on .* raise alpha"):
            clf.fit(X, y)


def test_sgd_centers_only_where_it_applies():
    X, y = _offset_features()
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))

    def center(clf):
        return clf._sgd_state["scaling"]["center"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(max_iter=2).fit(X, y, sample_weight=w)
        np.testing.assert_allclose(center(clf), np.average(X, axis=0, weights=w))
        # L1 clips weight by weight; without an intercept nothing absorbs the
        # means; the compiled sparse loop touches only the batch's columns
        for params in ({"l1_ratio": 0.5}, {"fit_intercept": False}):
            clf = SoftmaxRegressionClassifier(max_iter=2, **params).fit(X, y)
            assert center(clf) is None
        wide = sp.random(300, 5000, density=0.002, format="csr", random_state=0)
        clf = SoftmaxRegressionClassifier(max_iter=2).fit(wide, np.arange(300) % 3)
        assert center(clf) is None
        # features whose means do not dwarf their spreads keep the plain
        # steps (the centered steps' larger rate would only add noise)
        scaled = StandardScaler().fit_transform(X) + 1.5
        clf = SoftmaxRegressionClassifier(max_iter=2).fit(scaled, y)
        assert center(clf) is None
        scaled[:, 0] = 2.5  # a constant feature: its mean is all there is
        clf = SoftmaxRegressionClassifier(max_iter=2).fit(scaled, y)
        np.testing.assert_allclose(center(clf), scaled.mean(axis=0))


def test_sgd_stream_centers_on_all_rows_seen():
    # the chunks' moments join exactly (means and spreads, pairwise)
    X, y = _offset_features()
    clf = SoftmaxRegressionClassifier(random_state=0)
    for rows in np.array_split(np.arange(len(y)), 3):
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    state = clf._sgd_state
    np.testing.assert_allclose(state["scaling"]["center"], X.mean(axis=0))
    moments = state["scaling"]["moments"]
    np.testing.assert_allclose(moments["m2"] / len(y), X.var(axis=0), rtol=1e-10)


def test_column_moments_keep_the_spread_of_float32_features_far_from_zero():
    from sk_softmax._solvers._scaling import column_moments

    rng = np.random.default_rng(0)
    X = (50.0 + 0.01 * rng.standard_normal((5000, 4))).astype(np.float32)
    moments = column_moments(X, np.ones(len(X)))
    np.testing.assert_allclose(
        moments.m2 / moments.total, X.astype(np.float64).var(axis=0), rtol=1e-3
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("compiled", [False, True])
def test_column_moments_of_sparse_X_equal_the_dense_ones(dtype, weighted, compiled):
    from sk_softmax._solvers._scaling import column_moments

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 30)).astype(dtype)
    X[rng.random(X.shape) < 0.8] = 0.0
    sw = rng.uniform(0.0, 3.0, 400) if weighted else np.full(400, 2.0)
    sparse, finite = column_moments(
        sp.csr_matrix(X), sw, check_finite=True, compiled=compiled
    )
    dense = column_moments(X.astype(np.float64), sw)
    assert finite
    for name in ("sum", "sq_sum", "m2"):
        np.testing.assert_allclose(
            getattr(sparse, name), getattr(dense, name), rtol=1e-12, atol=1e-12
        )
    assert sparse.total == dense.total
    for bad in (np.nan, np.inf):
        X[7, 3] = bad
        assert not column_moments(
            sp.csr_matrix(X), sw, check_finite=True, compiled=compiled
        )[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_column_moments_of_dense_X_compiled_equal_float64s(dtype, weighted):
    # compiled: one pass over C-ordered rows, in float64, the first row as
    # the reference (rows of zero weight, as a split's, read too)
    from sk_softmax._solvers._scaling import column_moments

    rng = np.random.default_rng(0)
    spread = np.r_[np.full(15, 0.01), np.full(15, 3.0)]  # small ones: far from 0
    X = (50.0 + rng.standard_normal((700, 30)) * spread).astype(dtype)
    sw = rng.uniform(0.0, 3.0, 700) if weighted else np.ones(700)
    sw[rng.random(700) < 0.1] = 0.0
    moments, finite = column_moments(X, sw, check_finite=True, compiled=True)
    assert finite
    X64 = X.astype(np.float64)
    total = sw.sum()
    mean = sw @ X64 / total
    np.testing.assert_allclose(moments.sum, sw @ X64, rtol=1e-12)
    np.testing.assert_allclose(moments.sq_sum, sw @ (X64 * X64), rtol=1e-12)
    np.testing.assert_allclose(moments.m2, sw @ (X64 - mean) ** 2, rtol=1e-9)
    assert moments.total == total
    zero = np.flatnonzero(sw == 0)[0]
    for bad in (np.nan, np.inf, -np.inf):
        X[zero, 3] = bad  # a row of zero weight: still seen
        assert not column_moments(X, sw, check_finite=True, compiled=True)[1]


def test_sgd_failed_call_leaves_a_centered_stream_as_it_was():
    X, y = _offset_features()
    clf = SoftmaxRegressionClassifier(random_state=0)
    clf.partial_fit(X[:300], y[:300], classes=[0, 1, 2])
    assert clf._sgd_state["scaling"]["center"] is not None
    before = fitted_state(clf)
    bad = X[300:].copy()
    bad[5, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.partial_fit(bad, y[300:])
    with pytest.raises(ValueError, match="learning_rate_init"):
        clf.set_params(learning_rate_init=1e6).partial_fit(X[300:], y[300:])
    assert_unchanged(before, clf)


# ------------------------------------------------------- the state and the loop
def _state_arrays(cls, path=()):
    """The array fields of the SGD state tree, read off its dataclasses."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if f.metadata.get("transient"):
            continue
        if dataclasses.is_dataclass(kind):
            yield from _state_arrays(kind, (*path, f.name))
        elif hasattr(kind, "_fields"):  # column moments: sums over rows
            yield from (
                (*path, f.name, name)
                for name in kind._fields
                if typing.get_type_hints(kind)[name] is np.ndarray
            )
        elif kind is object:  # an array (or None until used)
            yield (*path, f.name)


def _arrays_of(tree):
    """The array leaves of ``tree``, walked as the package walks it."""
    from sk_softmax._backend import tree_map

    leaves = []
    tree_map(lambda leaf, host: leaves.append(leaf) or leaf, tree)
    return leaves


def _walk(plain, path):
    for key in path:
        plain = None if plain is None else plain[key]
    return plain


def test_sgd_state_arrays_are_listed_once():
    """Every array of a fitted stream's state (a run using every part) is a
    field of the state tree's dataclasses, and those are all its arrays."""
    from sk_softmax._backend import is_array
    from sk_softmax._solvers._sgd import SGDState

    X, y = _offset_features()
    arrays = sorted(_state_arrays(SGDState))
    for params in ({"average": True}, {"l1_ratio": 0.5}):
        clf = SoftmaxRegressionClassifier(random_state=0, **params)
        for rows in np.array_split(np.arange(len(y)), 2):
            clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        state = clf._sgd_state
        found = [p for p in arrays if is_array(_walk(state, p))]
        assert len(found) == len(_arrays_of(state))  # none outside the definition
    expected = {
        ("params", "coef"),
        ("scaling", "precond"),
        ("scaling", "center"),
        ("scaling", "moments", "sum"),
        ("scaling", "moments", "sq_sum"),
        ("scaling", "moments", "m2"),
        ("scaling", "lowrank", "basis"),
        ("scaling", "lowrank", "shrink"),
        ("scaling", "lowrank", "subspace"),
        ("scaling", "sketch", "sum"),
        ("scaling", "sketch", "factor"),
        ("scaling", "sketch", "var"),
        ("momentum", "velocity"),
        ("l1", "applied"),
        ("average", "sum"),
    }
    assert set(arrays) == expected


class _StandInDevice:
    """Stands in for a device array (CuPy's module name, no CuPy)."""

    __module__ = "cupy._core.core"

    def __init__(self, values):
        self.values = np.array(values)
        self.shape, self.dtype = self.values.shape, self.values.dtype

    def __array_namespace__(self, api_version=None):
        return np

    def get(self):
        return self.values.copy()


def test_sgd_state_moves_to_a_device_and_back_whole(monkeypatch):
    """Pickling a model whose state lives on a device moves every device
    array of it (found by walking the state, not by a list of names) to the
    host, leaves the host ones alone, and a model so pickled loads without
    the device library."""
    import pickle

    import sk_softmax._backend as backend

    X, y = _offset_features()
    clf = SoftmaxRegressionClassifier(average=True, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    on_host = clf._sgd_state
    device = []

    def to_device(leaf, host):
        if host:
            return leaf
        device.append(leaf)
        return _StandInDevice(leaf)

    clf._sgd_state = backend.tree_map(to_device, on_host)
    to_numpy = backend.to_numpy
    monkeypatch.setattr(
        backend, "to_numpy", lambda x: x.get() if hasattr(x, "get") else to_numpy(x)
    )
    state = clf.__getstate__()
    assert all(isinstance(a, np.ndarray) for a in _arrays_of(state["_sgd_state"]))
    assert len(state["_pickled_from_cupy"]["_sgd_state"]) == len(device) > 5
    # Without the device library while loading (and only then: older
    # array-api-compat releases import any "cupy" key they find in sys.modules).
    with monkeypatch.context() as no_cupy:
        no_cupy.setitem(sys.modules, "cupy", None)
        backend.cupy_status.cache_clear()
        try:
            restored = SoftmaxRegressionClassifier.__new__(SoftmaxRegressionClassifier)
            with pytest.warns(UserWarning, match="fitted on a GPU"):
                restored.__setstate__(pickle.loads(pickle.dumps(state)))
        finally:
            backend.cupy_status.cache_clear()
    before, after = _arrays_of(on_host), _arrays_of(restored._sgd_state)
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    restored.partial_fit(X, y)  # the stream goes on, on the host


def test_sgd_solver_runs_twice_on_other_data(digits):
    """A solver is its configuration: a second run, on other data, is the
    run a fresh solver makes."""
    from sk_softmax._callbacks import TrainingHooks
    from sk_softmax._data import InMemoryData
    from sk_softmax._solvers import SGDConfig, SGDSolver

    X_train, X_test, y_train, y_test = digits

    def data(X, y):
        return InMemoryData.from_input(
            X, y, None, classes=None, class_weight=None, fit_intercept=True, name="x"
        )

    config = SGDConfig(max_iter=5, early_stopping=True, tol=1.0)

    def run(solver, X, y):
        d = data(X, y)
        hooks = TrainingHooks(d.loss)
        return solver.run(d, hooks, np.random.RandomState(0)).coef

    solver = SGDSolver(config)
    run(solver, X_train, y_train)
    again = run(solver, X_test, y_test)
    fresh = run(SGDSolver(config), X_test, y_test)
    assert solver.config == config
    np.testing.assert_array_equal(again, fresh)


# ------------------------------------------------------------ the default rule
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sgd_default_holds_on_small_strongly_regularised_data(seed):
    """Standardised iris, alpha=1: the default used to stop after 17 epochs
    during a momentum overshoot (test accuracy 0.667 against the optimum's
    0.822), and then took 158 (a patience of 50 updates, one an epoch, at
    each stall, where the momentum is about 0.03). It now ends at the
    optimum's held-out quality, in well under half of them (the final decay
    still spans 50 updates)."""
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=0.7, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    opt = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1.0, tol=1e-10)
    opt.fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(alpha=1.0, random_state=0)
        clf.fit(X_train, y_train)
    assert clf.n_iter_ <= 75
    assert clf.score(X_test, y_test) >= opt.score(X_test, y_test) - 0.003
    log_loss_of = {
        est: -np.mean(est.predict_log_proba(X_test)[np.arange(len(y_test)), y_test])
        for est in (clf, opt)
    }
    assert log_loss_of[clf] <= 1.02 * log_loss_of[opt]


def test_sgd_patience_spans_the_swings_of_its_momentum():
    """The patience's floor in updates (tiny data has few an epoch) is what
    the heavy ball's swings take to fade: 50 updates at momentum 0.9 (and
    above), fewer below, 1 without momentum."""
    from sk_softmax._solvers._sgd._loop import _swing_updates

    momenta = (0.0, 0.03, 0.5, 0.8, 0.9, 0.99)
    updates = [_swing_updates(m) for m in momenta]
    assert updates == sorted(updates)
    assert updates[0] == 1 and updates[-2:] == [50, 50]
    # each momentum's swing fades at least as much as 0.9's over 50 updates
    for m, n in zip(momenta[1:4], updates[1:4], strict=True):
        assert m ** (n / 2) <= 0.9**25


def test_sgd_default_keeps_the_best_model_it_passed(digits):
    """The model returned is never worse than the best one the fit passed
    (its training objective within 1% of the lowest seen)."""
    from sk_softmax._loss import SoftmaxLoss

    X_train, _, y_train, _ = digits
    alpha = 0.01
    loss = SoftmaxLoss(10, X_train.shape[1])
    Y = np.eye(10)[y_train]

    def objective(W, b):
        return float(loss.loss(loss.pack(W, b, np), X_train, Y, alpha=alpha, xp=np))

    seen = []
    with observe(lambda report, parameters: seen.append(objective(*parameters()))):
        clf = SoftmaxRegressionClassifier(alpha=alpha, random_state=0)
        clf.fit(X_train, y_train)
    assert objective(clf.coef_, clf.intercept_) <= 1.01 * min(seen)
    assert clf.loss_curve_ == pytest.approx(seen, rel=1e-9)  # the exact objective


def test_sgd_momentum_auto_follows_the_conditioning():
    """momentum="auto": 0.9 where the penalty is small against the
    curvature, next to nothing where it dominates (no ringing)."""
    from sk_softmax._solvers._sgd._loop import auto_momentum

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    values = []
    for alpha in (1e-4, 1e-2, 1.0):
        clf = SoftmaxRegressionClassifier(alpha=alpha, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(X, y, classes=[0, 1, 2])
        values.append(auto_momentum(_state(clf), alpha))
    assert values[0] == pytest.approx(0.9)
    assert values[0] >= values[1] > values[2]
    assert values[2] < 0.2


def _isotropic(n, d, k, seed):
    """Many uncorrelated features and noisy labels (embedding-like): every
    direction has about the top curvature, and the minibatch noise is large."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, k)) * 3.0 / np.sqrt(d)
    y = np.argmax(X @ W + rng.gumbel(size=(n, k)), axis=1)
    return X, y


def test_sgd_momentum_auto_is_capped_where_the_steps_are_noisy(global_random_seed):
    """momentum="auto" on dense data keeps the noise it multiplies small: on
    400 uncorrelated features with noisy labels the training loss never
    rises above the starting one (0.9 takes it there), and the model ends
    near the optimum's held-out log-loss."""

    X, y = _isotropic(12_000, 400, 10, global_random_seed)
    X_train, X_test, y_train, y_test = X[:6000], X[6000:], y[:6000], y[6000:]
    start = np.log(10)
    clf = SoftmaxRegressionClassifier(random_state=global_random_seed)
    clf.fit(X_train, y_train)
    assert max(clf.loss_curve_) < start
    heavy = SoftmaxRegressionClassifier(momentum=0.9, max_iter=3, tol=None)
    heavy.set_params(random_state=global_random_seed).fit(X_train, y_train)
    assert max(heavy.loss_curve_) > start
    optimum = SoftmaxRegressionClassifier(solver="lbfgs", tol=1e-8, max_iter=10_000)
    optimum.fit(X_train, y_train)
    ll = log_loss(y_test, clf.predict_proba(X_test))
    assert ll <= 1.05 * log_loss(y_test, optimum.predict_proba(X_test))


def test_sgd_start_noise_is_the_quadratic_model():
    """start_noise: ``eta0 v S (1/B - 1/n) / (4 log K)``; none where a batch
    holds every row; momentum="auto" is the heavy-ball value capped by it."""
    from sk_softmax._data import InMemoryData
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._solvers._sgd._loop import (
        MOMENTUM_NOISE,
        SGDConfig,
        auto_momentum,
        start_noise,
    )

    X, y = _isotropic(600, 40, 5, 0)
    clf = SoftmaxRegressionClassifier(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.partial_fit(X, y, classes=np.arange(5))
    state = _state(clf)
    loss = SoftmaxLoss(5, X.shape[1])
    data = InMemoryData(X, y, np.ones(len(y)), loss, classes=np.arange(5))
    moments = state.scaling.moments
    centered = state.scaling.center is not None  # the variances, else E[x^2]
    second = (moments.m2 if centered else moments.sq_sum) / moments.total
    p = np.asarray(state.scaling.precond)
    spread = p[:-1] @ second + p[-1]
    expected = state.rate.eta0 * 0.8 * spread * (1 / 100 - 1 / 600) / 4 / np.log(5)
    assert start_noise(state, 100, data) == pytest.approx(expected, rel=1e-6)
    assert start_noise(state, 600, data) == 0.0
    assert start_noise(state, 10_000, data) == 0.0
    heavy = auto_momentum(state, 1e-4)
    for batch in (20, 100, 600):
        cap = max(1 - start_noise(state, batch, data) / MOMENTUM_NOISE, 0.0)
        config = SGDConfig(batch_size=batch).with_momentum(state, data)
        assert config.momentum == pytest.approx(min(heavy, cap))
    assert config.momentum == pytest.approx(heavy)  # a batch of every row
    # a stream's chunk is a sample of the stream: its one batch is noisy
    stream = start_noise(state, 600, data, stream=True)
    assert stream == pytest.approx(expected * (1 / 600) / (1 / 100 - 1 / 600))
    config = SGDConfig(batch_size=600).with_momentum(state, data, stream=True)
    assert config.momentum == pytest.approx(
        min(heavy, max(1 - stream / MOMENTUM_NOISE, 0.0))
    )


@pytest.mark.parametrize("chunk", [1, 5, 20])
def test_sgd_stream_of_small_chunks_learns_as_fit_does(chunk):
    # one row a call: the first call's rate came from one row (whose centered
    # features are all 0: the intercept's curvature alone, a rate of 1) and
    # was never read again, and each call's one batch counted as noiseless
    # (momentum 0.9 kept): weights up to 136, held-out log-loss 11.9 where
    # fit's is 0.61; chunks of 5 and 20 rows, 0.99 and 0.98. One pass at a
    # rate that does not decay stays noisier than fit (0.77, 0.71, 0.68)
    rng = np.random.default_rng(0)

    def sample(n):
        X = rng.normal(size=(n, 5))
        y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int) + (X[:, 1] > 0)
        return X, y

    X, y = sample(600)
    X_test, y_test = sample(3000)
    fitted = SoftmaxRegressionClassifier(random_state=0).fit(X, y)
    clf = SoftmaxRegressionClassifier(random_state=0)
    for start in range(0, len(y), chunk):
        rows = slice(start, start + chunk)
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    assert np.abs(clf.coef_).max() < 2 * np.abs(fitted.coef_).max()
    assert log_loss(y_test, clf.predict_proba(X_test)) < 1.5 * log_loss(
        y_test, fitted.predict_proba(X_test)
    )


def test_sgd_stream_of_single_rows_keeps_learning():
    # a stream's criterion was the mean loss of its last 5 calls: with one
    # row a call, five rows' loss, whose noise halved the rate at nearly
    # every window; digits (alpha=1e-3) stopped learning at 77% test
    # accuracy where fit reaches 96%. Now the window holds 256 rows
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    clf = SoftmaxRegressionClassifier(alpha=1e-3, random_state=0)
    for i in range(len(y_train)):
        clf.partial_fit(X_train[i : i + 1], y_train[i : i + 1], classes=np.arange(10))
    assert clf.score(X_test, y_test) > 0.93  # fit: 0.962


def _state(clf):
    from sk_softmax._solvers._sgd import SGDState

    return SGDState.from_plain(clf._sgd_state, None)


def test_sgd_tol_auto_is_relative_and_follows_the_data_size():
    from sk_softmax._data import InMemoryData
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._solvers import ScipySolver, SGDConfig
    from sk_softmax._solvers._sgd._loop import AVERAGED_DENSE_TOL

    for n, tol in [(500, 1e-4), (400_000, 1e-3)]:  # 3 values a row
        X = np.zeros((n, 3))
        y = np.arange(n) % 2
        data = InMemoryData(X, y, np.ones(n), SoftmaxLoss(2, 3), classes=[0, 1])
        # (the diagonal: on 20,000 dense rows or more "auto" is the averaged
        # covariance fit judged on a split, below)
        diagonal = {"preconditioner": "diagonal"}
        assert SGDConfig(**diagonal).resolved(data).tol == tol
        # on a validation split's log-loss: the large one, whatever the size;
        # a stream has no split (its caller decides when it stops)
        assert SGDConfig(early_stopping=True, **diagonal).resolved(data).tol == 1e-3
        stream = SGDConfig(early_stopping=True).resolved(data, incremental=True)
        assert stream.tol == tol and not stream.early_stopping
    large = SGDConfig().resolved(data)
    assert large.early_stopping and large.average and large.tol == AVERAGED_DENSE_TOL
    assert SGDConfig(tol=0.5).resolved(data).tol == 0.5
    params = SoftmaxRegressionClassifier(solver="lbfgs").get_params()
    assert ScipySolver.from_params(params).tol == 1e-4


def test_sgd_tol_is_relative_to_at_least_the_loss_floor():
    """Progress is ``tol`` relative to the best, or to 0.1 below it: a loss
    heading for 0 (nearly separable data) stalls once its gains are tiny in
    nats, instead of running to ``max_iter``."""
    from sk_softmax._stopping import LOSS_FLOOR, StoppingRule

    rule = StoppingRule(tol=1e-3, n_iter_no_change=1)
    assert rule._improves(0.998, 1.0) and not rule._improves(0.9995, 1.0)
    # below the floor the gain must exceed tol * 0.1 = 1e-4 nats
    assert not rule._improves(0.01 - 5e-5, 0.01)
    assert rule._improves(0.01 - 2e-4, 0.01)
    assert LOSS_FLOOR == 0.1
    X, y = load_digits(return_X_y=True)  # raw pixels, nearly separable
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(random_state=0).fit(X[:1000], y[:1000])
    assert clf.n_iter_ < 1000 and clf.score(X[1000:], y[1000:]) > 0.9


def test_sgd_partial_fit_warns_when_a_call_makes_the_model_much_worse():
    """A rate far too large for the data (set on a fitted model) makes the
    call's model much worse than the one it started from: a warning names
    the parameter to change, and the model is not silently degraded."""
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegressionClassifier(random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95
    clf.set_params(learning_rate_init=1e6, learning_rate="constant")
    with pytest.warns(ConvergenceWarning, match="worse.*learning_rate_init"):
        clf.partial_fit(X, y)


@pytest.mark.parametrize("call", ["warm_start", "partial_fit"])
def test_sgd_raised_alpha_is_no_worse_model(call):
    # a larger alpha rightly trades loss for smaller weights: digits / 16,
    # alpha 1e-3 then 0.1, the loss went from 0.148 to 1.28 and a warning
    # said the call left the model worse and to lower the rate, although the
    # objective fell from 12.25 to the optimum's 1.666
    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = SoftmaxRegressionClassifier(alpha=1e-3, random_state=0)
    if call == "warm_start":
        clf.set_params(warm_start=True).fit(X, y)
    else:
        for _ in range(20):
            clf.partial_fit(X, y, classes=np.arange(10))
    clf.set_params(alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y) if call == "warm_start" else clf.partial_fit(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "cg"])
def test_sgd_stream_after_a_full_batch_fit_keeps_its_model(solver):
    # the first call's steps were scaled by its rows alone: one row, whose
    # centered features do not vary, stepped every weight by 1 / alpha at a
    # rate of about 1, and every weight of the model became 0 (held-out
    # log-loss 0.46 to 7.3). The full-batch fit's rows now count as seen
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    clf = SoftmaxRegressionClassifier(solver=solver, random_state=0)
    clf.fit(X_train, y_train)
    before = log_loss(y_test, clf.predict_proba(X_test))
    clf.set_params(solver="sgd").partial_fit(X_test[:1], y_test[:1])
    assert np.abs(clf.coef_).max() > 0.5
    assert log_loss(y_test, clf.predict_proba(X_test)) < 1.05 * before
    # an SGD fit's model keeps no full-batch rows
    clf.set_params(solver="sgd").fit(X_train, y_train)
    assert not hasattr(clf, "_seen_rows")


def test_sgd_average_stream_is_judged_on_its_model():
    # the start was read at the iterate and the end at the average (the
    # model): a stream of single rows warned "left the model worse" on 44 of
    # 300 calls whose model improved on the call's row
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    y = (X[:, :3] @ rng.normal(size=(3, 4))).argmax(axis=1)
    clf = SoftmaxRegressionClassifier(random_state=0, average=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for i in range(len(y)):
            clf.partial_fit(X[i : i + 1], y[i : i + 1], classes=np.arange(4))


def test_sgd_warns_when_the_kept_model_is_worse_than_predicting_nothing():
    """Wide sparse data whose every feature is rare (binary, 15 of 4,000 a
    row): the automatic rate's averaged steps of 32 rows overshoot each
    row's logits, and the kept model predicts the split worse than the zero
    model (log-loss 1.87 against log 4 = 1.39). It said nothing; now a
    warning names what to change. A rate that suits the data: no warning."""
    rng = np.random.default_rng(0)
    n, d, n_classes = 3000, 4000, 4
    X = sp.random(n, d, density=15 / d, format="csr", random_state=1)
    X.data[:] = 1.0
    Z = X @ rng.normal(size=(n_classes, d)).T
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    y = (P.cumsum(axis=1) > np.random.default_rng(1).random((n, 1))).argmax(axis=1)
    params = dict(early_stopping=True, average=True, batch_size=32, random_state=0)
    with pytest.warns(
        ConvergenceWarning, match="every class alike.*learning_rate_init"
    ):
        clf = SoftmaxRegressionClassifier(**params).fit(X, y)
    assert -clf.best_validation_score_ > 1.1 * np.log(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(**params, learning_rate_init=1e-3).fit(X, y)
    assert -clf.best_validation_score_ < np.log(n_classes)


def test_sgd_noise_of_a_weighted_mean_reads_any_weights_scale():
    """The standard error of a weighted mean depends on the weights' ratios
    only: weights of 1e300 or 1e-300, whose squares are no floats, gave a
    ZeroDivisionError (a split of rows weighted 1e300 and 1, found by the
    property test) or nonsense."""
    from sk_softmax._stopping import mean_noise

    rng = np.random.default_rng(0)
    values, weights = rng.normal(size=50), rng.uniform(0.5, 2.0, 50)
    expected = mean_noise(values, weights)
    assert expected > 0
    for scale in (1e300, 1e-300):
        assert mean_noise(values, weights * scale) == pytest.approx(expected)
    assert 0 < mean_noise(values, weights * 2.0**-1070) < 2 * expected  # subnormal
    assert mean_noise(values, weights * 2.0**40) == expected  # exactly
    assert mean_noise(values, np.zeros(50)) == 0.0
    assert mean_noise(values[:0], weights[:0]) == 0.0


def test_sgd_worse_check_reads_the_weighted_loss():
    """The check reads the loss the fit lowers: weights that sacrifice some
    classes raise their rows' unweighted loss, which is no reason to warn."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    weights = {0: 1000.0, 1: 1e-4, 2: 1e-4}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "This fit left", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(class_weight=weights, random_state=0)
        clf.fit(X, y)
        sample_weight = np.where(y == 0, 1.0, 0.0)
        SoftmaxRegressionClassifier(random_state=0).fit(X, y, sample_weight)
    assert np.all(clf.predict(X) == 0)


def test_sgd_partial_fit_refuses_balanced_class_weight():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegressionClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="compute_class_weight.*dict"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(clf, "coef_")
    # a dict over all classes is the way
    clf.set_params(class_weight={0: 1.0, 1: 2.0, 2: 1.0}).partial_fit(
        X, y, classes=[0, 1, 2]
    )


def test_sgd_short_last_batch_steps_in_proportion_to_its_rows():
    """A pass's last batch of m < batch_size rows takes an m / batch_size
    step: chunks that end in a few rows (Dask) add no noisy full step."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rate = dict(learning_rate="constant", learning_rate_init=0.1, momentum=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(
            alpha=0.0, batch_size=100, shuffle=False, max_iter=1, **rate
        ).fit(X, y)
    # the reference: the same two steps by hand, the second 50 / 100 as long
    precond = _state(clf).scaling.precond
    W, b = np.zeros((3, 4)), np.zeros(3)
    Y = np.eye(3)[y]
    for start, scale in ((0, 1.0), (100, 0.5)):
        Xb, Yb = X[start : start + 100], Y[start : start + 100]
        Z = Xb @ W.T + b
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        G = (P / P.sum(axis=1, keepdims=True) - Yb) / len(Xb)
        W = W - 0.1 * scale * precond[:4] * (G.T @ Xb)
        b = b - 0.1 * scale * precond[4:] * G.sum(axis=0)
    np.testing.assert_allclose(clf.coef_, W, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, b, atol=1e-12)


def test_sgd_tol_none_runs_max_iter_epochs_without_a_warning(digits):
    X_train, _, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(tol=None, max_iter=4, random_state=0)
        clf.fit(X_train, y_train)
        assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
        clf.set_params(early_stopping=True).fit(X_train, y_train)
        assert clf.n_iter_ == 4 and len(clf.validation_scores_) == 4
        assert clf.best_validation_score_ == max(clf.validation_scores_)
        clf.partial_fit(X_train, y_train)  # a stream goes on
        assert clf.n_iter_ == 5


@pytest.mark.parametrize("solver", ["cg", "lbfgs"])
def test_full_batch_solvers_refuse_tol_none(digits, solver):
    X_train, _, y_train, _ = digits
    clf = SoftmaxRegressionClassifier(solver=solver, tol=None)
    with pytest.raises(ValueError, match="tol=None .* is for solver='sgd'"):
        clf.fit(X_train, y_train)


def test_sgd_stream_weights_keep_their_proportions_across_calls():
    # a stream's steps are divided by the mean weight of every row it has
    # seen: a chunk weighing 10x counts 10x, as in fit (divided by each
    # chunk's own mean, the stream ended 8.8e-3 above the weighted optimum)
    from sk_softmax._loss import SoftmaxLoss

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    p = np.random.RandomState(0).permutation(150)
    X, y = X[p], y[p]
    sw = np.r_[np.ones(75), np.full(75, 10.0)]
    alpha = 1e-2
    loss = SoftmaxLoss(3, 4, True)

    def objective(clf):
        coef = loss.pack(clf.coef_, clf.intercept_, np)
        return float(loss.loss(coef, X, np.eye(3)[y], sw, alpha=alpha, xp=np))

    best = objective(
        SoftmaxRegressionClassifier(solver="lbfgs", alpha=alpha, tol=1e-8).fit(
            X, y, sample_weight=sw
        )
    )
    clf = SoftmaxRegressionClassifier(alpha=alpha, random_state=0)
    for _ in range(150):
        for part in (slice(0, 75), slice(75, 150)):
            clf.partial_fit(X[part], y[part], classes=[0, 1, 2], sample_weight=sw[part])
    assert objective(clf) - best < 1e-3


def test_sgd_stream_rate_set_back_to_auto_takes_effect():
    # a number set between partial_fit calls takes effect, and so does "auto"
    # set back after it: the rate computed from the data, not the number
    X, y = load_digits(return_X_y=True)
    X = X / 16
    chunks = np.array_split(np.arange(len(y)), 3)
    clf = SoftmaxRegressionClassifier(random_state=0)
    clf.partial_fit(X[chunks[0]], y[chunks[0]], classes=np.arange(10))
    automatic = clf._sgd_state["rate"]["eta0"]
    clf.set_params(learning_rate_init=0.001).partial_fit(X[chunks[1]], y[chunks[1]])
    assert clf._sgd_state["rate"]["eta0"] == 0.001
    clf.set_params(learning_rate_init="auto").partial_fit(X[chunks[2]], y[chunks[2]])
    eta0 = clf._sgd_state["rate"]["eta0"]
    assert 0.5 * automatic < eta0 < 2 * automatic  # (0.158, then 0.123)


@pytest.mark.parametrize("n_classes", [2, 10])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_sgd_compiled_batches_fit_the_same_model(
    n_classes, early_stopping, monkeypatch
):
    # the compiled dense batches (sk_softmax._loss_kernel, on data of
    # COMPILED_VALUES values or more; here on any) and the gathered matrix
    # products: the same fit to rounding (float64), the split's compiled row
    # keys the same split, its compiled scores the same scores, with sample
    # weights and momentum
    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[y < n_classes]), y[y < n_classes]
    sw = np.random.default_rng(0).uniform(0.5, 2.0, y.shape[0])
    params = dict(max_iter=8, tol=None, early_stopping=early_stopping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        products = SoftmaxRegressionClassifier(random_state=0, **params)
        products.fit(X, y, sample_weight=sw)
        monkeypatch.setattr("sk_softmax._loss.COMPILED_VALUES", 0)
        compiled = SoftmaxRegressionClassifier(random_state=0, **params)
        compiled.fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(compiled.coef_, products.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.intercept_, products.intercept_, rtol=1e-9)
    assert compiled.n_iter_ == products.n_iter_
    if early_stopping:  # the validation rows scored by a compiled pass too
        np.testing.assert_allclose(
            compiled.validation_scores_, products.validation_scores_, rtol=1e-9
        )
