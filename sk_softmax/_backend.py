"""Array namespace resolution: the one place that knows about array libraries.

Every numerical routine in the package takes an ``xp`` namespace (NumPy, CuPy,
PyTorch, array_api_strict, ... wrapped by ``array_api_compat``) instead of
calling NumPy directly, so the same code runs on the host and on a GPU.
"""

import array_api_compat
import array_api_compat.numpy as np_compat
import numpy as np
import scipy.sparse as sp


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


def device(x):
    """The device of ``x`` (``"cpu"`` for NumPy and SciPy sparse)."""
    if sp.issparse(x) or isinstance(x, np.ndarray):
        return "cpu"
    return array_api_compat.device(x)


def to_numpy(x, xp=None):
    """Move ``x`` to a NumPy array on the host (a no-op for NumPy input)."""
    if isinstance(x, np.ndarray) or sp.issparse(x):
        return x
    if xp is None:
        if not array_api_compat.is_array_api_obj(x):
            return np.asarray(x)
        xp = get_namespace(x)
    name = xp.__name__
    if "cupy" in name:
        return x.get()
    if "torch" in name:
        return x.cpu().numpy()
    if "array_api_strict" in name:
        import array_api_strict

        x = array_api_strict.asarray(x, device=array_api_strict.Device("CPU_DEVICE"))
    return np.asarray(x)
