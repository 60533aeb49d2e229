"""Array namespace resolution: the one place that knows about array libraries.

Every numerical routine in the package takes an ``xp`` namespace (NumPy, CuPy,
PyTorch, array_api_strict, ... wrapped by ``array_api_compat``) instead of
calling NumPy directly, so the same code runs on the host and on a GPU. CuPy is
imported lazily, and whether a usable CUDA device exists is probed once.
"""

import functools
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
    """Whether every entry of ``a`` is finite, checked by blocks of rows (no
    temporary of ``a``'s size: a 1,000-class model's weights are large)."""
    xp = get_namespace(a) if xp is None else xp
    if a.ndim == 1:
        a = xp.reshape(a, (1, -1))
    rows = max(1, 2**22 // max(a.shape[1], 1))
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
            'CUDA (pip install "sk_softmax[gpu]" installs cupy-cuda12x).'
        )
    if cupy is None:
        raise ImportError(
            'backend="cupy" needs CuPy: pip install "sk_softmax[gpu]" (or the '
            f"cupy-cuda12x wheel matching your CUDA). ({error})"
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


def state_to_host(state):
    """An estimator's ``__getstate__`` dict with CuPy arrays moved to NumPy.

    The fitted coefficients and the SGD state (anything with a ``to_numpy``
    method) are moved; a marker says they came from a GPU.
    """
    on_gpu = False
    for key in ("coef_", "intercept_"):
        if is_cupy_array(state.get(key)):
            on_gpu = True
            state[key] = to_numpy(state[key])
    sgd_state = state.get("_sgd_state")
    if sgd_state is not None and is_cupy_array(sgd_state["precond"]):
        on_gpu = True
        state["_sgd_state"] = _move_arrays(sgd_state, to_numpy)
    if on_gpu:
        state["_pickled_from_cupy"] = True
    return state


def state_from_host(state):
    """Inverse of :func:`state_to_host`: back on the GPU when one is usable."""
    if not state.pop("_pickled_from_cupy", False):
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
    for key in ("coef_", "intercept_"):
        state[key] = cupy.asarray(state[key])
    if state.get("_sgd_state") is not None:  # partial_fit goes on where it was
        state["_sgd_state"] = _move_arrays(state["_sgd_state"], cupy.asarray)
    return state


def _move_arrays(sgd_state, move):
    """The SGD state (a dict) with its parameter-sized arrays moved."""
    return {
        key: move(value)
        if key in ("velocity", "precond") and value is not None
        else value
        for key, value in sgd_state.items()
    }
