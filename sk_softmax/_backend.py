"""Array namespace resolution: the one place that knows about array libraries.

Every numerical routine in the package takes an ``xp`` namespace (NumPy, CuPy,
PyTorch, array_api_strict, ... wrapped by ``array_api_compat``) instead of
calling NumPy directly, so the same code runs on the host and on a GPU. CuPy is
imported lazily, and whether a usable CUDA device exists is probed once.
"""

import dataclasses
import functools
import itertools
import warnings

import array_api_compat
import array_api_compat.numpy as np_compat
import numpy as np
import scipy.sparse as sp
import sklearn

BACKENDS = ("auto", "numpy", "cupy")


def get_namespace(*arrays):
    """Return the array API namespace shared by ``arrays``.

    ``None`` entries and SciPy sparse matrices are NumPy's. Mixing namespaces
    raises ``TypeError``.
    """
    arrays = [a for a in arrays if a is not None and not sp.issparse(a)]
    if not arrays:
        return np_compat
    return array_api_compat.array_namespace(*arrays)


def is_numpy_namespace(xp):
    """True when ``xp`` is NumPy or its ``array_api_compat`` wrapper."""
    return xp.__name__ in {"numpy", "array_api_compat.numpy"}


def is_numpy_array(x):
    """True for NumPy arrays and SciPy sparse matrices (host data)."""
    return isinstance(x, np.ndarray) or sp.issparse(x)


def is_cupy_array(x):
    """True for CuPy arrays (checked by module name: never imports CuPy)."""
    return type(x).__module__.split(".")[0] in {"cupy", "cupyx"}


def device(x):
    """The device of ``x`` (``"cpu"`` for NumPy and SciPy sparse)."""
    if is_numpy_array(x):
        return "cpu"
    return array_api_compat.device(x)


def to_numpy(x, xp=None):
    """Move ``x`` to a NumPy array on the host (a no-op for NumPy input)."""
    if is_numpy_array(x):
        return x
    if xp is None:
        if not array_api_compat.is_array_api_obj(x):
            return np.asarray(x)
        xp = get_namespace(x)
    name = xp.__name__
    if "cupy" in name:
        return x.get()
    if "torch" in name:
        return x.detach().cpu().numpy()
    if "array_api_strict" in name:
        import array_api_strict

        x = array_api_strict.asarray(x, device=array_api_strict.Device("CPU_DEVICE"))
    return np.asarray(x)


