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
from ._scaling import centered_step


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
    average_loss : float or None
        With averaging, the objective of the averaged parameters at the end of
        the pass over its rows, where the pass computes it at little cost (the
        sparse pass); None: the caller evaluates it.
    """

    loss: float
    weight: float
    progress: list
    rates: list
    average_loss: float = None


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
    columns, moving them cost a fifth of an epoch. ``flat`` (views of
    ``state.coef`` and of the state's other weight-shaped arrays) is stale on
    the active columns until :meth:`flush`;
    :meth:`SGDState.sync <sk_softmax._solvers._sgd.SGDState.sync>` calls it
    before anything reads the parameters. Both copies stay valid after it
    (nothing but a pass writes the parameters during a fit), so the next
    pass still starts from these.

    Parameters
    ----------
    layout : SparseLayout
    compact : dict of str to ndarray of shape (n_used, n_rows)
        ``"W"``: the weights; ``"Q"``: the L1 penalty they took; ``"A"``:
        the integral of their path (averaging). The last two only when used.
    flat : dict of str to ndarray of shape (n_rows, n_features) or function
        Where each is written back (or a function that allocates it).
    vectors : dict of str to (ndarray, function)
        Small vectors kept aside alike, each with a function returning where
        it goes back: ``"b"`` the intercepts, ``"a_b"`` their average sum.
    """

    def __init__(self, layout, compact, flat, vectors):
        self.layout = layout
        self.compact = compact
        self.flat = flat
        self.vectors = vectors
        self.written = False

    def target(self, name):
        """The flat array ``name`` is written back into (allocated now if it
        was not yet: ``flat[name]`` may be a function that makes it)."""
        if callable(self.flat[name]):
            self.flat[name] = self.flat[name]()
        return self.flat[name]

    def flush(self):
        """Write the weights back into the flat parameters (once per pass)."""
        if not self.written:
            for name, W_t in self.compact.items():
                self.layout.scatter(W_t, self.target(name))
            for values, target in self.vectors.values():
                target()[...] = values
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
    if config.average and state.avg_sum is None:
        restart_average(state)
    record.loss = run(
        loss, state, X, Y, sample_weight, order, weight_total, config, rate, gather
    )
    if isinstance(record.loss, tuple):
        record.loss, record.average_loss = record.loss
    return record


class LazyZeros:
    """Zeros of a given shape, dtype and place, allocated when first needed.

    A sparse fit from zeros starts its parameters so, and averaging its
    ``avg_sum``: the sparse loop keeps the weights of its columns side by
    side (:class:`CompactWeights`), and a fit that reads the model only at
    its end allocates the weight-sized arrays only then.
    """

    def __init__(self, like, shape=None):
        self.shape = like.shape if shape is None else shape
        self.dtype = like.dtype
        if isinstance(like, LazyZeros):
            self.xp, self.device = like.xp, like.device
        else:
            self.xp, self.device = get_namespace(like), device(like)

    def __getitem__(self, key):
        raise TypeError("LazyZeros: call materialize() first")

    def materialize(self):
        return self.xp.zeros(self.shape, dtype=self.dtype, device=self.device)


def parameters(state):
    """``state.coef`` as an array (allocated now if it was not yet)."""
    if isinstance(state.coef, LazyZeros):
        state.coef = state.coef.materialize()
    return state.coef


def average_sum(state):
    """``state.avg_sum`` as an array (allocated now if it was not yet)."""
    if isinstance(state.avg_sum, LazyZeros):
        state.avg_sum = state.avg_sum.materialize()
    return state.avg_sum


def restart_average(state):
    """Start the state's averaging window: ``avg_sum`` zero, ``avg_weight`` 0.

    Where a sparse pass keeps the average laid out by its columns, in place
    (its compact copy and intercepts zeroed, and the columns outside its
    layout if the average was ever written out); otherwise zeros allocated
    when first needed (:class:`LazyZeros`).
    """
    pending = state.pending
    if pending is not None and "A" in pending.compact:
        pending.compact["A"][...] = 0
        pending.vectors["a_b"][0][...] = 0
        pending.written = False  # the zeros go back at the next write-back
        if not isinstance(state.avg_sum, LazyZeros):
            other = _other_columns(state, pending.layout)
            if other.shape[0]:
                pending.target("A")[:, other] = 0
    else:
        if state.pending is not None:
            state.pending.flush()
        state.avg_sum = LazyZeros(state.coef)
    state.avg_weight = 0.0


