"""When SGD stops: patience over the history of its criterion.

:class:`StoppingRule` reads, after every epoch (or ``partial_fit`` call),
the training loss and, with early stopping, a validation value (lower is
better), and answers with a :class:`Verdict`: whether the value is a new
best and whether the patience ran out. What a stall does (lower the rate, or
stop) is the schedule's answer (:mod:`sk_softmax._solvers._schedule`); the
best weights are kept by :class:`BestWeights`. The rule's history is a
:class:`StoppingState` of plain values, carried across ``partial_fit``
calls in the solver's state.
"""

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ._warnings import warn_at_caller

#: Below this value (in nats of log-loss) ``tol`` is read against it rather
#: than against the criterion: nearly separable data drives the loss towards
#: 0, where a relative ``tol`` asks for ever smaller gains, and changes of
#: ``tol * 0.1`` nats an epoch no longer move held-out scores. Measured on
#: standardised wine, breast cancer and iris and raw digits at ``alpha``
#: 1e-5 to 1e-3, 3 seeds (36 fits): 0 against 15 ``max_iter`` warnings,
#: 13,933 against 26,262 epochs, 24 against 25 fits at held-out parity.
LOSS_FLOOR = 0.1

#: A validation loss improves on the best only by more than this many
#: standard errors of their difference on the split (rows scored by both
#: models: a paired difference, whose noise shrinks as the models converge).
#: On bench_sparse.py's 5-class, 15-word corpus: 3 epochs instead of 7, both
#: at held-out parity; the other corpora and MNIST unchanged. A training
#: loss that is an estimate (``loss_noise``) is judged alike: on MNIST 2 or 3
#: standard errors lowered the rate too early (no fewer epochs, parity later).
NOISE_Z = 1.0

#: A stream's criterion is the mean loss of its last ``n_iter_no_change``
#: calls, and of more where those hold fewer rows than this (its patience
#: as many calls): a window of five calls of one row each is five rows'
#: loss, whose noise lowered the rate at nearly every window (a stream of
#: single rows of digits stopped learning at 77% test accuracy, fit 96%).
STREAM_WINDOW_ROWS = 256


def mean_noise(values, weights):
    """The standard error of the ``weights``-weighted mean of ``values``
    (host arrays): the weighted variance over ``n_eff - 1``, ``n_eff`` the
    effective number of values (0 with at most one). The noise a criterion's
    improvement must exceed: a validation loss's (per-row differences from
    the best model's) and a pass's loss (its minibatches' mean losses)."""
    if weights.shape[0] and float(np.max(weights)) > 0:
        # scaled by a power of two near the largest weight: exact, the same
        # values where nothing over- or underflows, and weights of 1e300 or
        # 1e-300 (whose squares are not floats) read as any others
        weights = np.ldexp(weights, -math.frexp(float(np.max(weights)))[1])
    total = float(np.sum(weights))
    n_eff = total**2 / float(np.sum(weights * weights)) if total > 0 else 0.0
    if n_eff <= 1.0:
        return 0.0
    mean = float(weights @ values) / total
    variance = max(float(weights @ (values - mean) ** 2) / total, 0.0)
    return float(np.sqrt(variance / (n_eff - 1.0)))


@dataclass
class StoppingState:
    """The stopping rule's history.

    Attributes
    ----------
    stream : bool
        Whether it is a stream's (``partial_fit``), judged on the mean loss
        of the last calls.
    recent : list of float
        A stream's last losses (the window the mean is taken over).
    recent_rows : list of int
        The rows of each of those calls.
    losses : list of float
        The last ``n_iter_no_change + 1`` training losses the rule judged
        (a stream's window means).
    best_loss : float
        The lowest of them so far.
    loss_stalls : int
        Epochs since the training loss last improved on ``best_loss`` by
        ``tol``.
    best_value, value_stalls : float, int
        The same for the validation value (early stopping).
    best_at_lowering : float
        The criterion's best when the rate was last lowered.
    """

    stream: bool = False
    recent: list = field(default_factory=list)
    recent_rows: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    best_loss: float = np.inf
    loss_stalls: int = 0
    best_value: float = np.inf
    value_stalls: int = 0
    best_at_lowering: float = np.inf

    @property
    def last_loss(self):
        return self.losses[-1]

    @property
    def previous_loss(self):
        return self.losses[-2] if len(self.losses) > 1 else np.inf


class Verdict(NamedTuple):
    """What the rule says of an epoch.

    ``new_best``: the validation value is the best so far (its weights are
    the ones to keep); ``stalled``: "validation" or "loss" when the patience
    of that criterion ran out, else None.
    """

    new_best: bool
    stalled: object


