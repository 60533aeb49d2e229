"""The demo: every solver beside LogisticRegression on digits or MNIST.

Run ``python -m sk_softmax`` (or ``sk-softmax``); ``--help`` lists the options.
Each estimator runs with its own defaults (``max_iter`` included), and what it
warns is printed under the table: a fit that stops at ``max_iter`` before
converging says so, as it would in your own code.
"""

import argparse
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

SOLVERS = {
    "sgd": {"solver": "sgd"},
    "sgd-early-stopping": {"solver": "sgd", "early_stopping": True},
    "cg": {"solver": "cg"},
    "lbfgs": {"solver": "lbfgs"},
}
REFERENCE = "LogisticRegression"
WIDTH = 88  # no output line is wider: it fits a terminal and the docs' column


def _prog():
    """The command as it was typed: the console script's name, or ``python -m``."""
    if Path(sys.argv[0]).name == "sk-softmax":
        return "sk-softmax"
    return "python -m sk_softmax"


def _parser():
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Train SoftmaxRegressionClassifier with each solver beside "
        "scikit-learn's LogisticRegression (same objective: C = 1 / (alpha * "
        "n_samples)) and print fit time, epochs or iterations, test accuracy "
        "and test log-loss.",
    )
    parser.add_argument(
        "--dataset",
        choices=["digits", "mnist"],
        default="digits",
        help="digits: scikit-learn's embedded 8x8 digits, standardised; mnist: "
        "the four standard IDX .gz files, pixels scaled to [0, 1] "
        "(default: digits)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="directory with the four MNIST IDX .gz files, for --dataset mnist "
        "(default: $SK_SOFTMAX_MNIST_DIR, else ../shared/data/mnist beside the "
        "checkout)",
    )
    parser.add_argument(
        "--solver",
        choices=[*SOLVERS, "all"],
        default="all",
        help="run only this configuration (default: all, and LogisticRegression)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        metavar="N",
        help="epochs (sgd) or iterations (cg, lbfgs, LogisticRegression) "
        "(default: each estimator's own: 1000 for SoftmaxRegressionClassifier, "
        "100 for LogisticRegression)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=1e-4,
        help="L2 penalty strength, alpha of SoftmaxRegressionClassifier "
        "(default: 1e-4)",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="random_state of the SGD fits: shuffling and the early-stopping "
        "split (default: 0)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS threads during the fits; on a shared machine more threads "
        "can cost far more than they save; 0 for the BLAS library's own choice "
        "(default: 1)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="save a figure (PNG, needs matplotlib): SGD's training objective "
        "per epoch beside the full-batch optimum, and every solver's fit time "
        "and test scores (default: no figure)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print each SGD epoch and full-batch iteration while fitting "
        "(default: off, only the table)",
    )
    return parser


def _load(args):
    """Return X_train, X_test, y_train, y_test."""
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
            "no MNIST directory: pass --data-dir DIR, set SK_SOFTMAX_MNIST_DIR, "
            "or put the four IDX .gz files in ../shared/data/mnist beside the "
            "checkout"
        )
    X_train, y_train, X_test, y_test = load_mnist(data_dir)
    return X_train, X_test, y_train, y_test


_COLUMNS = ("solver", "epochs/it", "fit s", "test accuracy", "test log-loss")


def _header():
    name, n_iter, seconds, accuracy, logloss = _COLUMNS
    return f"{name:<20} {n_iter:>10} {seconds:>9} {accuracy:>14} {logloss:>14}"


def _row(result):
    mark = "*" if result["warnings"] else " "
    n_iter = f"{result['n_iter']}{mark}"
    return (
        f"{result['name']:<20} {n_iter:>11}{result['seconds']:>9.3f} "
        f"{result['accuracy']:>14.4f} {result['log_loss']:>14.4f}"
    )


