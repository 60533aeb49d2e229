"""``sparsify()`` / ``densify()``: ``coef_`` as a SciPy sparse matrix and back.

As on scikit-learn's linear models: an L1-penalised model (``l1_ratio > 0``)
has many exact zeros, and a CSR ``coef_`` stores and applies only the others.
Predictions accept either form (the sparse one is applied as a sparse
product on host data, and moved densely elsewhere); ``fit``, ``partial_fit``
and ``warm_start`` read it densely and leave a dense ``coef_``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ._backend import device, get_namespace, is_numpy_namespace, move_to, to_numpy


class SparseCoefMixin:
    """``sparsify`` and ``densify`` for an estimator with a ``coef_``."""

    def sparsify(self):
        """Store ``coef_`` as a ``scipy.sparse.csr_matrix`` of its non-zeros.

        Worth it when most weights are zero (an L1 penalty: count them with
        ``(clf.coef_ == 0).sum()`` before): memory and prediction then scale
        with the non-zeros. Predictions are unchanged.

        Returns
        -------
        self : object
            The estimator, with a sparse ``coef_``.
        """
        check_is_fitted(self)
        if not sp.issparse(self.coef_):
            self.coef_ = sp.csr_matrix(dense_coef(self.coef_))
        return self

    def densify(self):
        """Store ``coef_`` as a dense array again (the inverse of ``sparsify``).

        Returns
        -------
        self : object
            The estimator, with a dense ``coef_``.
        """
        check_is_fitted(self)
        if sp.issparse(self.coef_):  # back where the fit ran, as the intercepts
            b = self.intercept_
            self.coef_ = move_to(self.coef_.toarray(), get_namespace(b), device(b))
        return self


def coef_for(coef, xp, device, dtype):
    """``coef_`` ready for ``X @ coef_.T`` with ``X`` of namespace ``xp``:
    moved and cast, or a sparse ``coef_`` as it is where ``X`` is on the host."""
    if sp.issparse(coef):
        if is_numpy_namespace(xp):
            return coef
        coef = coef.toarray()
    return xp.astype(move_to(coef, xp, device), dtype, copy=False)


def dense_coef(coef, dtype=None):
    """``coef_`` as a dense host array (``sparsify()``-ed or on a GPU)."""
    coef = coef.toarray() if sp.issparse(coef) else to_numpy(coef)
    return np.asarray(coef, dtype=dtype)
