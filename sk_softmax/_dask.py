"""Training and predicting on Dask arrays (``pip install sk_softmax[dask]``).

Only this module imports Dask, and only when :meth:`fit` or a ``predict*``
method meets a Dask collection (see ``_classifier._is_dask_collection``).

Full-batch solvers (``cg``, ``lbfgs``)
    ``X``, the encoded targets and the sample weights are persisted once, row
    chunk by row chunk. Every objective evaluation sends the flat parameter
    vector to the chunks, computes :meth:`SoftmaxLoss.sum_loss_gradient` where
    each chunk lives and adds the per-chunk sums with a tree reduction; only
    ``(loss_sum, grad_sum, weight_sum)`` comes back to the driver, which adds
    the penalty and hands the result to the same SciPy driver as the
    in-memory fit.

SGD
    One task per chunk and epoch, chained: the optimiser state (parameters,
    momentum, step counters: a few vectors of ``n_coef``) travels from chunk
    to chunk in a shuffled chunk order and each chunk's minibatches run where
    the chunk lives, in shuffled order within the chunk. Early stopping holds
    out a random part of every chunk (a Dask array too) and scores it with the
    same map-and-sum pattern.
"""

import numpy as np

from ._backend import get_namespace, to_numpy
from ._early_stopping import SGDStopping
from ._loss import SoftmaxLoss
from ._solvers._scipy import minimize_scipy
from ._solvers._sgd import (
    SGDState,
    sample_rows,
    sgd_epoch,
    sgd_scaling,
)


class DaskFitError(RuntimeError):
    """A Dask computation failed during ``fit``; the estimator was left unchanged."""


