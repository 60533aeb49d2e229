"""Solvers: each owns its loop and talks to a training-data object.

``ScipySolver`` (``"cg"``, ``"lbfgs"``) asks the data for the full-batch
objective and gradient; ``SGDSolver`` asks it for column moments, a sample
of rows, passes over its rows and a metric on a validation split. The
in-memory data (``_data.py``) and the Dask data (``_dask.py``) implement
those data operations.
"""

from ._result import SolverResult
from ._schedule import LEARNING_RATES
from ._scipy import ScipySolver
from ._sgd import SGDConfig, SGDResult, SGDSolver, SGDState

SOLVERS = ("sgd", "cg", "lbfgs")

__all__ = [
    "LEARNING_RATES",
    "SOLVERS",
    "SGDConfig",
    "SGDResult",
    "SGDSolver",
    "SGDState",
    "ScipySolver",
    "SolverResult",
]
