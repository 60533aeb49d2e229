"""Sparse text classification: our default SGD fit against scikit-learn's,
judged by held-out parity with the optimum.

Run from the project root::

    python benchmarks/bench_sparse.py                   # four corpora, several minutes
    python benchmarks/bench_sparse.py --only-defaults   # the defaults tables only
    python benchmarks/bench_sparse.py --quick           # smoke run
    python benchmarks/bench_sparse.py --five-epochs     # the fixed-epochs table only

The data are synthetic text made offline (no download): a Zipfian vocabulary
(word ``k`` drawn with probability proportional to ``1 / (k + 2.7) ** 1.1``)
of ``--n-words`` words; each class tilts the distribution towards its own
random set of topic words (300 of the 3,000 most frequent words, whose
weights are multiplied by a random factor in [1, 3)); document lengths are
Poisson. Documents are written as strings of words (``"w123 w7 ..."``) and
turned into features the way a user would: ``HashingVectorizer(n_features=
2**18 or 2**20, alternate_sign=False)`` then
``TfidfTransformer(sublinear_tf=True)``, a CSR matrix.

**Five fixed epochs** (first, alone with ``--five-epochs``): on the four
corpora, the whole fit of exactly five epochs divided by five, ours
(``max_iter=5, tol=None, early_stopping=False``: no stopping criterion,
every row trained on) against ``SGDClassifier(loss="log_loss", max_iter=5,
tol=None)`` at the same ``alpha``, and ours with ``tol=0`` (the same model,
the averaged model's objective computed each epoch, a criterion nothing
reads here), one thread, timed alternately, best of 3 fits each in CPU time
(the process's: one thread's wall time on an idle machine, and steady on a
shared one; the fixed cost of a fit, setup and write-back, is in it); with
the test accuracy of both and of ours on the same data in float32 (trained
in float32, its time timed alongside). Targets: ours at least 1.5x faster on
the 5-class corpora, 4x on the 50-class ones; float32 within 0.1 point of
float64.

**Defaults, run to their own stop** (the headline, alone with
``--only-defaults``): on four corpora (5 and 50 classes, documents of about
15 and 100 words; 20,000 training documents), ours with every default (on
these corpora: early stopping on a held-out 10%), ours with
``early_stopping=False`` (the training objective as the criterion),
``SGDClassifier(loss="log_loss")`` and
``LogisticRegression(solver="saga")``, all at the same L2 penalty
(``alpha``, ``C = 1 / (alpha * n_samples)``): fit time, epochs, test
accuracy and test log-loss beside the optimum's (``solver="lbfgs"``,
``tol=1e-8``, fitted on the columns the training documents use: the other
weights are zero at the optimum; computed once per corpus in the process),
and held-out parity (defined in ``benchmarks/_parity.py`` and printed at the
top). Ours and ``SGDClassifier`` are timed alternately, best of 2 fits
each. The targets: ours at parity, its accuracy at least
``SGDClassifier``'s minus 0.1 point, its fit at least 3x faster than
``SGDClassifier``'s default fit, its epochs ``<= 1.5 x oracle + patience``
(1 epoch: an epoch has hundreds of minibatches).

The test set has **20,000 documents** a corpus (``--n-test``), not a
quarter of the training set. Parity is decided by a 0.3-point accuracy
margin, and on 5,000 test documents the noise of the comparison is of that
order: issue 25 estimated the standard error of the accuracy difference
between two near-optimal models at about 0.5 point there. Ours and the
optimum are compared on the same documents, so the standard error that
matters is the paired one (it grows with the share of documents exactly one
of the two gets right); the targets print it per corpus, on the test set
used and scaled to 5,000 documents (0.16 to 0.23 point at 5,000 documents on
these corpora in a run of this script: lower than the issue's estimate,
still more than half the margin). 20,000 documents halve it.

Then: our epoch against the width (2^16 and 2^22 columns, interleaved
rounds), an L1 table (``l1_ratio=1`` / ``penalty="l1"``: fit time, accuracy
and non-zero coefficients of ours, ``SGDClassifier`` and saga, with their
defaults), and the **time to a target accuracy** (secondary): the test
accuracy of ``LogisticRegression(solver="saga", tol=1e-4)`` run to
convergence, minus 0.5 point; each estimator is refitted from scratch for
increasing budgets (``max_iter`` = epochs or iterations; ``tol`` off where it
can be) and the reported time is the ``fit`` time of the first budget whose
test accuracy reaches the target (evaluation is not timed), with the same L1
comparison after it.
"""