def run(args, out=sys.stdout):
    """Fit, print the table (and save the figure); return the results by name.

    Each result is a dict with the fitted ``estimator``, ``n_iter``,
    ``seconds``, ``accuracy``, ``log_loss`` (on the test set), ``objective``
    (the training objective of the fitted model) and ``warnings`` (what the fit
    warned, as ``(category name, message)``).
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threads = args.blas_threads or None  # 0: the BLAS library's own choice
    with threadpool_limits(limits=threads, user_api="blas"):
        return _run(args, threads, out)


def _fit(name, estimator, data, alpha, verbose, out):
    """Fit one estimator, recording (not hiding) what it warns; score it."""
    from sklearn.metrics import log_loss

    X_train, X_test, y_train, y_test = data
    if verbose:
        print(f"-- fitting {name}", file=out, flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tic = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - tic
    labels = estimator.classes_
    coef = np.asarray(estimator.coef_)
    objective = log_loss(
        y_train, estimator.predict_proba(X_train), labels=labels
    ) + 0.5 * alpha * float(np.sum(coef * coef))
    return {
        "name": name,
        "estimator": estimator,
        "n_iter": int(np.max(estimator.n_iter_)),
        "seconds": seconds,
        "accuracy": estimator.score(X_test, y_test),
        "log_loss": log_loss(y_test, estimator.predict_proba(X_test), labels=labels),
        "objective": objective,
        "warnings": [(w.category.__name__, str(w.message)) for w in caught],
    }


def _run(args, threads, out):
    from sklearn.linear_model import LogisticRegression

    from . import SoftmaxRegressionClassifier

    data = _load(args)
    X_train, X_test, y_train, _ = data
    n = X_train.shape[0]
    sizes = f"{n} training / {X_test.shape[0]} test samples"
    print(
        f"{args.dataset}: {sizes}, "
        f"{X_train.shape[1]} features, {len(np.unique(y_train))} classes, "
        f"{X_train.dtype}",
        file=out,
    )
    max_iter = "defaults" if args.max_iter is None else args.max_iter
    print(
        f"alpha={args.alpha:g}, max_iter: {max_iter}, "
        f"random_state={args.random_state}, "
        f"BLAS threads: {threads or 'default'}",
        file=out,
    )
    names = list(SOLVERS) if args.solver == "all" else [args.solver]
    common = {} if args.max_iter is None else {"max_iter": args.max_iter}
    results = {}
    for name in names:
        clf = SoftmaxRegressionClassifier(
            **SOLVERS[name],
            **common,
            alpha=args.alpha,
            random_state=args.random_state,
            verbose=int(args.verbose),
        )
        results[name] = _fit(name, clf, data, args.alpha, args.verbose, out)
    if args.solver == "all":
        C = 1.0 / (args.alpha * n) if args.alpha else np.inf  # inf: no penalty
        ref = LogisticRegression(C=C, **common)
        results[REFERENCE] = _fit(REFERENCE, ref, data, args.alpha, args.verbose, out)
    header = _header()
    print(header, file=out)
    print("-" * len(header), file=out)
    for result in results.values():
        print(_row(result), file=out)
    _print_warnings(results, out)
    if args.plot:
        _plot(results, args, sizes)
        print(f"figure saved to {args.plot}", file=out)
    return results


def _print_warnings(results, out):
    warned = [r for r in results.values() if r["warnings"]]
    if not warned:
        return
    print("* what the fit warned:", file=out)
    for result in warned:
        for category, message in dict.fromkeys(result["warnings"]):
            lines = [line.strip() for line in message.splitlines() if line.strip()]
            lines[0] = f"{result['name']}: {category}: {lines[0]}"
            for k, line in enumerate(lines):
                print(
                    textwrap.fill(
                        line,
                        width=WIDTH,
                        initial_indent="  " if k == 0 else "    ",
                        subsequent_indent="    ",
                        break_on_hyphens=False,
                        break_long_words=False,
                    ),
                    file=out,
                )


def _plot(results, args, sizes):
    """One figure: SGD's objective per epoch beside the full-batch optimum
    (left), fit time, test accuracy and test log-loss of every fit (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from ._display import _below_xlabel

    names = list(results)
    colors = {name: f"C{i}" for i, name in enumerate(names)}

    fig = plt.figure(figsize=(13, 5.4), layout="constrained")
    grid = fig.add_gridspec(1, 4, width_ratios=[2.3, 1, 1, 1])
    ax = fig.add_subplot(grid[0])
    curves = [
        name for name in names if hasattr(results[name]["estimator"], "loss_curve_")
    ]
    full_batch = [name for name in names if name not in curves]
    styles = iter(["--", ":", "-."] * 3)
    for name in curves:
        clf = results[name]["estimator"]
        epochs = np.arange(1, len(clf.loss_curve_) + 1)
        ax.plot(
            epochs,
            clf.loss_curve_,
            "-o",
            ms=2.5,
            color=colors[name],
            label=f"{name}: mean over each epoch's minibatches",
        )
        if getattr(clf, "validation_scores_", None):
            best = int(np.argmax(clf.validation_scores_)) + 1
            ax.plot(
                best,
                clf.loss_curve_[best - 1],
                "*",
                ms=14,
                color=colors[name],
                markeredgecolor="black",
                label=f"{name}: best validation epoch ({best}), weights kept",
            )
    for name in full_batch:
        ax.axhline(
            results[name]["objective"],
            ls=next(styles),
            lw=1.5,
            color=colors[name],
            label=f"{name}: final objective, {results[name]['n_iter']} iterations",
        )
    plotted = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    low, high = float(np.min(plotted)), float(np.max(plotted))
    if low > 0 and high / low > 5:  # a wide range: log scale, labels as numbers
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("epoch (SGD)")
    ax.set_ylabel("training objective: log-loss + alpha/2 ||W||^2")
    ax.set_title("Training objective")
    ax.grid(alpha=0.3, which="both")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=_below_xlabel(ax),
        borderaxespad=0.0,
        ncols=1,
        fontsize="small",
        frameon=False,
    )

    rows = np.arange(len(names))
    marked = [name + ("*" if results[name]["warnings"] else "") for name in names]
    panels = [
        ("seconds", "fit time (s)", "{:.2f}"),
        ("accuracy", "test accuracy", "{:.4f}"),
        ("log_loss", "test log-loss", "{:.4f}"),
    ]
    first_panel = None
    for k, (key, title, fmt) in enumerate(panels):
        panel = fig.add_subplot(grid[k + 1], sharey=first_panel)
        first_panel = first_panel or panel
        values = [results[name][key] for name in names]
        panel.scatter(values, rows, c=[colors[name] for name in names], zorder=3)
        for value, row in zip(values, rows, strict=True):
            panel.annotate(
                fmt.format(value),
                (value, row),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize="small",
            )
        panel.set_title(title)
        panel.margins(x=0.25, y=0.15)
        panel.grid(alpha=0.3)
        if k == 0:
            panel.set_yticks(rows, marked)
            panel.invert_yaxis()
        else:
            panel.tick_params(axis="y", labelleft=False)
    notes = [
        "Steps in an SGD curve: the rate is divided by 5 where the loss "
        "stalls, then decays to zero (the default rule).",
    ]
    if full_batch:
        notes.append(
            f"{', '.join(full_batch)}: full-batch solvers with no per-epoch "
            "curve; their final objective is a horizontal line."
        )
    if any(results[name]["warnings"] for name in names):
        notes.append("* stopped at max_iter with a warning (printed under the table).")
    fig.supxlabel("\n".join(notes), fontsize="small", ha="center")
    fig.suptitle(
        f"{args.dataset} ({sizes}, alpha={args.alpha:g}): "
        "SoftmaxRegressionClassifier's solvers beside LogisticRegression"
    )
    fig.savefig(args.plot, dpi=100)
    plt.close(fig)


