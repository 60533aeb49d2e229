"""Full-batch solvers: thin wrappers over :func:`scipy.optimize.minimize`."""

import time

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from .._callbacks import IterationReport
from .._loss import penalty_strengths
from .._warnings import warn_at_caller
from ._result import SolverResult
from ._scaling import data_precision

_METHODS = {"cg": "CG", "lbfgs": "L-BFGS-B"}

# tol="auto": the gradient's max-norm at which the full-batch solvers stop
GRADIENT_TOL = 1e-4
# restarts of a run (see minimize_scipy): from the lowest point evaluated
# after a failed line search, or, with bounds, from where L-BFGS-B ended on
# an iteration that did not lower the objective; one budget for both
RESTARTS = 3

# preconditioner "auto" / "covariance": the full-batch solvers run in
# whitened coordinates (:class:`_Whitened`) on dense data of up to this many
# features (a Cholesky factor of their size, from a sample of 1,000 rows)
WHITENED_FEATURES = 2048

# the data term's weight in the whitening, ``c`` in ``c E[x x^T] + alpha``:
# the softmax's curvature where the model fits (well below the bound 0.5);
# evaluations to a 1e-6 objective gap at 0.005, 0.01 and 0.02 were within a
# third of each other on MNIST, digits and correlated or unevenly scaled
# synthetic data; 0.1 took 0.85x to 1.8x 0.01's (the user guide's table)
WHITENING_CURVATURE = 0.01

# the probe's length (in whitened coordinates) that measures the objective's
# curvature along the first step (see _Whitened.first_step)
CURVATURE_PROBE = 1e-3


