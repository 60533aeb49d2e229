"""SGD's learning-rate schedules, in one place: the rate of every update, its
state, and how it reacts when the stopping criterion stalls.

A schedule is a plain configuration (:class:`Schedule`); what it needs to
remember (the current rate, the "auto" decay) is a :class:`RateState` in the
solver's state tree, carried across ``partial_fit`` calls. The stopping rule
(:mod:`sk_softmax._stopping`) only says whether the criterion improved,
stalled or must stop; the schedule decides what a stall does to the rate.
"""

import math
from dataclasses import dataclass

import numpy as np

from .._stopping import LOSS_FLOOR

LEARNING_RATES = ("auto", "constant", "invscaling", "adaptive", "decay", "linear")

# the "linear" schedule never goes below this fraction of its initial rate
# (reached only past its horizon: partial_fit calls beyond max_iter)
LINEAR_FLOOR = 1e-3

# "adaptive" stops lowering once the rate is below this fraction of its start
ADAPTIVE_FLOOR = 1e-6

# a stall divides the rate by this in fit, by STREAM_LOWERING in a stream
LOWERING = 5.0
STREAM_LOWERING = 2.0

# "auto": a stall lowers the rate while the criterion's best fell by more
# than this fraction since the last lowering; then the rate decays to zero
AUTO_GAIN = 1e-2

# "auto" with its single lowering (large data, the criterion an estimate):
# the decay starts without waiting for a stall once, SETTLE_EPOCHS after the
# lowering, the noise the lowered rate leaves in the loss is below this
# fraction of it. SGD's excess loss at a constant rate is about proportional
# to the rate, so the lowering by LOWERING removed (LOWERING - 1) / LOWERING
# of it: what is left is the drop since the lowering over LOWERING - 1.
# MNIST (alpha=1e-4, seeds 0 to 4): 1.1% to 1.2% left, 9 to 11 epochs instead
# of 12 to 15, at held-out parity; bench_quality's 20- and 50-class problems
# (7% to 14% left): the same fits, but at alpha=1 (4 of 6) 1 to 3 epochs fewer.
# Where more is left, the decay takes an epoch for every QUIET_EXCESS of it
# (at least its usual 2): the 50-class problem, 9% to 14% left, 17 of 18 fits
# at held-out parity instead of 14 (test log-loss 0.9% to 2.1% above the
# optimum's at alpha <= 1e-4, instead of 1.9% to 4.4%), in 7 to 10 epochs of
# decay instead of 2
QUIET_EXCESS = 1.5e-2
SETTLE_EPOCHS = 2


@dataclass
class RateState:
    """What a schedule remembers.

    Attributes
    ----------
    eta0 : float
        Initial learning rate.
    eta : float
        Current rate of the "constant" / "adaptive" / "auto" schedules.
    horizon : int
        Length of the "linear" schedule in epochs (``max_iter``).
    decay_start, decay_epochs : float or None
        The "auto" schedule's final decay: the epoch it started at and its
        length (None before it starts).
    flat_end : bool
        Whether that final stretch keeps the rate instead of decaying it
        (an averaged model's: see :meth:`Schedule.after_epoch`).
    best_at_lowering : float
        "auto": the criterion's best when the rate was last lowered.
    lowered_at : int or None
        "auto": the epoch it was last lowered at (None before).
    previous_best : float
        "auto": the criterion's best an epoch ago.
    hand_set : bool
        Whether ``eta0`` is the user's ``learning_rate_init`` (a number), not
        the rate computed from the data (``"auto"``).
    """

    eta0: float
    eta: float
    horizon: int
    decay_start: float = None
    decay_epochs: float = None
    flat_end: bool = False
    best_at_lowering: float = np.inf
    lowered_at: int = None
    previous_best: float = np.inf
    hand_set: bool = False

    def rescale(self, factor):
        """The automatic rate ``factor`` times what it is, as the fit's own
        from now on (``eta0`` too: a later lowering, and a stream's next
        call, start from it)."""
        self.eta0 = self.eta = self.eta * factor


