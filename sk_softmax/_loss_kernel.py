"""The compiled half of :class:`~sk_softmax._loss.NumpyBatchLoss` (Numba):
a dense minibatch's loss terms and gradient (multinomial and binomial),
read from its rows where they are.

One pass over the batch's rows, four at a time: their logits, softmax and
residuals, and their outer products added to the gradient, while the four
rows sit in the L1 cache. No row is copied into a batch buffer (the
shuffled pass's gather), and each row is read from memory once where the
two matrix products read the gathered batch twice. Each weight read
serves four rows and two classes, each row's value read for the gradient
four classes (register blocking): the loops over features vectorise.
"""

import numpy as np
from numba import njit

from ._prefetch import prefetch

# the loops' reductions over features may be reordered (vectorised, fused
# multiply-adds); NaN and infinity keep their meaning, so that a diverged
# model's NaN still reaches the fit's finiteness check
_FASTMATH = {"reassoc", "contract"}

# rows of a block: four rows' residuals, logits and outer products per pass
# over a class's weights
_BLOCK = 4

# bytes of a cache line: the next block's rows are asked for a line at a time
_LINE = 64

# the next block's rows are asked for ahead where they fit in the L1 cache
# (32 KiB, most x86 cores) beside the block's own: MNIST's epoch (3,136 bytes
# a row in float32) 5% to 7% faster, 400 float64 features' 3%; rows of 6,272
# bytes (MNIST in float64, or 1,568 float32 features) 3% to 5% slower asked
# for, which evicted the block's own rows
_L1_BYTES = 32 * 1024


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def batch_gradient(X, rows, labels, sw, W, b, G, gb, norm, zy):
    """The multinomial loss terms and gradient of rows ``rows`` of ``X``.

    Writes ``G`` (the weights' gradient, ``W``'s shape) and ``gb`` (the
    intercepts', length 0 without intercepts: then ``b`` too): the sums over
    the rows of ``s_i (softmax(z_i) - onehot(y_i))`` times ``[x_i, 1]``,
    ``z_i = W x_i + b``, ``s_i`` = ``sw[i]`` (1 where ``sw`` is empty).
    ``norm[i]`` gets ``sum_k exp(z_ik - max_k z_ik)`` and ``zy[i]``
    ``z_iy - max_k z_ik``: the loss of row ``i`` is ``log(norm[i]) - zy[i]``
    (:meth:`~sk_softmax._loss.NumpyBatchLoss.total`).
    """
    n_rows, n_features = W.shape
    m = rows.shape[0]
    dtype = W.dtype.type
    zero = dtype(0.0)
    G[:] = zero
    gb[:] = zero
    weighted = sw.shape[0] > 0
    with_b = b.shape[0] > 0
    R = np.empty((_BLOCK, n_rows), dtype=W.dtype)
    for i in range(0, m, _BLOCK):
        n, x0, x1, x2, x3 = _block_logits(W, X, rows, i, R)
        for r in range(_BLOCK):
            if r >= n:
                R[r, :] = zero
                continue
            if with_b:
                for k in range(n_rows):
                    R[r, k] += b[k]
            top = R[r, 0]
            for k in range(1, n_rows):
                top = max(top, R[r, k])
            label = labels[i + r]
            zy[i + r] = R[r, label] - top
            total = zero
            for k in range(n_rows):
                e = np.exp(R[r, k] - top)
                R[r, k] = e
                total += e
            norm[i + r] = total
            scale = (sw[i + r] if weighted else dtype(1.0)) / total
            for k in range(n_rows):
                R[r, k] *= scale
            R[r, label] -= sw[i + r] if weighted else dtype(1.0)
        _add_outer(G, R, x0, x1, x2, x3)
        if with_b:
            for k in range(n_rows):
                gb[k] += R[0, k] + R[1, k] + R[2, k] + R[3, k]


@njit(cache=True, nogil=True, inline="always")
def _next_block(rows, i):
    """The rows of the block after the one at ``i`` (the last row of
    ``rows`` where there are fewer)."""
    last = rows.shape[0] - 1
    j = i + _BLOCK
    return (
        rows[min(j, last)],
        rows[min(j + 1, last)],
        rows[min(j + 2, last)],
        rows[min(j + 3, last)],
    )


