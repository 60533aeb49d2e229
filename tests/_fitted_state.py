"""A fitted model's state, copied, and the check that a call left it alone."""

import numpy as np


def fitted_state(clf):
    """Every fitted attribute, copied (arrays) for a bit-for-bit comparison."""
    state = {}
    for key, value in vars(clf).items():
        if key.endswith("_") or key in ("_sgd_state", "_random_state"):
            if isinstance(value, np.random.RandomState):
                value = value.get_state()[1].copy()
            elif key == "_sgd_state":
                value = (
                    tuple(
                        np.array(value[name], copy=True)
                        for name in ("velocity", "precond", "col_sq_sum", "t", "epoch")
                    )
                    + (
                        value["eta"],
                        value["weight_seen"],
                        repr(value["stopping"]),
                        value.get("l1_total"),
                        repr(value.get("l1_applied")),
                    )
                    + tuple(
                        np.array(value.get(name), copy=True)
                        for name in ("center", "col_sum", "col_m2")
                    )
                )
            elif hasattr(value, "shape"):
                value = np.array(value, copy=True)
            state[key] = value
    return state


def assert_unchanged(before, clf):
    """``clf``'s fitted state is ``before``, bit for bit."""
    after = fitted_state(clf)
    assert after.keys() == before.keys()
    for key, value in before.items():
        if isinstance(value, tuple):
            for a, b in zip(value, after[key], strict=True):
                np.testing.assert_array_equal(a, b, err_msg=key)
        else:
            np.testing.assert_array_equal(value, after[key], err_msg=key)