class ScipySolver:
    """A full-batch solver: SciPy's CG or L-BFGS-B on a training-data object.

    The data computes the objective and its gradient where it lives
    (``data.loss_gradient(coef, alpha)``: in memory, or summed over Dask
    chunks); only the parameter vector and the gradient cross to SciPy.

    Parameters
    ----------
    solver : {"cg", "lbfgs"}
    alpha, l1_ratio, tol, max_iter, verbose, preconditioner :
        The estimator's parameters of the same names. With ``l1_ratio > 0``
        (L-BFGS-B only) the solver minimises over ``(W+, W-, b)`` with
        ``W = W+ - W-`` and bounds ``W+, W- >= 0``, where the L1 norm is the
        linear ``sum(W+ + W-)``: a smooth problem with the same optimum, whose
        zero weights are exactly zero (both halves at their bound). Without
        L1 the solver works in whitened coordinates (:class:`_Whitened`;
        with ``preconditioner`` "auto" or "covariance" on dense data of up
        to ``WHITENED_FEATURES`` features by the features' covariance, else
        by their scales): the same objective and optimum, a gradient's
        max-norm still judged on the model's parameters, in several times
        fewer iterations where the features are correlated or unevenly
        scaled.
    """

    def __init__(
        self,
        solver,
        *,
        alpha,
        l1_ratio=0.0,
        tol,
        max_iter,
        verbose=0,
        preconditioner="auto",
    ):
        self.solver = solver
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.preconditioner = preconditioner

    @classmethod
    def from_params(cls, params):
        """The solver of an estimator's ``get_params()``."""
        if params["l1_ratio"] > 0 and params["solver"] != "lbfgs":
            raise ValueError(
                f"solver={params['solver']!r} does not support l1_ratio > 0 (got "
                f"{params['l1_ratio']}): use solver='lbfgs' or 'sgd', or l1_ratio=0."
            )
        if params["tol"] is None:
            raise ValueError(
                f"solver={params['solver']!r} needs a tolerance: tol=None (no "
                "stopping criterion, exactly max_iter epochs) is for solver='sgd'; "
                "use a float or 'auto'."
            )
        names = ("alpha", "l1_ratio", "max_iter", "verbose", "preconditioner")
        tol = GRADIENT_TOL if params["tol"] == "auto" else params["tol"]
        return cls(params["solver"], tol=tol, **{k: params[k] for k in names})

    def run(self, data, hooks, coef0=None):
        """Minimise the objective on ``data`` from ``coef0`` (zeros by default).

        Every iteration is reported to ``hooks`` (when someone listens) with
        the objective, the gradient's max-norm and the step taken.
        """
        l2, l1 = penalty_strengths(self.alpha, self.l1_ratio)
        split = _L1Split(data.loss.n_rows * data.loss.n_features, l1) if l1 else None
        # the rows' column moments: the diagonal whitening's, and a stream's
        # that goes on from this model (SolverResult.seen)
        moments = data.column_stats()
        whitened = None
        if not l1:
            whitened = _Whitened.from_data(data, l2, self.preconditioner, moments)
        last = {"evaluations": 0}

        def objective(x):
            if whitened is not None:  # the reports see the model's gradient
                if np.array_equal(x, last.get("x")):  # a point checked already
                    return last["value"], last["solver_grad"].copy()
                value, grad = data.loss_gradient(whitened.coef(x), l2)
                last.update(
                    value=value,
                    grad=grad,
                    solver_grad=whitened.gradient(grad),
                    x=np.array(x, copy=True),
                    evaluations=last["evaluations"] + 1,
                )
                return value, last["solver_grad"].copy()  # SciPy's to keep
            coef = x if split is None else split.coef(x)
            value, grad = data.loss_gradient(coef, l2)
            if split is not None:
                value, grad = split.objective(x, value, grad)
            last.update(value=value, grad=grad, evaluations=last["evaluations"] + 1)
            return value, grad

        if coef0 is None:
            x0 = np.zeros(data.loss.n_coef, dtype=np.float64)
        else:
            x0 = np.asarray(coef0, dtype=np.float64)
        if split is not None:
            x0 = split.start(x0)
        if whitened is not None:
            whitened, value0, grad0 = whitened.first_step(data, l2, x0)
            x0 = whitened.start(x0)
            # the start's evaluation, which first_step made (SciPy's is next)
            last.update(
                value=value0,
                grad=grad0,
                solver_grad=whitened.gradient(grad0),
                x=np.array(x0, copy=True),
                evaluations=2,
            )

        def model_gradient_norm(x):
            """The max-norm of the model's gradient at the solver's ``x``
            (the last evaluation's where it was at ``x``: not a line
            search's rejected trial)."""
            if not np.array_equal(last.get("x"), x):
                objective(x)
            return float(np.max(np.abs(last["grad"]), initial=0.0))

        callback, asked = None, {"stop": False}
        if hooks.per_iteration:
            # like LogisticRegression: SciPy's callback ends an iteration and
            # begins the next; the one begun after the last is ended empty
            start = x0 if split is None else split.coef(x0)
            hooks.epoch_begin(start)
            previous = {"coef": start, "tic": time.perf_counter(), "iteration": 0}

            def callback(coef):
                now = time.perf_counter()
                previous["iteration"] += 1
                report = IterationReport(
                    iteration=previous["iteration"],
                    loss=float(last["value"]),
                    gradient_max_norm=float(np.max(np.abs(last["grad"]))),
                    step=float(np.max(np.abs(coef - previous["coef"]))),
                    evaluations=last["evaluations"],
                    seconds=now - previous["tic"],
                )
                previous.update(coef=np.copy(coef), tic=now)
                if hooks.epoch_end(coef, report):  # a callback asks to stop
                    asked["stop"] = True
                    raise StopIteration
                hooks.epoch_begin(coef)

            if split is not None:  # the listeners see the model's parameters
                callback = _on_coef(callback, split.coef)
            if whitened is not None:
                callback = _on_coef(callback, whitened.coef)

        # overflow in a trial step is SciPy's to handle (the line search backs
        # off), not a NumPy warning for the user
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = minimize_scipy(
                self.solver,
                objective,
                x0,
                tol=self.tol,
                max_iter=self.max_iter,
                callback=callback,
                bounds=None if split is None else split.bounds(x0.shape[0]),
                # whitened, SciPy sees another gradient: tol is the model's
                gradient_norm=None if whitened is None else model_gradient_norm,
                stop_asked=lambda: asked["stop"],
            )
        if callback is not None and not asked["stop"]:
            hooks.epoch_end(None)
        if split is not None:
            result.coef = split.coef(result.coef)
        if whitened is not None:
            result.coef = whitened.coef(result.coef)
        # with L1, the zero model is the exact optimum where no weight's
        # gradient exceeds alpha * l1_ratio (every split gradient >= 0)
        grad = last.get("grad")  # the last point evaluated (None: none was)
        l1_zero = split is not None and grad is not None
        l1_zero = l1_zero and bool(np.all(np.asarray(grad)[: 2 * split.n_w] >= 0))
        if (
            coef0 is None
            and result.n_iter == 0
            and not np.any(result.coef)
            and not l1_zero
        ):
            # balanced classes and small features: the zero model's gradient
            # is below tol from the start (iris in other units, 1e-4 times:
            # an all-zero model, where the optimum scores 0.99)
            gradient = float(np.max(np.abs(last.get("grad", 0.0)), initial=0.0))
            warn_at_caller(
                f"solver={self.solver!r} stopped at its start: the gradient of "
                f"the zero model (max-norm {gradient:.2g}) is below tol="
                f"{self.tol:g} already, and the model is all zeros. Small "
                "features make small gradients: scale the data (e.g. "
                "StandardScaler), or lower tol.",
                ConvergenceWarning,
            )
        result.seen = {**moments._asdict(), "rows": data.training_rows()}
        return result


