"""scipy.sparse input: the same model as dense, without densifying X."""

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier
from sk_softmax._solvers._sgd._passes import runs_sparse_loop


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler(with_mean=False).fit_transform(X)  # keeps the zeros
    return X, y


CONTAINERS = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array]


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SoftmaxRegressionClassifier(random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("solver", ["sgd", "cg", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_fit_equals_dense_fit(digits, solver, dtype):
    X, y = digits
    X = X.astype(dtype)
    if solver == "sgd":
        params = dict(solver=solver, max_iter=10, alpha=1e-2)
    else:  # to the optimum: both stop where the gradient vanishes
        params = dict(solver=solver, max_iter=5000, alpha=1e-2, tol=1e-10)
    dense = _fit(X, y, **params)
    sparse = _fit(sp.csr_matrix(X), y, **params)
    assert sparse.coef_.dtype == dtype
    tol = 1e-5 if dtype == np.float64 else 2e-3
    if dtype == np.float32 and solver != "sgd":
        # float32 line searches stop at the precision limit, at slightly
        # different points for the two summation orders: compare where they
        # stopped through the float64 objective, and the predictions
        from sk_softmax._loss import SoftmaxLoss

        loss = SoftmaxLoss(10, X.shape[1])
        Y = (y[:, None] == np.arange(10)).astype(float)
        values = [
            loss.loss(
                loss.pack(m.coef_.astype(float), m.intercept_.astype(float)),
                X.astype(float),
                Y,
                None,
                1e-2,
            )
            for m in (dense, sparse)
        ]
        assert values[1] == pytest.approx(values[0], rel=1e-3)
        assert np.mean(sparse.predict(X) == dense.predict(X)) > 0.995
        return
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=tol
    )
    if solver == "sgd":  # same batches, same arithmetic
        np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=tol, atol=tol)


@pytest.mark.parametrize("container", CONTAINERS)
def test_sparse_containers_are_accepted(digits, container):
    X, y = digits
    ref = _fit(X, y, solver="lbfgs", alpha=1e-2, tol=1e-10, max_iter=5000)
    clf = _fit(container(X), y, solver="lbfgs", alpha=1e-2, tol=1e-10, max_iter=5000)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        clf.decision_function(container(X)), ref.decision_function(X), atol=1e-3
    )
    np.testing.assert_array_equal(clf.predict(container(X)), ref.predict(X))


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_sparse_int64_indices(digits, solver):
    X, y = digits
    Xs = sp.csr_matrix(X)
    Xs.indices = Xs.indices.astype(np.int64)
    Xs.indptr = Xs.indptr.astype(np.int64)
    clf = _fit(Xs, y, solver=solver, alpha=1e-2, max_iter=10)
    ref = _fit(sp.csr_matrix(X), y, solver=solver, alpha=1e-2, max_iter=10)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-12, atol=1e-12)
    assert clf.score(Xs, y) > 0.9


def _split_entries(X):
    """The same matrix with each stored value written as two entries of
    half its value (exact in floating point), in CSR, not canonical."""
    coo = sp.coo_matrix(X)
    half = coo.data / 2
    rows, cols = np.tile(coo.row, 2), np.tile(coo.col, 2)
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X.shape[0]))])
    split = sp.csr_matrix((np.tile(half, 2)[order], cols[order], indptr), shape=X.shape)
    assert not split.has_canonical_format
    np.testing.assert_array_equal(split.toarray(), X.toarray())
    return split


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", max_iter=10),
        dict(solver="sgd", max_iter=10, early_stopping=True),
        dict(solver="lbfgs"),
        dict(solver="cg"),
    ],
)
@pytest.mark.parametrize("wide", [False, True])  # wide: the compiled sparse loop
def test_sparse_duplicate_entries_are_one_value(digits, params, wide):
    # the column statistics square each stored value: a matrix whose values
    # were split over duplicate entries trained another model (SGD 1,000
    # epochs and a worse log-loss where the canonical matrix took 161)
    if wide:
        X, y = _wide()
    else:
        X, y = sp.csr_matrix(digits[0]), digits[1]
    split = _split_entries(X)
    ref = _fit(X, y, alpha=1e-2, **params)
    clf = _fit(split, y, alpha=1e-2, **params)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    np.testing.assert_array_equal(clf.intercept_, ref.intercept_)
    assert not split.has_canonical_format  # the caller's matrix, untouched
    stream, ref_stream = (SoftmaxRegressionClassifier(random_state=0) for _ in "ab")
    for chunk in np.array_split(np.arange(X.shape[0]), 3):
        stream.partial_fit(split[chunk], y[chunk], classes=np.unique(y))
        ref_stream.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
    np.testing.assert_array_equal(stream.coef_, ref_stream.coef_)


def test_sparse_partial_fit_chunks(digits):
    X, y = digits
    Xs = sp.csr_matrix(X)
    sparse = SoftmaxRegressionClassifier(random_state=0)
    dense = SoftmaxRegressionClassifier(random_state=0)
    for chunk in np.array_split(np.arange(X.shape[0]), 4):
        sparse.partial_fit(Xs[chunk], y[chunk], classes=np.arange(10))
        dense.partial_fit(X[chunk], y[chunk], classes=np.arange(10))
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6, atol=1e-8)


def test_sparse_early_stopping(digits):
    X, y = digits
    dense = _fit(X, y, early_stopping=True, max_iter=20)
    sparse = _fit(sp.csr_matrix(X), y, early_stopping=True, max_iter=20)
    assert sparse.validation_scores_ == pytest.approx(dense.validation_scores_)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6, atol=1e-8)