class StoppingRule:
    """Patience over the training loss, or over a validation value.

    Without early stopping the criterion is the training loss: patience runs
    out after ``n_iter_no_change`` epochs that do not improve on the best loss
    by ``tol`` (scikit-learn's convention). With early stopping it is the
    validation value (lower is better), with the same patience; the training
    loss is still recorded (the "auto" schedule reads it).

    A stream (``partial_fit``) sees one chunk per call, and chunks differ
    more from each other than one epoch from the next: there the training
    loss judged is the mean of the last ``n_iter_no_change`` calls (of more
    where they hold fewer than ``STREAM_WINDOW_ROWS`` rows, and the patience
    is then as many calls), so that the rate is lowered when the model
    stops improving, not when a chunk happens to be harder than the best
    one.

    Parameters
    ----------
    tol : float or None
        None: no stopping criterion, no epoch is a stall (the run goes to
        its end; a validation value's best is still tracked).
    n_iter_no_change : int
    validation : bool
        Whether a validation value is the criterion.
    stream : bool
    """

    def __init__(self, *, tol, n_iter_no_change, validation=False, stream=False):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.validation = validation
        self.stream = stream

    def init(self):
        """A fresh history."""
        return StoppingState(stream=self.stream)

    def update(self, state, loss, value=None, noise=0.0, loss_noise=0.0, rows=None):
        """Record an epoch's training ``loss`` (and validation ``value``, whose
        difference from the best one has standard error ``noise``) in
        ``state``; return the :class:`Verdict`. A training loss that is an
        estimate (a pass's mean minibatch loss, standard error
        ``loss_noise``) improves only by more than its noise, as a
        validation value does. ``rows``: a stream's call's rows."""
        n = self.n_iter_no_change
        if state.stream:
            n = self._stream_window(state, loss, rows)
            if n is None:
                return Verdict(False, None)
            losses = np.array(state.recent[-n:])
            weights = np.array(state.recent_rows[-n:], dtype=np.float64)
            loss = float(weights @ losses / np.sum(weights))
        state.losses = [*state.losses, loss][-(n + 1) :]
        state.loss_stalls = self._stalls(
            loss, state.best_loss, state.loss_stalls, loss_noise
        )
        state.best_loss = min(state.best_loss, loss)
        if not self.validation:
            return Verdict(False, "loss" if state.loss_stalls >= n else None)
        new_best = value < state.best_value
        state.value_stalls = self._stalls(
            value, state.best_value, state.value_stalls, noise
        )
        state.best_value = min(state.best_value, value)
        return Verdict(new_best, "validation" if state.value_stalls >= n else None)

    def _stream_window(self, state, loss, rows):
        """Record a stream's call (its ``loss`` and ``rows``); the number of
        last calls its criterion averages, None while the stream has not
        filled a window (see the class)."""
        recent_rows = state.recent_rows[-len(state.recent) :] if state.recent else []
        # a history from before rows were kept: its calls count as full
        missing = len(state.recent) - len(recent_rows)
        recent_rows = [STREAM_WINDOW_ROWS] * missing + recent_rows
        state.recent = [*state.recent, loss]
        state.recent_rows = [*recent_rows, STREAM_WINDOW_ROWS if rows is None else rows]
        calls = total = 0
        for each in reversed(state.recent_rows):
            calls, total = calls + 1, total + each
            if calls >= self.n_iter_no_change and total >= STREAM_WINDOW_ROWS:
                state.recent = state.recent[-calls:]
                state.recent_rows = state.recent_rows[-calls:]
                return calls
        return None

    def _stalls(self, value, best, stalls, noise=0.0):
        """The stall count after ``value``: reset where it improves on the
        best by ``tol``, relative to the best (or to :data:`LOSS_FLOOR`
        where the best is smaller; any finite value improves on none), and
        by more than ``noise``."""
        if self.tol is None:
            return 0
        return 0 if self._improves(value, best, noise) else stalls + 1

    def _improves(self, value, best, noise=0.0):
        margin = max(self.tol * max(abs(best), LOSS_FLOOR), NOISE_Z * noise)
        return not np.isfinite(best) or value < best - margin

    def criterion(self, state):
        """The best value of the criterion so far."""
        return state.best_value if self.validation else state.best_loss

    def improved_since_lowering(self, state):
        """Whether the criterion improved by ``tol`` since the rate was last
        lowered (or ever, before the first lowering)."""
        return self._improves(self.criterion(state), state.best_at_lowering)

    def lowered(self, state, mark=True):
        """The rate was lowered: the patience starts again (and, with
        ``mark``, the criterion's best is what the next lowering must beat)."""
        state.loss_stalls = state.value_stalls = 0
        if mark:
            state.best_at_lowering = self.criterion(state)

    def unsettled(self, state):
        """``(low, high)`` when the loss still swings over the patience window.

        A fixed rate that is too large makes the loss oscillate (or creep up)
        instead of settling: patience runs out, but that is no convergence.
        Unsettled: the loss more than doubled within the window.
        """
        if self.validation or not state.losses:
            return None
        low, high = min(state.losses), max(state.losses)
        return (low, high) if high > 2 * low else None

    def warn_unsettled(self, state, eta):
        """The ConvergenceWarning of a loss that stopped improving but swings."""
        from sklearn.exceptions import ConvergenceWarning

        low, high = self.unsettled(state)
        warn_at_caller(
            f"SGD stopped because the training loss stopped improving, but it "
            f"did not settle: it moved between {low:.4g} and {high:.4g} over the "
            f"last {len(state.losses)} epochs at learning rate {eta:.3g}. "
            "Lower learning_rate_init (or use learning_rate_init='auto' and "
            "learning_rate='adaptive'), or scale the data.",
            ConvergenceWarning,
        )

    def warn_not_converged(self, max_iter):
        """The ConvergenceWarning of a run that used up ``max_iter`` epochs."""
        from sklearn.exceptions import ConvergenceWarning

        criterion = "validation score" if self.validation else "training loss"
        warn_at_caller(
            f"SGD stopped at max_iter={max_iter} epochs before the {criterion} "
            f"stopped improving by tol={self.tol}. Increase max_iter, raise tol, "
            "or scale the data (e.g. StandardScaler).",
            ConvergenceWarning,
        )


class BestWeights:
    """The weights of the best epoch so far (early stopping restores them).

    Parameters
    ----------
    copy : callable
        Makes the snapshot (a copy where the solver state lives).
    """

    def __init__(self, copy):
        self.copy = copy
        self.coef = None
        self.score = None

    def keep(self, coef, score, owned=False):
        """``coef`` is the best so far, scoring ``score`` (kept as it is where
        ``owned``: a new array no one else holds; else copied)."""
        self.coef, self.score = coef if owned else self.copy(coef), score
