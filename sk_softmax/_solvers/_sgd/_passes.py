"""One pass of minibatch SGD over rows held in memory, updating a state.

:func:`sgd_pass` picks the pass for the rows it is given: the compiled
sparse loop on wide SciPy sparse ``X`` (:func:`runs_sparse_loop`), else the
dense pass, which runs the composed update rule (:mod:`._parts`) on the
minibatch gradients of :class:`~sk_softmax._loss.NumpyBatchLoss` (dense
NumPy ``X``, in buffers) or of
:meth:`~sk_softmax._loss.SoftmaxLoss.sum_loss_gradient` (any array-API
namespace, SciPy sparse). Minibatch indices come from the host random
generator (so a ``random_state`` gives the same batches on every backend),
the arithmetic runs where ``X`` lives, and the only host synchronisation is
reading the pass's loss once at its end. The in-memory data runs one pass
over its rows; the Dask data one per chunk, where the chunk lives.
"""

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..._backend import device, get_namespace, to_numpy
from ..._loss import NumpyBatchLoss, row_labels
from ..._stopping import mean_noise
from ._parts import Context, L1State, LazyZeros, dense_rule, start_average


@dataclass
class PassResult:
    """What one pass hands back.

    Attributes
    ----------
    loss : float or 0-d array
        Mean (weighted) training loss over the pass's minibatches, each taken
        before its update, plus the penalty at the end of the pass; where the
        pass ran on a device, left there (read only if the criterion needs
        it).
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
    batch_losses, batch_weights : array or None
        Each minibatch's summed (weighted) loss, where the pass ran, and its
        weight (host); None where the pass does not keep them (the compiled
        sparse loop). :meth:`read` reads them.
    """

    loss: float
    weight: float
    progress: list
    rates: list
    average_loss: float = None
    batch_losses: object = None
    batch_weights: object = None

    def read(self):
        """``(loss, noise)`` as host floats, in one read from where the pass
        ran: the loss and its standard error as the mean loss of the pass's
        rows (penalty aside), from the spread of its minibatches' mean
        losses, each batch a random sample of the rows
        (:func:`~sk_softmax._stopping.mean_noise`; 0 with fewer than two
        batches, None where the pass keeps none: the compiled sparse loop)."""
        loss, sums = self.loss, self.batch_losses
        if sums is None:
            return float(loss), None
        if len(self.batch_weights) < 2:
            return float(loss), 0.0
        if not isinstance(loss, float):  # both where the pass ran: one read
            xp = get_namespace(sums)
            both = xp.concat([xp.reshape(xp.astype(loss, sums.dtype), (1,)), sums])
            loss, *sums = to_numpy(both).tolist()
        sums = np.asarray(to_numpy(sums), dtype=np.float64)
        weights = np.asarray(self.batch_weights, dtype=np.float64)
        means = np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0)
        return float(loss), mean_noise(means, weights)


def merge_records(records):
    """One :class:`PassResult` of passes that ran side by side (a
    data-parallel epoch): the loss their weighted mean, the weights summed,
    the updates in the order of their progress through the epoch (each pass
    spans it), no averaged loss (the averaged model is the mix's)."""
    weight = sum(r.weight for r in records)
    progress = [p for r in records for p in r.progress]
    rates = [eta for r in records for eta in r.rates]
    order = np.argsort(np.asarray(progress, dtype=np.float64), kind="stable")
    return PassResult(
        loss=sum(float(r.loss) * r.weight for r in records) / weight,
        weight=weight,
        progress=[progress[i] for i in order],
        rates=[rates[i] for i in order],
        **joined_batches(records),
    )


def joined_batches(records):
    """The minibatches' losses and weights of passes that make one epoch
    (host arrays; None where one of them kept none)."""
    if any(r.batch_losses is None for r in records):
        return {}
    return dict(
        batch_losses=np.concatenate([to_numpy(r.batch_losses) for r in records]),
        batch_weights=np.concatenate([r.batch_weights for r in records]),
    )


@dataclass
class SparseScratch:
    """What the compiled sparse pass keeps between its passes within a run.

    Attributes
    ----------
    pending : CompactWeights or None
        The weights of its columns, not yet written back.
    nonzero_columns : ndarray of int or None
        Features whose weights may be non-zero (sorted, host), so that the
        decay of the weights outside a pass's columns costs what is
        non-zero; None: not known yet (read from the parameters).
    """

    pending: object = None
    nonzero_columns: object = None

    def flush(self):
        """Write the kept weights back into the parameters."""
        if self.pending is not None:
            self.pending.flush()