class _Whitened:
    """Coordinates in which the objective's curvature is about the same in
    every direction: the full-batch solvers' preconditioner on dense data.

    Each class's row of ``[W b]`` is ``v L^-1`` with ``L L^T = c E_s[x x^T] +
    alpha I`` (``x`` extended by 1 for the intercept, whose penalty is 0;
    ``E_s`` over a weighted sample of up to 1,000 training rows; ``c`` is
    ``WHITENING_CURVATURE``), so the Hessian in ``v`` is about ``L^-1 H
    L^-T``: correlated or unevenly scaled features no longer slow the
    solver. Where that does not apply (sparse data, more than
    ``WHITENED_FEATURES`` features, ``preconditioner="diagonal"``), ``L`` is
    the diagonal ``sqrt(c E[x_j^2] + alpha)`` over all the training rows (a
    vector: unevenly scaled features no longer slow the solver). The map is
    fixed and invertible: the same objective, the same optimum. The
    solver's vector is ``V.ravel()`` (``V`` of shape ``(n_rows, n_features +
    fit_intercept)``); its gradient is ``G L^-T``.
    """

    def __init__(self, loss, L):
        self.loss = loss
        self.L = L

    @classmethod
    def from_data(cls, data, alpha, preconditioner, moments=None):
        """The whitening of ``data``'s features: full (from a sample) where it
        applies and ``preconditioner`` is not "diagonal", else diagonal (from
        ``moments``, the training rows' column moments, if given)."""
        loss = data.loss
        full = None
        if preconditioner != "diagonal":
            if loss.n_features + loss.fit_intercept <= WHITENED_FEATURES:
                full = cls._full(data, alpha)
        if full is not None:
            return full
        return cls._diagonal(data, alpha, moments)

    @classmethod
    def _diagonal(cls, data, alpha, moments=None):
        """The diagonal form, from the column moments of the training rows."""
        moments = data.column_stats() if moments is None else moments
        scale = WHITENING_CURVATURE * moments.sq_sum / moments.total + alpha
        if data.loss.fit_intercept:
            scale = np.append(scale, WHITENING_CURVATURE)
        scale[~(scale > 0)] = 1.0  # a feature no row uses, with alpha = 0
        return cls(data.loss, np.sqrt(scale))

    @classmethod
    def _full(cls, data, alpha):
        """The full form, from a sample of rows (None: sparse data, a sample
        that weighs nothing, a factorisation that fails)."""
        loss = data.loss
        Xs, ws = data.host_sample()
        ws = np.asarray(ws, dtype=np.float64)
        if sp.issparse(Xs) or not np.sum(ws) > 0:
            return None
        Xs = np.asarray(Xs, dtype=np.float64)
        if loss.fit_intercept:
            Xs = np.hstack([Xs, np.ones((Xs.shape[0], 1))])
        A = (Xs.T * (ws * (WHITENING_CURVATURE / np.sum(ws)))) @ Xs
        penalised = np.arange(loss.n_features)
        # without a penalty, a nearly singular E[x x^T] (redundant features)
        # has pivots of rounding size, and so a map whose inverse is huge:
        # the objective in X's precision is noise along it (float32, alpha=0:
        # 3 to 5 iterations, 0.42 training accuracy where the optimum has
        # 0.71). Any positive-definite map keeps the optimum: its diagonal at
        # least X's precision times the features' mean
        diagonal = np.diag(A)[penalised]
        floor = data_precision(data) * float(np.mean(diagonal)) if diagonal.size else 0
        A[penalised, penalised] += max(alpha, floor)
        try:
            L = scipy.linalg.cholesky(A, lower=True)
        except (np.linalg.LinAlgError, ValueError):  # alpha = 0, a flat direction
            return None
        return cls(loss, L)

    def first_step(self, data, alpha, coef):
        """This whitening, scaled so that the solver's first step is no
        longer than the Newton step along the gradient at ``coef``; with the
        objective and the gradient at ``coef``.

        SciPy's CG and L-BFGS-B first try a step of length 1 along the
        gradient; after it, both are indifferent to the coordinates' scale.
        Where the whitening underestimates the curvature (many more features
        than rows, where the diagonal form knows each feature's variance but
        not that every row is long), that first step overshoots: a model
        whose loss is about zero and whose gradient, ``alpha`` times the
        weights, is below ``tol`` long before the optimum. The curvature
        along the gradient is measured by a probe of length
        ``CURVATURE_PROBE`` (one more evaluation); where the Newton step is
        shorter than 1, the coordinates are scaled by its length.
        """
        # overflow (values of X near float64's range) is the solver's to
        # report, as in its own evaluations
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grad = data.loss_gradient(coef, alpha)
            g = self.gradient(grad)
            norm = float(np.linalg.norm(g))
            if not (np.isfinite(norm) and norm > 0):
                return self, value, grad
            direction = -g / norm
            probe = self.coef(self.start(coef) + CURVATURE_PROBE * direction)
            _, probe_grad = data.loss_gradient(probe, alpha)
            curvature = float(direction @ (self.gradient(probe_grad) - g))
            length = norm * CURVATURE_PROBE / curvature
        if not (np.isfinite(length) and 0 < length < 1):
            return self, value, grad
        return type(self)(self.loss, self.L / length), value, grad

    def _rows(self, coef):
        """``[W b]`` of shape ``(n_rows, n_features + fit_intercept)``."""
        W, b = self.loss.unpack(coef, np)
        return W if b is None else np.hstack([W, b[:, None]])

    def _flat(self, rows):
        """The flat parameters (layout in :mod:`sk_softmax._loss`) of ``rows``."""
        n_features = self.loss.n_features
        b = rows[:, n_features] if self.loss.fit_intercept else None
        return self.loss.pack(rows[:, :n_features], b, np)

    def coef(self, v):
        """The model's parameters at the solver's vector ``v``."""
        V = np.reshape(v, (self.loss.n_rows, -1))
        if self.L.ndim == 1:
            return self._flat(V / self.L)
        rows = scipy.linalg.solve_triangular(self.L, V.T, lower=True, trans="T").T
        return self._flat(rows)

    def start(self, coef):
        """The solver's vector at the model's parameters ``coef``."""
        rows = self._rows(np.asarray(coef, dtype=np.float64))
        return (rows * self.L if self.L.ndim == 1 else rows @ self.L).ravel()

    def gradient(self, grad):
        """The objective's gradient in the solver's coordinates."""
        G = self._rows(np.asarray(grad, dtype=np.float64))
        if self.L.ndim == 1:
            return (G / self.L).ravel()
        return scipy.linalg.solve_triangular(self.L, G.T, lower=True).T.ravel()