def test_sparse_fit_never_densifies(digits, monkeypatch):
    X, y = digits
    Xs = sp.csr_matrix(X)

    def refuse(*args, **kwargs):
        raise AssertionError("X was densified")

    monkeypatch.setattr(sp.csr_matrix, "toarray", refuse)
    monkeypatch.setattr(sp.csr_matrix, "todense", refuse)
    for params in ({"solver": "lbfgs"}, {"solver": "cg"}, {"early_stopping": True}):
        clf = _fit(Xs, y, max_iter=5, **params)
        clf.predict_proba(Xs)


def _random_csr(n_samples, n_features, nnz_per_row, seed):
    rng = np.random.default_rng(seed)
    nnz = n_samples * nnz_per_row
    indptr = np.arange(0, nnz + 1, nnz_per_row, dtype=np.int32)
    indices = rng.integers(0, n_features, nnz, dtype=np.int32)
    data = rng.random(nnz)
    X = sp.csr_matrix((data, indices, indptr), shape=(n_samples, n_features))
    X.sum_duplicates()
    w = rng.standard_normal(n_features)
    y = (X @ w > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def large_csr():
    return _random_csr(200_000, 500_000, 50, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "params",
    [
        {"solver": "sgd"},
        {"solver": "sgd", "early_stopping": True},
        {"solver": "cg"},
        {"solver": "lbfgs"},
    ],
    ids=["sgd", "sgd-early-stopping", "cg", "lbfgs"],
)
def test_sparse_peak_memory_within_twice_the_matrix(large_csr, params):
    """200,000 x 500,000 CSR (float64, int32 indices), ~50 non-zeros a row.

    Peak memory traced by tracemalloc during ``fit`` (X allocated before
    tracing starts, so a copy of X would count in full) stays within 2x the
    matrix's own bytes (data + indices + indptr). Two classes: the solvers'
    own state is a few dense vectors of n_classes * (n_features + 1)
    parameters, which for many classes (and L-BFGS's history) can exceed
    the bound by itself; see docs/sparse.rst.
    """
    X, y = large_csr
    matrix_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    clf = SoftmaxRegressionClassifier(max_iter=2, batch_size=4096, **params)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(
        f"\n{params}: matrix {matrix_bytes / 2**20:.0f} MiB, fit peak "
        f"{peak / 2**20:.0f} MiB ({peak / matrix_bytes:.2f}x)"
    )
    assert peak <= 2 * matrix_bytes


def test_sparse_backend_cupy_refuses_scipy_sparse(digits, monkeypatch):
    # with CuPy present (stubbed here: no GPU needed), SciPy sparse input is
    # refused rather than densified on the device
    import sk_softmax._backend as backend

    monkeypatch.setattr(backend, "require_cupy", lambda: None)
    X, y = digits
    clf = SoftmaxRegressionClassifier(backend="cupy")
    with pytest.raises(TypeError, match="does not support SciPy sparse input"):
        clf.fit(sp.csr_matrix(X), y)


# ---------------------------------------------- wide data: the lazy sparse path
def _wide(n_samples=600, n_features=3000, nnz=5, n_classes=4, seed=0):
    """Text-like data: a few non-zeros a row, each class its own frequent words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_samples)
    cols = rng.zipf(1.3, size=(n_samples, nnz)) % n_features
    cols[:, 0] = (y * 7 + rng.integers(0, 7, n_samples)) % n_features  # signal
    rows = np.repeat(np.arange(n_samples), nnz)
    X = sp.csr_matrix(
        (rng.uniform(0.5, 1.5, n_samples * nnz), (rows, cols.ravel())),
        shape=(n_samples, n_features),
    )
    X.sum_duplicates()
    return X, y


def _eager_reference(X, y, clf, epochs, eta, start=None, average=False):
    """The sparse rule applied eagerly, update by update (float64), from
    zeros or from the parameters ``start``; with ``average``, the model is
    the integral of each weight's path over the step sizes from the second
    epoch on, divided by their sum."""
    loss_params = clf._sgd_state  # the preconditioner the fit computed
    n_rows, p = clf.coef_.shape
    precond = np.asarray(loss_params["scaling"]["precond"], dtype=float)
    p_w, p_b = precond[:p], precond[p:]
    W, b = np.zeros((n_rows, p)), np.zeros(n_rows)
    if start is not None:
        W, b = (np.array(a, dtype=float) for a in start)
    Y = (y[:, None] == np.arange(n_rows)).astype(float)
    alpha, m = clf.alpha, clf.batch_size
    decay = np.exp(-eta * alpha * p_w)
    # the integral of w exp(-alpha p s) over one step of size eta
    held = np.where(p_w * alpha > 0, (1 - decay) / (alpha * p_w), eta)
    # not averaged, the step before the decay exp(-a) is expm1(a) / a as long:
    # the pair rests where the penalised gradient is zero (exponential Euler)
    a = eta * alpha * p_w
    kick = np.ones_like(a) if average else np.expm1(a) / a
    for epoch in range(epochs):
        if epoch == 1 or (epoch == 0 and average):
            A, a_b, total = np.zeros_like(W), np.zeros_like(b), 0.0
        for start in range(0, X.shape[0], m):
            Xb, Yb = X[start : start + m], Y[start : start + m]
            Z = Xb @ W.T + b
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            G = P / P.sum(axis=1, keepdims=True) - Yb
            step = eta / Xb.shape[0]
            jumped = W - step * p_w * kick * (Xb.T @ G).T
            b = b - step * p_b * G.sum(axis=0)
            if average:
                A, a_b, total = A + jumped * held, a_b + eta * b, total + eta
            W = decay * jumped
    if average:
        return A / total, a_b / total
    return W, b


def _step_by_step(average):
    """A constant-rate fit whose updates a reference can replay: batches of
    8 rows in order (32 of 800 columns a batch: the lazy path), 3 epochs."""
    return dict(
        learning_rate="constant",
        learning_rate_init=0.3,
        alpha=1e-2,
        batch_size=8,
        shuffle=False,
        max_iter=3,
        n_iter_no_change=100,
        tol=0.0,
        average=average,
    )


@pytest.mark.parametrize("eta", ["auto", 0.1])
def test_sparse_constant_rate_rests_at_the_optimum(eta):
    # full batches at a constant rate, no noise: the iterate must settle on
    # the optimum itself (a plain step before the decay's flow settled 38%
    # short of it where eta * alpha * p is 0.9: rare columns, p ~ 1 / alpha)
    rng = np.random.RandomState(0)
    X = sp.random(200, 5000, density=0.001, random_state=rng, format="csr")
    X.data[:] = rng.uniform(0.5, 1.5, X.nnz)
    y = rng.randint(0, 3, 200)
    assert runs_sparse_loop(X, 200)
    # Newton-CG to tol=1e-12: L-BFGS-B at tol=1e-9 ends on its objective's
    # precision first, 1e-7 from the optimum (a gradient of 2e-8)
    optimum = LogisticRegression(
        C=1 / (0.1 * 200), solver="newton-cg", tol=1e-12, max_iter=1000
    ).fit(X, y)
    clf = SoftmaxRegressionClassifier(
        alpha=0.1, tol=None, max_iter=300, batch_size=200, learning_rate="constant",
        learning_rate_init=eta, shuffle=False, average=False,
    ).fit(X, y)  # fmt: skip
    np.testing.assert_allclose(clf.coef_, optimum.coef_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(clf.intercept_, optimum.intercept_, rtol=0, atol=1e-7)


@pytest.mark.parametrize("average", [False, True])
def test_sparse_lazy_updates_equal_eager_updates(average):
    X, y = _wide(n_samples=120, n_features=800, nnz=4, n_classes=3)
    clf = _fit(X, y, **_step_by_step(average))
    W, b = _eager_reference(X, y, clf, epochs=3, eta=0.3, average=average)
    np.testing.assert_allclose(clf.coef_, W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(clf.intercept_, b, rtol=0, atol=1e-10)


def test_sparse_lazy_path_float32_follows_float64():
    X, y = _wide()
    params = dict(max_iter=5, n_iter_no_change=100)
    ref = _fit(X, y, **params)
    clf = _fit(X.astype(np.float32), y, **params)
    assert clf.coef_.dtype == np.float32
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_pass_keeps_the_data_dtype(monkeypatch, dtype):
    # the compiled loop's weights, intercepts and averages (of both) are in
    # the data's dtype: float32 text trains in float32, float64 stays float64
    from sk_softmax._solvers._sgd import _kernel

    seen = []
    compiled = _kernel.sparse_pass

    def spy(*args):
        # the block (weights and averages), its parts, the intercepts, the
        # intercepts' average
        block, parts, b, a_b = args[6], args[8], args[10], args[21]
        seen.append((block.dtype, b.dtype, a_b.dtype, parts.average))
        return compiled(*args)

    monkeypatch.setattr(_kernel, "sparse_pass", spy)
    X, y = _wide()
    clf = _fit(X.astype(dtype), y, max_iter=3, n_iter_no_change=100, average=True)
    assert len(seen) == 3
    assert all(dtypes[:3] == (np.dtype(dtype),) * 3 for dtypes in seen)
    assert all(averaged for *_, averaged in seen[1:])  # averaged from epoch 2
    assert clf.coef_.dtype == clf.intercept_.dtype == dtype


@pytest.mark.parametrize(
    "params",
    [
        dict(average=True),
        dict(average=False),  # the kicked steps
        dict(average=False, l1_ratio=0.5),
        dict(average=True, alpha=0.0),
    ],
)
@pytest.mark.parametrize("n_classes", [2, 5])
def test_sparse_pass_for_a_class_count_is_the_pass_for_any(
    monkeypatch, params, n_classes
):
    # up to 8 classes the pass is compiled for the count: the same steps,
    # bit for bit, as the pass compiled for any count
    from sk_softmax._solvers._sgd import _kernel

    X, y = _wide(n_classes=n_classes)
    params = dict(max_iter=3, n_iter_no_change=100, early_stopping=False, **params)
    specialised = _fit(X, y, **params)
    monkeypatch.setattr(_kernel, "classes_token", lambda n_rows: ())
    generic = _fit(X, y, **params)
    np.testing.assert_array_equal(specialised.coef_, generic.coef_)
    np.testing.assert_array_equal(specialised.intercept_, generic.intercept_)
    np.testing.assert_array_equal(specialised.loss_curve_, generic.loss_curve_)


def test_sparse_pass_counts_its_batches_in_the_block_dtype():
    # the block keeps each column's last paid batch as an integer of its
    # itemsize: a float32 pass of more batches than int32 counts is refused,
    # naming what to change; float64 counts them in int64
    from sk_softmax._solvers._sgd._passes import paid_view

    block32 = np.zeros((3, 4), dtype=np.float32)
    assert paid_view(block32, 2**31 - 2).dtype == np.int32
    with pytest.raises(ValueError, match="float64 or a larger batch_size"):
        paid_view(block32, 2**31 - 1)
    assert paid_view(np.zeros((3, 4)), 2**40).dtype == np.int64


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_layout_rows_in_the_pass_order(seed):
    from sk_softmax._solvers._sgd._passes import SparseLayout

    X, y = _wide(n_samples=200, seed=seed)
    order = np.random.default_rng(seed).permutation(200)[:150]
    layout = SparseLayout(X, order, np.eye(4)[y])
    data, indices, indptr = layout.rows(order)
    expected = X[order]
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(layout.columns[indices], expected.indices)
    np.testing.assert_array_equal(data, expected.data)


@pytest.mark.parametrize("every_row", [False, True])
@pytest.mark.parametrize("n_samples", [300, 2**16 + 2000])
def test_sparse_layout_columns_most_used_first(n_samples, every_row):
    """The layout's columns: those the pass's rows use, the most used first,
    ties in column order (counts up to 2^16 and above); every row's column
    indices renumbered into them (other columns: 0)."""
    from sk_softmax._solvers._sgd._passes import SparseLayout

    rng = np.random.default_rng(0)
    cols = np.minimum(rng.zipf(1.5, n_samples), 500) - 1  # one value a row
    cols[: max(0, n_samples - 1500)] = 0  # large: a count above 2^16
    X = sp.csr_matrix(
        (np.ones(n_samples), cols, np.arange(n_samples + 1)), shape=(n_samples, 600)
    )
    order = rng.permutation(n_samples)[: n_samples - (0 if every_row else 7)]
    layout = SparseLayout(X, order, np.ones((n_samples, 1)))
    counts = np.bincount(cols[order], minlength=600)
    active = np.flatnonzero(counts)
    np.testing.assert_array_equal(layout.active, active)
    expected = active[np.lexsort((active, -counts[active]))]
    np.testing.assert_array_equal(layout.columns, expected)
    assert (counts.max() >= 2**16) == (n_samples > 2**16)
    local = np.zeros(600, dtype=X.indices.dtype)
    local[expected] = np.arange(expected.shape[0])
    np.testing.assert_array_equal(layout.local, local)
    np.testing.assert_array_equal(layout.indices, local[X.indices])
    assert layout.indices.dtype == X.indices.dtype


def test_sparse_partial_fit_on_wide_chunks():
    X, y = _wide(n_samples=1200)
    full = _fit(X[:900], y[:900])
    stream = SoftmaxRegressionClassifier(random_state=0)
    for _ in range(10):
        for chunk in np.array_split(np.arange(900), 6):
            stream.partial_fit(X[chunk], y[chunk], classes=np.arange(4))
    assert np.all(np.isfinite(stream.coef_)) and stream.n_iter_ == 60
    # the stream learns (4 classes: chance is 0.25); not yet fit's 0.63
    assert stream.score(X[900:], y[900:]) > 0.55 < full.score(X[900:], y[900:])


@pytest.mark.parametrize("n_features", [1, 3])
@pytest.mark.parametrize("average", [False, True])
def test_sparse_partial_fit_on_a_chunk_without_stored_values(average, n_features):
    # a chunk whose rows store no value (no column used: the compiled pass's
    # layout is empty) after a dense start: the intercepts learn, the
    # weights only decay; the final check reads the model from the pass
    # (it raised an IndexError, found by the long property profile)
    rng = np.random.default_rng(1)
    X_dense = rng.normal(size=(8, n_features))
    clf = SoftmaxRegressionClassifier(random_state=0, average=average)
    clf.partial_fit(X_dense, np.arange(8) % 4, classes=range(4))
    before = clf.coef_.copy()
    for n_samples in (1, 5):
        X = sp.csr_matrix((n_samples, n_features))
        clf.partial_fit(X, np.zeros(n_samples, int))
        assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    assert np.all(np.abs(clf.coef_) <= np.abs(before) + 1e-12)
    assert np.argmax(clf.intercept_) == 0


@pytest.mark.parametrize("average", [False, True])
def test_sparse_lazy_updates_decay_weights_outside_the_rows_columns(average):
    # a warm start whose rows use other columns than the first fit's: the
    # first fit's weights outside them only decay, exactly as eagerly
    X, y = _wide(n_samples=240, n_features=800, nnz=4, n_classes=3)
    X = X.tolil()
    X[:120, 400:] = 0  # the first fit sees columns < 400 ...
    X[120:, :200] = 0  # ... the second columns >= 200
    X = X.tocsr()
    X.eliminate_zeros()
    first, second = X[:120], X[120:]
    params = dict(
        learning_rate="constant",
        learning_rate_init=0.3,
        alpha=1e-2,
        batch_size=8,
        shuffle=False,
        max_iter=2,
        n_iter_no_change=100,
        tol=0.0,
        average=average,
    )
    clf = _fit(first, y[:120], **params)
    W0, b0 = clf.coef_.copy(), clf.intercept_.copy()
    assert np.any(W0[:, :200] != 0)
    clf.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(second, y[120:])
    W, b = _eager_reference(
        second, y[120:], clf, epochs=2, eta=0.3, start=(W0, b0), average=average
    )
    np.testing.assert_allclose(clf.coef_, W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(clf.intercept_, b, rtol=0, atol=1e-10)
    # the untouched columns decayed, by the flow of the penalty over 2 epochs
    # (their average too: the mean of a decaying path)
    assert np.all(np.abs(clf.coef_[:, :200]) < np.abs(W0[:, :200]) + 1e-300)


def test_sparse_many_classes_fit_memory_is_data_plus_coefficients():
    # 1,000 classes, 100,000 features: no (n_samples, n_classes) or
    # (n_classes, n_features) temporary beyond the weights themselves
    import tracemalloc

    rng = np.random.default_rng(0)
    n, p, n_classes, nnz = 4000, 100_000, 1000, 20
    y = np.arange(n) % n_classes
    cols = rng.integers(0, p, (n, nnz))
    cols[:, 0] = y * 50 + rng.integers(0, 50, n)  # each class its own words
    X = sp.csr_matrix(
        (np.ones(n * nnz, np.float32), (np.repeat(np.arange(n), nnz), cols.ravel())),
        shape=(n, p),
    )
    X.sum_duplicates()
    _fit(X[:50], y[:50], max_iter=1)  # the compiled loop, outside the count
    data_and_coef = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    data_and_coef += n_classes * p * X.dtype.itemsize
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # many classes, few rows
            clf = _fit(X, y, max_iter=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert clf.coef_.dtype == np.float32
    assert peak < 2 * data_and_coef, peak / data_and_coef
    assert clf.score(X[:500], y[:500]) > 0.9


@pytest.mark.parametrize("early_stopping", [False, True])
def test_sparse_weights_kept_aside_between_passes_change_nothing(early_stopping):
    """The pass keeps its columns' weights side by side from epoch to epoch
    (written back when something reads the model): watching every epoch, with
    early stopping or not, gives the same model bit for bit."""
    from sk_softmax._callbacks import observe

    X, y = _wide(n_samples=400, n_features=3000)
    params = dict(max_iter=6, n_iter_no_change=100, early_stopping=early_stopping)
    plain = _fit(X, y, **params)
    seen = []
    with observe(lambda report, parameters: seen.append(parameters()[0].copy())):
        watched = _fit(X, y, **params)
    np.testing.assert_array_equal(plain.coef_, watched.coef_)
    np.testing.assert_array_equal(plain.intercept_, watched.intercept_)
    assert len(seen) == 6 and not np.array_equal(seen[0], seen[-1])
    if not early_stopping:  # the last epoch's parameters are the model's
        np.testing.assert_array_equal(seen[-1], plain.coef_)
    # a stream goes on from the written-back model
    watched.partial_fit(X[:50], y[:50])
    assert np.all(np.isfinite(watched.coef_))


def _past_its_best_epoch(**params):
    """Wide data and an early-stopped fit's parameters whose run goes past its
    best epoch: few rows of many columns, no penalty (the held-out loss is
    lowest after the first epoch, far above it after)."""
    X, y = _wide(n_samples=1500, n_features=4000)
    params = dict(
        max_iter=12, n_iter_no_change=100, early_stopping=True, alpha=0.0, **params
    )
    return X, y, params


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_early_stopping_scores_the_model_in_pieces(monkeypatch, fit_intercept):
    """With early stopping, the split is scored on the weights of its columns
    read where the pass keeps them, and the best epoch is kept as the pass's
    columns (:class:`~sk_softmax._solvers._sgd._passes.CompactModel`): the
    same scores and the same model as assembling the whole model every epoch,
    and the model kept is the best epoch's (here not the last: few rows of
    many columns, no penalty: the held-out loss is lowest after the first
    epoch, far above it after)."""
    import sk_softmax._solvers._sgd._loop as loop
    from sk_softmax._callbacks import observe

    X, y, params = _past_its_best_epoch(average=True, fit_intercept=fit_intercept)
    seen = []
    with observe(lambda report, parameters: seen.append(parameters())):
        pieces = _fit(X, y, **params)
    monkeypatch.setattr(loop, "weights_on", lambda state, columns: None)
    whole = _fit(X, y, **params)
    assert np.all(np.isfinite(pieces.validation_scores_))
    np.testing.assert_allclose(
        pieces.validation_scores_, whole.validation_scores_, rtol=1e-12
    )
    best = int(np.argmax(pieces.validation_scores_))
    assert best + 1 < pieces.n_iter_, "the run should go past its best epoch"
    for clf in (pieces, whole):
        assert clf.best_validation_score_ == pieces.validation_scores_[best]
        np.testing.assert_allclose(clf.coef_, seen[best][0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(clf.intercept_, seen[best][1], rtol=1e-12)


def test_sparse_averaged_split_fit_ends_on_every_row():
    """An averaged fit judged on a split (the default on wide sparse data of
    over 10,000 rows) never lowers its rate: its first stall starts its last
    two epochs at the same rate, with the split's rows rejoined. The model
    is theirs: columns that only the split's rows use, whose weights were
    exactly zero before, have weights now; ``best_validation_score_`` stays
    the best held-out score, from before the rows rejoined."""
    from sk_softmax._callbacks import observe

    X, y = _wide(n_samples=1500, n_features=4000)
    rare = sp.csr_matrix(  # 300 more columns, each used by one row
        (np.ones(300), (np.arange(300) * 5, np.arange(300))), shape=(1500, 300)
    )
    X = sp.hstack([X, rare], format="csr")
    rates, seen = [], []

    def watch(report, parameters):
        rates.append(np.unique(report.rates))
        seen.append(parameters()[0].copy())

    with observe(watch):
        clf = _fit(X, y, early_stopping=True, average=True, max_iter=50)
    assert runs_sparse_loop(X, 32)  # averaged steps of 32 rows
    stall = clf.n_iter_ - 2  # the epochs before the rejoined two
    assert 1 <= stall < 48
    for each in rates:  # never lowered, the last two epochs included
        np.testing.assert_array_equal(each, rates[0])
    split_only = np.flatnonzero(np.all(seen[stall - 1][:, 4000:] == 0, axis=0))
    assert 0 < split_only.size < 300
    assert np.all(np.any(clf.coef_[:, 4000 + split_only] != 0, axis=0))
    assert clf.best_validation_score_ == max(clf.validation_scores_[:stall])


@pytest.mark.parametrize("alpha", [1e-4, 1.0])
def test_sparse_averaged_split_rate_is_the_heavy_balls(alpha):
    """The averaged fit judged on a split takes the automatic step times
    ``1 / (1 - m)``, ``m`` the momentum "auto" would take (its loop takes
    none), at most 3 times: 3 where the penalty is weak, less where it
    dominates the curvature (a plain fit of the same rows: the step itself)."""
    from sk_softmax._callbacks import observe
    from sk_softmax._solvers._sgd._loop import AVERAGED_SPLIT_STEP

    X, y = _wide(n_samples=1500, n_features=4000)
    seen = {True: [], False: []}
    for average, rates in seen.items():
        with observe(lambda report, parameters, rates=rates: rates.append(report.eta0)):
            _fit(X, y, alpha=alpha, early_stopping=True, average=average)
    ratio = seen[True][0] / seen[False][0]
    if alpha < 1e-2:
        assert ratio == pytest.approx(AVERAGED_SPLIT_STEP, rel=1e-12)
    else:
        assert 1.0 < ratio < AVERAGED_SPLIT_STEP


def test_sparse_rejoined_rows_carry_the_pass_weights_over(monkeypatch):
    """Where the split's rows rejoin, the pass carries its columns' weights
    into the layout of every row instead of writing them back into a whole
    model and reading them again: the same model, bit for bit, and no
    write-back before the end."""
    import sk_softmax._solvers._sgd._passes as passes

    X, y = _wide(n_samples=1500, n_features=4000)
    params = dict(early_stopping=True, average=True, max_iter=50)
    flushes = []
    flush = passes.CompactWeights.flush

    def counted(self):
        flushes.append(self.written)
        return flush(self)

    carries = []
    carried_rows = passes._carried_rows

    def recorded(*args):
        carries.append(carried_rows(*args))
        return carries[-1]

    monkeypatch.setattr(passes.CompactWeights, "flush", counted)
    monkeypatch.setattr(passes, "_carried_rows", recorded)
    carried = _fit(X, y, **params)
    assert [c is not None for c in carries] == [False, True]  # first pass, rejoin
    assert flushes == [False]  # the end's write-back only
    monkeypatch.setattr(passes, "_carried_rows", lambda *args: None)
    written = _fit(X, y, **params)
    assert carried.n_iter_ == written.n_iter_ > 2
    np.testing.assert_array_equal(carried.coef_, written.coef_)
    np.testing.assert_array_equal(carried.intercept_, written.intercept_)


@pytest.mark.parametrize("average", [False, True])
def test_sparse_best_epoch_is_put_back_before_the_write_back(monkeypatch, average):
    """Early stopping's best epoch, kept as the pass's columns, takes the
    last epoch's place where the pass keeps its weights, before they are
    written back (one write of the weights): the same model, the same state
    a stream goes on from, as writing it over the written-back last epoch."""
    from sk_softmax._solvers._sgd._passes import CompactModel

    X, y, params = _past_its_best_epoch(average=average, warm_start=True)
    writes = []
    write_into = CompactModel.write_into

    def counted(self, coef, loss):
        writes.append(1)
        return write_into(self, coef, loss)

    monkeypatch.setattr(CompactModel, "write_into", counted)
    put_back = _fit(X, y, **params)
    assert writes == []
    monkeypatch.setattr(CompactModel, "put_back", lambda self, state: False)
    written = _fit(X, y, **params)
    assert writes == [1]
    assert (
        put_back.n_iter_
        == written.n_iter_
        > int(np.argmax(written.validation_scores_) + 1)
    ), "the run should go past its best epoch"
    np.testing.assert_array_equal(put_back.coef_, written.coef_)
    np.testing.assert_array_equal(put_back.intercept_, written.intercept_)
    for clf in (put_back, written):  # a stream goes on from the same state
        clf.partial_fit(X[:300], y[:300])
    np.testing.assert_array_equal(put_back.coef_, written.coef_)


@pytest.mark.parametrize("average", [False, True])
def test_sparse_final_check_reads_the_kept_model(monkeypatch, average):
    """A run's final check (its model's loss on a sample of rows; every
    weight finite) reads the model where the sparse pass keeps it, before it
    is written back: the same loss as on the written-back model, the same
    model, and the written-back weights are not scanned again; a non-finite
    weight there fails the check."""
    import sk_softmax._data as data_module
    import sk_softmax._solvers._result as result_module
    import sk_softmax._solvers._sgd._loop as loop
    from sk_softmax._solvers._sgd._passes import kept_model

    X, y = _wide(n_samples=1500, n_features=4000)
    params = dict(max_iter=3, early_stopping=False, average=average)
    losses, flags = [], []
    read = data_module.InMemoryData.sample_loss

    def sample_loss(self, *args):
        losses.append(read(self, *args))
        return losses[-1]

    def checked(state):
        kept = kept_model(state)
        flags.append(kept[1])
        return kept

    scanned = []
    scan = result_module.all_finite

    def all_finite(a, xp=None):
        scanned.append(a.ndim)
        return scan(a, xp)

    monkeypatch.setattr(data_module.InMemoryData, "sample_loss", sample_loss)
    monkeypatch.setattr(result_module, "all_finite", all_finite)
    monkeypatch.setattr(loop, "kept_model", checked)
    kept = _fit(X, y, **params)
    assert scanned == [1]  # the intercepts only
    monkeypatch.setattr(loop, "kept_model", lambda state: None)
    whole = _fit(X, y, **params)
    assert scanned == [1, 2, 1]
    assert flags == [True] and len(losses) == 2
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    np.testing.assert_array_equal(kept.coef_, whole.coef_)

    def poisoned(state):  # the least used column's first weight: NaN
        pending = state.scratch.pending
        name = "W" if state.average is None or not state.average.weight else "A"
        pending.compact[name][-1, 0] = np.nan
        flags.append(kept_model(state)[1])
        return kept_model(state)

    monkeypatch.setattr(loop, "kept_model", poisoned)
    with pytest.raises(ValueError, match="diverged"):
        _fit(X, y, **params)
    assert flags[-1] is False


@pytest.mark.parametrize("average", [False, True])
def test_sparse_pass_in_segments_is_the_same_pass(monkeypatch, average):
    """A pass copies its rows a segment of whole minibatches at a time (a
    large matrix's rows are never copied whole): the same steps, so the same
    model, bit for bit; the averaged objective summed by segments equals the
    one sum to rounding."""
    import sk_softmax._solvers._sgd._passes as passes

    X, y = _wide(n_samples=1000, n_features=3000)
    params = dict(max_iter=3, n_iter_no_change=100, average=average)
    whole = _fit(X, y, early_stopping=False, **params)
    monkeypatch.setattr(passes, "SEGMENT_VALUES", 200)  # a segment a minibatch
    cut = _fit(X, y, early_stopping=False, **params)
    np.testing.assert_array_equal(whole.coef_, cut.coef_)
    np.testing.assert_array_equal(whole.intercept_, cut.intercept_)
    np.testing.assert_allclose(whole.loss_curve_, cut.loss_curve_, rtol=1e-12)


def test_sparse_plain_fit_writes_its_weights_back_once(monkeypatch):
    """Nobody reads the model between the passes of a plain fit: the pass's
    weights go back into the parameters once, when the fit ends."""
    import sk_softmax._solvers._sgd._passes as sgd_pass

    flushes = []
    flush = sgd_pass.CompactWeights.flush

    def counted(self):
        flushes.append(self.written)
        flush(self)

    monkeypatch.setattr(sgd_pass.CompactWeights, "flush", counted)
    X, y = _wide(n_samples=400, n_features=3000)
    _fit(X, y, max_iter=6, n_iter_no_change=100)
    assert flushes.count(False) == 1


def test_sparse_average_stream_equals_fit():
    """Averaged SGD on the sparse loop, in calls: each call's average goes
    back into the model and the iterate into the state; three calls give
    three epochs' model."""
    X, y = _wide(n_samples=300, n_features=2000)
    params = dict(
        average=True,
        learning_rate="constant",
        learning_rate_init=0.1,
        shuffle=False,
        tol=0.0,
    )
    fitted = _fit(X, y, max_iter=3, **params)
    stream = SoftmaxRegressionClassifier(random_state=0, **params)
    for _ in range(3):
        stream.partial_fit(X, y, classes=np.arange(4))
    np.testing.assert_allclose(stream.coef_, fitted.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(stream.intercept_, fitted.intercept_, atol=1e-10)


def test_sparse_and_dense_fits_reach_the_optimum():
    """SGD on wide sparse data (the lazy sparse loop) and on the same data
    dense (momentum) both end within 1e-3 of the optimal objective; the
    default sparse fit (averaged steps) within 2% of it."""
    from sk_softmax._loss import SoftmaxLoss

    X, y = _wide(n_samples=1500, n_features=2000, nnz=6, n_classes=4)
    alpha = 1e-3
    loss = SoftmaxLoss(4, X.shape[1])
    Y = (y[:, None] == np.arange(4)).astype(float)

    def objective(clf):
        coef = loss.pack(clf.coef_.astype(float), clf.intercept_.astype(float), np)
        return float(loss.loss(coef, X, Y, alpha=alpha, xp=np))

    best = objective(_fit(X, y, solver="lbfgs", alpha=alpha, tol=1e-10, max_iter=5000))
    plain = dict(alpha=alpha, average=False, random_state=0)
    sparse = SoftmaxRegressionClassifier(**plain).fit(X, y)
    dense = SoftmaxRegressionClassifier(**plain).fit(X.toarray(), y)
    assert objective(sparse) - best < 1e-3
    assert objective(dense) - best < 1e-3
    # measured: 1.5% (the average's tail converges slowly on 47 steps an epoch)
    default = SoftmaxRegressionClassifier(alpha=alpha, random_state=0).fit(X, y)
    assert objective(default) < 1.02 * best


def test_sparse_loop_exp_within_an_ulp_of_libm():
    """The compiled loop's softmax exp (more than 8 classes): within an ulp
    or two of NumPy's on [-708, 0], exactly 1 at 0, exp(-708) below that,
    NaN kept (a diverging model must still read as one)."""
    from numba import njit

    from sk_softmax._solvers._sgd._kernel import _exp_nonpositive

    @njit
    def exps(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = _exp_nonpositive(x[i])
        return out

    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(3.0, 100_000), -rng.uniform(0, 708, 100_000)])
    x = np.concatenate([x, [0.0, -0.0, -1e-300, -0.34657359, -708.0]])
    expected = np.exp(x)
    np.testing.assert_array_less(np.abs(exps(x) - expected), 2.5e-16 * expected)
    assert exps(np.array([0.0]))[0] == 1.0
    below = exps(np.array([-708.5, -745.0, -1e6, -np.inf]))
    np.testing.assert_array_equal(below, exps(np.array([-708.0]))[0])
    assert np.isnan(exps(np.array([np.nan]))[0])


@pytest.mark.parametrize("n_classes", [3, 12])  # 12: the vectorised exp
@pytest.mark.parametrize("average", [False, True])
def test_sparse_loop_equals_the_composed_rule_step_for_step(
    monkeypatch, average, n_classes
):
    """The compiled loop fuses the update rule's parts; the same parts,
    composed (:func:`sparse_rule`) and run update by update on the dense
    copy of the data, give the same model."""
    import sk_softmax._solvers._sgd._passes as passes
    from sk_softmax._solvers._sgd._parts import sparse_rule

    X, y = _wide(n_samples=120, n_features=800, nnz=4, n_classes=n_classes)
    params = _step_by_step(average)
    fused = _fit(X, y, **params)
    monkeypatch.setattr(passes, "dense_rule", lambda cfg, ctx, _: sparse_rule(cfg, ctx))
    composed = _fit(X.toarray(), y, **params)
    np.testing.assert_allclose(fused.coef_, composed.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fused.intercept_, composed.intercept_, atol=1e-10)


def test_sparse_tol_none_computes_no_criterion(monkeypatch):
    """tol=None, as SGDClassifier's: max_iter epochs, no ConvergenceWarning,
    and no pass over the data for the averaged model's objective (the
    criterion no one reads); the model is the one tol=0 with a patience that
    never runs out gives, the losses those of the passes."""
    from sk_softmax._solvers._sgd import _kernel

    X, y = _wide(n_samples=11_000, n_features=20_000)  # averaged steps
    fixed = dict(max_iter=3, early_stopping=False)
    reference = _fit(X, y, tol=0.0, n_iter_no_change=10**6, **fixed)

    def forbidden(*args):
        raise AssertionError("the averaged objective was computed")

    monkeypatch.setattr(_kernel, "rows_loss", forbidden)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(tol=None, random_state=0, **fixed)
        clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    np.testing.assert_array_equal(clf.coef_, reference.coef_)
    np.testing.assert_array_equal(clf.intercept_, reference.intercept_)
    # the pass's own loss (before each update): above the averaged model's
    assert all(
        a > b for a, b in zip(clf.loss_curve_, reference.loss_curve_, strict=True)
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zero_weight", [False, True])
def test_sparse_compiled_fit_rejects_non_finite_X(bad, dtype, zero_weight):
    # the compiled pass over the CSR arrays that sums the columns also checks
    # that every stored value is finite (a row of zero weight's too)
    from sk_softmax._solvers._sgd._kernel import column_sums

    X, y = _wide()
    X = X.astype(dtype)
    X.data[123] = bad
    row = np.searchsorted(X.indptr, 123, side="right") - 1
    sw = np.ones(X.shape[0])
    if zero_weight:
        sw[row] = 0.0
    sums = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    assert not column_sums(X.data, X.indices, X.indptr, sw, *sums)
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        SoftmaxRegressionClassifier(max_iter=2).fit(X, y, sample_weight=sw)
    X.data[123] = 1.0
    assert column_sums(X.data, X.indices, X.indptr, sw, *sums)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_sample_loss_sees_a_weight_its_rows_do_not_use(bad, dtype):
    # the final check of a run reads a sample of rows: a non-finite weight in
    # a column none of them uses still makes it inf (the run then raises)
    from sk_softmax._data import sample_loss
    from sk_softmax._loss import SoftmaxLoss

    X, y = _wide(n_samples=50)
    X = X[:, : X.shape[1] - 1]  # the last column: used by no row
    loss = SoftmaxLoss(4, X.shape[1] + 1)
    coef = np.zeros(loss.n_coef, dtype=dtype)
    Xs = sp.hstack([X, sp.csr_matrix((50, 1))]).tocsr()
    ws = np.ones(50)
    assert sample_loss(loss, coef, Xs, y, ws) == pytest.approx(np.log(4))
    W, _ = loss.unpack(coef, np)
    W[2, -1] = bad
    assert sample_loss(loss, coef, Xs, y, ws) == np.inf


def test_sparse_fit_off_the_compiled_loop_never_imports_numba():
    # Numba's import costs about 0.3 s a process: only the compiled loop (and
    # early stopping's row keys of the sparse matrices it runs on) may pay it
    code = """
import sys, warnings
import numpy as np, scipy.sparse as sp
from sk_softmax import SoftmaxRegressionClassifier
from sk_softmax._solvers._sgd._passes import runs_sparse_loop
X = sp.random(200, 6, density=0.5, format="csr", random_state=0)
y = np.arange(200) % 3
warnings.simplefilter("ignore")
assert not runs_sparse_loop(X, 1)
SoftmaxRegressionClassifier(max_iter=2, early_stopping=False).fit(X, y)
SoftmaxRegressionClassifier(max_iter=2, early_stopping=True).fit(X, y)
SoftmaxRegressionClassifier(max_iter=2, solver="lbfgs").fit(X, y)
SoftmaxRegressionClassifier(max_iter=2).fit(X.toarray(), y)
assert "numba" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("n_features", [3000, 12])
def test_sparse_curvature_step_on_the_columns_the_sample_uses(n_features):
    """The automatic step's power iteration runs on the columns its sparse
    sample uses (renumbered in order; most columns used: as they are): the
    step of the dense sample, to rounding."""
    from sk_softmax._solvers._scaling import top_curvature_step

    X, y = _wide(n_samples=300, n_features=n_features)
    rng = np.random.default_rng(0)
    ws = rng.uniform(0.5, 2.0, 300)
    precond = rng.uniform(0.5, 2.0, n_features + 1)  # the intercept last
    for fit_intercept in (True, False):
        p = precond if fit_intercept else precond[:n_features]
        args = (ws, p, 4, fit_intercept, 1e-3)
        sparse_step = top_curvature_step(X, *args)
        dense_step = top_curvature_step(X.toarray(), *args)
        np.testing.assert_allclose(sparse_step, dense_step, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [1, 5, 50])
def test_sparse_scatter_columns_writes_what_numpy_indexing_does(n_rows, dtype):
    # the compiled write-back by tiles of columns (more columns than a tile)
    from sk_softmax._solvers._sgd._kernel import SCATTER_TILE, scatter_columns

    rng = np.random.default_rng(0)
    n_features, n_used = 5000, 3 * SCATTER_TILE + 7
    columns = rng.choice(n_features, n_used, replace=False)
    local = np.zeros(n_features, dtype=np.int32)
    local[columns] = np.arange(n_used)
    block = rng.standard_normal((n_used, 2 * n_rows + 3)).astype(dtype)
    W_t = block[:, 2 : 2 + n_rows]  # a view of the block, as the pass's
    W = rng.standard_normal((n_rows, n_features)).astype(dtype)
    expected = W.copy()
    expected[:, columns] = W_t.T
    scatter_columns(W_t, np.sort(columns), local, W)
    np.testing.assert_array_equal(W, expected)


def test_sparse_finish_moments_equal_numpys_bit_for_bit():
    # the compiled finish of the sparse moments: NumPy's operations, in its
    # order, -0.0, NaN and infinities included
    from sk_softmax._solvers._sgd._kernel import finish_moments

    values = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e308, 3.0])
    col_sum, col_sq = (a.ravel() for a in np.meshgrid(values, values))
    for total in (1.0, 3.0, 1e-300):
        m2, sq_sum = np.empty_like(col_sum), np.empty_like(col_sum)
        with np.errstate(all="ignore"):
            finish_moments(col_sum, col_sq, total, m2, sq_sum)
            expected_m2 = np.maximum(col_sq - col_sum * col_sum / total, 0.0)
            mean = col_sum / total
            expected_sq = expected_m2 + total * mean * mean
        np.testing.assert_array_equal(m2.view(np.int64), expected_m2.view(np.int64))
        np.testing.assert_array_equal(sq_sum.view(np.int64), expected_sq.view(np.int64))