def settle_average(state):
    """Make the state's parameters its average, in place, and drop the
    averaging (the end of a fit: the iterate is not needed any more).

    Where a sparse pass keeps the weights laid out by its columns, the
    average takes the iterate's place there, and only the weights are
    written back: the average never needs a weight-sized array.
    """
    if state.avg_sum is None or not state.avg_weight:
        state.avg_sum, state.avg_weight = None, 0.0
        return
    scale = 1.0 / state.avg_weight
    pending = state.pending
    if pending is not None and "A" in pending.compact:
        A_t = pending.compact.pop("A")
        A_t *= scale
        pending.compact["W"] = A_t
        a_b, _ = pending.vectors.pop("a_b")
        pending.vectors["b"][0][...] = a_b * scale
        pending.written = False
        other = _other_columns(state, pending.layout)
        if other.shape[0]:  # columns outside the layout: their average
            W = pending.target("W")
            if isinstance(state.avg_sum, LazyZeros):
                W[:, other] = 0
            else:
                W[:, other] = pending.target("A")[:, other] * scale
        pending.flat.pop("A")
        state.sync(release=True)
    else:
        state.sync(release=True)
        state.coef = average_sum(state) * scale
    state.avg_sum, state.avg_weight = None, 0.0


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
    center = _center(state, config)
    if center is not None:
        precond_center = state.precond[: loss.n_features] * center
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
        raw_b = grad[n_w:]
        grad = grad * precond
        if center is not None:
            grad = centered_step(grad, raw_b, center, precond_center, loss.n_rows, xp)
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
        if config.average:
            state.avg_sum = average_sum(state) + eta * state.coef
            state.avg_weight += eta
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
    center = _center(state, config)
    if center is not None:
        center = np.asarray(center, dtype=dtype)
        precond_center = precond_W * center
        outer_buffer = np.empty((n_rows, n_features), dtype=dtype)
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
        if center is not None:
            centered_step(
                step,
                grad_b * scale,
                center,
                precond_center,
                n_rows,
                np,
                outer_buffer,
            )
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
        if config.average:
            np.multiply(coef, eta, out=grad)
            average_sum(state)[...] += grad
            state.avg_weight += eta
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


def runs_sparse_loop(X, batch_size):
    """Whether SGD on ``X`` runs the compiled sparse loop (wide SciPy sparse
    ``X``, batches of ``batch_size`` rows touching under half the columns)."""
    return sp.issparse(X) and _touches_few_columns(X, batch_size, np.empty(0))


