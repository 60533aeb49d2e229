"""Minibatch stochastic gradient descent over the shared loss interface.

The loop is written against an array namespace ``xp``: minibatch indices come
from the host random generator (so a ``random_state`` gives the same batches on
every backend), the arithmetic runs where ``X`` lives, and the only host
synchronisation is reading the epoch's loss once at its end.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

LEARNING_RATES = ("constant", "invscaling", "adaptive", "decay", "linear")

# the "linear" schedule never goes below this fraction of its initial rate
# (reached only past its horizon: partial_fit calls beyond max_iter)
LINEAR_FLOOR = 1e-3


@dataclass
class SGDState:
    """Everything SGD needs to resume: what ``partial_fit`` keeps between calls.

    Attributes
    ----------
    coef : array of shape (n_coef,)
        Flat parameters (layout in :mod:`sk_softmax._loss`), in ``X``'s namespace.
    velocity : array of shape (n_coef,) or None
        Momentum buffer (None when ``momentum == 0``).
    t : int
        Number of minibatch updates done so far.
    epoch : int
        Number of epochs done so far.
    eta0 : float
        Initial learning rate.
    eta : float
        Current learning rate of the "constant" / "adaptive" schedules.
    precond : array of shape (n_coef,)
        Per-parameter step scaling (see :func:`sgd_scaling`).
    horizon : float or None
        Length of the "linear" schedule in epochs (``max_iter``).
    col_sq_sum : ndarray of shape (n_features,) or None
        Weighted sums of squared feature values over all data seen so far
        (host, float64): ``partial_fit`` updates the preconditioner from them,
        so a feature absent from the first chunks never gets an unbounded step.
    weight_seen : float
        Total sample weight behind ``col_sq_sum``.
    """

    coef: object
    velocity: object
    t: int
    epoch: int
    eta0: float
    eta: float
    precond: object
    col_sq_sum: object = None
    weight_seen: float = 0.0
    horizon: float = None

    def to_numpy(self):
        """The same state with host (NumPy) arrays (for pickling)."""
        from .._backend import to_numpy

        return SGDState(
            coef=to_numpy(self.coef),
            velocity=None if self.velocity is None else to_numpy(self.velocity),
            t=self.t,
            epoch=self.epoch,
            eta0=self.eta0,
            eta=self.eta,
            precond=to_numpy(self.precond),
            col_sq_sum=self.col_sq_sum,
            weight_seen=self.weight_seen,
            horizon=self.horizon,
        )

    def copy(self, xp):
        """A deep copy (arrays copied), so a failed epoch can be thrown away."""
        return SGDState(
            coef=xp.asarray(self.coef, copy=True),
            velocity=None
            if self.velocity is None
            else xp.asarray(self.velocity, copy=True),
            t=self.t,
            epoch=self.epoch,
            eta0=self.eta0,
            eta=self.eta,
            precond=self.precond,
            col_sq_sum=None if self.col_sq_sum is None else self.col_sq_sum.copy(),
            weight_seen=self.weight_seen,
            horizon=self.horizon,
        )


def column_sq_sums(X, sample_weight, check_finite=False):
    """Weighted sums of squared feature values, and the total weight.

    Computed by row blocks (dense, sparse or on X's device): never a full copy
    of ``X``; only the ``(n_features,)`` result crosses to the host.

    With ``check_finite=True`` a third value says whether every entry of
    ``X`` is certainly finite. For dense NumPy ``X`` it comes from the same
    pass (a NaN or infinity makes its column's sum non-finite; rows of zero
    weight get an unweighted sum too), so SGD reads ``X`` once for both;
    False can also mean a sum overflowed, so the caller then runs the exact
    check.

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
        with np.errstate(invalid="ignore"):
            return _column_sq_sums(X, sample_weight, True)
    return _column_sq_sums(X, sample_weight, False)[:2]


def _column_sq_sums(X, sample_weight, check_finite):
    n_samples, n_features = X.shape
    sw = np.asarray(sample_weight, dtype=np.float64)
    surely_finite = True
    if sp.issparse(X):
        col_sq = np.zeros(n_features)
        for start in range(0, n_samples, 8192):
            block = X[start : start + 8192]
            row_w = np.repeat(sw[start : start + 8192], np.diff(block.indptr))
            col_sq += np.bincount(
                block.indices,
                weights=block.data.astype(np.float64) ** 2 * row_w,
                minlength=n_features,
            )
        if check_finite:
            surely_finite = bool(np.isfinite(X.data).all())
    elif isinstance(X, np.ndarray):
        col_sq = np.zeros(n_features)
        # zero weights hide a row from the weighted sums (BLAS may skip them)
        unweighted = np.zeros(n_features) if check_finite and (sw == 0).any() else None
        rows = min(2048, n_samples)  # the squared block (6 MiB for MNIST) is reused
        square = np.empty((rows, n_features), dtype=X.dtype)
        ones = np.ones(rows, dtype=X.dtype)
        for start in range(0, n_samples, rows):
            block = X[start : start + rows]
            sq = np.multiply(block, block, out=square[: block.shape[0]])
            col_sq += sw[start : start + rows].astype(X.dtype) @ sq
            if unweighted is not None:
                unweighted += ones[: block.shape[0]] @ sq
        if check_finite:
            surely_finite = bool(np.isfinite(col_sq).all()) and (
                unweighted is None or bool(np.isfinite(unweighted).all())
            )
    else:  # on X's device: only the (n_features,) result crosses
        from .._backend import device, get_namespace, to_numpy

        xp = get_namespace(X)
        sw_dev = xp.asarray(sw, dtype=X.dtype, device=device(X))
        acc = xp.zeros((n_features,), dtype=X.dtype, device=device(X))
        for start in range(0, n_samples, 8192):
            stop = min(start + 8192, n_samples)
            block = X[start:stop, :]
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


def expand_preconditioner(precond, n_rows, n_features, fit_intercept):
    """Per-feature scaling laid out like the flat ``coef`` (see ``_loss``)."""
    out = np.tile(precond[:n_features], n_rows)
    if fit_intercept:
        out = np.append(out, np.full(n_rows, precond[-1]))
    return out


def top_curvature_step(Xs, ws, precond, n_classes, fit_intercept, alpha):
    """``1 / lambda``, ``lambda`` the top eigenvalue of the preconditioned bound.

    Power iteration on ``c * D^-1/2 E_s[x x^T] D^-1/2 + alpha * D^-1`` (``x``
    extended by 1 for the intercept) over a host sample ``Xs`` (dense or
    sparse) with weights ``ws``.
    """
    n_features = Xs.shape[1]
    c = _curvature_constant(n_classes)
    ws = np.asarray(ws, dtype=np.float64)
    ws = ws / np.sum(ws) if np.sum(ws) > 0 else ws
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
    return 1.0 / max(lam, 1e-12)


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
    from ._common import to_host_float64

    sample = X[rows] if isinstance(X, np.ndarray) else _take(X, rows)
    return to_host_float64(sample), rows


def sgd_scaling(col_sq_sum, total, Xs, ws, loss, alpha, learning_rate_init):
    """SGD's per-parameter preconditioner and initial step size, from the data.

    The Hessian of the loss is bounded by ``c * E_s[x x^T] + alpha * I`` with
    ``c = 1/2`` (multinomial) or ``1/4`` (binomial), ``x`` extended by a 1 for
    the intercept. SGD steps are scaled per feature by
    ``1 / d_j`` with ``d_j = c * E_s[x_j^2] + alpha`` (the diagonal of that
    bound, from ``col_sq_sum / total`` of :func:`column_sq_sums`), which makes
    unscaled features and the intercept train at the same speed. With
    ``learning_rate_init="auto"``, ``eta0 = 1 / lambda`` with ``lambda`` the
    largest eigenvalue of the preconditioned bound, estimated by power
    iteration on the host sample ``Xs`` (weights ``ws``, see
    :func:`curvature_sample`); otherwise ``eta0 = learning_rate_init``.

    Returns
    -------
    precond : ndarray of shape (n_coef,)
        ``1 / d_j`` laid out like the flat ``coef`` (float64, host).
    eta0 : float
    """
    precond = preconditioner(
        col_sq_sum / total, loss.n_classes, loss.fit_intercept, alpha
    )
    if learning_rate_init == "auto":
        eta0 = top_curvature_step(
            Xs, ws, precond, loss.n_classes, loss.fit_intercept, alpha
        )
    else:
        eta0 = float(learning_rate_init)
    precond_coef = expand_preconditioner(
        precond, loss.n_rows, loss.n_features, loss.fit_intercept
    )
    return precond_coef, eta0


def _take(X, rows):
    from .._backend import device, get_namespace

    xp = get_namespace(X)
    return xp.take(X, xp.asarray(rows, device=device(X)), axis=0)


def learning_rate_at(schedule, state, power_t, progress=None):
    """The step size of the next update under ``schedule``.

    ``progress`` (epochs done, fractions included: ``state.epoch`` plus the
    part of the current epoch already done) drives the "linear" schedule:
    ``eta0 * (1 - progress / horizon)``, never below ``LINEAR_FLOOR * eta0``.
    """
    if schedule == "linear":
        if progress is None:
            progress = state.epoch
        return state.eta0 * max(1.0 - progress / state.horizon, LINEAR_FLOOR)
    if schedule == "invscaling":
        return state.eta0 / (state.t + 1) ** power_t
    if schedule == "decay":
        return state.eta0 / (state.epoch + 1) ** power_t
    return state.eta


class _BatchGather:
    """Gathers minibatch rows into a reused buffer (NumPy) or with ``xp.take``."""

    def __init__(self, X, batch_size, xp, device):
        self.X = X
        self.xp = xp
        self.device = device
        self.numpy_dense = isinstance(X, np.ndarray)
        if self.numpy_dense:
            self.buffer = np.empty((batch_size, X.shape[1]), dtype=X.dtype)

    def __call__(self, idx_host, idx_dev):
        X = self.X
        if self.numpy_dense:
            out = self.buffer[: idx_host.shape[0]]
            # indices come from a permutation, so bounds checks can be skipped
            np.take(X, idx_host, axis=0, out=out, mode="clip")
            return out
        if sp.issparse(X):
            return X[idx_host]
        return self.xp.take(X, idx_dev, axis=0)


def sgd_epoch(
    loss,
    state,
    X,
    Y,
    sample_weight,
    *,
    alpha,
    batch_size,
    learning_rate,
    power_t,
    momentum,
    nesterov,
    rng,
    shuffle,
    xp,
    device=None,
    gather=None,
    rows=None,
    span=(0.0, 1.0),
):
    """One pass of minibatch SGD over ``(X, Y)``, updating ``state`` in place.

    ``rows`` (host integer array) restricts the epoch to those rows of ``X``
    (early stopping's training part) without copying them. ``span`` is the
    part of an epoch this pass covers (a Dask chunk's share; the whole epoch
    in memory): it places each update on the "linear" schedule.

    Each minibatch gradient is the weighted sum of per-sample gradients divided
    by ``batch_size * mean(sample_weight)``, an unbiased estimate of the
    full objective's gradient, plus the penalty's gradient.

    Returns
    -------
    epoch_loss : float
        Mean (weighted) training loss over the epoch's minibatches, each taken
        before its update, plus the penalty at the end of the epoch.
    """
    if isinstance(X, np.ndarray) and isinstance(state.coef, np.ndarray):
        return _sgd_epoch_numpy(
            loss,
            state,
            X,
            Y,
            sample_weight,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            power_t=power_t,
            momentum=momentum,
            nesterov=nesterov,
            rng=rng,
            shuffle=shuffle,
            gather=gather,
            rows=rows,
            span=span,
        )
    order, weight_total = _epoch_order(X.shape[0], rows, sample_weight, rng, shuffle)
    n_samples = order.shape[0]
    sw_host = sample_weight
    mean_weight = weight_total / n_samples
    numpy_path = isinstance(X, np.ndarray) or sp.issparse(X)
    if gather is None:
        gather = _BatchGather(X, batch_size, xp, device)
    order_dev = order if numpy_path else xp.asarray(order, device=device)
    sw_dev = None
    if sample_weight is not None:
        sw_dev = sw_host if numpy_path else xp.asarray(sw_host, device=device)
    loss_sum = 0.0
    n_w = loss.n_rows * loss.n_features
    at, width = state.epoch + span[0], (span[1] - span[0]) / n_samples
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        idx = order[start:stop]
        idx_dev = idx if numpy_path else order_dev[start:stop]
        X_batch = gather(idx, idx_dev)
        Y_batch = xp.take(Y, idx_dev, axis=0)
        sw_batch = None if sw_dev is None else xp.take(sw_dev, idx_dev, axis=0)
        batch_loss, grad, _ = loss.sum_loss_gradient(
            state.coef, X_batch, Y_batch, sw_batch, xp
        )
        loss_sum = loss_sum + batch_loss
        scale = 1.0 / (mean_weight * (stop - start))
        grad = grad * scale
        if alpha:
            grad = grad + alpha * _penalty_mask(state.coef, n_w, xp)
        grad = grad * state.precond
        eta = learning_rate_at(learning_rate, state, power_t, at + width * start)
        if momentum:
            state.velocity = momentum * state.velocity - eta * grad
            if nesterov:
                state.coef = state.coef + (momentum * state.velocity - eta * grad)
            else:
                state.coef = state.coef + state.velocity
        else:
            state.coef = state.coef - eta * grad
        state.t += 1
    state.epoch += 1
    w = state.coef[:n_w]
    if alpha:
        loss_sum = loss_sum + (0.5 * alpha * weight_total) * xp.sum(w * w)
    return float(loss_sum) / weight_total  # the epoch's one host sync


def _sgd_epoch_numpy(
    loss,
    state,
    X,
    Y,
    sample_weight,
    *,
    alpha,
    batch_size,
    learning_rate,
    power_t,
    momentum,
    nesterov,
    rng,
    shuffle,
    gather,
    rows=None,
    span=(0.0, 1.0),
):
    """:func:`sgd_epoch` for dense NumPy ``X``: the same arithmetic, in place.

    Every per-batch temporary lives in a buffer allocated once per epoch and
    the parameters are updated in place, so a batch costs its two matrix
    products plus about a dozen small in-place operations:

    - the labels, weights and the per-sample loss terms are gathered or
      stored in epoch-long arrays, and the epoch loss is reduced once at
      the end (no per-batch host scalar);
    - the step ``eta * precond * (grad / (mean_weight * m) + alpha * W)`` is
      one multiply by a cached ``eta * precond / (mean_weight * m)`` vector
      (recomputed only when ``eta`` or ``m`` change) plus, with a penalty,
      one multiply-add of ``W``.
    """
    n_features = X.shape[1]
    n_rows = loss.n_rows
    n_w = n_rows * n_features
    dtype = X.dtype
    if gather is None:
        gather = _BatchGather(X, batch_size, np, None)
    order, weight_total = _epoch_order(X.shape[0], rows, sample_weight, rng, shuffle)
    n_samples = order.shape[0]
    mean_weight = weight_total / n_samples
    # labels as integers (multinomial) or a 0/1 vector (binomial), epoch order
    if n_rows > 1:
        labels = np.argmax(Y, axis=1)[order]
    else:
        labels = np.ascontiguousarray(Y[:, 0])[order]
    sw = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=dtype)[order]
    coef = state.coef
    W = coef[:n_w].reshape(n_rows, n_features)
    b = coef[n_w:, None] if loss.fit_intercept else None
    grad = np.empty_like(coef)
    grad_W = grad[:n_w].reshape(n_rows, n_features)
    grad_b = grad[n_w:]
    step = np.empty_like(coef)
    step_W = step[:n_w].reshape(n_rows, n_features)
    decay_W = np.empty_like(W) if alpha else None
    Z_buf = np.empty((batch_size, n_rows), dtype=dtype)
    # per-batch work in the transposed layout (n_rows, m): reductions over
    # classes then run along the long axis, which NumPy vectorises
    Zt_buf = np.empty((n_rows, batch_size), dtype=dtype)
    Zt_flat = Zt_buf.reshape(-1)
    mx_buf = np.empty(batch_size, dtype=dtype)
    # per-sample loss terms of the epoch: normaliser and label logit (or the
    # binomial loss itself), reduced once at the end of the epoch
    norm_all = np.empty(n_samples, dtype=dtype)
    zy_all = np.empty(n_samples, dtype=dtype) if n_rows > 1 else None
    # flat positions of (label, column) in Zt_buf for the epoch's samples
    flat = None
    if n_rows > 1:
        flat = labels * batch_size
        flat += np.tile(np.arange(batch_size), -(-n_samples // batch_size))[:n_samples]
    precond = np.asarray(state.precond, dtype=dtype)
    precond_W = precond[:n_w].reshape(n_rows, n_features)
    velocity = state.velocity
    cached = None  # (eta, m) of the cached step vectors
    step_scale = np.empty_like(coef)
    decay_scale = np.empty_like(W) if alpha else None
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    at, width = state.epoch + span[0], (span[1] - span[0]) / n_samples
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        m = stop - start
        X_batch = gather(order[start:stop], None)
        Z = Z_buf[:m]
        Zt = Zt_buf[:, :m]
        np.matmul(X_batch, W.T, out=Z)
        if b is not None:
            np.add(Z.T, b, out=Zt)
        else:
            np.copyto(Zt, Z.T)
        norm = norm_all[start:stop]
        if n_rows == 1:
            # binomial: loss = log(1 + exp(z)) - y z; G = sigmoid(z) - y
            y_batch = labels[start:stop]
            yz = y_batch * Zt[0]
            np.logaddexp(0, Zt[0], out=norm)
            Zt -= norm
            np.exp(Zt, out=Zt)
            Zt -= y_batch
            norm -= yz
        else:
            # loss = log(sum exp(z - max)) - (z_y - max); G = softmax(z) - onehot
            mx = mx_buf[:m]
            max_reduce(Zt, axis=0, out=mx)
            Zt -= mx
            pos = flat[start:stop]
            np.take(Zt_flat, pos, out=zy_all[start:stop])
            np.exp(Zt, out=Zt)
            add_reduce(Zt, axis=0, out=norm)
            Zt /= norm
            Zt_flat[pos] -= 1.0
        if sw is not None:
            Zt *= sw[start:stop]
        np.matmul(Zt, X_batch, out=grad_W)
        if b is not None:
            add_reduce(Zt, axis=1, out=grad_b)
        eta = learning_rate_at(learning_rate, state, power_t, at + width * start)
        if cached != (eta, m):
            cached = (eta, m)
            np.multiply(precond, eta / (mean_weight * m), out=step_scale)
            if alpha:
                np.multiply(precond_W, eta * alpha, out=decay_scale)
        np.multiply(grad, step_scale, out=step)
        if alpha:
            np.multiply(W, decay_scale, out=decay_W)
            step_W += decay_W
        if momentum:
            velocity *= momentum
            velocity -= step
            if nesterov:
                np.multiply(velocity, momentum, out=grad)
                coef += grad
                coef -= step
            else:
                coef += velocity
        else:
            coef -= step
        state.t += 1
    state.epoch += 1
    if n_rows > 1:
        np.log(norm_all, out=norm_all)
        norm_all -= zy_all
    loss_total = (
        float(np.sum(norm_all, dtype=np.float64))
        if sw is None
        else (float(np.dot(norm_all.astype(np.float64), sw)))
    )
    penalty = 0.5 * alpha * float(np.dot(coef[:n_w], coef[:n_w])) if alpha else 0.0
    return loss_total / weight_total + penalty


def _epoch_order(n_total, rows, sample_weight, rng, shuffle):
    """The epoch's row order (global indices) and the total weight it covers."""
    if rows is None:
        order = rng.permutation(n_total) if shuffle else np.arange(n_total)
        covered = sample_weight
    else:
        order = rows[rng.permutation(rows.shape[0])] if shuffle else rows
        covered = None if sample_weight is None else sample_weight[rows]
    total = float(order.shape[0]) if covered is None else float(np.sum(covered))
    return order, total


def _penalty_mask(coef, n_w, xp):
    """``coef`` with the intercept entries zeroed (the penalty's gradient / alpha)."""
    if coef.shape[0] == n_w:
        return coef
    return xp.concat([coef[:n_w], xp.zeros_like(coef[n_w:])])