# --------------------------------------------------------------- helpers
def _tree_sum(parts):
    """Pairwise (tree) sum of delayed tuples of additive terms."""
    import dask

    add = dask.delayed(_add_sums, pure=True)
    while len(parts) > 1:
        parts = [
            add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def _add_sums(a, b):
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _chunk_sums(loss, coef, X, Y, sw):
    """``(loss_sum, grad_sum, weight_sum)`` of one chunk, as float64 on host."""
    xp = get_namespace(X)
    coef_xp = xp.asarray(np.asarray(coef), dtype=X.dtype)  # e.g. onto a GPU
    loss_sum, grad, weight_sum = loss.sum_loss_gradient(coef_xp, X, Y, sw, xp)
    return (
        float(loss_sum),
        np.asarray(to_numpy(grad), dtype=np.float64),
        float(weight_sum),
    )


def _chunk_correct(loss, coef, X, y_enc, sw, mask):
    """Weighted count of correct predictions on the ``mask`` rows, and their weight."""
    xp = get_namespace(X)
    rows = np.flatnonzero(to_numpy(mask))
    if rows.size == 0:
        return (0.0, 0.0)
    Xr = X[rows] if isinstance(X, np.ndarray) else xp.take(X, xp.asarray(rows), axis=0)
    coef_xp = xp.asarray(np.asarray(coef), dtype=X.dtype)
    Z = loss.raw_prediction(coef_xp, Xr, xp)
    if Z.shape[1] == 1:
        pred = to_numpy(xp.reshape(Z, (-1,)) > 0).astype(np.intp)
    else:
        pred = to_numpy(xp.argmax(Z, axis=1))
    w = np.asarray(to_numpy(sw), dtype=np.float64)[rows]
    y = np.asarray(to_numpy(y_enc))[rows]
    return (float(np.sum((pred == y) * w)), float(np.sum(w)))


def _encode_block(y, classes):
    return np.searchsorted(classes, np.asarray(y))


def _onehot_block(y_enc, n_rows, dtype):
    if n_rows == 1:
        return (y_enc == 1)[:, None].astype(dtype)
    return (y_enc[:, None] == np.arange(n_rows)[None, :]).astype(dtype)


def _weight_block(sw, y_enc, class_weight, dtype):
    out = np.ones(y_enc.shape[0]) if sw is None else np.asarray(sw, dtype=np.float64)
    if class_weight is not None:
        out = out * class_weight[y_enc]
    return out.astype(dtype)


def _unit_weight_block(y_enc, class_weight, dtype):
    return _weight_block(None, y_enc, class_weight, dtype)


def _as_dask_rows(v, chunks, name):
    """``v`` (Dask or array-like) as a 1-D Dask array chunked like ``X``'s rows."""
    import dask.array as da

    if not hasattr(v, "__dask_graph__"):
        v = da.from_array(np.asarray(v), chunks=(chunks,))
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got {v.ndim} dimensions.")
    if v.shape[0] != sum(chunks):
        raise ValueError(
            f"{name} has {v.shape[0]} entries but X has {sum(chunks)} rows."
        )
    return v.rechunk((chunks,))


def _check_X(estimator, X, reset):
    """A 2-D floating Dask array with one chunk along the features."""
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(
            f"Only dask.array.Array input is supported; got {type(X).__name__}. "
            "Convert a Dask DataFrame with .to_dask_array(lengths=True)."
        )
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D Dask array; got {X.ndim} dimensions.")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if reset:
        estimator.n_features_in_ = X.shape[1]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    return X.rechunk({1: -1})


# ------------------------------------------------------------------ fit
def fit_dask(estimator, X, y, sample_weight=None):
    """Fit ``estimator`` on Dask arrays; called by ``SoftmaxRegressionClassifier.fit``.

    Parameters
    ----------
    estimator : SoftmaxRegressionClassifier
        The estimator to fit (its parameters already validated).
    X : dask.array.Array of shape (n_samples, n_features)
        Training data, chunked by rows (any column chunking is merged).
    y : dask.array.Array or array-like of shape (n_samples,)
        Labels; rechunked like ``X``'s rows.
    sample_weight : dask.array.Array or array-like of shape (n_samples,), default=None
        Non-negative weights.

    Returns
    -------
    estimator : SoftmaxRegressionClassifier
        The fitted estimator. If a Dask computation fails (e.g. a worker is
        lost beyond what the scheduler can recover), :class:`DaskFitError` is
        raised and the fitted attributes are those from before the call.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.datasets import load_iris
    >>> from sk_softmax import SoftmaxRegressionClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> Xd, yd = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    >>> clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(Xd, yd)
    >>> clf.classes_
    array([0, 1, 2])
    """
    import dask.array as da

    # validated on a copy of the fitted-attribute state: a failure leaves it
    saved = {k: v for k, v in vars(estimator).items() if k.endswith("_")}
    try:
        X = _check_X(estimator, X, reset=True)
        row_chunks = X.chunks[0]
        y = _as_dask_rows(y, row_chunks, "y")
        if sample_weight is not None:
            sample_weight = _as_dask_rows(sample_weight, row_chunks, "sample_weight")
        try:
            classes = np.asarray(da.unique(y).compute())
        except Exception as exc:
            raise DaskFitError(f"Computing the classes failed: {exc!r}") from exc
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(estimator).__name__} needs samples of at least 2 classes in "
                "the data, but the data contains only one class: "
                f"{classes.tolist()[0]!r}."
            )
        y_enc = y.map_blocks(_encode_block, classes, dtype=np.intp)
        class_weight = _class_weight(estimator, classes, y_enc)
        dtype = X.dtype
        if sample_weight is None:
            sw = y_enc.map_blocks(_unit_weight_block, class_weight, dtype, dtype=dtype)
        else:
            sw = da.map_blocks(
                _weight_block, sample_weight, y_enc, class_weight, dtype, dtype=dtype
            )
        loss = SoftmaxLoss(classes.shape[0], X.shape[1], estimator.fit_intercept)
        coef0 = None
        if estimator.warm_start and estimator._can_warm_start(classes, X.shape[1]):
            coef0 = np.asarray(
                to_numpy(estimator._packed_coef(loss, np, np.float64, None)),
                dtype=np.float64,
            )
        try:
            if estimator.solver == "sgd":
                result = _fit_sgd(estimator, X, y_enc, sw, loss, classes, coef0)
            else:
                result = _fit_full_batch(estimator, X, y_enc, sw, loss, coef0)
        except (ValueError, DaskFitError):
            raise
        except Exception as exc:
            raise DaskFitError(
                f"The Dask computation failed during fit ({type(exc).__name__}: "
                f"{exc}); the estimator was left unchanged. If a worker died, "
                "retry the fit once the cluster has recovered."
            ) from exc
        estimator._set_fitted(result, loss, classes, np, dtype)
    except BaseException:
        for k in [k for k in vars(estimator) if k.endswith("_")]:
            if k not in saved:
                delattr(estimator, k)
        vars(estimator).update(saved)
        raise
    return estimator


