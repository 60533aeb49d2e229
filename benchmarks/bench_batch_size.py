"""MNIST: how SGD's ``batch_size`` trades epoch time against epochs needed.

Run from the project root::

    python benchmarks/bench_batch_size.py                 # 64 .. 2048
    python benchmarks/bench_batch_size.py --sizes 128 512 # a few
    python benchmarks/bench_batch_size.py --quick         # smoke run

For every batch size, in one process: the marginal time of one epoch of our
SGD (``(fit(max_iter=6) - fit(max_iter=2)) / 4`` with stopping on ``tol``
disabled, so validation and setup cancel out) and the floor of
``bench_mnist.py`` (the minibatch ``X_b @ W.T`` and ``G @ X_b`` products
alone), interleaved, best of ``--repeats``; for each of ``--seeds`` the
first epoch after which the test accuracy reaches 92.5% (the model after
epoch ``k`` of a fit is the model of ``max_iter=k``), and the mean test
accuracy after 5, 10 and 20 epochs. "est. s" is the median epochs times
the epoch time. The other parameters are the defaults.
"""

import argparse
import warnings

import numpy as np
from _parity import blas_info
from bench_mnist import TARGET, _load, epoch_vs_floor


def accuracy_curve(X, y, X_test, y_test, batch_size, max_epochs, seed):
    """Test accuracy after each epoch of one default fit (not timed).

    The model after epoch ``k`` of this fit is the model ``max_iter=k`` gives
    (same batches, same schedule), so one fit serves every budget.
    """
    from sk_softmax import SoftmaxRegressionClassifier
    from sk_softmax._callbacks import observe

    clf = SoftmaxRegressionClassifier(
        batch_size=batch_size, max_iter=max_epochs, random_state=seed
    )
    curve = []

    def record(report, parameters):
        W, b = parameters()
        pred = np.argmax(X_test @ W.T + b, axis=1)  # MNIST's classes are 0..9
        curve.append(float(np.mean(pred == y_test)))

    with warnings.catch_warnings(), observe(record):
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    return np.array(curve)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[64, 128, 256, 512, 1024, 2048]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.max_epochs, args.seeds = [256], 1, 3, [0]

    checkpoints = sorted(
        {e for e in (5, 10) if e < args.max_epochs} | {args.max_epochs}
    )
    X, y, X_test, y_test = _load(args)
    print(f"MNIST {X.shape[0]} x {X.shape[1]} float32 in [0, 1]; target {TARGET:.1%}")
    print(f"BLAS: {blas_info()}\n")
    print(
        "| batch_size | s / epoch | floor s / epoch | ratio | epochs to "
        f"{TARGET:.1%} (seeds {', '.join(map(str, args.seeds))}) | "
        f"est. s to {TARGET:.1%} | accuracy after "
        f"{' / '.join(map(str, checkpoints))} epochs (mean) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for bs in args.sizes:
        ep, fl, _ = epoch_vs_floor(X, y, bs, args.repeats, {})
        curves = [
            accuracy_curve(X, y, X_test, y_test, bs, args.max_epochs, seed)
            for seed in args.seeds
        ]
        epochs = [
            int(np.argmax(c >= TARGET)) + 1 if np.any(c >= TARGET) else None
            for c in curves
        ]
        reached = [k for k in epochs if k is not None]
        median = float(np.median(reached)) if len(reached) == len(epochs) else None
        est = f"{median * ep:.2f}" if median is not None else "-"
        shown = ", ".join("-" if k is None else str(k) for k in epochs)
        acc = np.mean(curves, axis=0)
        accs = " / ".join(f"{acc[e - 1]:.4f}" for e in checkpoints)
        print(
            f"| {bs} | {ep:.4f} | {fl:.4f} | {ep / fl:.2f} | {shown} | {est} | "
            f"{accs} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
