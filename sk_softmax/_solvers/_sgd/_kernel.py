"""The compiled inner loop of SGD on sparse data (Numba).

One pass over CSR rows in minibatches, in the CSR arrays and the weights
themselves: a step costs ``O(nnz(batch) * n_rows)`` whatever ``n_features``,
with no temporary beyond the batch's ``(batch_size, n_rows)`` gradient.
Everything the pass reads or writes of a column sits in one row of a block
(:class:`BlockParts`), so that a stored value costs two or three cache lines
where five separate arrays cost five or six. See
:func:`sk_softmax._solvers._sgd._passes._pass_sparse` for the update rule
and :func:`sk_softmax._solvers._sgd._parts.sparse_rule` for the same rule,
composed from its parts (the tests check the loop against it).
"""

from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ..._prefetch import prefetch as _prefetch

# how many stored values ahead the pass asks for a column's weights (and
# averages, and its decay's bookkeeping): past the frequent words, a column's
# reads miss the cache. On bench_sparse's corpora of 100 words a document
# (2^20 columns) the pass was 5% to 22% faster at 5 classes and 14% to 26% at
# 50 (A/B runs at 8, 16 and 32 values ahead; 8 the fastest or within the
# noise of it in each); at 15 words, 5 classes, the same within the noise
PREFETCH_AHEAD = 8

# up to this many rows of weights (classes; 1: the binomial model) the pass is
# compiled for the number itself (:func:`classes_token`): its loops over them
# unrolled. On bench_sparse's 5-class corpora (one epoch's captured arguments,
# interleaved, bit for bit the same weights) the pass took 0.85x to 0.9x the
# time of one compiled for any number; above 8 the loops are long enough to
# vectorise. A number compiles its own pass (a few seconds, once: cached)
SPECIALISED_ROWS = 8

# columns a tile of scatter_columns writes back (at 50 classes and 2^20
# columns, an array in memory: 47 ms at 128, 46 to 61 ms from 32 to 8,192)
SCATTER_TILE = 128


class BlockParts(NamedTuple):
    """Which parts a row of the sparse pass's block holds, and where.

    The block is ``(n_used, width)``, in the weights' dtype, a row a used
    column: ``[paid, p, W (n_rows), (A (n_rows)), (Q (n_rows)), (kick)]``.
    ``paid`` (column 0, read through an integer view of the block) is the
    pass's batch at which the column last paid its decay; ``p`` (column 1)
    its preconditioner; ``kick`` its kicked step's scaling (:func:`_kick`,
    fits not averaged with an L2 penalty); ``W`` its weights, ``A`` the
    integral of their path (averaging), ``Q`` the L1 penalty they took.
    ``kick``, ``average`` and ``penalty`` are 1 where the part is there, 0
    where not. The compiled loops place ``W`` at 2, ``A`` right after it,
    ``Q`` after both: offsets the compiler sees to differ by ``n_rows``, so
    that a loop over a column's classes never reads what it writes in
    another part (with offsets it could not compare, the 50-class pass took
    1.5x as long).
    """

    n_rows: int
    kick: int
    average: int
    penalty: int

    def start(self, name):
        """Where part ``"W"``, ``"A"``, ``"Q"`` or ``"kick"`` starts in a row."""
        starts = _starts.py_func(self, self.n_rows)
        return starts[("W", "A", "Q", "kick").index(name)]

    @property
    def width(self):
        """The block's row length."""
        return self.start("kick") + self.kick


@njit(cache=True, nogil=True, inline="always")
def _starts(parts, n_rows):
    """Where ``W``, ``A``, ``Q`` and ``kick`` start in a row of the block
    (:class:`BlockParts`; ``n_rows``: ``parts.n_rows``, or the same number
    known when the caller is compiled): ``W`` at 2, ``A`` ``n_rows`` after
    it, ``Q`` after both, ``kick`` last (each where it is there)."""
    weights = 2
    average = weights + n_rows
    penalty = average + n_rows * parts.average
    kick = penalty + n_rows * parts.penalty
    return weights, average, penalty, kick