def _touches_few_columns(X, batch_size, coef):
    """Whether a batch of sparse ``X`` touches under half of the columns.

    There the sparse path's steps cost what they touch; on sparse data whose
    batches touch most columns anyway (a few dozen dense-ish features), the
    dense-update path (with momentum) is as cheap per step and needs fewer
    epochs.
    """
    if not (sp.issparse(X) and isinstance(coef, (np.ndarray, LazyZeros))):
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

    With averaging, each weight's path is integrated over the step sizes in
    closed form when its column pays its decay (kept side by side with the
    weights, the intercepts' alike), and the pass returns the averaged
    parameters' objective over its rows too.
    """
    from ._sparse_kernel import norms, pay_decay, pay_l1, rows_loss, sparse_pass

    n_rows, n_features = loss.n_rows, loss.n_features
    n_w = n_rows * n_features
    shape = (n_rows, n_features)
    n_b = n_rows if loss.fit_intercept else 0
    dtype = state.coef.dtype
    # where the weights go back (allocated then, for a fit from zeros)
    if isinstance(state.coef, LazyZeros):
        flat = {"W": lambda: parameters(state)[:n_w].reshape(shape)}
    else:
        flat = {"W": state.coef[:n_w].reshape(shape)}
    vectors = {"b": (None, lambda: parameters(state)[n_w:])}
    if gather is None:
        gather = BatchGather(X, config.batch_size, np, None)
    layout = gather.sparse_layout(order, Y)
    if state.nonzero_columns is None:  # once per run: which weights may be non-zero
        W = parameters(state)[:n_w].reshape(shape)
        state.nonzero_columns = np.flatnonzero(np.any(W, axis=0))
    p_active = layout.active_preconditioner(state.precond)
    p_b = np.repeat(np.asarray(state.precond[n_features:], dtype=np.float64), n_rows)
    l1 = float(config.l1)
    if l1:
        flat["Q"] = _l1_state(state, n_w, np).reshape(shape)
    if config.average:
        vectors["a_b"] = (None, lambda: average_sum(state)[n_w:])
        if isinstance(state.avg_sum, LazyZeros):  # allocated if written back
            flat["A"] = lambda: average_sum(state)[:n_w].reshape(shape)
        else:
            flat["A"] = state.avg_sum[:n_w].reshape(shape)
    if state.pending is not None and state.pending.layout is layout:
        compact = state.pending.compact  # as the last pass left them
        vectors = state.pending.vectors
    else:
        if state.pending is not None:  # another layout's: written back first
            state.pending.flush()
        # (n_used, n_rows): a column's weights side by side; a fit from zeros
        # (no weight, no L1 penalty, nothing averaged yet) reads nothing
        zero = not (state.nonzero_columns.shape[0] or (l1 and state.l1_total))
        compact = {}
        for name, W in flat.items():
            if (not state.avg_weight) if name == "A" else zero:
                compact[name] = np.zeros((layout.columns.shape[0], n_rows), dtype)
            else:
                compact[name] = layout.gather(W() if callable(W) else W)
        for name, (_, target) in list(vectors.items()):
            if name == "a_b":
                fresh = not state.avg_weight
            else:
                fresh = isinstance(state.coef, LazyZeros)
            values = np.zeros(n_b, dtype) if fresh else np.array(target())
            vectors[name] = (values, target)
    b = vectors["b"][0]
    a_b = vectors["a_b"][0] if config.average else b[:0]
    state.pending = None  # the compact weights change now: stale until the end
    W_t = compact["W"]
    empty = np.empty((0, n_rows), dtype=W_t.dtype)
    n_samples = order.shape[0]
    rates = []
    for start in range(0, n_samples, config.batch_size):
        rates.append(rate(start))
        state.t += 1
    losses = np.empty(n_samples)
    up_to_date = np.zeros(layout.columns.shape[0])
    alpha = float(config.l2)
    order = np.asarray(order, dtype=np.int64)
    weights = np.empty(0) if sample_weight is None else np.asarray(sample_weight, float)
    # the pass's rows, as both compiled loops read them
    rows = (layout.X.data, layout.indices, layout.X.indptr, order, layout.labels)
    owed, state.l1_total = sparse_pass(
        *rows,
        weights,
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
        compact.get("Q", empty),
        l1,
        float(state.l1_total),
        compact.get("A", empty),
        a_b,
    )
    A_t = compact.get("A", empty)
    squared_norm = pay_decay(W_t, p_active, up_to_date, owed, alpha, A_t)
    abs_norm = pay_l1(W_t, compact["Q"], p_active, state.l1_total) if l1 else 0.0
    state.pending = CompactWeights(layout, compact, flat, vectors)
    other_sq, other_abs = _decay_other_columns(state, layout, flat, owed, alpha)
    if sample_weight is None:
        loss_total = float(np.sum(losses))
    else:
        loss_total = float(np.dot(losses, np.asarray(sample_weight)[order]))
    penalty = 0.5 * alpha * (squared_norm + other_sq) + l1 * (abs_norm + other_abs)
    pass_loss = loss_total / weight_total + penalty
    if not config.average:
        return pass_loss
    # the averaged parameters' objective on the pass's rows, in the layout
    state.avg_weight += owed
    scale = 1.0 / state.avg_weight
    averaged_loss_sum = rows_loss(*rows, weights, A_t, a_b, scale)
    A_norm, A_abs = norms(A_t)
    A_norm, A_abs = A_norm * scale**2, A_abs * scale if l1 else 0.0
    other = _other_columns(state, layout)
    if other.shape[0] and not isinstance(state.avg_sum, LazyZeros):
        A_other = state.pending.target("A")[:, other] * scale
        A_norm += float(np.sum(np.square(A_other, dtype=np.float64)))
        A_abs += float(np.sum(np.abs(A_other), dtype=np.float64)) if l1 else 0.0
    average_loss = averaged_loss_sum / weight_total + 0.5 * alpha * A_norm + l1 * A_abs
    return pass_loss, average_loss


def _other_columns(state, layout):
    """The columns outside the layout's whose weights may be non-zero (sorted)."""
    if state.nonzero_columns is layout.active:
        return layout.active[:0]
    return np.setdiff1d(state.nonzero_columns, layout.active, assume_unique=True)


def _decay_other_columns(state, layout, flat, owed, alpha):
    """Decay the non-zero weights outside the pass's columns over the pass's
    step sizes ``owed``, by ``exp(-alpha * owed * p_j)`` (with ``flat["Q"]``
    also giving them the L1 penalty they owe; with ``flat["A"]`` adding their
    path's integral to the average's).

    ``state.nonzero_columns`` (sorted feature indices) says where weights may
    be non-zero; after a pass it holds the pass's columns too. Within a fit
    it soon *is* the pass's columns, and then nothing is left to do. Returns
    the squared norm and the L1 norm of those weights.
    """
    active = layout.active
    nonzero = state.nonzero_columns
    if nonzero is active:
        return 0.0, 0.0
    stale = _other_columns(state, layout)
    squared_norm = abs_norm = 0.0
    if stale.shape[0]:
        W, Q = flat["W"], flat.get("Q")
        A = state.pending.target("A") if "A" in flat else None
        W_stale = W[:, stale]
        p_stale = np.asarray(state.precond[stale], dtype=np.float64)
        rate = alpha * p_stale
        factor = np.exp(-rate * owed)
        if A is not None:  # integral of w exp(-rate s) over the pass
            held = np.divide(
                -np.expm1(-rate * owed),
                rate,
                out=np.full_like(rate, owed),
                where=rate > 0,
            )
            A[:, stale] += (W_stale * held).astype(A.dtype)
        W_stale *= factor.astype(W.dtype)
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
    if state.l1_applied is None and isinstance(state.coef, LazyZeros):
        state.l1_applied = np.zeros(n_w, dtype=state.coef.dtype)
    elif state.l1_applied is None:
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


def _center(state, config):
    """The features' means if the steps are centered (not with an L1 penalty,
    whose clipping is per weight), else None."""
    return None if config.l1 else state.center


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
