"""ONNX export through skl2onnx (the ``[onnx]`` extra; CI installs it)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier

pytest.importorskip("skl2onnx", reason="needs the [onnx] extra: skl2onnx")
ort = pytest.importorskip("onnxruntime", reason="needs the [onnx] extra: onnxruntime")

from skl2onnx import to_onnx  # noqa: E402

import sk_softmax.onnx  # noqa: E402, F401  (registers the converter)


def _session(onx):
    return ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _fitted(n_classes, dtype, in_pipeline, solver):
    X, y = make_classification(
        n_samples=300,
        n_features=8,
        n_informative=6,
        n_classes=n_classes,
        random_state=0,
    )
    X = X.astype(dtype)
    model = SoftmaxRegressionClassifier(solver=solver, random_state=0)
    if in_pipeline:
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y), X


@pytest.mark.parametrize("in_pipeline", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_onnx_runtime_predicts_like_the_model(n_classes, dtype, in_pipeline, solver):
    model, X = _fitted(n_classes, dtype, in_pipeline, solver)
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    sess = _session(onx)
    labels, proba = sess.run(None, {sess.get_inputs()[0].name: X})
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_onnx_of_integer_input_computes_in_float(n_classes):
    # integer X: cast to float in the graph (the weights stay floats)
    model, X = _fitted(n_classes, np.float64, False, "lbfgs")
    X_int = np.round(X * 10).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_int, model.predict(X))
    sess = _session(to_onnx(model, X_int[:1], options={"zipmap": False}))
    labels, proba = sess.run(None, {sess.get_inputs()[0].name: X_int})
    np.testing.assert_array_equal(labels, model.predict(X_int))
    np.testing.assert_allclose(proba, model.predict_proba(X_int), rtol=0, atol=1e-5)


def test_onnx_zipmap_and_string_labels():
    X, y = make_classification(
        n_samples=200, n_features=6, n_classes=3, n_informative=3, random_state=0
    )
    names = np.array(["cat", "dog", "eel"])[y]
    model = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, names)
    sess = _session(to_onnx(model, X[:1].astype(np.float32)))  # zipmap: dicts
    labels, proba = sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})
    np.testing.assert_array_equal(labels, model.predict(X))
    expected = model.predict_proba(X)
    for row, probs in zip(proba, expected, strict=True):
        assert list(row) == ["cat", "dog", "eel"]
        np.testing.assert_allclose(list(row.values()), probs, atol=1e-5)


def test_onnx_of_a_sparsified_l1_model():
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    model = SoftmaxRegressionClassifier(
        solver="lbfgs", alpha=1e-2, l1_ratio=1.0, max_iter=2000
    ).fit(X, y)
    expected = model.predict_proba(X)
    model.sparsify()
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    labels, proba = _session(onx).run(None, {"X": X})
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("zipmap", [False, True])
@pytest.mark.parametrize("labels", [[5, 7, 9], ["cat", "dog", "eel"]])
def test_onnx_nocl_gives_the_class_indices(labels, zipmap):
    # the option was registered but ignored: labels came out as classes_
    # (string ones made a graph ONNX Runtime refuses to load)
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    model = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, np.array(labels)[y])
    onx = to_onnx(model, X[:1], options={"nocl": True, "zipmap": zipmap})
    index, proba = _session(onx).run(None, {"X": X})
    expected = np.searchsorted(model.classes_, model.predict(X))
    np.testing.assert_array_equal(index, expected)
    if zipmap:  # keyed by the indices too
        assert list(proba[0]) == [0, 1, 2]
        proba = np.array([list(row.values()) for row in proba])
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


def test_onnx_refuses_labels_that_int64_cannot_hold():
    # uint64 labels of 2**63 and more wrapped round to negative int64 ones:
    # every exported label was wrong, without a warning
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    labels = np.array([2**63, 2**63 + 1, 2**63 + 5], dtype=np.uint64)
    model = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, labels[y])
    with pytest.raises(ValueError, match="do not fit it. Encode the labels"):
        to_onnx(model, X[:1], options={"zipmap": False})
    # the classes' indices instead, as the message offers
    onx = to_onnx(model, X[:1], options={"nocl": True, "zipmap": False})
    index, _ = _session(onx).run(None, {"X": X})
    np.testing.assert_array_equal(
        index, np.searchsorted(model.classes_, model.predict(X))
    )
    # labels that fit (the largest int64) still come out as they are
    top = np.array([0, 2**62, 2**63 - 1], dtype=np.uint64)
    model = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, top[y])
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    exported, _ = _session(onx).run(None, {"X": X})
    np.testing.assert_array_equal(exported.astype(np.uint64), model.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_of_a_row_whose_logit_overflows_is_predict_probas(dtype):
    """A finite row whose logit overflows to inf: the graph's probabilities
    are predict_proba's limit ([1, 0, 0]), not Softmax's NaN."""
    X, y = load_iris(return_X_y=True)
    X = X.astype(dtype)
    model = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    x = np.vstack([np.zeros((1, 4)), X[:1]]).astype(dtype)
    x[0, 1] = np.finfo(dtype).max  # finite; its logits overflow
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    session = _session(onx)
    labels, proba = session.run(None, {session.get_inputs()[0].name: x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow
        expected = model.predict_proba(x)
        assert np.array_equal(labels, model.predict(x))
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba, expected, atol=1e-5)