def classes_token(n_rows):
    """What :func:`sparse_pass` is given for ``n_rows``: a tuple that long up
    to :data:`SPECIALISED_ROWS` (its length, part of its type, compiles a
    pass for that number), else empty (one pass for any number)."""
    return (0,) * n_rows if n_rows <= SPECIALISED_ROWS else ()


@njit(cache=True, nogil=True, inline="always")
def _prefetch_column(W_t, j):
    """Row ``j`` of ``W_t`` asked for, every 8th value and the last: each of
    its cache lines (a row need not start on one) of float64 (float32:
    twice)."""
    width = W_t.shape[1]
    for k in range(0, width, 8):
        _prefetch(W_t, j, k)
    _prefetch(W_t, j, width - 1)


@njit(cache=True, nogil=True, inline="always")
def _decay(x):
    """``exp(-x)``, by its Taylor series where that is exact to 1e-15."""
    if x < 1e-4:
        return 1.0 - x * (1.0 - x * (0.5 - x / 6.0))
    return np.exp(-x)


@njit(cache=True, nogil=True, inline="always")
def _kick(a):
    """``expm1(a) / a``: the factor on a step that the decay ``exp(-a)``
    follows, for the pair to rest where the penalised gradient is zero
    (exponential Euler: ``w <- exp(-a) w - (1 - exp(-a)) / a * eta p g``);
    by its Taylor series where that is exact to 1e-16."""
    if a < 1e-5:
        return 1.0 + a * (0.5 + a / 6.0)
    return np.expm1(a) / a


# exp by range reduction, exp(x) = 2^n exp(r), |r| <= ln(2) / 2 (ln 2 in two
# parts, fdlibm's: the high part's last bits are zeros, so n times it is
# exact for |n| < 2^11), and exp(r)'s Taylor series to r^13 (its remainder
# under 5e-18 relatively there)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: t + it rounds t to an integer
_EXP_FLOOR = -708.0  # exp(-708) = 3.3e-308, still a normal number


@intrinsic
def _float_bits(typingctx, x):
    """The bits of the float64 ``x`` as an int64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, nogil=True, inline="always")
def _exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (the softmax's ``z - max z``) within an ulp
    of libm's, in arithmetic a loop of them vectorises (a libm call a value
    does not): 2^n built from ``n``'s bits, ``n`` rounded by adding
    ``_SHIFTER``. Below -708 it returns ``exp(-708)`` (3.3e-308; the true
    value is smaller still); a NaN stays NaN."""
    x = max(x, _EXP_FLOOR)  # NaN first: max returns it (tested)
    t = x * _LOG2E + _SHIFTER
    n = t - _SHIFTER
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    p = 1.0 / 39916800.0 + r * p
    p = 1.0 / 3628800.0 + r * p
    p = 1.0 / 362880.0 + r * p
    p = 1.0 / 40320.0 + r * p
    p = 1.0 / 5040.0 + r * p
    p = 1.0 / 720.0 + r * p
    p = 1.0 / 120.0 + r * p
    p = 1.0 / 24.0 + r * p
    p = 1.0 / 6.0 + r * p
    p = 0.5 + r * p
    p = 1.0 + r * p
    p = 1.0 + r * p
    return p * _bits_float((_float_bits(t) - _float_bits(_SHIFTER) + 1023) << 52)


@njit(cache=True, nogil=True, inline="always")
def _softmax_exps(z, out, i):
    """The softmax's numerators of the logits ``z``: ``out[i, k] =
    exp(z[k] - max z)``; returns ``(max z, their sum)``. Above 8 classes the
    exps vectorised (:func:`_exp_nonpositive`), then summed; at fewer,
    libm's, summed as they come (faster there: the separate loops cost more
    than the exps save, 0.95x at 5 classes)."""
    n_rows = z.shape[0]
    top = z[0]
    for k in range(1, n_rows):
        top = max(top, z[k])
    total = 0.0
    if n_rows > 8:
        for k in range(n_rows):
            out[i, k] = _exp_nonpositive(z[k] - top)
        for k in range(n_rows):
            total += out[i, k]
    else:
        for k in range(n_rows):
            out[i, k] = np.exp(z[k] - top)
            total += out[i, k]
    return top, total


