"""The softmax regression objective, written once for every solver and backend.

Parameter layout
----------------
All solvers see the parameters as one flat vector ``coef`` of length
``n_rows * n_features + n_rows * fit_intercept``::

    coef = concat([W.ravel(), b])   # W: (n_rows, n_features), C order; b: (n_rows,)

where ``n_rows = 1`` for the binomial model (two classes, the first class's row
fixed at zero, as in scikit-learn) and ``n_rows = n_classes`` otherwise.

Targets ``Y`` are given as an ``(n_samples, n_rows)`` float array: one-hot for
the multinomial model, a single column holding ``y == classes_[1]`` for the
binomial one.

Objective
---------
With logits ``Z = X @ W.T + b`` and per-sample weights ``s``::

    L(W, b) = (1 / S) * sum_i s_i * (-log P(y_i | x_i))
              + alpha * (l1_ratio * ||W||_1 + (1 - l1_ratio) / 2 * ||W||_F^2)

``S = sum_i s_i``; the intercept is not penalised. This is
``LogisticRegression(C=1 / (alpha * S), l1_ratio=l1_ratio)``'s objective
divided by ``C * S``: the same optimum. The methods below take the L2
strength (``alpha`` there is ``alpha * (1 - l1_ratio)``, see
:func:`penalty_strengths`); the L1 part is the solvers' own: a
bound-constrained split of ``W`` for L-BFGS-B
(:mod:`sk_softmax._solvers._scipy`), a cumulative penalty for SGD
(:mod:`sk_softmax._solvers._sgd_pass`).
``-log P`` is computed from log-sum-exp of the logits (never the log of a
probability), so huge logits do not overflow and ``log(0)`` never happens.
"""

import numpy as np
import scipy.sparse as sp

from ._backend import get_namespace


def penalty_strengths(alpha, l1_ratio):
    """``(l2, l1)``: the strengths of ``||W||^2 / 2`` and ``||W||_1`` in ``L``."""
    return alpha * (1.0 - l1_ratio), alpha * l1_ratio


def _xt_matmul(G, X):
    """``G.T @ X`` as a dense ``(n_rows, n_features)`` array, X dense or sparse."""
    if sp.issparse(X):
        return (X.T @ G).T
    return G.T @ X


def compact_columns(X):
    """``(X_local, used)``: SciPy sparse ``X`` (CSR) on the columns it uses,
    renumbered ``0..len(used)-1``, where they are fewer than half of its
    columns; else ``(X, None)``."""
    X = sp.csr_matrix(X)
    # the used columns marked, then numbered in order: O(nnz + n_features)
    # without a sort (a tenth of np.unique and np.searchsorted's time on a
    # thousand documents of 2^20 hashed columns)
    marked = np.zeros(X.shape[1], dtype=bool)
    marked[X.indices] = True
    used = np.flatnonzero(marked)
    if used.shape[0] >= X.shape[1] // 2:
        return X, None
    position = np.empty(X.shape[1], dtype=X.indices.dtype)  # read where used
    position[used] = np.arange(used.shape[0], dtype=X.indices.dtype)
    local = position[X.indices]
    return sp.csr_matrix(
        (X.data, local, X.indptr), shape=(X.shape[0], used.shape[0])
    ), used


def logits(X, W, b=None, compacted=False):
    """``X @ W.T (+ b)``, X dense (any namespace) or SciPy sparse, ``W`` dense
    or SciPy sparse (then ``X`` is on the host).

    For sparse ``X`` the product runs on the columns ``X`` uses
    (:func:`compact_columns`; ``compacted``: X is so already, and ``W`` holds
    those columns' weights), so that a few rows of wide data read those
    columns' weights, never a transposed copy of every weight
    (``n_classes * n_features``).
    """
    if sp.issparse(W):  # a sparsify()-ed coef_: the product of its non-zeros
        Z = W.astype(X.dtype) @ X.T
        Z = np.asarray(Z.toarray() if sp.issparse(Z) else Z).T
    elif sp.issparse(X):
        W = np.asarray(W)
        if not compacted:
            X, used = compact_columns(X)
            W = W if used is None else W[:, used]
        Z = X @ np.ascontiguousarray(W.T)
    else:
        Z = X @ W.T
    return Z if b is None else Z + b