class Schedule:
    """The step size of each SGD update, and the reaction to a stall.

    Parameters
    ----------
    name : {"auto", "constant", "invscaling", "adaptive", "decay", "linear"}
        ``"constant"`` and ``"adaptive"``: ``eta`` (which ``"adaptive"``
        divides by 5 at a stall). ``"invscaling"``:
        ``eta0 / (t + 1) ** power_t`` for the ``t``-th update. ``"decay"``:
        ``eta0 / (epoch + 1) ** power_t``. ``"linear"``:
        ``eta0 * (1 - progress / horizon)``, never below
        ``LINEAR_FLOOR * eta0``, with ``progress`` the epochs done (fractions
        included) and ``horizon`` the ``max_iter`` budget. ``"auto"``:
        ``eta``, divided by 5 at each stall of the stopping criterion while
        that still pays, then linearly to zero over a few epochs
        (:meth:`after_epoch`); the fit ends when the rate reaches zero. A
        stream (``partial_fit``) has no end to decay to: there "auto"
        lowers the rate like "adaptive".
    power_t : float
        Exponent of "invscaling" and "decay".
    """

    def __init__(self, name, power_t):
        self.name = name
        self.power_t = power_t

    def init(self, eta0, horizon, hand_set=False):
        """A fresh :class:`RateState`."""
        return RateState(eta0=eta0, eta=eta0, horizon=horizon, hand_set=hand_set)

    def resume(self, rate, learning_rate_init, horizon, auto_rate, unsure=False):
        """The state of a stream's next call (in place): a rate set by the
        user since takes effect, and so does ``"auto"`` set back after one
        (``auto_rate()``: the rate computed from the data, as a fit starts
        with); an "auto" decay ended by ``fit`` becomes a rate lowered once.
        ``unsure``: the automatic rate was read from too few rows, and
        ``auto_rate()`` lowers it where it is lower."""
        if learning_rate_init != "auto":
            if float(learning_rate_init) != rate.eta0 or not rate.hand_set:
                rate.eta0 = rate.eta = float(learning_rate_init)
            rate.hand_set = True
        elif rate.hand_set:
            rate.eta0 = rate.eta = float(auto_rate())
            rate.hand_set = False
        elif unsure:
            fresh = float(auto_rate())
            if fresh < rate.eta0:
                rate.eta, rate.eta0 = min(rate.eta, fresh), fresh
        rate.horizon = horizon
        if rate.decay_start is not None:
            rate.decay_start = rate.decay_epochs = None
            rate.flat_end = False
            rate.eta /= LOWERING

    def rates(self, rate, t, epoch, progress):
        """The step sizes of a pass's updates (an array): the ``i``-th is
        the ``t[i]``-th update of the fit, ``progress[i]`` epochs into
        training (arrays), in epoch ``epoch``. The rate state changes only
        between passes, so a pass's rates are known when it starts."""
        progress = np.asarray(progress, dtype=np.float64)
        if self.name == "linear":
            left = np.maximum(1.0 - progress / rate.horizon, LINEAR_FLOOR)
            return rate.eta0 * left
        if self.name == "invscaling":
            return rate.eta0 / (np.asarray(t, dtype=np.float64) + 1) ** self.power_t
        if self.name == "decay":
            eta = rate.eta0 / (epoch + 1) ** self.power_t
        elif self.name == "auto" and rate.decay_start is not None:
            if rate.flat_end:  # the averaged model's last epochs
                return np.full(progress.shape, rate.eta)
            left = 1.0 - (progress - rate.decay_start) / rate.decay_epochs
            return rate.eta * np.maximum(left, 0.0)
        else:
            eta = rate.eta
        return np.full(progress.shape, eta)

    def on_stall(self, rate, stream=False):
        """The stopping criterion stalled: lower the rate (in place); False
        when this schedule does not, or cannot any more.

        By 5 in ``fit``; by ``STREAM_LOWERING`` in a stream, whose stalls are
        judged on a few noisy chunks, not on whole epochs.
        """
        if self.name not in ("adaptive", "auto"):
            return False
        if rate.eta <= ADAPTIVE_FLOOR * rate.eta0:
            return False
        rate.eta /= STREAM_LOWERING if stream else LOWERING
        return True

    def after_epoch(
        self, rate, best, epoch, stalled, decay_epochs, once=False, averaged=False
    ):
        """ "auto" in ``fit``: its answer to the stopping rule's verdict on an
        epoch. Returns None (not "auto": the stopping rule's default answer
        applies), "continue", "lowered" or "stop".

        The rate stays at ``eta`` while the criterion improves. When its
        patience runs out (``stalled``), the rate is divided by 5 if the
        criterion's ``best`` fell by more than ``AUTO_GAIN`` since the last
        lowering (the first stall always lowers it); otherwise it falls
        linearly to zero over ``decay_epochs`` epochs, and the fit ends
        there (or earlier, when a validation score stops improving again:
        ``stalled == "validation"``). With ``once``, the rate is lowered
        at the first stall only; the next one starts the decay, and so does
        an earlier epoch where the lowered rate leaves little noise
        (:meth:`_quiet`); that decay runs to its end (the best epoch is
        kept: a validation score that stalls in it, its rate still half
        the lowered one, does not cut it short).

        ``averaged`` (an averaged model judged on a split): the rate is never
        lowered; the first stall starts the last ``decay_epochs`` epochs at
        the same rate (``flat_end``), which the split's rows rejoin. The
        average smooths the steps' noise already, and a lower rate only
        slows its drift towards the optimum (bench_sparse.py's 50-class,
        100-word corpus on every row at 4 times the automatic rate: 0.37
        point below the optimum's test accuracy after 5 epochs, lowered at
        its first stall; kept, 0.10 below after 5 epochs and 0.02 after 8;
        benchmarks/README.md).
        """
        if self.name != "auto":
            return None
        if self.finished(rate, epoch):
            return "stop"
        if rate.decay_start is not None:
            return "stop" if stalled == "validation" and not once else "continue"
        if once and self._quiet(rate, best, epoch):
            if self._start_decay(rate, epoch, decay_epochs):
                return "lowered"
        if not stalled:
            return "continue"
        if averaged:
            started = self._start_decay(rate, epoch, decay_epochs, flat=True)
            return "lowered" if started else "stop"
        at = rate.best_at_lowering
        gained = not np.isfinite(at) or best < at - AUTO_GAIN * abs(at)
        if once and np.isfinite(at):  # lowered already: the decay
            gained = False
        if gained and self.on_stall(rate):
            rate.best_at_lowering = best
            rate.lowered_at = epoch
            return "lowered"
        left = self._left(rate, best)
        if once and np.isfinite(left):  # an epoch per QUIET_EXCESS of noise left
            decay_epochs = max(decay_epochs, math.ceil(left / QUIET_EXCESS))
        if self._start_decay(rate, epoch, decay_epochs):
            return "lowered"
        return "stop"

    def _left(self, rate, best):
        """The noise the lowered rate leaves in the loss, as a fraction of
        it (of ``LOSS_FLOOR`` at least, as ``tol`` is read): the drop since
        the lowering over ``LOWERING - 1``; inf before a lowering."""
        if not np.isfinite(rate.best_at_lowering):
            return np.inf
        return (
            (rate.best_at_lowering - best) / (LOWERING - 1) / max(abs(best), LOSS_FLOOR)
        )

    def _quiet(self, rate, best, epoch):
        """Whether, ``SETTLE_EPOCHS`` or more after the lowering, the loss
        has settled with little noise left: :meth:`_left` is below
        ``QUIET_EXCESS``, and this epoch gained no more than it (the descent
        the lowering allowed is over). Records ``best`` as the previous
        epoch's for the next call."""
        previous, rate.previous_best = rate.previous_best, best
        if rate.lowered_at is None or epoch < rate.lowered_at + SETTLE_EPOCHS:
            return False
        left = self._left(rate, best)
        scale = max(abs(best), LOSS_FLOOR)
        return left < QUIET_EXCESS and (previous - best) / scale <= left

    def _start_decay(self, rate, epoch, epochs, flat=False):
        """Start "auto"'s final decay, over ``epochs`` (at least 2, within
        ``max_iter``); ``flat``: its rate kept (``flat_end``; at least 1).
        False when it cannot."""
        left = rate.horizon - epoch
        if rate.decay_start is not None or left < 1 or epochs < 1:
            return False
        rate.decay_start = float(epoch)
        rate.decay_epochs = float(min(max(epochs, 1 if flat else 2), left))
        rate.flat_end = flat
        return True

    @property
    def ends_at_max_iter(self):
        """Whether ``max_iter`` is the schedule's own end, not a cut-off:
        "linear" spends that budget, its rate reaching zero there."""
        return self.name == "linear"

    def lowered(self, rate):
        """Whether the rate has been lowered since the start."""
        return rate.eta < rate.eta0

    def finished(self, rate, epoch):
        """Whether the rate has reached zero ("auto" at the end of its decay)."""
        if rate.decay_start is None:
            return False
        return epoch >= rate.decay_start + rate.decay_epochs
