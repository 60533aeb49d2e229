"""CuPy on a real GPU; skipped cleanly where there is none.

Run with ``python -m pytest -m gpu -s tests/test_gpu.py`` to see the timing
table.
"""

import pickle
import time
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sk_softmax import SoftmaxRegressionClassifier
from sk_softmax._backend import cupy_status

pytestmark = pytest.mark.gpu
cupy, _error = cupy_status()
if cupy is None or _error is not None:
    pytest.skip(f"no usable CuPy GPU: {_error}", allow_module_level=True)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=4000, n_features=50, n_informative=20, n_classes=5, random_state=0
    )
    return X, y


def _is_cupy(a):
    return type(a).__module__.split(".")[0] == "cupy"


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SoftmaxRegressionClassifier(random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs", "cg"])
def test_gpu_cupy_backend_matches_numpy(data, dtype, solver):
    X, y = data
    X = X.astype(dtype)
    ref = _fit(X, y, solver=solver, max_iter=20)
    gpu = _fit(X, y, solver=solver, max_iter=20, backend="cupy")
    assert _is_cupy(gpu.coef_) and _is_cupy(gpu.intercept_)
    assert gpu.coef_.dtype == dtype
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(gpu.coef_.get(), ref.coef_, rtol=rtol, atol=rtol)
    # NumPy input: the coefficients move, the output is NumPy, and it is the
    # GPU model's own (the two fits agree to rtol only: in float32, 20 CG
    # iterations on both sides differed by 2e-3 in probability on an H200)
    proba = gpu.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    Z = X.astype(np.float64) @ gpu.coef_.get().T + gpu.intercept_.get()
    Z = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, Z / Z.sum(axis=1, keepdims=True), atol=rtol)
    assert isinstance(gpu.predict(X), np.ndarray)


def test_gpu_sgd_same_batches_as_numpy(data):
    X, y = data
    ref = _fit(X, y, max_iter=3, batch_size=64)
    gpu = _fit(X, y, max_iter=3, batch_size=64, backend="cupy")
    np.testing.assert_allclose(gpu.coef_.get(), ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu.loss_curve_, ref.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_dispatch_with_cupy_input(data, dtype):
    X, y = data
    X = X.astype(dtype)
    X_gpu = cupy.asarray(X)
    ref = _fit(X, y, solver="lbfgs")
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit(X_gpu, cupy.asarray(y), solver="lbfgs")
        proba = clf.predict_proba(X_gpu)
        pred = clf.predict(X_gpu)
        with pytest.raises(ValueError, match="must use the same namespace"):
            clf.predict(X)
    assert _is_cupy(clf.coef_) and isinstance(clf.classes_, np.ndarray)
    assert _is_cupy(proba) and _is_cupy(pred) and proba.dtype == dtype
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(proba.get(), ref.predict_proba(X), atol=rtol)


def test_gpu_string_labels_stay_numpy(data):
    X, y = data
    labels = np.array(list("abcde"))[y]
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit(cupy.asarray(X), labels, solver="lbfgs")
        pred = clf.predict(cupy.asarray(X))
    assert isinstance(pred, np.ndarray) and pred.dtype.kind == "U"


def test_gpu_cupy_input_with_dispatch_off(data):
    X, y = data
    X_gpu = cupy.asarray(X)
    with sklearn.config_context(array_api_dispatch=False):
        with pytest.raises(TypeError, match=r"array_api_dispatch=True.*backend="):
            SoftmaxRegressionClassifier().fit(X_gpu, y)
        clf = _fit(X_gpu, y, solver="lbfgs", backend="cupy")
        # CuPy predictions, NumPy labels: scored on the host (scikit-learn's
        # metrics refuse CuPy with dispatch off)
        assert clf.score(X_gpu, y) == clf.score(X, y) > 0.5
        assert clf.score(X_gpu, cupy.asarray(y)) == clf.score(X, y)
    assert _is_cupy(clf.coef_)


def test_gpu_pickle(data):
    X, y = data
    clf = _fit(X, y, backend="cupy", max_iter=3)
    blob = pickle.dumps(clf)
    clone = pickle.loads(blob)
    assert _is_cupy(clone.coef_)  # a GPU is here: back on it
    np.testing.assert_allclose(clone.predict_proba(X), clf.predict_proba(X))
    clone.partial_fit(X, y)  # the SGD state came back on the device too
    assert clone.n_iter_ == 4


def test_gpu_timing_table(capsys):
    # an MNIST-sized problem: 60000 x 784 float32, 10 classes
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 60000)
    inputs = {"numpy": X, "cupy": cupy.asarray(X)}  # X already on the device
    rows = []
    for batch_size in (256, 8192):
        for backend, X_in in inputs.items():
            clf = SoftmaxRegressionClassifier(
                backend=backend, batch_size=batch_size, random_state=0
            )
            clf.partial_fit(X_in, y, classes=np.arange(10))  # warm-up
            seconds = []
            for _ in range(3):
                tic = time.perf_counter()
                clf.partial_fit(X_in, y)  # ends on the epoch's one host read
                cupy.cuda.Device().synchronize()
                seconds.append(time.perf_counter() - tic)
            rows.append((batch_size, backend, min(seconds)))
    with capsys.disabled():
        print("\nSGD epoch, 60000 x 784 float32, 10 classes (partial_fit, best of 3,")
        print("input validation included; measured in docs/gpu.rst)")
        print("batch_size  backend  ms/epoch")
        for batch_size, backend, seconds in rows:
            print(f"{batch_size:>10}  {backend:<7}  {seconds * 1e3:8.1f}")
