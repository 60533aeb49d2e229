"""Bad input and faults: a clear error and the model unchanged, or a good model.

A catalogue of the classes of defects that once slipped through, for every
solver, on dense float64 / float32 and sparse data. No NumPy RuntimeWarning
may escape a call (they are errors here). The Dask cases are in test_dask.py.
"""

import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _fitted_state import assert_unchanged, fitted_state  # noqa: I001
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SOLVERS = [
    {"solver": "sgd"},
    {"solver": "sgd", "early_stopping": True},
    {"solver": "cg"},
    {"solver": "lbfgs"},
]
KINDS = ["float64", "float32", "csr"]


def _ids(params):
    return "-".join(map(str, params.values()))


def _as(kind, X):
    if kind == "csr":
        return sp.csr_matrix(X)
    return np.asarray(X, dtype=kind)


def _iris(kind="float64"):
    X, y = load_iris(return_X_y=True)
    return _as(kind, StandardScaler().fit_transform(X)), y


def _fit_quietly(clf, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(*args, **kwargs)


# --------------------------------------------------- a failed call changes nothing
@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
@pytest.mark.parametrize("kind", KINDS)
def test_failed_first_fit_leaves_an_unfitted_model(params, kind):
    X, y = _iris(kind)
    clf = SoftmaxRegressionClassifier(**params)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X[:50], y[:50])
    assert fitted_state(clf) == {}
    with pytest.raises(NotFittedError):
        clf.predict(X)


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
def test_failed_refit_keeps_width_and_feature_names(params):
    pd = pytest.importorskip("pandas")
    X, y = _iris()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = _fit_quietly(SoftmaxRegressionClassifier(random_state=0, **params), frame, y)
    before = fitted_state(clf)
    other = pd.DataFrame(X[:50, :3], columns=["x", "y", "z"])
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(other, y[:50])
    assert_unchanged(before, clf)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]
    clf.predict(frame)  # still the model of the first fit


def test_validation_rows_too_large_for_float32_raise_and_keep_the_model():
    """A held-out row with a value too large for the model's float32 scores
    (the training rows fine): a ValueError naming the split and what to do,
    not an internal TypeError after max_iter epochs of NaN scores; the model
    of the fit before is kept."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = SoftmaxRegressionClassifier(early_stopping=True, random_state=0)
    clf.fit(X, y)
    before = fitted_state(clf)
    X[8, 0] = 3e38 if y[8] else -3e38  # finite; row 8 is held out (seed 0)
    with pytest.raises(ValueError, match="validation split.*Scale the data.*float64"):
        clf.fit(X, y)
    assert_unchanged(before, clf)


def test_the_advice_to_pass_float64_is_given_for_float32_data_only():
    # float64 data was told to "pass it as float64"
    from sk_softmax._solvers._sgd._loop import _float64_hint

    assert _float64_hint(np.dtype(np.float32)) == ", or pass it as float64"
    assert _float64_hint(np.dtype(np.float64)) == ""


def test_failed_fit_leaves_the_stream_generator_of_a_random_state_instance():
    """With ``random_state`` a RandomState instance (the user's) the model
    keeps a generator of its own: a later fit that fails after drawing from
    the user's generator, or the user's own draws, leave the fitted state
    bit for bit, and the stream goes on as an untouched copy's does."""
    X, y = _iris()
    rs = np.random.RandomState(0)
    clf = _fit_quietly(SoftmaxRegressionClassifier(random_state=rs, max_iter=5), X, y)
    twin = pickle.loads(pickle.dumps(clf))
    before = fitted_state(clf)
    clf.set_params(learning_rate="constant", learning_rate_init=1e6, momentum=0.0)
    with pytest.raises(ValueError, match="diverged"):
        clf.fit(X * 1e3, y)
    assert_unchanged(before, clf)
    rs.rand(10)  # the user's generator used elsewhere
    clf.set_params(learning_rate="auto", learning_rate_init="auto", momentum="auto")
    twin.set_params(random_state=clf.random_state)
    clf.partial_fit(X, y)
    twin.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coef_, twin.coef_)


