"""When SGD stops: patience on the training loss or the validation score.

Two small objects that know nothing about the optimiser: :class:`EarlyStopping`
reads the validation scores and keeps the best weights; :class:`SGDStopping`
reads the epoch losses (or delegates to :class:`EarlyStopping`) and, when
patience runs out, asks the learning-rate schedule to lower the rate before it
gives up. Both are plain values: ``partial_fit`` keeps an :class:`SGDStopping`
in the solver state, so the patience carries over from call to call.
"""

import copy

import numpy as np

from ._exceptions import warn_at_caller


class EarlyStopping:
    """Patience tracker over a score to maximise, keeping the best weights.

    Parameters
    ----------
    n_iter_no_change : int
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float
        Minimum improvement over the best score that resets the patience.
    """

    def __init__(self, n_iter_no_change, tol):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.best_score = -np.inf
        self.best_coef = None
        self.n_no_improvement = 0

    def update(self, score, coef, copy):
        """Record an epoch's ``score``; return True when patience ran out.

        ``copy(coef)`` snapshots the weights when ``score`` is the best so far.
        """
        if score < self.best_score + self.tol:
            self.n_no_improvement += 1
        else:
            self.n_no_improvement = 0
        if score > self.best_score:
            self.best_score = score
            self.best_coef = copy(coef)
        return self.n_no_improvement >= self.n_iter_no_change

    def reset_patience(self):
        """Start counting again (after the schedule lowers the rate)."""
        self.n_no_improvement = 0


