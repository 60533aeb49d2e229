"""Input checks shared by every path: X, y, labels, sample and class weights.

The in-memory and the Dask training data both call these functions, so the
same bad input gives the same error wherever it is fitted. Nothing here
touches the estimator's fitted state except through scikit-learn's
``validate_data`` (``n_features_in_``, ``feature_names_in_``), which the
estimator rolls back when its call fails.
"""

import contextlib

import array_api_compat
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._backend import (
    device,
    dispatch_enabled,
    get_namespace,
    is_cupy_array,
    is_numpy_array,
    require_cupy,
    resolve_backend,
    to_numpy,
)
from ._warnings import warn_at_caller


def validate_fit_data(estimator, X, y, *, reset, ensure_finite=True):
    """Validate ``(X, y)`` where the backend computes; labels come back on host.

    NumPy input stays NumPy; with ``backend="cupy"`` input that is not CuPy
    is validated on the host and then moved to the current CUDA device; with
    dispatch, input of another array namespace is validated where it lives.
    ``ensure_finite=False`` leaves X's NaN / infinity check to the caller
    (SGD checks it in the pass that computes its column statistics).
    """
    kind = resolve_backend(estimator.backend, X)
    params = dict(
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        reset=reset,
        ensure_all_finite=ensure_finite,
    )
    if kind == "numpy":
        X = to_numpy(X) if array_api_compat.is_array_api_obj(X) else X
        with sklearn.config_context(array_api_dispatch=False):
            X, y = validate_data(estimator, X, to_numpy(y), **params)
    elif kind == "cupy" and not is_cupy_array(X):
        # host input (or another namespace's): validated on the host, moved
        X = to_numpy(X) if array_api_compat.is_array_api_obj(X) else X
        with sklearn.config_context(array_api_dispatch=False):
            X, y = validate_data(estimator, X, to_numpy(y), **params)
        if sp.issparse(X):
            raise TypeError(
                'backend="cupy" does not support SciPy sparse input; pass a '
                'dense array or use backend="numpy".'
            )
        X = require_cupy().asarray(X)
    else:  # X's own namespace, through scikit-learn's array API dispatch
        xp = get_namespace(X)
        params["dtype"] = [xp.float64, xp.float32]
        with sklearn.config_context(array_api_dispatch=True):
            X, y = validate_data(estimator, X, y, **params)
    if sp.issparse(X) and not (X.has_canonical_format and np.all(X.data)):
        # one stored value an entry, none of them zero (a copy, only here):
        # duplicate entries are summed, for the column statistics square
        # each stored value (the steps' preconditioner and size, the
        # whitening: a matrix with its values split over duplicates trained
        # another model); stored zeros are no data, for the rules that count
        # a row's values ("auto" averaging, batch size, split) and the rate's
        # power iteration must see the same matrix with or without them
        X = X.copy()
        X.sum_duplicates()
        X.eliminate_zeros()
    y = np.asarray(to_numpy(y))
    check_targets(y)
    return X, y


def check_targets(y):
    """scikit-learn's check of classification labels, where labels NumPy
    cannot sort get :func:`refuse_unsortable`'s error."""
    try:
        check_classification_targets(y)
    except TypeError:
        refuse_unsortable(y)


def refuse_unsortable(y):
    """Raise the error of labels ``y`` that NumPy cannot sort: of mixed types,
    :func:`unique_labels`' TypeError naming them; of one type (None),
    scikit-learn's."""
    y = np.asarray(y)
    if len({type(v) for v in y.tolist()}) > 1:
        unique_labels(y, "y")
    check_classification_targets(y)
    raise TypeError(f"y holds labels that cannot be ordered: {y[:3].tolist()!r}...")


def validate_predict_data(estimator, X, method):
    """Validate ``X`` for prediction in its own namespace and device.

    With array API dispatch on and ``backend="auto"``, ``X`` must live where
    the model was fitted (scikit-learn's rule); otherwise the small
    coefficients are moved to ``X`` (``backend="numpy"`` first moves ``X`` to
    the host).
    """
    if dispatch_enabled() and estimator.backend == "auto":
        check_same_namespace(estimator, X, method)
    params = dict(accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
    if is_numpy_array(X) or not array_api_compat.is_array_api_obj(X):
        with sklearn.config_context(array_api_dispatch=False):
            return validate_data(estimator, X, **params)
    kind = resolve_backend(estimator.backend, X)
    if kind == "numpy":
        with sklearn.config_context(array_api_dispatch=False):
            return validate_data(estimator, to_numpy(X), **params)
    xp = get_namespace(X)
    params["dtype"] = [xp.float64, xp.float32]
    with sklearn.config_context(array_api_dispatch=True):
        return validate_data(estimator, X, **params)


def check_same_namespace(estimator, X, method):
    """Raise scikit-learn's error when ``X`` is not where the model was fitted."""
    # the intercepts: always an array where the fit ran (coef_ may be sparsify()-ed)
    fitted = estimator.intercept_
    if is_numpy_array(fitted) and (is_numpy_array(X) or not _is_array_api(X)):
        return
    if not _is_array_api(X):
        raise ValueError(
            f"Inputs passed to {type(estimator).__name__}.{method}() must use the "
            "same namespace and the same device as those passed to fit(). Array "
            f"namespace used during fit ({get_namespace(fitted).__name__}) is not "
            f"compatible with the array-like input passed to {method}."
        )
    xp_fit, xp_x = get_namespace(fitted), get_namespace(X)
    if xp_fit.__name__ == xp_x.__name__ and device(fitted) == device(X):
        return
    where = (
        f"Array namespaces used during fit ({xp_fit.__name__}) and {method} "
        f"({xp_x.__name__}) differ."
        if xp_fit.__name__ != xp_x.__name__
        else f"Devices used during fit ({device(fitted)}) and {method} ({device(X)}) "
        "differ."
    )
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(). {where} Move X "
        "there, or refit the model on X's namespace and device."
    )


