"""Held-out parity, the oracle and the epoch target: one definition for every
benchmark (issue 25).

- **Optimum**: ``SoftmaxRegressionClassifier(solver="lbfgs", alpha=a,
  tol=1e-8, max_iter=10000)`` on the same training data in float64; its test
  accuracy ``acc*`` and test log-loss ``ll*``.
- **Held-out parity**: test accuracy ``>= acc* - 0.003`` and test log-loss
  ``<= 1.02 * ll*``.
- **Oracle**: the fewest epochs ``k`` (on :data:`ORACLE_GRID`) at which a
  fresh fit with ``max_iter=k, tol=0, n_iter_no_change=10**6`` and every other
  parameter at its default (``random_state=0``) is at parity; None if no
  ``k`` up to the cap is.
- **Epoch target**: the default fit's epochs ``<= 1.5 * oracle + patience``,
  the patience being the default one in epochs (``n_iter_no_change=1``, at
  least :data:`PATIENCE_UPDATES` updates at momentum 0.9, fewer at a lower
  one: 1 epoch on data with 50 or more minibatches an epoch, as on every
  benchmark's data that this target is read on).

The benchmarks import this module (``benchmarks/`` is on ``sys.path`` when a
script there runs).
"""

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import log_loss

try:  # the engine's minimum patience, in updates
    from sk_softmax._solvers._sgd._loop import PATIENCE_UPDATES
except ImportError:  # an engine without it: the value of issue 25
    PATIENCE_UPDATES = 50

ACC_MARGIN = 0.003
LL_RATIO = 1.02
EPOCH_FACTOR = 1.5
OPTIMUM_PARAMS = {"solver": "lbfgs", "tol": 1e-8, "max_iter": 10000}
ORACLE_GRID = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100)

DEFINITIONS = f"""\
Definitions (issue 25):
- optimum: SoftmaxRegressionClassifier(solver="lbfgs", alpha=a, tol=1e-8,
  max_iter=10000) on the same training data (float64); acc* and ll* are its
  test accuracy and test log-loss
  (sklearn.metrics.log_loss(y_test, predict_proba(X_test), labels=classes_)).
- held-out parity: test accuracy >= acc* - {ACC_MARGIN} and test log-loss
  <= {LL_RATIO} * ll*.
- oracle: the fewest epochs k on the grid 1, 2, 3, 4, 5, 6, 8, 10, 12, 15,
  20, 25, 30, 40, ... such that a fresh fit with max_iter=k, tol=0,
  n_iter_no_change=10**6 and every other default (random_state=0) is at
  parity ("none" if no k up to the cap is).
- epoch target: the default fit's epochs <= {EPOCH_FACTOR} x oracle + patience,
  patience = the default one in epochs (at least {PATIENCE_UPDATES} updates:
  1 epoch where an epoch has {PATIENCE_UPDATES} minibatches or more)."""


def met(ok):
    """``"met"`` / ``"NOT met"``."""
    return "met" if ok else "NOT met"


def blas_info():
    """The BLAS / OpenMP libraries threadpoolctl sees: kernel and threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(
        f"{i['internal_api']} {i.get('version') or ''} "
        f"{i.get('architecture') or ''} x{i['num_threads']}".replace("  ", " ")
        for i in threadpool_info()
    )


def scores(model, X_test, y_test, classes=None):
    """``(test accuracy, test log-loss)`` of a fitted classifier.

    The log-loss is :func:`sklearn.metrics.log_loss` of ``predict_proba``
    (in float64) with ``labels`` the model's classes.
    """
    classes = model.classes_ if classes is None else classes
    proba = np.asarray(model.predict_proba(X_test), dtype=np.float64)
    # float32 probabilities sum to one within float32's rounding only
    proba /= proba.sum(axis=1, keepdims=True)
    acc = float(np.mean(classes[np.argmax(proba, axis=1)] == y_test))
    return acc, float(log_loss(y_test, proba, labels=classes))


def predictions(model, X_test):
    """The labels of the largest ``predict_proba`` (what :func:`scores` counts)."""
    proba = np.asarray(model.predict_proba(X_test))
    return model.classes_[np.argmax(proba, axis=1)]


def paired_se(pred_a, pred_b, y_test):
    """Standard error of the test accuracy difference of two models on the
    same test rows (paired: it depends on the rows they classify
    differently)."""
    diff = (pred_a == y_test).astype(float) - (pred_b == y_test)
    return float(np.std(diff) / np.sqrt(diff.size))


def at_parity(acc, ll, acc_opt, ll_opt):
    """Held-out parity against the optimum's ``(acc_opt, ll_opt)``."""
    return acc >= acc_opt - ACC_MARGIN and ll <= LL_RATIO * ll_opt