class SoftmaxLoss:
    """Softmax (multinomial or binomial) log-loss with an L2 penalty.

    Parameters
    ----------
    n_classes : int
        Number of classes (>= 2). Two classes use the binomial model.
    n_features : int
        Number of features.
    fit_intercept : bool
        Whether ``coef`` holds an intercept.
    """

    def __init__(self, n_classes, n_features, fit_intercept=True):
        self.n_classes = n_classes
        self.n_features = n_features
        self.fit_intercept = fit_intercept
        self.n_rows = 1 if n_classes == 2 else n_classes

    @property
    def n_coef(self):
        """Length of the flat parameter vector."""
        return self.n_rows * (self.n_features + int(self.fit_intercept))

    def unpack(self, coef, xp=None):
        """Split flat ``coef`` into ``(W, b)``; ``b`` is None without intercept."""
        xp = get_namespace(coef) if xp is None else xp
        n_w = self.n_rows * self.n_features
        W = xp.reshape(coef[:n_w], (self.n_rows, self.n_features))
        b = coef[n_w:] if self.fit_intercept else None
        return W, b

    def pack(self, W, b, xp=None):
        """Inverse of :meth:`unpack`."""
        xp = get_namespace(W) if xp is None else xp
        flat = xp.reshape(W, (-1,))
        if self.fit_intercept:
            flat = xp.concat([flat, xp.reshape(b, (-1,))])
        return flat

    def raw_prediction(self, coef, X, xp=None):
        """Logits ``X @ W.T + b``, shape ``(n_samples, n_rows)``."""
        xp = get_namespace(coef) if xp is None else xp
        W, b = self.unpack(coef, xp)
        return logits(X, W, b)

    def sum_loss_gradient(self, coef, X, Y, sample_weight=None, xp=None):
        """Weighted sums of the data term and its gradient, no penalty.

        Returns ``(sum_i s_i * l_i, d/dcoef of that sum, sum_i s_i)``; sums over
        chunks of rows add up, which the Dask path relies on.
        """
        xp = get_namespace(coef) if xp is None else xp
        Z = self.raw_prediction(coef, X, xp)
        if self.n_rows == 1:
            # binomial: l = log(1 + exp(z)) - y z ; dl/dz = sigmoid(z) - y
            lse = xp.logaddexp(xp.zeros_like(Z), Z)
            loss_i = lse - Y * Z
            G = xp.exp(Z - lse) - Y
        else:
            zmax = xp.max(Z, axis=1, keepdims=True)
            shifted = Z - zmax
            exp_shifted = xp.exp(shifted)
            sumexp = xp.sum(exp_shifted, axis=1, keepdims=True)
            # rows of Y are one-hot, so this is lse(z) - z_y
            loss_i = xp.log(sumexp) - xp.sum(shifted * Y, axis=1, keepdims=True)
            G = exp_shifted / sumexp - Y
        if sample_weight is None:
            loss_sum = xp.sum(loss_i)
            weight_sum = Z.shape[0]
        else:
            sw = xp.reshape(sample_weight, (-1, 1))
            loss_sum = xp.sum(loss_i * sw)
            G = G * sw
            weight_sum = xp.sum(sample_weight)
        grad_W = _xt_matmul(G, X)
        if self.fit_intercept:
            grad = xp.concat([xp.reshape(grad_W, (-1,)), xp.sum(G, axis=0)])
        else:
            grad = xp.reshape(grad_W, (-1,))
        return loss_sum, grad, weight_sum

    def penalty(self, coef, l2, l1=0.0, xp=None):
        """``l2 / 2 ||W||^2 + l1 ||W||_1`` as a host float (no intercept)."""
        xp = get_namespace(coef) if xp is None else xp
        w = coef[: self.n_rows * self.n_features]
        value = 0.5 * l2 * float(w @ w) if l2 else 0.0  # no temporary
        if l1:
            value += l1 * float(xp.sum(xp.abs(w)))
        return value

    def penalty_gradient(self, coef, alpha, xp=None):
        """``(alpha / 2) ||W||^2`` and its gradient (zero on the intercept)."""
        xp = get_namespace(coef) if xp is None else xp
        n_w = self.n_rows * self.n_features
        w = coef[:n_w]
        pen = 0.5 * alpha * xp.sum(w * w)
        if self.fit_intercept:
            grad = xp.concat([alpha * w, xp.zeros_like(coef[n_w:])])
        else:
            grad = alpha * w
        return pen, grad

    def loss_gradient(self, coef, X, Y, sample_weight=None, alpha=0.0, xp=None):
        """Objective ``L`` and its gradient with respect to the flat ``coef``.

        Parameters
        ----------
        coef : array of shape (n_coef,)
            Flat parameters, layout in the module docstring.
        X : {array, sparse matrix} of shape (n_samples, n_features)
        Y : array of shape (n_samples, n_rows)
            Encoded targets (module docstring).
        sample_weight : array of shape (n_samples,) or None
            Per-sample weights ``s_i``; the data term is normalised by their sum.
        alpha : float
            L2 penalty strength on ``W``.

        Returns
        -------
        loss : 0-d array
        grad : array of shape (n_coef,)
        """
        xp = get_namespace(coef) if xp is None else xp
        loss_sum, grad_sum, weight_sum = self.sum_loss_gradient(
            coef, X, Y, sample_weight, xp
        )
        pen, pen_grad = self.penalty_gradient(coef, alpha, xp)
        return loss_sum / weight_sum + pen, grad_sum / weight_sum + pen_grad

    def sample_losses(self, coef, X, Y, xp):
        """Each row's loss ``-log p(y_i | x_i)`` (shape (n_samples,)), from
        stable log-probabilities."""
        return self.losses_from_logits(self.raw_prediction(coef, X, xp), Y, xp)

    def correct_from_logits(self, Z, Y, xp):
        """Whether each row's top logit is its label's (1.0 / 0.0)."""
        if self.n_rows == 1:
            hit = (Z[:, 0] > 0) == (Y[:, 0] > 0.5)
        else:
            hit = xp.argmax(Z, axis=1) == xp.argmax(Y, axis=1)
        return xp.astype(hit, Z.dtype)

    def losses_from_logits(self, Z, Y, xp):
        """Each row's loss from its logits ``Z`` (see :meth:`sample_losses`)."""
        if self.n_rows == 1:
            loss_i = xp.logaddexp(xp.zeros_like(Z), Z) - Y * Z
        else:
            loss_i = -xp.sum(log_softmax(Z, xp) * Y, axis=1)
        return xp.reshape(loss_i, (-1,))

    def loss(self, coef, X, Y, sample_weight=None, alpha=0.0, xp=None):
        """Objective ``L`` only (see :meth:`loss_gradient`), without the
        gradient's ``n_classes * n_features`` product."""
        xp = get_namespace(coef) if xp is None else xp
        loss_i = self.sample_losses(coef, X, Y, xp)
        if sample_weight is None:
            value = xp.sum(loss_i) / loss_i.shape[0]
        else:
            value = xp.sum(loss_i * sample_weight) / xp.sum(sample_weight)
        w = coef[: self.n_rows * self.n_features]
        return value + 0.5 * alpha * xp.vecdot(w, w)