# ----------------------------------------------- a diverging update is noticed
@pytest.mark.parametrize("kind", KINDS)
def test_partial_fit_divergence_in_the_last_update_is_caught(kind):
    X, y = _iris(kind)
    clf = SoftmaxRegressionClassifier(random_state=0).partial_fit(
        X, y, classes=[0, 1, 2]
    )
    before = fitted_state(clf)
    clf.set_params(learning_rate_init=1e12, learning_rate="constant")
    # one minibatch: its only update is after the only loss the pass computes
    with pytest.raises(ValueError, match=r"diverged.*learning rate 1e\+12"):
        clf.partial_fit(X[:20], y[:20])
    assert_unchanged(before, clf)


def test_a_swinging_loss_at_a_fixed_rate_is_not_convergence():
    X, y = load_digits(return_X_y=True)  # unscaled: a rate of 1 overshoots
    # (penalised: unpenalised, the separable data's loss creeps towards zero)
    # with momentum 0.9 (momentum="auto" is about 0.7 at that rate, where the
    # steps' noise stays small enough for the loss to settle)
    clf = SoftmaxRegressionClassifier(
        learning_rate="constant",
        learning_rate_init=1.0,
        momentum=0.9,
        alpha=1e-4,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="did not settle.*learning rate 1"):
        clf.fit(X, y)


# ------------------------------------------------------ weights, all validated
@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({0: -1.0, 1: 1.0, 2: 1.0}, "finite, non-negative"),
        ({0: np.inf, 1: 1.0, 2: 1.0}, "finite, non-negative"),
        ({0: np.nan, 1: 1.0, 2: 1.0}, "finite, non-negative"),
        ({0: "heavy", 1: 1.0, 2: 1.0}, "must be numbers"),
        ({0: 1e300, 1: 1.0, 2: 1.0}, "overflows float64"),
    ],
)
def test_bad_class_weight_is_refused(params, class_weight, message):
    X, y = _iris()
    clf = _fit_quietly(SoftmaxRegressionClassifier(random_state=0, **params), X, y)
    before = fitted_state(clf)
    clf.set_params(class_weight=class_weight)
    sample_weight = np.full(len(y), 1e10)  # with the 1e300 class: an overflow
    with pytest.raises((ValueError, TypeError), match=message):
        clf.fit(X, y, sample_weight=sample_weight)
    assert_unchanged(before, clf)


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [1e300, 1e308, 1e-300, 1e-310])
def test_huge_and_tiny_weights_train_like_moderate_ones(params, kind, scale):
    # only the ratios of the weights matter: float32 cannot hold 1e300, 150
    # weights of 1e308 sum past float64's range, and the power of two that
    # brings subnormal ones (1e-310) up overflows, yet the model is the same
    X, y = _iris(kind)
    weights = np.where(y == 1, 1.0, 0.5)
    # the full-batch solvers run to their optimum: float32 CG paths cut short
    # differ with the last bit of a weight
    budget = {"max_iter": 20}
    if params["solver"] != "sgd":
        budget = {"max_iter": 2000, "tol": 1e-9}
    params = {"random_state": 0, **budget, **params}
    ref = _fit_quietly(SoftmaxRegressionClassifier(**params), X, y, weights)
    clf = _fit_quietly(SoftmaxRegressionClassifier(**params), X, y, weights * scale)
    assert np.all(np.isfinite(clf.coef_))
    # the solvers' own precision: a float32 objective stops CG within ~1e-3
    atol = 1e-2 if kind == "float32" else 1e-6
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=atol)


