"""Full-batch solvers: thin wrappers over :func:`scipy.optimize.minimize`."""

import time

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from .._callbacks import IterationReport
from .._loss import penalty_strengths
from .._warnings import warn_at_caller
from ._result import SolverResult

_METHODS = {"cg": "CG", "lbfgs": "L-BFGS-B"}

# tol="auto": the gradient's max-norm at which the full-batch solvers stop
GRADIENT_TOL = 1e-4


class ScipySolver:
    """A full-batch solver: SciPy's CG or L-BFGS-B on a training-data object.

    The data computes the objective and its gradient where it lives
    (``data.loss_gradient(coef, alpha)``: in memory, or summed over Dask
    chunks); only the parameter vector and the gradient cross to SciPy.

    Parameters
    ----------
    solver : {"cg", "lbfgs"}
    alpha, l1_ratio, tol, max_iter, verbose :
        The estimator's parameters of the same names. With ``l1_ratio > 0``
        (L-BFGS-B only) the solver minimises over ``(W+, W-, b)`` with
        ``W = W+ - W-`` and bounds ``W+, W- >= 0``, where the L1 norm is the
        linear ``sum(W+ + W-)``: a smooth problem with the same optimum, whose
        zero weights are exactly zero (both halves at their bound).
    """

    def __init__(self, solver, *, alpha, l1_ratio=0.0, tol, max_iter, verbose=0):
        self.solver = solver
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose

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
        names = ("alpha", "l1_ratio", "max_iter", "verbose")
        tol = GRADIENT_TOL if params["tol"] == "auto" else params["tol"]
        return cls(params["solver"], tol=tol, **{k: params[k] for k in names})

    def run(self, data, hooks, coef0=None):
        """Minimise the objective on ``data`` from ``coef0`` (zeros by default).

        Every iteration is reported to ``hooks`` (when someone listens) with
        the objective, the gradient's max-norm and the step taken.
        """
        l2, l1 = penalty_strengths(self.alpha, self.l1_ratio)
        split = _L1Split(data.loss.n_rows * data.loss.n_features, l1) if l1 else None
        last = {"evaluations": 0}

        def objective(x):
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
        callback = None
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
                hooks.epoch_end(coef, report)
                hooks.epoch_begin(coef)

            if split is not None:  # the listeners see the model's parameters
                callback = _on_coef(callback, split.coef)

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
            )
        if callback is not None:
            hooks.epoch_end(None)
        if split is not None:
            result.coef = split.coef(result.coef)
        return result


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
    solver, objective, coef0, *, tol, max_iter, callback=None, bounds=None
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

    Returns
    -------
    SolverResult
    """
    method = _METHODS[solver]
    if solver == "lbfgs":
        options = {
            "maxiter": max_iter,
            "maxfun": max(15000, 2 * max_iter),
            "gtol": tol,
            # with bounds (the L1 split) L-BFGS-B's steps can shrink while the
            # projected gradient is still above tol: only tol decides there
            "ftol": 64 * np.finfo(float).eps if bounds is None else 0.0,
            "maxls": 50,
            # no "iprint": quiet is its default, SciPy 1.15 deprecated it and
            # 1.18 rejects it (OptimizeWarning: Unknown solver options)
        }
    else:
        options = {
            "maxiter": max_iter,
            "gtol": tol,
            "norm": np.inf,
            "disp": False,  # progress comes from the hooks, for every solver
        }
    res = scipy.optimize.minimize(
        objective,
        coef0,
        method=method,
        jac=True,
        tol=tol,
        options=options,
        callback=callback,
        bounds=bounds,
    )
    if not (np.isfinite(res.fun) and np.all(np.isfinite(res.x))):
        # a step overflowed (values of X near float64's range): its iterate
        # would be a model whose every prediction is NaN
        raise ValueError(
            f"solver={solver!r} reached a non-finite objective ({res.fun}): the "
            "values of X are too large for float64 arithmetic. Scale the data "
            "(e.g. StandardScaler). The model was left as it was before this call."
        )
    if res.success and bounds is None and res.jac is not None:
        # L-BFGS-B also ends, as a success, when the objective stops falling
        # (ftol): in float32, or on a poorly scaled problem, that can be far
        # from the gradient's tol; the promise is the gradient's
        res.success = bool(np.max(np.abs(res.jac), initial=0.0) <= tol)
    n_iter = _check_optimize_result(solver, res, max_iter, tol)
    return SolverResult(coef=res.x, n_iter=n_iter)


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
