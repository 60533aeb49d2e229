"""ONNX export: a converter for skl2onnx (``pip install -e ".[onnx]"``).

Importing this module registers :class:`~sk_softmax.SoftmaxRegressionClassifier`
with skl2onnx, alone or inside a Pipeline, with the options scikit-learn's
classifiers take (``zipmap``: True, False or "columns"; ``nocl``).

The graph computes what ``predict`` and ``predict_proba`` do: the logits
``X @ coef_.T + intercept_``, then a softmax (multinomial model) or, for two
classes, ``[1 - sigmoid(z), sigmoid(z)]`` (scikit-learn's binomial model,
which a converter for ``LogisticRegression`` would get wrong: it applies a
softmax over ``[-z, z]``), and the label of the largest probability. float32
and float64 inputs are supported; the coefficients are stored in the input's
type.

Export a fitted model, then predict with ONNX Runtime:

>>> import numpy as np
>>> import onnxruntime as ort
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_iris
>>> from sk_softmax import SoftmaxRegressionClassifier
>>> import sk_softmax.onnx  # registers the converter
>>> X, y = load_iris(return_X_y=True)
>>> X = X.astype(np.float32)
>>> model = SoftmaxRegressionClassifier(solver="lbfgs", max_iter=500).fit(X, y)
>>> onx = to_onnx(model, X[:1], options={"zipmap": False})
>>> session = ort.InferenceSession(onx.SerializeToString())
>>> labels, proba = session.run(None, {session.get_inputs()[0].name: X})
>>> bool((labels == model.predict(X)).all())
True
>>> bool(np.allclose(proba, model.predict_proba(X), atol=1e-5))
True
"""

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import guess_proto_type
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.common.utils_classifier import get_label_classes

from ._backend import to_numpy
from ._classifier import SoftmaxRegressionClassifier
from ._sparse_coef import dense_coef

__all__ = ["convert_softmax_regression"]


def convert_softmax_regression(scope, operator, container):
    """skl2onnx converter of a fitted :class:`SoftmaxRegressionClassifier`."""
    model = operator.raw_operator
    X = operator.inputs[0]
    label, probabilities = operator.outputs[0], operator.outputs[1]
    # the model computes in X's float type; other X (integers) is cast to
    # float first, the type skl2onnx declares the outputs in for it (as its
    # LogisticRegression converter), never the weights to integers
    double = guess_proto_type(X.type) == TensorProto.DOUBLE
    proto = TensorProto.DOUBLE if double else TensorProto.FLOAT
    dtype = np.float64 if double else np.float32
    variable, op_name = scope.get_unique_variable_name, scope.get_unique_operator_name

    def constant(values, onnx_type=proto):
        values = np.asarray(values)
        name = variable("constant")
        container.add_initializer(name, onnx_type, values.shape, values.ravel())
        return name

    def node(op_type, inputs, output=None, **attributes):
        output = output or variable(op_type.lower())
        container.add_node(op_type, inputs, output, name=op_name(op_type), **attributes)
        return output

    coef = dense_coef(model.coef_, dtype)  # sparsify()-ed too
    intercept = np.asarray(to_numpy(model.intercept_), dtype=dtype)
    inputs = X.full_name
    if guess_proto_type(X.type) not in (TensorProto.FLOAT, TensorProto.DOUBLE):
        inputs = node("Cast", [inputs], to=proto)
    logits = node(
        "Add", [node("MatMul", [inputs, constant(coef.T)]), constant(intercept)]
    )
    if coef.shape[0] == 1:  # binomial: P(classes_[1]) = sigmoid(z)
        positive = node("Sigmoid", [logits])
        negative = node("Sub", [constant(np.ones(1, dtype=dtype)), positive])
        node("Concat", [negative, positive], probabilities.full_name, axis=1)
    else:
        # a logit that overflowed to +-inf clipped to the largest finite
        # value: the classes at +inf then share the probability, as in
        # predict_proba (Softmax would make the row NaN: inf - inf)
        big = np.finfo(dtype).max
        finite = node(
            "Min",
            [node("Max", [logits, constant(np.array([-big], dtype))]),
             constant(np.array([big], dtype))],
        )  # fmt: skip
        node("Softmax", [finite], probabilities.full_name, axis=1)
    index = node("ArgMax", [probabilities.full_name], axis=1, keepdims=0)
    # classes_, or with the option nocl=True their indices (int64 labels, as
    # skl2onnx declares the output then)
    classes = np.asarray(get_label_classes(scope, model))
    if classes.dtype.kind in "biuf":
        as_int64 = classes.astype(np.int64)
        if not np.array_equal(as_int64.astype(object), classes.astype(object)):
            # uint64 labels of 2**63 and more would wrap round to negatives
            raise ValueError(
                f"ONNX holds numeric labels as int64, and classes_ {classes!r} "
                "do not fit it. Encode the labels (as strings, or 0 to "
                "n_classes - 1) before fitting, or export with "
                "options={'nocl': True} to output the classes' indices."
            )
        labels = constant(as_int64, TensorProto.INT64)
    else:
        labels = constant(classes.astype(str).astype(object), TensorProto.STRING)
    node("Gather", [labels, index], label.full_name, axis=0)


update_registered_converter(
    SoftmaxRegressionClassifier,
    "SkSoftmaxRegressionClassifier",
    calculate_linear_classifier_output_shapes,
    convert_softmax_regression,
    options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
)