class BatchGather:
    """Gathers minibatch rows into a reused buffer (NumPy) or with ``xp.take``.

    Made once per fit: it also keeps what the passes read of the rows every
    epoch (the sparse pass's :meth:`sparse_layout`, the NumPy pass's
    :meth:`labels`).
    """

    def __init__(self, X, batch_size, xp, device):
        self.X = X
        self.xp = xp
        self.device = device
        self.numpy_dense = isinstance(X, np.ndarray)
        if self.numpy_dense:  # a batch has at most every row
            rows = min(batch_size, X.shape[0])
            self.buffer = np.empty((rows, X.shape[1]), dtype=X.dtype)
        self._sparse_layout = None
        self._labels = None

    def labels(self, Y):
        """Each row's target as one value
        (:func:`~sk_softmax._loss.row_labels`, the first call's)."""
        if self._labels is None:
            self._labels = row_labels(Y)
        return self._labels

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
            # (the method: NumPy's np.take wrapper costs a microsecond a call)
            return X.take(idx_host, axis=0, out=out, mode="clip")
        if sp.issparse(X):
            return X[idx_host]
        return self.xp.take(X, idx_dev, axis=0)


class SparseLayout:
    """Wide CSR ``X`` as the sparse pass reads it, every epoch of a fit.

    The pass works on the columns its rows use and nothing else: their
    weights are gathered side by side (one row of ``n_rows`` weights a
    column) and the CSR column indices are renumbered into them
    (``indices``; ``local`` maps a column to its place), so that a pass
    costs ``O(nnz * n_rows)`` plus ``O(n_used * n_rows)``, whatever
    ``n_features``. The used columns are numbered from the most used down
    (``columns``), so that the weights of
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
        from ._kernel import layout_columns  # Numba: loaded with the sparse pass

        X = sp.csr_matrix(X)  # the CSR interface (for a csr_array too), no copy
        self.X = X
        self.local = np.zeros(X.shape[1], dtype=X.indices.dtype)
        self.indices = np.empty_like(X.indices)
        counts = np.zeros(X.shape[1], dtype=np.int32 if X.nnz < 2**31 else np.int64)
        self.active, self.columns = layout_columns(
            X.indices,
            X.indptr,
            np.asarray(order, dtype=np.int64),
            counts,
            self.local,
            self.indices,
        )
        self.labels = np.asarray(row_labels(Y), dtype=np.int64)
        self._precond = self._p_active = None

    def rows(self, order):
        """``(data, indices, indptr)`` of the rows ``order``, one after the
        other in that order, their columns renumbered as in ``indices``.

        A pass reads the copy in sequence instead of jumping to each of its
        rows (on the benchmark's text corpora a random jump a row cost a
        tenth of the pass, the copy a twentieth); the arithmetic, and its
        order, are the same.
        """
        X = self.X
        renumbered = sp.csr_matrix((X.data, self.indices, X.indptr), shape=X.shape)
        taken = renumbered[order]
        return taken.data, taken.indices, taken.indptr

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
        """Write ``W_t`` (as :meth:`gather` made it) back into ``W``: compiled,
        by tiles of columns in column order (:func:`~._kernel.scatter_columns`:
        at 50 classes and 2^20 columns half the time of NumPy's, a class's
        row at a time, whose reads of ``W_t``, a view of the pass's block,
        took a cache line a value)."""
        from ._kernel import scatter_columns  # Numba: loaded with the sparse pass

        scatter_columns(W_t, self.active, self.local, W)


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
        Views of ``block``: what is written into them is the pass's.
    flat : dict of str to ndarray of shape (n_rows, n_features) or function
        Where each is written back (or a function that allocates it).
    vectors : dict of str to (ndarray, function)
        Small vectors kept aside alike, each with a function returning where
        it goes back: ``"b"`` the intercepts, ``"a_b"`` their average sum.
    block : ndarray of shape (n_used, parts.width)
        What the compiled pass reads: a row a column, its parts where
        ``parts`` says (:class:`~._kernel.BlockParts`).
    parts : BlockParts
    """

    def __init__(self, layout, compact, flat, vectors, block, parts):
        self.layout = layout
        self.compact = compact
        self.flat = flat
        self.vectors = vectors
        self.block = block
        self.parts = parts
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