import argparse
import time
import warnings

import numpy as np
from _parity import (
    DEFINITIONS,
    at_parity,
    epoch_target,
    interleaved,
    lbfgs_optimum,
    met,
    oracle_and_patience,
    paired_se,
    parity_numbers,
    predictions,
    scores,
)

BUDGETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 100, 150, 200]


OURS = "ours (defaults)"
OURS_ES = "ours (early_stopping=False)"
SGDC = "SGDClassifier(log_loss)"
SAGA = "LogisticRegression(saga)"
SGDC_SPEEDUP = 3  # target: our default fit this many times faster
FIVE_SPEEDUP = {5: 1.5, 50: 4.0}  # five fixed epochs, by number of classes
SGDC_ACC_MARGIN = 0.001  # target: accuracy >= SGDClassifier's - 0.1 point
CORPORA = [(5, 15, 18), (5, 100, 20), (50, 15, 18), (50, 100, 20)]
_OPTIMA = {}


def defaults_table(X, y, X_test, y_test, alpha, acc_opt, ll_opt):
    """Every estimator with its defaults (same L2 penalty), run to its own stop.

    Ours and ``SGDClassifier`` are timed alternately, best of 2 fits each;
    ours with early stopping and saga are fitted once. Returns ``{name: (fit
    seconds, epochs or iterations, test accuracy, test log-loss, parity)}``
    and our default model.
    """
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from sk_softmax import SoftmaxRegressionClassifier

    C = 1.0 / (alpha * X.shape[0])
    makers = {
        OURS: lambda: SoftmaxRegressionClassifier(alpha=alpha, random_state=0),
        OURS_ES: lambda: SoftmaxRegressionClassifier(
            alpha=alpha, early_stopping=False, random_state=0
        ),
        SGDC: lambda: SGDClassifier(loss="log_loss", alpha=alpha, random_state=0),
        SAGA: lambda: LogisticRegression(solver="saga", C=C),
    }
    fitted = interleaved({k: makers[k] for k in (SGDC, OURS)}, X, y, rounds=2)
    for name in (OURS_ES, SAGA):
        est = makers[name]()
        fitted[name] = (_timed_fit(est, X, y), est)
    rows = {}
    for name in makers:
        seconds, est = fitted[name]
        acc, ll = scores(est, X_test, y_test)
        parity = at_parity(acc, ll, acc_opt, ll_opt)
        rows[name] = (seconds, int(np.max(est.n_iter_)), acc, ll, parity)
    return rows, fitted[OURS][1]


def corpus_optimum(key, X, y, X_test, y_test, alpha):
    """``(acc*, ll*, L-BFGS iterations, seconds, test predictions)`` of a
    corpus's optimum, cached in the process by ``key``."""
    if key not in _OPTIMA:
        tic = time.perf_counter()
        opt = lbfgs_optimum(X, y, alpha)
        seconds = time.perf_counter() - tic
        _OPTIMA[key] = (
            *scores(opt, X_test, y_test),
            opt.n_iter_,
            seconds,
            predictions(opt, X_test),
        )
    return _OPTIMA[key]


def epoch_seconds(X, y, alpha, epochs=8):
    """Our SGD epoch: the median of a default fit's epoch times (each epoch's
    pass and stopping rule, as the solver times them; not the fit's setup)."""
    from sk_softmax import SoftmaxRegressionClassifier
    from sk_softmax._callbacks import observe

    times = []

    def record(report, parameters):
        times.append(report.seconds)

    est = SoftmaxRegressionClassifier(
        alpha=alpha, max_iter=epochs, n_iter_no_change=10**6, random_state=0
    )
    _timed_fit(est, X, y)  # compile the sparse loop once
    times.clear()
    with observe(record):
        _timed_fit(est, X, y)
    return float(np.median(times))