class _L1Split:
    """``W = W+ - W-`` with ``W+, W- >= 0``: the L1 norm as a linear term.

    The solver's vector is ``concat([W+, W-, b])`` (``n_w`` weights each);
    the objective adds ``l1 * sum(W+ + W-)``, whose gradient is ``g + l1``
    on ``W+`` and ``-g + l1`` on ``W-`` (``g`` the gradient on ``W``).
    """

    def __init__(self, n_w, l1):
        self.n_w = n_w
        self.l1 = l1

    def coef(self, x):
        n_w = self.n_w
        return np.concatenate([x[:n_w] - x[n_w : 2 * n_w], x[2 * n_w :]])

    def start(self, coef):
        W = coef[: self.n_w]
        return np.concatenate([np.maximum(W, 0), np.maximum(-W, 0), coef[self.n_w :]])

    def objective(self, x, value, grad):
        n_w, l1 = self.n_w, self.l1
        g = np.asarray(grad, dtype=np.float64)
        value = value + l1 * float(np.sum(x[: 2 * n_w]))
        return value, np.concatenate([g[:n_w] + l1, l1 - g[:n_w], g[n_w:]])

    def bounds(self, size):
        return [(0.0, None)] * (2 * self.n_w) + [(None, None)] * (size - 2 * self.n_w)