def sgd_pass(rows, state, config, schedule, rng, span=(0.0, 1.0), rule=None):
    """One pass of minibatch SGD over ``rows``, updating ``state`` in place.

    ``rows`` is the training data's view of its rows (``X``, ``Y``,
    ``sample_weight`` (None: uniform), ``rows`` (the training part's row
    indices, None: all), ``loss`` and a ``cache`` for what a pass derives
    once per fit). ``config`` is an :class:`~._loop.SGDConfig`,
    ``schedule`` gives the rate of each update. ``span`` is the part of an
    epoch this pass covers (a Dask chunk's share; the whole epoch in
    memory): it places each update on the "linear" schedule. ``rule`` makes
    the dense passes' :class:`~._parts.UpdateRule` (default
    :func:`~._parts.dense_rule`).

    Each minibatch gradient is the weighted sum of per-sample gradients divided
    by ``m * mean(sample_weight)`` (``m`` its rows; the mean of every row
    the state has seen, :meth:`~._state.Scaling.mean_weight`, where ``rows``
    are a part of them: a Dask chunk, a stream's call), an unbiased
    estimate of the full objective's gradient, plus the penalty's gradient.
    A short last batch (``m`` below the pass's full batch) takes a step
    ``m / batch_size`` as long: its few rows make its gradient noisier (a
    Dask chunk's pass ends with one).
    """
    X, sample_weight = rows.X, rows.sample_weight
    order, weight_total = _epoch_order(
        X.shape[0], rows.rows, sample_weight, rng, config.shuffle
    )
    record = PassResult(0.0, weight_total, [], [])
    rates = _pass_rates(schedule, state, order.shape[0], config.batch_size, span)
    record.progress, record.rates = rates.progress.tolist(), rates.rates.tolist()

    gather = rows.cache.get("gather")
    if gather is None:
        xp = get_namespace(X)
        gather = rows.cache["gather"] = BatchGather(X, config.batch_size, xp, device(X))
    sparse = runs_sparse_loop(X, config.batch_size) and isinstance(
        state.params.coef, (np.ndarray, LazyZeros)
    )
    if config.average and state.average is None:
        start_average(state)
    mean_weight = weight_total / order.shape[0]  # as the pass weighs its rows
    seen = state.scaling.mean_weight()
    if seen is not None:  # rows' true weights against all the rows'
        mean_weight *= seen / rows.mean_weight
    weighting = (weight_total, mean_weight)  # the loss's mean, the steps' scale
    args = (rows.loss, state, X, rows.Y, sample_weight, order, weighting, config)
    if sparse:
        record.loss, record.average_loss = _pass_sparse(*args, rates.steps, gather)
    else:
        state.sync()
        record.loss, record.batch_losses, record.batch_weights = _pass_dense(
            *args, rates.steps, gather, rule or dense_rule
        )
    return record


class PassRates(NamedTuple):
    """A pass's schedule, one entry an update: ``progress`` (epochs done),
    ``rates`` (the schedule's step sizes) and ``steps`` (the step sizes
    taken: a short last batch's in proportion to its rows, its gradient as
    noisy as its few rows make it)."""

    progress: np.ndarray
    rates: np.ndarray
    steps: np.ndarray


def _pass_rates(schedule, state, n_samples, batch_size, span):
    """The :class:`PassRates` of a pass over ``n_samples`` rows in batches of
    ``batch_size``, covering ``span`` of its epoch (see :func:`sgd_pass`):
    known when the pass starts (the rate state changes between passes)."""
    starts = np.arange(0, n_samples, batch_size)
    width = (span[1] - span[0]) / n_samples
    progress = (state.params.epoch + span[0]) + width * starts
    t = state.params.t + np.arange(starts.shape[0])
    rates = schedule.rates(state.rate, t, state.params.epoch, progress)
    steps = rates.copy()
    if starts.shape[0]:
        full = min(batch_size, n_samples)
        steps[-1] *= (n_samples - starts[-1]) / full
    return PassRates(progress, rates, steps)


def _pass_dense(
    loss, state, X, Y, sample_weight, order, weighting, config, steps, gather, rule
):
    """:func:`sgd_pass` on dense ``X`` (NumPy or any array-API namespace) or
    SciPy sparse ``X`` whose batches touch most columns: the composed rule
    on each minibatch's gradient. Returns the pass's loss, its minibatches'
    loss sums and their weights (:class:`PassResult`)."""
    coef = state.params.coef
    xp = get_namespace(coef)
    n_samples = order.shape[0]
    weight_total, mean_weight = weighting
    ctx = Context(loss, state.scaling, xp, mean_weight)
    update = rule(config, ctx, state.scaling.center)
    update.init(state)
    batch_size = config.batch_size
    if isinstance(X, np.ndarray) and isinstance(coef, np.ndarray):
        labels = gather.labels(Y)
        batches = NumpyBatchLoss(  # a batch has at most the pass's rows
            loss, labels, sample_weight, order, min(batch_size, n_samples), X, gather
        )

        def gradient(start, stop):
            return batches.gradient(state.params.coef, start, stop)

        loss_sum = batches.total
    else:
        gradient, loss_sum = _generic_gradient(
            loss, state, X, Y, sample_weight, order, gather
        )
    starts = np.arange(0, n_samples, batch_size)
    for start, eta in zip(starts.tolist(), steps.tolist(), strict=True):
        stop = min(start + batch_size, n_samples)
        update.update(state, gradient(start, stop), stop - start, eta)
    w = state.params.coef[: loss.n_rows * loss.n_features]
    penalty = 0.5 * config.l2 * xp.sum(w * w) if config.l2 else 0.0
    if config.l1:
        penalty = penalty + config.l1 * xp.sum(xp.abs(w))
    total, sums = loss_sum(starts)
    if sample_weight is None:
        weights = np.diff(np.append(starts, n_samples)).astype(np.float64)
    else:
        weights = np.add.reduceat(np.asarray(sample_weight)[order], starts)
    if isinstance(w, np.ndarray):
        return float(total) / weight_total + float(penalty), sums, weights
    return (total + weight_total * penalty) / weight_total, sums, weights


