r"""What a default SGD fit is worth: held-out parity with the optimum, over
problems, penalties and seeds.

Run from the project root::

    python benchmarks/bench_quality.py                 # every problem, 15-25 minutes
    python benchmarks/bench_quality.py --quick         # three small problems, < 1 min

The problems (dense and sparse, binary to 50 classes, balanced and
imbalanced, standardised and raw-scale features, label noise, 256
uncorrelated embedding-like features, 1,300 to 37,500 training rows; and
the small data sets shipped with scikit-learn:
digits raw, iris, wine and breast_cancer standardised on the training split)
are split 75 / 25 (stratified) with each seed of ``--seeds``, which also
seeds the problem's generator and the fit (``random_state=seed``). For each
problem x ``alpha`` (``--alphas``, default 1e-5 to 1) x seed:

- the **optimum** (``solver="lbfgs"``, ``tol=1e-8``, ``max_iter=10000``, in
  float64; on raw-scale dense features the better, by training objective, of
  that and L-BFGS in scaled coordinates, :func:`scaled_optimum`): its test
  accuracy ``acc*`` and test log-loss ``ll*``;
- the **default fit** ``SoftmaxRegressionClassifier(alpha=alpha,
  random_state=seed)`` (every other parameter at its default; with
  ``--schedules``, each ``learning_rate`` listed): epochs, test accuracy,
  test log-loss, **held-out parity** (accuracy ``>= acc* - 0.003`` and
  log-loss ``<= 1.02 * ll*``), its training objective over the optimum's,
  whether its final model's training objective is within 1% of the lowest
  one it passed (read after every epoch through
  ``sk_softmax._callbacks.observe``), and its ``ConvergenceWarning``\ s;
- at the default ``alpha=1e-4``, on the multiclass problems, a
  ``partial_fit`` **stream** with every default (24 chunks, 10 passes over
  the training rows): its test accuracy.

Problems whose test set has fewer than 334 rows are marked ``*``: there 0.3
point of accuracy is less than one sample, so accuracy parity means "no
sample worse" (they are still reported and counted). ``ll*/pri`` is the
optimum's test log-loss over that of the training class frequencies: near 1
or above (a heavy penalty on a weak signal, or a light one that overfits
sparse data) the optimum predicts the test set barely better than the
prior and the accuracies are decided by near-ties; such failures are flagged
(and still counted). No fit is timed: epochs are the cost. The summary prints the
parity count per problem and overall, each failure with its numbers, the
other bars (the final model within 1% of the best objective passed, no
warning where at parity, the stream within one point of ``fit``), and where
the run's time went: the optima (L-BFGS to ``tol=1e-8``) take most of it
(over 80% of a full run's 15-25 minutes on a shared 2-core machine).
``--optimum-cache FILE`` keeps them between runs (keyed by a digest of the
data, ``alpha`` and the optimum's parameters).
"""

import argparse
import hashlib
import json
import time
import types
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _parity import (
    ACC_MARGIN,
    DEFINITIONS,
    LL_RATIO,
    OPTIMUM_PARAMS,
    at_parity,
    met,
    parity_numbers,
    scores,
)
from scipy.optimize import minimize
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxRegressionClassifier
from sk_softmax._callbacks import observe
from sk_softmax._loss import SoftmaxLoss

ALPHAS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
DEFAULT_ALPHA = 1e-4
# fewer test rows than this: 0.3 point of accuracy is less than one sample
SMALL_TEST = 334
OBJECTIVE_SLACK = 0.01  # the final model's objective within 1% of the best passed
STREAM_SLACK = 0.01  # the stream's accuracy within one point of fit's
# an optimum whose test log-loss is this close to the class prior's (or
# above) predicts barely better than the prior: its accuracy rests on
# near-ties (flagged, still counted)
NEAR_PRIOR = 0.99