def _check_plot_path(parser, path):
    """Refuse, before any fit, a figure that could not be saved: a folder
    that is not there or not writable, a format matplotlib does not write, a
    name that is a folder. Returns the file the figure goes to (a name
    without an extension gets ``.png``, as matplotlib gives it)."""
    import os

    from matplotlib.backend_bases import FigureCanvasBase

    folder = Path(path).parent
    if not folder.is_dir():
        parser.error(f"--plot {path}: there is no folder {folder}")
    if not os.access(folder, os.W_OK):
        parser.error(f"--plot {path}: the folder {folder} is not writable")
    kind = Path(path).suffix[1:].lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if kind and kind not in formats:
        parser.error(
            f"--plot {path}: matplotlib does not write .{kind} files; name one "
            f"of {', '.join(sorted(formats))} (or no extension, for a PNG)"
        )
    saved = path if kind else f"{path.rstrip('.')}.png"
    if Path(saved).is_dir():
        parser.error(f"--plot {path}: {saved} is a folder; name a file in it")
    return saved


def main(argv=None):
    """Console entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.blas_threads < 0:
        parser.error(f"--blas-threads must be 0 or more, got {args.blas_threads}")
    if args.plot and args.solver in ("cg", "lbfgs"):
        parser.error("--plot needs an SGD solver (cg and lbfgs have no loss curve)")
    if args.plot:  # before training, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error(
                "--plot needs matplotlib: pip install matplotlib (or, in the "
                'checkout, pip install -e ".[plot]")'
            )
        args.plot = _check_plot_path(parser, args.plot)
    try:
        run(args)
    except (FileNotFoundError, ImportError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