@njit(cache=True, nogil=True, inline="always")
def _prefetch_share(X, ahead, share, shares):
    """Ask for share ``share`` of ``shares`` of the cache lines of the rows
    ``ahead`` of ``X``: spread over a block's work, the next block's rows
    arrive while this one's are computed on (asked for at once, they
    stalled the loop: MNIST's epoch 10% slower; spread, 4% to 7% faster).
    Nothing is asked for where two blocks' rows overflow ``_L1_BYTES``."""
    n_features = X.shape[1]
    if 2 * _BLOCK * n_features * X.itemsize > _L1_BYTES:
        return
    step = _LINE // X.itemsize
    lines = (n_features + step - 1) // step
    per = (lines + shares - 1) // shares
    for q in range(share * per, min((share + 1) * per, lines)):
        c = min(q * step, n_features - 1)
        prefetch(X, ahead[0], c)
        prefetch(X, ahead[1], c)
        prefetch(X, ahead[2], c)
        prefetch(X, ahead[3], c)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _logits(W, x0, x1, x2, x3, R, X, ahead):
    """``R[r, k] = W[k] . x_r`` for the block's four rows, two classes at a
    time (each weight read serves eight products); after each pair of
    classes, a share of the next block's rows ``ahead`` of ``X`` is asked
    for (:func:`_prefetch_share`)."""
    n_rows, n_features = W.shape
    zero = W.dtype.type(0.0)
    shares = (n_rows + 1) // 2
    k = 0
    while k + 1 < n_rows:
        w, v = W[k], W[k + 1]
        a0 = a1 = a2 = a3 = c0 = c1 = c2 = c3 = zero
        for j in range(n_features):
            wj, vj = w[j], v[j]
            y0, y1, y2, y3 = x0[j], x1[j], x2[j], x3[j]
            a0 += wj * y0
            a1 += wj * y1
            a2 += wj * y2
            a3 += wj * y3
            c0 += vj * y0
            c1 += vj * y1
            c2 += vj * y2
            c3 += vj * y3
        R[0, k], R[1, k], R[2, k], R[3, k] = a0, a1, a2, a3
        R[0, k + 1], R[1, k + 1], R[2, k + 1], R[3, k + 1] = c0, c1, c2, c3
        _prefetch_share(X, ahead, k // 2, shares)
        k += 2
    if k < n_rows:
        w = W[k]
        a0 = a1 = a2 = a3 = zero
        for j in range(n_features):
            wj = w[j]
            a0 += wj * x0[j]
            a1 += wj * x1[j]
            a2 += wj * x2[j]
            a3 += wj * x3[j]
        R[0, k], R[1, k], R[2, k], R[3, k] = a0, a1, a2, a3
        _prefetch_share(X, ahead, k // 2, shares)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _add_outer(G, R, x0, x1, x2, x3):
    """``G[k] += sum_r R[r, k] x_r`` for the block's four rows, four classes
    at a time, then two, then one (each row's value read serves sixteen
    products; each entry of ``G`` takes the same sum as with two classes at
    a time, bit for bit: MNIST's epoch 3% to 5% faster, 5 to 16 classes,
    float32 and float64)."""
    n_rows, n_features = G.shape
    k = 0
    while k + 3 < n_rows:
        g, h, e, f = G[k], G[k + 1], G[k + 2], G[k + 3]
        r0, r1, r2, r3 = R[0, k], R[1, k], R[2, k], R[3, k]
        q0, q1, q2, q3 = R[0, k + 1], R[1, k + 1], R[2, k + 1], R[3, k + 1]
        s0, s1, s2, s3 = R[0, k + 2], R[1, k + 2], R[2, k + 2], R[3, k + 2]
        t0, t1, t2, t3 = R[0, k + 3], R[1, k + 3], R[2, k + 3], R[3, k + 3]
        for j in range(n_features):
            y0, y1, y2, y3 = x0[j], x1[j], x2[j], x3[j]
            g[j] += r0 * y0 + r1 * y1 + r2 * y2 + r3 * y3
            h[j] += q0 * y0 + q1 * y1 + q2 * y2 + q3 * y3
            e[j] += s0 * y0 + s1 * y1 + s2 * y2 + s3 * y3
            f[j] += t0 * y0 + t1 * y1 + t2 * y2 + t3 * y3
        k += 4
    while k + 1 < n_rows:
        g, h = G[k], G[k + 1]
        r0, r1, r2, r3 = R[0, k], R[1, k], R[2, k], R[3, k]
        q0, q1, q2, q3 = R[0, k + 1], R[1, k + 1], R[2, k + 1], R[3, k + 1]
        for j in range(n_features):
            y0, y1, y2, y3 = x0[j], x1[j], x2[j], x3[j]
            g[j] += r0 * y0 + r1 * y1 + r2 * y2 + r3 * y3
            h[j] += q0 * y0 + q1 * y1 + q2 * y2 + q3 * y3
        k += 2
    if k < n_rows:
        g = G[k]
        r0, r1, r2, r3 = R[0, k], R[1, k], R[2, k], R[3, k]
        for j in range(n_features):
            g[j] += r0 * x0[j] + r1 * x1[j] + r2 * x2[j] + r3 * x3[j]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def binomial_gradient(X, rows, labels, sw, W, b, G, gb, loss):
    """:func:`batch_gradient` of the binomial model (``W`` and ``G`` of one
    row): ``loss[i]`` gets ``log(1 + exp(z_i)) - y_i z_i``, the residual is
    ``sigmoid(z_i) - y_i`` (``labels``: the 0/1 targets)."""
    m = rows.shape[0]
    zero = W.dtype.type(0.0)
    G[:] = zero
    gb[:] = zero
    weighted = sw.shape[0] > 0
    offset = b[0] if b.shape[0] > 0 else zero
    R = np.empty((_BLOCK, 1), dtype=W.dtype)
    for i in range(0, m, _BLOCK):
        n, x0, x1, x2, x3 = _block_logits(W, X, rows, i, R)
        for q in range(_BLOCK):
            if q >= n:
                R[q, 0] = zero
                continue
            z = R[q, 0] + offset
            y = labels[i + q]
            softplus = max(z, zero) + np.log1p(np.exp(-abs(z)))
            loss[i + q] = softplus - y * z
            R[q, 0] = np.exp(z - softplus) - y
            if weighted:
                R[q, 0] *= sw[i + q]
        _add_outer(G, R, x0, x1, x2, x3)
        if gb.shape[0] > 0:
            gb[0] += R[0, 0] + R[1, 0] + R[2, 0] + R[3, 0]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def row_losses(X, labels, W, b, losses, correct):
    """Each row's multinomial loss and whether its top logit is its label's,
    for all the rows of ``X`` (early stopping's scoring), from ``z_i = W x_i
    + b`` (``b`` of length 0 without intercepts) computed as in
    :func:`batch_gradient`: ``losses[i] = log(sum_k exp(z_ik - max_k z_ik))
    - (z_iy - max_k z_ik)``, ``correct[i]`` 1.0 where the first of the top
    logits is ``y``'s (``argmax``'s). The logits in ``W``'s dtype, the rest
    in float64 (``losses``, ``correct``)."""
    n_rows = W.shape[0]
    m = X.shape[0]
    rows = np.arange(m)
    with_b = b.shape[0] > 0
    R = np.empty((_BLOCK, n_rows), dtype=W.dtype)
    for i in range(0, m, _BLOCK):
        n, x0, x1, x2, x3 = _block_logits(W, X, rows, i, R)
        for r in range(n):
            if with_b:
                for k in range(n_rows):
                    R[r, k] += b[k]
            top = np.float64(R[r, 0])
            best = 0
            for k in range(1, n_rows):
                if np.float64(R[r, k]) > top:
                    top, best = np.float64(R[r, k]), k
            total = 0.0
            for k in range(n_rows):
                total += np.exp(np.float64(R[r, k]) - top)
            label = labels[i + r]
            losses[i + r] = np.log(total) - (np.float64(R[r, label]) - top)
            correct[i + r] = 1.0 if best == label else 0.0


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def binomial_row_losses(X, labels, W, b, losses, correct):
    """:func:`row_losses` of the binomial model (``W`` of one row, ``labels``
    the 0/1 targets): ``log(1 + exp(z_i)) - y_i z_i`` and ``(z_i > 0) ==
    (y_i > 0.5)``."""
    m = X.shape[0]
    rows = np.arange(m)
    offset = b[0] if b.shape[0] > 0 else W.dtype.type(0.0)
    R = np.empty((_BLOCK, 1), dtype=W.dtype)
    for i in range(0, m, _BLOCK):
        n, x0, x1, x2, x3 = _block_logits(W, X, rows, i, R)
        for r in range(n):
            z = np.float64(R[r, 0] + offset)
            y = np.float64(labels[i + r])
            losses[i + r] = max(z, 0.0) + np.log1p(np.exp(-abs(z))) - y * z
            correct[i + r] = 1.0 if (z > 0.0) == (y > 0.5) else 0.0


@njit(cache=True, nogil=True, inline="always")
def _block_logits(W, X, rows, i, R):
    """The block at ``i`` of ``rows``: how many rows it has, its four rows
    (:func:`_block`) and their logits in ``R`` (:func:`_logits`, the next
    block's rows asked for meanwhile)."""
    n = min(_BLOCK, rows.shape[0] - i)
    x0, x1, x2, x3 = _block(X, rows, i, n)
    _logits(W, x0, x1, x2, x3, R, X, _next_block(rows, i))
    return n, x0, x1, x2, x3


@njit(cache=True, nogil=True, inline="always")
def _block(X, rows, i, n):
    """The four rows of the block at ``i`` of ``rows`` (``n`` of them
    there): a short last block repeats its first row (the callers zero its
    residuals)."""
    x0 = X[rows[i]]
    x1 = X[rows[i + 1]] if n > 1 else x0
    x2 = X[rows[i + 2]] if n > 2 else x0
    x3 = X[rows[i + 3]] if n > 3 else x0
    return x0, x1, x2, x3
