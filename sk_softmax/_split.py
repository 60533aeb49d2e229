"""Early stopping's validation split: stratified, duplicate rows kept together."""

import numpy as np
import scipy.sparse as sp

from ._backend import to_numpy
from ._warnings import warn_at_caller

# two fixed odd 64-bit multipliers a feature, hashed from its index (no
# table: a sparse row reads no memory for them): row keys are exact integer
# sums, the same in every process and on every machine
_KEY_SEEDS = (np.uint64(0x5EED_50F7), np.uint64(0x2545_F491_4F6C_DD1D))
_GOLDEN = np.uint64(0x9E37_79B9_7F4A_7C15)
_MIX = (np.uint64(0xBF58_476D_1CE4_E5B9), np.uint64(0x94D0_49BB_1331_11EB))


def _key_multipliers(columns, seed):
    """The odd multiplier of each of ``columns`` (uint64), SplitMix64's
    finaliser of ``columns * golden + seed`` (wrapping arithmetic)."""
    z = columns.astype(np.uint64) * _GOLDEN + seed
    z = (z ^ (z >> np.uint64(30))) * _MIX[0]
    z = (z ^ (z >> np.uint64(27))) * _MIX[1]
    return (z ^ (z >> np.uint64(31))) | np.uint64(1)


def _bits(values):
    """The IEEE bits of float ``values`` as uint64 (-0.0 and 0.0 alike)."""
    values = values + values.dtype.type(0.0)  # -0.0 + 0.0 == +0.0
    kind = np.uint32 if values.dtype == np.float32 else np.uint64
    return values.view(kind).astype(np.uint64)


def _row_keys(X, compiled=False):
    """Two 64-bit keys per row, equal for equal rows, dense or sparse alike.

    A row's key is ``sum_j bits(x_j) * m_j`` (mod 2**64) for two sets of
    fixed odd multipliers ``m``: exact integer arithmetic, so equal rows get
    equal keys in every process (Python's ``hash`` is salted per process, and
    the split, so the model, must be the same everywhere for a given
    random_state), and distinct rows practically never collide (a collision
    would only put two distinct rows on the same side). Zeros add nothing, so
    a dense and a sparse copy of the same data (duplicates summed, explicit
    zeros dropped) get the same keys. Computed by row blocks: a sparse matrix
    is never copied whole, an array API / GPU array crosses to the host a
    block at a time.

    ``compiled``: a canonical CSR matrix's or a C-ordered float array's keys
    from one compiled pass over its values (Numba), read in place (other
    data: by blocks, as without), 6 to 9 times faster sparse, 4.6 times
    dense (MNIST: 23 ms instead of 107 to 113); for fits whose steps run
    compiled code (Numba is loaded for it anyway; its import costs about
    0.3 s a process, more than NumPy's keys of a few million values).

    Returns
    -------
    keys : ndarray of shape (n_samples, 2), dtype uint64
    """
    n_samples, n_features = X.shape
    keys = np.zeros((n_samples, 2), dtype=np.uint64)
    if compiled and sp.issparse(X) and X.format == "csr" and X.has_canonical_format:
        _sparse_row_keys(X.data, X.indices, X.indptr, keys)
        return keys
    if compiled and isinstance(X, np.ndarray) and X.flags.c_contiguous:
        if X.dtype in (np.float32, np.float64):  # (any other: NumPy's keys)
            _dense_row_keys(X, keys)
            return keys
    mult = None
    rows = 8192 if sp.issparse(X) else 2048  # a dense block: 2048 x 8 bytes a value
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        # a 2-D, in-bounds slice: what the array API (and sparse) accept
        block = X[start:stop, :]
        if sp.issparse(block):
            block = sp.csr_matrix(block)
            if not block.has_canonical_format:
                block = sp.csr_matrix(block, copy=True)
                block.sum_duplicates()  # explicit zeros add nothing
            values = _bits(block.data)
            for c, seed in enumerate(_KEY_SEEDS):
                terms = values * _key_multipliers(block.indices, seed)
                # row sums from a running (wrapping, exact) sum
                running = np.zeros(terms.shape[0] + 1, dtype=np.uint64)
                np.cumsum(terms, out=running[1:])
                keys[start:stop, c] = (
                    running[block.indptr[1:]] - running[block.indptr[:-1]]
                )
        else:
            if mult is None:
                columns = np.arange(n_features)
                mult = np.stack([_key_multipliers(columns, s) for s in _KEY_SEEDS], 1)
            keys[start:stop] = _bits(np.asarray(to_numpy(block))) @ mult
    return keys


def _sparse_row_keys(data, indices, indptr, keys):
    """:func:`_row_keys` of CSR arrays (no duplicate entries) into ``keys``:
    one compiled pass, both keys at once, the float values' bits read in
    place (-0.0 as 0.0)."""
    from ._split_kernel import sparse_row_keys

    if data.dtype in (np.float32, np.float64):
        kind = np.uint32 if data.dtype == np.float32 else np.uint64
        negative_zero = np.array([-0.0], data.dtype).view(kind)[0]
        bits = data.view(kind)
    else:
        bits, negative_zero = _bits(data), np.uint64(0)
    sparse_row_keys(bits, indices, indptr, *_KEY_SEEDS, negative_zero, keys)


