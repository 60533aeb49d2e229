"""One pass of minibatch SGD over rows of in-memory data, updating a state.

Written against an array namespace ``xp``: minibatch indices come from the host
random generator (so a ``random_state`` gives the same batches on every
backend), the arithmetic runs where ``X`` lives, and the only host
synchronisation is reading the pass's loss once at its end. Dense NumPy data
takes an in-place fast path with the same arithmetic. The in-memory training
data runs one pass over its rows; the Dask training data runs one pass per
chunk, where the chunk lives.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._backend import device, get_namespace


@dataclass
class PassResult:
    """What one pass hands back.

    Attributes
    ----------
    loss : float
        Mean (weighted) training loss over the pass's minibatches, each taken
        before its update, plus the penalty at the end of the pass.
    weight : float
        Total sample weight the pass covered.
    progress : list of float
        Epochs done (fractions included) at each update, in order.
    rates : list of float
        The step size of each update.
    """

    loss: float
    weight: float
    progress: list
    rates: list


class BatchGather:
    """Gathers minibatch rows into a reused buffer (NumPy) or with ``xp.take``.

    Made once per fit: it also keeps what the sparse pass reads of ``X``
    every epoch (:meth:`sparse_layout`).
    """

    def __init__(self, X, batch_size, xp, device):
        self.X = X
        self.xp = xp
        self.device = device
        self.numpy_dense = isinstance(X, np.ndarray)
        if self.numpy_dense:
            self.buffer = np.empty((batch_size, X.shape[1]), dtype=X.dtype)
        self._sparse_layout = None

    def sparse_layout(self, order, Y):
        """The :class:`SparseLayout` of the rows in ``order`` (the first call's)."""
        if self._sparse_layout is None:
            self._sparse_layout = SparseLayout(self.X, order, Y)
        return self._sparse_layout

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


class SparseLayout:
    """Wide CSR ``X`` as the sparse pass reads it, every epoch of a fit.

    The pass works on the columns its rows use and nothing else: their
    weights are gathered side by side (one row of ``n_rows`` weights a
    column) and the CSR column indices are renumbered into them
    (``indices``), so that a pass costs ``O(nnz * n_rows)`` plus
    ``O(n_used * n_rows)``, whatever ``n_features``. The used columns are
    numbered from the most used down (``columns``), so that the weights of
    the frequent words, read at every step, share the cache; ``active``
    holds the same columns sorted. Made in ``O(nnz + n_features)``.

    Parameters
    ----------
    X : sparse matrix of shape (n_samples, n_features)
    order : ndarray of int
        The rows the passes visit (any order).
    Y : array of shape (n_samples, n_rows)
        The encoded targets; read once for the labels.
    """

    def __init__(self, X, order, Y):
        X = sp.csr_matrix(X)  # the CSR interface (for a csr_array too), no copy
        self.X = X
        used = X.indices if order.shape[0] == X.shape[0] else X[order].indices
        counts = np.bincount(used, minlength=X.shape[1])
        self.active = np.flatnonzero(counts)
        # most used first; ties in column order (a stable sort)
        self.columns = self.active[np.argsort(-counts[self.active], kind="stable")]
        # rows outside ``order`` may name other columns: mapped to 0, never read
        local = np.zeros(X.shape[1], dtype=X.indices.dtype)
        local[self.columns] = np.arange(self.columns.shape[0], dtype=local.dtype)
        self.indices = local[X.indices]
        n_rows = Y.shape[1]
        labels = np.argmax(Y, axis=1) if n_rows > 1 else np.asarray(Y[:, 0])
        self.labels = np.asarray(labels, dtype=np.int64)
        self._precond = self._p_active = None

    def active_preconditioner(self, precond):
        """``precond`` of the used columns in ``columns``' order (float64),
        kept while it is the same."""
        if precond is not self._precond:
            self._precond = precond
            self._p_active = np.asarray(precond[self.columns], dtype=np.float64)
        return self._p_active

    def gather(self, W):
        """The weights of the used columns, ``(n_used, n_rows)``, from ``W``
        of shape ``(n_rows, n_features)``."""
        return W.T[self.columns]

    def scatter(self, W_t, W):
        """Write ``W_t`` (as :meth:`gather` made it) back into ``W``, one
        class's row at a time (contiguous, unlike a transposed scatter)."""
        for k in range(W.shape[0]):
            W[k, self.columns] = W_t[:, k]


class CompactWeights:
    """The weights of a layout's active columns, side by side, between passes.

    The sparse pass leaves them here instead of writing them back into the
    flat parameters, so that the next pass of the same fit (same layout)
    starts without a gather and none ends with a scatter: at ``2**22``
    columns, moving them cost a fifth of an epoch. ``W`` (a view of
    ``state.coef``) is stale on the active columns until :meth:`flush`;
    :meth:`SGDState.sync <sk_softmax._solvers._sgd.SGDState.sync>` calls it
    before anything reads the parameters. Both copies stay valid after it
    (nothing but a pass writes the parameters during a fit), so the next
    pass still starts from these.
    """

    def __init__(self, layout, W_t, W, q_t=None, Q=None):
        self.layout = layout
        self.W_t = W_t
        self.W = W
        self.q_t = q_t  # the L1 penalty the weights took, laid out alike
        self.Q = Q
        self.written = False

    def flush(self):
        """Write the weights back into the flat parameters (once per pass)."""
        if not self.written:
            self.layout.scatter(self.W_t, self.W)
            if self.q_t is not None:
                self.layout.scatter(self.q_t, self.Q)
            self.written = True


def sgd_pass(
    loss,
    state,
    X,
    Y,
    sample_weight,
    config,
    schedule,
    rng,
    *,
    gather=None,
    rows=None,
    span=(0.0, 1.0),
):
    """One pass of minibatch SGD over ``(X, Y)``, updating ``state`` in place.

    ``config`` gives ``alpha``, ``batch_size``, ``momentum``, ``nesterov``
    and ``shuffle`` (an :class:`~sk_softmax._solvers._sgd.SGDConfig`);
    ``schedule`` the rate of each update. ``rows`` (host integer array)
    restricts the pass to those rows of ``X`` (early stopping's training
    part) without copying them. ``span`` is the part of an epoch this pass
    covers (a Dask chunk's share; the whole epoch in memory): it places each
    update on the "linear" schedule.

    Each minibatch gradient is the weighted sum of per-sample gradients divided
    by ``batch_size * mean(sample_weight)``, an unbiased estimate of the
    full objective's gradient, plus the penalty's gradient.

    Returns
    -------
    PassResult
    """
    order, weight_total = _epoch_order(
        X.shape[0], rows, sample_weight, rng, config.shuffle
    )
    record = PassResult(0.0, weight_total, [], [])
    width = (span[1] - span[0]) / order.shape[0]
    at = state.epoch + span[0]

    def rate(start):
        progress = at + width * start
        eta = schedule.rate(state, progress)
        record.progress.append(progress)
        record.rates.append(eta)
        return eta

    if isinstance(X, np.ndarray) and isinstance(state.coef, np.ndarray):
        run = _pass_numpy
    elif _touches_few_columns(X, config.batch_size, state.coef):
        run = _pass_sparse
    else:
        run = _pass_generic
    if run is not _pass_sparse:
        state.sync()
    record.loss = run(
        loss, state, X, Y, sample_weight, order, weight_total, config, rate, gather
    )
    return record


def _pass_generic(
    loss, state, X, Y, sample_weight, order, weight_total, config, rate, gather
):
    """:func:`sgd_pass` in any array namespace (GPU, array API, sparse)."""
    xp = get_namespace(state.coef)
    dev = device(state.coef)
    alpha, l1, batch_size = config.l2, config.l1, config.batch_size
    momentum, nesterov = config.step_momentum, config.nesterov
    n_samples = order.shape[0]
    mean_weight = weight_total / n_samples
    if momentum and state.velocity is None:
        state.velocity = xp.zeros_like(state.coef)
    numpy_path = isinstance(X, np.ndarray) or sp.issparse(X)
    if gather is None:
        gather = BatchGather(X, batch_size, xp, dev)
    order_dev = order if numpy_path else xp.asarray(order, device=dev)
    sw_dev = None
    if sample_weight is not None:
        sw_dev = sample_weight if numpy_path else xp.asarray(sample_weight, device=dev)
    loss_sum = 0.0
    n_w = loss.n_rows * loss.n_features
    precond = _per_parameter(state.precond, loss, xp)
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
        grad = grad * precond
        eta = rate(start)
        if momentum:
            state.velocity = momentum * state.velocity - eta * grad
            if nesterov:
                state.coef = state.coef + (momentum * state.velocity - eta * grad)
            else:
                state.coef = state.coef + state.velocity
        else:
            state.coef = state.coef - eta * grad
        if l1:
            state.l1_total += eta * l1
            w, state.l1_applied = _l1_clip(
                state.coef[:n_w],
                _l1_state(state, n_w, xp),
                precond[:n_w] * state.l1_total,
                xp,
            )
            state.coef = xp.concat([w, state.coef[n_w:]])
        state.t += 1
    w = state.coef[:n_w]
    if alpha:
        loss_sum = loss_sum + (0.5 * alpha * weight_total) * xp.sum(w * w)
    if l1:
        loss_sum = loss_sum + (l1 * weight_total) * xp.sum(xp.abs(w))
    return float(loss_sum) / weight_total  # the pass's one host sync


def _pass_numpy(
    loss, state, X, Y, sample_weight, order, weight_total, config, rate, gather
):
    """:func:`sgd_pass` for dense NumPy ``X``: the same arithmetic, in place.

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
    alpha, l1, batch_size = config.l2, config.l1, config.batch_size
    momentum, nesterov = config.step_momentum, config.nesterov
    n_features = X.shape[1]
    n_rows = loss.n_rows
    n_w = n_rows * n_features
    dtype = X.dtype
    if gather is None:
        gather = BatchGather(X, batch_size, np, None)
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
    precond_W, precond_b = precond[:n_features], precond[n_features:]
    if momentum and state.velocity is None:
        state.velocity = np.zeros_like(coef)
    velocity = state.velocity
    q_W = _l1_state(state, n_w, np).reshape(n_rows, n_features) if l1 else None
    cached = None  # (eta, m) of the cached step vectors
    step_scale = np.empty_like(coef)
    step_scale_W = step_scale[:n_w].reshape(n_rows, n_features)
    decay_scale = np.empty_like(precond_W) if alpha else None
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
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
        eta = rate(start)
        if cached != (eta, m):
            cached = (eta, m)
            scale = eta / (mean_weight * m)
            np.multiply(precond_W, scale, out=step_scale_W)  # every class's row
            step_scale[n_w:] = precond_b * scale
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
        if l1:
            state.l1_total += eta * l1
            W[...], q_W[...] = _l1_clip(W, q_W, precond_W * state.l1_total, np)
        state.t += 1
    if n_rows > 1:
        np.log(norm_all, out=norm_all)
        norm_all -= zy_all
    loss_total = (
        float(np.sum(norm_all, dtype=np.float64))
        if sw is None
        else (float(np.dot(norm_all.astype(np.float64), sw)))
    )
    penalty = 0.5 * alpha * float(np.dot(coef[:n_w], coef[:n_w])) if alpha else 0.0
    if l1:
        penalty += l1 * float(np.sum(np.abs(coef[:n_w]), dtype=np.float64))
    return loss_total / weight_total + penalty


def _touches_few_columns(X, batch_size, coef):
    """Whether a batch of sparse ``X`` touches under half of the columns.

    There the sparse path's steps cost what they touch; on sparse data whose
    batches touch most columns anyway (a few dozen dense-ish features), the
    dense-update path (with momentum) is as cheap per step and needs fewer
    epochs.
    """
    if not (sp.issparse(X) and isinstance(coef, np.ndarray)):
        return False
    return X.nnz / max(X.shape[0], 1) * batch_size < 0.5 * X.shape[1]


def _pass_sparse(
    loss, state, X, Y, sample_weight, order, weight_total, config, rate, gather
):
    """:func:`sgd_pass` for wide SciPy sparse ``X``: steps cost what they touch.

    Used when a batch touches under half of the columns (text, hashed or
    one-hot features). The compiled loop (:mod:`._sparse_kernel`) reads the
    CSR arrays in place; a step costs ``O(nnz(batch) * n_rows)`` and a pass
    ``O((nnz + n_active) * n_rows)``, whatever ``n_features``:

    - the pass works on the weights of the columns its rows use
      (:class:`SparseLayout`), gathered side by side once per fit and kept
      so between its passes (:class:`CompactWeights`, ``state.pending``);
    - the logits and gradient of a batch read and write only its columns;
    - the L2 decay of the weights a batch does not touch is applied just in
      time, when their column is next read (and for the pass's columns at
      its end): with ``S`` the sum of the step sizes so far, a column last
      brought up to date at ``S_j`` is multiplied by
      ``exp(-alpha * p_j * (S - S_j))``, ``p_j`` its preconditioner, exactly
      what the updates in between would have done one by one;
    - weights of columns the rows never use only decay, by
      ``exp(-alpha * p_j * S)`` at the end of the pass, and only where they
      may be non-zero (``state.nonzero_columns``: a fit from zeros never
      touches them).

    The update of a weight is the dense path's preconditioned step with the
    L2 decay applied as the exact flow of the penalty over the step,
    ``w <- exp(-eta * alpha * p) * (w - eta * p * g)`` (a decay that lazy
    updates can apply exactly under any schedule); momentum, which would move
    every weight at every step, is not used on sparse data. The objective,
    and so the optimum, is the same.
    """
    from ._sparse_kernel import pay_decay, pay_l1, sparse_pass

    n_rows, n_features = loss.n_rows, loss.n_features
    n_w = n_rows * n_features
    coef = state.coef
    W = coef[:n_w].reshape(n_rows, n_features)
    b = coef[n_w:] if loss.fit_intercept else coef[:0]
    if gather is None:
        gather = BatchGather(X, config.batch_size, np, None)
    layout = gather.sparse_layout(order, Y)
    active = layout.active
    if state.nonzero_columns is None:  # once per run: which weights may be non-zero
        state.nonzero_columns = np.flatnonzero(np.any(W, axis=0))
    p_active = layout.active_preconditioner(state.precond)
    p_b = np.repeat(np.asarray(state.precond[n_features:], dtype=np.float64), n_rows)
    l1 = float(config.l1)
    Q = _l1_state(state, n_w, np).reshape(n_rows, n_features) if l1 else None
    if state.pending is not None and state.pending.layout is layout:
        W_t, q_t = state.pending.W_t, state.pending.q_t  # as the last pass left them
    else:
        state.sync()
        # (n_used, n_rows): a column's weights side by side; a fit from zeros
        # (no weight and no L1 penalty taken yet) reads nothing
        if state.nonzero_columns.shape[0] or (l1 and state.l1_total):
            W_t, q_t = layout.gather(W), layout.gather(Q) if l1 else None
        else:
            W_t = np.zeros((layout.columns.shape[0], n_rows), dtype=W.dtype)
            q_t = np.zeros_like(W_t) if l1 else None
    state.pending = None  # W_t changes now: W is stale until the pass ends
    n_samples = order.shape[0]
    rates = []
    for start in range(0, n_samples, config.batch_size):
        rates.append(rate(start))
        state.t += 1
    losses = np.empty(n_samples)
    up_to_date = np.zeros(active.shape[0])
    alpha = float(config.l2)
    owed, state.l1_total = sparse_pass(
        layout.X.data,
        layout.indices,
        layout.X.indptr,
        np.asarray(order, dtype=np.int64),
        layout.labels,
        np.empty(0) if sample_weight is None else np.asarray(sample_weight, float),
        W_t,
        b,
        p_active,
        p_b,
        up_to_date,
        0.0,
        np.asarray(rates, dtype=np.float64),
        int(config.batch_size),
        alpha,
        weight_total / n_samples,
        losses,
        np.empty((0, n_rows), dtype=W_t.dtype) if q_t is None else q_t,
        l1,
        float(state.l1_total),
    )
    squared_norm = pay_decay(W_t, p_active, up_to_date, owed, alpha)
    abs_norm = pay_l1(W_t, q_t, p_active, state.l1_total) if l1 else 0.0
    state.pending = CompactWeights(layout, W_t, W, q_t, Q)
    other_sq, other_abs = _decay_other_columns(state, layout, W, alpha * owed, Q)
    if sample_weight is None:
        loss_total = float(np.sum(losses))
    else:
        loss_total = float(np.dot(losses, np.asarray(sample_weight)[order]))
    penalty = 0.5 * alpha * (squared_norm + other_sq) + l1 * (abs_norm + other_abs)
    return loss_total / weight_total + penalty


def _decay_other_columns(state, layout, W, flow, Q=None):
    """Decay the non-zero weights outside the pass's columns by ``exp(-flow * p_j)``
    (and, with ``Q``, give them the L1 penalty they owe).

    ``state.nonzero_columns`` (sorted feature indices) says where weights may
    be non-zero; after a pass it holds the pass's columns too. Within a fit
    it soon *is* the pass's columns, and then nothing is left to do. Returns
    the squared norm and the L1 norm of those weights.
    """
    active = layout.active
    nonzero = state.nonzero_columns
    if nonzero is active:
        return 0.0, 0.0
    stale = np.setdiff1d(nonzero, active, assume_unique=True)
    squared_norm = abs_norm = 0.0
    if stale.shape[0]:
        W_stale = W[:, stale]
        p_stale = np.asarray(state.precond[stale], dtype=np.float64)
        if flow:
            W_stale *= np.exp(-flow * p_stale).astype(W.dtype)
        if Q is not None:
            u = (p_stale * state.l1_total).astype(W.dtype)
            W_stale, Q[:, stale] = _l1_clip(W_stale, Q[:, stale], u, np)
            abs_norm = float(np.sum(np.abs(W_stale), dtype=np.float64))
        W[:, stale] = W_stale
        squared_norm = float(np.sum(np.square(W_stale, dtype=np.float64)))
    merged = np.union1d(nonzero, active) if nonzero.shape[0] else active
    state.nonzero_columns = active if merged.shape == active.shape else merged
    return squared_norm, abs_norm


def _l1_clip(W, q, u, xp):
    """Tsuruoka et al.'s cumulative L1 penalty: ``(W', q')``.

    ``u`` (broadcast over ``W``) is the penalty each weight could have
    received so far, ``q`` what it has received: a positive weight moves
    towards zero by ``u + q``, a negative one by ``u - q``, never across it,
    and ``q`` records the move. Weights land on exact zeros and stay there
    unless the gradient pushes them out by more than the penalty.
    """
    shrunk = xp.where(
        W > 0,
        xp.maximum(W - (u + q), 0.0),
        xp.where(W < 0, xp.minimum(W + (u - q), 0.0), W),
    )
    return shrunk, q + (shrunk - W)


def _l1_state(state, n_w, xp):
    """The received-penalty vector of the state (zeros on first use)."""
    if state.l1_applied is None:
        state.l1_applied = xp.zeros_like(state.coef[:n_w])
    return state.l1_applied


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


def _per_parameter(precond, loss, xp):
    """The per-feature ``precond`` laid out like the flat ``coef`` (one pass's)."""
    n_rows, n_features = loss.n_rows, loss.n_features
    W_part = xp.broadcast_to(precond[:n_features], (n_rows, n_features))
    parts = [xp.reshape(W_part, (n_rows * n_features,))]
    if loss.fit_intercept:
        parts.append(xp.broadcast_to(precond[n_features:], (n_rows,)))
    return xp.concat(parts)


def _penalty_mask(coef, n_w, xp):
    """``coef`` with the intercept entries zeroed (the penalty's gradient / alpha)."""
    if coef.shape[0] == n_w:
        return coef
    return xp.concat([coef[:n_w], xp.zeros_like(coef[n_w:])])