@pytest.mark.parametrize("params", SOLVERS[:2], ids=_ids)
def test_float32_features_whose_squares_overflow_still_train(params):
    X, y = _iris("float32")
    X_big = X.copy()
    X_big[:, 3] *= np.float32(1e19)  # x**2 overflows float32, x does not
    ref = _fit_quietly(SoftmaxRegressionClassifier(random_state=0, **params), X, y)
    clf = _fit_quietly(SoftmaxRegressionClassifier(random_state=0, **params), X_big, y)
    assert np.all(np.isfinite(clf.coef_))
    if not clf.early_stopping:  # the feature is used (early stopping: noisier)
        assert clf.score(X_big, y) >= ref.score(X, y) - 0.02
    X_huge = X.copy()
    X_huge[:, 3] *= np.float32(1e30)  # its step would round to zero in float32
    with pytest.raises(ValueError, match="too large to train on in float32"):
        SoftmaxRegressionClassifier(**params).fit(X_huge, y)


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
def test_sample_weight_read_only_is_read_and_never_written(params):
    # a pandas column under copy-on-write is a read-only array; huge weights
    # are rescaled, on a copy: the caller's array is never touched
    X, y = _iris()
    weights = np.where(y == 1, 1e30, 5e29)
    weights.flags.writeable = False
    clf = _fit_quietly(
        SoftmaxRegressionClassifier(random_state=0, **params), X, y, weights
    )
    assert clf.score(X, y) > 0.8
    np.testing.assert_array_equal(weights, np.where(y == 1, 1e30, 5e29))
    writable = np.full(y.shape[0], 1e-30)
    clf = SoftmaxRegressionClassifier(random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2], sample_weight=writable)
    np.testing.assert_array_equal(writable, 1e-30)


def test_sample_weight_that_is_not_numbers_is_named():
    X, y = _iris()
    with pytest.raises(ValueError, match="sample_weight must hold numbers"):
        SoftmaxRegressionClassifier().fit(X, y, sample_weight=["x"] * y.shape[0])


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
def test_complex_sample_weight_is_refused(params):
    # float64 dropped the imaginary part (NumPy's ComplexWarning escaped), as
    # LogisticRegression and this estimator's complex X refuse it
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="Complex data not supported"):
            clf.fit(X, y, sample_weight=np.ones(y.shape[0]) + 5j)
    assert fitted_state(clf) == {}


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
@pytest.mark.parametrize("kind", ["float64", "csr"])
def test_features_whose_squares_overflow_float64_are_refused(params, kind):
    # finite X near float64's range: no model of NaN predictions, no "diverged"
    X, y = _iris()
    X_huge = _as(kind, X * 1e160)
    clf = SoftmaxRegressionClassifier(random_state=0, **params).fit(X, y)
    before = fitted_state(clf)
    # (the full-batch solvers: where their whitening reads the column moments
    # first, the same error as SGD's; else at the objective)
    match = (
        "too large" if params["solver"] == "sgd" else "too large|non-finite objective"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            clf.fit(X_huge, y)
        except ValueError as error:
            assert re.search(match, str(error)) and "Scale the data" in str(error)
            assert_unchanged(before, clf)
            return
    # the full-batch solvers may stop at zero weights (as LogisticRegression):
    # then whatever they return predicts finite probabilities
    assert np.all(np.isfinite(clf.predict_proba(X_huge)))


def test_unbounded_warning_as_an_error_leaves_the_model():
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)
    before = fitted_state(clf)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="separable"):
            clf.set_params(alpha=0).fit(X[y != 2] * 5, y[y != 2])
    assert_unchanged(before, clf)


def test_explicit_zeros_in_sparse_x_change_nothing():
    # wide: the compiled sparse loop, whose rate and "auto" rules count values
    rng = np.random.default_rng(0)
    X = sp.random(2000, 10_000, density=0.001, format="csr", random_state=0)
    y = rng.integers(0, 3, 2000)
    coo = X.tocoo()  # the same values, and 3 zeros stored in every row
    rows = np.repeat(np.arange(2000), 3)
    stored = sp.csr_matrix(
        (
            np.r_[coo.data, np.zeros(rows.shape[0])],
            (np.r_[coo.row, rows], np.r_[coo.col, rng.integers(0, 10_000, 6000)]),
        ),
        shape=X.shape,
    )
    assert stored.nnz > X.nnz and abs(stored - X).max() == 0
    params = {"random_state": 0, "max_iter": 3, "tol": None}
    ref = SoftmaxRegressionClassifier(**params).fit(X, y)
    clf = SoftmaxRegressionClassifier(**params).fit(stored, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)