@njit(cache=True, nogil=True)
def sparse_pass(
    data,
    indices,
    indptr,
    order,
    labels,
    sample_weight,
    block,
    paid,
    parts,
    classes,
    b,
    p_b,
    owed_at,
    first,
    rates,
    batch_size,
    alpha,
    mean_weight,
    losses,
    l1,
    l1_total,
    a_b,
    kick_eta,
):
    """Minibatch SGD over ``order``'s rows of a CSR matrix; returns
    ``l1_total``.

    ``block`` (n_used, width) holds each column's weights and what the pass
    keeps of it, where ``parts`` (:class:`BlockParts`) says; ``paid`` is the
    block seen as integers of its itemsize. ``b`` (n_rows, or empty) is
    updated in place. The L2 decay is lazy: ``owed_at[t]`` is the sum of
    ``eta`` over the pass's updates before its batch ``t`` (this call's
    first batch is the pass's ``first``; ``rates`` holds its batches' step
    sizes), and a column last brought up to date at batch ``paid[j, 0]``
    pays ``exp(-alpha * p_j * (owed_at[t] - owed_at[paid[j, 0]]))`` before
    it is read. ``sample_weight`` holds the weights (or is empty),
    ``losses`` receives each sample's loss (in ``order``'s order). The
    binomial model is ``n_rows == 1`` with 0/1 ``labels``. With ``l1 > 0``
    the batch's columns then take the cumulative L1 penalty (``l1_total``
    grows by ``eta * l1`` an update; ``Q`` holds what each weight took).
    ``classes`` is :func:`classes_token`: its length, where it has one, is
    ``n_rows`` known when the pass is compiled.

    Averaging (``A`` in the block, ``a_b`` like ``b``; ``a_b`` empty without
    it): each weight's path is integrated over the steps, ``A += integral of
    w dS``, in closed form along its decay when the column pays it (``w *
    (1 - exp(-a d)) / a``, ``a = alpha * p_j``), and ``a_b += eta * b``
    after each update.

    ``kick_eta > 0`` (a fit that is not averaged): each weight's step is
    ``expm1(a) / a`` as long, ``a = eta * alpha * p_j`` (:func:`_kick`),
    read from the block's ``kick`` (:func:`kick_scaling`) in the batches at
    rate ``kick_eta``.
    """
    n_rows = len(classes) if len(classes) else parts.n_rows
    w0, a0, q0, pk = _starts(parts, n_rows)
    n_samples = order.shape[0]
    weighted = sample_weight.shape[0] > 0
    intercept = b.shape[0] > 0
    average = parts.average > 0
    pays = alpha > 0.0 or average
    kicked = alpha > 0.0 and kick_eta > 0.0  # the caller's choice: not averaged
    # a batch has at most the pass's rows (batch_size may be far larger)
    G = np.empty((min(batch_size, n_samples), n_rows), dtype=block.dtype)
    # the logits and the arithmetic on a column's weights in the block's
    # dtype: float32 stays float32 (converting each weight to float64 and
    # back cost a fifth of the float32 pass); float64 as before
    z = np.empty(n_rows, dtype=block.dtype)
    wtype = block.dtype.type
    last = indptr[indptr.shape[0] - 1]
    update = 0
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        m = stop - start
        now = first + update
        owed = owed_at[now]
        # logits and gradient of the batch, each read column paid up first
        for i in range(m):
            row = order[start + i]
            lo, hi = indptr[row], indptr[row + 1]
            if pays:
                # one loop: each column pays its decay and its weights, as
                # they stand then, join the logits (the sums in the order of
                # _logits: the same values; 6% to 12% faster than a paying
                # loop and then _logits over the row)
                for k in range(n_rows):
                    z[k] = b[k] if intercept else 0.0
                for nz in range(lo, hi):
                    # the column PREFETCH_AHEAD values on asked for (in the
                    # next rows where the rows are stored in ``order``'s
                    # order, as the passes store them), one a value: spread
                    # over the loop, as the memory system takes them
                    if nz + PREFETCH_AHEAD < last:
                        _prefetch_column(block, indices[nz + PREFETCH_AHEAD])
                    j = indices[nz]
                    x = wtype(data[nz])
                    then = paid[j, 0]
                    if then != now:
                        factor, held = _pay_factors(
                            alpha * block[j, 1], owed - owed_at[then], average
                        )
                        factor, held = wtype(factor), wtype(held)
                        paid[j, 0] = now
                        for k in range(n_rows):
                            if average:
                                block[j, a0 + k] += block[j, w0 + k] * held
                            block[j, w0 + k] *= factor
                            z[k] += x * block[j, w0 + k]  # as stored
                    else:
                        for k in range(n_rows):
                            z[k] += x * block[j, w0 + k]
            else:
                _logits(data, indices, lo, hi, block, w0, n_rows, b, z)
            label = labels[row]
            if n_rows == 1:  # binomial: log(1 + exp(z)) - y z; sigmoid(z) - y
                norm = np.logaddexp(0.0, z[0])
                losses[start + i] = norm - label * z[0]
                G[i, 0] = np.exp(z[0] - norm) - label
            else:  # log(sum exp z) - z_y; softmax(z) - onehot(y)
                top, total = _softmax_exps(z, G, i)
                losses[start + i] = np.log(total) + top - z[label]
                for k in range(n_rows):
                    G[i, k] /= total
                G[i, label] -= 1.0
            if weighted:
                w = sample_weight[row]
                for k in range(n_rows):
                    G[i, k] *= w
        eta = rates[update]
        step = eta / (mean_weight * m)
        # the step on the batch's columns (already paid up), then its decay
        # for every column: w <- exp(-a) (w - kick(a) eta p g), a = eta alpha p,
        # which rests at the optimum (a plain step there would rest at
        # a / expm1(a) of it: 38% short at a = 0.9, eta with p = 1 / alpha).
        # Averaged, the step is plain: the average integrates the path, whose
        # mean over a step at that rest is where the gradient is zero (times
        # kick(a), with the kick)
        fast = kicked and eta == kick_eta  # the kicked scaling, computed once
        for i in range(m):
            row = order[start + i]
            for nz in range(indptr[row], indptr[row + 1]):
                j = indices[nz]
                if fast:
                    scaled = step * block[j, pk] * data[nz]
                elif kicked:
                    p = block[j, 1]
                    scaled = step * (p * _kick(eta * alpha * p)) * data[nz]
                else:
                    scaled = step * block[j, 1] * data[nz]
                scaled = wtype(scaled)
                for k in range(n_rows):
                    block[j, w0 + k] -= scaled * G[i, k]
        if intercept:
            for k in range(n_rows):
                total = 0.0
                for i in range(m):
                    total += G[i, k]
                b[k] -= step * p_b[k] * total
                if average:
                    a_b[k] += eta * b[k]
        if l1 > 0.0:
            l1_total += eta * l1
            for i in range(m):
                row = order[start + i]
                for nz in range(indptr[row], indptr[row + 1]):
                    j = indices[nz]
                    _l1_clip_column(block, w0, q0, n_rows, j, block[j, 1] * l1_total)
        update += 1
    return l1_total