def _split(X, y, seed):
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def _classification(n, d, k, seed, *, weights=None, flip_y=0.01, sep=1.0, info=None):
    X, y = make_classification(
        n_samples=n,
        n_features=d,
        n_informative=info or min(d, max(2, 2 * k)),
        n_redundant=0,
        n_classes=k,
        n_clusters_per_class=1,
        weights=weights,
        flip_y=flip_y,
        class_sep=sep,
        random_state=seed,
    )
    return X, y


def digits_raw(seed):
    X, y = load_digits(return_X_y=True)
    return _split(X, y, seed)


def binary_standardised(seed):
    return _split(*_classification(2000, 20, 2, seed), seed)


def binary_imbalanced(seed):
    return _split(*_classification(4000, 30, 2, seed, weights=[0.95]), seed)


def three_imbalanced(seed):
    X, y = _classification(5000, 20, 3, seed, weights=[0.7, 0.2, 0.1])
    return _split(X, y, seed)


def raw_scale(seed):
    rng = np.random.default_rng(seed)
    X, y = _classification(6000, 25, 5, seed)
    X = X * 10.0 ** rng.uniform(-2, 3, X.shape[1]) + rng.uniform(-50, 50, X.shape[1])
    return _split(X, y, seed)


def label_noise(seed):
    return _split(*_classification(8000, 40, 6, seed, flip_y=0.15, sep=0.8), seed)


def twenty_classes(seed):
    return _split(*_classification(20000, 60, 20, seed, sep=1.5, info=40), seed)


def fifty_classes_large(seed):
    return _split(*_classification(50000, 80, 50, seed, sep=2.0, info=60), seed)


