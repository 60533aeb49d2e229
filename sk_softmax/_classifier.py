"""The estimator: validation, label encoding and orchestration; no math here."""

import time
import warnings
from numbers import Integral, Real

import array_api_compat
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

try:  # scikit-learn >= 1.9: set_callbacks, ProgressBar, ScoringMonitor
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # older scikit-learn has no callback API: the same estimator

    class CallbackSupportMixin:
        """Stand-in for scikit-learn < 1.9, which has no ``sklearn.callback``."""

    def with_callbacks(method):
        return method


from ._backend import (
    BACKENDS,
    device,
    dispatch_enabled,
    get_namespace,
    is_cupy_array,
    is_numpy_array,
    move_to,
    require_cupy,
    resolve_backend,
    to_numpy,
)
from ._early_stopping import SGDStopping, make_validation_split
from ._loss import SoftmaxLoss, log_sigmoid, log_softmax
from ._solvers import minimize_scipy
from ._solvers._sgd import (
    LEARNING_RATES,
    SGDState,
    _BatchGather,
    column_sq_sums,
    curvature_sample,
    expand_preconditioner,
    preconditioner,
    sgd_epoch,
    sgd_scaling,
)

SOLVERS = ("sgd", "cg", "lbfgs")


def _sgd_only(estimator):
    return estimator.solver == "sgd"