def _on_coef(callback, to_coef):
    """``callback`` fed the model's parameters instead of the solver's vector."""
    return lambda x: callback(to_coef(x))


def minimize_scipy(
    solver,
    objective,
    coef0,
    *,
    tol,
    max_iter,
    callback=None,
    bounds=None,
    gradient_norm=None,
    stop_asked=None,
):
    """Minimise ``objective`` with SciPy's CG or L-BFGS-B.

    Parameters
    ----------
    solver : {"cg", "lbfgs"}
    objective : callable
        ``objective(coef) -> (loss, grad)`` on float64 NumPy vectors.
    coef0 : ndarray of shape (n_coef,)
        Starting point (float64).
    tol : float
        Stop when the projected gradient's max-norm falls below ``tol``.
    max_iter : int
        Maximum number of iterations.
    callback : callable or None
        ``callback(coef)`` after every iteration, with the current parameters.
    bounds : list of (low, high) or None
        Bounds of the parameters (L-BFGS-B only).
    gradient_norm : callable or None
        ``gradient_norm(x)``: the max-norm of the model's gradient at the
        solver's ``x``, where it is not the gradient SciPy sees (whitened
        coordinates); then it, not SciPy's, is held to ``tol``, after every
        iteration and at the end.
    stop_asked : callable or None
        ``stop_asked()``: whether ``callback`` ended the run (it raised
        ``StopIteration`` because a listener asked to stop): then the run
        ends there, with no restart and no ``ConvergenceWarning``.

    Returns
    -------
    SolverResult

    Notes
    -----
    Where SciPy's line search fails (its status 2: CG's "precision loss",
    L-BFGS-B's abnormal line search) after evaluating a point lower than the
    one it returns (CG returns the line search's start: on a tiny separable
    problem, the zero model), the run starts again from the lowest point
    evaluated, up to ``RESTARTS`` times, each from a strictly lower point,
    within the same ``max_iter`` iterations. With bounds (the L1 split)
    L-BFGS-B also ends, as a success, on an iteration that did not lower the
    objective; where the projected gradient is still above ``tol`` and the
    objective fell since the last start, the run starts afresh from there
    (its curvature pairs dropped), from the same ``RESTARTS``.
    """
    gtol = tol
    lowest = {"value": np.inf}

    def tracked(x):
        value, grad = objective(x)
        if value < lowest["value"]:
            lowest.update(value=value, x=np.array(x, copy=True), grad=grad)
        return value, grad

    report = callback  # the listeners' (a restart's point is an iteration too)
    if gradient_norm is not None:
        # SciPy's gradient is not the model's: it is held to tol here, at the
        # start (as SciPy would: a warm start at rest takes no step) and by
        # the callback after every iteration
        if gradient_norm(coef0) <= tol:
            return SolverResult(coef=np.asarray(coef0, dtype=np.float64), n_iter=0)
        gtol = 0.0
        callback = _stop_at(gradient_norm, tol, callback)
    start, n_iter, restarts, previous = coef0, 0, 0, np.inf
    bounded = _bounded(bounds)
    while True:
        res = _minimize_once(
            solver, tracked, start, gtol, max_iter - n_iter, callback, bounds
        )
        n_iter += int(getattr(res, "nit", max_iter - n_iter))
        if stop_asked is not None and stop_asked():
            return SolverResult(coef=res.x, n_iter=n_iter)
        if not (np.isfinite(res.fun) and np.all(np.isfinite(res.x))):
            # a step overflowed (values of X near float64's range, or without a
            # penalty so small that the weights must be huge): its iterate
            # would be a model whose every prediction is NaN
            raise ValueError(
                f"solver={solver!r} reached a non-finite objective ({res.fun}): the "
                "values of X are too large (or, with so weak a penalty, too small) "
                "for the solver's arithmetic. Scale the data (e.g. StandardScaler). "
                "The model was left as it was before this call."
            )
        stuck = not res.success and getattr(res, "status", None) == 2
        # L-BFGS-B with bounds (the L1 split, ftol 0) also ends, as a
        # success, on an iteration that did not lower the objective: where
        # the projected gradient is still above tol, a fresh start from
        # there (its curvature pairs dropped) goes on
        flat = (
            bounds is not None
            and res.success
            and np.max(np.abs(_projected(res.x, res.jac, bounded)), initial=0.0) > tol
            and res.fun < previous
        )
        previous = res.fun
        if flat and restarts < RESTARTS and n_iter < max_iter:
            restarts, start = restarts + 1, res.x
            continue
        if not (stuck and lowest["value"] < res.fun) or restarts == RESTARTS:
            break
        if n_iter >= max_iter:
            break
        # the failed line search's lowest point, which SciPy did not take:
        # an iteration of its own, and the next run's start
        restarts, n_iter = restarts + 1, n_iter + 1
        res.x, res.fun, res.jac = lowest["x"], lowest["value"], lowest["grad"]
        if report is not None:
            try:
                report(res.x)
            except StopIteration:  # a listener asked to stop
                return SolverResult(coef=res.x, n_iter=n_iter)
        if gradient_norm is not None and gradient_norm(res.x) <= tol:
            break
        if n_iter >= max_iter:
            break
        start = res.x
    res.nit = n_iter
    if gradient_norm is not None:  # held to tol, and named in the warning
        norm = gradient_norm(res.x)
        res.success, res.jac = bool(norm <= tol), np.array([norm])
    elif res.success and res.jac is not None:
        # L-BFGS-B also ends, as a success, when the objective stops falling
        # (ftol): in float32, or on a poorly scaled problem, that can be far
        # from the gradient's tol; the promise is the (projected) gradient's
        res.jac = _projected(res.x, res.jac, bounded)
        res.success = bool(np.max(np.abs(res.jac), initial=0.0) <= tol)
    n_iter = _check_optimize_result(solver, res, max_iter, tol)
    return SolverResult(coef=res.x, n_iter=n_iter)