def embedding_like(seed):
    """256 uncorrelated Gaussian features, 10 classes, noisy labels (a
    Gumbel draw on the linear scores): dense embeddings' kind of data, where
    every direction has about the top curvature and the minibatch noise is
    large."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((10_000, 256))
    W = rng.standard_normal((256, 10)) * 3.0 / np.sqrt(256)
    y = np.argmax(X @ W + rng.gumbel(size=(10_000, 10)), axis=1)
    return _split(X, y, seed)


def _text(n_docs, n_words, n_classes, mean_len, seed):
    """A TF-IDF-like sparse matrix: Zipfian word counts, class-dependent topics."""
    rng = np.random.default_rng(seed)
    base = 1.0 / (np.arange(n_words) + 2.7) ** 1.1
    probs = []
    for _ in range(n_classes):
        p = base.copy()
        topic = rng.choice(n_words // 2, 100, replace=False)
        p[topic] *= rng.uniform(1.0, 4.0, topic.size)
        probs.append(np.cumsum(p / p.sum()))
    y = rng.integers(0, n_classes, n_docs)
    lengths = np.maximum(rng.poisson(mean_len, n_docs), 1)
    rows = np.repeat(np.arange(n_docs), lengths)
    draws = zip(y, lengths, strict=True)
    cols = np.concatenate([np.searchsorted(probs[c], rng.random(m)) for c, m in draws])
    cols = np.minimum(cols, n_words - 1)
    X = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_docs, n_words))
    X.data = 1.0 + np.log(X.data)
    idf = np.log((1 + n_docs) / (1 + np.bincount(X.indices, minlength=n_words))) + 1
    X = X @ sp.diags(idf)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1 / np.maximum(norms, 1e-12)) @ X
    return sp.csr_matrix(X), y


def sparse_text_5(seed):
    return _split(*_text(6000, 5000, 5, 30, seed), seed)


def sparse_text_30(seed):
    return _split(*_text(12000, 20000, 30, 60, seed), seed)


def sparse_binary(seed):
    return _split(*_text(4000, 3000, 2, 20, seed), seed)


def _standardised(loader):
    """A scikit-learn data set, standardised on its training split."""

    def problem(seed):
        X, y = loader(return_X_y=True)
        X, X_test, y, y_test = _split(X, y, seed)
        scaler = StandardScaler().fit(X)
        return scaler.transform(X), scaler.transform(X_test), y, y_test

    problem.__name__ = loader.__name__.removeprefix("load_")
    return problem


PROBLEMS = {
    f.__name__: f
    for f in (
        digits_raw,
        _standardised(load_iris),
        _standardised(load_wine),
        _standardised(load_breast_cancer),
        binary_standardised,
        binary_imbalanced,
        three_imbalanced,
        raw_scale,
        label_noise,
        twenty_classes,
        fifty_classes_large,
        embedding_like,
        sparse_text_5,
        sparse_text_30,
        sparse_binary,
    )
}

QUICK = ("digits_raw", "three_imbalanced", "sparse_binary")

_DATA = {}
_OPTIMA = {}
_CACHE = {"path": None, "entries": {}}  # --optimum-cache: digest -> optimum
_SECONDS = {"optima": 0.0, "default fits": 0.0, "streams": 0.0}


def data(name, seed):
    """``(X, y, X_test, y_test)`` of a problem and seed (cached)."""
    if (name, seed) not in _DATA:
        X, X_test, y, y_test = PROBLEMS[name](seed)
        _DATA[name, seed] = (X, y, X_test, y_test)
    return _DATA[name, seed]


def objective(coef, intercept, classes, X, y, alpha):
    """Our training objective (float64) at ``(coef, intercept)``."""
    loss = SoftmaxLoss(len(classes), X.shape[1], True)
    Y = (y[:, None] == classes).astype(np.float64)
    if len(classes) == 2:
        Y = Y[:, 1:]
    packed = loss.pack(np.asarray(coef, np.float64), np.asarray(intercept), np)
    return float(loss.loss(packed, X.astype(np.float64), Y, alpha=alpha, xp=np))


def model_objective(model, X, y, alpha):
    """The training objective of a fitted model."""
    return objective(model.coef_, model.intercept_, model.classes_, X, y, alpha)


def scaled_optimum(X, y, alpha):
    """The optimum of the same objective, found in scaled coordinates.

    L-BFGS on raw-scale features (scales 1e-2 to 1e3, offsets of +-50) stops
    above the optimum, whoever runs it (scikit-learn's as well): the
    curvature spans ten orders of magnitude. Here it runs on
    ``(X - mean) / std`` (dense; sparse: ``X / rms``) with the parameters
    ``V = W * std`` and the penalty ``alpha / 2 * sum (V / std)^2``: the same
    objective, well conditioned. Returns a model-like object (``coef_``,
    ``intercept_``, ``classes_``, ``predict_proba``).
    """
    classes = np.unique(y)
    X = X.astype(np.float64)
    if sp.issparse(X):
        mean = np.zeros(X.shape[1])
        scale = np.sqrt(np.asarray(X.multiply(X).mean(axis=0)).ravel())
    else:
        mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    Xs = X @ sp.diags(1 / scale) if sp.issparse(X) else (X - mean) / scale
    loss = SoftmaxLoss(len(classes), X.shape[1], True)
    Y = (y[:, None] == classes).astype(np.float64)
    if len(classes) == 2:
        Y = Y[:, 1:]
    n_w = loss.n_rows * X.shape[1]
    weights = np.tile(1.0 / scale**2, loss.n_rows)

    def fun(coef):
        value, grad = loss.loss_gradient(coef, Xs, Y, alpha=0.0, xp=np)
        V = coef[:n_w]
        grad = grad.copy()
        grad[:n_w] += alpha * weights * V
        return float(value) + 0.5 * alpha * float(np.sum(weights * V * V)), grad

    res = minimize(
        fun,
        np.zeros(loss.n_coef),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15, "maxcor": 30},
    )
    W, b = loss.unpack(res.x, np)
    W = W / scale
    b = b - W @ mean

    def predict_proba(X_test):
        Z = np.asarray(X_test @ W.T) + b
        if W.shape[0] == 1:
            Z = np.hstack([np.zeros_like(Z), Z])
        Z = Z - Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        return P / P.sum(axis=1, keepdims=True)

    return types.SimpleNamespace(
        coef_=W, intercept_=b, classes_=classes, predict_proba=predict_proba
    )


def _raw_scale(X):
    """Dense columns whose spreads differ 10x or more, or whose means exceed
    their spread: plain L-BFGS may stop short of the optimum there."""
    if sp.issparse(X):
        return False
    std = X.std(axis=0)
    spread = std[std > 0]
    return spread.max() > 10 * spread.min() or np.any(np.abs(X.mean(axis=0)) > std)


def _fingerprint(name, alpha, seed):
    """A digest of a problem's data, ``alpha`` and the optimum's parameters:
    the key of the optimum in ``--optimum-cache``."""
    digest = hashlib.sha1(repr((name, alpha, seed, OPTIMUM_PARAMS)).encode())
    for array in data(name, seed):
        parts = (
            (array.data, array.indices, array.indptr)
            if sp.issparse(array)
            else (array,)
        )
        for part in parts:
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def optimum(name, alpha, seed):
    """``(acc*, ll*, objective)`` of the problem's optimum (cached in the
    process, and in the ``--optimum-cache`` file when one is given).

    ``solver="lbfgs"`` at a tight ``tol``; on raw-scale dense features the
    better, by training objective, of that and :func:`scaled_optimum`.
    """
    key = (name, alpha, seed)
    if key in _OPTIMA:
        return _OPTIMA[key]
    tic = time.perf_counter()
    stored = _CACHE["path"] is not None
    if stored:
        digest = _fingerprint(name, alpha, seed)
        if digest in _CACHE["entries"]:
            _OPTIMA[key] = tuple(_CACHE["entries"][digest])
            return _OPTIMA[key]
    X, y, X_test, y_test = data(name, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        opt = SoftmaxRegressionClassifier(alpha=alpha, **OPTIMUM_PARAMS).fit(
            X.astype(np.float64), y
        )
    models = [opt]
    if _raw_scale(X):
        models.append(scaled_optimum(X, y, alpha))
    best = min(models, key=lambda m: model_objective(m, X, y, alpha))
    _OPTIMA[key] = (*scores(best, X_test, y_test), model_objective(best, X, y, alpha))
    if stored:
        _CACHE["entries"][digest] = _OPTIMA[key]
        _CACHE["path"].write_text(json.dumps(_CACHE["entries"]))
    _SECONDS["optima"] += time.perf_counter() - tic
    return _OPTIMA[key]


def prior_log_loss(name, seed):
    """The test log-loss of the training set's class frequencies."""
    X, y, X_test, y_test = data(name, seed)
    classes, counts = np.unique(y, return_counts=True)
    proba = np.tile(counts / counts.sum(), (y_test.shape[0], 1))
    return float(log_loss(y_test, proba, labels=classes))


