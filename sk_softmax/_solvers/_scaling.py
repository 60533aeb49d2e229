"""SGD's step scaling, computed from the data: a preconditioner and the
initial step size.

The Hessian of the loss is bounded by ``c * E_s[x x^T] + alpha * I`` with
``c = 1/2`` (multinomial) or ``1/4`` (binomial), ``x`` extended by a 1 for the
intercept. :func:`column_moments` reads the diagonal of that bound from the
data (by row blocks, where the data lives; the Dask path adds the sums of its
chunks), :func:`sgd_scaling` turns it into per-parameter scalings and a step.

With an intercept, SGD can also step as if the features were centered
(``x - mu``, the intercept ``b + W mu``): the same objective and optimum, but
the bound's diagonal is then the features' variances, not their second
moments, so that a feature far from zero (raw pixels, prices, years) no
longer shares its step with the intercept. :func:`centered_step` maps such a
step back to the model's own parameters.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .._backend import device, get_namespace, to_numpy
from .._loss import compact_columns


class ColumnMoments(NamedTuple):
    """Weighted column moments of ``X`` (float64 host vectors, sums over rows).

    ``sum``: ``sum_i s_i x_ij``; ``sq_sum``: ``sum_i s_i x_ij^2``; ``m2``:
    ``sum_i s_i (x_ij - mean_j)^2``, computed without the cancellation of
    ``sq_sum - sum^2 / total`` (a feature of mean 50 and spread 0.01 keeps its
    variance in float32); ``total``: ``sum_i s_i``.
    """

    sum: np.ndarray
    sq_sum: np.ndarray
    m2: np.ndarray
    total: float

    def mean_squares(self, centered):
        """The per-feature mean squares the steps are scaled by: the
        variances where the steps are ``centered``, else ``E[x^2]``."""
        return (self.m2 if centered else self.sq_sum) / self.total

    def combine(self, other):
        """The moments of both parts' rows (Chan et al.'s pairwise update)."""
        if not (self.total and other.total):  # a part without weight adds nothing
            return other if other.total else self
        delta, weight = _mean_shift(self, other)
        return ColumnMoments(
            self.sum + other.sum,
            self.sq_sum + other.sq_sum,
            self.m2 + other.m2 + weight * delta * delta,
            self.total + other.total,
        )


def _mean_shift(a, b):
    """Chan et al.'s pairwise update of two parts' centred second moments
    (``sum`` and ``total`` each): they add up, plus ``weight`` times the
    square of the means' difference ``delta`` (per feature; the sketch's
    factor gains the row ``sqrt(weight) * delta``). Returns ``(delta,
    weight)``."""
    delta = b.sum / b.total - a.sum / a.total
    return delta, a.total * b.total / (a.total + b.total)


#: Up to this many features an :class:`InputSketch`'s factor is exact (at
#: most ``n_features`` rows: 8 MB at 1,024); above, it keeps ``SKETCH_RANK``
#: rows, its leading directions (8 times the covariance preconditioner's
#: ``COVARIANCE_RANK``). A fitted model keeps the sketch for its stream:
#: ``256 * n_features`` values there, not ``n_features ** 2`` (129 MB at
#: 4,000 features). Exact below: the triangle of a QR, which costs MNIST's
#: 784 features 0.035 s where the leading directions' eigendecomposition
#: took 0.19 s (one thread).
EXACT_FEATURES = 1024
SKETCH_RANK = 256


class InputSketch(NamedTuple):
    """The features' weighted covariance, from a sample of rows (host, float64).

    ``sum``: ``sum_i s_i x_i`` (shape ``(n_features,)``); ``factor``: rows
    ``F`` with ``F^T F = sum_i s_i (x_i - mean)(x_i - mean)^T`` (above
    ``EXACT_FEATURES`` features at most ``SKETCH_RANK`` of them: the leading
    directions where that matrix's rank is larger, the rest dropped);
    ``var``: its diagonal, exact; ``total``:
    ``sum_i s_i``. Sums over a sample of rows stand for the sums over all
    the rows they were drawn from (scaled by the rows' total weight over the
    sample's); where the sample is every row, they are exact. Parts combine
    as :class:`ColumnMoments` do, so a stream's sketch is the sketch of all
    its rows, sample for sample.
    """

    sum: np.ndarray
    factor: np.ndarray
    var: np.ndarray
    total: float

    @property
    def m2(self):
        """``F^T F`` (``(n_features, n_features)``: for inspection)."""
        return self.factor.T @ self.factor

    def mean_squares_along(self, basis, centered):
        """``E[(x . u)^2]`` for each column ``u`` of ``basis`` (``x``
        centered where ``centered``): :meth:`ColumnMoments.mean_squares`
        along those directions instead of the features'."""
        projected = self.factor @ basis
        out = np.sum(projected * projected, axis=0) / self.total
        if not centered:
            out = out + (self.sum @ basis / self.total) ** 2
        return out

    def combine(self, other):
        """The sketch of both parts' rows (Chan et al.'s pairwise update)."""
        if not (self.total and other.total):  # a part without weight adds nothing
            return other if other.total else self
        delta, weight = _mean_shift(self, other)
        shift = np.sqrt(weight) * delta
        return InputSketch(
            self.sum + other.sum,
            _leading_rows(np.vstack([self.factor, other.factor, shift[None, :]])),
            self.var + other.var + shift * shift,
            self.total + other.total,
        )


def _leading_rows(F):
    """Rows ``G`` with ``G^T G`` equal to ``F^T F``: ``F`` itself where it
    has at most twice as many rows as features, else the triangle of its QR
    (up to ``EXACT_FEATURES`` features); above, at most ``SKETCH_RANK``
    rows, its leading directions (from the eigenvectors of ``F F^T``: exact
    where its rank is no larger). (MNIST's sample of 1,000 rows: its QR cost
    33 ms a fit, the products with its 216 rows more than the triangle's
    about 5.)"""
    n_rows, n_features = F.shape
    if n_features <= EXACT_FEATURES:
        return F if n_rows <= 2 * n_features else np.linalg.qr(F, mode="r")
    if n_rows <= SKETCH_RANK:
        return F
    _, U = np.linalg.eigh(F @ F.T)
    return U[:, ::-1][:, :SKETCH_RANK].T @ F


def input_sketch(Xs, ws, total):
    """The :class:`InputSketch` of the rows ``Xs`` (host, dense or sparse)
    with weights ``ws``, scaled to stand for rows of total weight ``total``."""
    Xs = Xs.toarray() if sp.issparse(Xs) else Xs
    Xs = np.asarray(Xs, dtype=np.float64)
    ws = np.asarray(ws, dtype=np.float64)
    n_features = Xs.shape[1]
    weight = float(np.sum(ws))
    if not weight or not total:
        zero = np.zeros(n_features)
        return InputSketch(zero, np.zeros((0, n_features)), zero, 0.0)
    scale = float(total) / weight
    mean = ws @ Xs / weight
    D = (Xs - mean) * np.sqrt(ws * scale)[:, None]
    return InputSketch(
        mean * float(total), _leading_rows(D), np.sum(D * D, axis=0), float(total)
    )


def column_moments(
    X, sample_weight, check_finite=False, in_float64=False, compiled=False
):
    """The weighted :class:`ColumnMoments` of ``X``.

    Computed by row blocks (dense, sparse or on X's device): never a full copy
    of ``X``; only ``(n_features,)`` results cross to the host. Dense blocks
    are summed about a reference row (the first): the sums of
    ``x - x_0`` and of its squares, in X's dtype, give the variances without
    cancellation; sparse ``X`` is summed as it is, in float64. ``compiled``:
    sparse ``X``'s sums (and finiteness) from one compiled pass over its CSR
    arrays instead (Numba; for fits whose steps run compiled code, which
    loads it anyway: on ``benchmarks/bench_sparse.py``'s corpora 0 to 8 ms
    less a fit), and a C-ordered float array's from one compiled pass over
    its rows, in float64 (MNIST: 17 ms instead of 42, which made four
    products a block where a split's rows have zero weight).

    With ``check_finite=True`` the result is ``(moments, surely_finite)``:
    whether every entry of ``X`` is certainly finite. For dense NumPy ``X``
    it comes from the same pass (a NaN or infinity makes its column's sum
    non-finite; rows of zero weight get an unweighted sum too), so SGD reads
    ``X`` once for both; False can also mean a sum overflowed, so the caller
    then runs the exact check. ``in_float64=True`` squares in float64
    (float32 data whose squares overflow float32).
    """
    if check_finite:
        # a NaN or infinity in X makes "invalid" products (inf * 0) on its way
        # to the error the caller raises: no RuntimeWarning before it
        with np.errstate(invalid="ignore", over="ignore"):
            return _column_moments(X, sample_weight, True, in_float64, compiled)
    return _column_moments(X, sample_weight, False, in_float64, compiled)[0]


def _column_moments(X, sample_weight, check_finite, in_float64, compiled):
    n_samples, n_features = X.shape
    sw = np.asarray(sample_weight, dtype=np.float64)
    total = float(np.sum(sw))
    surely_finite = True
    shift = np.zeros(n_features)
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # the CSR arrays (for a csr_array too), no copy
        uniform = bool(np.all(sw == sw[0])) if n_samples else True
        if compiled:
            from ._sgd._kernel import column_sums

            col_sum, col_sq = np.zeros(n_features), np.zeros(n_features)
            surely_finite = column_sums(
                X.data, X.indices, X.indptr, sw[:0] if uniform else sw, col_sum, col_sq
            )
        else:
            col_sum, col_sq = _sparse_column_sums(X, sw, uniform)
            surely_finite = not check_finite or bool(np.isfinite(X.data).all())
        if uniform and n_samples and sw[0] != 1.0:  # (times 1: the same sums)
            col_sum *= sw[0]
            col_sq *= sw[0]
        if compiled and 0.0 < total < np.inf:  # the moments in one compiled pass
            from ._sgd._kernel import finish_moments

            m2, sq_sum = np.empty(n_features), np.empty(n_features)
            finish_moments(col_sum, col_sq, total, m2, sq_sum)
            return ColumnMoments(col_sum, sq_sum, m2, total), surely_finite
    elif compiled and _compiled_dense(X):
        from ._sgd._kernel import dense_column_sums

        col_sum, col_sq = np.zeros(n_features), np.zeros(n_features)
        if n_samples:
            shift = X[0].astype(np.float64)
        dense_column_sums(X, sw, shift, col_sum, col_sq)
        surely_finite = bool(np.isfinite(col_sum).all() and np.isfinite(col_sq).all())
    elif isinstance(X, np.ndarray):
        col_sum, col_sq = np.zeros(n_features), np.zeros(n_features)
        dtype = np.float64 if in_float64 else X.dtype
        # zero weights hide a row from the weighted sums (BLAS may skip them)
        unweighted = np.zeros(n_features) if check_finite and (sw == 0).any() else None
        rows = min(2048, n_samples)  # the shifted block (6 MiB for MNIST) is reused
        buffer = np.empty((rows, n_features), dtype=dtype)
        ones = np.ones(rows, dtype=dtype)
        if n_samples:
            shift = X[0].astype(dtype)
        for start in range(0, n_samples, rows):
            block = X[start : start + rows]
            weights = sw[start : start + rows].astype(dtype)
            d = np.subtract(block, shift, out=buffer[: block.shape[0]], dtype=dtype)
            col_sum += weights @ d
            if unweighted is not None:
                unweighted += ones[: block.shape[0]] @ d
            np.multiply(d, d, out=d)
            col_sq += weights @ d
            if unweighted is not None:
                unweighted += ones[: block.shape[0]] @ d
        if check_finite:
            surely_finite = bool(np.isfinite(col_sq).all()) and (
                unweighted is None or bool(np.isfinite(unweighted).all())
            )
    else:  # on X's device: only the (n_features,) results cross
        xp = get_namespace(X)
        dtype = xp.float64 if in_float64 else X.dtype
        sw_dev = xp.asarray(sw, dtype=dtype, device=device(X))
        acc = xp.zeros((n_features,), dtype=dtype, device=device(X))
        acc_sum = xp.zeros((n_features,), dtype=dtype, device=device(X))
        first = xp.astype(X[0, :], dtype) if n_samples else acc
        for start in range(0, n_samples, 8192):
            stop = min(start + 8192, n_samples)
            d = xp.astype(X[start:stop, :], dtype) - first
            weighted = d * xp.reshape(sw_dev[start:stop], (-1, 1))
            acc_sum = acc_sum + xp.sum(weighted, axis=0)
            acc = acc + xp.sum(d * weighted, axis=0)
        shift = np.asarray(to_numpy(first), dtype=np.float64)
        col_sum = np.asarray(to_numpy(acc_sum), dtype=np.float64)
        col_sq = np.asarray(to_numpy(acc), dtype=np.float64)
        if check_finite:
            surely_finite = bool(xp.all(xp.isfinite(X)))
    # col_sum and col_sq are about ``shift``: the mean moves, the spread not
    shift = np.asarray(shift, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m2 = np.maximum(col_sq - col_sum * col_sum / total, 0.0) if total else col_sq
        col_sum = col_sum + shift * total
        mean = col_sum / total if total else np.zeros(n_features)
        sq_sum = m2 + total * mean * mean
    return ColumnMoments(col_sum, sq_sum, m2, total), surely_finite


def _compiled_dense(X):
    """Whether :func:`column_moments` sums dense ``X`` compiled: a C-ordered
    float32 or float64 NumPy array."""
    return (
        isinstance(X, np.ndarray)
        and X.dtype in (np.float32, np.float64)
        and X.flags.c_contiguous
    )


def _sparse_column_sums(X, sw, uniform):
    """``(sum_i s_i x_ij, sum_i s_i x_ij^2)`` of a CSR matrix in float64 (the
    plain sums where the weights are ``uniform``), by blocks of about 2**20
    stored values read in place (views of the CSR arrays): the temporaries
    stay small whatever the matrix."""
    n_samples, n_features = X.shape
    col_sum, col_sq = np.zeros(n_features), np.zeros(n_features)
    step = max(1, int(n_samples * 2**20 // max(X.nnz, 1)))
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        lo, hi = X.indptr[start], X.indptr[stop]
        values = np.asarray(X.data[lo:hi], dtype=np.float64)
        if not uniform:
            values = values * np.repeat(
                sw[start:stop], np.diff(X.indptr[start : stop + 1])
            )
        sq = np.multiply(values, X.data[lo:hi], dtype=np.float64)
        cols = X.indices[lo:hi]
        col_sum += np.bincount(cols, weights=values, minlength=n_features)
        col_sq += np.bincount(cols, weights=sq, minlength=n_features)
    return col_sum, col_sq


def _curvature_constant(n_classes):
    """Bound on the largest eigenvalue of the softmax Hessian's class block."""
    return 0.25 if n_classes == 2 else 0.5


def preconditioner(col_sq_mean, n_classes, fit_intercept, alpha):
    """``1 / (c * E_s[x_j^2] + alpha)`` per feature, the intercept's ``1 / c`` last."""
    c = _curvature_constant(n_classes)
    diag = c * np.asarray(col_sq_mean, dtype=np.float64) + alpha
    if fit_intercept:
        diag = np.append(diag, c * 1.0)
    diag[diag <= 0] = 1.0
    return 1.0 / diag


def top_curvature_step(
    Xs, ws, precond, n_classes, fit_intercept, alpha, center=None, lowrank=None
):
    """``1 / lambda``, ``lambda`` the top eigenvalue of the preconditioned bound.

    Power iteration on ``c * D^-1/2 E_s[x x^T] D^-1/2 + alpha * D^-1`` (``x``
    extended by 1 for the intercept, and centered by ``center`` if given)
    over a host sample ``Xs`` (dense or sparse, never densified) with
    weights ``ws``. With ``lowrank`` (a :class:`LowRank`), on the bound
    preconditioned by the covariance preconditioner (its diagonal ``precond``
    plus the low-rank term) instead.
    """
    c = _curvature_constant(n_classes)
    ws = np.asarray(ws, dtype=np.float64)
    ws = ws / np.sum(ws) if np.sum(ws) > 0 else ws
    if lowrank is not None:
        lam = _lowrank_top_eigenvalue(
            Xs, ws, precond, c, fit_intercept, alpha, center, lowrank
        )
        return 1.0 / max(lam, 1e-12)
    # a feature the sample never uses is its own eigenvector, of eigenvalue
    # alpha * precond_j: the iteration runs on the used ones (wide data)
    width = Xs.shape[1]
    used = None
    if sp.issparse(Xs) and center is None:  # its columns numbered in order
        Xs, used = compact_columns(Xs)
    if used is None:
        if sp.issparse(Xs):
            Xs = sp.csr_matrix(Xs)
            used = np.unique(Xs.indices)
        else:
            used = np.flatnonzero(np.any(Xs != 0, axis=0))
        if center is not None:  # a centered unused feature is not zero
            used = np.union1d(used, np.flatnonzero(center))
        Xs = Xs[:, used]
    unused = np.ones(width, dtype=bool)
    unused[used] = False
    floor = float(np.max(alpha * precond[:width][unused], initial=0.0))
    precond = np.concatenate([precond[used], precond[width:]])
    mu = None if center is None else np.asarray(center, dtype=np.float64)[used]
    n_features = Xs.shape[1]
    scale = np.sqrt(precond)
    scale_w = scale[:n_features]

    def apply(v):
        v_w = scale_w * v[:n_features]
        t = np.asarray(Xs @ v_w).ravel()
        if mu is not None:
            t = t - mu @ v_w
        if fit_intercept:
            t = t + scale[-1] * v[-1]
        t = ws * t
        u = np.empty_like(v)
        xt = np.asarray(Xs.T @ t).ravel()
        if mu is not None:
            xt = xt - mu * np.sum(t)
        u[:n_features] = scale_w * xt
        if fit_intercept:
            u[-1] = scale[-1] * np.sum(t)
        return c * u + alpha * precond * v

    lam = _power_iteration(apply, precond.shape[0])
    return 1.0 / max(lam, floor, 1e-12)


def _power_iteration(apply, n):
    """The top eigenvalue of the map ``apply`` (30 iterations at most, to 1%)."""
    v = np.random.RandomState(0).standard_normal(n)
    lam = 0.0
    for _ in range(30):
        u = apply(v)
        norm = float(np.linalg.norm(u))
        if norm == 0.0:
            break
        lam_new = norm / float(np.linalg.norm(v))
        v = u / norm
        if abs(lam_new - lam) <= 1e-2 * lam_new:
            lam = lam_new
            break
        lam = lam_new
    return lam


ADJOINT_TOL, ADJOINT_ITERATIONS = 1e-3, 50


def _adjoint_power_iteration(bound, precondition, n):
    """The top eigenvalue of ``P B`` (``precondition(bound(v))``, both
    symmetric positive semi-definite)."""
    v = np.random.RandomState(0).standard_normal(n)
    lam = 0.0
    for _ in range(ADJOINT_ITERATIONS):
        u = bound(v)
        curvature = float(v @ u)
        if curvature <= 0.0:
            break
        w = precondition(u)
        lam_new = float(u @ w) / curvature
        v = w / float(np.linalg.norm(w))
        if abs(lam_new - lam) <= ADJOINT_TOL * lam_new:
            lam = lam_new
            break
        lam = lam_new
    return lam


def _lowrank_top_eigenvalue(Xs, ws, precond, c, fit_intercept, alpha, center, lowrank):
    """:func:`top_curvature_step`'s eigenvalue for the covariance
    preconditioner: power iteration on ``P B`` (``P`` the preconditioner,
    ``B`` the bound; its eigenvalues are those of ``P^1/2 B P^1/2``)."""
    n_features = Xs.shape[1]
    Xs = sp.csr_matrix(Xs) if sp.issparse(Xs) else Xs
    mu = None if center is None else np.asarray(center, dtype=np.float64)

    def bound(v):
        v_w = v[:n_features]
        t = np.asarray(Xs @ v_w).ravel()
        if mu is not None:
            t = t - mu @ v_w
        if fit_intercept:
            t = t + v[-1]
        t = ws * t
        u = np.empty_like(v)
        xt = np.asarray(Xs.T @ t).ravel()
        if mu is not None:
            xt = xt - mu * np.sum(t)
        u[:n_features] = c * xt + alpha * v_w
        if fit_intercept:
            u[-1] = c * np.sum(t)
        return u

    def precondition(u):
        # its diagonal, plus the low-rank term on the weights
        out = precond * u
        out[:n_features] += lowrank.apply(u[:n_features])
        return out

    return _adjoint_power_iteration(bound, precondition, precond.shape[0])


def sample_rows(n_samples, max_rows=1000):
    """Up to ``max_rows`` evenly spaced row indices."""
    return np.unique(
        np.linspace(0, n_samples - 1, min(n_samples, max_rows)).astype(int)
    )


#: The rows the automatic rate's power iteration reads (at most).
CURVATURE_ROWS = 1000


def curvature_sample(X, max_rows=CURVATURE_ROWS):
    """Up to ``max_rows`` evenly spaced rows of ``X`` on the host, as float64.

    What :func:`sgd_scaling` runs its power iteration on; sparse ``X`` stays
    sparse. Also returns the row indices (for the matching weights).
    """
    rows = sample_rows(X.shape[0], max_rows)
    if sp.issparse(X):
        return X[rows].astype(np.float64), rows
    sample = X[rows] if isinstance(X, np.ndarray) else _take(X, rows)
    return np.asarray(to_numpy(sample), dtype=np.float64), rows


# float64's machine epsilon: the default where a function takes the data's
EPS64 = float(np.finfo(np.float64).eps)
# a feature whose spread is within this many roundings of its mean (at the
# data's precision) has none that centered steps resolve
CENTERING_ULPS = 64


def data_precision(data):
    """The machine epsilon of ``data``'s dtype, which its computations run in."""
    xp = getattr(data, "xp", np)
    return float(xp.finfo(data.dtype).eps)


def unresolved_spread(moments, eps):
    """Per feature: whether its spread (``moments``' centered one) is within
    ``CENTERING_ULPS`` roundings of its mean at precision ``eps`` (the data
    type's machine epsilon): a constant column, or one varying below what
    centered arithmetic at its offset resolves (a column of zeros too)."""
    mean = moments.sum / moments.total
    return moments.m2 / moments.total <= (CENTERING_ULPS * eps * mean) ** 2


def feature_preconditioner(moments, loss, alpha, centered, eps=EPS64):
    """:func:`preconditioner` from column sums, and the centering.

    One scaling per feature (the same for every class's weight of that
    feature), then the intercepts' if any: ``n_features + fit_intercept``
    values, never one per parameter (a 1,000-class model would carry a second
    copy of its weights' size). ``centered``: the steps are taken as if the
    features were centered (:func:`centered_step`), so the scaling reads the
    features' variances, and their means are returned as the center (else
    None); a feature whose spread the steps cannot resolve at the data's
    precision ``eps`` (:func:`unresolved_spread`: a constant column) is
    scaled by its second moment, as uncentered. ``moments``: the data's
    :class:`ColumnMoments`.
    """
    center = moments.sum / moments.total if centered else None
    col_sq_mean = moments.mean_squares(centered)
    if centered:
        # such a feature's centered values, which the steps compute as
        # x w - mu w, are rounding noise, and 1 / alpha (its variance's
        # scaling) made steps of it: a constant column of 1e14 (float32: 1e6)
        # wrecked the model or made the fit diverge. Scaled as uncentered,
        # its steps stay that noise's size: its weights stay about 0, as the
        # optimum's (the intercept holds its mean)
        uncentered = moments.mean_squares(False)
        col_sq_mean = np.where(unresolved_spread(moments, eps), uncentered, col_sq_mean)
    precond = preconditioner(col_sq_mean, loss.n_classes, loss.fit_intercept, alpha)
    return precond, center


# the covariance preconditioner follows at most this many of the features'
# leading correlated directions; with at most this many features, all of them.
# 16 rather than 32: MNIST's default fit in 6, 6, 6, 5, 6, 7, 7 epochs over
# seeds 0 to 6 instead of 6, 7, 6, 7, 7, 7, 8, its test log-loss x0.999 to
# x1.004 of the optimum's instead of x1.001 to x1.007 (the directions past
# the 16th, estimated from 1,000 rows, sharpen noise more than curvature),
# each minibatch's two products with the basis half as long;
# bench_large_dense.py the same epochs and parity (79 of 84, 366 epochs),
# bench_embeddings.py the same, bench_quality.py's 50 classes (80 features)
# at parity in 78 epochs over its 18 fits instead of 82. 8 was worse on
# bench_large_dense.py (one more epoch, accuracy 0.01 point lower on its
# binary and wide problems)
COVARIANCE_RANK = 16

# rounds of the subspace iteration that finds them (see _leading_eigen): 2
# instead of 4 (randomized range finders take one or two; 8 extra columns)
# saved 12 ms of MNIST's default fit (0.48 s; measured with 32 directions),
# whose test log-loss moved from x1.0027, x1.0007, x1.0046 of the optimum's
# to x1.0032, x1.0010, x1.0050 (seeds 0 to 2, the same epochs; accuracy
# within 0.01 point);
# bench_large_dense.py's 768 features the same epochs and parity at every
# alpha and seed, accuracy within 0.03 point; bench_embeddings.py the same
SUBSPACE_ROUNDS = 2


class LowRank(NamedTuple):
    """The low-rank term of the covariance preconditioner (host, float64).

    The preconditioner of the weights is ``diag(precond) + basis
    diag(shrink) basis^T`` (see :func:`covariance_preconditioner`).

    Attributes
    ----------
    basis : ndarray of shape (n_features, rank)
        ``D^-1/2 U``: the leading eigenvectors ``U`` of the features'
        scaled correlation matrix, scaled back by the per-feature bound ``D``.
    shrink : ndarray of shape (rank,)
        ``1 / s - 1 / r`` for their eigenvalues ``s`` (``r`` the largest one
        left out, or 1 where none is): the step along them, less the
        diagonal's.
    smallest : float
        A lower bound of the preconditioner's eigenvalues (for
        ``momentum="auto"``).
    subspace : ndarray of shape (n_features, m) or None
        The orthonormal columns the eigenvectors were found in (host; None
        where they were computed exactly): a start for the preconditioner of
        nearly the same matrix (:func:`covariance_preconditioner`).
    """

    basis: np.ndarray
    shrink: np.ndarray
    smallest: float
    subspace: np.ndarray = None

    def apply(self, g):
        """The low-rank term of the preconditioner applied to ``g`` (of shape
        ``(n_features,)``)."""
        return self.basis @ (self.shrink * (g @ self.basis))


class _LowRankPlusDiagonal(NamedTuple):
    """The symmetric ``G^T G + diag(d)``, never formed where it is large."""

    G: np.ndarray
    d: np.ndarray

    @property
    def shape(self):
        return (self.d.shape[0],) * 2

    def __matmul__(self, Q):
        return self.G.T @ (self.G @ Q) + self.d[:, None] * Q

    def toarray(self):
        A = self.G.T @ self.G
        A[np.diag_indices_from(A)] += self.d
        return A


def _leading_eigen(N, k, start=None):
    """The ``k + 1`` (all, if fewer) largest eigenvalues of the symmetric
    positive semi-definite ``N`` (a :class:`_LowRankPlusDiagonal`;
    descending) and their eigenvectors; and the orthonormal columns they
    were found in (None where exact).

    A full decomposition where ``N`` is small, else a randomized subspace
    iteration (fixed seed, ``SUBSPACE_ROUNDS`` rounds, 8 extra directions) on
    products with ``N``, whose Ritz values bound the eigenvalues from below
    (the step size, computed on the preconditioner as it is, makes up for
    an underestimate). ``start``: the columns of an earlier call on nearly the
    same ``N``, whose Ritz values and vectors are taken as they are (the
    split's rows rejoining a fit move ``N`` by their tenth of the exact
    second moments: on MNIST the same test scores to four digits over seeds
    0 to 2, and one product with ``N`` instead of six: 20 ms of the fit).
    """
    n = N.shape[0]
    if n <= 4 * (k + 1) or n <= 256:
        s, U = np.linalg.eigh(N.toarray())
        s, U = s[::-1][: k + 1], U[:, ::-1][:, : k + 1]
        return s, U, None
    if start is None:
        rng = np.random.RandomState(0)
        Q = np.linalg.qr(N @ rng.standard_normal((n, k + 9)))[0]
        for _ in range(SUBSPACE_ROUNDS):
            Q = np.linalg.qr(N @ Q)[0]
    else:
        Q = start
    s, V = np.linalg.eigh(Q.T @ (N @ Q))
    order = np.argsort(s)[::-1]
    Q = Q @ V[:, order]
    return s[order[: k + 1]], Q[:, : k + 1], Q


def _scaled_bound(moments, sketch, loss, precond, centered):
    """``(D, N)``: the per-feature bound ``D`` (``1 / precond``) and the
    bound scaled to a unit diagonal ``N = D^-1/2 (c E_s[x x^T] + alpha I)
    D^-1/2`` (the sample's correlations in ``sketch``, the exact second
    moments of ``moments``; centered where ``centered``), as a
    :class:`_LowRankPlusDiagonal`: the sketch's rows, scaled, and the
    diagonal that makes ``N``'s 1."""
    n_features = loss.n_features
    c = _curvature_constant(loss.n_classes)
    second = (moments.m2 if centered else moments.sq_sum) / moments.total
    D = 1.0 / precond[:n_features]
    # the sample's correlations, the scales the exact moments'
    rows, mean_row = np.zeros((0, n_features)), None
    if sketch.total:
        rows, var = sketch.factor, sketch.var
        if not centered:
            mean = sketch.sum / sketch.total
            mean_row = np.sqrt(sketch.total) * mean
            var = var + sketch.total * mean * mean
        spread = np.sqrt(np.maximum(var / sketch.total, 0.0))
    else:
        spread = np.zeros(n_features)
    inv = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 0)
    # N = diag(a) corr diag(a) + diag(1 - a^2), a^2 the part of D_j that
    # the feature's second moment makes (the rest is alpha)
    a = np.sqrt(np.clip(c * second / D, 0.0, 1.0)) * inv
    scale = a / np.sqrt(sketch.total or 1.0)
    # the sketch's rows (and the mean's, uncentered) scaled into one array:
    # no stacked copy nor squared temporary (MNIST's 1,001 x 784 in fresh
    # pages: a fit's two calls 3.6 ms instead of 8.7, the same bits)
    n_rows = rows.shape[0]
    G = np.empty((n_rows + (mean_row is not None), n_features))
    np.multiply(rows, scale, out=G[:n_rows])
    if mean_row is not None:
        np.multiply(mean_row, scale, out=G[n_rows])
    return D, _LowRankPlusDiagonal(G, 1.0 - np.einsum("ij,ij->j", G, G))


def covariance_preconditioner(
    moments, sketch, loss, alpha, centered, rank=None, eps=EPS64, start=None
):
    """The covariance preconditioner: :func:`feature_preconditioner`'s
    scaling times the inverse of the features' correlation matrix in its
    leading directions.

    With ``D_j = c E_s[x_j^2] + alpha`` the per-feature bound (variances if
    ``centered``) and ``N = D^-1/2 (c E_s[x x^T] + alpha I) D^-1/2`` the
    bound scaled to a unit diagonal (from the sample's correlations in
    ``sketch``, an :class:`InputSketch`, and the exact second moments in
    ``moments``), the weights' preconditioner is
    ``P = D^-1/2 (U S^-1 U^T + (I - U U^T) / r) D^-1/2``: ``N``'s ``rank``
    leading eigenpairs ``(S, U)`` inverted, the rest scaled by ``1 / r``
    with ``r`` the largest eigenvalue left out, every eigenvalue taken as at
    least 1 (``N``'s diagonal, the diagonal scaling's own step: a weak
    direction, where few rows vary, is not amplified, nor its gradient
    noise). Every eigenvalue of ``P^1/2 (c E_s[x x^T] + alpha I) P^1/2`` is
    at most 1 then (on the sample), where the diagonal scaling alone leaves
    ``N``'s largest: a few correlated directions (the mean image of pixel
    data) no longer set the step of all the others. A fixed
    positive-definite map of the gradient, so the objective and its
    optimum do not change; the intercepts keep their diagonal scaling.

    Returns ``(precond, center, lowrank)``: the diagonal part (features'
    ``1 / (r D_j)``, the intercepts' as :func:`feature_preconditioner`'s,
    the data's precision ``eps`` likewise), the center (as there) and the
    :class:`LowRank` term. ``start``: the ``subspace`` of a
    :class:`LowRank` of the same ``sketch`` (:func:`_leading_eigen`).
    """
    precond, center = feature_preconditioner(moments, loss, alpha, centered, eps)
    n_features = loss.n_features
    D, N = _scaled_bound(moments, sketch, loss, precond, centered)
    k = min(COVARIANCE_RANK if rank is None else rank, n_features)
    s, U, subspace = _leading_eigen(N, k, start)
    # directions whose eigenvalue is below 1 (the diagonal's own) keep the
    # diagonal's step: the preconditioner only takes back what correlated
    # features add (amplifying the weak directions amplified the gradient
    # noise in them: on features mixed from a few latent ones, 3 epochs
    # ended twice as far from the optimum as the diagonal's)
    s = np.maximum(s, 1.0)
    r = float(s[k]) if k < n_features else 1.0
    s, U = s[:k], U[:, :k]
    root_d = np.sqrt(1.0 / D)
    basis = root_d[:, None] * U
    shrink = 1.0 / s - 1.0 / r
    precond = precond.copy()
    precond[:n_features] /= r
    smallest = float(np.min(1.0 / D)) * min(1.0 / float(np.max(s, initial=r)), 1.0 / r)
    return precond, center, LowRank(basis, shrink, smallest, subspace)


# SGD centers its steps where some feature's squared mean exceeds this many
# times its variance (its mean is more than twice its spread): there the
# second-moment scaling would shrink that feature's step more than 5x. Below
# it the centered steps' larger rate only adds noise: on MNIST (pixels in
# [0, 1], at most 1.6) centering took 26 epochs to 92.5% test accuracy
# instead of 7; on raw-scale features (offsets of +-50, spreads down to
# 1e-2) it is what brings the fit to the optimum
OFFSET_RATIO = 4.0


def offsets_dominate(moments):
    """Whether some feature's mean dwarfs its spread (``OFFSET_RATIO``); a
    constant non-zero feature counts."""
    if not moments.total:
        return False
    mean = moments.sum / moments.total
    return bool(np.any(mean * mean > OFFSET_RATIO * (moments.m2 / moments.total)))


def centered_step(step, raw_b, center, precond_center, n_rows, xp, buffer=None):
    """Map a step taken in centered coordinates back to ``(W, b)``.

    In coordinates where the features are ``x - mu`` (``mu = center``) and
    the intercept is ``b' = b + W mu``, the gradient of ``W`` is
    ``g_W - g_b mu^T`` and that of ``b'`` is ``g_b``. ``step`` is the flat
    step computed as usual (``P_W * g_W`` and ``p_b * g_b``, times the rate,
    penalty included), ``raw_b`` the intercepts' gradient times the rate
    before its scaling (``n_rows``), ``precond_center`` is ``P_W * mu``. The
    centered step of ``W`` is ``step_W - outer(raw_b, P_W mu)``, and since
    ``b = b' - W mu`` the intercepts move by ``step_b - step_W mu``: a linear
    (positive definite) map of the gradient, so the fixed point is the same.
    Returns the new flat step (NumPy ``step`` is updated in place, with
    ``buffer``, shaped like ``W``, for the outer product if given).
    """
    n_features = center.shape[0]
    n_w = n_rows * n_features
    if xp is np:
        step_W = step[:n_w].reshape(n_rows, n_features)
        step_W -= np.multiply.outer(raw_b, precond_center, out=buffer)
        step[n_w:] -= step_W @ center
        return step
    step_W = xp.reshape(step[:n_w], (n_rows, n_features))
    step_W = step_W - xp.reshape(raw_b, (n_rows, 1)) * precond_center
    step_b = step[n_w:] - xp.matmul(step_W, center)
    return xp.concat([xp.reshape(step_W, (-1,)), step_b])


class StepScaling(NamedTuple):
    """What :func:`sgd_scaling` computes (host, float64).

    ``precond``: the diagonal scaling (features', then the intercepts');
    ``center``: the features' means where the steps are centered, else None;
    ``eta0``: the initial step size; ``lowrank``: the covariance
    preconditioner's :class:`LowRank` term, and ``sketch`` its
    :class:`InputSketch` (None without it).
    """

    precond: np.ndarray
    center: np.ndarray
    eta0: float
    lowrank: LowRank = None
    sketch: InputSketch = None


def sgd_scaling(
    moments,
    sample,
    loss,
    alpha,
    learning_rate_init,
    centered,
    covariance=False,
    eps=EPS64,
):
    """SGD's per-parameter preconditioner, centering and initial step size.

    SGD steps are scaled per feature by ``1 / d_j`` with
    ``d_j = c * E_s[x_j^2] + alpha`` (the diagonal of the curvature bound, from
    the data's :class:`ColumnMoments`), which makes unscaled
    features and the intercept train at the same speed; ``centered``: by the
    features' variances instead, the steps taken as if the features were
    centered (see :func:`feature_preconditioner`). With
    ``learning_rate_init="auto"``, ``eta0 = 1 / lambda`` with ``lambda`` the
    largest eigenvalue of the preconditioned bound (centered likewise),
    estimated by power iteration on a host sample of rows: ``sample()``
    returns it with its weights (see :func:`curvature_sample`), and is only
    called where needed; otherwise ``eta0 = learning_rate_init``.

    ``covariance``: True for the covariance preconditioner
    (:func:`covariance_preconditioner`, its sketch from the same sample),
    False for the diagonal. ``eps``: the data type's machine epsilon (see
    :func:`feature_preconditioner`).

    Returns a :class:`StepScaling`.
    """
    precond, center = feature_preconditioner(moments, loss, alpha, centered, eps)
    args = (loss.n_classes, loss.fit_intercept, alpha)
    if not covariance:
        if learning_rate_init == "auto":
            Xs, ws = sample()
            eta0 = top_curvature_step(Xs, ws, precond, *args, center)
        else:
            eta0 = float(learning_rate_init)
        return StepScaling(precond, center, eta0)
    Xs, ws = sample()
    sketch = input_sketch(Xs, ws, moments.total)
    precond, center, lowrank = covariance_preconditioner(
        moments, sketch, loss, alpha, centered, eps=eps
    )
    if learning_rate_init == "auto":
        eta0 = top_curvature_step(Xs, ws, precond, *args, center, lowrank)
    else:
        eta0 = float(learning_rate_init)
    return StepScaling(precond, center, eta0, lowrank, sketch)


def _take(X, rows):
    xp = get_namespace(X)
    return xp.take(X, xp.asarray(rows, device=device(X)), axis=0)
