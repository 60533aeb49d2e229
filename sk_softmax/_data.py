"""Training data as the solvers see it, and its in-memory implementation.

A training-data object answers everything a solver asks of the data; the
solvers never see ``X`` itself. :class:`InMemoryData` holds arrays where the
fit computes (NumPy, SciPy sparse, CuPy or another array-API namespace);
:class:`sk_softmax._dask.DaskData` holds Dask arrays and runs these same
methods on each chunk, where the chunk lives. The interface:

``loss``, ``xp``, ``dtype``, ``device``
    The objective's parameter layout, and where the fitted parameters live.
``asarray(a)`` / ``copy(coef)``
    A copy of a parameter-sized vector where the solver state lives.
``zeros(n)``
    ``n`` zeros where the solver state lives.
``to_fitted(a, copy=True)``
    A vector where the fitted parameters live (a copy by default).
``column_stats()``
    The weighted column moments over the training rows
    (:class:`~sk_softmax._solvers._scaling.ColumnMoments`), with the check
    that X holds no NaN or infinity (scikit-learn's error otherwise).
``host_sample()``
    Up to 1,000 evenly spaced rows on the host (float64) and their weights.
``row_nnz()``
    The mean number of stored values a row (sparse X), or None (dense).
``sample_loss(coef, weights_of=None)``
    The loss of ``coef`` on up to 1,000 training rows (the final check), or
    of the model ``weights_of(columns)`` gives in pieces.
``loss_gradient(coef, alpha)``
    The full objective and its gradient at a float64 host vector.
``objective(coef, l2, l1)``
    The objective at ``coef`` over the training rows (a host float).
``fold(fn, carry, rng, shuffle, ship)``
    A pass over the training rows: ``carry = fn(carry, rows, rng, span)``
    over the data's :class:`Rows` (in memory: once; on Dask: chunk after
    chunk, each where it lives, the carry shipped with ``ship``).
``fold_parallel(fn, carry, rng, shuffle, ship, combine)``
    A data-parallel pass: ``fn`` over each part of the rows (on Dask: every
    chunk, side by side, where it lives) from the same ``carry``, the
    results joined by ``combine`` (the solver's: it decides what joining
    means); in memory, one part: :meth:`~InMemoryData.fold`.
``split(fraction, rng)``
    ``(train, validation)`` data for early stopping.
``score(coef, metric)``
    A metric of ``coef`` on these rows: "accuracy" (weighted) or
    "log_loss" (the weighted mean loss, no penalty).
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite

from ._backend import (
    device,
    get_namespace,
    is_numpy_array,
    move_to,
    to_numpy,
)
from ._loss import (
    SoftmaxLoss,
    compact_columns,
    compiled_losses,
    logits,
    row_labels,
    scores_compiled,
)
from ._solvers._scaling import column_moments, curvature_sample, sample_rows
from ._split import make_validation_split
from ._validation import (
    check_weight_total,
    class_totals,
    class_weight_vector,
    encode_labels,
    sample_weights,
    unique_labels,
    weight_exponent,
)


def sample_loss(loss, coef, Xs, ys, ws, weights_of=None):
    """Mean loss of ``coef`` on host rows ``Xs`` (labels ``ys``), weighted
    by the rows' training weights ``ws`` (sample and class weights: the loss
    the fit lowers, which at zero parameters is ``log(n_classes)`` as the
    unweighted one).

    The check of a run's final parameters (its last update is in no epoch
    loss): a float64 host computation on at most ``SAMPLE_ROWS`` rows; inf
    where any weight is not finite.

    ``weights_of`` (sparse ``Xs``, ``coef`` None): a function of sorted
    columns returning the model's ``(W, b)`` on them (a model kept in
    pieces: :func:`~sk_softmax._solvers._sgd._passes.weights_on`); the rows
    are scored on their columns' weights alone, and whether the other
    weights are finite is the caller's to check.
    """
    ws = np.asarray(to_numpy(ws), dtype=np.float64)
    if Xs.shape[0] == 0 or not np.sum(ws) > 0:
        return 0.0
    Y = encoded_targets(ys, loss.n_rows)
    with np.errstate(all="ignore"):
        if weights_of is not None:
            Xs, used = compact_columns(Xs)
            W, b = weights_of(np.arange(Xs.shape[1]) if used is None else used)
            loss_i = loss.losses_from_logits(logits(Xs, W, b, compacted=True), Y, np)
            value = float(np.sum(loss_i * ws) / np.sum(ws))
        else:
            # the penalty's term at alpha=0 is 0 * ||W||^2, NaN where any
            # weight is not finite: the value says so, whatever columns the
            # rows use (one BLAS pass over the weights, no scan of its own)
            coef = to_numpy(coef)  # in its dtype: Xs in float64 makes the logits so
            value = float(loss.loss(coef, Xs, Y, sample_weight=ws, xp=np))
    return value if np.isfinite(value) else np.inf


def encoded_targets(y_enc, n_rows):
    """Targets ``Y`` of shape (n_samples, n_rows) as float64 (see ``_loss``)."""
    y_enc = np.asarray(y_enc)
    if n_rows == 1:
        return (y_enc == 1)[:, None].astype(np.float64)
    return (y_enc[:, None] == np.arange(n_rows)[None, :]).astype(np.float64)


class Rows(NamedTuple):
    """The training rows as a pass over them reads them.

    ``X`` and ``Y`` (encoded targets) where the data computes;
    ``sample_weight`` on the host, None where the rows' weights are equal;
    ``rows`` the training part's row indices (None: all); ``loss`` the
    parameter layout; ``cache`` a dict for what a pass derives from the rows
    once per fit (kept with the data object); ``mean_weight`` the rows' mean
    weight (also where ``sample_weight`` is None).
    """

    X: object
    Y: object
    sample_weight: object
    rows: object
    loss: object
    cache: dict
    mean_weight: float = 1.0


def score_from_sums(metric, correct, loss_sum, weight):
    """A metric from a split's sums: "accuracy" (``correct / weight``) or
    "log_loss" (``loss_sum / weight``)."""
    if metric == "accuracy":
        return correct / weight
    if metric == "log_loss":
        return loss_sum / weight
    raise ValueError(f"unknown metric {metric!r}")


class InMemoryData:
    """Training rows held in memory, where the fit computes.

    Parameters
    ----------
    X : {array, sparse matrix} of shape (n_samples, n_features)
        Validated data (float32 or float64).
    y_enc : ndarray of shape (n_samples,)
        Encoded labels ``0..n_classes-1`` (host).
    sample_weight : ndarray of shape (n_samples,)
        ``s_i = sample_weight_i * class_weight[y_i]`` (host, float64).
    loss : SoftmaxLoss
    classes : ndarray
        The original labels (for error messages).
    estimator_name : str
        For scikit-learn's error messages.
    rows : ndarray of int or None
        The training rows (early stopping's training part); None: all.
    """

    def __init__(
        self,
        X,
        y_enc,
        sample_weight,
        loss,
        *,
        classes,
        estimator_name="SoftmaxRegressionClassifier",
        rows=None,
    ):
        self.X = X
        self.y_enc = np.asarray(y_enc)
        self.sample_weight = np.asarray(sample_weight, dtype=np.float64)
        self.loss = loss
        self.classes = classes
        self.estimator_name = estimator_name
        self.rows = rows
        # early stopping's training part: both parts' rows (see split)
        self.whole = None
        # early stopping's validation part of a fit that runs compiled code:
        # its dense rows scored by a compiled pass (see evaluate)
        self.compiled_scoring = False
        self.xp = get_namespace(X)
        self.device = device(X)
        self.dtype = X.dtype
        self._Y = None
        self._rows = None
        self._blocks = self._used = None

    @classmethod
    def from_input(
        cls, X, y, sample_weight, *, classes, class_weight, fit_intercept, name
    ):
        """Training data from validated ``X`` (where it computes) and host ``y``.

        ``classes``: the known labels (``partial_fit``), or None to take them
        from ``y`` (``fit``). Encodes the labels and checks the weights with
        the same functions as the Dask data.
        """
        classes = encode_labels(unique_labels(y, "y"), classes, name)
        y_enc = np.searchsorted(classes, y)
        counts = None
        if isinstance(class_weight, str):
            counts = class_totals(sample_weight, y_enc, classes.shape[0])
        class_weight = class_weight_vector(class_weight, classes, counts)
        sample_weight = sample_weights(sample_weight, y_enc, class_weight)
        exponent = weight_exponent(np.max(sample_weight, initial=0.0))
        if exponent:  # huge or tiny weights, on sample_weights' own copy
            np.ldexp(sample_weight, exponent, out=sample_weight)
        check_weight_total(np.sum(sample_weight))
        loss = SoftmaxLoss(classes.shape[0], X.shape[1], fit_intercept)
        return cls(X, y_enc, sample_weight, loss, classes=classes, estimator_name=name)

    def __sizeof__(self):
        """The bytes of the rows held (what Dask's ``sizeof`` reads: a Dask
        chunk's tasks are then placed where the chunk lives, not the chunk
        moved to them)."""
        total = object.__sizeof__(self)
        for a in (self.X, self.y_enc, self.sample_weight, self.rows):
            if a is None:
                continue
            if hasattr(a, "indptr"):  # a sparse matrix: its three arrays
                total += a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
            else:
                total += int(getattr(a, "nbytes", 0))
        return total

    @property
    def n_samples(self):
        return self.X.shape[0] if self.rows is None else self.rows.shape[0]

    def training_rows(self):
        """How many rows SGD trains on (those of the training part)."""
        return self.n_samples

    def asarray(self, a):
        """A copy of ``a`` where the computation runs, in X's dtype."""
        return self.xp.asarray(a, dtype=self.dtype, device=self.device, copy=True)

    copy = asarray

    def zeros(self, n):
        """``n`` zeros where the computation runs, in X's dtype."""
        return self.xp.zeros((n,), dtype=self.dtype, device=self.device)

    def to_fitted(self, a, copy=True):
        """``a`` where fitted attributes live: X's namespace and dtype (a copy,
        unless ``copy=False`` and it is there already)."""
        xp = self.xp
        return xp.astype(move_to(a, xp, self.device), self.dtype, copy=copy)

    def _targets(self):
        if self._Y is None:
            self._Y = self.xp.asarray(
                encoded_targets(self.y_enc, self.loss.n_rows),
                dtype=self.dtype,
                device=self.device,
            )
        return self._Y

    def _training_weights(self):
        """The sample weights, zero outside the training rows."""
        if self.rows is None:
            return self.sample_weight
        mask = np.zeros(self.X.shape[0], dtype=bool)
        mask[self.rows] = True
        return np.where(mask, self.sample_weight, 0.0)

    def column_stats(self, compiled=False):
        """Column moments (sums, sums of squares, spreads, total weight),
        checking X is finite.

        SGD validates X with ``ensure_all_finite=False`` and checks it here,
        in the pass that computes the column sums (one pass over X fewer);
        where that pass cannot vouch for X, scikit-learn's own check runs and
        raises its usual error. ``compiled``: sparse X's sums from the
        compiled pass (see :func:`~._solvers._scaling.column_moments`).
        """
        moments, surely_finite = column_moments(
            self.X, self._training_weights(), check_finite=True, compiled=compiled
        )
        if not surely_finite:
            assert_all_finite(
                self.X, estimator_name=self.estimator_name, input_name="X"
            )
        if not np.all(np.isfinite(moments.m2)):  # finite, squares overflow
            moments = column_moments(self.X, self._training_weights(), in_float64=True)
            if not np.all(np.isfinite(moments.m2)):  # in float64 too
                raise ValueError(
                    "X has values too large to train on: their squares overflow "
                    "float64. Scale the data (e.g. StandardScaler)."
                )
        return moments

    def host_sample(self):
        """Up to 1,000 evenly spaced training rows on the host (float64;
        sparse stays sparse), and their weights."""
        Xs, sampled = curvature_sample(self.X)
        return Xs, self._training_weights()[sampled]

    def row_nnz(self):
        """The mean number of stored values a row of sparse X; None (dense)."""
        if not sp.issparse(self.X):
            return None
        return self.X.nnz / max(self.X.shape[0], 1)

    def sample_loss(self, coef, weights_of=None):
        """:func:`sample_loss` on up to 1,000 evenly spaced training rows."""
        rows = np.arange(self.X.shape[0]) if self.rows is None else self.rows
        rows = rows[sample_rows(rows.shape[0])]
        Xs = _take_rows(self.X, rows)
        if sp.issparse(Xs):
            Xs = Xs.astype(np.float64)
        else:
            Xs = np.asarray(to_numpy(Xs), dtype=np.float64)
        ws = self.sample_weight[rows]
        return sample_loss(self.loss, coef, Xs, self.y_enc[rows], ws, weights_of)

    def loss_gradient(self, coef, alpha):
        """The objective and its gradient at the float64 host vector ``coef``."""
        xp = self.xp
        # only the parameter vector and the gradient cross host <-> device
        value, grad = self.loss.loss_gradient(
            xp.asarray(coef, dtype=self.dtype, device=self.device),
            self.X,
            self._targets(),
            xp.asarray(self.sample_weight, dtype=self.dtype, device=self.device),
            alpha,
            xp,
        )
        return float(value), np.asarray(to_numpy(grad), dtype=np.float64)

    def loss_sum(self, coef):
        """``(sum_i s_i loss_i, sum_i s_i)`` at ``coef`` over the training rows
        (host floats), 8,192 rows at a time."""
        total, weight = self._loss_total(coef)
        return float(total), weight

    def _loss_total(self, coef):
        """:meth:`loss_sum` with the sum left where the data computes."""
        xp = self.xp
        coef = xp.asarray(coef, dtype=self.dtype, device=self.device)
        rows = np.arange(self.X.shape[0]) if self.rows is None else self.rows
        Y = self._targets()
        total = weight = 0.0
        for start in range(0, rows.shape[0], 8192):
            idx = rows[start : start + 8192]
            sw = self.sample_weight[idx]
            if not np.sum(sw):
                continue
            host = isinstance(self.X, np.ndarray) or sp.issparse(self.X)
            idx_dev = idx if host else xp.asarray(idx, device=self.device)
            mean = self.loss.loss(
                coef,
                _take_rows(self.X, idx),
                xp.take(Y, idx_dev, axis=0),
                xp.asarray(sw, dtype=self.dtype, device=self.device),
                xp=xp,
            )
            if host:
                mean = float(mean)
            total = total + mean * float(np.sum(sw))
            weight += float(np.sum(sw))
        return total, weight

    def evaluate(self, coef=None, view=None):
        """Each row's loss and whether it is predicted right, under ``coef``
        or, for sparse rows, ``view``: ``(W, b)`` the weights of the columns
        they use (:meth:`used_columns`) and the intercepts (what a model kept
        in pieces gives without assembling its whole ``coef``). Returns host
        float64 ``(losses, correct, weights)``, the last the rows' weights.
        Early stopping's scoring of every epoch: the row blocks are cut once
        (sparse ones on their columns)."""
        xp = self.xp
        blocks, used = self._scoring_blocks(), self._used
        if view is None:
            coef = xp.asarray(coef, dtype=self.dtype, device=self.device)
            W, b = self.loss.unpack(coef, xp)
            if used is not None:  # the columns the blocks are renumbered into
                W = W[:, used]
        else:
            W, b = (
                None
                if a is None
                else xp.asarray(a, dtype=self.dtype, device=self.device)
                for a in view
            )
        losses, correct = [], []
        for Xb, Yb, labels in blocks:
            if labels is not None:  # scored by the compiled pass
                pair = compiled_losses(self.loss, Xb, labels, W, b)
                losses.append(pair[0])
                correct.append(pair[1])
                continue
            Z = logits(Xb, W, b, compacted=used is not None)
            pair = xp.stack(
                [
                    self.loss.losses_from_logits(Z, Yb, xp),
                    self.loss.correct_from_logits(Z, Yb, xp),
                ]
            )
            pair = np.asarray(to_numpy(pair), dtype=np.float64)  # one read a block
            losses.append(pair[0])
            correct.append(pair[1])
        rows = np.arange(self.X.shape[0]) if self.rows is None else self.rows
        return np.concatenate(losses), np.concatenate(correct), self.sample_weight[rows]

    def used_columns(self):
        """The sorted columns sparse rows use (None: dense rows, or most
        columns used), the columns of :meth:`evaluate`'s ``view``."""
        self._scoring_blocks()
        return self._used

    def _scoring_blocks(self):
        """``(X, Y, labels)`` of blocks of 8,192 rows, cut once; sparse rows
        on the columns they use (all blocks on the same ones, ``_used``);
        ``labels`` the rows' :func:`~._loss.row_labels` where the compiled
        pass scores the block (``compiled_scoring`` and
        :func:`~._loss.scores_compiled`), else None."""
        if self._blocks is None:
            rows = np.arange(self.X.shape[0]) if self.rows is None else self.rows
            Y, xp = self._targets(), self.xp
            host = isinstance(self.X, np.ndarray) or sp.issparse(self.X)
            X, self._used = self.X, None
            if sp.issparse(X):
                X, self._used = compact_columns(
                    X if self.rows is None else _take_rows(X, rows)
                )
            self._blocks = []
            for start in range(0, rows.shape[0], 8192):
                idx = rows[start : start + 8192]
                if sp.issparse(X) or self.rows is None:  # a view of its rows
                    # (2-D and in bounds: what the array API accepts)
                    Xb = X[start : start + idx.shape[0], :]
                else:
                    Xb = _take_rows(X, idx)
                idx_dev = idx if host else xp.asarray(idx, device=self.device)
                Yb, labels = xp.take(Y, idx_dev, axis=0), None
                if self.compiled_scoring and scores_compiled(Xb, self.loss.n_rows):
                    labels = row_labels(Yb)
                self._blocks.append((Xb, Yb, labels))
        return self._blocks

    def objective(self, coef, l2, l1):
        """The objective at ``coef`` over the training rows: the mean weighted
        loss plus ``l2 * ||W||^2 / 2 + l1 * ||W||_1`` (a host float, read once
        from where the data computes)."""
        total, weight = self._loss_total(coef)
        xp = self.xp
        w = xp.asarray(coef, dtype=self.dtype, device=self.device)
        w = w[: self.loss.n_rows * self.loss.n_features]
        penalty = 0.5 * l2 * xp.sum(w * w) if l2 else 0.0
        if l1:
            penalty = penalty + l1 * xp.sum(xp.abs(w))
        if isinstance(w, np.ndarray):
            return total / weight + float(penalty)
        return float(total / weight + penalty)

    def loss_gradient_sums(self, coef):
        """Unnormalised ``(loss_sum, grad_sum, weight_sum)`` (host float64)."""
        xp = self.xp
        loss_sum, grad, weight_sum = self.loss.sum_loss_gradient(
            xp.asarray(np.asarray(coef), dtype=self.dtype, device=self.device),
            self.X,
            self._targets(),
            xp.asarray(self.sample_weight, dtype=self.dtype, device=self.device),
            xp,
        )
        return (
            float(loss_sum),
            np.asarray(to_numpy(grad), dtype=np.float64),
            float(weight_sum),
        )

    def pass_rows(self):
        """The training rows as a pass reads them (:class:`Rows`), made once."""
        if self._rows is None:
            weights = self.sample_weight
            covered = weights if self.rows is None else weights[self.rows]
            uniform = np.all(covered == covered[0])
            self._rows = Rows(
                self.X,
                self._targets(),
                None if uniform else weights,
                self.rows,
                self.loss,
                {},
                float(np.sum(covered)) / covered.shape[0],
            )
        return self._rows

    def fold(self, fn, carry, rng, shuffle, ship=None):
        """``fn(carry, rows, rng, span)`` over the training rows, in one go
        (``span``: the whole epoch; ``shuffle`` and ``ship`` matter to data
        in chunks)."""
        return fn(carry, self.pass_rows(), rng, (0.0, 1.0))

    def fold_parallel(self, fn, carry, rng, shuffle, ship=None, combine=None):
        """A data-parallel pass over rows held in one part: :meth:`fold`
        (there is nothing to run side by side, or to ``combine``)."""
        return self.fold(fn, carry, rng, shuffle, ship)

    def split(self, fraction, rng, compiled=False):
        """Early stopping's ``(train, validation)`` parts (stratified).

        The training part reads ``X``'s rows in place; the validation part is
        a copy (small). The training part's ``whole`` is both parts' rows
        (zero weights left out of it too), for the split's rows to rejoin
        the training. ``compiled``: the rows' keys from the compiled pass
        (see :func:`~sk_softmax._split.make_validation_split`).
        """
        train_idx, val_idx = make_validation_split(
            self.X,
            self.y_enc,
            self.sample_weight,
            fraction,
            rng,
            self.classes,
            compiled=compiled,
        )
        common = dict(classes=self.classes, estimator_name=self.estimator_name)
        args = (self.X, self.y_enc, self.sample_weight, self.loss)
        train = InMemoryData(*args, rows=train_idx, **common)
        both = np.sort(np.concatenate([train_idx, val_idx]))
        train.whole = InMemoryData(*args, rows=both, **common)
        validation = InMemoryData(
            _take_rows(self.X, val_idx),
            self.y_enc[val_idx],
            self.sample_weight[val_idx],
            self.loss,
            **common,
        )
        validation.compiled_scoring = compiled
        return train, validation

    def correct_counts(self, coef):
        """Weighted count of correct predictions of ``coef``, and the weight."""
        X, y_enc, weights = self.X, self.y_enc, self.sample_weight
        if self.rows is not None:
            X = _take_rows(X, self.rows)
            y_enc, weights = y_enc[self.rows], weights[self.rows]
        xp = self.xp
        coef = xp.asarray(coef, dtype=self.dtype, device=self.device)
        Z = self.loss.raw_prediction(coef, X, xp)
        if Z.shape[1] == 1:
            pred = to_numpy(xp.reshape(Z, (-1,)) > 0).astype(np.intp)
        else:
            pred = to_numpy(xp.argmax(Z, axis=1))
        correct = (pred == y_enc).astype(np.float64)
        return float(np.sum(correct * weights)), float(np.sum(weights))

    def score(self, coef, metric):
        """``metric`` ("accuracy" or "log_loss") of the parameters ``coef``
        on these rows (weighted)."""
        if metric == "accuracy":
            correct, weight = self.correct_counts(coef)
            return score_from_sums(metric, correct, 0.0, weight)
        loss_sum, weight = self.loss_sum(coef)
        return score_from_sums(metric, 0.0, loss_sum, weight)


def _take_rows(X, rows):
    """Rows ``rows`` (host integer array) of ``X``, in ``X``'s namespace."""
    if is_numpy_array(X) or sp.issparse(X):
        return X[rows]
    xp = get_namespace(X)
    return xp.take(X, xp.asarray(rows, device=device(X)), axis=0)