def _generic_gradient(loss, state, X, Y, sample_weight, order, gather):
    """``(gradient(start, stop), loss_sum(starts))`` of the minibatches of
    ``order`` from :meth:`~sk_softmax._loss.SoftmaxLoss.sum_loss_gradient`,
    where X lives; the loss is summed there, each minibatch's kept beside
    the total (``loss_sum`` returns both, unread), as NumPy's
    :meth:`~sk_softmax._loss.NumpyBatchLoss.total` does for the batches
    starting at ``starts``."""
    xp = get_namespace(state.params.coef)
    dev = device(state.params.coef)
    host = isinstance(X, np.ndarray) or sp.issparse(X)
    order_dev = order if host else xp.asarray(order, device=dev)
    sw_dev = None
    if sample_weight is not None:  # in the parameters' dtype, as NumPy's pass
        dtype = state.params.coef.dtype
        sw_dev = xp.asarray(sample_weight, dtype=dtype, device=dev)
    total = [0.0]
    sums = []

    def gradient(start, stop):
        idx = order[start:stop]
        idx_dev = idx if host else order_dev[start:stop]
        X_batch = gather(idx, idx_dev)
        Y_batch = xp.take(Y, idx_dev, axis=0)
        sw_batch = None if sw_dev is None else xp.take(sw_dev, idx_dev, axis=0)
        batch_loss, grad, _ = loss.sum_loss_gradient(
            state.params.coef, X_batch, Y_batch, sw_batch, xp
        )
        total[0] = total[0] + batch_loss
        sums.append(batch_loss)
        return grad

    def loss_sum(starts):
        """The pass's loss sum and its minibatches' (left where they are)."""
        return total[0], xp.stack([xp.asarray(v) for v in sums]) if sums else None

    return gradient, loss_sum


def runs_sparse_loop(X, batch_size):
    """Whether SGD on ``X`` runs the compiled sparse loop: wide SciPy sparse
    ``X``, whose batches of ``batch_size`` rows touch under half of the
    columns. There the sparse path's steps cost what they touch; on sparse
    data whose batches touch most columns anyway (a few dozen dense-ish
    features), the dense pass (with momentum) is as cheap per step and needs
    fewer epochs."""
    if not sp.issparse(X):
        return False
    return X.nnz / max(X.shape[0], 1) * batch_size < 0.5 * X.shape[1]


