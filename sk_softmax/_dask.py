"""Training and predicting on Dask arrays (from a checkout: ``pip install -e
".[dask]"``).

Only this module imports Dask, and only when ``fit``, ``partial_fit`` or a
``predict*`` method meets a Dask collection.

:class:`DaskData` is the Dask implementation of the training-data interface
of :mod:`sk_softmax._data`: every chunk of rows becomes an
:class:`~sk_softmax._data.InMemoryData`, persisted where it lives, and each
method runs the in-memory method of the same name on every chunk:

- full-batch objective: each chunk's ``(loss_sum, grad_sum, weight_sum)``,
  added with a tree reduction; only those sums come back to the driver;
- a pass over the rows (SGD's epoch): one task per chunk, chained: the
  carry (the solver state: parameters, momentum, counters, a few vectors of
  ``n_coef``) travels from chunk to chunk in a shuffled chunk order, as
  float64 host arrays, and each chunk's minibatches run where it lives;
- early stopping: a random part of every chunk is held out and scored where
  it lives.

The same validation functions as in memory check the input chunk by chunk,
so bad input gives the same errors.
"""

import functools
import operator
import warnings

import array_api_compat.numpy as np_compat
import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_array, check_is_fitted

from ._backend import to_numpy
from ._data import InMemoryData, sample_loss, score_from_sums
from ._exceptions import DaskFitError
from ._solvers._scaling import ColumnMoments, sample_rows
from ._validation import (
    check_partial_fit_classes,
    check_same_namespace,
    check_weight_shape,
    check_weight_total,
    class_totals,
    class_weight_vector,
    encode_labels,
    is_dask_collection,
    refuse_unsortable,
    sample_weights,
    validate_fit_data,
    weight_exponent,
)

__all__ = [
    "DaskData",
    "DaskFitError",
    "as_dask_X",
    "lazy_on_dask",
    "predict_dask",
    "training_data",
]


def training_data(estimator, X, y, sample_weight, classes, incremental):
    """Validated input of a ``fit`` / ``partial_fit`` call as training data:
    :class:`DaskData` for a Dask collection, else
    :class:`~sk_softmax._data.InMemoryData`.

    ``classes``: the call's (``partial_fit``); ``incremental``: a
    ``partial_fit`` call, which sets ``n_features_in_`` on its first call
    only and keeps its data where the first call's lived.
    """
    from sklearn.utils.validation import validate_data

    from ._backend import dispatch_enabled

    first = not (incremental and hasattr(estimator, "classes_"))
    known = None
    if incremental:
        known = check_partial_fit_classes(
            classes, getattr(estimator, "classes_", None), estimator.class_weight
        )
        if not first and dispatch_enabled() and estimator.backend == "auto":
            # the state lives where the first call's X did (scikit-learn's rule);
            # a Dask collection's, where its chunks live (their namespace)
            chunk = getattr(X, "_meta", X) if is_dask_collection(X) else X
            check_same_namespace(estimator, chunk, "partial_fit")
    options = dict(
        classes=known,
        class_weight=estimator.class_weight,
        fit_intercept=estimator.fit_intercept,
        name=type(estimator).__name__,
    )
    if is_dask_collection(X):
        if estimator.backend == "cupy":
            raise ValueError(
                'backend="cupy" does not apply to Dask input: a Dask fit computes '
                "where its chunks live. For the GPU, make them CuPy arrays (e.g. "
                'X.map_blocks(cupy.asarray)) and keep backend="auto".'
            )
        data = DaskData.from_input(X, y, sample_weight, **options)
        validate_data(estimator, data.X, skip_check_array=True, reset=first)
        return data
    # SGD checks X's finiteness with its column statistics (one pass fewer)
    X, y = validate_fit_data(
        estimator, X, y, reset=first, ensure_finite=estimator.solver != "sgd"
    )
    return InMemoryData.from_input(X, y, sample_weight, **options)


