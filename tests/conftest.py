"""Shared test configuration: single-threaded BLAS and a global random seed.

BLAS threads
    The tests run with BLAS limited to one thread. The problems in the tests are
    tiny, and on a busy machine (a CI runner, or cores shared with other jobs)
    OpenBLAS's threads spin against each other: a ``(10, 1797) @ (1797, 64)``
    product was measured 200 times slower with the default thread count than
    with one thread. Set ``SK_SOFTMAX_TEST_BLAS_THREADS`` to another number (or
    to ``"default"`` to leave the library's choice) to change it.

``global_random_seed``
    Like scikit-learn's fixture of the same name: tests that must pass for any
    seed take it as an argument. It is 42 unless
    ``SK_SOFTMAX_TESTS_GLOBAL_RANDOM_SEED`` says otherwise: an integer, a range
    ``"0-9"`` (every seed in it, inclusive), or ``"all"`` (0-99)::

        SK_SOFTMAX_TESTS_GLOBAL_RANDOM_SEED="0-9" python -m pytest tests/test_loss.py
"""

import os

# SciPy and scikit-learn read this once, when first imported: set it before any
# test module imports them, so a plain ``python -m pytest`` runs the array API
# checks (an explicit SCIPY_ARRAY_API=0 is respected, and test_array_api fails).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def _blas_threads():
    value = os.environ.get("SK_SOFTMAX_TEST_BLAS_THREADS", "1").strip()
    return None if value == "default" else int(value)


@pytest.fixture(autouse=True, scope="session")
def _limit_blas_threads():
    """Run the whole session with the configured number of BLAS threads."""
    limit = _blas_threads()
    if limit is None:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


def _random_seeds():
    value = os.environ.get("SK_SOFTMAX_TESTS_GLOBAL_RANDOM_SEED", "42").strip()
    if value == "all":
        return list(range(100))
    if "-" in value:
        start, stop = (int(part) for part in value.split("-"))
        if not 0 <= start <= stop:
            raise ValueError(
                "SK_SOFTMAX_TESTS_GLOBAL_RANDOM_SEED must be an int, 'all' or a "
                f"range 'a-b' with 0 <= a <= b; got {value!r}."
            )
        return list(range(start, stop + 1))
    return [int(value)]


def pytest_generate_tests(metafunc):
    """Parametrize ``global_random_seed`` over the configured seeds."""
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", _random_seeds())
