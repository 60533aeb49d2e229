"""A fitted model's state, copied, and the check that a call left it alone."""

import numpy as np

from sk_softmax._backend import tree_map


def _copy(value):
    """A deep copy of a fitted value: arrays copied wherever they sit in it
    (the SGD state is a tree of plain values, walked whole)."""
    if isinstance(value, np.random.RandomState):
        # the whole state: its key and the position in it (draws move that)
        name, key, *position = value.get_state()
        return [name, key.copy(), *position]
    if hasattr(value, "shape") and not isinstance(value, np.ndarray):
        return np.array(value, copy=True)  # a sparse matrix, a device array
    return tree_map(lambda leaf, host: np.array(leaf, copy=True), value)


def fitted_state(clf):
    """Every fitted attribute, copied, for a bit-for-bit comparison."""
    return {
        key: _copy(value)
        for key, value in vars(clf).items()
        if key.endswith("_") or key in ("_sgd_state", "_random_state")
    }


def _leaves(value, path=()):
    """``(path, leaf)`` of every value in nested dicts / lists / tuples."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def assert_unchanged(before, clf):
    """``clf``'s fitted state is ``before``, bit for bit."""
    after = fitted_state(clf)
    assert after.keys() == before.keys()
    for key, value in before.items():
        old, new = list(_leaves(value)), list(_leaves(after[key]))
        assert [p for p, _ in old] == [p for p, _ in new], key
        for (path, a), (_, b) in zip(old, new, strict=True):
            if hasattr(a, "toarray"):
                a, b = a.toarray(), b.toarray()
            np.testing.assert_array_equal(a, b, err_msg=f"{key}{list(path)}")