def _minimize_once(solver, objective, coef0, gtol, max_iter, callback, bounds):
    """One run of SciPy's CG or L-BFGS-B (see :func:`minimize_scipy`)."""
    if solver == "lbfgs":
        options = {
            "maxiter": max_iter,
            "maxfun": max(15000, 2 * max_iter),
            "gtol": gtol,
            # with bounds (the L1 split) L-BFGS-B's steps can shrink while the
            # projected gradient is still above tol: no relative-reduction
            # stop there (it still ends on a step that lowers nothing, which
            # minimize_scipy restarts)
            "ftol": 64 * np.finfo(float).eps if bounds is None else 0.0,
            "maxls": 50,
            # no "iprint": quiet is its default, SciPy 1.15 deprecated it and
            # 1.18 rejects it (OptimizeWarning: Unknown solver options)
        }
    else:
        options = {
            "maxiter": max_iter,
            "gtol": gtol,
            "norm": np.inf,
            "disp": False,  # progress comes from the hooks, for every solver
        }
    return scipy.optimize.minimize(
        objective,
        coef0,
        method=_METHODS[solver],
        jac=True,
        tol=gtol,
        options=options,
        callback=callback,
        bounds=bounds,
    )


def _bounded(bounds):
    """Which coordinates have a lower bound (``(0, None)``, the L1 split's
    halves), as a mask, or None without bounds."""
    if bounds is None:
        return None
    return np.fromiter((low is not None for low, _ in bounds), bool, len(bounds))


