"""Embedding-like dense data: SoftmaxRegressionClassifier's default SGD fit
against what users would pick instead, judged by held-out parity with the
optimum.

Run from the project root (the data is generated; nothing is downloaded)::

    python benchmarks/bench_embeddings.py            # a few minutes
    python benchmarks/bench_embeddings.py --quick    # smoke run, seconds

The data: ``--rows`` rows (two thirds train, one third test) of
``--features`` uncorrelated standard Gaussian features (the size of a
sentence embedding; 384 by default) and ``--classes`` classes drawn as the
argmax of linear scores plus Gumbel noise (a softmax model, so the optimum
is the right model, with label noise: the optimum's test accuracy is
about 0.55 at the defaults). Every direction
of such data has about the top curvature and a minibatch's gradient is
noisy: the kind of data on which heavy-ball momentum 0.9 made the default
fit's training loss climb above its start (see ``MOMENTUM_NOISE`` in
``sk_softmax/_solvers/_sgd/_loop.py``).

The table is ``bench_mnist.py``'s headline, on this data: our default fit,
ours with ``early_stopping=True`` and with ``solver="lbfgs"``,
``LogisticRegression()``, ``SGDClassifier(loss="log_loss")`` and
``MLPClassifier(hidden_layer_sizes=())``, each with every default but the
penalty (``alpha=1e-4``; ``C = 1 / (alpha * n_samples)``), run to its own
stop: fit time, epochs or iterations, test accuracy and test log-loss beside
the optimum's, held-out parity, and the time ratio to our default fit; then
the same targets as on MNIST (parity; at least 8x faster than
``LogisticRegression()``; ``early_stopping=True`` at parity; epochs against
the oracle). One more row, ``ours (momentum=0.9)``, is the default as it was
before its momentum was capped on such data. Definitions: ``_parity.py``.
"""

import argparse

import numpy as np
from _parity import DEFINITIONS, blas_info, scores, timed_fit
from bench_mnist import defaults_to_their_stop


def embedding_like(n_rows, n_features, n_classes, seed=0):
    """``(X, y, X_test, y_test)``: uncorrelated Gaussian features (float64),
    labels the argmax of linear scores (weights of norm about 3 a class)
    plus Gumbel noise; the first two thirds of the rows train."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    W = rng.standard_normal((n_features, n_classes)) * 3.0 / np.sqrt(n_features)
    y = np.argmax(X @ W + rng.gumbel(size=(n_rows, n_classes)), axis=1)
    n_train = 2 * n_rows // 3
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--features", type=int, default=384)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument(
        "--quick", action="store_true", help="6,000 rows of 64 features"
    )
    args = parser.parse_args(argv)
    skip = []
    if args.quick:
        args.rows, args.features = 6_000, 64
        skip = ["sgdclassifier", "mlp", "torch"]
    X, y, X_test, y_test = embedding_like(args.rows, args.features, args.classes)
    print(
        f"embedding-like: {X.shape[0]} x {X.shape[1]} float64, {args.classes} "
        f"classes (test {X_test.shape[0]})"
    )
    print(f"BLAS: {blas_info()}\n")
    print(DEFINITIONS + "\n")
    rows = defaults_to_their_stop(X, y, X_test, y_test, skip)
    from sk_softmax import SoftmaxRegressionClassifier

    before = SoftmaxRegressionClassifier(momentum=0.9, random_state=0)
    seconds = timed_fit(before, X, y)
    acc, ll = scores(before, X_test, y_test)
    ours = rows["ours (defaults)"]
    print(
        f"- ours (momentum=0.9), the default before its cap: {seconds:.2f} s "
        f"({seconds / ours[0]:.1f}x ours), {before.n_iter_} epochs, test "
        f"accuracy {acc:.4f}, test log-loss {ll:.4f} (ours: {ours[2]:.4f}, "
        f"{ours[3]:.4f})"
    )


if __name__ == "__main__":
    main()
