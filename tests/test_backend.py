"""Backend selection and its error messages, on a machine without a GPU."""

import sys
import types

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris

from sk_softmax import SoftmaxRegressionClassifier, _backend


@pytest.fixture
def fresh_probe():
    _backend.cupy_status.cache_clear()
    yield
    _backend.cupy_status.cache_clear()


def test_backend_cupy_missing_raises_import_error(monkeypatch, fresh_probe):
    monkeypatch.setitem(sys.modules, "cupy", None)
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[gpu\]"'):
        SoftmaxRegressionClassifier(backend="cupy").fit(X, y)


def test_backend_broken_cupy_install_raises_import_error(monkeypatch, fresh_probe):
    class BrokenCuPy:
        """Finds ``cupy``, whose import fails on a missing CUDA dependency."""

        def find_spec(self, name, path=None, target=None):
            if name == "cupy":
                raise ModuleNotFoundError("No module named 'cuda'", name="cuda")
            return None

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [BrokenCuPy(), *sys.meta_path])
    X, y = load_iris(return_X_y=True)
    with pytest.raises(
        ImportError, match=r"installed but failed to import.*No module named 'cuda'"
    ):
        SoftmaxRegressionClassifier(backend="cupy").fit(X, y)


def test_backend_cupy_without_device_raises_runtime_error(monkeypatch, fresh_probe):
    class CUDARuntimeError(RuntimeError):
        pass

    def no_device():
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=no_device)
    )
    monkeypatch.setitem(sys.modules, "cupy", fake)
    X, y = load_iris(return_X_y=True)
    with pytest.raises(RuntimeError, match="no usable CUDA device.*cudaErrorNoDevice"):
        SoftmaxRegressionClassifier(backend="cupy").fit(X, y)


def test_backend_gpu_status_is_probed_once(monkeypatch, fresh_probe):
    calls = []

    def count():
        calls.append(1)
        return 0

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=count)
    )
    monkeypatch.setitem(sys.modules, "cupy", fake)
    for _ in range(3):
        assert _backend.cupy_status()[1] is not None
    assert len(calls) == 1


def test_backend_device_array_with_dispatch_off_raises_type_error():
    xps = pytest.importorskip("array_api_strict")
    X, y = load_iris(return_X_y=True)
    X_dev = xps.asarray(X, device=xps.Device("device1"))  # not convertible to NumPy
    with sklearn.config_context(array_api_dispatch=False):
        with pytest.raises(
            TypeError, match=r"array_api_dispatch=True.*backend=\"cupy\""
        ):
            SoftmaxRegressionClassifier().fit(X_dev, y)


def test_backend_numpy_moves_input_to_host():
    xps = pytest.importorskip("array_api_strict")
    X, y = load_iris(return_X_y=True)
    X_xp = xps.asarray(X)
    with sklearn.config_context(array_api_dispatch=True):
        clf = SoftmaxRegressionClassifier(solver="lbfgs", backend="numpy").fit(X_xp, y)
        assert isinstance(clf.coef_, np.ndarray)
        ref = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
        np.testing.assert_allclose(clf.coef_, ref.coef_)


def test_backend_auto_never_leaves_numpy_for_numpy_input():
    X, y = load_iris(return_X_y=True)
    with sklearn.config_context(array_api_dispatch=True):
        clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    assert isinstance(clf.coef_, np.ndarray)


def test_backend_rejects_unknown_value():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="'backend' parameter"):
        SoftmaxRegressionClassifier(backend="tpu").fit(X, y)


def test_backend_gpu_pickle_loads_on_host_with_warning(monkeypatch, fresh_probe):
    import pickle

    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    state = clf.__getstate__()
    state["_pickled_from_cupy"] = True  # what a CuPy-fitted model records
    restored = SoftmaxRegressionClassifier.__new__(SoftmaxRegressionClassifier)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.warns(UserWarning, match="fitted on a GPU"):
        restored.__setstate__(pickle.loads(pickle.dumps(state)))
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
    assert isinstance(restored.coef_, np.ndarray)


class _FakeDeviceArray:
    """Stands in for a CuPy array: an array API object NumPy cannot convert."""

    __module__ = "cupy._core.core"

    def __init__(self, X):
        self._X = X
        self.shape, self.dtype, self.ndim = X.shape, X.dtype, X.ndim

    def __array_namespace__(self, api_version=None):
        return np

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def __len__(self):
        return self.shape[0]


def test_backend_fake_cupy_array_with_dispatch_off_raises_type_error():
    X, y = load_iris(return_X_y=True)
    X_dev = _FakeDeviceArray(X)
    assert _backend.is_cupy_array(X_dev) and not _backend.is_cupy_array(X)
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    message = r"set_config\(array_api_dispatch=True\).*backend=\"cupy\""
    with sklearn.config_context(array_api_dispatch=False):
        with pytest.raises(TypeError, match=message):
            SoftmaxRegressionClassifier().fit(X_dev, y)
        with pytest.raises(TypeError, match=message):
            clf.predict(X_dev)


def test_backend_cupy_moves_other_namespaces_to_the_device(monkeypatch):
    # a stand-in CUDA device (NumPy's namespace): input from array_api_strict's
    # emulated device is brought to the host, validated, then handed to it
    xps = pytest.importorskip("array_api_strict")
    import array_api_compat.numpy as device_namespace

    from sk_softmax import _validation

    moved = []

    def fake_require_cupy():
        moved.append(True)
        return device_namespace

    monkeypatch.setattr(_backend, "require_cupy", fake_require_cupy)
    monkeypatch.setattr(_validation, "require_cupy", fake_require_cupy)
    X, y = load_iris(return_X_y=True)
    X_xp = xps.asarray(X, device=xps.Device("device1"))
    with sklearn.config_context(array_api_dispatch=False):
        clf = SoftmaxRegressionClassifier(solver="lbfgs", backend="cupy")
        clf.fit(X_xp, xps.asarray(y))
    assert len(moved) == 2  # resolve_backend's check, then the move
    ref = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_)


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_backend_all_finite_finds_a_value_in_any_block(namespace):
    xp = np if namespace == "numpy" else pytest.importorskip("array_api_strict")
    n = 3 * 2**20 + 5  # three whole blocks and a short one
    for position in (0, 2**20 - 1, 2**20, n - 1):
        for bad in (np.nan, np.inf, -np.inf):
            a = np.zeros(n)
            assert _backend.all_finite(xp.asarray(a))
            a[position] = bad
            assert not _backend.all_finite(xp.asarray(a))
            W = a[:-5].reshape(6, -1)  # rows of half a block
            assert _backend.all_finite(xp.asarray(W)) == (position >= n - 5)
    assert _backend.all_finite(xp.asarray(np.zeros((0, 3))))