# --------------------------------------------- parameters changed between calls
@pytest.mark.parametrize(
    "change", [{"alpha": -1.0}, {"learning_rate": "adaptve"}, {"batch_size": 0}]
)
def test_partial_fit_checks_parameters_on_every_call(change):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _iris()
    clf = SoftmaxRegressionClassifier(random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    before = fitted_state(clf)
    with pytest.raises(InvalidParameterError, match=next(iter(change))):
        clf.set_params(**change).partial_fit(X, y)
    assert_unchanged(before, clf)


def test_partial_fit_refuses_classes_that_are_not_one_dimensional():
    X, y = _iris()
    with pytest.raises(ValueError, match="classes must be a 1-D list"):
        SoftmaxRegressionClassifier().partial_fit(X, y, classes=[[0, 1], [2, 3]])


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fit_after_a_full_batch_fit_starts_from_its_model(kind):
    X, y = _iris(kind)
    clf = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1e-2).fit(X, y)
    coef = clf.coef_.copy()
    clf.set_params(solver="sgd", learning_rate_init=1e-9)
    clf.partial_fit(X, y)
    np.testing.assert_allclose(clf.coef_, coef, atol=1e-6)
    assert clf.n_iter_ == 1


def test_partial_fit_after_fit_intercept_changed_says_what_to_do():
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(random_state=0).partial_fit(
        X, y, classes=[0, 1, 2]
    )
    before = fitted_state(clf)
    clf.set_params(fit_intercept=False)
    with pytest.raises(ValueError, match="fit_intercept was changed.*set it back"):
        clf.partial_fit(X, y)
    assert_unchanged(before, clf)
    clf.set_params(fit_intercept=True).partial_fit(X, y)
    assert clf.n_iter_ == 2


@pytest.mark.parametrize("momenta", [(0.9, 0.0, 0.9), (0.0, 0.9, 0.5)])
def test_partial_fit_takes_momentum_changes(momenta):
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(random_state=0, momentum=momenta[0])
    clf.partial_fit(X, y, classes=[0, 1, 2])
    for momentum in momenta[1:]:
        clf.set_params(momentum=momentum).partial_fit(X, y)
    assert clf.n_iter_ == 3 and clf.score(X, y) > 0.8


def test_partial_fit_classes_of_mixed_types_is_a_clear_type_error():
    X, y = _iris()
    clf = SoftmaxRegressionClassifier()
    with pytest.raises(TypeError, match="labels of one comparable type"):
        clf.partial_fit(X, y, classes=[0, 1, 2, None])
    assert fitted_state(clf) == {}


@pytest.mark.parametrize("dtype", [float, object])
def test_partial_fit_classes_with_nan_are_refused(dtype):
    # a NaN class trained a 4-class model, whose next call with the same
    # classes= was refused as "differs from [0.0, 1.0, 2.0, nan]"
    X, y = _iris()
    clf = SoftmaxRegressionClassifier()
    classes = np.array([0.0, 1.0, 2.0, np.nan], dtype=dtype)
    with pytest.raises(ValueError, match="classes contains NaN or infinity"):
        clf.partial_fit(X, y.astype(float), classes=classes)
    assert fitted_state(clf) == {}


def test_labels_of_mixed_types_are_a_clear_type_error():
    X, _ = _iris()
    y = np.array(["a", 1, 2.5] * 50, dtype=object)
    clf = SoftmaxRegressionClassifier()
    with pytest.raises(TypeError, match=r"y must hold labels of one.*'int', 'str'"):
        clf.fit(X, y)
    assert fitted_state(clf) == {}