def all_finite(a, xp=None):
    """Whether every entry of ``a`` is finite, checked by blocks of about
    2**20 entries (no temporary of ``a``'s size: a 1,000-class model's
    weights are large, and the pages of a fresh temporary of 50 MB cost more
    than the check)."""
    xp = get_namespace(a) if xp is None else xp
    block = 2**20
    if a.ndim == 1:
        return all(
            bool(xp.all(xp.isfinite(a[start : min(start + block, a.shape[0])])))
            for start in range(0, a.shape[0], block)
        )
    rows = max(1, block // max(a.shape[1], 1))
    return all(
        bool(xp.all(xp.isfinite(a[start : min(start + rows, a.shape[0]), ...])))
        for start in range(0, a.shape[0], rows)
    )


def move_to(x, xp, dev):
    """``x`` (any namespace, or NumPy) as an array of ``xp`` on device ``dev``."""
    if is_numpy_namespace(xp):
        return to_numpy(x)
    if not is_numpy_array(x) and get_namespace(x).__name__ != xp.__name__:
        x = to_numpy(x)
    return xp.asarray(x, device=dev)


_BROKEN_CUPY = "CuPy is installed but failed to import"


@functools.cache
def cupy_status():
    """Probe CuPy once: ``(cupy module or None, error message or None)``."""
    try:
        import cupy
    except ImportError as exc:
        if getattr(exc, "name", None) == "cupy":
            return None, f"ImportError: {exc}"
        # CuPy is there but broken, e.g. CUDA libraries it cannot load
        return None, f"{_BROKEN_CUPY}: {type(exc).__name__}: {exc}"
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError and friends
        return cupy, f"{type(exc).__name__}: {exc}"
    if n_devices < 1:
        return cupy, "no CUDA device found (getDeviceCount() == 0)"
    return cupy, None


def require_cupy():
    """The ``array_api_compat`` CuPy namespace, or a clear error."""
    cupy, error = cupy_status()
    if cupy is None and error.startswith(_BROKEN_CUPY):
        raise ImportError(
            f'backend="cupy": {error}. Reinstall the CuPy wheel matching your '
            'CUDA (pip install -e ".[gpu]" from a checkout installs cupy-cuda12x, '
            '".[gpu-cuda13]" cupy-cuda13x).'
        )
    if cupy is None:
        raise ImportError(
            'backend="cupy" needs CuPy: pip install -e ".[gpu]" from a checkout '
            '(CUDA 12; ".[gpu-cuda13]" for CUDA 13), or the cupy-cudaXXx wheel '
            f"matching your CUDA. ({error})"
        )
    if error is not None:
        raise RuntimeError(
            f'backend="cupy" found CuPy but no usable CUDA device: {error}'
        )
    import array_api_compat.cupy as cp_compat

    return cp_compat


def dispatch_enabled():
    """scikit-learn's ``array_api_dispatch`` setting."""
    return bool(sklearn.get_config().get("array_api_dispatch", False))


def for_metrics(*arrays):
    """``arrays`` as scikit-learn's metrics take them: with array API
    dispatch off, arrays of another namespace moved to the host (the
    metrics refuse CuPy then, and fail inside on another device's arrays:
    array_api_strict's, PyTorch's), else as they are (None, lists, NumPy and
    SciPy sparse stay as they are)."""
    if dispatch_enabled():
        return arrays

    def elsewhere(a):
        return (
            array_api_compat.is_array_api_obj(a)
            and not is_numpy_array(a)
            and not sp.issparse(a)
        )

    return tuple(to_numpy(a) if elsewhere(a) else a for a in arrays)


def resolve_backend(backend, X):
    """Decide where a computation on ``X`` runs.

    Returns
    -------
    kind : {"numpy", "cupy", "namespace"}
        "numpy": convert to NumPy on the host; "cupy": move to the current CUDA
        device; "namespace": compute in ``X``'s own namespace and device
        (array API dispatch).
    """
    if backend == "numpy":
        return "numpy"
    if backend == "cupy":
        require_cupy()
        return "cupy"
    if is_numpy_array(X) or not array_api_compat.is_array_api_obj(X):
        return "numpy"
    if dispatch_enabled():
        return "namespace"
    try:
        np.asarray(X)
    except (TypeError, RuntimeError, ValueError) as exc:
        raise TypeError(
            f"X is a {type(X).__module__}.{type(X).__name__} that cannot be "
            "converted to NumPy, and array API dispatch is off. Either enable it "
            "(sklearn.set_config(array_api_dispatch=True), with "
            "SCIPY_ARRAY_API=1 set) to compute where X lives, or pass "
            'backend="cupy" (GPU) or backend="numpy" (host).'
        ) from exc
    return "numpy"


def is_array(x):
    """True for NumPy arrays and arrays of any array-API namespace (not sparse)."""
    return isinstance(x, np.ndarray) or (
        not sp.issparse(x) and array_api_compat.is_array_api_obj(x)
    )


def tree_map(fn, tree, host=False):
    """A copy of ``tree`` with ``fn(leaf, host)`` in place of each array leaf.

    The one walk over nested values: dataclass instances, dicts, lists,
    tuples (named tuples included) are rebuilt, array leaves (:func:`is_array`)
    replaced by ``fn(leaf, host)``, anything else (numbers, strings, None,
    other objects) kept as it is. ``host`` is True for leaves under a
    dataclass field marked ``metadata={"host": True}`` (values that always
    live on the host, whatever the device of the others); a field marked
    ``metadata={"transient": True}`` is not part of the tree: it becomes
    None in the copy.
    """
    if is_array(tree):
        return fn(tree, host)
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        changes = {}
        for f in dataclasses.fields(tree):
            if f.metadata.get("transient"):
                changes[f.name] = None
            else:
                changes[f.name] = tree_map(
                    fn, getattr(tree, f.name), host or f.metadata.get("host", False)
                )
        return dataclasses.replace(tree, **changes)
    if isinstance(tree, dict):
        return {key: tree_map(fn, value, host) for key, value in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a named tuple
        return type(tree)(*(tree_map(fn, value, host) for value in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, value, host) for value in tree)
    return tree


def state_to_host(state):
    """An estimator's ``__getstate__`` dict with CuPy arrays moved to NumPy.

    Every CuPy array of the fitted attributes and of the SGD state (walked
    with :func:`tree_map`, whatever it holds) is moved, and where each was
    is kept (its attribute and its rank in the walk), so that exactly those
    go back to the GPU on load.
    """
    moved = {}

    def to_host(name):
        rank = itertools.count()

        def move(leaf, _):
            i = next(rank)
            if is_cupy_array(leaf):
                moved.setdefault(name, []).append(i)
                return to_numpy(leaf)
            return leaf

        return move

    for key in list(state):
        if key.endswith("_") or key == "_sgd_state":
            state[key] = tree_map(to_host(key), state[key])
    if moved:
        state["_pickled_from_cupy"] = moved
    return state


def state_from_host(state):
    """Inverse of :func:`state_to_host`: back on the GPU when one is usable."""
    moved = state.pop("_pickled_from_cupy", None)
    if not moved:
        return state
    cupy, error = cupy_status()
    if cupy is None or error is not None:
        warnings.warn(
            "This model was fitted on a GPU (CuPy) and no usable GPU is here "
            f"({error}); its coefficients were loaded as NumPy arrays.",
            UserWarning,
            stacklevel=3,
        )
        return state
    if not isinstance(moved, dict):  # pickled before the walk kept the places
        moved = {"coef_": [0], "intercept_": [0]}
    for key, ranks in moved.items():  # partial_fit goes on there
        state[key] = tree_map(_to_device(cupy, set(ranks)), state[key])
    return state


def _to_device(cupy, wanted):
    """A :func:`tree_map` function moving the leaves of rank ``wanted``."""
    rank = itertools.count()

    def move(leaf, _):
        return cupy.asarray(leaf) if next(rank) in wanted else leaf

    return move