def default_fit(name, alpha, seed, learning_rate):
    """A default fit (``learning_rate`` aside), watched epoch by epoch.

    Returns a dict: test ``acc`` and ``ll``, ``epochs``, its training
    objective ``obj``, the lowest objective among the epochs it passed
    ``best_obj``, and the number of ``ConvergenceWarning``\\ s ``n_warn``.
    """
    X, y, X_test, y_test = data(name, seed)
    passed = []

    def watch(report, parameters):
        coef, intercept = parameters()
        passed.append(objective(coef, intercept, classes, X, y, alpha))

    classes = np.unique(y)
    clf = SoftmaxRegressionClassifier(
        alpha=alpha, learning_rate=learning_rate, random_state=seed
    )
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, observe(watch):
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(X, y)
    _SECONDS["default fits"] += time.perf_counter() - tic
    acc, ll = scores(clf, X_test, y_test)
    return dict(
        acc=acc,
        ll=ll,
        epochs=int(clf.n_iter_),
        obj=model_objective(clf, X, y, alpha),
        best_obj=min(passed, default=np.inf),
        n_warn=sum(issubclass(w.category, ConvergenceWarning) for w in caught),
    )


def stream(name, seed, learning_rate, n_chunks=24, passes=10):
    """Test accuracy of a default ``partial_fit`` stream over the training
    rows (``n_chunks`` chunks a pass, reshuffled each pass)."""
    X, y, X_test, y_test = data(name, seed)
    clf = SoftmaxRegressionClassifier(learning_rate=learning_rate, random_state=seed)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(passes):
            for rows in np.array_split(rng.permutation(X.shape[0]), n_chunks):
                clf.partial_fit(X[rows], y[rows], classes=classes)
    _SECONDS["streams"] += time.perf_counter() - tic
    return clf.score(X_test, y_test)