def log_softmax(Z, xp, limit=False):
    """Row-wise log-softmax computed stably with log-sum-exp.

    With ``limit``, a row whose largest logit is infinite (finite features
    times large weights can overflow) is its limit: the classes at ``+inf``
    share the probability, the others get none (``inf - inf`` would make the
    whole row NaN); a row all ``-inf`` is a tie of every class. Finite rows
    are unchanged to the bit (their top's shifted logit is 0 already).
    """
    zmax = xp.max(Z, axis=1, keepdims=True)
    shifted = Z - zmax
    if limit:
        # (zeros of a column, on Z's device: broadcast, no (n, K) temporary)
        shifted = xp.where(Z == zmax, xp.zeros_like(zmax), shifted)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def log_sigmoid(z, xp):
    """``log(1 / (1 + exp(-z)))`` without overflow."""
    return -xp.logaddexp(xp.zeros_like(z), -z)


def log_proba_from_logits(Z):
    """Stable log-probabilities from the logits ``Z`` (1-D: binomial).

    Where a probability is near 1 its log is below the dtype's resolution of
    ``exp(log_proba)``; there ``log(exp(.))`` is returned, so that
    ``predict_log_proba`` and ``log(predict_proba)`` agree.
    """
    xp = get_namespace(Z)
    if Z.ndim == 1:
        z = xp.reshape(Z, (-1, 1))
        log_proba = xp.concat([log_sigmoid(-z, xp), log_sigmoid(z, xp)], axis=1)
    else:
        log_proba = log_softmax(Z, xp, limit=True)
    near_one = log_proba > -0.5
    rounded = xp.log(xp.exp(xp.where(near_one, log_proba, xp.zeros_like(log_proba))))
    return xp.where(near_one, rounded, log_proba)