@njit(cache=True, nogil=True)
def kick_scaling(p_w, eta_alpha):
    """``p_w * expm1(a) / a``, ``a = eta_alpha * p_w``: the kicked step's
    scaling at one rate, for :func:`sparse_pass`'s batches at that rate
    (``p_kick``, ``kick_eta``; a pass at one rate computes no exp)."""
    out = np.empty(p_w.shape[0])
    for j in range(p_w.shape[0]):
        out[j] = p_w[j] * _kick(eta_alpha * p_w[j])
    return out


@njit(cache=True, nogil=True, inline="always")
def _logits(data, indices, lo, hi, W, w0, n_rows, b, z):
    """``z = b + x W`` for the row stored at ``lo:hi`` (``b`` may be empty),
    each logit summed over the row's values in their order; the weights of
    column ``j`` are ``W[j, w0:w0 + n_rows]`` (a block's, or an array of
    weights alone at ``w0 = 0``).

    Up to 8 rows of weights (5 classes, the binomial model), four logits at
    a time in registers over the row (a third faster than a store and a
    load of each logit a value); more, the row's values one at a time, all
    the logits at once (a contiguous, vectorised loop), asking for the
    weights of the column ``PREFETCH_AHEAD`` values on (up to ``last``, the
    end of the stored values: a tenth to a fifth faster at 50 classes, none
    at 5, whose weights the cache mostly holds).
    """
    intercept = b.shape[0] > 0
    if n_rows > 8:
        for k in range(n_rows):
            z[k] = b[k] if intercept else 0.0
        last = indices.shape[0]
        for nz in range(lo, hi):
            if nz + PREFETCH_AHEAD < last:
                _prefetch_column(W, indices[nz + PREFETCH_AHEAD])
            j = indices[nz]
            x = data[nz]
            for k in range(n_rows):
                z[k] += x * W[j, w0 + k]
        return
    k = 0
    while k + 4 <= n_rows:
        s0 = b[k] if intercept else 0.0
        s1 = b[k + 1] if intercept else 0.0
        s2 = b[k + 2] if intercept else 0.0
        s3 = b[k + 3] if intercept else 0.0
        for nz in range(lo, hi):
            j = indices[nz]
            x = data[nz]
            s0 += x * W[j, w0 + k]
            s1 += x * W[j, w0 + k + 1]
            s2 += x * W[j, w0 + k + 2]
            s3 += x * W[j, w0 + k + 3]
        z[k] = s0
        z[k + 1] = s1
        z[k + 2] = s2
        z[k + 3] = s3
        k += 4
    while k < n_rows:
        s0 = b[k] if intercept else 0.0
        for nz in range(lo, hi):
            s0 += data[nz] * W[indices[nz], w0 + k]
        z[k] = s0
        k += 1


