"""The estimator, orchestration only: validate the input, build the training data
(``_data`` / ``_dask``), hand it to a solver (``_solvers``), and assign the fitted
attributes from the solver's result at once, when everything succeeded."""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._backend import (
    BACKENDS,
    device,
    for_metrics,
    get_namespace,
    is_numpy_array,
    move_to,
    state_from_host,
    state_to_host,
    to_numpy,
)
from ._callbacks import CallbackSupportMixin, training_hooks, with_callbacks
from ._dask import lazy_on_dask, training_data
from ._doc_link import DocLinkMixin
from ._loss import log_proba_from_logits, logits
from ._solvers import LEARNING_RATES, SOLVERS, ScipySolver, SGDConfig, SGDSolver
from ._sparse_coef import SparseCoefMixin, coef_for, dense_coef
from ._validation import unchanged_on_error, validate_predict_data, warn_if_unbounded

# fitted, private, rolled back too (_seen_rows: a full-batch fit's, see
# SolverResult.seen)
_PRIVATE_STATE = ("_sgd_state", "_random_state", "_seen_rows")
_SGD_ONLY = ("loss_curve_", "best_loss_", "t_", "validation_scores_", *_PRIVATE_STATE)

AUTO = StrOptions({"auto"})  # a parameter's "auto" value