def _projected(x, grad, bounded):
    """The projected gradient ``x - P(x - grad)`` on the lower bounds 0 of
    the ``bounded`` coordinates (a mask from :func:`_bounded`, or None),
    L-BFGS-B's own measure: where the gradient pushes a bounded coordinate
    down, ``min(x, grad)``: the step to its bound at most (zero at the
    bound)."""
    if bounded is None:
        return grad
    return np.where(bounded & (grad > 0), np.minimum(x, grad), grad)


def _stop_at(gradient_norm, tol, callback):
    """A SciPy callback that ends the run once ``gradient_norm() <= tol``
    (after ``callback``, if any, has seen the iteration)."""

    def stop(x):
        if callback is not None:
            callback(x)
        if gradient_norm(x) <= tol:
            raise StopIteration

    return stop


def _check_optimize_result(solver, result, max_iter, tol):
    """Warn with what to change when SciPy did not converge; return n_iter.

    Running out of iterations and a line search stuck at the limit of
    floating-point precision call for different remedies, so the message
    tells them apart.
    """
    n_iter = int(getattr(result, "nit", max_iter))
    if not result.success:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode("latin1")
        if n_iter >= max_iter:
            advice = (
                f"Increase max_iter (now {max_iter}), loosen tol, or scale the data "
                "(e.g. StandardScaler) so the problem is better conditioned."
            )
        else:
            jac = getattr(result, "jac", None)
            grad = float(np.max(np.abs(jac))) if jac is not None else float("nan")
            advice = (
                "The line search could not lower the loss any further in "
                f"floating-point precision while the gradient's max-norm ({grad:.2g}) "
                f"is still above tol={tol:g}: loosen tol, scale the data (e.g. "
                "StandardScaler), or pass float32 data as float64 (its objective is "
                f"float32's); a larger max_iter (now {max_iter}) will not help."
            )
        warn_at_caller(
            f"solver={solver!r} did not converge after {n_iter} iterations "
            f"(SciPy says: {message}). {advice}",
            ConvergenceWarning,
        )
    return min(n_iter, max_iter)