@njit(cache=True, nogil=True, inline="always")
def _pay_factors(a, d, average):
    """What a column paying its decay over ``d`` (a sum of step sizes) at
    rate ``a`` does: its weights ``w`` become ``factor * w`` and, with
    ``average``, its path's integral grows by ``held * w`` (the integral of
    ``exp(-a s)`` over ``[0, d]``; ``d`` where ``a * d`` is negligible).

    Scalars in, scalars out: the callers apply them to the column in their
    own loops (an inlined helper taking the arrays paid atomic reference
    counts on each call: a tenth of the sparse pass's time).
    """
    factor = _decay(a * d)
    if not average:
        return factor, 0.0
    return factor, (1.0 - factor) / a if a * d > 1e-12 else d


@njit(cache=True, nogil=True, inline="always")
def _l1_clip_column(block, w0, q0, n_rows, j, u):
    """Column ``j`` of a block (weights at ``w0``, what they took at
    ``q0``) takes its cumulative L1 penalty ``u`` (see ``_l1_clip``)."""
    for k in range(n_rows):
        w = block[j, w0 + k]
        if w > 0.0:
            new = max(0.0, w - (u + block[j, q0 + k]))
        elif w < 0.0:
            new = min(0.0, w + (u - block[j, q0 + k]))
        else:
            continue
        block[j, q0 + k] += new - w
        block[j, w0 + k] = new


@njit(cache=True, nogil=True)
def pay_l1(block, parts, l1_total):
    """Every column of the block takes the L1 penalty it owes; returns
    ``||W||_1`` (float64)."""
    n_rows = parts.n_rows
    w0, _, q0, _ = _starts(parts, n_rows)
    total = 0.0
    for j in range(block.shape[0]):
        _l1_clip_column(block, w0, q0, n_rows, j, block[j, 1] * l1_total)
        for k in range(n_rows):
            total += abs(block[j, w0 + k])
    return total


@njit(cache=True, nogil=True)
def pay_decay(block, paid, parts, owed_at, now, alpha):
    """Every column of the block pays the decay it owes at the pass's batch
    ``now`` (and, with an average, its path's integral); returns ``||W||^2``
    (float64).

    One pass over the block: as the eager updates would have left them.
    """
    n_rows = parts.n_rows
    w0, a0, _, _ = _starts(parts, n_rows)
    average = parts.average > 0
    owed = owed_at[now]
    total = 0.0
    for j in range(block.shape[0]):
        then = paid[j, 0]
        if (alpha > 0.0 or average) and then != now:
            factor, held = _pay_factors(
                alpha * block[j, 1], owed - owed_at[then], average
            )
            for k in range(n_rows):
                if average:
                    block[j, a0 + k] += block[j, w0 + k] * held
                block[j, w0 + k] *= factor
        for k in range(n_rows):
            total += block[j, w0 + k] * block[j, w0 + k]
    return total


