"""The demo: every solver beside LogisticRegression on an embedded dataset.

Run ``python -m sk_softmax`` (or ``sk-softmax``); ``--help`` lists the options.
"""

import argparse
import sys
import time
import warnings

import numpy as np

SOLVERS = {
    "sgd": {"solver": "sgd"},
    "sgd-early-stopping": {"solver": "sgd", "early_stopping": True},
    "cg": {"solver": "cg"},
    "lbfgs": {"solver": "lbfgs"},
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sk_softmax",
        description="Train SoftmaxRegressionClassifier with each solver beside "
        "scikit-learn's LogisticRegression and print a comparison table.",
    )
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory with the four MNIST IDX .gz files (for --dataset mnist; "
        "default: $SK_SOFTMAX_MNIST_DIR or ../shared/data/mnist)",
    )
    parser.add_argument(
        "--solver",
        choices=[*SOLVERS, "all"],
        default="all",
        help="run only this configuration (default: all, plus LogisticRegression)",
    )
    parser.add_argument("--max-iter", type=int, default=None, help="epochs/iterations")
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--plot", metavar="FILE.png", help="save training curves")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads during the fits (default 1: on a shared machine more "
        "threads can cost far more than they save; 0 for the library's default)",
    )
    return parser


def _load(args):
    """Return X_train, X_test, y_train, y_test as float32/float64 arrays."""
    if args.dataset == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=0, stratify=y
        )
        scaler = StandardScaler().fit(X_train)
        return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test
    from ._datasets import default_mnist_dir, load_mnist

    data_dir = args.data_dir or default_mnist_dir()
    if data_dir is None:
        raise FileNotFoundError(
            "no MNIST directory: pass --data-dir DIR or set SK_SOFTMAX_MNIST_DIR"
        )
    X_train, y_train, X_test, y_test = load_mnist(data_dir)
    return X_train, X_test, y_train, y_test


def _header():
    cols = ("epochs/it", "fit s", "accuracy", "log-loss")
    return f"{'solver':<26} {cols[0]:>10} {cols[1]:>10} {cols[2]:>9} {cols[3]:>9}"


def _row(name, n_iter, seconds, accuracy, logloss):
    return f"{name:<26} {n_iter:>10} {seconds:>10.3f} {accuracy:>9.4f} {logloss:>9.4f}"


def run(args, out=sys.stdout):
    """Fit and print the table; return the fitted estimators by name."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threads = args.blas_threads or None  # 0: the BLAS library's own choice
    with threadpool_limits(limits=threads, user_api="blas"):
        return _run(args, threads, out)


def _run(args, threads, out):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    from . import SoftmaxRegressionClassifier

    X_train, X_test, y_train, y_test = _load(args)
    n = X_train.shape[0]
    verbose = int(args.dataset == "mnist")
    print(
        f"{args.dataset}: {n} training / {X_test.shape[0]} test samples, "
        f"{X_train.shape[1]} features, {len(np.unique(y_train))} classes, "
        f"{X_train.dtype}, alpha={args.alpha:g}, "
        f"BLAS threads: {threads or 'default'}",
        file=out,
    )
    names = list(SOLVERS) if args.solver == "all" else [args.solver]
    fitted = {}
    header = _header()
    rows = []
    for name in names:
        params = dict(SOLVERS[name], alpha=args.alpha, random_state=args.random_state)
        if args.max_iter is not None:
            params["max_iter"] = args.max_iter
        elif params["solver"] != "sgd":
            params["max_iter"] = 1000
        clf = SoftmaxRegressionClassifier(verbose=verbose, **params)
        if verbose:
            print(f"-- fitting {name}", file=out, flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            tic = time.perf_counter()
            clf.fit(X_train, y_train)
            seconds = time.perf_counter() - tic
        proba = clf.predict_proba(X_test)
        rows.append(
            _row(
                name,
                clf.n_iter_,
                seconds,
                clf.score(X_test, y_test),
                log_loss(y_test, proba, labels=clf.classes_),
            )
        )
        fitted[name] = clf
    if args.solver == "all":
        ref = LogisticRegression(
            C=1.0 / (args.alpha * n), max_iter=args.max_iter or 1000
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            tic = time.perf_counter()
            ref.fit(X_train, y_train)
            seconds = time.perf_counter() - tic
        rows.append(
            _row(
                "LogisticRegression",
                int(np.max(ref.n_iter_)),
                seconds,
                ref.score(X_test, y_test),
                log_loss(y_test, ref.predict_proba(X_test), labels=ref.classes_),
            )
        )
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in rows:
        print(row, file=out)
    if args.plot:
        _plot(fitted, args.plot)
        print(f"training curves saved to {args.plot}", file=out)
    return fitted


def _plot(fitted, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._display import TrainingCurveDisplay

    curves = {k: v for k, v in fitted.items() if hasattr(v, "loss_curve_")}
    if not curves:
        raise ValueError("--plot needs an SGD solver (the others have no loss curve)")
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4))
    axes = np.atleast_1d(axes)
    for ax, (name, clf) in zip(axes, curves.items(), strict=True):
        TrainingCurveDisplay.from_estimator(clf, ax=ax)
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    """Console entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.plot and args.solver in ("cg", "lbfgs"):
        parser.error("--plot needs an SGD solver (cg and lbfgs have no loss curve)")
    if args.plot:  # before training, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error('--plot needs matplotlib: pip install "sk_softmax[plot]"')
    try:
        run(args)
    except (FileNotFoundError, ImportError, ValueError) as exc:
        print(f"sk-softmax: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
