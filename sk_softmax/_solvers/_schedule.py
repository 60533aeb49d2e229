"""SGD's learning-rate schedules, in one place: the rate of every update, and
what happens when the training loss stalls (the "adaptive" lowering, the
"auto" decay)."""

LEARNING_RATES = ("auto", "constant", "invscaling", "adaptive", "decay", "linear")

# the "linear" schedule never goes below this fraction of its initial rate
# (reached only past its horizon: partial_fit calls beyond max_iter)
LINEAR_FLOOR = 1e-3

# "adaptive" stops lowering once the rate is below this fraction of its start
ADAPTIVE_FLOOR = 1e-6

# a stream (partial_fit) divides its rate by this at a stall (fit: by 5)
STREAM_LOWERING = 2.0

# "auto": an epoch that improves the training loss by less than this fraction
# of the previous epoch's is a plateau (the rate is lowered, or decays; see
# SGDStopping._update_auto)
AUTO_PLATEAU = 1e-2


class Schedule:
    """The step size of each SGD update.

    Parameters
    ----------
    name : {"auto", "constant", "invscaling", "adaptive", "decay", "linear"}
        ``"constant"`` and ``"adaptive"``: ``state.eta`` (which ``"adaptive"``
        divides by 5 in :meth:`lower`). ``"invscaling"``:
        ``eta0 / (t + 1) ** power_t`` for the ``t``-th update. ``"decay"``:
        ``eta0 / (epoch + 1) ** power_t``. ``"linear"``:
        ``eta0 * (1 - progress / horizon)``, never below
        ``LINEAR_FLOOR * eta0``, with ``progress`` the epochs done (fractions
        included) and ``horizon`` the ``max_iter`` budget. ``"auto"``:
        ``state.eta``, which the stopping rule divides by 5 when the loss gets
        worse or reaches a plateau that the previous lowering moved (see
        :meth:`~sk_softmax._stopping.SGDStopping.update`), then linearly to
        zero over the epochs since the last lowering (at least 2, within
        ``max_iter``, :meth:`start_decay`); the fit ends when the rate reaches
        zero. A stream (``partial_fit``) has no end to decay to: there "auto"
        lowers the rate like "adaptive".
    power_t : float
        Exponent of "invscaling" and "decay".
    """

    def __init__(self, name, power_t):
        self.name = name
        self.power_t = power_t

    @property
    def plateau(self):
        """The relative improvement below which the loss has reached its plateau."""
        return AUTO_PLATEAU if self.name == "auto" else None

    def rate(self, state, progress):
        """The step size of the next update, ``progress`` epochs into training."""
        if self.name == "linear":
            return state.eta0 * max(1.0 - progress / state.horizon, LINEAR_FLOOR)
        if self.name == "invscaling":
            return state.eta0 / (state.t + 1) ** self.power_t
        if self.name == "decay":
            return state.eta0 / (state.epoch + 1) ** self.power_t
        if self.name == "auto" and state.decay_start is not None:
            left = 1.0 - (progress - state.decay_start) / state.decay_epochs
            return state.eta * max(left, 0.0)
        return state.eta

    def lower(self, state, stream=False):
        """Divide the rate after a stall (in place); False when it cannot.

        By 5 in ``fit``; by ``STREAM_LOWERING`` in a stream, whose stalls are
        judged on a few noisy chunks, not on whole epochs.
        """
        if self.name not in ("adaptive", "auto"):
            return False
        if state.eta <= ADAPTIVE_FLOOR * state.eta0:
            return False
        state.eta /= STREAM_LOWERING if stream else 5.0
        return True

    def start_decay(self, state, epochs):
        """Start "auto"'s final decay, over ``epochs`` (at least 2, within
        ``max_iter``); False when it cannot."""
        left = state.horizon - state.epoch
        if self.name != "auto" or state.decay_start is not None or left < 1:
            return False
        state.decay_start = float(state.epoch)
        state.decay_epochs = float(min(max(epochs, 2), left))
        return True

    def finished(self, state):
        """Whether the rate has reached zero ("auto" at the end of its decay)."""
        if state.decay_start is None:
            return False
        return state.epoch >= state.decay_start + state.decay_epochs
