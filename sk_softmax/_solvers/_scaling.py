"""SGD's step scaling, computed from the data: a diagonal preconditioner and
the initial step size.

The Hessian of the loss is bounded by ``c * E_s[x x^T] + alpha * I`` with
``c = 1/2`` (multinomial) or ``1/4`` (binomial), ``x`` extended by a 1 for the
intercept. :func:`column_sq_sums` reads the diagonal of that bound from the
data (by row blocks, where the data lives; the Dask path adds the sums of its
chunks), :func:`sgd_scaling` turns it into per-parameter scalings and a step.
"""

import numpy as np
import scipy.sparse as sp

from .._backend import device, get_namespace, to_numpy


def column_sq_sums(X, sample_weight, check_finite=False, in_float64=False):
    """Weighted sums of squared feature values, and the total weight.

    Computed by row blocks (dense, sparse or on X's device): never a full copy
    of ``X``; only the ``(n_features,)`` result crosses to the host.

    With ``check_finite=True`` a third value says whether every entry of
    ``X`` is certainly finite. For dense NumPy ``X`` it comes from the same
    pass (a NaN or infinity makes its column's sum non-finite; rows of zero
    weight get an unweighted sum too), so SGD reads ``X`` once for both;
    False can also mean a sum overflowed, so the caller then runs the exact
    check. ``in_float64=True`` squares in float64 (float32 data whose squares
    overflow float32).

    Returns
    -------
    col_sq_sum : ndarray of shape (n_features,)
        ``sum_i s_i x_ij^2`` (float64, host).
    total : float
        ``sum_i s_i``.
    surely_finite : bool
        Only with ``check_finite=True``.
    """
    if check_finite:
        # a NaN or infinity in X makes "invalid" products (inf * 0) on its way
        # to the error the caller raises: no RuntimeWarning before it
        with np.errstate(invalid="ignore", over="ignore"):
            return _column_sq_sums(X, sample_weight, True, in_float64)
    return _column_sq_sums(X, sample_weight, False, in_float64)[:2]