class SGDStopping:
    """SGD's stopping rule, after every epoch (or every ``partial_fit`` call).

    Without early stopping the criterion is the training loss: patience runs
    out after ``n_iter_no_change`` epochs that do not improve on the best loss
    by ``tol`` (scikit-learn's convention). With early stopping it is the
    validation score, tracked by :class:`EarlyStopping` (which keeps the best
    weights). When patience runs out the schedule may lower the rate and go on
    (the "adaptive" schedule divides it by 5), unless the previous lowering
    brought no improvement at all; otherwise it is time to stop.

    A stream (``partial_fit``) sees one chunk per call, and chunks differ
    more from each other than one epoch from the next: there the criterion is
    the mean loss of the last ``n_iter_no_change`` calls (``stream=True``),
    so that the rate is lowered when the model stops improving, not when a
    chunk happens to be harder than the best one.

    Parameters
    ----------
    tol : float
    n_iter_no_change : int
    early_stopping : bool
    stream : bool
    plateau : float or None
        Relative improvement of the training loss below which the loss has
        reached its plateau (the "auto" schedule then lowers its rate or
        starts its decay, early stopping or not); None: no such rule.
    """

    # (a state saved before the "auto" schedule has none of these)
    plateau = None
    loss_at_lowering = np.inf
    epoch_at_lowering = 0

    def __init__(
        self, *, tol, n_iter_no_change, early_stopping=False, stream=False, plateau=None
    ):
        self.tol = tol
        self.plateau = plateau
        self.n_iter_no_change = n_iter_no_change
        self.stream = stream
        self.recent_losses = []
        self.validation = (
            EarlyStopping(n_iter_no_change, tol) if early_stopping else None
        )
        self.best_loss = np.inf
        self.n_no_improvement = 0
        self.criterion_at_lowering = -np.inf
        self.last_losses = []  # the patience window's losses

    def copy(self):
        """An independent copy (a failed call must not advance the original)."""
        return copy.deepcopy(self)

    def to_dict(self):
        """The training-loss rule's state as plain values (no early stopping)."""
        if self.validation is not None:
            raise ValueError("early stopping's state is not kept between calls")
        return dict(vars(self), validation=None)

    @classmethod
    def from_dict(cls, values):
        """Inverse of :meth:`to_dict`."""
        stopping = cls.__new__(cls)
        vars(stopping).update(values)
        return stopping

    def update(self, state, epoch_loss, schedule, score=None, copy=None, model=None):
        """Record an epoch; return "continue", "lowered" or "stop".

        ``state`` is the solver state (the schedule lowers its rate in
        place); ``score``, ``copy`` and ``model`` are needed with early
        stopping (the validation score, how to snapshot weights, and the
        weights scored: ``state.coef`` when None).
        """
        model = state.coef if model is None else model
        if self.plateau is not None:
            return self._update_auto(state, epoch_loss, schedule, score, copy, model)
        if self.validation is not None:
            stop = self.validation.update(score, model, copy)
            criterion = self.validation.best_score
        else:
            stop = self._track_loss(epoch_loss)
            criterion = -self.best_loss
        if not stop:
            return "continue"
        improved = criterion > self.criterion_at_lowering + self.tol
        if improved and schedule.lower(state, self.stream):
            self.criterion_at_lowering = criterion
            self.n_no_improvement = 0
            if self.validation is not None:
                self.validation.reset_patience()
            return "lowered"
        return "stop"

    def _update_auto(self, state, epoch_loss, schedule, score, copy, model):
        """The "auto" schedule's rule (``fit``): lower, decay, then stop.

        Before the decay, the rate is divided by 5 when an epoch's training
        loss is worse than the previous epoch's (a rate too large for the
        gradient noise; not in the epoch right after a lowering), and when
        the loss reaches a plateau (an epoch improves on the previous one by
        less than ``plateau``, relative, or the patience runs out, on the
        validation score with early stopping) that is lower than the loss at
        the previous lowering by more than ``plateau``. A plateau that is not
        (the last lowering bought little) starts the final decay, over the
        epochs since that lowering; it runs to its end unless early
        stopping's patience runs out again.
        """
        previous = self.last_losses[-1] if self.last_losses else np.inf
        patience_out = self._track_loss(epoch_loss)
        if self.validation is not None:
            patience_out = self.validation.update(score, model, copy)
        if schedule.finished(state):
            return "stop"
        if state.decay_start is not None:
            return (
                "stop" if patience_out and self.validation is not None else "continue"
            )
        plateau = epoch_loss > previous * (1.0 - self.plateau)
        if not (patience_out or plateau):
            return "continue"
        gained = self.best_loss < self.loss_at_lowering * (1.0 - self.plateau)
        if epoch_loss > previous and state.epoch - self.epoch_at_lowering < 2:
            return "continue"  # the epoch after a lowering still carries its momentum
        if (epoch_loss > previous or gained) and schedule.lower(state):
            self.loss_at_lowering = self.best_loss
            self.epoch_at_lowering = state.epoch
        elif not schedule.start_decay(state, state.epoch - self.epoch_at_lowering):
            return "stop"
        self.n_no_improvement = 0
        if self.validation is not None:
            self.validation.reset_patience()
        return "lowered"

    def _track_loss(self, epoch_loss):
        """Record a training loss; True when the patience ran out."""
        if self.stream:
            window = [*self.recent_losses, epoch_loss][-self.n_iter_no_change :]
            self.recent_losses = window
            if len(window) < self.n_iter_no_change:
                return False
            epoch_loss = sum(window) / len(window)
        self.last_losses = [*self.last_losses, epoch_loss][
            -(self.n_iter_no_change + 1) :
        ]
        if epoch_loss > self.best_loss - self.tol:
            self.n_no_improvement += 1
        else:
            self.n_no_improvement = 0
        self.best_loss = min(self.best_loss, epoch_loss)
        return self.n_no_improvement >= self.n_iter_no_change

    def unsettled(self):
        """``(low, high)`` when the loss still swings over the patience window.

        A fixed rate that is too large makes the loss oscillate (or creep up)
        instead of settling: patience runs out, but that is no convergence.
        Unsettled: the loss more than doubled within the window, by more than
        ``100 * tol``.
        """
        if self.validation is not None or not self.last_losses:
            return None
        low, high = min(self.last_losses), max(self.last_losses)
        return (low, high) if high - low > max(low, 100 * self.tol) else None

    def warn_unsettled(self, eta):
        """The ConvergenceWarning of a loss that stopped improving but swings."""
        from sklearn.exceptions import ConvergenceWarning

        low, high = self.unsettled()
        warn_at_caller(
            f"SGD stopped because the training loss stopped improving, but it "
            f"did not settle: it moved between {low:.4g} and {high:.4g} over the "
            f"last {len(self.last_losses)} epochs at learning rate {eta:.3g}. "
            "Lower learning_rate_init (or use learning_rate_init='auto' and "
            "learning_rate='adaptive'), or scale the data.",
            ConvergenceWarning,
        )

    def warn_not_converged(self, max_iter):
        """The ConvergenceWarning of a run that used up ``max_iter`` epochs."""
        from sklearn.exceptions import ConvergenceWarning

        criterion = "training loss" if self.validation is None else "validation score"
        warn_at_caller(
            f"SGD stopped at max_iter={max_iter} epochs before the {criterion} "
            f"stopped improving by tol={self.tol}. Increase max_iter, raise tol, "
            "or scale the data (e.g. StandardScaler).",
            ConvergenceWarning,
        )