def _pass_sparse(
    loss, state, X, Y, sample_weight, order, weighting, config, rates, gather
):
    """:func:`sgd_pass` for wide SciPy sparse ``X``: steps cost what they touch.

    Returns ``(pass loss, averaged model's objective or None)``. The
    compiled loop (:mod:`._kernel`) reads the CSR arrays in place; a step
    costs ``O(nnz(batch) * n_rows)`` and a pass
    ``O((nnz + n_active) * n_rows)``, whatever ``n_features``:

    - the pass works on the weights of the columns its rows use
      (:class:`SparseLayout`), gathered side by side once per fit and kept
      so between its passes (:class:`CompactWeights`, in the state's
      scratch);
    - the logits and gradient of a batch read and write only its columns;
    - the L2 decay of the weights a batch does not touch is applied just in
      time, when their column is next read (and for the pass's columns at
      its end): with ``S`` the sum of the step sizes so far, a column last
      brought up to date at ``S_j`` is multiplied by
      ``exp(-alpha * p_j * (S - S_j))``, ``p_j`` its preconditioner, exactly
      what the updates in between would have done one by one;
    - weights of columns the rows never use only decay, by
      ``exp(-alpha * p_j * S)`` at the end of the pass, and only where they
      may be non-zero (a fit from zeros never touches them).

    The update of a weight is :func:`~._parts.sparse_rule`: the dense
    rule's preconditioned step with the L2 decay applied as the exact flow of
    the penalty over the step, ``w <- exp(-a) * (w - expm1(a) / a * eta * p * g)``,
    ``a = eta * alpha * p`` (the step plain when averaged; a decay that lazy
    updates can apply exactly under any schedule);
    momentum, which would move every weight at every step, is not used on
    sparse data. The objective, and so the optimum, is the same.

    With averaging, each weight's path is integrated over the step sizes in
    closed form when its column pays its decay (kept side by side with the
    weights, the intercepts' alike), and the pass returns the averaged
    parameters' objective over its rows too.
    """
    from ._kernel import (
        BlockParts,
        classes_token,
        kick_scaling,
        norms,
        pay_decay,
        pay_l1,
        rows_loss,
        sparse_pass,
    )

    weight_total, mean_weight = weighting
    n_rows, n_features = loss.n_rows, loss.n_features
    n_w = n_rows * n_features
    shape = (n_rows, n_features)
    n_b = n_rows if loss.fit_intercept else 0
    params = state.params
    dtype = params.coef.dtype
    if state.scratch is None:
        state.scratch = SparseScratch()
    scratch = state.scratch
    # where the weights go back (allocated then, for a fit from zeros)
    if isinstance(params.coef, LazyZeros):
        flat = {"W": lambda: _materialized(state)[:n_w].reshape(shape)}
    else:
        flat = {"W": params.coef[:n_w].reshape(shape)}
    vectors = {"b": (None, lambda: _materialized(state)[n_w:])}
    layout = gather.sparse_layout(order, Y)
    if scratch.nonzero_columns is None:  # once per run: which may be non-zero
        W = _materialized(state)[:n_w].reshape(shape)
        scratch.nonzero_columns = np.flatnonzero(np.any(W, axis=0))
    p_active = layout.active_preconditioner(state.scaling.precond)
    p_b = np.repeat(
        np.asarray(state.scaling.precond[n_features:], dtype=np.float64), n_rows
    )
    alpha = float(config.l2)
    l1 = float(config.l1)
    if l1:
        if state.l1 is None:
            state.l1 = L1State()
        if state.l1.applied is None:
            state.l1.applied = np.zeros(n_w, dtype=dtype)
        flat["Q"] = state.l1.applied.reshape(shape)
    average = state.average if config.average else None
    if average is not None:
        vectors["a_b"] = (None, lambda: _average_sum(state)[n_w:])
        if isinstance(average.sum, LazyZeros):  # allocated if written back
            flat["A"] = lambda: _average_sum(state)[:n_w].reshape(shape)
        else:
            flat["A"] = average.sum[:n_w].reshape(shape)
    # not averaged, each step is expm1(a) / a as long (the kernel's _kick)
    kicked = alpha > 0 and not config.average
    parts = BlockParts(n_rows, int(kicked), int(average is not None), int(bool(l1)))
    l1_total = float(state.l1.total) if l1 else 0.0
    pending = scratch.pending
    if pending is not None and pending.layout is layout and pending.parts == parts:
        block, compact = pending.block, pending.compact  # as the last pass left them
        vectors = pending.vectors
    else:
        # another layout's: its rows carried where this one holds all its
        # columns (early stopping's rows rejoining), else written back first
        carried = _carried_rows(pending, layout, parts)
        if pending is not None and carried is None:
            pending.flush()
        block = np.empty((layout.columns.shape[0], parts.width), dtype)
        unread = slice(None)  # the rows to gather (a slice: no mask's cost)
        if carried is not None:
            block[carried] = pending.block
            unread = np.ones(block.shape[0], dtype=bool)
            unread[carried] = False
        # a column's weights side by side in the block; a fit from zeros (no
        # weight, no L1 penalty, nothing averaged yet) reads nothing, nor do
        # carried rows' new columns where the array is still unallocated
        # (zeros: nothing was written back; after a write-back, ``flat``'s
        # functions return the array it allocated)
        zero = not (scratch.nonzero_columns.shape[0] or l1_total)
        compact = {}
        for name, W in flat.items():
            start = parts.start(name)
            compact[name] = block[:, start : start + n_rows]
            if (not average.weight) if name == "A" else zero:
                compact[name][unread] = 0
            elif carried is not None and callable(W):
                compact[name][unread] = 0
            else:
                W = W() if callable(W) else W
                compact[name][unread] = W.T[layout.columns[unread]]
        for name, (_, target) in list(vectors.items()):
            if carried is not None:
                values = pending.vectors[name][0]
            else:
                fresh = isinstance(params.coef, LazyZeros)
                if name == "a_b":
                    fresh = not average.weight
                values = np.zeros(n_b, dtype) if fresh else np.array(target())
            vectors[name] = (values, target)
    b = vectors["b"][0]
    a_b = vectors["a_b"][0] if average is not None else b[:0]
    scratch.pending = None  # the compact weights change now: stale until the end
    n_samples = order.shape[0]
    n_updates = rates.shape[0]
    params.t += n_updates
    losses = np.empty(n_samples)
    paid = paid_view(block, n_updates)
    paid[:, 0] = 0  # each column's last paid batch: the pass's start
    block[:, 1] = p_active
    owed_at = np.zeros(n_updates + 1)
    np.cumsum(rates, out=owed_at[1:])  # in order: as the updates add them
    order = np.asarray(order, dtype=np.int64)
    weights = np.empty(0)
    if sample_weight is not None:
        weights = np.asarray(sample_weight, float)[order]
    # the kicked scaling at the pass's first rate (a constant schedule's
    # only one), computed once
    kick_eta = 0.0
    if kicked and n_updates:
        kick_eta = float(rates[0])
        block[:, parts.start("kick")] = kick_scaling(p_active, kick_eta * alpha)
    classes = classes_token(n_rows)
    segments = _segments(layout, order, config.batch_size)
    kept = None
    for csr_rows, part in _segment_rows(layout, order, segments):
        # whole minibatches: the same steps, in the same order, as one call
        first = part.start // config.batch_size
        l1_total = sparse_pass(
            *csr_rows,
            weights[part] if weights.shape[0] else weights,
            block,
            paid,
            parts,
            classes,
            b,
            p_b,
            owed_at,
            first,
            rates[first:],
            int(config.batch_size),
            alpha,
            mean_weight,
            losses[part],
            l1,
            l1_total,
            a_b,
            kick_eta,
        )
        # one copy at a time: this one goes before the next is made
        kept = csr_rows if len(segments) == 1 else None
        del csr_rows
    owed = float(owed_at[n_updates])
    if l1:
        state.l1.total = l1_total
    squared_norm = pay_decay(block, paid, parts, owed_at, n_updates, alpha)
    abs_norm = pay_l1(block, parts, l1_total) if l1 else 0.0
    scratch.pending = CompactWeights(layout, compact, flat, vectors, block, parts)
    other_sq, other_abs = _decay_other_columns(state, layout, flat, owed, alpha)
    if sample_weight is None:
        loss_total = float(np.sum(losses))
    else:
        loss_total = float(np.dot(losses, np.asarray(sample_weight)[order]))
    penalty = 0.5 * alpha * (squared_norm + other_sq) + l1 * (abs_norm + other_abs)
    pass_loss = loss_total / weight_total + penalty
    if average is None:
        return pass_loss, None
    average.weight += owed
    if not config.average_criterion:  # no one reads it
        return pass_loss, None
    # the averaged parameters' objective on the pass's rows, in the layout
    scale = 1.0 / average.weight
    averaged_loss_sum = 0.0
    for rows, part in _segment_rows(layout, order, segments, last=kept):
        part_weights = weights[part] if weights.shape[0] else weights
        averaged_loss_sum += rows_loss(
            *rows, part_weights, block, parts.start("A"), n_rows, a_b, scale
        )
        del rows
    A_norm, A_abs = norms(compact["A"])
    A_norm, A_abs = A_norm * scale**2, A_abs * scale if l1 else 0.0
    other = _other_columns(state, layout)
    if other.shape[0] and not isinstance(average.sum, LazyZeros):
        A_other = scratch.pending.target("A")[:, other] * scale
        A_norm += float(np.sum(np.square(A_other, dtype=np.float64)))
        A_abs += float(np.sum(np.abs(A_other), dtype=np.float64)) if l1 else 0.0
    average_loss = averaged_loss_sum / weight_total + 0.5 * alpha * A_norm + l1 * A_abs
    return pass_loss, average_loss