def _class_weight(estimator, classes, y_enc):
    """Per-class weight vector (float64) or None, from one pass of counts."""
    from sklearn.utils.class_weight import compute_class_weight

    cw = estimator.class_weight
    if cw is None:
        return None
    if isinstance(cw, str):  # "balanced": n_samples / (n_classes * count)
        import dask.array as da

        counts = da.bincount(y_enc, minlength=classes.shape[0]).compute()
        return counts.sum() / (classes.shape[0] * counts.astype(np.float64))
    return compute_class_weight(cw, classes=classes, y=classes)


def _blocks(*arrays):
    """Per-chunk delayed objects of row-chunked Dask arrays, zipped."""
    return list(zip(*[a.to_delayed().ravel() for a in arrays], strict=True))


def _broadcast(value):
    """``value`` sent once to every worker when computing on a distributed Client."""
    import dask

    client = getattr(dask.base.get_scheduler(), "__self__", None)
    if type(client).__name__ != "Client" or not hasattr(client, "scatter"):
        return value  # local schedulers share the driver's memory
    return client.scatter(value, broadcast=True, hash=False)


def _fit_full_batch(estimator, X, y_enc, sw, loss, coef0):
    import dask

    n_rows = loss.n_rows
    Y = y_enc.map_blocks(
        _onehot_block,
        n_rows,
        X.dtype,
        dtype=X.dtype,
        new_axis=1,
        chunks=(
            y_enc.chunks[0],
            (n_rows,),
        ),
    )
    X, Y, sw = dask.persist(X, Y, sw)  # read / computed once, kept where they are
    weight_total = float(sw.sum().compute())
    if not weight_total > 0:
        raise ValueError(
            "The sample weights sum to zero (after class_weight): at least one "
            "sample needs a positive weight."
        )
    blocks = _blocks(X, Y, sw)
    chunk_sums = dask.delayed(_chunk_sums, pure=True)
    alpha = estimator.alpha

    def objective(coef):
        coef_remote = _broadcast(np.asarray(coef, dtype=np.float64))
        parts = [chunk_sums(loss, coef_remote, *b) for b in blocks]
        (loss_sum, grad_sum, weight_sum) = dask.compute(_tree_sum(parts))[0]
        pen, pen_grad = loss.penalty_gradient(coef, alpha, np)
        value = loss_sum / weight_sum + float(pen)
        return value, grad_sum / weight_sum + pen_grad

    x0 = np.zeros(loss.n_coef) if coef0 is None else coef0
    result = minimize_scipy(
        estimator.solver,
        objective,
        x0,
        tol=estimator.tol,
        max_iter=estimator.max_iter,
        verbose=estimator.verbose,
    )
    return {"coef": result.coef, "n_iter": result.n_iter}


# ------------------------------------------------------------------ SGD
def _val_mask_block(y_enc, fraction, seed, block_id=None):
    rng = np.random.default_rng([seed, block_id[0]])
    return rng.random(y_enc.shape[0]) < fraction