# --------------------------------------------------------------- helpers
# A computation the cluster failed (a worker lost mid-task, a connection
# closed, a task cancelled with its worker) is submitted again this many
# times: Dask recomputes what the lost workers held from the graph (the
# persisted chunks from their source, the parameters from the literal in the
# graph), and the same graph gives the same result.
RETRIES = 3


def _cluster_failure(exc):
    """Whether ``exc`` is the cluster's failure, not the computation's: a
    closed connection or a timeout (``OSError``: distributed's
    ``CommClosedError``), a cancelled future (``CancelledError``), a task
    whose workers kept dying (``KilledWorker``)."""
    import concurrent.futures

    return isinstance(exc, (OSError, concurrent.futures.CancelledError)) or (
        type(exc).__name__ == "KilledWorker"
    )


def _failed(exc):
    """The :class:`DaskFitError` of a failed computation (its cause chained)."""
    return DaskFitError(
        f"The Dask computation failed during fit ({type(exc).__name__}: "
        f"{exc}); the estimator was left unchanged. If a worker died, "
        "retry the fit once the cluster has recovered."
    )


def _compute(*collections):
    """``dask.compute``; a failure of Dask itself becomes :class:`DaskFitError`.

    A failure of the cluster (see :func:`_cluster_failure`) is retried up to
    ``RETRIES`` times with the same graph, so the same result. Errors about
    the input (ValueError, TypeError, raised by the same checks as in memory)
    pass through unchanged.
    """
    import dask

    for attempt in range(RETRIES + 1):
        try:
            return dask.compute(*collections)
        except (ValueError, TypeError):
            raise
        except Exception as exc:
            if attempt < RETRIES and _cluster_failure(exc):
                continue
            raise _failed(exc) from exc


def _persist(*collections):
    """``dask.persist``, its failures those of :func:`_compute`.

    On a distributed Client it only submits the graph (the scheduler keeps
    it, so it can recompute a chunk a lost worker held); the local
    schedulers compute here.
    """
    import dask

    try:
        return dask.persist(*collections)
    except (ValueError, TypeError):
        raise
    except Exception as exc:
        raise _failed(exc) from exc


def _in_graph(value):
    """``value`` (host arrays, a solver state) as one literal key of the graph.

    Every task that reads it depends on that key; the scheduler keeps the
    literal and recomputes it if the workers that held it die (unlike
    ``client.scatter``, whose only copies a restart loses). A new key each
    call: no two computations share one.
    """
    import dask

    return dask.delayed(value, pure=False, traverse=False)