def paid_view(block, n_updates):
    """The sparse pass's block seen as integers of its itemsize (where each
    column's last paid batch is kept, :class:`~._kernel.BlockParts`), for a
    pass of ``n_updates`` minibatches: a ValueError where they are more than
    those integers count (float32: 2**31 - 1)."""
    paid = block.view(np.int32 if block.dtype == np.float32 else np.int64)
    if n_updates >= np.iinfo(paid.dtype).max:
        raise ValueError(
            f"One pass of {n_updates} minibatches is more than the sparse "
            "pass counts in float32; pass X as float64 or a larger batch_size."
        )
    return paid


# a pass copies its rows (in its order) this many stored values at a time,
# so that the copy of a large matrix's rows is not a second matrix
SEGMENT_VALUES = 2**22


def _carried_rows(pending, layout, parts):
    """Where ``pending``'s block rows go in ``layout``'s block, where they
    can be carried over unwritten: the same parts, not written back since,
    and every one of its columns in ``layout`` (the split's rows joining the
    training rows: a model of ``n_classes * n_features`` weights and its
    average are then not written out and read back, 840 MB at 50 classes
    and 2^20 columns). None otherwise (the pending weights are written back
    and ``layout``'s gathered)."""
    if pending is None or pending.written or pending.parts != parts:
        return None
    position = layout.local[pending.layout.columns]
    if not np.array_equal(layout.columns[position], pending.layout.columns):
        return None
    return position