def row_labels(Y):
    """Each row's class as an integer, or its 0/1 target in ``Y``'s dtype
    (binomial), from the encoded host targets ``Y`` of shape
    (n_samples, n_rows)."""
    if Y.shape[1] > 1:
        return np.argmax(Y, axis=1)
    return np.ascontiguousarray(Y[:, 0])


# up to this many classes (1 row of weights: binomial) the NumPy pass computes
# a batch in one compiled pass over its rows (sk_softmax._loss_kernel), above
# it in two matrix products on the gathered batch. One thread, batches of 256
# of 20,000 random rows, 4 to 2,048 features, float32 and float64: the
# compiled pass took 0.49 to 0.59 of the time binomial, 0.57 to 0.76 at 10
# classes (MNIST's 784 features: 0.59 / 0.57), 0.65 to 1.00 at 16, 0.70 to
# 1.02 at 20, 0.68 to 1.11 at 26, 0.75 to 1.27 at 50: the products' blocking
# wins with many classes
COMPILED_CLASSES = 16

# and from this many values of X (n_samples * n_features): below, a fit never
# imports Numba. Its import and the compiled pass's loading cost about 0.4 s
# once a process (0.21 to 0.25 s, 0.19 to 0.21 s); a default fit saved 0.16 s
# on MNIST (47 million values: 0.60 s instead of 0.76, the split's row keys
# 0.09 s more), 0.02 s on 20,000 x 200, 0.006 s on 20,000 x 50, 0.13 s on
# digits (0.72 s instead of 0.86, its 449 epochs), nothing on iris
COMPILED_VALUES = 2**24


def compiled_batches(X, n_rows):
    """Whether :class:`NumpyBatchLoss` computes the batches of ``X`` (dense
    NumPy) with ``n_rows`` rows of weights compiled: at most
    :data:`COMPILED_CLASSES`, ``X`` C-ordered, of :data:`COMPILED_VALUES`
    values or more (Numba is loaded for them)."""
    if not isinstance(X, np.ndarray) or n_rows > COMPILED_CLASSES:
        return False
    return X.size >= COMPILED_VALUES and X.flags.c_contiguous


def compiled_losses(loss, X, labels, W, b):
    """Each row's loss and whether it is predicted right (host float64, as
    :meth:`SoftmaxLoss.losses_from_logits` and
    :meth:`SoftmaxLoss.correct_from_logits` give them) in one compiled pass
    over the rows of ``X`` (:func:`sk_softmax._loss_kernel.row_losses`,
    binomial ``binomial_row_losses``), where :func:`scores_compiled`;
    ``labels`` from :func:`row_labels`, ``W`` and ``b`` (None without
    intercepts) from :meth:`SoftmaxLoss.unpack`."""
    from ._loss_kernel import binomial_row_losses, row_losses  # Numba

    kernel = binomial_row_losses if loss.n_rows == 1 else row_losses
    losses, correct = np.empty(X.shape[0]), np.empty(X.shape[0])
    b = np.empty(0, dtype=W.dtype) if b is None else b
    kernel(X.view(np.ndarray), labels, W, b, losses, correct)
    return losses, correct


