"""The array-API core on CPU: NumPy and array_api_strict (CPU and emulated device)."""

import os
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier
from sk_softmax._backend import device, get_namespace, to_numpy

xps = pytest.importorskip("array_api_strict")

COMBINATIONS = [
    ("numpy", "float64"),
    ("numpy", "float32"),
    ("CPU_DEVICE", "float64"),
    ("CPU_DEVICE", "float32"),
    ("device1", "float64"),
    ("device1", "float32"),
]
SOLVERS = [
    {"solver": "lbfgs"},
    {"solver": "cg"},
    {"solver": "sgd", "max_iter": 8},
    {"solver": "sgd", "max_iter": 8, "early_stopping": True},
    {"solver": "sgd", "max_iter": 8, "learning_rate": "linear"},
    {"solver": "sgd", "max_iter": 8, "average": True},
]


def test_array_api_scipy_flag_is_set():
    # without it scikit-learn's array API checks skip silently
    assert os.environ.get("SCIPY_ARRAY_API") == "1", (
        "export SCIPY_ARRAY_API=1 before running the tests (.ci/run does)"
    )


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X), y


def _strict(X, device_name, dtype=None):
    """``X`` on array_api_strict's ``device_name`` ("numpy": ``X`` itself)."""
    X = X if dtype is None else X.astype(dtype)
    if device_name == "numpy":
        return X
    return xps.asarray(X, device=xps.Device(device_name))


def _fit(params, X, y, **fit_params):
    clf = SoftmaxRegressionClassifier(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y, **fit_params)


@pytest.mark.parametrize(
    "params", SOLVERS, ids=lambda p: "-".join(map(str, p.values()))
)
@pytest.mark.parametrize("device_name, dtype", COMBINATIONS)
def test_array_api_same_model_as_numpy(data, params, device_name, dtype):
    X, y = data
    X = X.astype(dtype)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ref = _fit(params, X, y, sample_weight=sw)
    X_xp = _strict(X, device_name)
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit(params, X_xp, _strict(y, device_name), sample_weight=sw)
        proba = clf.predict_proba(X_xp)
        pred = clf.predict(X_xp)
        decision = clf.decision_function(X_xp)
    # the same arithmetic in another order: rounding differences only
    tol = 1e-12 if dtype == "float64" else 1e-5
    namespace = get_namespace(X_xp).__name__
    for name in ("coef_", "intercept_"):
        attr = getattr(clf, name)
        assert get_namespace(attr).__name__ == namespace
        assert device(attr) == device(X_xp)
        assert attr.dtype == X_xp.dtype
        np.testing.assert_allclose(
            to_numpy(attr), getattr(ref, name), rtol=tol, atol=tol
        )
    assert isinstance(clf.classes_, np.ndarray)
    for out in (proba, pred, decision):
        assert get_namespace(out).__name__ == namespace
        assert device(out) == device(X_xp)
    assert proba.dtype == decision.dtype == X_xp.dtype
    np.testing.assert_allclose(to_numpy(proba), ref.predict_proba(X), atol=tol)
    np.testing.assert_array_equal(to_numpy(pred), ref.predict(X))
    assert clf.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_array_api_sgd_same_batches_as_numpy(data, device_name):
    X, y = data
    ref = _fit({"max_iter": 3, "batch_size": 16}, X, y)
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit({"max_iter": 3, "batch_size": 16}, _strict(X, device_name), y)
    np.testing.assert_allclose(to_numpy(clf.coef_), ref.coef_, rtol=1e-10, atol=1e-12)
    assert clf.t_ == ref.t_
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_array_api_partial_fit_and_warm_start(data, device_name):
    X, y = data
    X_xp = _strict(X, device_name)
    with sklearn.config_context(array_api_dispatch=True):
        clf = SoftmaxRegressionClassifier(random_state=0)
        clf.partial_fit(X_xp, y, classes=[0, 1, 2]).partial_fit(X_xp, y)
        assert device(clf.coef_) == X_xp.device
        warm = _fit({"solver": "lbfgs", "warm_start": True}, X_xp, y)
        warm.fit(X_xp, y)
    ref = SoftmaxRegressionClassifier(random_state=0)
    ref.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    np.testing.assert_allclose(to_numpy(clf.coef_), ref.coef_, rtol=1e-10)


