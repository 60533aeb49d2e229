"""Solvers: each takes the same :class:`~sk_softmax._loss.SoftmaxLoss` interface.

A solver is a callable ``solve(objective, coef0, **options) -> SolverResult``
for the full-batch methods, where ``objective(coef) -> (loss, grad)``;
the SGD solver (``_sgd.py``) additionally keeps state between calls so that
``partial_fit`` can resume it.
"""

from ._scipy import SolverResult, minimize_scipy

__all__ = ["SolverResult", "minimize_scipy"]