def scores_compiled(X, n_rows):
    """Whether :func:`compiled_losses` scores the rows of ``X`` (dense NumPy,
    C-ordered, at most :data:`COMPILED_CLASSES` rows of weights), for a fit
    whose steps load Numba anyway: early stopping's validation rows (on
    MNIST's 6,000, 2.5 ms a score instead of 4.6: the matrix product's
    ten columns and the log-softmax's temporaries)."""
    return (
        isinstance(X, np.ndarray)
        and X.flags.c_contiguous
        and n_rows <= COMPILED_CLASSES
    )


# bytes the compiled gradient's buffer is aligned to (a cache line): its
# rows are read and written back at every block of rows, and where a row's
# bytes are a multiple of 64 (MNIST's 784 float32 features) a buffer 16 or
# 48 bytes off a line (NumPy aligns on 16) splits lines at every vector:
# MNIST's minibatch kernel 4% to 8% slower in float32 (36 to 37 ms an epoch
# instead of 34), 2% to 6% in float64, at each offset of the weights
_ALIGN = 64


def _aligned_empty(n, dtype):
    """An uninitialised ``(n,)`` array of ``dtype`` whose data starts on an
    ``_ALIGN``-byte boundary (a view of a slightly longer one)."""
    itemsize = np.dtype(dtype).itemsize
    buffer = np.empty(n + _ALIGN // itemsize, dtype=dtype)
    start = (-buffer.ctypes.data % _ALIGN) // itemsize
    return buffer[start : start + n]


class NumpyBatchLoss:
    """The loss and gradient of a pass's minibatches, dense NumPy ``X``, in place.

    The same objective as :meth:`SoftmaxLoss.sum_loss_gradient`, computed in
    buffers allocated once per pass (the parameters in ``X``'s dtype). Where
    :func:`compiled_batches`, a batch is one compiled pass over its rows
    where they are
    (:func:`sk_softmax._loss_kernel.batch_gradient`: no gathered copy of
    the batch); else it costs the gather, two matrix products and a few
    in-place operations in the transposed layout ``(n_rows, m)``, where the
    reductions over classes run along the long axis. The per-sample loss
    terms (normaliser and label logit, or the binomial loss) are stored in
    pass-long arrays and reduced once, by :meth:`total`.

    Parameters
    ----------
    loss : SoftmaxLoss
    labels : ndarray of shape (n_samples,)
        Every row's target as one value, from :func:`row_labels` (made once
        per fit: the pass reads ``labels[order]``).
    sample_weight : ndarray of shape (n_samples,) or None
    order : ndarray of int
        The pass's rows, in the order of its batches.
    batch_size : int
    X : ndarray
        The rows (the batches' are ``X[order[start:stop]]``).
    gather : callable
        ``gather(rows, None)``: ``X[rows]``, in a reused buffer (the
        products' path).
    """

    def __init__(self, loss, labels, sample_weight, order, batch_size, X, gather):
        self.loss, self.order, self.gather = loss, order, gather
        n_rows, n_samples, dtype = loss.n_rows, order.shape[0], X.dtype
        self.labels = labels[order]
        self.sw = None
        if sample_weight is not None:
            self.sw = np.asarray(sample_weight, dtype=dtype)[order]
        self.grad = _aligned_empty(loss.n_coef, dtype)
        n_w = n_rows * loss.n_features
        self.grad_W = self.grad[:n_w].reshape(n_rows, loss.n_features)
        self.grad_b = self.grad[n_w:]
        self.norm_all = np.empty(n_samples, dtype=dtype)
        self.zy_all = np.empty(n_samples, dtype=dtype) if n_rows > 1 else None
        self.compiled = compiled_batches(X, n_rows)
        if self.compiled:
            from ._loss_kernel import batch_gradient, binomial_gradient  # Numba

            self.kernel = binomial_gradient if n_rows == 1 else batch_gradient
            self.X_rows = X.view(np.ndarray)  # a memory map's rows, as an array
            self.empty = np.empty(0, dtype=dtype)  # no weights, no intercepts
            return
        self.Z_buf = np.empty((batch_size, n_rows), dtype=dtype)
        self.Zt_buf = np.empty((n_rows, batch_size), dtype=dtype)
        self.Zt_flat = self.Zt_buf.reshape(-1)
        self.mx_buf = np.empty(batch_size, dtype=dtype)
        self.batch_size, self._full = batch_size, None
        self.flat = None  # flat positions of (label, column) in Zt_buf
        if n_rows > 1:
            self.flat = self.labels * batch_size
            self.flat += np.tile(np.arange(batch_size), -(-n_samples // batch_size))[
                :n_samples
            ]

    def _views(self, coef, m):
        """``(W.T, b[:, None], Z, Zt, mx)``: the parameters' views (None for
        ``b`` without intercepts) and the buffers' for a batch of ``m`` rows
        (kept for the last ``coef`` and full batches: a batch's Python costs
        as much as its small arrays' arithmetic)."""
        views = self._full
        if views is None or views[0] is not coef or m != self.batch_size:
            loss = self.loss
            n_w = loss.n_rows * loss.n_features
            W = coef[:n_w].reshape(loss.n_rows, loss.n_features)
            b = coef[n_w:, None] if loss.fit_intercept else None
            views = (coef, W.T, b, self.Z_buf[:m], self.Zt_buf[:, :m], self.mx_buf[:m])
            if m == self.batch_size:
                self._full = views
        return views[1:]

    def gradient(self, coef, start, stop):
        """The weighted sum of the per-sample gradients of the pass's rows
        ``start:stop`` (a buffer, overwritten by the next call)."""
        if self.compiled:
            return self._compiled_gradient(coef, start, stop)
        X_batch = self.gather(self.order[start:stop], None)
        W_T, b, Z, Zt, mx = self._views(coef, stop - start)
        np.matmul(X_batch, W_T, out=Z)
        if b is not None:
            np.add(Z.T, b, out=Zt)
        else:
            np.copyto(Zt, Z.T)
        norm = self.norm_all[start:stop]
        if self.loss.n_rows == 1:
            # binomial: loss = log(1 + exp(z)) - y z; G = sigmoid(z) - y
            y_batch = self.labels[start:stop]
            yz = y_batch * Zt[0]
            np.logaddexp(0, Zt[0], out=norm)
            Zt -= norm
            np.exp(Zt, out=Zt)
            Zt -= y_batch
            norm -= yz
        else:
            # loss = log(sum exp(z - max)) - (z_y - max); G = softmax(z) - onehot
            np.maximum.reduce(Zt, axis=0, out=mx)
            Zt -= mx
            pos = self.flat[start:stop]
            self.Zt_flat.take(pos, out=self.zy_all[start:stop])
            np.exp(Zt, out=Zt)
            np.add.reduce(Zt, axis=0, out=norm)
            Zt /= norm
            self.Zt_flat[pos] -= 1.0
        if self.sw is not None:
            Zt *= self.sw[start:stop]
        np.matmul(Zt, X_batch, out=self.grad_W)
        if b is not None:
            np.add.reduce(Zt, axis=1, out=self.grad_b)
        return self.grad

    def _compiled_gradient(self, coef, start, stop):
        """:meth:`gradient` in one compiled pass over the batch's rows."""
        loss = self.loss
        n_w = loss.n_rows * loss.n_features
        W = coef[:n_w].reshape(loss.n_rows, loss.n_features)
        b = coef[n_w:] if loss.fit_intercept else self.empty
        rows, labels = self.order[start:stop], self.labels[start:stop]
        sw = self.empty if self.sw is None else self.sw[start:stop]
        norm = self.norm_all[start:stop]
        G, gb = self.grad_W, self.grad_b
        if loss.n_rows == 1:  # binomial: no label logits
            self.kernel(self.X_rows, rows, labels, sw, W, b, G, gb, norm)
        else:
            zy = self.zy_all[start:stop]
            self.kernel(self.X_rows, rows, labels, sw, W, b, G, gb, norm, zy)
        return self.grad

    def total(self, starts):
        """``sum_i s_i l_i`` over the pass's samples (a host float), and the
        sums of the minibatches starting at ``starts`` (float64)."""
        norm_all = self.norm_all
        if self.loss.n_rows > 1:
            np.log(norm_all, out=norm_all)
            norm_all -= self.zy_all
        losses = norm_all.astype(np.float64)
        if self.sw is not None:
            losses *= self.sw
        sums = np.add.reduceat(losses, starts)
        return float(np.sum(sums)), sums