class SoftmaxRegressionClassifier(CallbackSupportMixin, ClassifierMixin, BaseEstimator):
    """Multinomial logistic (softmax) regression.

    For ``K`` classes the model is ``P(y = k | x) = softmax(W x + b)_k`` with
    ``W`` of shape ``(K, n_features)`` and ``b`` of shape ``(K,)``. With two
    classes it is scikit-learn's binomial model (the first class's row fixed at
    zero): ``coef_`` has shape ``(1, n_features)`` and ``decision_function`` is
    1-D, exactly as :class:`~sklearn.linear_model.LogisticRegression`.

    Parameters
    ----------
    solver : {"sgd", "cg", "lbfgs"}, default="sgd"
        ``"sgd"``: minibatch stochastic gradient descent with momentum, optional
        early stopping and ``partial_fit``; the fast path on large data.
        ``"cg"``: SciPy's nonlinear conjugate gradient; ``"lbfgs"``: SciPy's
        L-BFGS-B. The full-batch solvers reach the exact optimum (the same
        model as ``LogisticRegression``) and suit small and medium data.
    alpha : float, default=1e-4
        Strength of the L2 penalty ``(alpha / 2) ||W||_F^2`` (intercept not
        penalised). Equivalent to ``LogisticRegression(C=1 / (alpha * S))``
        with ``S`` the sum of the sample weights.
    fit_intercept : bool, default=True
        Whether to fit the intercept ``b``.
    tol : float, default=1e-4
        Full-batch solvers: stop when the gradient's max-norm is below ``tol``.
        SGD: the minimum improvement of the training loss (or, with early
        stopping, of the validation score) that counts as progress.
    max_iter : int, default=100
        Maximum number of iterations (full-batch solvers) or epochs (SGD).
    class_weight : dict or "balanced", default=None
        Weights ``{label: weight}`` multiplying the sample weights of each
        class; ``"balanced"`` uses ``n_samples / (n_classes * bincount(y))``.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution (same classes and features).
    batch_size : int, default=256
        Minibatch size (SGD). The default was chosen by measurement on MNIST:
        it reaches 92.5% test accuracy as fast as 512 with fewer epochs, and
        is steadier than 128 (``benchmarks/bench_batch_size.py``).
    learning_rate : {"constant", "invscaling", "adaptive", "decay", "linear"}, \
            default="adaptive"
        Step-size schedule of SGD. ``"constant"``: ``learning_rate_init``.
        ``"invscaling"``: ``learning_rate_init / (t + 1) ** power_t`` for the
        ``t``-th update. ``"adaptive"``: constant while the stopping criterion
        keeps improving; divided by 5 each time ``n_iter_no_change`` epochs
        fail to improve by ``tol``. Training stops when a lowered rate brings
        no improvement before the patience runs out again, or once the rate
        falls below 1e-6 times its initial value. ``"decay"``:
        ``learning_rate_init / (epoch + 1) ** power_t``. ``"linear"``:
        decreases linearly, update by update, from ``learning_rate_init`` to
        zero at the end of ``max_iter`` epochs (or ``max_iter`` calls of
        ``partial_fit``; past them it stays at 1e-3 times its start). For a
        known budget of epochs: the last updates are the smallest, so the
        model ends close to the optimum even after a few epochs, and a
        larger ``learning_rate_init`` than "auto" often pays (see the user
        guide).
    learning_rate_init : float or "auto", default="auto"
        Initial step size of SGD. ``"auto"`` uses ``1 / L`` with ``L`` a bound on
        the loss's curvature computed from the data (see Notes), which is
        stable on unscaled data as well.
    power_t : float, default=0.5
        Exponent of the "invscaling" and "decay" schedules.
    momentum : float, default=0.9
        Momentum of the SGD updates, in ``[0, 1)``.
    nesterov : bool, default=False
        Whether to use Nesterov's momentum.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data,
        score it (accuracy) after every epoch, stop after ``n_iter_no_change``
        epochs without an improvement of ``tol``, and restore the weights of
        the best epoch. SGD only.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Patience of the SGD stopping criterion, in epochs.
    shuffle : bool, default=True
        Whether SGD shuffles the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling and the validation split. An int gives bit-identical
        models from run to run.
    verbose : int, default=0
        SGD: print one line per epoch with the training loss, the validation
        score (with early stopping), the learning rate and the epoch's time.
        Full-batch solvers: SciPy's progress messages.
    backend : {"auto", "numpy", "cupy"}, default="auto"
        Where to compute. ``"auto"`` follows scikit-learn: with
        ``sklearn.set_config(array_api_dispatch=True)`` the fit runs in the
        namespace and on the device of ``X`` (CuPy, PyTorch, ...), otherwise
        with NumPy; it never moves data to a GPU by itself. ``"cupy"``: on the
        current CUDA device whatever the dispatch setting (NumPy input is
        moved there for the fit; needs ``pip install "sk_softmax[gpu]"``).
        ``"numpy"``: always on the host. ``coef_`` and ``intercept_`` live
        where the fit ran; prediction outputs follow the input's namespace and
        device. See :doc:`/gpu`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights ``W`` (one row for two classes).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts ``b`` (zeros when ``fit_intercept=False``).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during ``fit``, when ``X`` has string column names.
    n_iter_ : int
        Iterations (full-batch) or epochs (SGD) run.
    loss_curve_ : list of float
        SGD: training loss per epoch.
    best_loss_ : float
        SGD: lowest training loss reached.
    validation_scores_ : list of float
        SGD with early stopping: validation accuracy per epoch.
    best_validation_score_ : float
        SGD with early stopping: best validation accuracy (its weights are the
        ones kept).
    t_ : int
        SGD: number of minibatch updates.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : Exact multinomial logistic
        regression (the same model as ``solver="lbfgs"`` here).
    sklearn.linear_model.SGDClassifier : One-vs-rest linear models trained one
        sample at a time.

    Notes
    -----
    With ``s_i`` the product of sample and class weights and ``S = sum_i s_i``,
    the objective minimised is

    .. math::

        L(W, b) = \\frac{1}{S} \\sum_i s_i
        \\left(-\\log \\mathrm{softmax}(W x_i + b)_{y_i}\\right)
        + \\frac{\\alpha}{2} \\lVert W \\rVert_F^2 .

    Log-probabilities are computed with log-sum-exp, so huge logits never
    overflow. ``learning_rate_init="auto"`` uses ``1 / (c E_s[||x||^2 + 1] +
    alpha)`` with ``c = 1/2`` (``1/4`` for two classes), a bound on the
    curvature of ``L``.

    With scikit-learn 1.9 or later, ``set_callbacks`` accepts the callbacks of
    :mod:`sklearn.callback` (``ProgressBar``, ``ScoringMonitor``, ...) for
    every solver: ``fit`` and ``partial_fit`` are the root task and each SGD
    epoch or SciPy iteration a subtask, whose ``fitted_estimator`` is the
    model as it stands after it. A callback that asks to stop ends SGD after
    the current epoch (the SciPy solvers run to their own end). Older
    scikit-learn versions work as well, without ``set_callbacks``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sk_softmax import SoftmaxRegressionClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1e-3).fit(X, y)
    >>> clf.coef_.shape
    (3, 4)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> round(clf.score(X, y), 2)
    0.99
    """

    _parameter_constraints = {
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(LEARNING_RATES))],
        "learning_rate_init": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterov": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "backend": [StrOptions(set(BACKENDS))],
    }

    def __init__(
        self,
        *,
        solver="sgd",
        alpha=1e-4,
        fit_intercept=True,
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        warm_start=False,
        batch_size=256,
        learning_rate="adaptive",
        learning_rate_init="auto",
        power_t=0.5,
        momentum=0.9,
        nesterov=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        shuffle=True,
        random_state=None,
        verbose=0,
        backend="auto",
    ):
        self.solver = solver
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.momentum = momentum
        self.nesterov = nesterov
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data is fitted in float32.
        y : array-like of shape (n_samples,)
            Class labels (any labels scikit-learn accepts).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; ``None`` means all ones.

        Returns
        -------
        self : SoftmaxRegressionClassifier
            The fitted estimator.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sk_softmax import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y).n_features_in_
        4
        """
        if _is_dask_collection(X):
            from ._dask import fit_dask

            return fit_dask(self, X, y, sample_weight)
        # SGD checks X's finiteness with its preconditioner (one pass fewer)
        X, y = self._validate_fit_data(
            X, y, reset=True, defer_finite=self.solver == "sgd"
        )
        classes, y_enc = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes.tolist()[0]!r}."
            )
        user_sample_weight = sample_weight
        sample_weight = self._sample_weight(sample_weight, X, y_enc, classes)
        loss = SoftmaxLoss(classes.shape[0], X.shape[1], self.fit_intercept)
        xp = get_namespace(X)
        coef0 = None
        if self.warm_start and self._can_warm_start(classes, X.shape[1]):
            coef0 = self._packed_coef(loss, xp, X.dtype, device(X))
        callbacks = _FitCallbacks(
            self,
            X,
            y,
            user_sample_weight,
            loss,
            classes,
            # SciPy: one more (empty) subtask begins after the last iteration
            max_subtasks=self.max_iter + (self.solver != "sgd"),
            task_name="epoch" if self.solver == "sgd" else f"{self.solver} iteration",
        )
        if self.solver == "sgd":
            result = self._fit_sgd(
                X, y_enc, sample_weight, loss, classes, xp, coef0, callbacks
            )
        else:
            result = self._fit_full_batch(
                X, y_enc, sample_weight, loss, xp, coef0, callbacks
            )
        self._set_fitted(result, loss, classes, xp, X.dtype, device(X))
        callbacks.end_fit()
        return self

    def _validate_fit_data(self, X, y, reset, defer_finite=False):
        """Validate ``(X, y)`` where the backend computes; labels come back on host.

        NumPy input stays NumPy; with ``backend="cupy"`` input that is not CuPy
        is validated on the host and then moved to the current CUDA device; with
        dispatch, input of another array namespace is validated where it lives.
        ``defer_finite=True`` leaves X's NaN / infinity check to the caller
        (SGD: :meth:`_column_moments`, before any training).
        """
        kind = resolve_backend(self.backend, X)
        params = dict(
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            reset=reset,
            ensure_all_finite=not defer_finite,
        )
        if kind == "numpy":
            X = to_numpy(X) if array_api_compat.is_array_api_obj(X) else X
            with sklearn.config_context(array_api_dispatch=False):
                X, y = validate_data(self, X, to_numpy(y), **params)
        elif kind == "cupy" and not is_cupy_array(X):
            # host input (or another namespace's): validated on the host, moved
            X = to_numpy(X) if array_api_compat.is_array_api_obj(X) else X
            with sklearn.config_context(array_api_dispatch=False):
                X, y = validate_data(self, X, to_numpy(y), **params)
            if sp.issparse(X):
                raise TypeError(
                    'backend="cupy" does not support SciPy sparse input; pass a '
                    'dense array or use backend="numpy".'
                )
            X = require_cupy().asarray(X)
        else:  # X's own namespace, through scikit-learn's array API dispatch
            xp = get_namespace(X)
            params["dtype"] = [xp.float64, xp.float32]
            with sklearn.config_context(array_api_dispatch=True):
                X, y = validate_data(self, X, y, **params)
        y = np.asarray(to_numpy(y))
        check_classification_targets(y)
        return X, y

    def _sample_weight(self, sample_weight, X, y_enc, classes, check_total=True):
        """``s_i = sample_weight_i * class_weight[y_i]`` as float64 NumPy."""
        n_samples = X.shape[0]
        if sample_weight is None:
            sw = np.ones(n_samples, dtype=np.float64)
        else:
            sw = np.asarray(to_numpy(sample_weight), dtype=np.float64)
            if sw.ndim == 0:
                sw = np.full(n_samples, float(sw))
            if sw.ndim != 1 or sw.shape[0] != n_samples:
                raise ValueError(
                    f"sample_weight must have shape ({n_samples},) like X's rows; "
                    f"got shape {sw.shape}."
                )
            if not np.all(np.isfinite(sw)):
                raise ValueError("sample_weight contains NaN or infinity.")
            if np.any(sw < 0):
                raise ValueError(
                    "sample_weight must be non-negative; got a minimum of "
                    f"{sw.min()!r}."
                )
        if self.class_weight is not None:
            cw = compute_class_weight(
                self.class_weight, classes=classes, y=classes[y_enc]
            )
            sw = sw * cw[y_enc]
        if check_total and not np.sum(sw) > 0:
            raise ValueError(
                "The sample weights sum to zero (after class_weight): at least one "
                "sample needs a positive weight."
            )
        return sw

    def _can_warm_start(self, classes, n_features):
        return (
            hasattr(self, "coef_")
            and np.array_equal(self.classes_, classes)
            and self.coef_.shape[1] == n_features
        )

    def _packed_coef(self, loss, xp, dtype, dev):
        """The fitted ``coef_`` / ``intercept_`` as a flat vector (loss layout)."""
        W = xp.astype(move_to(self.coef_, xp, dev), dtype, copy=True)
        b = xp.astype(move_to(self.intercept_, xp, dev), dtype, copy=True)
        return loss.pack(W, b, xp)

    def _targets(self, y_enc, loss, xp, dtype, device=None):
        """Encoded targets ``Y`` of shape (n_samples, n_rows) (see ``_loss``)."""
        y_enc = np.asarray(y_enc)
        if loss.n_rows == 1:
            Y = (y_enc == 1)[:, None]
        else:
            Y = y_enc[:, None] == np.arange(loss.n_rows)[None, :]
        return xp.asarray(Y.astype(np.float64), dtype=dtype, device=device)

    def _fit_full_batch(self, X, y_enc, sample_weight, loss, xp, coef0, callbacks=None):
        dtype = X.dtype
        dev = device(X)
        Y = self._targets(y_enc, loss, xp, dtype, dev)
        sw = xp.asarray(sample_weight, dtype=dtype, device=dev)
        alpha = self.alpha

        def objective(coef):
            # only the parameter vector and the gradient cross host <-> device
            coef_xp = xp.asarray(coef, dtype=dtype, device=dev)
            value, grad = loss.loss_gradient(coef_xp, X, Y, sw, alpha, xp)
            return float(value), np.asarray(to_numpy(grad), dtype=np.float64)

        if coef0 is None:
            x0 = np.zeros(loss.n_coef, dtype=np.float64)
        else:
            x0 = np.asarray(to_numpy(coef0), dtype=np.float64)
        callback = None
        if callbacks is not None and callbacks.active:
            # like LogisticRegression: SciPy's callback ends an iteration and
            # begins the next; the one begun after the last is ended empty
            callbacks.begin_iteration(x0)

            def callback(coef):
                callbacks.end_iteration(coef)
                callbacks.begin_iteration(coef)

        result = minimize_scipy(
            self.solver,
            objective,
            x0,
            tol=self.tol,
            max_iter=self.max_iter,
            verbose=self.verbose,
            callback=callback,
        )
        if callback is not None:
            callbacks.end_iteration(None)
        return {"coef": result.coef, "n_iter": result.n_iter}

    # ------------------------------------------------------------------ SGD
    def _new_sgd_state(self, X, sample_weight, loss, xp, coef0, rows=None):
        if rows is not None:  # early stopping: the training rows only
            sample_weight = np.where(
                np.isin(np.arange(X.shape[0]), rows), sample_weight, 0.0
            )
        col_sq_sum, total = self._column_moments(X, sample_weight)
        Xs, sampled = curvature_sample(X)
        precond_coef, eta0 = sgd_scaling(
            col_sq_sum,
            total,
            Xs,
            sample_weight[sampled],
            loss,
            self.alpha,
            self.learning_rate_init,
        )
        dev = device(X)
        coef = loss.init_coef(X.dtype, xp, dev) if coef0 is None else coef0
        velocity = xp.zeros_like(coef) if self.momentum else None
        return SGDState(
            coef=coef,
            velocity=velocity,
            t=0,
            epoch=0,
            eta0=eta0,
            eta=eta0,
            precond=xp.asarray(precond_coef, dtype=X.dtype, device=dev),
            col_sq_sum=col_sq_sum,
            weight_seen=total,
            horizon=self.max_iter,
        )

    def _column_moments(self, X, sample_weight):
        """:func:`column_sq_sums`, and the finiteness check SGD's validation skips.

        SGD validates X with ``ensure_all_finite=False`` and checks it in the
        pass that computes the preconditioner's column sums (one pass over X
        fewer); where that pass cannot vouch for X, scikit-learn's own check
        runs and raises its usual error.
        """
        col_sq_sum, total, surely_finite = column_sq_sums(
            X, sample_weight, check_finite=True
        )
        if not surely_finite:
            assert_all_finite(X, estimator_name=type(self).__name__, input_name="X")
        return col_sq_sum, total

    def _update_preconditioner(self, state, X, sample_weight, loss, xp):
        """Fold a new chunk's feature statistics into the preconditioner.

        The first ``partial_fit`` chunk may miss features that later chunks
        have; their step must come from the data seen so far, this chunk
        included, never from the first chunk alone.
        """
        col_sq_sum, total = self._column_moments(X, sample_weight)
        if state.col_sq_sum is None:
            return
        state.col_sq_sum = state.col_sq_sum + col_sq_sum
        state.weight_seen = state.weight_seen + total
        precond = preconditioner(
            state.col_sq_sum / state.weight_seen,
            loss.n_classes,
            self.fit_intercept,
            self.alpha,
        )
        state.precond = xp.asarray(
            expand_preconditioner(
                precond, loss.n_rows, loss.n_features, self.fit_intercept
            ),
            dtype=X.dtype,
            device=device(X),
        )

    def _sgd_options(self, xp, dev):
        return dict(
            device=dev,
            alpha=self.alpha,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            power_t=self.power_t,
            momentum=self.momentum,
            nesterov=self.nesterov,
            shuffle=self.shuffle,
            xp=xp,
        )

    def _fit_sgd(
        self, X, y_enc, sample_weight, loss, classes, xp, coef0, callbacks=None
    ):
        rng = check_random_state(self.random_state)
        dtype = X.dtype
        train_idx = None
        if self.early_stopping:
            train_idx, val_idx = make_validation_split(
                X, y_enc, sample_weight, self.validation_fraction, rng, classes
            )
            # the validation part is copied (small); training reads X's rows
            X_val, y_val, sw_val = (
                _take_rows(X, val_idx, xp),
                y_enc[val_idx],
                sample_weight[val_idx],
            )
        dev = device(X)
        Y = self._targets(y_enc, loss, xp, dtype, dev)
        state = self._new_sgd_state(X, sample_weight, loss, xp, coef0, rows=train_idx)
        uniform = bool(np.all(sample_weight == sample_weight[0]))
        sw = None if uniform else sample_weight
        options = self._sgd_options(xp, dev)
        if train_idx is not None:
            options["rows"] = train_idx
        gather = _BatchGather(X, self.batch_size, xp, dev)
        loss_curve, val_scores = [], []
        stopping = SGDStopping(
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate,
            early_stopping=self.early_stopping,
        )
        stopper = stopping.validation
        converged = False
        for _ in range(self.max_iter):
            tic = time.perf_counter()
            if callbacks is not None:
                callbacks.begin_iteration(state.coef)
            epoch_loss = sgd_epoch(
                loss, state, X, Y, sw, rng=rng, gather=gather, **options
            )
            self._check_finite(epoch_loss, state, loss.n_classes)
            loss_curve.append(epoch_loss)
            score = None
            if self.early_stopping:
                score = _weighted_accuracy(loss, state.coef, X_val, y_val, sw_val, xp)
                val_scores.append(score)
            if self.verbose:
                line = f"Epoch {state.epoch}: loss {epoch_loss:.6f}"
                if self.early_stopping:
                    line += f", validation score {val_scores[-1]:.6f}"
                eta = state.eta
                line += f", lr {eta:.3g}, {time.perf_counter() - tic:.3f} s"
                print(line)
            if callbacks is not None and callbacks.end_iteration(state.coef):
                converged = True  # a callback asked to stop: no ConvergenceWarning
                break
            decision = stopping.update(
                state, epoch_loss, score, lambda c: xp.asarray(c, copy=True)
            )
            if decision == "lowered" and self.verbose:
                print(f"Learning rate lowered to {state.eta:.3g}")
            elif decision == "stop":
                converged = True
                break
        if not converged:
            stopping.warn_not_converged(self.max_iter, stacklevel=3)
        result = {
            "coef": state.coef,
            "n_iter": state.epoch,
            "loss_curve": loss_curve,
            "best_loss": float(np.min(loss_curve)),
            "sgd_state": state,
            "random_state": rng,
        }
        if self.early_stopping:
            result["coef"] = stopper.best_coef
            # partial_fit / warm_start go on from the restored weights, at rest
            state.coef = xp.asarray(stopper.best_coef, copy=True)
            if state.velocity is not None:
                state.velocity = xp.zeros_like(state.velocity)
            result["validation_scores"] = val_scores
            result["best_validation_score"] = stopper.best_score
        return result

    def _check_finite(self, epoch_loss, state, n_classes):
        # At zero weights the loss is log(n_classes); a loss 1e4 times larger
        # (or non-finite) only comes from steps that overshoot without bound.
        limit = 1e4 * np.log(n_classes)
        if not np.isfinite(epoch_loss) or epoch_loss > limit:
            raise ValueError(
                f"SGD diverged: the training loss reached {epoch_loss:.3g} at epoch "
                f"{state.epoch} with learning rate {state.eta0:.3g}. Lower "
                "learning_rate_init (or use learning_rate_init='auto'), lower "
                "momentum, or scale the data (e.g. StandardScaler). The model was "
                "left as it was before this call."
            )

    @available_if(_sgd_only)
    @with_callbacks
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of SGD over ``(X, y)``, continuing from the current state.

        Only available with ``solver="sgd"``. The first call needs ``classes``
        (all labels that will ever be seen); later calls continue the same
        optimisation, so a stream of chunks trains the same model as ``fit``.
        ``early_stopping`` and ``n_iter_no_change`` are not used here: the
        caller decides when to stop. If the call fails (bad input, divergence),
        the estimator is left exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : array-like of shape (n_samples,)
            Its labels.
        classes : array-like of shape (n_classes,), default=None
            All class labels; required on the first call, ignored afterwards
            (if given, it must match ``classes_``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of this chunk.

        Returns
        -------
        self : SoftmaxRegressionClassifier
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from sk_softmax import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(random_state=0)
        >>> for chunk in np.array_split(np.arange(150), 3):
        ...     clf = clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        >>> clf.n_iter_, clf.classes_
        (3, array([0, 1, 2]))
        """
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._validate_params()
            if classes is None:  # before validate_data sets n_features_in_
                raise ValueError(
                    "classes must be passed on the first call to partial_fit "
                    "(all labels the stream will contain)."
                )
        elif dispatch_enabled() and self.backend == "auto":
            # the state lives where the first call's X did (scikit-learn's rule)
            _check_same_namespace(self, X, "partial_fit")
        X, y = self._validate_fit_data(X, y, reset=first_call, defer_finite=True)
        if first_call:
            all_classes = np.unique(np.asarray(classes))
            if all_classes.shape[0] < 2:
                raise ValueError(
                    "partial_fit needs at least 2 classes in `classes`; got "
                    f"{all_classes.tolist()}."
                )
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), all_classes
            ):
                raise ValueError(
                    f"classes={list(classes)!r} differs from the classes of the "
                    f"first partial_fit call {all_classes.tolist()!r}."
                )
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole y and cannot be used with "
                "partial_fit; pass a dict of class weights instead."
            )
        y_host = y
        unseen = np.setdiff1d(np.unique(y_host), all_classes)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()!r} that are not in classes "
                f"{all_classes.tolist()!r}."
            )
        y_enc = np.searchsorted(all_classes, y_host)
        user_sample_weight = sample_weight
        sample_weight = self._sample_weight(sample_weight, X, y_enc, all_classes)
        loss = SoftmaxLoss(all_classes.shape[0], X.shape[1], self.fit_intercept)
        xp = get_namespace(X)
        if first_call:
            state = self._new_sgd_state(X, sample_weight, loss, xp, None)
            rng = check_random_state(self.random_state)
            loss_curve = []
        else:
            state = self._sgd_state.copy(xp)
            if self.learning_rate_init != "auto" and (
                float(self.learning_rate_init) != state.eta0
            ):
                # a rate set between calls takes effect from this call on
                state.eta0 = state.eta = float(self.learning_rate_init)
            state.horizon = self.max_iter  # likewise for the "linear" schedule
            self._update_preconditioner(state, X, sample_weight, loss, xp)
            rng = self._random_state
            loss_curve = list(self.loss_curve_)
        rng_state = rng.get_state()
        Y = self._targets(y_enc, loss, xp, X.dtype, device(X))
        uniform = bool(np.all(sample_weight == sample_weight[0]))
        callbacks = _FitCallbacks(
            self, X, y, user_sample_weight, loss, all_classes, 1, "epoch"
        )
        try:
            callbacks.begin_iteration(state.coef)
            epoch_loss = sgd_epoch(
                loss,
                state,
                X,
                Y,
                None if uniform else sample_weight,
                rng=rng,
                **self._sgd_options(xp, device(X)),
            )
            self._check_finite(epoch_loss, state, loss.n_classes)
            callbacks.end_iteration(state.coef)
        except BaseException:
            rng.set_state(rng_state)
            raise
        loss_curve.append(epoch_loss)
        result = {
            "coef": state.coef,
            "n_iter": state.epoch,
            "loss_curve": loss_curve,
            "best_loss": float(np.min(loss_curve)),
            "sgd_state": state,
            "random_state": rng,
        }
        self._set_fitted(result, loss, all_classes, xp, X.dtype, device(X))
        callbacks.end_fit()
        return self

    def _set_fitted(self, result, loss, classes, xp, dtype, dev=None):
        """Assign every fitted attribute at once, after the solver succeeded.

        The coefficients go to namespace ``xp`` on device ``dev`` (X's).
        """
        coef = xp.astype(move_to(result["coef"], xp, dev), dtype)
        W, b = loss.unpack(coef, xp)
        if not (
            bool(xp.all(xp.isfinite(W))) and (b is None or bool(xp.all(xp.isfinite(b))))
        ):
            raise ValueError(
                "The solver produced non-finite coefficients; scale the data (e.g. "
                "StandardScaler) or increase alpha."
            )
        self.classes_ = classes
        self.coef_ = xp.asarray(W, copy=True)
        self.intercept_ = (
            xp.zeros((loss.n_rows,), dtype=dtype, device=device(coef))
            if b is None
            else xp.asarray(b, copy=True)
        )
        self.n_iter_ = int(result["n_iter"])
        for name in (
            "loss_curve",
            "best_loss",
            "validation_scores",
            "best_validation_score",
        ):
            if name in result:
                setattr(self, name + "_", result[name])
            elif hasattr(self, name + "_"):
                delattr(self, name + "_")
        if "sgd_state" in result:
            state = result["sgd_state"]
            self.t_ = state.t
            self._sgd_state = state
            self._random_state = result["random_state"]
        else:
            for name in ("t_", "_sgd_state", "_random_state"):
                if hasattr(self, name):
                    delattr(self, name)

    # -------------------------------------------------------------- predict
    def _validate_predict_data(self, X, method):
        """Validate ``X`` for prediction in its own namespace and device.

        With array API dispatch on and ``backend="auto"``, ``X`` must live where
        the model was fitted (scikit-learn's rule); otherwise the small
        coefficients are moved to ``X`` (``backend="numpy"`` first moves ``X`` to
        the host).
        """
        if dispatch_enabled() and self.backend == "auto":
            _check_same_namespace(self, X, method)
        params = dict(accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
        if is_numpy_array(X) or not array_api_compat.is_array_api_obj(X):
            with sklearn.config_context(array_api_dispatch=False):
                return validate_data(self, X, **params)
        kind = resolve_backend(self.backend, X)
        if kind == "numpy":
            with sklearn.config_context(array_api_dispatch=False):
                return validate_data(self, to_numpy(X), **params)
        xp = get_namespace(X)
        params["dtype"] = [xp.float64, xp.float32]
        with sklearn.config_context(array_api_dispatch=True):
            return validate_data(self, X, **params)

    def decision_function(self, X):
        """Logits ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            1-D for two classes (the logit of ``classes_[1]``), as in
            scikit-learn.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sk_softmax import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
        >>> clf.decision_function(X[:2]).shape
        (2, 3)
        """
        return self._decision_function(X, "decision_function")

    def _decision_function(self, X, method):
        check_is_fitted(self)
        if _is_dask_collection(X):
            from ._dask import predict_dask

            return predict_dask(self, method, X)
        X = self._validate_predict_data(X, method)
        xp = get_namespace(X)
        dev = device(X)
        # outputs follow the input: the small coefficients move, never X
        W = xp.astype(move_to(self.coef_, xp, dev), X.dtype, copy=False)
        b = xp.astype(move_to(self.intercept_, xp, dev), X.dtype, copy=False)
        Z = X @ W.T + b
        if Z.shape[1] == 1:
            return xp.reshape(Z, (-1,))
        return Z

    def predict_log_proba(self, X):
        """Log-probabilities, computed stably from the logits (log-sum-exp).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log P(y = classes_[k] | x)``, never ``-inf`` from rounding to 0.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sk_softmax import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
        >>> bool((clf.predict_log_proba(X * 1e4) <= 0).all())
        True
        """
        if _is_dask_collection(X):
            from ._dask import predict_dask

            return predict_dask(self, "predict_log_proba", X)
        return self._log_proba(self._decision_function(X, "predict_log_proba"))

    @staticmethod
    def _log_proba(Z):
        """Stable log-probabilities from the logits ``Z``."""
        xp = get_namespace(Z)
        if Z.ndim == 1:
            z = xp.reshape(Z, (-1, 1))
            log_proba = xp.concat([log_sigmoid(-z, xp), log_sigmoid(z, xp)], axis=1)
        else:
            log_proba = log_softmax(Z, xp)
        # Where a probability is near 1 its log is below the dtype's resolution
        # of predict_proba; return log(predict_proba) there so the two agree.
        near_one = log_proba > -0.5
        rounded = xp.log(
            xp.exp(xp.where(near_one, log_proba, xp.zeros_like(log_proba)))
        )
        return xp.where(near_one, rounded, log_proba)

    def predict_proba(self, X):
        """Class probabilities ``softmax(X @ coef_.T + intercept_)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sk_softmax import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
        >>> clf.predict_proba(X[:1]).sum().round(6)
        np.float64(1.0)
        """
        if _is_dask_collection(X):
            from ._dask import predict_dask

            return predict_dask(self, "predict_proba", X)
        log_proba = self._log_proba(self._decision_function(X, "predict_proba"))
        xp = get_namespace(log_proba)
        return xp.exp(log_proba)

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sk_softmax import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
        >>> clf.predict(X[[0, 50, 100]])
        array([0, 1, 2])
        """
        if _is_dask_collection(X):
            from ._dask import predict_dask

            return predict_dask(self, "predict", X)
        Z = self._decision_function(X, "predict")
        xp = get_namespace(Z)
        if Z.ndim == 1:
            indices = xp.astype(Z > 0, xp.int64)
        else:
            indices = xp.argmax(Z, axis=1)
        if is_numpy_array(Z) or self.classes_.dtype.kind not in "biuf":
            # string / object labels stay NumPy
            return self.classes_[to_numpy(indices)]
        classes = move_to(self.classes_, xp, device(Z))
        return xp.take(classes, indices, axis=0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # "numpy" / "cupy" pin the computation, so fitted attributes do not
        # follow X's namespace as scikit-learn's array API checks require
        tags.array_api_support = self.backend == "auto"
        return tags

    def __getstate__(self):
        """Pickle CuPy arrays as NumPy, so GPU models can be shipped anywhere."""
        state = super().__getstate__()
        on_gpu = False
        for key in ("coef_", "intercept_"):
            if is_cupy_array(state.get(key)):
                on_gpu = True
                state[key] = to_numpy(state[key])
        if "_sgd_state" in state and is_cupy_array(state["_sgd_state"].coef):
            on_gpu = True
            state["_sgd_state"] = state["_sgd_state"].to_numpy()
        if on_gpu:
            state["_pickled_from_cupy"] = True
        return state

    def __setstate__(self, state):
        """Restore; a model fitted on a GPU comes back on it when one is usable."""
        from_cupy = state.pop("_pickled_from_cupy", False)
        super().__setstate__(state)
        if not from_cupy:
            return
        from ._backend import cupy_status

        cupy, error = cupy_status()
        if cupy is None or error is not None:
            warnings.warn(
                "This model was fitted on a GPU (CuPy) and no usable GPU is here "
                f"({error}); its coefficients were loaded as NumPy arrays.",
                UserWarning,
                stacklevel=2,
            )
            return
        self.coef_ = cupy.asarray(self.coef_)
        self.intercept_ = cupy.asarray(self.intercept_)
        sgd_state = getattr(self, "_sgd_state", None)
        if sgd_state is not None:  # partial_fit goes on where it was pickled
            import dataclasses

            self._sgd_state = dataclasses.replace(
                sgd_state,
                coef=cupy.asarray(sgd_state.coef),
                velocity=None
                if sgd_state.velocity is None
                else cupy.asarray(sgd_state.velocity),
                precond=cupy.asarray(sgd_state.precond),
            )


def _check_same_namespace(estimator, X, method):
    """Raise scikit-learn's error when ``X`` is not where the model was fitted."""
    coef = estimator.coef_
    if is_numpy_array(coef) and (is_numpy_array(X) or not _is_array_api(X)):
        return
    if not _is_array_api(X):
        raise ValueError(
            f"Inputs passed to {type(estimator).__name__}.{method}() must use the "
            "same namespace and the same device as those passed to fit(). Array "
            f"namespace used during fit ({get_namespace(coef).__name__}) is not "
            f"compatible with the array-like input passed to {method}."
        )
    xp_fit, xp_x = get_namespace(coef), get_namespace(X)
    if xp_fit.__name__ == xp_x.__name__ and device(coef) == device(X):
        return
    where = (
        f"Array namespaces used during fit ({xp_fit.__name__}) and {method} "
        f"({xp_x.__name__}) differ."
        if xp_fit.__name__ != xp_x.__name__
        else f"Devices used during fit ({device(coef)}) and {method} ({device(X)}) "
        "differ."
    )
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(). {where} Move X "
        "there, or refit the model on X's namespace and device."
    )