def _is_array_api(X):
    return array_api_compat.is_array_api_obj(X) and not sp.issparse(X)


def is_dask_collection(X):
    """True for Dask arrays / dataframes, without importing Dask."""
    return type(X).__module__.split(".")[0] in {"dask", "dask_expr"} and hasattr(
        X, "__dask_graph__"
    )


def check_partial_fit_classes(classes, previous, class_weight=None):
    """The classes of a ``partial_fit`` stream, from its first call on.

    ``previous`` is ``classes_`` after the first call (None before it).
    ``class_weight="balanced"`` is refused, as scikit-learn's SGD models do:
    one chunk's class counts are not the stream's.
    """
    if isinstance(class_weight, str):
        raise ValueError(
            "class_weight='balanced' cannot be used with partial_fit: one "
            "chunk's class counts are not the stream's. Compute the weights "
            "once over all the data, e.g. dict(zip(classes, compute_class_weight("
            "'balanced', classes=classes, y=y_all))) with "
            "sklearn.utils.class_weight.compute_class_weight, and pass that dict."
        )
    if previous is None:
        if classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit "
                "(all labels the stream will contain)."
            )
        all_classes = unique_labels(classes, "classes")
        if all_classes.shape[0] < 2:
            raise ValueError(
                "partial_fit needs at least 2 classes in `classes`; got "
                f"{all_classes.tolist()}."
            )
        return all_classes
    if classes is not None and not np.array_equal(
        unique_labels(classes, "classes"), previous
    ):
        raise ValueError(
            f"classes={list(classes)!r} differs from the classes the model "
            f"was trained on, {previous.tolist()!r} (a stream keeps the classes "
            "of its first call; fit starts a new model)."
        )
    return previous


def unique_labels(labels, name):
    """The distinct labels of ``labels`` (sorted), or a ValueError / TypeError
    naming ``name`` where they are not a 1-D list of comparable labels."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D list of labels; got an array of shape "
            f"{labels.shape}."
        )
    numbers = labels if labels.dtype.kind in "fc" else None
    if labels.dtype == object:  # the floats among them (None is refused below)
        numbers = [v for v in labels.tolist() if isinstance(v, float | complex)]
    if numbers is not None and not np.all(np.isfinite(numbers)):
        raise ValueError(f"{name} contains NaN or infinity: labels must be finite.")
    try:
        return np.unique(labels)
    except TypeError as exc:  # e.g. None among numbers: not comparable
        types = sorted({type(v).__name__ for v in labels.tolist()})
        raise TypeError(
            f"{name} must hold labels of one comparable type (all numbers or all "
            f"strings); got labels of the types {types}."
        ) from exc


def encode_labels(y_classes, classes, estimator_name):
    """Check the labels seen and return the classes (sorted).

    ``y_classes`` are the distinct labels of ``y``; ``classes`` the labels the
    model knows (``partial_fit``), or None to take them from ``y`` (``fit``).
    """
    if classes is None:
        if y_classes.shape[0] < 2:
            raise ValueError(
                f"{estimator_name} needs samples of at least 2 classes in the "
                "data, but the data contains only one class: "
                f"{y_classes.tolist()[0]!r}."
            )
        return y_classes
    unseen = np.setdiff1d(y_classes, classes)
    if unseen.size:
        raise ValueError(
            f"y contains labels {unseen.tolist()!r} that are not in classes "
            f"{classes.tolist()!r}."
        )
    return classes


def check_sample_weight(sample_weight, n_samples):
    """User sample weights as float64 of shape (n_samples,); None: all ones."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    try:  # a copy: the caller's array (read-only, a pandas column) is never written
        sw = np.asarray(to_numpy(sample_weight))
        complex_weights = np.iscomplexobj(sw)  # float64 drops the imaginary part
        if not complex_weights:
            sw = np.array(sw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"sample_weight must hold numbers; could not read it as float64 ({exc})."
        ) from exc
    if complex_weights:
        raise ValueError(
            "Complex data not supported: sample_weight must hold real numbers."
        )
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    check_weight_shape(sw.shape, n_samples)
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(sw < 0):
        raise ValueError(
            f"sample_weight must be non-negative; got a minimum of {float(sw.min())!r}."
        )
    return sw