# ------------------------------------------------------------ no NumPy noise
@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
def test_divergence_error_comes_without_numpy_warnings(params):
    if params["solver"] != "sgd":
        pytest.skip("the full-batch solvers take no learning rate")
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegressionClassifier(
        learning_rate="constant", learning_rate_init=1e12, random_state=0, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a ConvergenceWarning first
        with pytest.raises(ValueError, match="diverged"):
            clf.fit(X * 1e3, y)


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
@pytest.mark.parametrize("kind", KINDS)
def test_predictions_on_extreme_inputs_are_finite_and_quiet(params, kind):
    X, y = _iris(kind)
    clf = _fit_quietly(SoftmaxRegressionClassifier(random_state=0, **params), X, y)
    for factor in (1e30, 1e-30):
        X_extreme = X * factor
        proba = clf.predict_proba(X_extreme)
        assert np.all(np.isfinite(proba))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(clf.predict_log_proba(X_extreme) <= 0)


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
def test_convergence_warning_points_at_the_callers_line(params):
    X, y = load_digits(return_X_y=True)
    clf = SoftmaxRegressionClassifier(max_iter=2, random_state=0, **params)
    with pytest.warns(ConvergenceWarning) as record:
        clf.fit(X, y)  # the line the warning must name
    assert {w.filename for w in record} == {__file__}


@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("solver", ["cg", "lbfgs"])
def test_verbose_prints_a_line_per_full_batch_iteration(solver, verbose, capsys):
    import re

    X, y = _iris()
    clf = _fit_quietly(
        SoftmaxRegressionClassifier(solver=solver, max_iter=6, verbose=verbose), X, y
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == clf.n_iter_  # SciPy's own messages are not printed
    number = r"[0-9.e+-]+"
    pattern = rf"Iteration (\d+): loss {number}, step {number}, {number} s"
    if verbose == 2:
        pattern += rf", gradient max-norm {number}, \d+ evaluations"
    for i, line in enumerate(lines, start=1):
        match = re.fullmatch(pattern, line)
        assert match and int(match[1]) == i, line


def test_verbose_says_when_the_final_decay_starts(capsys):
    # it said "Learning rate lowered to" the rate of the epoch before
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    clf = SoftmaxRegressionClassifier(verbose=1, random_state=0).fit(X / 16, y)
    lines = capsys.readouterr().out.splitlines()
    decays = [i for i, ln in enumerate(lines) if ln.startswith("Learning rate decays")]
    assert len(decays) == 1
    rates = [float(ln.split("lr ")[1].split(",")[0]) for ln in lines if "lr " in ln]
    start = float(lines[decays[0]].split("from ")[1].split(" ")[0])
    assert float(lines[decays[0] - 1].split("lr ")[1].split(",")[0]) == start
    assert rates[-1] < start and clf.n_iter_ == len(rates)
    for i, line in enumerate(lines):
        if line.startswith("Learning rate lowered to"):
            lowered = float(line.split("to ")[1])
            assert lowered < float(lines[i - 1].split("lr ")[1].split(",")[0])


def test_verbose_2_adds_the_updates_to_sgd_lines(capsys):
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(max_iter=2, verbose=2, random_state=0)
    _fit_quietly(clf, X, y)
    clf.partial_fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["Epoch 1", "Epoch 2", "Epoch 3"]
    assert all(", 1 updates, lr from " in ln for ln in lines)


@pytest.mark.parametrize("params", SOLVERS, ids=_ids)
def test_skops_loads_every_model_trusting_only_the_estimator(params):
    sio = pytest.importorskip("skops.io", reason="skops is not installed")
    X, y = _iris()
    clf = _fit_quietly(SoftmaxRegressionClassifier(random_state=0, **params), X, y)
    data = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted == [f"{type(clf).__module__}.SoftmaxRegressionClassifier"]
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    if params["solver"] == "sgd":  # the stream goes on where it was
        clf.partial_fit(X, y)
        loaded.partial_fit(X, y)
        np.testing.assert_array_equal(loaded.coef_, clf.coef_)


def test_skops_loads_a_sparsified_model_trusting_scipys_csr_matrix_too():
    # as the README and the user guide say: coef_ is a SciPy matrix then
    sio = pytest.importorskip("skops.io", reason="skops is not installed")
    X, y = _iris()
    clf = SoftmaxRegressionClassifier(solver="lbfgs", alpha=1e-2, l1_ratio=1.0)
    clf = _fit_quietly(clf, X, y).sparsify()
    data = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted == [
        "scipy.sparse._csr.csr_matrix",
        f"{type(clf).__module__}.SoftmaxRegressionClassifier",
    ]
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