def five_epochs_table(args):
    """Five fixed epochs a corpus: whole fit / 5 of ours and of
    ``SGDClassifier`` (same ``alpha``, timed alternately, best of 3), their
    test accuracies, and ours trained in float32 (timed alongside)."""
    from sklearn.linear_model import SGDClassifier

    from sk_softmax import SoftmaxRegressionClassifier

    def ours(**params):
        return lambda: SoftmaxRegressionClassifier(
            alpha=args.alpha,
            max_iter=5,
            early_stopping=False,  # every row trained on, as SGDClassifier's
            random_state=0,
            **params,
        )

    makers = {
        OURS: ours(tol=None),  # no stopping criterion, as SGDClassifier's
        SGDC: lambda: SGDClassifier(
            loss="log_loss", alpha=args.alpha, max_iter=5, tol=None, random_state=0
        ),
        "criterion": ours(tol=0.0, n_iter_no_change=10**6),
    }
    print(
        "## Five fixed epochs: whole fit / 5, CPU time (one thread: its wall "
        "time on an idle machine, and steady on a busy one)\n"
    )
    print(
        "| corpus | ours ms / epoch | SGDClassifier ms / epoch | SGDClassifier / "
        "ours | target | ours accuracy | SGDClassifier accuracy | ours float32 "
        "accuracy | ours tol=0 ms / epoch | ours float32 ms / epoch |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    _load_compiled_loop()
    for n_classes, mean_len, width in CORPORA:
        docs, y = make_text(
            args.n_docs + args.n_test, args.n_words, n_classes, mean_len, 1
        )
        X, X_test = featurise(docs[: args.n_docs], docs[args.n_docs :], 2**width)
        y, y_test = y[: args.n_docs], y[args.n_docs :]
        X32 = X.astype(np.float32)
        _timed_fit(makers[OURS](), X32[:500], y[:500])  # the float32 loop: loaded
        runs = {name: (make, X) for name, make in makers.items()}
        runs["float32"] = (makers[OURS], X32)  # ours trained in float32
        fitted = {name: (np.inf, None) for name in runs}
        for _ in range(3):  # alternately, the CPU time of one thread
            for name, (make, data) in runs.items():
                est = make()
                tic = time.process_time()
                _timed_fit(est, data, y)
                seconds = time.process_time() - tic
                fitted[name] = (min(fitted[name][0], seconds), est)
        ours, sgd, tol0, ours32 = (
            fitted[name][0] / 5 for name in (OURS, SGDC, "criterion", "float32")
        )
        acc = {name: fitted[name][1].score(X_test, y_test) for name in makers}
        acc32 = fitted["float32"][1].score(X_test.astype(np.float32), y_test)
        goal = FIVE_SPEEDUP.get(n_classes, FIVE_SPEEDUP[50])
        print(
            f"| {n_classes} classes, ~{mean_len} words, 2^{width} | {ours * 1e3:.1f} "
            f"| {sgd * 1e3:.1f} | {sgd / ours:.2f}x | >= {goal}x: "
            f"{met(sgd / ours >= goal)} | {acc[OURS]:.4f} | {acc[SGDC]:.4f} | "
            f"{acc32:.4f} ({100 * (acc32 - acc[OURS]):+.2f} pt) | {tol0 * 1e3:.1f} "
            f"| {ours32 * 1e3:.1f} |",
            flush=True,
        )
    print()


def make_text(n_docs, n_words, n_classes, mean_len, seed):
    """Synthetic documents with class-dependent Zipfian word distributions.

    Returns the documents as a list of strings and their labels.
    """
    rng = np.random.default_rng(seed)
    base = 1.0 / (np.arange(n_words) + 2.7) ** 1.1
    probs = []
    for _ in range(n_classes):
        p = base.copy()
        topic = rng.choice(min(n_words, 3000), 300, replace=False)
        p[topic] *= rng.uniform(1.0, 3.0, topic.size)
        probs.append(np.cumsum(p / p.sum()))
    y = rng.integers(0, n_classes, n_docs)
    lengths = np.maximum(rng.poisson(mean_len, n_docs), 1)
    docs = []
    for label, length in zip(y, lengths, strict=True):
        words = np.searchsorted(probs[label], rng.random(length))
        docs.append(" ".join(f"w{w}" for w in words))
    return docs, y


def featurise(docs_train, docs_test, n_features=2**18):
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    hasher = HashingVectorizer(n_features=n_features, alternate_sign=False, norm=None)
    tfidf = TfidfTransformer(sublinear_tf=True)
    X_train = tfidf.fit_transform(hasher.transform(docs_train))
    X_test = tfidf.transform(hasher.transform(docs_test))
    return X_train.astype(np.float64), X_test.astype(np.float64)


def _timed_fit(est, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return time.perf_counter() - start


def _target_rows(candidates, X, y, X_test, y_test, target):
    """``(name, shown time, budget, accuracy, model)`` of each candidate's
    :func:`time_to_target` over ``BUDGETS``, as the tables print them."""
    for name, make in candidates.items():
        elapsed, budget, acc, est = time_to_target(
            make, X, y, X_test, y_test, target, BUDGETS
        )
        shown = "not reached" if np.isnan(elapsed) else f"{elapsed:.2f}"
        yield name, shown, budget, acc, est


def time_to_target(make, X, y, X_test, y_test, target, budgets):
    """``(fit time, budget, accuracy, model)`` of the first budget reaching
    ``target``; if none does, the best budget's with a NaN time."""
    best = (np.nan, np.nan, 0.0, None)
    for budget in budgets:
        est = make(budget)
        elapsed = _timed_fit(est, X, y)
        acc = est.score(X_test, y_test)
        if acc > best[2]:
            best = (np.nan, budget, acc, est)
        if acc >= target:
            return elapsed, budget, acc, est
    return best


def main(argv=None):
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from sk_softmax import SoftmaxRegressionClassifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--n-docs", type=int, default=20_000)
    parser.add_argument(
        "--n-test", type=int, default=20_000, help="test documents a corpus"
    )
    parser.add_argument("--n-words", type=int, default=100_000)
    parser.add_argument("--n-classes", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--five-epochs",
        action="store_true",
        help="only the five-fixed-epochs table",
    )
    parser.add_argument(
        "--only-defaults",
        action="store_true",
        help="only the defaults tables and the epoch scaling (no time to target)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_docs, args.n_test, args.n_words = 4000, 4000, 20_000
    five_epochs_table(args)
    if args.five_epochs:
        return
    corpora_and_scaling(args)
    l1_table(args)
    if args.only_defaults:
        return

    docs, y = make_text(args.n_docs + args.n_test, args.n_words, args.n_classes, 100, 0)
    X, X_test = featurise(docs[: args.n_docs], docs[args.n_docs :])
    y, y_test = y[: args.n_docs], y[args.n_docs :]
    nnz_row = X.nnz / X.shape[0]
    print(
        f"train {X.shape[0]} x {X.shape[1]} CSR, {nnz_row:.0f} non-zeros a row, "
        f"{args.n_classes} classes, test {X_test.shape[0]}; alpha={args.alpha}"
    )
    C = 1.0 / (args.alpha * X.shape[0])
    reference = LogisticRegression(solver="saga", C=C, tol=1e-4, max_iter=300)
    ref_time = _timed_fit(reference, X, y)
    ref_acc = reference.score(X_test, y_test)
    target = ref_acc - 0.005
    print(
        f"reference LogisticRegression(saga) to convergence: accuracy "
        f"{ref_acc:.4f} in {ref_time:.2f} s ({reference.n_iter_[0]} epochs); "
        f"target {target:.4f}\n"
    )
    candidates = {
        "SoftmaxRegressionClassifier(solver='sgd')": lambda k: (
            SoftmaxRegressionClassifier(
                solver="sgd", alpha=args.alpha, max_iter=k, tol=0.0, random_state=0
            )
        ),
        "SoftmaxRegressionClassifier(solver='sgd', batch_size=4096)": lambda k: (
            SoftmaxRegressionClassifier(
                solver="sgd",
                alpha=args.alpha,
                max_iter=k,
                tol=0.0,
                batch_size=4096,
                random_state=0,
            )
        ),
        "SoftmaxRegressionClassifier(solver='lbfgs')": lambda k: (
            SoftmaxRegressionClassifier(
                solver="lbfgs", alpha=args.alpha, max_iter=k, tol=1e-12
            )
        ),
        "SoftmaxRegressionClassifier(solver='cg')": lambda k: (
            SoftmaxRegressionClassifier(
                solver="cg", alpha=args.alpha, max_iter=k, tol=1e-12
            )
        ),
        "LogisticRegression(solver='saga')": lambda k: LogisticRegression(
            solver="saga", C=C, tol=1e-12, max_iter=k
        ),
        "SGDClassifier(loss='log_loss')": lambda k: SGDClassifier(
            loss="log_loss", alpha=args.alpha, max_iter=k, tol=None, random_state=0
        ),
    }
    print("| estimator | time to target (s) | budget (epochs / iter) | accuracy |")
    print("|---|---|---|---|")
    for name, shown, budget, acc, _ in _target_rows(
        candidates, X, y, X_test, y_test, target
    ):
        print(f"| {name} | {shown} | {budget} | {acc:.4f} |", flush=True)
    l1_time_to_target(X, y, X_test, y_test, args.alpha)


def l1_time_to_target(X, y, X_test, y_test, alpha):
    """L1 (``l1_ratio=1``): time to saga's L1 accuracy minus 0.5 point, and
    the non-zero coefficients of the model that reached it."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from sk_softmax import SoftmaxRegressionClassifier

    C = 1.0 / (alpha * X.shape[0])
    with warnings.catch_warnings():  # load the compiled sparse loop: not timed
        warnings.simplefilter("ignore")
        SoftmaxRegressionClassifier(l1_ratio=1.0, max_iter=1).fit(X[:500], y[:500])
    reference = LogisticRegression(
        solver="saga", C=C, l1_ratio=1.0, tol=1e-4, max_iter=300
    )
    ref_time = _timed_fit(reference, X, y)
    target = reference.score(X_test, y_test) - 0.005
    print(
        f"\nL1: LogisticRegression(saga, l1_ratio=1) to convergence "
        f"{ref_time:.2f} s, {np.count_nonzero(reference.coef_)} non-zero "
        f"coefficients; target {target:.4f}\n"
    )
    candidates = {
        "SoftmaxRegressionClassifier(l1_ratio=1)": lambda k: (
            SoftmaxRegressionClassifier(
                alpha=alpha, l1_ratio=1.0, max_iter=k, tol=0.0, random_state=0
            )
        ),
        "SGDClassifier(log_loss, penalty='l1')": lambda k: SGDClassifier(
            loss="log_loss",
            penalty="l1",
            alpha=alpha,
            max_iter=k,
            tol=None,
            random_state=0,
        ),
        "LogisticRegression(saga, l1_ratio=1)": lambda k: LogisticRegression(
            solver="saga", C=C, l1_ratio=1.0, tol=1e-12, max_iter=k
        ),
    }
    print("| estimator (L1) | time to target (s) | budget | accuracy | non-zero |")
    print("|---|---|---|---|---|")
    for name, shown, budget, acc, est in _target_rows(
        candidates, X, y, X_test, y_test, target
    ):
        nnz = "" if est is None else np.count_nonzero(est.coef_)
        print(f"| {name} | {shown} | {budget} | {acc:.4f} | {nnz} |", flush=True)


def _load_compiled_loop():
    """Fit a tiny wide sparse problem (loads the compiled loop, or compiles
    it on a machine's first run); returns its seconds."""
    import scipy.sparse as sp

    from sk_softmax import SoftmaxRegressionClassifier

    X = sp.random(64, 4096, density=0.002, format="csr", random_state=0)
    y = np.arange(64) % 2
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SoftmaxRegressionClassifier(max_iter=2).fit(X, y)
        SoftmaxRegressionClassifier(max_iter=2).fit(X, np.arange(64) % 3)
    return time.perf_counter() - tic


def corpora_and_scaling(args):
    """Defaults on four corpora (5 / 50 classes, short / long documents, 2**18
    and 2**20 hashed columns) against the optimum, the targets, and our
    epoch time against the width."""
    print(DEFINITIONS + "\n")
    print("## Every estimator with its defaults, run to its own stop\n")
    warm = _load_compiled_loop()
    print(
        f"(our compiled sparse loop loaded once, before the timings: {warm:.2f} s "
        "in this process; compiled once per machine and cached)\n"
    )
    print(
        f"{args.n_docs} training and {args.n_test} test documents a corpus; "
        f"alpha={args.alpha} (C = 1 / (alpha * n_samples)). {OURS} and {SGDC}: "
        "best of 2 fits, timed alternately; the others fitted once.\n"
    )
    print(
        "| corpus | estimator | fit s | epochs / iter | test accuracy | "
        "acc - acc* | test log-loss | ll / ll* | parity | its time / ours |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    targets = []
    for n_classes, mean_len, width in CORPORA:
        docs, y = make_text(
            args.n_docs + args.n_test, args.n_words, n_classes, mean_len, 1
        )
        X, X_test = featurise(docs[: args.n_docs], docs[args.n_docs :], 2**width)
        y, y_test = y[: args.n_docs], y[args.n_docs :]
        corpus = f"{n_classes} classes, ~{mean_len} words, 2^{width}"
        key = (n_classes, mean_len, width, args.n_docs, args.n_test, args.n_words)
        acc_opt, ll_opt, opt_iter, opt_s, pred_opt = corpus_optimum(
            (*key, args.alpha), X, y, X_test, y_test, args.alpha
        )
        rows, ours_est = defaults_table(
            X, y, X_test, y_test, args.alpha, acc_opt, ll_opt
        )
        se = paired_se(predictions(ours_est, X_test), pred_opt, y_test)
        ours = rows[OURS][0]
        print(
            f"| {corpus} | optimum (lbfgs, tol=1e-8) | {opt_s:.2f} | {opt_iter} | "
            f"{acc_opt:.4f} | | {ll_opt:.4f} | | | {opt_s / ours:.1f}x |"
        )
        for name, (seconds, n_iter, acc, ll, parity) in rows.items():
            print(
                f"| {corpus} | {name} | {seconds:.2f} | {n_iter} | {acc:.4f} | "
                f"{100 * (acc - acc_opt):+.2f} pt | {ll:.4f} | {ll / ll_opt:.3f} | "
                f"{met(parity)} | {seconds / ours:.1f}x |",
                flush=True,
            )

        k, _, patience, _ = oracle_and_patience(
            X, y, X_test, y_test, acc_opt, ll_opt, args.alpha
        )
        targets.append((corpus, rows, acc_opt, ll_opt, k, patience, se))

    print("\n## Targets of the defaults\n")
    for corpus, rows, acc_opt, ll_opt, k, patience, se in targets:
        seconds, n_iter, acc, ll, parity = rows[OURS]
        sgd_s, _, sgd_acc, _, _ = rows[SGDC]
        ok, text = epoch_target(n_iter, k, patience)
        print(
            f"- {corpus}: {OURS} at parity "
            f"({parity_numbers(acc, ll, acc_opt, ll_opt)}): {met(parity)}; "
            f"accuracy - SGDClassifier's {100 * (acc - sgd_acc):+.2f} pt "
            f"(target >= -0.1 pt): {met(acc >= sgd_acc - SGDC_ACC_MARGIN)}; "
            f"epochs vs the oracle: {text}: {met(ok)}"
        )
        n_test = args.n_test
        print(
            f"  standard error of acc - acc* (paired, {n_test} test documents): "
            f"{100 * se:.2f} pt; on 5,000 documents "
            f"{100 * se * np.sqrt(n_test / 5000):.2f} pt"
        )
        es = rows[OURS_ES]
        print(
            f"  {OURS_ES}: {parity_numbers(es[2], es[3], acc_opt, ll_opt)}, "
            f"{es[1]} epochs: parity {met(es[4])}"
        )
    print("\nSGDClassifier's default fit time / ours (target >= 3x):")
    for corpus, rows, *_ in targets:
        ratio = rows[SGDC][0] / rows[OURS][0]
        print(f"- {corpus}: {ratio:.1f}x: {met(ratio >= SGDC_SPEEDUP)}")
    print("\n## Our epoch against the width (same documents)\n")
    docs, y = make_text(args.n_docs, args.n_words, 5, 100, 2)
    matrices = {w: featurise(docs, docs[:10], 2**w)[0] for w in (16, 22)}
    # interleaved rounds (a busy moment of the machine hits both widths)
    rounds = {16: [], 22: []}
    for _ in range(3):
        for width, X in matrices.items():
            rounds[width].append(epoch_seconds(X, y, args.alpha))
    for width, seconds in rounds.items():
        ms = ", ".join(f"{t * 1e3:.1f}" for t in seconds)
        print(f"- 2^{width} columns: {ms} ms / epoch (3 interleaved rounds)")
    per_round = [b / a for a, b in zip(rounds[16], rounds[22], strict=True)]
    ratio = float(np.median(per_round))
    spread = ", ".join(f"{r:.2f}" for r in per_round)
    print(
        f"- 2^22 / 2^16: {ratio:.2f}, median of the rounds' {spread} (target <= 1.3)\n",
        flush=True,
    )


def l1_table(args):
    """L1 on two corpora: each estimator with its defaults but the penalty
    (``l1_ratio=1`` / ``penalty="l1"``, alpha / C matched), run to its own
    stop: fit time, test accuracy and non-zero coefficients."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from sk_softmax import SoftmaxRegressionClassifier

    n_test = args.n_test
    alpha = args.alpha
    print("\n## L1 (l1_ratio=1), every estimator with its defaults\n")
    print(
        "| corpus | estimator | fit s | epochs / iter | accuracy | non-zero "
        "coefficients | its time / ours |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for n_classes, mean_len, width in [(5, 15, 18), (5, 100, 20)]:
        docs, y = make_text(args.n_docs + n_test, args.n_words, n_classes, mean_len, 3)
        X, X_test = featurise(docs[: args.n_docs], docs[args.n_docs :], 2**width)
        y, y_test = y[: args.n_docs], y[args.n_docs :]
        C = 1.0 / (alpha * X.shape[0])
        estimators = {
            "ours (sgd, l1_ratio=1)": SoftmaxRegressionClassifier(
                alpha=alpha, l1_ratio=1.0, random_state=0
            ),
            "SGDClassifier(log_loss, l1)": SGDClassifier(
                loss="log_loss", penalty="l1", alpha=alpha, random_state=0
            ),
            "LogisticRegression(saga, l1_ratio=1)": LogisticRegression(
                solver="saga", C=C, l1_ratio=1.0
            ),
        }
        rows = {}
        for name, est in estimators.items():
            seconds = _timed_fit(est, X, y)
            nnz = int(np.count_nonzero(est.coef_))
            rows[name] = (
                seconds,
                int(np.max(est.n_iter_)),
                est.score(X_test, y_test),
                nnz,
            )
        ours = rows["ours (sgd, l1_ratio=1)"][0]
        corpus = f"{n_classes} classes, ~{mean_len} words, 2^{width}"
        for name, (seconds, n_iter, acc, nnz) in rows.items():
            print(
                f"| {corpus} | {name} | {seconds:.2f} | {n_iter} | {acc:.4f} | "
                f"{nnz} | {seconds / ours:.1f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