class SoftmaxRegressionClassifier(
    DocLinkMixin, SparseCoefMixin, CallbackSupportMixin, ClassifierMixin, BaseEstimator
):
    """Multinomial logistic (softmax) regression.

    For ``K`` classes the model is ``P(y = k | x) = softmax(W x + b)_k`` with
    ``W`` of shape ``(K, n_features)`` and ``b`` of shape ``(K,)``. With two
    classes it is scikit-learn's binomial model (the first class's row fixed at
    zero): ``coef_`` has shape ``(1, n_features)`` and ``decision_function`` is
    1-D, exactly as :class:`~sklearn.linear_model.LogisticRegression`.

    Parameters
    ----------
    solver : {"sgd", "cg", "lbfgs"}, default="sgd"
        ``"sgd"``: minibatch stochastic gradient descent, which stops about
        where held-out quality stops improving, with ``partial_fit``; the
        fast path on large data.
        ``"cg"``: SciPy's nonlinear conjugate gradient; ``"lbfgs"``: SciPy's
        L-BFGS-B. The full-batch solvers reach the exact optimum (the same
        model as ``LogisticRegression``) and suit small and medium data.
    alpha : float, default=1e-4
        Strength of the penalty (intercept not penalised, see Notes).
        Equivalent to ``LogisticRegression(C=1 / (alpha * S), l1_ratio=...)``
        with ``S`` the sum of the sample weights times their class weights.
    l1_ratio : float in [0, 1], default=0.0
        Mix of the penalty, as in scikit-learn: 0 is L2, 1 is L1 (sparse
        ``coef_``), in between the elastic net. ``"lbfgs"`` solves it exactly,
        ``"sgd"`` with a cumulative L1 penalty (and no momentum); not ``"cg"``.
    fit_intercept : bool, default=True
        Whether to fit the intercept ``b``.
    tol : float, "auto" or None, default="auto"
        Full-batch solvers: stop when the gradient's max-norm is below it
        ("auto": 1e-4). SGD: the relative gain of the criterion that counts,
        relative to at least 0.1 ("auto": 1e-4 up to 2**20 stored values,
        1e-3 above or on a validation split, as ``SGDClassifier``; 5e-3 in
        the averaged fit of large dense data, see ``preconditioner``); ``None``
        (as there): no criterion,
        ``max_iter`` epochs, each one's loss the pass's own, no warning.
    max_iter : int, default=1000
        Maximum number of iterations (full-batch solvers) or epochs (SGD).
    class_weight : dict or "balanced", default=None
        Weights ``{label: weight}`` multiplying the sample weights of each
        class; ``"balanced"`` uses ``n_samples / (n_classes * bincount(y))``,
        with ``sample_weight`` each class's total weight in place of its
        count (as ``LogisticRegression``: integer weights act as repeated rows).
    warm_start : bool, default=False
        Start ``fit`` from the last solution (same classes and features; else zeros).
    batch_size : int or "auto", default="auto"
        Minibatch size (SGD). ``"auto"``: 32 where SGD averages on wide
        sparse data (see ``average``), 256 elsewhere (chosen on MNIST,
        ``benchmarks/bench_batch_size.py``).
    learning_rate : {"auto", "adaptive", "constant", "invscaling", "decay", \
            "linear"}, default="auto"
        Step-size schedule of SGD. ``"auto"``: constant while the stopping
        criterion improves; at a stall divided by 5 while the best fell by
        over 1% since the last lowering (once on the minibatch loss: >10,000
        rows, no split), else to zero linearly over the patience, and the
        fit ends (user guide). ``"adaptive"``: divided by 5 at each stall
        until a lowering brings no improvement. A stream (``partial_fit``)
        halves the rate at a stall with either. ``"constant"``:
        ``learning_rate_init``. ``"invscaling"``: that divided by
        ``(t + 1) ** power_t`` at the ``t``-th update; ``"decay"``: the same
        with the epoch for ``t``. ``"linear"``: to zero linearly, update by
        update, at the end of ``max_iter`` epochs, for a known budget (its
        end, so no ``ConvergenceWarning`` there).
    learning_rate_init : float or "auto", default="auto"
        Initial step size of SGD. ``"auto"`` uses ``1 / L`` with ``L`` a bound on
        the loss's curvature computed from the data (see Notes), which is
        stable on unscaled data as well; for an averaged fit of the
        compiled sparse loop judged on a validation split (the default on
        wide sparse data of over 10,000 rows), whose steps take no momentum,
        ``1 / ((1 - m) L)`` with ``m`` the momentum ``"auto"`` would take,
        at most ``3 / L``; for an averaged fit of dense data judged on a
        split, lowered after the first epoch where its steps are noisy (the
        user guide's "When SGD stops").
    power_t : float, default=0.5
        Exponent of the "invscaling" and "decay" schedules.
    momentum : float or "auto", default="auto"
        Momentum of the SGD updates, in ``[0, 1)``. ``"auto"``: Polyak's
        heavy-ball value for the condition number that ``alpha`` bounds,
        capped at 0.9: 0.9 at small ``alpha``, near 0 where the penalty
        dominates the curvature (where 0.9 would make the steps ring). On
        dense data it is also kept low where the minibatch steps are noisy
        (many uncorrelated features, as in embeddings: there momentum only
        multiplies the noise), and in an averaged fit judged on a split
        again after the first epoch, from the residuals left there; see the
        user guide's "When SGD stops".
    nesterov : bool, default=False
        Whether to use Nesterov's momentum.
    average : bool or "auto", default="auto"
        Averaged SGD: the model is the average of the iterates since the end
        of the first epoch (weighted by the step sizes; after one epoch, of
        that epoch's); the stopping rule
        reads its training objective or validation score. ``"auto"``: on for
        wide sparse data (text, hashed or one-hot features) of more than
        10,000 rows, whose steps have no momentum to smooth them, unless
        ``l1_ratio > 0`` (an average blurs exact zeros), and for large dense
        data (see ``preconditioner``). See the user guide.
    parallel : bool, default=False
        SGD on Dask data: every epoch, all chunks train at once from the same
        model, and their models are averaged; see :ref:`dask-which-path`.
    preconditioner : {"auto", "diagonal", "covariance"}, default="auto"
        How the steps are scaled; the optimum does not change (user guide).
        SGD: per feature (``"diagonal"``) or also by the features' inverse
        correlations (``"covariance"``: dense data without L1). ``"auto"``:
        the covariance in a fit on dense data of at least 20,000 rows and at
        most 2,048 features without L1, with ``learning_rate``,
        ``learning_rate_init`` and ``momentum`` "auto", where it comes with
        an average and a validation split (``average``,
        ``early_stopping`` "auto"; switching either off, or asking for
        ``"diagonal"``, keeps the per-feature rule): the split's first epoch
        that gains under ``tol`` starts the last one, on every row (on MNIST
        6 or 7 epochs in all, at held-out parity); elsewhere the diagonal.
        "cg"/"lbfgs": in coordinates whitened by the features' covariance
        (``"auto"``, ``"covariance"``: dense data of up to 2,048 features
        without L1), else by their scales (``"diagonal"``; no L1).
    early_stopping : bool or "auto", default="auto"
        SGD: hold out a stratified ``validation_fraction`` of the training
        data and make its score the stopping criterion (improvements must
        exceed its noise; the schedule reacts to its stalls as to the
        training objective's); the best epoch's weights are kept. The
        split's rows rejoin the training rows for the final decay of
        ``learning_rate="auto"``, which the split has decided (averaged
        fits: their last two epochs on the compiled sparse loop, their last
        one on dense data, at the rate kept, are the model; not on that loop
        unless it averages; the scores of those epochs read rows the model
        learns from). ``"auto"``:
        on in ``fit`` for wide sparse data (the compiled sparse loop) of over
        10,000 rows, where the training objective falls long after held-out
        quality stops improving, and for large dense data (see
        ``preconditioner``). Else the criterion is the training objective
        (on up to 10,000 rows the exact one; the best model seen is kept).
    scoring : {"loss", "accuracy"}, default="loss"
        What early stopping scores on its split: the log-loss (reported
        negated in ``validation_scores_``, higher is better, as scikit-learn's
        ``HistGradientBoostingClassifier``) or the accuracy.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=1
        Patience of the SGD stopping criterion: epochs without an improvement
        of ``tol``, and at least the updates the momentum's swings take to
        fade (tiny data has few an epoch): 50 at 0.9, 8 at 0.5, 1 without;
        for ``partial_fit``, calls (at least 5), on the mean loss of the
        last ones.
    shuffle : bool, default=True
        Whether SGD shuffles the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling and the validation split. An int gives bit-identical
        models from run to run.
    verbose : int, default=0
        1: a line per SGD epoch (``fit``) or call (``partial_fit``) with the
        training loss, the validation score (with early stopping), the last
        update's learning rate and the time; a line per iteration of "cg" /
        "lbfgs" with the objective, the step and the time. 2: adds the
        updates' rates (SGD), the gradient's max-norm and the evaluations.
    backend : {"auto", "numpy", "cupy"}, default="auto"
        Where to compute. ``"auto"`` follows scikit-learn: with
        ``sklearn.set_config(array_api_dispatch=True)`` in the namespace and
        on the device of ``X`` (CuPy, PyTorch, ...), otherwise with NumPy.
        ``"cupy"``: on the current CUDA device (``pip install -e ".[gpu]"``
        from a checkout). ``"numpy"``: on the host. ``coef_`` lives where
        the fit ran; predictions follow the input. See :doc:`/gpu`.

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
        SGD: training loss per epoch (with early stopping, the pass's: each
        minibatch's loss before its update).
    best_loss_ : float
        SGD: lowest training loss reached.
    validation_scores_ : list of float
        SGD with early stopping: validation score per epoch (minus the
        log-loss, or the accuracy: see ``scoring``; in a final decay the
        split's rows have rejoined, see ``early_stopping``).
    best_validation_score_ : float
        SGD with early stopping: best validation score (its weights kept).
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
        + \\alpha \\left(\\rho \\lVert W \\rVert_1
        + \\frac{1 - \\rho}{2} \\lVert W \\rVert_F^2\\right)

    with :math:`\\rho` the ``l1_ratio``.

    Log-probabilities are computed with log-sum-exp, so huge logits never
    overflow. SGD scales each feature's step by the inverse of a bound on the
    curvature of ``L`` and takes ``1 / L`` as its rate: see the user guide.
    With scikit-learn 1.9 or later, ``set_callbacks`` accepts the callbacks of
    :mod:`sklearn.callback` for every solver: each SGD epoch or SciPy
    iteration is a subtask of the ``fit`` / ``partial_fit`` task; a callback
    that asks to stop ends SGD after the current epoch, ``"cg"`` and
    ``"lbfgs"`` after the current iteration (no ``ConvergenceWarning``).

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
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints = {
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left"), AUTO, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), AUTO],
        "learning_rate": [StrOptions(set(LEARNING_RATES))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither"), AUTO],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left"), AUTO],
        "nesterov": ["boolean"],
        "average": ["boolean", AUTO],
        "parallel": ["boolean"],
        "preconditioner": [StrOptions({"auto", "diagonal", "covariance"})],
        "early_stopping": ["boolean", AUTO],
        "scoring": [StrOptions({"loss", "accuracy"})],
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
        l1_ratio=0.0,
        fit_intercept=True,
        tol="auto",
        max_iter=1000,
        class_weight=None,
        warm_start=False,
        batch_size="auto",
        learning_rate="auto",
        learning_rate_init="auto",
        power_t=0.5,
        momentum="auto",
        nesterov=False,
        average="auto",
        parallel=False,
        preconditioner="auto",
        early_stopping="auto",
        scoring="loss",
        validation_fraction=0.1,
        n_iter_no_change=1,
        shuffle=True,
        random_state=None,
        verbose=0,
        backend="auto",
    ):
        self.solver = solver
        self.alpha = alpha
        self.l1_ratio = l1_ratio
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
        self.average = average
        self.parallel = parallel
        self.preconditioner = preconditioner
        self.early_stopping = early_stopping
        self.scoring = scoring
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
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
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
        return self._fit(X, y, sample_weight, classes=None, incremental=False)

    @available_if(lambda estimator: estimator.solver == "sgd")
    @with_callbacks
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of SGD over ``(X, y)``, continuing from the current state.

        Only available with ``solver="sgd"``. The first call needs ``classes``
        (all labels that will ever be seen); later calls continue the same
        optimisation, with the same schedule and stopping state as ``fit``
        (the "adaptive" rate is lowered when the loss stalls from call to
        call), so a stream of chunks trains the same model as ``fit``.
        ``early_stopping`` is not used here: the caller decides when to stop.
        If the call fails (bad input, divergence), the estimator is left
        exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
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
        # every call (set_params may come between two): a few microseconds
        self._validate_params()
        return self._fit(X, y, sample_weight, classes=classes, incremental=True)

    def _fit(self, X, y, sample_weight, *, classes, incremental):
        """The one path of ``fit`` and ``partial_fit`` (one epoch, resumed)."""
        # no NumPy warnings on the way to an error: the error says it
        with unchanged_on_error(self, _PRIVATE_STATE), np.errstate(all="ignore"):
            data = training_data(self, X, y, sample_weight, classes, incremental)
            hooks = training_hooks(self, (X, y, sample_weight), data, incremental)
            if self.solver == "sgd":
                result, rng = self._fit_sgd(data, hooks, incremental)
            else:
                solver = ScipySolver.from_params(self.get_params())
                result, rng = solver.run(data, hooks, self._coef0(data)), None
            if self.alpha == 0 and not incremental:  # (an error, if so filtered)
                warn_if_unbounded(data, result.coef)
            self._assign(data, result, rng, incremental)
            hooks.fit_end()  # a callback that raises here undoes the call too
        return self

    def _coef0(self, data, incremental=False):
        """The current model as a flat host vector, if training starts from it:
        ``fit`` with ``warm_start``; ``partial_fit`` after a full-batch fit."""
        if not (self.warm_start or incremental) or not (
            hasattr(self, "coef_")
            and np.array_equal(self.classes_, data.classes)
            and self.coef_.shape == (data.loss.n_rows, data.loss.n_features)
        ):
            return None
        W = dense_coef(self.coef_, np.float64)
        b = np.asarray(to_numpy(self.intercept_), dtype=np.float64)
        return data.loss.pack(W, b if data.loss.fit_intercept else None, np)

    def _fit_sgd(self, data, hooks, incremental):
        solver = SGDSolver(SGDConfig.from_params(self.get_params()))
        previous = getattr(self, "_sgd_state", None) if incremental else None
        rng = check_random_state(self.random_state)
        if previous is not None:  # the stream goes on: a copy of its generator
            rng = copy.deepcopy(self._random_state)
        coef0 = self._coef0(data, incremental)  # a stream goes on from coef_
        kwargs = dict(previous=previous, coef0=coef0, incremental=incremental)
        if incremental and previous is None and coef0 is not None:
            # after a full-batch fit: its rows count as seen by the stream
            kwargs["seen"] = getattr(self, "_seen_rows", None)
        return solver.run(data, hooks, rng, **kwargs), rng

    def _assign(self, data, result, rng, incremental):
        """Assign every fitted attribute at once, after the solver succeeded."""
        if rng is None:  # full batch
            attributes = result.fitted_attributes(data)
        else:
            previous = getattr(self, "loss_curve_", []) if incremental else []
            attributes = result.fitted_attributes(data, previous)
            state = result.state.to_plain(data.to_fitted)
            # the stream's own generator: not the user's RandomState (or
            # NumPy's global one), which a later call, failed or not, or the
            # user's own draws would advance under the fitted model
            attributes.update(_sgd_state=state, _random_state=copy.deepcopy(rng))
        for name in (*_SGD_ONLY, "best_validation_score_"):
            vars(self).pop(name, None)
        vars(self).update(classes_=data.classes, **attributes)

    # -------------------------------------------------------------- predict
    @lazy_on_dask
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
        with np.errstate(all="ignore"):  # validation's sums of infinities
            X = validate_predict_data(self, X, method)
        xp, dev = get_namespace(X), device(X)
        # outputs follow the input: the small coefficients move, never X
        W = coef_for(self.coef_, xp, dev, X.dtype)
        b = xp.astype(move_to(self.intercept_, xp, dev), X.dtype, copy=False)
        Z = logits(X, W, b)
        return xp.reshape(Z, (-1,)) if Z.shape[1] == 1 else Z

    @lazy_on_dask
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
        return log_proba_from_logits(self._decision_function(X, "predict_log_proba"))

    @lazy_on_dask
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
        log_proba = log_proba_from_logits(self._decision_function(X, "predict_proba"))
        return get_namespace(log_proba).exp(log_proba)

    @lazy_on_dask
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
        Z = self._decision_function(X, "predict")
        xp = get_namespace(Z)
        indices = xp.astype(Z > 0, xp.int64) if Z.ndim == 1 else xp.argmax(Z, axis=1)
        if is_numpy_array(Z) or self.classes_.dtype.kind not in "biuf":  # str: NumPy
            return self.classes_[to_numpy(indices)]
        classes = move_to(self.classes_, xp, device(Z))
        return xp.take(classes, indices, axis=0)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y`` (labels predicted on
        a GPU are compared on the host where array API dispatch is off).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        y_pred, y, sample_weight = for_metrics(self.predict(X), y, sample_weight)
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # "numpy" / "cupy" pin the computation, so fitted attributes do not
        # follow X's namespace as scikit-learn's array API checks require
        tags.array_api_support = self.backend == "auto"
        return tags

    def __getstate__(self):
        """Pickle CuPy arrays as NumPy, so GPU models can be shipped anywhere."""
        return state_to_host(super().__getstate__())

    def __setstate__(self, state):
        """Restore; a model fitted on a GPU comes back on it when one is usable."""
        super().__setstate__(state_from_host(state))