def sample_weights(sample_weight, y_enc, class_weight):
    """``s_i = sample_weight_i * class_weight[y_i]`` (float64), checked.

    The one place where the weights of a fit are made, in memory and for
    every Dask chunk.
    """
    sw = check_sample_weight(sample_weight, y_enc.shape[0])
    if class_weight is not None:
        with np.errstate(over="ignore"):
            sw = sw * class_weight[y_enc]
        if not np.all(np.isfinite(sw)):
            raise ValueError(
                "sample_weight times class_weight overflows float64; scale the "
                "weights down (only their ratios matter)."
            )
    return sw


def weight_exponent(max_weight):
    """The power of two, ``e``, for which ``np.ldexp(weights, e)`` brings the
    largest weight into [0.5, 1); 0 where it is moderate already.

    The objective divides by the total weight, so scaling every weight by the
    same power of two changes nothing but the range: huge weights (whose sum
    would overflow, or which float32 cannot hold) and tiny ones train like
    moderate ones. An exponent, not a factor: ``2**e`` itself overflows for
    subnormal weights (below ``2**-1022``), ``ldexp`` of the weights does not.
    """
    if not max_weight > 0 or 2.0**-64 <= max_weight <= 2.0**64:
        return 0
    return -int(np.frexp(max_weight)[1])


def check_weight_shape(shape, n_samples):
    """Raise unless ``sample_weight`` has one entry per row of X."""
    if len(shape) != 1 or shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) like X's rows; "
            f"got shape {tuple(shape)}."
        )


def class_totals(sample_weight, y_enc, n_classes):
    """What ``class_weight="balanced"`` balances (float64, one per class):
    each class's number of rows, or with ``sample_weight`` (checked here) its
    rows' total weight, as scikit-learn's ``LogisticRegression`` counts them:
    so integer weights balance as repeated rows do."""
    weights = None
    if sample_weight is not None:
        weights = check_sample_weight(sample_weight, y_enc.shape[0])
    return np.bincount(y_enc, weights=weights, minlength=n_classes).astype(np.float64)


def class_weight_vector(class_weight, classes, counts=None):
    """Per-class weights (float64, like ``classes``) or None.

    ``"balanced"`` needs ``counts``, the :func:`class_totals` of the data:
    ``counts.sum() / (n_classes * counts)``, as scikit-learn computes it (a
    class of no weight gets 0: its rows count for nothing either way). A
    dict must give finite, non-negative weights.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if counts is None:
            raise ValueError(
                "class_weight='balanced' needs the whole y and cannot be used with "
                "partial_fit; pass a dict of class weights instead."
            )
        counts = np.asarray(counts, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            balanced = counts.sum() / (classes.shape[0] * counts)
        return np.where(counts > 0, balanced, 0.0)
    try:
        weights = np.asarray(list(class_weight.values()), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"class_weight values must be numbers; got {class_weight!r}."
        ) from exc
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)):
        raise ValueError(
            "class_weight must map labels to finite, non-negative weights; got "
            f"{class_weight!r}."
        )
    return compute_class_weight(class_weight, classes=classes, y=classes)


def check_weight_total(total):
    """Raise when the sample weights (after class_weight) sum to zero."""
    if not total > 0:
        raise ValueError(
            "The sample weights sum to zero (after class_weight): at least one "
            "sample needs a positive weight."
        )


@contextlib.contextmanager
def unchanged_on_error(estimator, private_state=()):
    """Leave every fitted attribute as it was if the block raises.

    Fitted attributes are those ending in ``_`` and the names in
    ``private_state``. The one rollback mechanism of ``fit`` and
    ``partial_fit``: solvers work on copies and the estimator assigns its
    attributes only at the end, and this undoes what input validation sets
    before that (``n_features_in_``, ``feature_names_in_``).
    """

    def fitted_state():
        return {
            k: v
            for k, v in vars(estimator).items()
            if (k.endswith("_") and not k.startswith("__")) or k in private_state
        }

    saved = fitted_state()
    try:
        yield
    except BaseException:
        for key in set(fitted_state()) - set(saved):
            delattr(estimator, key)
        vars(estimator).update(saved)
        raise


def warn_if_unbounded(data, coef):
    """With ``alpha=0``: warn when the model separates its training data.

    Then scaling the weights up lowers the loss forever, so the objective has
    no minimum and the solver stopped where ``tol`` or ``max_iter`` did (as
    scikit-learn's unpenalised models, whose ConvergenceWarning says so).
    One pass over the data; only for unpenalised fits.
    """
    from sklearn.exceptions import ConvergenceWarning

    if data.score(coef, "accuracy") >= 1.0:
        warn_at_caller(
            "alpha=0 and the model classifies every training sample correctly: "
            "the data is separable, the weights grow without bound as the loss "
            "goes to zero, and the fitted weights are where the solver stopped. "
            "Set alpha > 0 for a unique, bounded model.",
            ConvergenceWarning,
        )
