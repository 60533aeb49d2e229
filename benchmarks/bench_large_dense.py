"""Large dense data: the default fit's held-out parity over ``alpha`` and seeds,
beside the per-feature rule it replaced there.

Run from the project root (the data is generated; nothing is downloaded)::

    python benchmarks/bench_large_dense.py            # about 5 minutes
    python benchmarks/bench_large_dense.py --quick    # smoke run, seconds

On dense data of 20,000 rows or more ``SoftmaxRegressionClassifier()``
takes the covariance preconditioner, an average of its steps and a
validation split (the user guide's "When SGD stops"); ``"diagonal"`` below
is the same estimator with ``preconditioner="diagonal"``, the per-feature
rule that was the default there before. Each problem has ``--rows`` rows (a
quarter held out for the test): ``embedding`` (256 uncorrelated Gaussian
features, 10 classes drawn with Gumbel noise on linear scores), ``wide``
(the same with 768 features and 5 classes), ``raw_scale`` (25 features of
scales 1e-2 to 1e3 and offsets up to 50, 5 classes), ``twenty`` (60
features, 20 classes), ``binary`` (50 features, label noise) and
``correlated`` (200 features from 8 latent factors, 6 classes);
``separable`` (12 features from 4 latent ones, 3 classes, nearly
separable) is run at ``alpha`` up to 1e-2. For every fit: epochs, time,
test accuracy and log-loss against the optimum's, parity (``_parity.py``).
"""

import argparse

import numpy as np
from _parity import at_parity, blas_info, lbfgs_optimum, scores, timed_fit
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split


def embedding(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 256))
    W = rng.standard_normal((256, 10)) * 3.0 / 16.0
    return X, np.argmax(X @ W + rng.gumbel(size=(n, 10)), axis=1)


def wide(n, seed):
    """768 uncorrelated Gaussian features (a sentence embedding's width), 5
    classes drawn with Gumbel noise on linear scores: the averaged steps'
    noise is large there."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 768))
    W = rng.standard_normal((768, 5)) * 3.0 / np.sqrt(768)
    return X, np.argmax(X @ W + rng.gumbel(size=(n, 5)), axis=1)


def raw_scale(n, seed):
    rng = np.random.default_rng(seed)
    X, y = make_classification(
        n_samples=n, n_features=25, n_informative=10, n_classes=5, random_state=seed
    )
    return X * 10.0 ** rng.uniform(-2, 3, 25) + rng.uniform(-50, 50, 25), y


def twenty(n, seed):
    return make_classification(
        n_samples=n,
        n_features=60,
        n_informative=40,
        n_classes=20,
        class_sep=1.5,
        random_state=seed,
    )


def binary(n, seed):
    return make_classification(
        n_samples=n, n_features=50, n_informative=20, flip_y=0.05, random_state=seed
    )


def correlated(n, seed):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 8))
    X = Z @ rng.standard_normal((8, 200)) + 0.3 * rng.standard_normal((n, 200))
    y = np.argmax(Z @ rng.standard_normal((8, 6)) + rng.gumbel(size=(n, 6)), axis=1)
    return X, y


def separable(n, seed):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 4))
    X = latent @ rng.standard_normal((4, 12)) + 0.1 * rng.standard_normal((n, 12))
    X = X * rng.uniform(0.5, 2.0, 12)
    logits = X @ rng.standard_normal((12, 3))
    return X, np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


PROBLEMS = {
    "embedding": (embedding, [1e-5, 1e-4, 1e-2, 1.0]),
    "wide": (wide, [1e-5, 1e-4, 1e-2, 1.0]),
    "raw_scale": (raw_scale, [1e-5, 1e-4, 1e-2, 1.0]),
    "twenty": (twenty, [1e-5, 1e-4, 1e-2, 1.0]),
    "binary": (binary, [1e-5, 1e-4, 1e-2, 1.0]),
    "correlated": (correlated, [1e-5, 1e-4, 1e-2, 1.0]),
    "separable": (separable, [1e-5, 1e-4, 1e-3, 1e-2]),
}


# the default, and the per-feature rule it replaced on large dense data
FITS = [("default", {}), ("diagonal", {"preconditioner": "diagonal"})]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=None)
    parser.add_argument("--quick", action="store_true", help="one seed, two problems")
    args = parser.parse_args(argv)
    from sk_softmax import SoftmaxRegressionClassifier

    names = args.problems or (["binary", "separable"] if args.quick else PROBLEMS)
    seeds = args.seeds[:1] if args.quick else args.seeds
    print(f"BLAS: {blas_info()}; {args.rows} rows a problem, a quarter held out\n")
    print(
        "| problem | alpha | seed | fit | epochs | s | acc - acc* | ll / ll* | parity |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    counts = {"default": [0, 0, 0], "diagonal": [0, 0, 0]}
    for name in names:
        make, alphas = PROBLEMS[name]
        for seed in seeds:
            X, y = make(args.rows, seed)
            X, X_test, y, y_test = train_test_split(
                X, y, test_size=0.25, random_state=seed, stratify=y
            )
            for alpha in alphas[:2] if args.quick else alphas:
                acc_opt, ll_opt = scores(lbfgs_optimum(X, y, alpha), X_test, y_test)
                for fit, extra in [
                    ("default", {}),
                    ("diagonal", {"preconditioner": "diagonal"}),
                ]:
                    est = SoftmaxRegressionClassifier(
                        alpha=alpha, random_state=seed, **extra
                    )
                    seconds = timed_fit(est, X, y)
                    acc, ll = scores(est, X_test, y_test)
                    ok = at_parity(acc, ll, acc_opt, ll_opt)
                    tally = counts[fit]
                    tally[0] += ok
                    tally[1] += 1
                    tally[2] += est.n_iter_
                    print(
                        f"| {name} | {alpha:g} | {seed} | {fit} | {est.n_iter_} "
                        f"| {seconds:.2f} | {100 * (acc - acc_opt):+.2f} pt "
                        f"| {ll / ll_opt:.4f} | {'met' if ok else 'NOT met'} |",
                        flush=True,
                    )
    print()
    for fit, (ok, n, epochs) in counts.items():
        print(f"- {fit}: {ok} of {n} fits at parity, {epochs} epochs in all")


if __name__ == "__main__":
    main()
