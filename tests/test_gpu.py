"""CuPy on a real GPU; skipped cleanly where there is none."""

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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs", "cg"])
def test_gpu_cupy_backend_matches_numpy(data, dtype, solver):
    X, y = data
    X = X.astype(dtype)
    params = dict(solver=solver, random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SoftmaxRegressionClassifier(**params).fit(X, y)
        gpu = SoftmaxRegressionClassifier(backend="cupy", **params).fit(X, y)
    assert type(gpu.coef_).__module__.startswith("cupy")
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(gpu.coef_.get(), ref.coef_, rtol=rtol, atol=rtol)
    # NumPy input: the coefficients move, the output is NumPy
    proba = gpu.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=rtol)


def test_gpu_dispatch_with_cupy_input(data):
    X, y = data
    X_gpu = cupy.asarray(X)
    with sklearn.config_context(array_api_dispatch=True):
        clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X_gpu, y)
        proba = clf.predict_proba(X_gpu)
    assert type(proba).__module__.startswith("cupy")


def test_gpu_pickle(data):
    X, y = data
    clf = SoftmaxRegressionClassifier(backend="cupy", solver="lbfgs").fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clone.predict_proba(X), clf.predict_proba(X))


def test_gpu_timing_table(data, capsys):
    X, y = data
    X = np.tile(X.astype(np.float32), (10, 1))
    y = np.tile(y, 10)
    rows = []
    for backend in ("numpy", "cupy"):
        clf = SoftmaxRegressionClassifier(backend=backend, max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            tic = time.perf_counter()
            clf.fit(X, y)
            cupy.cuda.Device().synchronize()
            rows.append((backend, time.perf_counter() - tic))
    with capsys.disabled():
        print("\nbackend  fit seconds (5 SGD epochs, 40000 x 50 float32)")
        for backend, seconds in rows:
            print(f"{backend:<8} {seconds:.3f}")
