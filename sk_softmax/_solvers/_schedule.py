"""SGD's learning-rate schedules, in one place: the rate of every update, its
state, and how it reacts when the stopping criterion stalls.

A schedule is a plain configuration (:class:`Schedule`); what it needs to
remember (the current rate, the "auto" decay) is a :class:`RateState` in the
solver's state tree, carried across ``partial_fit`` calls. The stopping rule
(:mod:`sk_softmax._stopping`) only says whether the criterion improved,
stalled or must stop; the schedule decides what a stall does to the rate.
"""

from dataclasses import dataclass

import numpy as np

LEARNING_RATES = ("auto", "constant", "invscaling", "adaptive", "decay", "linear")

# the "linear" schedule never goes below this fraction of its initial rate
# (reached only past its horizon: partial_fit calls beyond max_iter)
LINEAR_FLOOR = 1e-3

# "adaptive" stops lowering once the rate is below this fraction of its start
ADAPTIVE_FLOOR = 1e-6

# a stall divides the rate by this in fit, by STREAM_LOWERING in a stream
LOWERING = 5.0
STREAM_LOWERING = 2.0

# "auto": an epoch that improves the training loss by less than this fraction
# of the previous epoch's is a plateau (the rate is lowered, or decays)
AUTO_PLATEAU = 1e-2


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
    loss_at_lowering : float
        "auto": the best training loss when the rate was last lowered.
    epoch_at_lowering : int
        "auto": the epoch of that lowering.
    """

    eta0: float
    eta: float
    horizon: int
    decay_start: float = None
    decay_epochs: float = None
    loss_at_lowering: float = np.inf
    epoch_at_lowering: int = 0


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
        ``eta``, divided by 5 when the training loss gets worse or reaches a
        plateau that the previous lowering moved (:meth:`after_epoch`), then
        linearly to zero over the epochs since the last lowering (at least
        2, within ``max_iter``); the fit ends when the rate reaches zero. A
        stream (``partial_fit``) has no end to decay to: there "auto"
        lowers the rate like "adaptive".
    power_t : float
        Exponent of "invscaling" and "decay".
    """

    def __init__(self, name, power_t):
        self.name = name
        self.power_t = power_t

    def init(self, eta0, horizon):
        """A fresh :class:`RateState`."""
        return RateState(eta0=eta0, eta=eta0, horizon=horizon)

    def resume(self, rate, learning_rate_init, horizon):
        """The state of a stream's next call (in place): a rate set by the
        user since takes effect; an "auto" decay ended by ``fit`` becomes a
        rate lowered once."""
        if learning_rate_init != "auto" and float(learning_rate_init) != rate.eta0:
            rate.eta0 = rate.eta = float(learning_rate_init)
        rate.horizon = horizon
        if rate.decay_start is not None:
            rate.decay_start = rate.decay_epochs = None
            rate.eta /= LOWERING

    def rate(self, rate, params, progress):
        """The step size of the next update, ``progress`` epochs into training
        (``params``: the update and epoch counters)."""
        if self.name == "linear":
            return rate.eta0 * max(1.0 - progress / rate.horizon, LINEAR_FLOOR)
        if self.name == "invscaling":
            return rate.eta0 / (params.t + 1) ** self.power_t
        if self.name == "decay":
            return rate.eta0 / (params.epoch + 1) ** self.power_t
        if self.name == "auto" and rate.decay_start is not None:
            left = 1.0 - (progress - rate.decay_start) / rate.decay_epochs
            return rate.eta * max(left, 0.0)
        return rate.eta

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

    def after_epoch(self, rate, history, epoch, stalled):
        """ "auto" in ``fit``: its own reaction to the training loss, before
        the stopping rule's. Returns None (no reaction: the stopping rule
        decides), "continue", "lowered" or "stop".

        Before the decay, the rate is divided by 5 when an epoch's training
        loss is worse than the previous epoch's (a rate too large for the
        gradient noise; not in the epoch right after a lowering), and when
        the loss reaches a plateau (an epoch improves on the previous one by
        less than ``AUTO_PLATEAU``, relative, or the patience ran out:
        ``stalled``) that is lower than the loss at the previous lowering by
        more than ``AUTO_PLATEAU``. A plateau that is not (the last lowering
        bought little) starts the final decay, over the epochs since that
        lowering; it runs to its end unless early stopping's patience runs
        out again (``stalled == "validation"``).
        """
        if self.name != "auto":
            return None
        if self.finished(rate, epoch):
            return "stop"
        if rate.decay_start is not None:
            return "stop" if stalled == "validation" else "continue"
        loss, previous = history.last_loss, history.previous_loss
        plateau = loss > previous * (1.0 - AUTO_PLATEAU)
        if not (stalled or plateau):
            return "continue"
        gained = history.best_loss < rate.loss_at_lowering * (1.0 - AUTO_PLATEAU)
        if loss > previous and epoch - rate.epoch_at_lowering < 2:
            return "continue"  # the epoch after a lowering still carries momentum
        if (loss > previous or gained) and self.on_stall(rate):
            rate.loss_at_lowering = history.best_loss
            rate.epoch_at_lowering = epoch
        elif not self._start_decay(rate, epoch, epoch - rate.epoch_at_lowering):
            return "stop"
        return "lowered"

    def _start_decay(self, rate, epoch, epochs):
        """Start "auto"'s final decay, over ``epochs`` (at least 2, within
        ``max_iter``); False when it cannot."""
        left = rate.horizon - epoch
        if rate.decay_start is not None or left < 1:
            return False
        rate.decay_start = float(epoch)
        rate.decay_epochs = float(min(max(epochs, 2), left))
        return True

    def finished(self, rate, epoch):
        """Whether the rate has reached zero ("auto" at the end of its decay)."""
        if rate.decay_start is None:
            return False
        return epoch >= rate.decay_start + rate.decay_epochs