def _is_array_api(X):
    return array_api_compat.is_array_api_obj(X) and not sp.issparse(X)


def _take_rows(X, rows, xp):
    """Rows ``rows`` (host integer array) of ``X``, in ``X``'s namespace."""
    if is_numpy_array(X):
        return X[rows]
    return xp.take(X, xp.asarray(rows, device=device(X)), axis=0)


def _is_dask_collection(X):
    """True for Dask arrays / dataframes, without importing Dask."""
    return type(X).__module__.split(".")[0] in {"dask", "dask_expr"} and hasattr(
        X, "__dask_graph__"
    )


def _weighted_accuracy(loss, coef, X, y_enc, sample_weight, xp):
    """Weighted accuracy of the parameters ``coef`` on encoded labels."""
    Z = loss.raw_prediction(coef, X, xp)
    if Z.shape[1] == 1:
        pred = to_numpy(xp.reshape(Z, (-1,)) > 0).astype(np.intp)
    else:
        pred = to_numpy(xp.argmax(Z, axis=1))
    correct = (pred == y_enc).astype(np.float64)
    return float(np.sum(correct * sample_weight) / np.sum(sample_weight))


class _FitCallbacks:
    """Bridge from a fit's iterations to scikit-learn's callbacks (1.9+).

    The ``fit`` (or ``partial_fit``) call is the root task; with callbacks set,
    every SGD epoch or SciPy iteration is a subtask whose hooks can see, as
    ``fitted_estimator``, the model as it would be if the fit stopped there. On
    scikit-learn without ``sklearn.callback``, or without callbacks, the
    iteration methods are no-ops that cost nothing.
    """

    def __init__(
        self, estimator, X, y, sample_weight, loss, classes, max_subtasks, task_name
    ):
        self.estimator = estimator
        self.loss = loss
        self.classes = classes
        self.task_name = task_name
        self.xp, self.dtype, self.device = get_namespace(X), X.dtype, device(X)
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.hook_args = {"X": X, "y": y, "metadata": metadata}
        self.root = None
        if hasattr(estimator, "_init_callback_context"):
            self.root = estimator._init_callback_context(max_subtasks=max_subtasks)
            self.root.call_on_fit_task_begin(estimator=estimator, **self.hook_args)
        self.active = self.root is not None and bool(
            getattr(estimator, "_skl_callbacks", None)
        )
        self._task = None
        self._n_iterations = 0

    def _attributes(self, coef):
        """Lazily, the fitted attributes of the parameters ``coef`` (copied)."""

        def attributes():
            xp = self.xp
            flat = xp.astype(move_to(coef, xp, self.device), self.dtype, copy=True)
            W, b = self.loss.unpack(flat, xp)
            if b is None:
                b = xp.zeros((self.loss.n_rows,), dtype=self.dtype, device=self.device)
            return {"classes_": self.classes, "coef_": W, "intercept_": b}

        return attributes

    def begin_iteration(self, coef):
        """Begin an iteration that starts from the parameters ``coef``."""
        if not self.active:
            return
        self._task = self.root.subcontext(
            task_name=f"{self.task_name} {self._n_iterations}"
        )
        self._n_iterations += 1
        self._task.call_on_fit_task_begin(
            estimator=self.estimator,
            **self.hook_args,
            reconstruction_attributes=self._attributes(coef),
        )

    def end_iteration(self, coef):
        """End the iteration at ``coef`` (None: it never ran); True asks to stop."""
        if self._task is None:
            return False
        task, self._task = self._task, None
        if coef is None:
            return bool(task.call_on_fit_task_end(estimator=self.estimator))
        return bool(
            task.call_on_fit_task_end(
                estimator=self.estimator,
                **self.hook_args,
                reconstruction_attributes=self._attributes(coef),
            )
        )

    def end_fit(self):
        """End the root task; the estimator is fitted now."""
        if self.root is not None:
            self.root.call_on_fit_task_end(
                estimator=self.estimator,
                **self.hook_args,
                reconstruction_attributes={},
            )