def _chunk_epoch(carry, estimator, loss, X, y_enc, sw, mask, seed, span):
    """One pass of minibatch SGD over one chunk's training rows, where it lives.

    ``carry = (state, loss_sum, weight_sum)`` travels from chunk to chunk
    (float64 host vectors); the chunk's own minibatches run in shuffled order.
    ``span`` is the chunk's share of the epoch (for the "linear" schedule).
    """
    state, loss_acc, weight_acc = carry
    xp = get_namespace(X)
    rows = None if mask is None else np.flatnonzero(~np.asarray(to_numpy(mask)))
    sw_host = np.asarray(to_numpy(sw), dtype=np.float64)
    if rows is not None and rows.size == 0:
        return state, loss_acc, weight_acc
    Y = xp.asarray(_onehot_block(np.asarray(to_numpy(y_enc)), loss.n_rows, X.dtype))
    epoch = state.epoch
    work = state.copy(xp) if not isinstance(X, np.ndarray) else state.copy(np)
    work.coef = xp.astype(xp.asarray(work.coef), X.dtype)
    if work.velocity is not None:
        work.velocity = xp.astype(xp.asarray(work.velocity), X.dtype)
    work.precond = xp.astype(xp.asarray(work.precond), X.dtype)
    train_w = sw_host if rows is None else sw_host[rows]
    uniform = bool(np.all(train_w == train_w[0]))
    chunk_loss = sgd_epoch(
        loss,
        work,
        X,
        Y,
        None if uniform else sw_host,
        rng=np.random.RandomState(seed),
        rows=rows,
        span=span,
        **estimator._sgd_options(xp, None),
    )
    out = work.to_numpy()
    out.coef = out.coef.astype(np.float64)
    if out.velocity is not None:
        out.velocity = out.velocity.astype(np.float64)
    out.precond = np.asarray(state.precond)
    out.epoch = epoch  # one epoch is a pass over all chunks, counted by the driver
    w = float(np.sum(train_w))
    return out, loss_acc + chunk_loss * w, weight_acc + w


def _col_sq_block(X, sw, mask):
    """``sum_i s_i x_i**2`` per feature and ``sum_i s_i`` over training rows."""
    xp = get_namespace(X)
    w = np.asarray(to_numpy(sw), dtype=np.float64)
    if mask is not None:
        w = np.where(np.asarray(to_numpy(mask)), 0.0, w)
    acc = xp.sum(X * X * xp.asarray(w[:, None], dtype=X.dtype), axis=0)
    return (np.asarray(to_numpy(acc), dtype=np.float64), float(np.sum(w)))


def _initial_state(estimator, X, sw, mask, loss, coef0, max_rows=1000):
    """SGD state with the preconditioner of :func:`sgd_scaling` from all chunks.

    The per-feature second moments come from one pass over every chunk (a
    feature that is zero in some chunk must not get an unbounded step); the
    automatic step size from power iteration on up to ``max_rows`` evenly
    spaced rows, as in memory.
    """
    import dask

    blocks = _blocks(X, sw, mask) if mask is not None else _blocks(X, sw)
    part = dask.delayed(_col_sq_block, pure=True)
    parts = [part(*b) if mask is not None else part(*b, None) for b in blocks]
    col_sq, total = dask.compute(_tree_sum(parts))[0]
    if not total > 0:
        raise ValueError(
            "The sample weights sum to zero (after class_weight): at least one "
            "sample needs a positive weight."
        )
    rows = sample_rows(X.shape[0], max_rows)
    Xs, ws = dask.compute(X[rows], sw[rows])
    precond_coef, eta0 = sgd_scaling(
        col_sq,
        total,
        np.asarray(to_numpy(Xs), dtype=np.float64),
        np.asarray(to_numpy(ws), dtype=np.float64),
        loss,
        estimator.alpha,
        estimator.learning_rate_init,
    )
    coef = np.zeros(loss.n_coef) if coef0 is None else np.array(coef0, np.float64)
    return SGDState(
        coef=coef,
        velocity=np.zeros_like(coef) if estimator.momentum else None,
        t=0,
        epoch=0,
        eta0=eta0,
        eta=eta0,
        precond=precond_coef,
        col_sq_sum=col_sq,
        weight_seen=total,
        horizon=estimator.max_iter,
    )