def _column_sq_sums(X, sample_weight, check_finite, in_float64):
    n_samples, n_features = X.shape
    sw = np.asarray(sample_weight, dtype=np.float64)
    surely_finite = True
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # the CSR arrays (for a csr_array too), no copy
        uniform = bool(np.all(sw == sw[0])) if n_samples else True
        col_sq = np.zeros(n_features)
        # blocks of about 2**20 stored values, read in place (views of the CSR
        # arrays): the temporaries stay small whatever the matrix
        step = max(1, int(n_samples * 2**20 // max(X.nnz, 1)))
        for start in range(0, n_samples, step):
            stop = min(start + step, n_samples)
            lo, hi = X.indptr[start], X.indptr[stop]
            sq = np.square(X.data[lo:hi], dtype=np.float64)
            if not uniform:
                sq *= np.repeat(sw[start:stop], np.diff(X.indptr[start : stop + 1]))
            col_sq += np.bincount(X.indices[lo:hi], weights=sq, minlength=n_features)
        if uniform and n_samples:
            col_sq *= sw[0]
        if check_finite:
            surely_finite = bool(np.isfinite(X.data).all())
    elif isinstance(X, np.ndarray):
        col_sq = np.zeros(n_features)
        dtype = np.float64 if in_float64 else X.dtype
        # zero weights hide a row from the weighted sums (BLAS may skip them)
        unweighted = np.zeros(n_features) if check_finite and (sw == 0).any() else None
        rows = min(2048, n_samples)  # the squared block (6 MiB for MNIST) is reused
        square = np.empty((rows, n_features), dtype=dtype)
        ones = np.ones(rows, dtype=dtype)
        for start in range(0, n_samples, rows):
            block = X[start : start + rows]
            sq = np.multiply(block, block, out=square[: block.shape[0]], dtype=dtype)
            col_sq += sw[start : start + rows].astype(dtype) @ sq
            if unweighted is not None:
                unweighted += ones[: block.shape[0]] @ sq
        if check_finite:
            surely_finite = bool(np.isfinite(col_sq).all()) and (
                unweighted is None or bool(np.isfinite(unweighted).all())
            )
    else:  # on X's device: only the (n_features,) result crosses
        xp = get_namespace(X)
        dtype = xp.float64 if in_float64 else X.dtype
        sw_dev = xp.asarray(sw, dtype=dtype, device=device(X))
        acc = xp.zeros((n_features,), dtype=dtype, device=device(X))
        for start in range(0, n_samples, 8192):
            stop = min(start + 8192, n_samples)
            block = xp.astype(X[start:stop, :], dtype)
            w = xp.reshape(sw_dev[start:stop], (-1, 1))
            acc = acc + xp.sum(block * block * w, axis=0)
        col_sq = np.asarray(to_numpy(acc), dtype=np.float64)
        if check_finite:
            surely_finite = bool(xp.all(xp.isfinite(X)))
    return col_sq, float(np.sum(sw)), surely_finite


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


def top_curvature_step(Xs, ws, precond, n_classes, fit_intercept, alpha):
    """``1 / lambda``, ``lambda`` the top eigenvalue of the preconditioned bound.

    Power iteration on ``c * D^-1/2 E_s[x x^T] D^-1/2 + alpha * D^-1`` (``x``
    extended by 1 for the intercept) over a host sample ``Xs`` (dense or
    sparse) with weights ``ws``.
    """
    c = _curvature_constant(n_classes)
    ws = np.asarray(ws, dtype=np.float64)
    ws = ws / np.sum(ws) if np.sum(ws) > 0 else ws
    # a feature the sample never uses is its own eigenvector, of eigenvalue
    # alpha * precond_j: the iteration runs on the used ones (wide data)
    if sp.issparse(Xs):
        Xs = sp.csr_matrix(Xs)
        used = np.unique(Xs.indices)
    else:
        used = np.flatnonzero(np.any(Xs != 0, axis=0))
    unused = np.ones(Xs.shape[1], dtype=bool)
    unused[used] = False
    floor = float(np.max(alpha * precond[: Xs.shape[1]][unused], initial=0.0))
    precond = np.concatenate([precond[used], precond[Xs.shape[1] :]])
    Xs = Xs[:, used]
    n_features = Xs.shape[1]
    scale = np.sqrt(precond)
    scale_w = scale[:n_features]

    def apply(v):
        t = Xs @ (scale_w * v[:n_features])
        if fit_intercept:
            t = t + scale[-1] * v[-1]
        t = ws * np.asarray(t).ravel()
        u = np.empty_like(v)
        u[:n_features] = scale_w * np.asarray(Xs.T @ t).ravel()
        if fit_intercept:
            u[-1] = scale[-1] * np.sum(t)
        return c * u + alpha * precond * v

    v = np.random.RandomState(0).standard_normal(precond.shape[0])
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
    return 1.0 / max(lam, floor, 1e-12)


def sample_rows(n_samples, max_rows=1000):
    """Up to ``max_rows`` evenly spaced row indices."""
    return np.unique(
        np.linspace(0, n_samples - 1, min(n_samples, max_rows)).astype(int)
    )


def curvature_sample(X, max_rows=1000):
    """Up to ``max_rows`` evenly spaced rows of ``X`` on the host, as float64.

    What :func:`sgd_scaling` runs its power iteration on; sparse ``X`` stays
    sparse. Also returns the row indices (for the matching weights).
    """
    rows = sample_rows(X.shape[0], max_rows)
    if sp.issparse(X):
        return X[rows].astype(np.float64), rows
    sample = X[rows] if isinstance(X, np.ndarray) else _take(X, rows)
    return np.asarray(to_numpy(sample), dtype=np.float64), rows


def feature_preconditioner(col_sq_sum, total, loss, alpha):
    """:func:`preconditioner` from column sums.

    One scaling per feature (the same for every class's weight of that
    feature), then the intercepts' if any: ``n_features + fit_intercept``
    values, never one per parameter (a 1,000-class model would carry a second
    copy of its weights' size).
    """
    return preconditioner(col_sq_sum / total, loss.n_classes, loss.fit_intercept, alpha)


def sgd_scaling(col_sq_sum, total, sample, loss, alpha, learning_rate_init):
    """SGD's per-parameter preconditioner and initial step size, from the data.

    SGD steps are scaled per feature by ``1 / d_j`` with
    ``d_j = c * E_s[x_j^2] + alpha`` (the diagonal of the curvature bound, from
    ``col_sq_sum / total`` of :func:`column_sq_sums`), which makes unscaled
    features and the intercept train at the same speed. With
    ``learning_rate_init="auto"``, ``eta0 = 1 / lambda`` with ``lambda`` the
    largest eigenvalue of the preconditioned bound, estimated by power
    iteration on a host sample of rows: ``sample()`` returns it with its
    weights (see :func:`curvature_sample`), and is only called then;
    otherwise ``eta0 = learning_rate_init``.

    Returns
    -------
    precond : ndarray of shape (n_features + fit_intercept,)
        ``1 / d_j`` per feature, the intercepts' last (float64, host; see
        :func:`feature_preconditioner`).
    eta0 : float
    """
    precond = feature_preconditioner(col_sq_sum, total, loss, alpha)
    if learning_rate_init == "auto":
        Xs, ws = sample()
        eta0 = top_curvature_step(
            Xs, ws, precond, loss.n_classes, loss.fit_intercept, alpha
        )
    else:
        eta0 = float(learning_rate_init)
    return precond, eta0


def _take(X, rows):
    xp = get_namespace(X)
    return xp.take(X, xp.asarray(rows, device=device(X)), axis=0)