def _segments(layout, order, batch_size):
    """The pass's rows cut into runs of whole minibatches of about
    ``SEGMENT_VALUES`` stored values (one run on small data)."""
    n = order.shape[0]
    per_row = layout.X.nnz / max(layout.X.shape[0], 1)
    batches = max(1, int(SEGMENT_VALUES / max(per_row, 1.0)) // batch_size)
    step = batches * batch_size
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _segment_rows(layout, order, segments, last=None):
    """``(csr_rows, part)`` of each segment: the arguments the compiled loops
    read (the rows of ``order[part]``, copied out in that order, so that
    they are read in sequence; row ``i`` of the copy is ``order[part][i]``).
    ``last``: the one segment's, already copied (reused)."""
    if last is not None and len(segments) == 1:
        yield last, segments[0]
        return
    for part in segments:
        rows = order[part]
        labels = layout.labels[rows]
        yield (*layout.rows(rows), np.arange(rows.shape[0]), labels), part


def weights_on(state, columns):
    """The model's weights on ``columns`` (sorted feature indices) and its
    intercepts, ``(W, b)`` of shapes ``(n_rows, len(columns))`` and
    ``(n_rows,)``, the averaged model's with averaging (as
    :meth:`~._state.SGDState.averaged`), read where a sparse pass keeps them
    (its compact copy; the flat arrays outside its columns), nothing written
    back nor allocated: what scoring a few rows needs, at the cost of their
    columns. None where no sparse pass keeps them (read the parameters).

    ``W`` is the transpose of a C-contiguous ``(len(columns), n_rows)``
    array, the columns' weights side by side as the compact copy holds them
    (and as a sparse product with ``W.T`` reads them, without a copy): the
    gather is a row take (a class-major copy, through a boolean mask on the
    second axis, cost 25 times as much at 8,000 columns of 50 classes).
    """
    pending = None if state.scratch is None else state.scratch.pending
    if pending is None:
        return None
    name, scale, b = _model_part(state, pending)
    compact = pending.compact[name]
    layout = pending.layout
    # a column outside the layout has place 0 there: the column at place 0
    # tells (a pass whose rows stored no value has no column: all outside)
    position = layout.local[columns]
    inside = np.zeros(columns.shape[0], dtype=bool)
    if layout.columns.shape[0]:
        inside = layout.columns[position] == columns
    if inside.all():
        W_t = compact[position]
        if scale != 1.0:
            W_t *= scale
        return W_t.T, (b if b.shape[0] else None)
    W_t = np.zeros((columns.shape[0], compact.shape[1]), dtype=compact.dtype)
    W_t[inside] = compact[position[inside]] * scale
    flat = pending.flat[name]
    if not callable(flat):  # else: zeros, never written
        W_t[~inside] = (flat[:, columns[~inside]] * scale).T
    return W_t.T, (b if b.shape[0] else None)


def kept_model(state):
    """``(weights_of, finite)`` where a sparse pass keeps the model in pieces
    (None elsewhere): ``weights_of(columns)`` is :func:`weights_on` of the
    state, and ``finite`` whether every weight and intercept of that model
    is, checked there: one pass over its columns' compact copy (its squared
    norm, as the whole model's would read), the columns outside it where
    they may be non-zero. What the final check of a run reads, before the
    weights are written back."""
    pending = None if state.scratch is None else state.scratch.pending
    if pending is None:
        return None
    from ._kernel import norms  # loaded: a sparse pass ran the compiled loop

    name, scale, b = _model_part(state, pending)
    squares, _ = norms(pending.compact[name])
    finite = bool(np.isfinite(squares * scale * scale) and np.all(np.isfinite(b)))
    other = _other_columns(state, pending.layout)
    flat = pending.flat[name]
    if finite and other.shape[0] and not callable(flat):  # else zeros
        finite = bool(np.all(np.isfinite(flat[:, other] * scale)))
    return functools.partial(weights_on, state), finite


def _model_part(state, pending):
    """Which compact array holds the model (``"A"``: the average's sum, else
    the weights ``"W"``), the factor that makes it the model, and the
    model's intercepts (a new array)."""
    average = state.average
    if average is not None and "A" in pending.compact and average.weight:
        name, scale = "A", 1.0 / average.weight
    else:
        name, scale = "W", 1.0
    return name, scale, pending.vectors["a_b" if name == "A" else "b"][0] * scale


class CompactModel:
    """The model on a sparse pass's columns, kept aside (early stopping's best
    epoch) without assembling its whole parameter vector.

    :meth:`write_into` puts it into a whole model: the layout's columns and
    the intercepts from here, the other columns left as they are (weights a
    fit from zeros never touched: zeros then as now).
    """

    def __init__(self, state):
        pending = state.scratch.pending
        name, scale, self.b = _model_part(state, pending)
        self.columns = pending.layout.columns
        self.W = pending.compact[name] * scale

    def put_back(self, state):
        """Make this the model the state's sparse pass keeps, in place of its
        last weights and intercepts, to be written back (:meth:`flush
        <CompactWeights.flush>`) as :meth:`write_into` would write them: the
        other columns left as they are. False (nothing done) where the pass
        keeps another layout's columns, or an average."""
        pending = None if state.scratch is None else state.scratch.pending
        if (
            pending is None
            or pending.layout.columns is not self.columns
            or state.average is not None
            or "A" in pending.compact
        ):
            return False
        pending.compact["W"][...] = self.W  # the block's: a view
        pending.vectors["b"][0][...] = self.b
        pending.written = False
        return True

    def write_into(self, coef, loss):
        """``coef`` (a whole parameter vector, in place) with this model's part."""
        W, b = loss.unpack(coef, np)
        W[:, self.columns] = self.W.T
        if b is not None:
            b[...] = self.b
        return coef


def _materialized(state):
    """The parameters as an array (allocated now if they were not yet)."""
    params = state.params
    if isinstance(params.coef, LazyZeros):
        params.coef = params.coef.materialize()
    return params.coef


def _average_sum(state):
    """The average's sum as an array (allocated now if it was not yet)."""
    average = state.average
    if isinstance(average.sum, LazyZeros):
        average.sum = average.sum.materialize()
    return average.sum


def restart_average(state):
    """Start the state's averaging window: its sum zero, its weight 0.

    Where a sparse pass keeps the average laid out by its columns, in place
    (its compact copy and intercepts zeroed, and the columns outside its
    layout if the average was ever written out); otherwise zeros allocated
    when first needed (:class:`LazyZeros`).
    """
    pending = None if state.scratch is None else state.scratch.pending
    if pending is not None and "A" in pending.compact:
        pending.compact["A"][...] = 0
        pending.vectors["a_b"][0][...] = 0
        pending.written = False  # the zeros go back at the next write-back
        if not isinstance(state.average.sum, LazyZeros):
            other = _other_columns(state, pending.layout)
            if other.shape[0]:
                pending.target("A")[:, other] = 0
        state.average.weight = 0.0
    else:
        if pending is not None:
            pending.flush()
        start_average(state)


def shorten_average(state, weight):
    """Keep ``weight`` of the average's history (a step-size sum, as its
    weight): its sum and weight scaled down alike where they hold more, the
    averaged model unchanged; where a sparse pass keeps the average laid
    out by its columns, there too (both copies stay valid)."""
    average = state.average
    if average is None or not average.weight > weight > 0:
        return
    scale = weight / average.weight
    pending = None if state.scratch is None else state.scratch.pending
    if pending is not None and "A" in pending.compact:
        pending.compact["A"][...] *= scale
        pending.vectors["a_b"][0][...] *= scale
    if not isinstance(average.sum, LazyZeros):
        average.sum *= scale
    average.weight = weight


def settle_average(state):
    """Make the state's parameters its average, in place, and drop the
    averaging (the end of a fit: the iterate is not needed any more).

    Where a sparse pass keeps the weights laid out by its columns, the
    average takes the iterate's place there, and only the weights are
    written back (at the caller's :meth:`~._state.SGDState.sync`): the
    average never needs a weight-sized array.
    """
    average = state.average
    if average is None or not average.weight:
        state.average = None
        return
    scale = 1.0 / average.weight
    pending = None if state.scratch is None else state.scratch.pending
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
            if isinstance(average.sum, LazyZeros):
                W[:, other] = 0
            else:
                W[:, other] = pending.target("A")[:, other] * scale
        pending.flat.pop("A")
        state.average = None  # written back at the caller's sync
    else:
        state.sync(release=True)
        state.params.coef = _average_sum(state) * scale
        state.average = None


def _other_columns(state, layout):
    """The columns outside the layout's whose weights may be non-zero (sorted)."""
    nonzero = state.scratch.nonzero_columns
    if nonzero is layout.active:
        return layout.active[:0]
    return np.setdiff1d(nonzero, layout.active, assume_unique=True)


def _decay_other_columns(state, layout, flat, owed, alpha):
    """Decay the non-zero weights outside the pass's columns over the pass's
    step sizes ``owed``, by ``exp(-alpha * owed * p_j)`` (with ``flat["Q"]``
    also giving them the L1 penalty they owe; with ``flat["A"]`` adding their
    path's integral to the average's).

    The scratch's ``nonzero_columns`` (sorted feature indices) says where
    weights may be non-zero; after a pass it holds the pass's columns too.
    Within a fit it soon *is* the pass's columns, and then nothing is left
    to do. Returns the squared norm and the L1 norm of those weights.
    """
    from ._parts import l1_clip

    scratch = state.scratch
    active = layout.active
    nonzero = scratch.nonzero_columns
    if nonzero is active:
        return 0.0, 0.0
    stale = _other_columns(state, layout)
    squared_norm = abs_norm = 0.0
    if stale.shape[0]:
        W, Q = flat["W"], flat.get("Q")
        A = scratch.pending.target("A") if "A" in flat else None
        W_stale = W[:, stale]
        p_stale = np.asarray(state.scaling.precond[stale], dtype=np.float64)
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
            u = (p_stale * state.l1.total).astype(W.dtype)
            W_stale, Q[:, stale] = l1_clip(W_stale, Q[:, stale], u, np)
            abs_norm = float(np.sum(np.abs(W_stale), dtype=np.float64))
        W[:, stale] = W_stale
        squared_norm = float(np.sum(np.square(W_stale, dtype=np.float64)))
    merged = np.union1d(nonzero, active) if nonzero.shape[0] else active
    scratch.nonzero_columns = active if merged.shape == active.shape else merged
    return squared_norm, abs_norm


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
