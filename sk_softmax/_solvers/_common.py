"""Helpers shared by the solvers."""

import numpy as np

from .._backend import to_numpy


def to_host_float64(X):
    """A dense block of rows as a float64 NumPy array (moved to the host)."""
    return np.asarray(to_numpy(X), dtype=np.float64)