def _fit_sgd(estimator, X, y_enc, sw, loss, classes, coef0):

    import dask
    from sklearn.utils import check_random_state

    rng = check_random_state(estimator.random_state)
    X, y_enc, sw = dask.persist(X, y_enc, sw)
    n_chunks = len(X.chunks[0])
    early = estimator.early_stopping
    mask = None
    if early:
        mask = y_enc.map_blocks(
            _val_mask_block,
            estimator.validation_fraction,
            rng.randint(2**31 - 1),
            dtype=bool,
        )
        (mask,) = dask.persist(mask)
        # the held-out part, a Dask array like the data (scored where it lives)
        n_val = int(mask.sum().compute())
        if n_val == 0:
            raise ValueError(
                "Early stopping cannot hold out a validation set: "
                f"validation_fraction={estimator.validation_fraction} of "
                f"{X.shape[0]} samples selects none. Raise validation_fraction."
            )
    blocks = _blocks(X, y_enc, sw, mask) if early else _blocks(X, y_enc, sw)
    chunk_epoch = dask.delayed(_chunk_epoch, pure=False)
    correct = dask.delayed(_chunk_correct, pure=True)
    carry = (_initial_state(estimator, X, sw, mask, loss, coef0), 0.0, 0.0)
    loss_curve, val_scores = [], []
    stopping = SGDStopping(
        tol=estimator.tol,
        n_iter_no_change=estimator.n_iter_no_change,
        learning_rate=estimator.learning_rate,
        early_stopping=early,
    )
    stopper = stopping.validation
    converged = False
    chunk_rows = X.chunks[0]
    for _ in range(estimator.max_iter):
        order = rng.permutation(n_chunks) if estimator.shuffle else range(n_chunks)
        node = carry
        done = 0
        for i in order:
            b = blocks[i]
            m = b[3] if early else None
            # the chunk's share of the epoch, for the "linear" schedule
            span = (done / X.shape[0], (done + chunk_rows[i]) / X.shape[0])
            done += chunk_rows[i]
            node = chunk_epoch(
                node,
                estimator,
                loss,
                b[0],
                b[1],
                b[2],
                m,
                rng.randint(2**31 - 1),
                span,
            )
        if early:
            coef_node = dask.delayed(_carried_coef)(node)
            score_parts = [correct(loss, coef_node, *b) for b in blocks]
            carry, (hit, total) = dask.compute(node, _tree_sum(score_parts))
        else:
            (carry,) = dask.compute(node)
        state, loss_acc, weight_acc = carry
        state.epoch += 1
        carry = (state, 0.0, 0.0)
        epoch_loss = loss_acc / weight_acc
        estimator._check_finite(epoch_loss, state, loss.n_classes)
        loss_curve.append(epoch_loss)
        score = None
        if early:
            score = hit / total
            val_scores.append(score)
        if estimator.verbose:
            print(f"Epoch {state.epoch}: loss {epoch_loss:.6f}")
        if stopping.update(state, epoch_loss, score, np.copy) == "stop":
            converged = True
            break
    if not converged:
        stopping.warn_not_converged(estimator.max_iter, stacklevel=4)
    state.coef = state.coef.astype(X.dtype)
    state.precond = state.precond.astype(X.dtype)
    if state.velocity is not None:
        state.velocity = state.velocity.astype(X.dtype)
    result = {
        "coef": state.coef,
        "n_iter": state.epoch,
        "loss_curve": loss_curve,
        "best_loss": float(np.min(loss_curve)),
        "sgd_state": state,
        "random_state": rng,
    }
    if early:
        result["coef"] = stopper.best_coef
        state.coef = np.asarray(stopper.best_coef, dtype=X.dtype).copy()
        if state.velocity is not None:
            state.velocity = np.zeros_like(state.velocity)
        result["validation_scores"] = val_scores
        result["best_validation_score"] = stopper.best_score
    return result


def _carried_coef(carry):
    return carry[0].coef


# -------------------------------------------------------------- predict
def _predict_block(block, estimator, method):
    return getattr(estimator, method)(block)


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
    X = _check_X(estimator, X, reset=False)
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
    out_dtype = np.dtype(to_numpy(estimator.coef_).dtype)
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