HEADER = (
    f"{'problem':22} {'n_test':>6} {'alpha':>6} {'seed':>4} {'acc*':>6} "
    f"{'acc':>6} {'ll*':>7} {'ll/ll*':>7} {'obj/obj*':>8} {'epochs':>6} "
    f"{'fin/best':>8} {'warn':>4} {'stream':>6} {'ll*/pri':>7}  parity"
)


def run(names, alphas, seeds, learning_rate):
    """Every row of one schedule; returns the records."""
    records = []
    for name in names:
        for alpha in alphas:
            for seed in seeds:
                acc_opt, ll_opt, obj_opt = optimum(name, alpha, seed)
                fit = default_fit(name, alpha, seed, learning_rate)
                n_test = data(name, seed)[3].shape[0]
                multiclass = np.unique(data(name, seed)[1]).size > 2
                s = np.nan
                if multiclass and alpha == DEFAULT_ALPHA:
                    s = stream(name, seed, learning_rate)
                rec = dict(
                    fit,
                    name=name,
                    alpha=alpha,
                    seed=seed,
                    n_test=n_test,
                    acc_opt=acc_opt,
                    ll_opt=ll_opt,
                    obj_opt=obj_opt,
                    stream=s,
                    parity=at_parity(fit["acc"], fit["ll"], acc_opt, ll_opt),
                    near_prior=ll_opt >= NEAR_PRIOR * prior_log_loss(name, seed),
                    settled=fit["obj"] <= (1 + OBJECTIVE_SLACK) * fit["best_obj"],
                )
                records.append(rec)
                small = "*" if n_test < SMALL_TEST else ""
                print(
                    f"{name + small:22} {n_test:6d} {alpha:6.0e} {seed:4d} "
                    f"{acc_opt:6.4f} {rec['acc']:6.4f} {ll_opt:7.4f} "
                    f"{rec['ll'] / ll_opt:7.4f} {rec['obj'] / obj_opt:8.4f} "
                    f"{rec['epochs']:6d} {rec['obj'] / rec['best_obj']:8.4f} "
                    f"{rec['n_warn']:4d} {s:6.4f} "
                    f"{ll_opt / prior_log_loss(name, seed):7.4f}  {met(rec['parity'])}",
                    flush=True,
                )
    return records


def _where(r):
    return f"{r['name']} alpha={r['alpha']:g} seed={r['seed']}"