@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_array_api_pickle_round_trip(data, device_name):
    X, y = data
    X_xp = _strict(X, device_name)
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit({"solver": "lbfgs"}, X_xp, y)
        clone = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(
            to_numpy(clone.predict_proba(X_xp)), to_numpy(clf.predict_proba(X_xp))
        )


@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_array_api_sparsify_and_densify_keep_the_model_where_it_was_fitted(
    data, device_name
):
    X, y = data
    X_xp = _strict(X, device_name)
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit({"solver": "lbfgs", "l1_ratio": 1.0, "alpha": 1e-2}, X_xp, y)
        expected = to_numpy(clf.predict_proba(X_xp))
        clf.sparsify()
        np.testing.assert_allclose(to_numpy(clf.predict_proba(X_xp)), expected)
        clf.densify()
        assert get_namespace(clf.coef_).__name__ == get_namespace(X_xp).__name__
        assert device(clf.coef_) == device(X_xp)
        np.testing.assert_allclose(to_numpy(clf.predict_proba(X_xp)), expected)


def test_array_api_string_labels_stay_numpy(data):
    X, y = data
    labels = np.array(["a", "b", "c"])[y]
    X_xp = _strict(X, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit({"solver": "lbfgs"}, X_xp, labels)
        pred = clf.predict(X_xp)
    assert isinstance(pred, np.ndarray) and pred.dtype.kind == "U"
    ref = _fit({"solver": "lbfgs"}, X, labels)
    np.testing.assert_array_equal(pred, ref.predict(X))


def test_array_api_mixing_namespaces_gives_scikit_learn_error(data):
    X, y = data
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit({"solver": "lbfgs"}, _strict(X, "device1"), y)
        with pytest.raises(
            ValueError, match=r"\.predict\(\) must use the same namespace"
        ):
            clf.predict(X)
        with pytest.raises(ValueError, match="Devices used during fit"):
            clf.predict_proba(_strict(X, "CPU_DEVICE"))
        numpy_model = _fit({"solver": "lbfgs"}, X, y)
        with pytest.raises(ValueError, match="Array namespaces used during fit"):
            numpy_model.decision_function(_strict(X, "CPU_DEVICE"))


def test_array_api_model_fitted_off_dispatch_predicts_on_host(data):
    X, y = data
    clf = _fit({"solver": "lbfgs"}, X, y)
    # dispatch off: array-likes are converted, the host model predicts
    X_xp = _strict(X, "CPU_DEVICE")
    np.testing.assert_allclose(
        clf.predict_proba(np.asarray(X_xp)), clf.predict_proba(X)
    )


def test_array_api_backend_numpy_scores_arrays_of_another_device(data):
    # dispatch off, backend="numpy": fit and predict took device1's arrays
    # (moved to the host), score failed inside scikit-learn's metrics with
    # array_api_strict's RuntimeError
    X, y = data
    X_dev, y_dev = _strict(X, "device1"), _strict(y, "device1")
    clf = _fit({"solver": "lbfgs", "backend": "numpy"}, X_dev, y_dev)
    weights = _strict(np.linspace(0.5, 1.5, len(y)), "device1")
    assert clf.score(X_dev, y_dev) == clf.score(X, y)
    assert clf.score(X_dev, y_dev, sample_weight=weights) == clf.score(
        X, y, sample_weight=np.linspace(0.5, 1.5, len(y))
    )


def test_array_api_huge_inputs_are_stable_on_strict():
    X, y = load_iris(return_X_y=True)
    X_xp = _strict(StandardScaler().fit_transform(X) * 1e4, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = SoftmaxRegressionClassifier(solver="lbfgs", max_iter=20).fit(X_xp, y)
            log_proba = to_numpy(clf.predict_log_proba(X_xp))
    assert np.all(np.isfinite(log_proba))


@pytest.mark.parametrize("y_device", ["numpy", "CPU_DEVICE"])
def test_array_api_y_and_sample_weight_follow_x(data, y_device):
    # scikit-learn 1.9's rule: y and sample_weight are moved to X's namespace
    X, y = data
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    X_xp = _strict(X, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        mixed = _fit(
            {"solver": "lbfgs"},
            X_xp,
            _strict(y, y_device),
            sample_weight=_strict(sw, y_device),
        )
        same = _fit({"solver": "lbfgs"}, X_xp, _strict(y, "device1"), sample_weight=sw)
    assert device(mixed.coef_) == X_xp.device
    np.testing.assert_array_equal(to_numpy(mixed.coef_), to_numpy(same.coef_))


def test_array_api_backend_numpy_predicts_on_host_with_dispatch(data):
    X, y = data
    X_xp = _strict(X, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        clf = _fit({"solver": "lbfgs", "backend": "numpy"}, X_xp, y)
        proba = clf.predict_proba(X_xp)
        pred = clf.predict(X)
    assert isinstance(clf.coef_, np.ndarray) and isinstance(proba, np.ndarray)
    ref = _fit({"solver": "lbfgs"}, X, y)
    np.testing.assert_allclose(proba, ref.predict_proba(X))
    np.testing.assert_array_equal(pred, ref.predict(X))


def test_array_api_partial_fit_on_another_device_gives_scikit_learn_error(data):
    X, y = data
    with sklearn.config_context(array_api_dispatch=True):
        clf = SoftmaxRegressionClassifier(random_state=0)
        clf.partial_fit(_strict(X, "device1"), y, classes=[0, 1, 2])
        with pytest.raises(ValueError, match="Devices used during fit"):
            clf.partial_fit(_strict(X, "CPU_DEVICE"), y)
        with pytest.raises(ValueError, match="must use the same namespace"):
            clf.partial_fit(X, y)
    assert clf.n_iter_ == 1


@pytest.fixture
def host_syncs(monkeypatch):
    """Count device -> host reads of array_api_strict arrays.

    NumPy reads an array through ``__buffer__`` on Python >= 3.12 and through
    ``__array__`` before: both are counted, and :func:`_array_reads` adds them.
    """
    from array_api_strict._array_object import Array

    counts = {}

    def counting(name, method):
        def counted(self, *args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return method(self, *args, **kwargs)

        return counted

    names = ("__float__", "__bool__", "__int__", "__index__", "__array__", "__buffer__")
    for name in names:
        if hasattr(Array, name):
            monkeypatch.setattr(Array, name, counting(name, getattr(Array, name)))
    return counts


def _array_reads(counts):
    """Whole arrays read by NumPy, whichever protocol it used."""
    return counts.get("__array__", 0) + counts.get("__buffer__", 0)


@pytest.mark.parametrize("early_stopping, reads_per_epoch", [(False, 1), (True, 2)])
def test_array_api_sgd_syncs_host_once_per_epoch(
    data, host_syncs, early_stopping, reads_per_epoch
):
    # with early stopping the validation predictions are a second read
    X, y = data
    params = {"batch_size": 8, "early_stopping": early_stopping}
    # 12-15 minibatches an epoch; three more epochs cost three reads each
    assert _reads_of_three_epochs(host_syncs, X, y, params) == 3 * reads_per_epoch


def _reads_of_three_epochs(host_syncs, X, y, params):
    """Device reads a fit of 5 epochs makes beyond one of 2 (setup cancels)."""
    X_xp = _strict(X, "device1")
    totals = []
    for max_iter in (2, 5):
        host_syncs.clear()
        with sklearn.config_context(array_api_dispatch=True):
            clf = _fit(
                {"max_iter": max_iter, "n_iter_no_change": 100, **params}, X_xp, y
            )
        assert clf.n_iter_ == max_iter
        totals.append(sum(host_syncs.values()))
    return totals[1] - totals[0]


def test_array_api_sgd_large_data_reads_loss_and_noise_at_once(host_syncs):
    # above 10,000 rows the criterion is the pass's loss, judged against its
    # standard error: both come back in one read an epoch
    X, y = make_classification(
        n_samples=10_400, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    params = {"batch_size": 512, "early_stopping": False}
    assert _reads_of_three_epochs(host_syncs, X, y, params) == 3


def test_array_api_pass_noise_matches_numpy():
    from sk_softmax._solvers._sgd._passes import PassResult

    rng = np.random.default_rng(0)
    sums, weights = rng.uniform(0.5, 2.0, 7), np.array([3.0, 3, 3, 3, 3, 3, 1])
    host = PassResult(1.25, 19.0, [], [], batch_losses=sums, batch_weights=weights)
    on_device = PassResult(
        xps.asarray(1.25, dtype=xps.float64),
        19.0,
        [],
        [],
        batch_losses=xps.asarray(sums),
        batch_weights=weights,
    )
    assert on_device.read() == pytest.approx(host.read(), rel=1e-12)


def test_array_api_full_batch_moves_only_loss_and_gradient(
    data, host_syncs, monkeypatch
):
    from sk_softmax._loss import SoftmaxLoss

    X, y = data
    evaluations = []
    original = SoftmaxLoss.loss_gradient

    def counted(self, *args, **kwargs):
        evaluations.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SoftmaxLoss, "loss_gradient", counted)
    for solver in ("lbfgs", "cg"):
        # once a fit: the column sums (three vectors: the diagonal
        # whitening's, and a stream's that goes on from the model), and for
        # "auto" the sample of rows its whitening is from (dense, few features)
        for preconditioner, extra in (("diagonal", 3), ("auto", 4)):
            host_syncs.clear()
            evaluations.clear()
            params = {"solver": solver, "max_iter": 8, "preconditioner": preconditioner}
            with sklearn.config_context(array_api_dispatch=True):
                _fit(params, _strict(X, "device1"), y)
            # one loss value and one gradient read back per evaluation, and
            # what the whitening is from
            assert len(evaluations) > 8
            assert host_syncs["__float__"] == len(evaluations)
            assert _array_reads(host_syncs) == len(evaluations) + extra


@pytest.mark.parametrize(
    "params", SOLVERS, ids=lambda p: "-".join(map(str, p.values()))
)
@pytest.mark.parametrize("device_name, dtype", COMBINATIONS[2:])
def test_array_api_scikit_learn_check_with_values(params, device_name, dtype):
    # scikit-learn's own check, called directly so it cannot be skipped, with
    # values compared to NumPy and sample weights
    from sklearn.utils.estimator_checks import check_array_api_input

    estimator = SoftmaxRegressionClassifier(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_array_api_input(
            "SoftmaxRegressionClassifier",
            estimator,
            "array_api_strict",
            device_name=device_name,
            dtype_name=dtype,
            check_values=True,
            check_sample_weight=True,
        )


@pytest.mark.parametrize("backend", ["auto", "numpy", "cupy"])
def test_array_api_support_tag_follows_backend(backend):
    tags = SoftmaxRegressionClassifier(backend=backend).__sklearn_tags__()
    assert tags.array_api_support == (backend == "auto")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("device_name", ["CPU_DEVICE", "device1"])
def test_array_api_sgd_rejects_non_finite_X(data, bad, device_name):
    X, y = data
    X = X.copy()
    X[5, 2] = bad
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
            SoftmaxRegressionClassifier().fit(_strict(X, device_name), y)