@njit(cache=True, nogil=True)
def rows_loss(
    data, indices, indptr, rows, labels, sample_weight, W, w0, n_rows, b, scale
):
    """The (weighted) sum of the losses of ``rows`` under the weights
    ``scale * W[:, w0:w0 + n_rows]`` (a block's, as in :func:`sparse_pass`)
    and ``scale * b`` (``b`` may be empty)."""
    weighted = sample_weight.shape[0] > 0
    z = np.empty(n_rows, dtype=np.float64)
    z_row = z.reshape((1, n_rows))  # for _softmax_exps
    total = 0.0
    for i in range(rows.shape[0]):
        row = rows[i]
        lo, hi = indptr[row], indptr[row + 1]
        _logits(data, indices, lo, hi, W, w0, n_rows, b, z)
        for k in range(n_rows):
            z[k] *= scale
        label = labels[row]
        if n_rows == 1:
            value = np.logaddexp(0.0, z[0]) - label * z[0]
        else:
            at_label = z[label]
            top, norm = _softmax_exps(z, z_row, 0)  # z overwritten
            value = np.log(norm) + top - at_label
        total += value * sample_weight[row] if weighted else value
    return total


@njit(cache=True, nogil=True)
def norms(W_t):
    """``(||W||^2, ||W||_1)`` of ``W_t`` in float64, without a temporary."""
    squares = absolute = 0.0
    for j in range(W_t.shape[0]):
        for k in range(W_t.shape[1]):
            w = float(W_t[j, k])
            squares += w * w
            absolute += abs(w)
    return squares, absolute


@njit(cache=True, nogil=True)
def layout_columns(indices, indptr, rows, counts, local, renumbered):
    """The columns that ``rows`` of CSR arrays use, for
    :class:`~sk_softmax._solvers._sgd._passes.SparseLayout`, in one pass
    over the arrays; returns ``(active, columns)`` and fills the others.

    ``counts`` (zeros, ``(n_features,)``) receives how many of ``rows``
    use each column; ``active`` lists the used columns, sorted;
    ``columns`` the same from the most used down, ties in column order (a
    counting sort); ``local[j]`` (zeros) column ``j``'s place in
    ``columns`` (0 for the others); ``renumbered``: ``local[indices]``,
    every row's. The large arrays are the caller's (NumPy's allocations:
    in huge pages where the system gives them, which the passes' reads of
    them keep fewer TLB misses on).
    """
    n_samples = indptr.shape[0] - 1
    n_features = counts.shape[0]
    taken = np.ones(n_samples, dtype=np.bool_)
    if rows.shape[0] < n_samples:
        taken[:] = False
        for i in range(rows.shape[0]):
            taken[rows[i]] = True
    for row in range(n_samples):
        if taken[row]:
            for nz in range(indptr[row], indptr[row + 1]):
                counts[indices[nz]] += 1
    top = 0
    for j in range(n_features):
        top = max(top, counts[j])
    # where the columns used c times start: after every more used one
    starts = np.zeros(top + 1, dtype=np.int64)
    for j in range(n_features):
        starts[counts[j]] += 1
    n_used = n_features - starts[0]
    place = 0
    for c in range(top, 0, -1):
        size = starts[c]
        starts[c] = place
        place += size
    active = np.empty(n_used, dtype=np.int64)
    columns = np.empty(n_used, dtype=np.int64)
    k = 0
    for j in range(n_features):
        c = counts[j]
        if c > 0:
            active[k] = j
            k += 1
            columns[starts[c]] = j
            local[j] = starts[c]
            starts[c] += 1
    for nz in range(indices.shape[0]):
        renumbered[nz] = local[indices[nz]]
    return active, columns