def summary(records, learning_rate):
    """The parity counts, the failures with their numbers, the other bars."""
    print(f"\n## Summary: learning_rate={learning_rate!r}\n")
    names = list(dict.fromkeys(r["name"] for r in records))
    print("Held-out parity, per problem (fits at parity / fits):")
    for name in names:
        rows = [r for r in records if r["name"] == name]
        small = " (* test set < 334 rows)" if rows[0]["n_test"] < SMALL_TEST else ""
        print(f"- {name}: {sum(r['parity'] for r in rows)}/{len(rows)}{small}")
    n_par = sum(r["parity"] for r in records)
    print(f"overall: {n_par}/{len(records)} fits at parity")
    failures = [r for r in records if not r["parity"]]
    if failures:
        print("\nFailures (acc - acc*, ll / ll*, epochs):")
        for r in failures:
            numbers = parity_numbers(r["acc"], r["ll"], r["acc_opt"], r["ll_opt"])
            note = " (optimum ~ class prior)" if r["near_prior"] else ""
            print(f"- {_where(r)}: {numbers}, {r['epochs']} epochs{note}")
        n_prior = sum(r["near_prior"] for r in failures)
        if n_prior:
            print(
                f"({n_prior} of the {len(failures)} failures are fits where the "
                f"optimum's test log-loss is within {1 - NEAR_PRIOR:.0%} of the class "
                "prior's (ll*/pri): there the accuracies are decided by near-ties)"
            )
    print("\nOther bars:")
    unsettled = [r for r in records if not r["settled"]]
    print(
        f"- final model's objective within {OBJECTIVE_SLACK:.0%} of the best it "
        f"passed: {len(records) - len(unsettled)}/{len(records)}: "
        f"{met(not unsettled)}"
    )
    for r in unsettled:
        print(f"  - {_where(r)}: final / best passed {r['obj'] / r['best_obj']:.4f}")
    warned = [r for r in records if r["parity"] and r["n_warn"]]
    print(
        f"- no ConvergenceWarning where at parity: {len(warned)} of {n_par} fits "
        f"at parity warned: {met(not warned)}"
    )
    for r in warned:
        print(f"  - {_where(r)}: {r['n_warn']} warning(s)")
    others = [r for r in records if not r["parity"] and r["n_warn"]]
    if others:
        print(f"  (fits not at parity that warned: {len(others)})")
    streams = [r for r in records if not np.isnan(r["stream"])]
    slow = [r for r in streams if r["stream"] < r["acc"] - STREAM_SLACK]
    print(
        f"- partial_fit stream within {100 * STREAM_SLACK:.0f} point of fit "
        f"(alpha={DEFAULT_ALPHA:g}, multiclass): {len(streams) - len(slow)}/"
        f"{len(streams)}: {met(not slow)}"
    )
    for r in slow:
        print(f"  - {_where(r)}: stream {r['stream']:.4f}, fit {r['acc']:.4f}")
    slow_ids = {id(r) for r in slow}
    every = sum(
        r["parity"] and r["settled"] and not r["n_warn"] and id(r) not in slow_ids
        for r in records
    )
    print(f"{learning_rate}: {every} of {len(records)} fits meet every bar")
    return n_par


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, 3 small problems, alphas 1e-4 and 1",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--alphas", nargs="+", type=float, default=None)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=None)
    parser.add_argument(
        "--schedules",
        nargs="+",
        default=["auto"],
        help="learning_rate values to fit with (default: the default, 'auto')",
    )
    parser.add_argument(
        "--optimum-cache",
        type=Path,
        default=None,
        metavar="FILE",
        help="a JSON file keeping the optima (acc*, ll*, objective) between runs, "
        "keyed by a digest of the data, alpha and the optimum's parameters",
    )
    args = parser.parse_args(argv)
    if args.optimum_cache is not None:
        _CACHE["path"] = args.optimum_cache
        if args.optimum_cache.is_file():
            _CACHE["entries"] = json.loads(args.optimum_cache.read_text())
    names = args.problems or (list(QUICK) if args.quick else list(PROBLEMS))
    alphas = args.alphas or ([1e-4, 1.0] if args.quick else list(ALPHAS))
    seeds = args.seeds[:1] if args.quick else args.seeds
    print(DEFINITIONS)
    print(
        f"Problems: {', '.join(names)}; alphas {', '.join(f'{a:g}' for a in alphas)}; "
        f"seeds {', '.join(map(str, seeds))}. '*': test set under {SMALL_TEST} rows "
        f"({100 * ACC_MARGIN:.1f} point is less than one sample). obj/obj*: "
        f"training objective over the optimum's; fin/best: the final model's "
        f"objective over the lowest it passed; ll bar {LL_RATIO} x ll*; ll*/pri: "
        f"the optimum's test log-loss over the class prior's.\n"
    )
    tic = time.perf_counter()
    for learning_rate in args.schedules:
        print(f"## learning_rate={learning_rate!r}\n")
        print(HEADER)
        records = run(names, alphas, seeds, learning_rate)
        summary(records, learning_rate)
        print()
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in _SECONDS.items())
    cached = "" if _CACHE["path"] is None else f" (optima cached in {_CACHE['path']})"
    print(f"Wall time {time.perf_counter() - tic:.0f} s: {spent}{cached}")


if __name__ == "__main__":
    main()