def _dense_row_keys(X, keys):
    """:func:`_row_keys` of a C-ordered float array into ``keys``: one
    compiled pass, both keys at once, the values' bits read in place."""
    from ._split_kernel import dense_row_keys, dense_row_keys_32

    kind = np.uint32 if X.dtype == np.float32 else np.uint64
    columns = np.arange(X.shape[1])
    multipliers = [_key_multipliers(columns, seed) for seed in _KEY_SEEDS]
    negative_zero = np.uint64(np.array([-0.0], X.dtype).view(kind)[0])
    bits = X.view(np.ndarray).view(kind)
    if kind is np.uint32:  # each multiplier's low and high 32 bits
        halves = [
            half.astype(np.uint32)
            for m in multipliers
            for half in (m & np.uint64(0xFFFF_FFFF), m >> np.uint64(32))
        ]
        dense_row_keys_32(bits, *halves, negative_zero, keys)
    else:
        dense_row_keys(bits, *multipliers, negative_zero, keys)


def _unique_rows(table):
    """``np.unique(table, axis=0, return_inverse=True)`` for a 2-D integer
    table.

    The split's tables are ``(label, key, key)`` rows whose keys are hashes:
    rows that agree on their first two columns are then the same row. So one
    sort by the second column, then a stable one by the first (a radix sort
    of the small labels), orders them as the lexicographic sort would, where
    every tie of the first two columns is a tie of the whole row (checked);
    otherwise, one lexicographic sort. A third of the time on 20,000 rows.
    """
    n, width = table.shape
    if n > 1 and width > 1:
        order = np.argsort(table[:, 1])
        labels = table[order, 0]
        if labels.max() < 2**16:  # a radix sort
            labels = labels.astype(np.uint16)
        order = order[np.argsort(labels, kind="stable")]
        ordered = table[order]
        first, second = ordered[:, 0], ordered[:, 1]
        tied = (first[1:] == first[:-1]) & (second[1:] == second[:-1])
        ties = np.flatnonzero(tied)
        if np.array_equal(ordered[ties], ordered[ties + 1]):
            return _groups(ordered, order, ~tied)
    order = np.lexsort(table.T[::-1])
    ordered = table[order]
    return _groups(ordered, order, np.any(ordered[1:] != ordered[:-1], axis=1))


def _groups(ordered, order, differs):
    """``(distinct rows, inverse)`` of ``ordered = table[order]`` sorted,
    ``differs[i]`` whether its row ``i + 1`` differs from row ``i``."""
    first = np.ones(ordered.shape[0], dtype=bool)
    first[1:] = differs
    ids = np.empty(ordered.shape[0], dtype=np.intp)
    ids[order] = np.cumsum(first) - 1
    return ordered[first], ids


def make_validation_split(
    X, y, sample_weight, validation_fraction, rng, classes, compiled=False
):
    """Stratified train / validation split that keeps duplicate rows together.

    Rows with zero weight are left out of both parts (they carry no
    information). Identical rows with the same label form one group and go to
    the same side, so the validation score never sees a copy of a training
    row, and fitting with integer weights or with repeated rows gives the same
    split. Within each class, ``round(validation_fraction * n_groups)`` groups
    (at least one) are held out.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Encoded labels ``0..n_classes-1``.
    sample_weight : ndarray of shape (n_samples,)
    validation_fraction : float in (0, 1)
    rng : numpy.random.RandomState
    classes : ndarray
        The original labels, for error messages.
    compiled : bool, default=False
        The row keys from the compiled pass (:func:`_row_keys`): CSR or
        C-ordered float ``X``.

    Returns
    -------
    train_idx, val_idx : ndarray of int
    """
    y = np.asarray(y)
    sample_weight = np.asarray(sample_weight)
    positive = np.flatnonzero(sample_weight > 0)
    # one group per distinct (label, row); np.unique sorts them by label, then
    # key: an order independent of the rows' order
    table = np.column_stack(
        [y[positive].astype(np.uint64), _row_keys(X, compiled)[positive]]
    )
    groups, group_ids = _unique_rows(table)
    val_groups, train_only = [], []
    for k in range(len(classes)):
        class_groups = np.flatnonzero(groups[:, 0] == k)
        n_groups = len(class_groups)
        if n_groups < 2:  # none: a class weighted 0 on purpose, nothing to say
            if n_groups:
                train_only.append(classes[k])
            continue
        n_val = min(n_groups - 1, max(1, int(round(validation_fraction * n_groups))))
        chosen = rng.permutation(n_groups)[:n_val]
        val_groups.append(class_groups[chosen])
    if not val_groups:
        raise ValueError(
            "Early stopping cannot hold out a validation set: no class has 2 or "
            "more distinct samples with positive weight (one to train on, one to "
            "validate). Provide more samples or set early_stopping=False."
        )
    if train_only:
        warn_at_caller(
            f"Early stopping: classes {np.asarray(train_only).tolist()} "
            "have fewer than 2 distinct samples with positive weight; such a "
            "sample is kept for training and the validation set misses these "
            "classes. Provide more samples of them or set early_stopping=False.",
            UserWarning,
        )
    is_val_group = np.zeros(len(groups), dtype=bool)
    is_val_group[np.concatenate(val_groups)] = True
    is_val = is_val_group[group_ids]
    train_idx = positive[~is_val]
    val_idx = positive[is_val]
    if val_idx.shape[0] < len(classes):
        warn_at_caller(
            f"Early stopping holds out {val_idx.shape[0]} samples for "
            f"{len(classes)} classes: too few for its accuracy to tell epochs "
            "apart. Raise validation_fraction, provide more samples, or set "
            "early_stopping=False.",
            UserWarning,
        )
    return train_idx, val_idx