@njit(cache=True, nogil=True)
def column_sums(data, indices, indptr, sample_weight, col_sum, col_sq):
    """``sum_i s_i x_ij`` and ``sum_i s_i x_ij^2`` of CSR arrays added into
    ``col_sum`` and ``col_sq`` (float64, ``(n_features,)``, the caller's
    zeros: NumPy's allocations, in huge pages where the system gives them)
    in one pass, each column's terms in row order (``sample_weight`` empty:
    the plain sums); returns whether every value is finite.

    The sums of the column ``PREFETCH_AHEAD`` values on are asked for, and
    the values' finiteness is read from ``x - x`` summed (NaN where one is
    not) instead of a branch a value.
    """
    weighted = sample_weight.shape[0] > 0
    # as columns of one, for _prefetch
    col_sum_2d, col_sq_2d = col_sum.reshape((-1, 1)), col_sq.reshape((-1, 1))
    last = indptr[indptr.shape[0] - 1]
    check = 0.0
    for i in range(indptr.shape[0] - 1):
        for nz in range(indptr[i], indptr[i + 1]):
            if nz + PREFETCH_AHEAD < last:
                ahead = indices[nz + PREFETCH_AHEAD]
                _prefetch(col_sum_2d, ahead, 0)
                _prefetch(col_sq_2d, ahead, 0)
            x = np.float64(data[nz])
            check += x - x
            v = x * sample_weight[i] if weighted else x
            j = indices[nz]
            col_sum[j] += v
            col_sq[j] += v * x
    return check == 0.0


@njit(cache=True, nogil=True)
def scatter_columns(W_t, active, local, W):
    """``W[:, active] = W_t[local[active]].T``: the weights of the used
    columns (``W_t``, ``(n_used, n_rows)``, a view of the pass's block, a
    row a column, column ``j``'s at ``local[j]``) written back into ``W``
    (``(n_rows, n_features)``); ``active``: the used columns, sorted.

    By tiles of ``SCATTER_TILE`` columns: a tile's rows of the block stay in
    the cache while each row of ``W`` takes its values, in column order."""
    n_used = active.shape[0]
    n_rows = W_t.shape[1]
    for lo in range(0, n_used, SCATTER_TILE):
        hi = min(lo + SCATTER_TILE, n_used)
        for k in range(n_rows):
            for c in range(lo, hi):
                j = active[c]
                W[k, j] = W_t[local[j], k]


@njit(cache=True, nogil=True)
def dense_column_sums(X, sample_weight, shift, col_sum, col_sq):
    """``sum_i s_i (x_ij - shift_j)`` and ``sum_i s_i (x_ij - shift_j)^2``
    of a C-ordered float array added into ``col_sum`` and ``col_sq``
    (float64, the caller's zeros) in one pass over its rows, in float64,
    each column's terms in row order. A NaN or infinity in ``X`` leaves its
    column's sums non-finite, at any weight (0 times it is NaN)."""
    n_samples, n_features = X.shape
    for i in range(n_samples):
        w = sample_weight[i]
        row = X[i]
        for j in range(n_features):
            d = np.float64(row[j]) - shift[j]
            v = w * d
            col_sum[j] += v
            col_sq[j] += v * d


@njit(cache=True, nogil=True)
def finish_moments(col_sum, col_sq, total, m2, sq_sum):
    """:class:`~sk_softmax._solvers._scaling.ColumnMoments`' ``m2`` and
    ``sq_sum`` from a sparse matrix's column sums (``col_sum``, ``col_sq``:
    of ``x`` and ``x^2``, weighted, ``total`` the weights' sum, not 0) in one
    pass: the same operations, in the same order, as NumPy's
    ``m2 = maximum(col_sq - col_sum * col_sum / total, 0)`` and ``sq_sum =
    m2 + total * mean * mean`` (``mean = col_sum / total``), without their
    ``(n_features,)`` temporaries (at 2^20 columns: 8 ms of a fit's setup
    where the sums take 8)."""
    for j in range(col_sum.shape[0]):
        s = col_sum[j]
        v = col_sq[j] - s * s / total
        if v <= 0.0:  # (-0.0 too, NaN kept: as maximum)
            v = 0.0
        m2[j] = v
        mean = s / total
        sq_sum[j] = v + total * mean * mean
