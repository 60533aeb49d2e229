"""The objective without the estimator: gradients, stability, dtypes."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sk_softmax._loss import (
    COMPILED_CLASSES,
    COMPILED_VALUES,
    NumpyBatchLoss,
    SoftmaxLoss,
    compiled_batches,
    log_softmax,
    row_labels,
)


def _problem(n_classes, fit_intercept, weighted, seed=0, n_samples=30, n_features=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = rng.integers(0, n_classes, n_samples)
    loss = SoftmaxLoss(n_classes, n_features, fit_intercept)
    if loss.n_rows == 1:
        Y = (y == 1).astype(float)[:, None]
    else:
        Y = (y[:, None] == np.arange(n_classes)).astype(float)
    sw = rng.uniform(0.1, 3.0, n_samples) if weighted else None
    coef = rng.standard_normal(loss.n_coef)
    return loss, X, Y, sw, coef


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_loss_gradient_matches_finite_differences(
    n_classes, fit_intercept, weighted, global_random_seed
):
    loss, X, Y, sw, coef = _problem(
        n_classes, fit_intercept, weighted, seed=global_random_seed
    )
    alpha = 0.3
    _, grad = loss.loss_gradient(coef, X, Y, sw, alpha)
    eps = 1e-6
    numeric = np.empty_like(coef)
    for j in range(coef.shape[0]):
        step = np.zeros_like(coef)
        step[j] = eps
        numeric[j] = (
            loss.loss(coef + step, X, Y, sw, alpha)
            - loss.loss(coef - step, X, Y, sw, alpha)
        ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_loss_value_alone_equals_loss_gradient_value(
    n_classes, fit_intercept, weighted
):
    loss, X, Y, sw, coef = _problem(n_classes, fit_intercept, weighted)
    value, _ = loss.loss_gradient(coef, X, Y, sw, alpha=0.3)
    np.testing.assert_allclose(loss.loss(coef, X, Y, sw, alpha=0.3), value, rtol=1e-13)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_loss_intercept_is_not_penalised(n_classes):
    loss, X, Y, sw, coef = _problem(n_classes, True, False)
    _, g0 = loss.loss_gradient(coef, X, Y, sw, alpha=0.0)
    _, g1 = loss.loss_gradient(coef, X, Y, sw, alpha=2.0)
    n_w = loss.n_rows * loss.n_features
    np.testing.assert_allclose(g1[n_w:], g0[n_w:])
    np.testing.assert_allclose(g1[:n_w] - g0[:n_w], 2.0 * coef[:n_w])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_loss_weighted_equals_repeated(n_classes, global_random_seed):
    loss, X, Y, _, coef = _problem(n_classes, True, False, seed=global_random_seed)
    rng = np.random.default_rng(global_random_seed + 1)
    sw = rng.integers(0, 4, X.shape[0]).astype(float)
    l_w, g_w = loss.loss_gradient(coef, X, Y, sw, 0.1)
    l_r, g_r = loss.loss_gradient(
        coef,
        np.repeat(X, sw.astype(int), axis=0),
        np.repeat(Y, sw.astype(int), 0),
        None,
        0.1,
    )
    np.testing.assert_allclose(l_w, l_r, rtol=1e-12)
    np.testing.assert_allclose(g_w, g_r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_huge_logits_stay_finite(n_classes, dtype):
    loss, X, Y, sw, coef = _problem(n_classes, True, True)
    X = (X * 1e4).astype(dtype)
    coef = (coef * 10).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            value, grad = loss.loss_gradient(coef, X, Y.astype(dtype), sw, 0.1)
    assert np.isfinite(value)
    assert np.all(np.isfinite(grad))
    assert value > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_keeps_dtype(dtype):
    loss, X, Y, sw, coef = _problem(3, True, True)
    value, grad = loss.loss_gradient(
        coef.astype(dtype), X.astype(dtype), Y.astype(dtype), sw.astype(dtype), 0.1
    )
    assert grad.dtype == dtype
    assert np.asarray(value).dtype == dtype


def test_loss_float32_close_to_float64():
    loss, X, Y, sw, coef = _problem(3, True, True)
    v64, g64 = loss.loss_gradient(coef, X, Y, sw, 0.1)
    v32, g32 = loss.loss_gradient(
        coef.astype(np.float32),
        X.astype(np.float32),
        Y.astype(np.float32),
        sw.astype(np.float32),
        0.1,
    )
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)


def test_loss_pack_unpack_round_trip():
    loss = SoftmaxLoss(4, 3, True)
    coef = np.arange(loss.n_coef, dtype=float)
    W, b = loss.unpack(coef)
    assert W.shape == (4, 3) and b.shape == (4,)
    np.testing.assert_array_equal(loss.pack(W, b), coef)
    assert SoftmaxLoss(2, 3, False).n_coef == 3


def test_log_softmax_matches_naive_and_is_stable():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((5, 4))
    naive = np.log(np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_softmax(Z, np), naive, rtol=1e-12)
    with np.errstate(all="raise", under="ignore"):
        out = log_softmax(Z * 1e6, np)
    assert np.all(np.isfinite(out)) and np.all(out <= 0)


@pytest.mark.parametrize("canonical", [True, False])
def test_compact_columns_renumbers_the_used_columns_in_order(canonical):
    """``compact_columns`` keeps each stored value in its place, numbering the
    columns the rows use in their order (as ``np.unique`` and
    ``np.searchsorted`` would), whatever the order of the indices; where half
    the columns or more are used, ``X`` comes back as it is."""
    from sk_softmax._loss import compact_columns

    rng = np.random.default_rng(0)
    X = sp.random(50, 2000, density=0.01, format="csr", random_state=0)
    if not canonical:  # unsorted indices, duplicates
        indices = rng.integers(0, 2000, 600).astype(np.int32)
        indices[1::12] = indices[::12]
        indptr = np.arange(0, 601, 12, dtype=np.int32)
        X = sp.csr_matrix((rng.random(600), indices, indptr), shape=(50, 2000))
    local, used = compact_columns(X)
    np.testing.assert_array_equal(used, np.unique(X.indices))
    np.testing.assert_array_equal(local.indices, np.searchsorted(used, X.indices))
    assert local.indices.dtype == X.indices.dtype and local.shape == (50, used.shape[0])
    np.testing.assert_array_equal(local.data, X.data)
    np.testing.assert_array_equal(local.indptr, X.indptr)
    W = rng.random((3, 2000))
    np.testing.assert_allclose(local @ W[:, used].T, X @ W.T, rtol=1e-12)
    dense = sp.csr_matrix(rng.random((4, 10)))
    assert compact_columns(dense)[1] is None


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_log_proba_of_infinite_logits_is_their_limit(namespace):
    """Logits that overflowed to +inf (finite features times large weights):
    the classes at +inf share the probability, the others get none; a row
    all -inf is a tie. Not ``inf - inf``'s NaN for the whole row."""
    from sk_softmax._loss import log_proba_from_logits

    Z = np.array(
        [
            [np.inf, 3e307, -np.inf],
            [np.inf, 1.0, np.inf],
            [-np.inf, -np.inf, -np.inf],
            [1.0, 2.0, 3.0],
        ]
    )
    with np.errstate(divide="ignore"):
        expected = np.log(
            [[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3], [1, 1, 1]]
        )
    expected[3] = Z[3] - np.log(np.sum(np.exp(Z[3])))
    if namespace == "numpy":
        got = log_proba_from_logits(Z)
    else:
        xp = pytest.importorskip("array_api_strict")
        got = np.asarray(log_proba_from_logits(xp.asarray(Z)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def _batch_loss(loss, X, Y, sw, order, batch_size):
    """A :class:`NumpyBatchLoss` over rows ``order`` of ``X``, gathering
    with ``X[rows]``."""
    return NumpyBatchLoss(
        loss, row_labels(Y), sw, order, batch_size, X, lambda rows, _: X[rows]
    )


@pytest.mark.parametrize("n_classes", [2, 3, 10, COMPILED_CLASSES + 1])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_loss_equals_the_objective_on_each_batch(
    n_classes, fit_intercept, weighted, dtype, global_random_seed, monkeypatch
):
    # the batches of a pass (the compiled pass over the rows up to
    # COMPILED_CLASSES classes, the products of the gathered rows above):
    # each batch's gradient and the pass's loss are the objective's on those
    # rows; batches of 1 to 7 rows and a short last one cover the compiled
    # pass's blocks of four and their remainders
    monkeypatch.setattr("sk_softmax._loss.COMPILED_VALUES", 0)  # any size
    loss, X, Y, sw, coef = _problem(
        n_classes, fit_intercept, weighted, global_random_seed, 40, 13
    )
    X, Y, coef = X.astype(dtype), Y.astype(dtype), coef.astype(dtype)
    sw = None if sw is None else sw.astype(dtype)
    order = np.random.default_rng(global_random_seed).permutation(40)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for batch_size in (1, 3, 7, 40):
        batches = _batch_loss(loss, X, Y, sw, order, batch_size)
        assert batches.compiled == (n_classes <= COMPILED_CLASSES)
        starts = np.arange(0, 40, batch_size)
        for start in starts.tolist():
            stop = min(start + batch_size, 40)
            rows = order[start:stop]
            s = None if sw is None else sw[rows]
            _, expected, _ = loss.sum_loss_gradient(coef, X[rows], Y[rows], s)
            grad = batches.gradient(coef, start, stop)
            assert grad.dtype == dtype
            assert grad.ctypes.data % 64 == 0  # the kernel's buffer: a line's start
            np.testing.assert_allclose(grad, expected, rtol=rtol, atol=rtol)
        total, sums = batches.total(starts)
        s = None if sw is None else sw[order]
        expected, _, _ = loss.sum_loss_gradient(coef, X[order], Y[order], s)
        np.testing.assert_allclose(total, expected, rtol=rtol)
        np.testing.assert_allclose(np.sum(sums), total, rtol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_batch_loss_compiled_keeps_nan(n_classes, monkeypatch):
    # the compiled pass may reorder its sums, never drop a NaN: a diverged
    # model's gradient stays NaN for the fit's finiteness check to see
    monkeypatch.setattr("sk_softmax._loss.COMPILED_VALUES", 0)
    loss, X, Y, sw, coef = _problem(n_classes, True, False)
    coef[0] = np.nan
    batches = _batch_loss(loss, X, Y, sw, np.arange(30), 8)
    assert batches.compiled
    assert np.isnan(batches.gradient(coef, 0, 8)).any()


def test_batch_loss_reads_fortran_ordered_rows_through_the_gather(monkeypatch):
    # rows of an F-ordered X are not contiguous: the gathered products
    monkeypatch.setattr("sk_softmax._loss.COMPILED_VALUES", 0)
    loss, X, Y, sw, coef = _problem(3, True, True)
    F = np.asfortranarray(X)
    order = np.arange(30)[::-1].copy()
    batches = _batch_loss(loss, F, Y, sw, order, 8)
    assert not batches.compiled
    C = _batch_loss(loss, X, Y, sw, order, 8)
    np.testing.assert_allclose(
        batches.gradient(coef, 0, 8).copy(), C.gradient(coef, 0, 8), rtol=1e-12
    )


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_losses_equal_the_logits(n_classes, fit_intercept, dtype):
    # early stopping's compiled scoring: each row's loss and hit as the
    # logits give them, over 1 to 9 rows (the blocks of four and their
    # remainders); a tie of top logits counts as argmax's first
    from sk_softmax._loss import compiled_losses, scores_compiled

    loss, X, Y, _, coef = _problem(n_classes, fit_intercept, False, n_samples=9)
    X, Y, coef = X.astype(dtype), Y.astype(dtype), coef.astype(dtype)
    W, b = loss.unpack(coef, np)
    if loss.n_rows > 1:
        W[1] = W[0]  # classes 0 and 1 tie where no intercept parts them
    assert scores_compiled(X, loss.n_rows)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for m in range(1, 10):
        Z = X[:m] @ W.T + (0 if b is None else b)
        losses, correct = compiled_losses(loss, X[:m], row_labels(Y[:m]), W, b)
        assert losses.dtype == correct.dtype == np.float64
        np.testing.assert_allclose(
            losses, loss.losses_from_logits(Z, Y[:m], np), rtol=rtol, atol=rtol
        )
        np.testing.assert_array_equal(correct, loss.correct_from_logits(Z, Y[:m], np))
    assert not scores_compiled(np.asfortranarray(X), loss.n_rows)
    assert not scores_compiled(X, COMPILED_CLASSES + 1)


def test_batch_loss_compiled_only_on_large_data():
    # below COMPILED_VALUES values a fit never imports Numba (test_sparse.py
    # checks the import itself)
    n_features = 64
    n_large = COMPILED_VALUES // n_features
    for n_samples, expected in ((n_large - 1, False), (n_large, True)):
        X = np.lib.stride_tricks.as_strided(  # no memory: the flags and size
            np.zeros(1), (n_samples, n_features), (0, 0)
        )
        assert not X.flags.c_contiguous
        assert not compiled_batches(X, 10)
        X = np.empty((n_samples, n_features), dtype=np.float32)
        assert compiled_batches(X, 10) is expected
        assert not compiled_batches(X, COMPILED_CLASSES + 1)
