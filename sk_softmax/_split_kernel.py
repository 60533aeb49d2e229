"""The compiled half of the split's row keys (Numba).

Imported by :func:`sk_softmax._split._row_keys` for a canonical CSR matrix
or a C-ordered float array when asked for their compiled keys (fits whose
steps run compiled code: the sparse loop, the dense batches of
:class:`~sk_softmax._loss.NumpyBatchLoss`): Numba is imported then, not
with the package.
"""

import numpy as np
from numba import njit

from ._split import _GOLDEN, _MIX

_MIX_1, _MIX_2 = _MIX
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_ODD = np.uint64(1)
_S32 = np.uint64(32)


@njit(cache=True, nogil=True, inline="always")
def _multiplier(column, seed):
    """:func:`sk_softmax._split._key_multipliers` of one column."""
    z = np.uint64(column) * _GOLDEN + seed
    z = (z ^ (z >> _S30)) * _MIX_1
    z = (z ^ (z >> _S27)) * _MIX_2
    return (z ^ (z >> _S31)) | _ODD


@njit(cache=True, nogil=True)
def sparse_row_keys(bits, indices, indptr, seed_0, seed_1, negative_zero, keys):
    """``keys[i, c] = sum bits * multiplier(column, seed_c)`` over row ``i``'s
    stored values (wrapping uint64 arithmetic: the same integers as the
    NumPy formula), in one pass over the CSR arrays without temporaries.

    ``bits``: the values' IEEE bits (uint32 or uint64), ``negative_zero``'s
    counted as 0 (the bits of 0.0).
    """
    for i in range(indptr.shape[0] - 1):
        k0 = np.uint64(0)
        k1 = np.uint64(0)
        for nz in range(indptr[i], indptr[i + 1]):
            j = indices[nz]
            b = np.uint64(bits[nz])
            if b == negative_zero:
                continue
            k0 += b * _multiplier(j, seed_0)
            k1 += b * _multiplier(j, seed_1)
        keys[i, 0] = k0
        keys[i, 1] = k1


@njit(cache=True, nogil=True)
def dense_row_keys(bits, multipliers_0, multipliers_1, negative_zero, keys):
    """:func:`sparse_row_keys` of a dense array's rows, ``bits`` its values'
    IEEE bits (uint32 or uint64, C-ordered), ``multipliers_c`` the columns'
    (:func:`sk_softmax._split._key_multipliers`): zeros add nothing, so the
    keys are those of the same rows stored sparse."""
    n_samples, n_features = bits.shape
    zero = np.uint64(0)
    for i in range(n_samples):
        k0 = zero
        k1 = zero
        row = bits[i]
        for j in range(n_features):
            b = np.uint64(row[j])
            if b == negative_zero:
                b = zero
            k0 += b * multipliers_0[j]
            k1 += b * multipliers_1[j]
        keys[i, 0] = k0
        keys[i, 1] = k1


@njit(cache=True, nogil=True)
def dense_row_keys_32(bits, low_0, high_0, low_1, high_1, negative_zero, keys):
    """:func:`dense_row_keys` of 32-bit ``bits`` (float32 values), each
    multiplier given as its low and high 32 bits (uint32 arrays): ``b * m``
    is ``b * low + (b * high) * 2^32`` (mod 2^64), products of 32-bit
    integers, which vectorise where 64-bit ones do not (MNIST: 44 ms instead
    of 54); the same keys."""
    n_samples, n_features = bits.shape
    zero = np.uint64(0)
    for i in range(n_samples):
        k0 = zero
        k1 = zero
        h0 = zero
        h1 = zero
        row = bits[i]
        for j in range(n_features):
            b = np.uint64(row[j])
            if b == negative_zero:
                b = zero
            k0 += b * np.uint64(low_0[j])
            k1 += b * np.uint64(low_1[j])
            h0 += b * np.uint64(high_0[j])
            h1 += b * np.uint64(high_1[j])
        keys[i, 0] = k0 + (h0 << _S32)
        keys[i, 1] = k1 + (h1 << _S32)
