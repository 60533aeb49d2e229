"""SGD's learning-rate schedules, in one place: the rate of every update and
the "adaptive" lowering when the stopping criterion stalls."""

LEARNING_RATES = ("constant", "invscaling", "adaptive", "decay", "linear")

# the "linear" schedule never goes below this fraction of its initial rate
# (reached only past its horizon: partial_fit calls beyond max_iter)
LINEAR_FLOOR = 1e-3

# "adaptive" stops lowering once the rate is below this fraction of its start
ADAPTIVE_FLOOR = 1e-6


class Schedule:
    """The step size of each SGD update.

    Parameters
    ----------
    name : {"constant", "invscaling", "adaptive", "decay", "linear"}
        ``"constant"`` and ``"adaptive"``: ``state.eta`` (which ``"adaptive"``
        divides by 5 in :meth:`lower`). ``"invscaling"``:
        ``eta0 / (t + 1) ** power_t`` for the ``t``-th update. ``"decay"``:
        ``eta0 / (epoch + 1) ** power_t``. ``"linear"``:
        ``eta0 * (1 - progress / horizon)``, never below
        ``LINEAR_FLOOR * eta0``, with ``progress`` the epochs done (fractions
        included) and ``horizon`` the ``max_iter`` budget.
    power_t : float
        Exponent of "invscaling" and "decay".
    """

    def __init__(self, name, power_t):
        self.name = name
        self.power_t = power_t

    def rate(self, state, progress):
        """The step size of the next update, ``progress`` epochs into training."""
        if self.name == "linear":
            return state.eta0 * max(1.0 - progress / state.horizon, LINEAR_FLOOR)
        if self.name == "invscaling":
            return state.eta0 / (state.t + 1) ** self.power_t
        if self.name == "decay":
            return state.eta0 / (state.epoch + 1) ** self.power_t
        return state.eta

    def lower(self, state):
        """Lower the rate after a stall (in place); False when it cannot."""
        if self.name != "adaptive" or state.eta <= ADAPTIVE_FLOOR * state.eta0:
            return False
        state.eta /= 5.0
        return True
