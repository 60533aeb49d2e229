"""What a solver hands back, and how it becomes fitted attributes."""

from dataclasses import dataclass

import numpy as np

from .._backend import all_finite


@dataclass
class SolverResult:
    """What :meth:`ScipySolver.run` hands back to the estimator.

    Attributes
    ----------
    coef : ndarray of shape (n_coef,)
        The parameters found (layout in :mod:`sk_softmax._loss`).
    n_iter : int
        Iterations run.
    checked : bool
        Whether the solver found every weight of ``coef`` finite already
        (SGD's final check, where it read these very values): not scanned
        again.
    seen : dict or None
        A full-batch fit's training rows, for a stream that goes on from its
        model: their column moments (``ColumnMoments``' fields, host float64)
        and their number (``"rows"``); SGD's steps are scaled by them and the
        stream's rows together, as if the stream had seen them.
    """

    coef: object
    n_iter: int
    checked: bool = False
    seen: dict = None

    def fitted_attributes(self, data):
        """``coef_``, ``intercept_``, ``n_iter_``, placed like the data's
        results (and ``_seen_rows``: :attr:`seen`)."""
        W, b = fitted_parameters(data, self.coef, self.checked)
        attributes = {"coef_": W, "intercept_": b, "n_iter_": int(self.n_iter)}
        if self.seen is not None:
            attributes["_seen_rows"] = self.seen
        return attributes


def fitted_parameters(data, coef, checked=False):
    """``(coef_, intercept_)`` from the flat ``coef``, where the data puts results.

    Raises a ValueError rather than returning a non-finite model. With
    ``checked`` (the weights of ``coef`` are known finite), the weights are
    not scanned again where they keep their dtype (a cast could overflow).
    """
    loss, xp = data.loss, data.xp
    # the solver's final parameters become the model's (no copy where they
    # are already in the data's namespace and dtype: the state keeps none)
    W, b = loss.unpack(data.to_fitted(coef, copy=False), xp)
    checked = checked and W.dtype == coef.dtype
    if b is None:
        b = data.to_fitted(np.zeros(loss.n_rows))
    if not ((checked or all_finite(W, xp)) and all_finite(b, xp)):
        raise ValueError(
            "The solver produced non-finite coefficients; scale the data (e.g. "
            "StandardScaler) or increase alpha."
        )
    return W, b
