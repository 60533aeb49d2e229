"""Minibatch SGD as small parts (see each module).

``_state``: the state tree and the one walk over its arrays; ``_parts``: the
update rule's parts and their composition; ``_passes``: one pass over rows
(dense, or the compiled sparse loop of ``_kernel``); ``_loop``: the solver,
with named steps. The schedule (``.._schedule``) and the stopping rule
(``sk_softmax._stopping``) are parts of their own.
"""

from ._loop import SGDConfig, SGDResult, SGDSolver
from ._state import SGDState

__all__ = ["SGDConfig", "SGDResult", "SGDSolver", "SGDState"]