def parity_numbers(acc, ll, acc_opt, ll_opt):
    """``"acc -0.12 pt, ll x1.004"``: the two parity quantities."""
    return f"acc {100 * (acc - acc_opt):+.2f} pt, ll x{ll / ll_opt:.3f}"


class ColumnSubset:
    """A model fitted on some columns of X, predicting from the full width."""

    def __init__(self, model, columns):
        self.model, self.columns = model, columns
        self.classes_ = model.classes_
        self.n_iter_ = model.n_iter_

    def predict_proba(self, X):
        return self.model.predict_proba(X[:, self.columns])


def lbfgs_optimum(X, y, alpha):
    """The optimum (see the module docstring), fitted in float64.

    On sparse data only the columns some training row uses are fitted: the
    other columns' weights are exactly zero at the optimum (no data term, an
    L2 penalty), so the model is the same, at the size of the vocabulary
    rather than of the hashing space. Returns a model with ``predict_proba``
    and ``classes_``.
    """
    from sk_softmax import SoftmaxRegressionClassifier

    columns = None
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        columns = np.unique(X.indices)
        X = X[:, columns]
    else:
        X = np.asarray(X, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SoftmaxRegressionClassifier(alpha=alpha, **OPTIMUM_PARAMS).fit(X, y)
    return model if columns is None else ColumnSubset(model, columns)


def updates_per_epoch(fit):
    """Minibatch updates in the first epoch of ``fit()`` (an SGD fit), read
    from the epoch reports."""
    from sk_softmax._callbacks import observe

    counts = []
    with (
        warnings.catch_warnings(),
        observe(lambda report, parameters: counts.append(len(report.rates))),
    ):
        warnings.simplefilter("ignore")
        fit()
    return counts[0] if counts else 0


def patience_epochs(updates):
    """The default patience, in epochs, for ``updates`` minibatches an epoch."""
    return max(1, -(-PATIENCE_UPDATES // max(updates, 1)))


def epoch_target(epochs, oracle, patience):
    """``(met, text)`` of ``epochs <= 1.5 * oracle + patience``."""
    if oracle is None:
        return False, f"{epochs} epochs, oracle none (no parity on the grid)"
    bound = EPOCH_FACTOR * oracle + patience
    return epochs <= bound, (
        f"{epochs} epochs vs {EPOCH_FACTOR} x oracle {oracle} + patience "
        f"{patience} = {bound:g}"
    )


def oracle(make, X, y, X_test, y_test, acc_opt, ll_opt, cap=100):
    """The fewest epochs ``k`` on :data:`ORACLE_GRID` (up to ``cap``) whose
    fresh fit ``make(k)`` is at parity: ``(k or None, {k: (acc, ll)})``.

    ``make(k)`` returns the estimator (``max_iter=k, tol=0,
    n_iter_no_change=10**6``, other parameters at their defaults).
    """
    tried = {}
    for k in (k for k in ORACLE_GRID if k <= cap):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make(k).fit(X, y)
        tried[k] = scores(est, X_test, y_test)
        if at_parity(*tried[k], acc_opt, ll_opt):
            return k, tried
    return None, tried


def oracle_estimator(k, **params):
    """Ours for the oracle: ``max_iter=k``, stopping off, other defaults."""
    from sk_softmax import SoftmaxRegressionClassifier

    return SoftmaxRegressionClassifier(
        max_iter=k, tol=0.0, n_iter_no_change=10**6, random_state=0, **params
    )


def timed_fit(est, X, y):
    """Seconds of ``est.fit(X, y)`` (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - tic


def interleaved(makers, X, y, rounds=2):
    """Fit each of ``makers`` (name: fresh estimator) in turn, ``rounds``
    times, alternating (a busy moment of the machine hits them all).

    Returns ``{name: (best seconds, last fitted estimator)}``.
    """
    best = {name: (np.inf, None) for name in makers}
    for _ in range(rounds):
        for name, make in makers.items():
            est = make()
            seconds = timed_fit(est, X, y)
            best[name] = (min(best[name][0], seconds), est)
    return best


def oracle_and_patience(X, y, X_test, y_test, acc_opt, ll_opt, alpha, cap=100):
    """Ours on ``(X, y)``: ``(oracle epochs or None, {k: (acc, ll)} tried,
    the default patience in epochs, minibatch updates an epoch)``."""

    def budget(k):
        return oracle_estimator(k, alpha=alpha)

    k, tried = oracle(budget, X, y, X_test, y_test, acc_opt, ll_opt, cap)
    updates = updates_per_epoch(lambda: budget(1).fit(X, y))
    return k, tried, patience_epochs(updates), updates