def _tree_sum(parts, combine=None):
    """Pairwise (tree) sum of delayed tuples of additive terms (or of what
    ``combine`` joins pairwise)."""
    import dask

    add = dask.delayed(combine or _add_sums, pure=True)
    while len(parts) > 1:
        parts = [
            add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def _combine_moments(a, b):
    return a.combine(b)


def _add_sums(a, b):
    return tuple(x + y for x, y in zip(a, b, strict=True))


def as_dask_X(X, name="SoftmaxRegressionClassifier", known_rows=True):
    """A 2-D floating Dask array with one chunk of features and, with
    ``known_rows``, known row chunks (computed on a copy where they were
    not: the caller's array is left as it was); complex or empty X refused
    with scikit-learn's errors (``name``: the estimator's, as they say it).
    Without ``known_rows`` (a prediction, block by block) nothing is
    computed, and rows of unknown number are not checked."""
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(
            f"Only dask.array.Array input is supported; got {type(X).__name__}. "
            "Convert a Dask DataFrame with .to_dask_array(lengths=True)."
        )
    if X.ndim == 1:  # scikit-learn's messages (the values: the Dask array's repr)
        raise ValueError(
            f"Expected 2D array, got 1D array instead:\narray={X!r}.\nReshape your "
            "data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim != 2:  # scikit-learn's own error, on a stand-in of X's dimensions
        check_array(np.zeros((1,) * X.ndim), estimator=name)
    if known_rows and any(np.isnan(c) for c in X.chunks[0]):
        X = X.copy().compute_chunk_sizes()  # (it sets them in place)
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported.")
    for size, what in zip(X.shape, ("sample(s)", "feature(s)"), strict=True):
        if size == 0:
            raise ValueError(
                f"Found array with 0 {what} (shape={X.shape}) while a minimum of "
                f"1 is required by {name}."
            )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X.rechunk({1: -1})


def _as_dask_rows(v, X, name):
    """``v`` (Dask or array-like) as a 1-D Dask array chunked like ``X``'s rows.

    A length that differs from X's gets the in-memory path's error.
    """
    import dask.array as da
    from sklearn.utils.validation import check_consistent_length

    if not hasattr(v, "__dask_graph__"):
        v = da.from_array(np.asarray(v), chunks=-1)
    if name != "y" and v.ndim == 0:  # one weight for every row, as in memory
        v = da.broadcast_to(v, (X.shape[0],)).astype(np.float64)
    if v.ndim and any(np.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if name == "y":
        # scikit-learn's column_or_1d, as in memory: a column is raveled
        # with its warning, anything else not 1-D refused with its message
        if v.ndim == 2 and v.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. "
                "Please change the shape of y to (n_samples, ), for example using "
                "ravel().",
                DataConversionWarning,
                stacklevel=2,
            )
            v = v[:, 0]
        elif v.ndim != 1:
            raise ValueError(
                f"y should be a 1d array, got an array of shape {v.shape} instead."
            )
        check_consistent_length(X, v)
    else:
        check_weight_shape(v.shape, X.shape[0])
    return v.rechunk((X.chunks[0],))


# ------------------------------------------------------- chunk functions
def _distinct_labels(y):
    """The distinct labels of a chunk (NaN kept, so the check below sees it);
    labels NumPy cannot sort get the in-memory errors."""
    y = np.asarray(y)
    try:
        return np.unique(y)
    except TypeError:
        refuse_unsortable(y)  # labels of mixed types, or of no known type


def _encode_block(y, classes):
    return np.searchsorted(classes, np.asarray(y))


def _chunk_weights(sw, y_enc, class_weight):
    """``s_i`` of one chunk, made and checked as in memory."""
    return sample_weights(None if sw is None else to_numpy(sw), y_enc, class_weight)


def _chunk_class_totals(y_enc, sw=None, *, n_classes):
    """One chunk's :func:`class_totals`, as a row."""
    sw = None if sw is None else to_numpy(sw)
    return class_totals(sw, np.asarray(to_numpy(y_enc)), n_classes)[None, :]


def _class_totals(y_enc, sample_weight, n_classes):
    """The classes' rows or total weights over every chunk (what
    ``class_weight="balanced"`` balances), each chunk's weights checked as
    in memory."""
    import dask.array as da

    blocks = (y_enc,) if sample_weight is None else (y_enc, sample_weight)
    rows = da.map_blocks(
        _chunk_class_totals,
        *blocks,
        n_classes=n_classes,
        dtype=np.float64,
        new_axis=1,
        chunks=((1,) * y_enc.numblocks[0], (n_classes,)),
    )
    (totals,) = _compute(rows.sum(axis=0))
    return totals


def _chunk_data(X, y_enc, sw, mask, part, loss, classes, estimator_name):
    """One chunk as :class:`InMemoryData` (``part``: its rows to use)."""
    rows = None
    if mask is not None:
        keep = np.asarray(to_numpy(mask))
        rows = np.flatnonzero(keep if part == "validation" else ~keep)
    return InMemoryData(
        X,
        np.asarray(to_numpy(y_enc)),
        np.asarray(to_numpy(sw), dtype=np.float64),
        loss,
        classes=classes,
        estimator_name=estimator_name,
        rows=rows,
    )


def _column_stats(chunk):
    if chunk.n_samples == 0:
        zeros = np.zeros(chunk.loss.n_features)
        return ColumnMoments(zeros, zeros, zeros, 0.0)
    return chunk.column_stats()


def _n_rows(chunk):
    return chunk.n_samples


def _loss_gradient_sums(chunk, coef):
    return chunk.loss_gradient_sums(coef)


def _loss_sum(chunk, coef):
    if chunk.n_samples == 0:
        return (0.0, 0.0)
    return chunk.loss_sum(coef)


def _evaluate(chunk, coef):
    if chunk.n_samples == 0:
        return (np.zeros(0),) * 3
    return chunk.evaluate(coef)


def _correct_counts(chunk, coef):
    if chunk.n_samples == 0:
        return (0.0, 0.0)
    return chunk.correct_counts(coef)


def _fold_chunk(carry, chunk, fn, ship, seed, span):
    """One step of a fold over one chunk's training rows, where it lives.

    The carry travels between chunks as float64 host arrays (``ship``
    places them where the chunk computes, and back); ``span`` is the
    chunk's share of the pass.
    """
    if chunk.n_samples == 0 or not chunk.pass_rows().mean_weight:
        return carry  # no row, or rows that weigh nothing: nothing to learn
    carry = ship(carry, chunk.asarray)  # in the chunk's namespace and dtype
    carry = fn(carry, chunk.pass_rows(), np.random.RandomState(seed), span)
    return ship(carry, _host64)


def _host64(a):
    return np.array(to_numpy(a), dtype=np.float64)


def _join(combine, a, b):
    """Two carries of a data-parallel pass joined by the solver's ``combine``."""
    return combine([a, b])


def _val_mask_block(sample_weight, fraction, seed, block_id=None):
    """The chunk's rows held out: drawn at ``fraction``, among those that
    weigh something (as in memory: a row of zero weight scores nothing)."""
    rng = np.random.default_rng([seed, block_id[0]])
    return (rng.random(sample_weight.shape[0]) < fraction) & (sample_weight > 0)


# ------------------------------------------------------------ the data
class DaskData:
    """Training data on Dask arrays (see :mod:`sk_softmax._data`).

    Build it with :meth:`from_input`. The solver state lives on the driver
    as float64 host vectors and travels to the chunks; the fitted parameters
    come back as NumPy arrays of ``X``'s dtype.
    """

    xp = np_compat
    device = "cpu"

    def __init__(
        self, X, y_enc, sample_weight, weights, chunks, loss, *, classes, name
    ):
        self.X = X
        self.y_enc = y_enc
        self.sample_weight = sample_weight
        self.weights = weights  # sample_weight, zero outside this part's rows
        self.chunks = chunks  # delayed InMemoryData, one per row chunk
        self.loss = loss
        self.classes = classes
        self.estimator_name = name
        self.dtype = X.dtype
        self._column_stats = None
        self._training_rows = None
        self.whole = None  # early stopping's training part: every row (split)

    @classmethod
    def from_input(
        cls, X, y, sample_weight, *, classes, class_weight, fit_intercept, name
    ):
        """Validate Dask input and persist it chunk by chunk.

        ``classes``: the known labels (``partial_fit``), or None to take them
        from ``y`` (``fit``). Checks X (finite), y (classification labels)
        and the weights (finite, non-negative, positive sum) with the same
        functions, and so the same errors, as in memory.
        """
        import dask.array as da
        from sklearn.utils import assert_all_finite
        from sklearn.utils.multiclass import check_classification_targets

        from ._loss import SoftmaxLoss

        X = as_dask_X(X, name)
        if sp.issparse(getattr(X, "_meta", None)):
            raise TypeError(
                "Dask arrays of SciPy sparse chunks are not supported for "
                "training: pass the SciPy sparse matrix itself (in memory, "
                "where the sparse SGD loop runs), or make the chunks dense "
                "(X.map_blocks(lambda block: block.toarray())). predict and "
                "predict_proba accept them."
            )
        y = _as_dask_rows(y, X, "y")
        if sample_weight is not None:
            sample_weight = _as_dask_rows(sample_weight, X, "sample_weight")
        labels = y.map_blocks(_distinct_labels, dtype=y.dtype, chunks=(np.nan,))
        (y_classes,) = _compute(labels)
        y_classes = np.unique(y_classes)
        if y_classes.dtype.kind == "f":  # scikit-learn's error for NaN / inf in y
            assert_all_finite(y_classes, input_name="y")
        check_classification_targets(y_classes)
        classes = encode_labels(y_classes, classes, name)
        y_enc = y.map_blocks(_encode_block, classes, dtype=np.intp)
        counts = None
        if isinstance(class_weight, str):
            counts = _class_totals(y_enc, sample_weight, classes.shape[0])
        cw = class_weight_vector(class_weight, classes, counts)
        if sample_weight is None:
            sw = y_enc.map_blocks(
                lambda y_b, cw: _chunk_weights(None, y_b, cw), cw, dtype=np.float64
            )
        else:
            sw = da.map_blocks(
                _chunk_weights, sample_weight, y_enc, cw, dtype=np.float64
            )
        X, y_enc, sw = _persist(X, y_enc, sw)
        (max_weight,) = _compute(sw.max())
        exponent = weight_exponent(max_weight)
        if exponent:  # huge or tiny weights: only their ratios matter
            (sw,) = _persist(da.ldexp(sw, exponent))
        loss = SoftmaxLoss(classes.shape[0], X.shape[1], fit_intercept)
        data = cls._with_mask(X, y_enc, sw, None, "all", loss, classes, name)
        check_weight_total(data.column_stats().total)  # checks X is finite, for all
        return data

    @classmethod
    def _with_mask(cls, X, y_enc, sw, mask, part, loss, classes, name):
        import dask
        import dask.array as da

        make = dask.delayed(_chunk_data, pure=True)
        arrays = [a.to_delayed().ravel() for a in (X, y_enc, sw)]
        masks = [None] * len(arrays[0]) if mask is None else mask.to_delayed().ravel()
        chunks = [
            make(x, y, w, m, part, loss, classes, name)
            for x, y, w, m in zip(*arrays, masks, strict=True)
        ]
        chunks = list(_persist(*chunks))
        weights = sw
        if mask is not None:
            held_out = mask if part == "train" else ~mask
            weights = da.where(held_out, 0.0, sw)
        return cls(X, y_enc, sw, weights, chunks, loss, classes=classes, name=name)

    @property
    def n_samples(self):
        return self.X.shape[0]

    def asarray(self, a):
        """A float64 host copy of ``a``: the state travels between chunks so."""
        return _host64(a)

    copy = asarray

    def zeros(self, n):
        """``n`` zeros as the state travels (float64, host)."""
        return np.zeros(n)

    def to_fitted(self, a, copy=True):
        """NumPy in ``X``'s dtype: where fitted parameters of a Dask fit live."""
        if copy:
            return np.array(to_numpy(a), dtype=self.dtype)
        return np.asarray(to_numpy(a), dtype=self.dtype)

    def _map(self, fn, *args):
        import dask

        task = dask.delayed(fn, pure=False)  # this call's keys: none shared
        return [task(chunk, *args) for chunk in self.chunks]

    def training_rows(self):
        """How many rows SGD trains on: the chunks' training parts' rows."""
        if self._training_rows is None:
            (self._training_rows,) = _compute(
                _tree_sum(self._map(_n_rows), operator.add)
            )
        return int(self._training_rows)

    def column_stats(self, compiled=False):
        """The in-memory data's column moments, summed over the chunks
        (``compiled``: for that interface; each chunk sums its own)."""
        if self._column_stats is None:
            parts = self._map(_column_stats)
            (self._column_stats,) = _compute(_tree_sum(parts, _combine_moments))
        return self._column_stats

    def host_sample(self):
        rows = sample_rows(self.X.shape[0])
        Xs, ws = _compute(self.X[rows], self.weights[rows])
        return np.asarray(to_numpy(Xs), dtype=np.float64), np.asarray(ws)

    def row_nnz(self):
        """None: a Dask fit picks the dense defaults (each chunk's pass picks
        its own loop)."""
        return None

    def sample_loss(self, coef, weights_of=None):
        rows = sample_rows(self.X.shape[0])
        Xs, ys, ws = _compute(self.X[rows], self.y_enc[rows], self.weights[rows])
        Xs = np.asarray(to_numpy(Xs), dtype=np.float64)
        ys = np.asarray(to_numpy(ys))
        return sample_loss(self.loss, coef, Xs, ys, ws, weights_of)

    def loss_gradient(self, coef, alpha):
        coef_node = _in_graph(np.asarray(coef, dtype=np.float64))
        (sums,) = _compute(_tree_sum(self._map(_loss_gradient_sums, coef_node)))
        loss_sum, grad_sum, weight_sum = sums
        pen, pen_grad = self.loss.penalty_gradient(coef, alpha, np)
        return loss_sum / weight_sum + float(pen), grad_sum / weight_sum + pen_grad

    def objective(self, coef, l2, l1):
        """The objective at ``coef`` (see :meth:`InMemoryData.objective`)."""
        coef_node = _in_graph(np.asarray(coef, dtype=np.float64))
        (sums,) = _compute(_tree_sum(self._map(_loss_sum, coef_node)))
        return sums[0] / sums[1] + self.loss.penalty(np.asarray(coef), l2, l1, np)

    def fold(self, fn, carry, rng, shuffle, ship):
        """``fn(carry, rows, rng, span)`` over the chunks' training rows, one
        task per chunk in a shuffled chunk order (each with its own seed
        from ``rng``), chained; ``ship(carry, place)`` moves the carry's
        arrays to each chunk and back (float64 host arrays in between)."""
        import dask

        n_chunks = len(self.chunks)
        step = dask.delayed(_fold_chunk, pure=False)
        order = rng.permutation(n_chunks) if shuffle else range(n_chunks)
        rows = self.X.chunks[0]
        n_total = self.X.shape[0]
        node, done = ship(carry, _host64), 0
        for i in order:
            span = (done / n_total, (done + rows[i]) / n_total)
            done += rows[i]
            seed = rng.randint(2**31 - 1)
            node = step(node, self.chunks[i], fn, ship, seed, span)
        (result,) = _compute(node)
        return result

    def fold_parallel(self, fn, carry, rng, shuffle, ship, combine):
        """``fn(carry, rows, rng, span)`` over every chunk's training rows
        from the same ``carry``, one task per chunk, side by side where the
        chunks live (each with its own seed from ``rng``, drawn in chunk
        order; ``span`` the whole epoch); the chunks' carries joined pairwise
        by ``combine([a, b])`` in chunk order, in a tree on the workers.

        The result depends on the chunks and ``rng`` only, not on the
        workers or the scheduler. ``shuffle`` does not apply (no chunk comes
        before another); ``ship`` as in :meth:`fold`. The starting carry is
        one key of the graph that every chunk's task reads.
        """
        import dask

        step = dask.delayed(_fold_chunk, pure=False)
        start = _in_graph(ship(carry, _host64))
        parts = [
            step(start, chunk, fn, ship, rng.randint(2**31 - 1), (0.0, 1.0))
            for chunk in self.chunks
        ]
        (result,) = _compute(_tree_sum(parts, functools.partial(_join, combine)))
        return result

    def split(self, fraction, rng, compiled=False):
        """A random ``fraction`` of every chunk held out for validation
        (``compiled``: for the in-memory data's interface; no row keys here)."""

        mask = self.sample_weight.map_blocks(
            _val_mask_block, fraction, rng.randint(2**31 - 1), dtype=bool
        )
        (mask,) = _persist(mask)
        (n_val,) = _compute(mask.sum())
        if n_val == 0:
            # (without a row of positive weight a split's scores were 0 / 0:
            # NaN, and the fit failed at its end with a TypeError)
            raise ValueError(
                "Early stopping cannot hold out a validation set: "
                f"validation_fraction={fraction} of {self.X.shape[0]} samples "
                "selects none of positive weight. Raise validation_fraction."
            )
        if n_val >= self.X.shape[0]:
            raise ValueError(
                "Early stopping held out every row for validation: "
                f"validation_fraction={fraction} of {self.X.shape[0]} samples "
                "leaves none to train on. Lower validation_fraction, or pass "
                "more samples."
            )
        args = (self.X, self.y_enc, self.sample_weight, mask)
        common = (self.loss, self.classes, self.estimator_name)
        train = DaskData._with_mask(*args, "train", *common)
        train.whole = self
        return train, DaskData._with_mask(*args, "validation", *common)

    def score(self, coef, metric):
        """``metric`` of ``coef`` on these rows (see
        :meth:`InMemoryData.score`), from the chunks' sums."""
        coef = _in_graph(np.asarray(to_numpy(coef)))
        if metric == "accuracy":
            parts = self._map(_correct_counts, coef)
            correct, weight = _compute(_tree_sum(parts))[0]
            return score_from_sums(metric, correct, 0.0, weight)
        loss_sum, weight = _compute(_tree_sum(self._map(_loss_sum, coef)))[0]
        return score_from_sums(metric, 0.0, loss_sum, weight)

    def evaluate(self, coef, view=None):
        """See :meth:`InMemoryData.evaluate` (``coef`` only): the chunks'
        rows, one chunk after the other."""
        coef = _in_graph(np.asarray(to_numpy(coef)))
        (parts,) = _compute(self._map(_evaluate, coef))
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def used_columns(self):
        """None: :meth:`evaluate` reads a whole ``coef``."""
        return None


# -------------------------------------------------------------- predict
def _predict_block(block, estimator, method):
    return getattr(estimator, method)(block)


def lazy_on_dask(method):
    """A prediction method that returns a lazy Dask array for Dask input."""

    @functools.wraps(method)
    def predict(self, X):
        if is_dask_collection(X):
            check_is_fitted(self)
            return predict_dask(self, method.__name__, X)
        return method(self, X)

    return predict


def predict_dask(estimator, method, X):
    """Lazy ``estimator.<method>(X)`` on a Dask array, block by block.

    Parameters
    ----------
    estimator : SoftmaxRegressionClassifier
        A fitted estimator.
    method : {"decision_function", "predict", "predict_proba", "predict_log_proba"}
        The method applied to every row chunk.
    X : dask.array.Array of shape (n_samples, n_features)
        Samples, chunked by rows.

    Returns
    -------
    result : dask.array.Array
        Lazy result chunked like ``X``'s rows; nothing is computed or gathered.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.datasets import load_iris
    >>> from sk_softmax import SoftmaxRegressionClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    >>> proba = clf.predict_proba(da.from_array(X, chunks=50))
    >>> type(proba).__name__, proba.shape, proba.chunks[0]
    ('Array', (150, 3), (50, 50, 50))
    """
    X = as_dask_X(X, type(estimator).__name__, known_rows=False)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    n_classes = len(estimator.classes_)
    if method == "predict":
        return X.map_blocks(
            _predict_block,
            estimator,
            method,
            dtype=estimator.classes_.dtype,
            drop_axis=1,
            meta=np.empty((0,), dtype=estimator.classes_.dtype),
        )
    out_dtype = X.dtype  # as in memory: the model is cast to X's dtype
    if method == "decision_function" and n_classes == 2:
        return X.map_blocks(
            _predict_block,
            estimator,
            method,
            dtype=out_dtype,
            drop_axis=1,
            meta=np.empty((0,), dtype=out_dtype),
        )
    return X.map_blocks(
        _predict_block,
        estimator,
        method,
        dtype=out_dtype,
        chunks=(X.chunks[0], (n_classes,)),
        meta=np.empty((0, 0), dtype=out_dtype),
    )
