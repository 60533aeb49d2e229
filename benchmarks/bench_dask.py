"""Dask fits: time to held-out parity on 1 and 2 workers, and driver memory.

Three modes (``--mode``):

``parity`` (issue 28)
    A synthetic dense problem (``--rows`` x ``--features``, default
    1,000,000 x 100, 10 classes drawn from a softmax model), generated chunk
    by chunk on the workers of a ``LocalCluster`` (one thread a worker) with
    1 and then 2 workers. Wall time from ``fit`` to held-out parity
    (``_parity.py``: test accuracy within 0.3 point of the optimum's, test
    log-loss within 2%) of the data-parallel SGD (``parallel=True``), the
    sequential chunk SGD and the Dask lbfgs; the speedup of 2 workers over 1.
    The rows are made and persisted, and every worker warmed up by a
    one-epoch fit, before the timed fits; the model is checked after every
    epoch / iteration (an observer; the check's own time is not counted) and
    the fit stopped at parity.
``simulate``
    The data-parallel SGD's rounds (epochs) to parity as the number of
    chunks standing for workers grows (1, 4, 8, 16, 32, 64), on one
    process (Dask's synchronous scheduler): where averaging stops paying.
``memory``
    Driver memory and fit time, described below.

Driver memory and fit time: Dask on chunked files vs loading everything.

MNIST's training set is replicated ``--replicas`` times (default 10, 600,000
rows) and written to a temporary directory as one ``.npy`` file per row chunk
(``--chunk-rows`` rows each); the directory is deleted at the end. Two runs,
each in a fresh subprocess so that peak memory (``ru_maxrss``) is its own:

``memory``
    ``np.load`` every chunk, concatenate, ``fit`` in memory.
``dask``
    ``da.from_delayed(np.load(mmap_mode="r"))`` per chunk, a
    ``LocalCluster`` of ``--workers`` single-threaded worker processes, ``fit``
    on the Dask arrays. Only the driver's peak is reported as the driver's;
    the workers (which hold the persisted chunks) are reported apart.

Usage::

    python benchmarks/bench_dask.py --mode parity         # 1,000,000 x 100
    python benchmarks/bench_dask.py --mode simulate --rows 200000
    python benchmarks/bench_dask.py --mode memory         # lbfgs, 10 iterations
    python benchmarks/bench_dask.py --mode memory --solver sgd --max-iter 2

The memory mode needs MNIST (``SK_SOFTMAX_MNIST_DIR`` or the default
directory); exits with a message when it is absent.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

N_CLASSES = 10
TEST_ROWS = 20_000


# ------------------------------------------------------------ parity mode
def make_rows(seed, n_rows, n_features):
    """``(X, y)``: rows of the synthetic problem, a function of ``seed``.

    ``X`` standard normal; ``y`` drawn from the softmax of ``X @ W`` with a
    fixed ``W`` (the same for every seed), scaled so that the best accuracy
    is about 0.75.
    """
    W = np.random.default_rng(12345).normal(size=(n_features, N_CLASSES))
    W *= 4.0 / np.sqrt(n_features)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    logits = X @ W
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n_rows, 1))).argmax(axis=1)
    return X, y


def dask_rows(n_rows, n_features, chunk_rows):
    """The training rows as Dask arrays, each chunk made where it is used."""
    import dask
    import dask.array as da

    make = dask.delayed(make_rows, nout=2, pure=True)
    xs, ys = [], []
    for i, start in enumerate(range(0, n_rows, chunk_rows)):
        m = min(chunk_rows, n_rows - start)
        X, y = make(1000 + i, m, n_features)
        xs.append(da.from_delayed(X, shape=(m, n_features), dtype=np.float64))
        ys.append(da.from_delayed(y, shape=(m,), dtype=np.int64))
    return da.concatenate(xs), da.concatenate(ys)


class _AtParity(Exception):
    pass


def time_to_parity(clf, X, y, test, optimum):
    """``(seconds, epochs, acc, ll)`` of ``clf.fit(X, y)`` stopped at the
    first epoch (iteration) at held-out parity; ``seconds`` is None if the
    fit ended first. The checks' own time is left out."""
    from _parity import at_parity, scores

    from sk_softmax._callbacks import observe

    X_test, y_test = test
    state = {"n": 0, "check_s": 0.0, "last": None}
    classes = np.arange(N_CLASSES)

    class Probe:
        classes_ = classes

        def __init__(self, coef, intercept):
            self.coef, self.intercept = coef, intercept

        def predict_proba(self, X):
            z = X @ self.coef.T + self.intercept
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            return p / p.sum(axis=1, keepdims=True)

    def check(report, parameters):
        tic = time.perf_counter()
        state["n"] += 1
        acc, ll = scores(Probe(*parameters()), X_test, y_test, classes)
        state["last"] = (acc, ll)
        state["check_s"] += time.perf_counter() - tic
        if at_parity(acc, ll, *optimum):
            raise _AtParity

    tic = time.perf_counter()
    reached = False
    with warnings.catch_warnings(), observe(check):
        warnings.simplefilter("ignore")
        try:
            clf.fit(X, y)
        except _AtParity:
            reached = True
    seconds = time.perf_counter() - tic - state["check_s"]
    return (seconds if reached else None), state["n"], *state["last"]


def _cluster(n_workers):
    """A ``LocalCluster`` of ``n_workers`` one-thread worker processes on the
    loopback interface (any free port), without a memory limit."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        memory_limit=0,
    )


def run_parity(args):
    from _parity import OPTIMUM_PARAMS, blas_info, parity_numbers, scores
    from distributed import Client, wait

    from sk_softmax import SoftmaxRegressionClassifier

    n, d = args.rows, args.features
    test = make_rows(1, TEST_ROWS, d)
    X_lazy, y_lazy = dask_rows(n, d, args.chunk_rows)
    n_chunks = X_lazy.numblocks[0]
    print(
        f"{n} x {d} float64 rows, {N_CLASSES} classes, {n_chunks} chunks of "
        f"{args.chunk_rows} rows; test {TEST_ROWS} rows; alpha={args.alpha}; "
        f"BLAS on the driver: {blas_info()}"
    )
    methods = {
        "parallel SGD": dict(parallel=True, max_iter=args.max_epochs),
        "sequential SGD": dict(max_iter=args.max_epochs),
        "lbfgs": dict(solver="lbfgs", max_iter=args.max_lbfgs),
    }
    times = {}
    optimum = None
    for n_workers in args.worker_counts:
        with (
            _cluster(n_workers) as cluster,
            Client(cluster) as client,
        ):
            # the rows made once, on the workers: the times are the fits'
            X, y = client.persist([X_lazy, y_lazy])
            wait([X, y])
            # every worker imports the package and runs a pass before the timing
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                SoftmaxRegressionClassifier(max_iter=1, parallel=True).fit(X, y)
            if optimum is None:
                tic = time.perf_counter()
                opt = SoftmaxRegressionClassifier(alpha=args.alpha, **OPTIMUM_PARAMS)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    opt.fit(X, y)
                optimum = scores(opt, *test)
                print(
                    f"optimum (Dask lbfgs, tol=1e-8, {opt.n_iter_} iterations, "
                    f"{time.perf_counter() - tic:.0f} s): test accuracy "
                    f"{optimum[0]:.4f}, log-loss {optimum[1]:.4f}"
                )
                print(
                    f"{'workers':>7} {'method':<15} {'s to parity':>11} "
                    f"{'epochs/its':>10}  at the end"
                )
            for name, params in methods.items():
                clf = SoftmaxRegressionClassifier(
                    alpha=args.alpha, random_state=0, **params
                )
                seconds, its, acc, ll = time_to_parity(clf, X, y, test, optimum)
                times[n_workers, name] = seconds
                shown = "not reached" if seconds is None else f"{seconds:.1f}"
                print(
                    f"{n_workers:>7} {name:<15} {shown:>11} {its:>10}  "
                    f"{parity_numbers(acc, ll, *optimum)}"
                )
    if len(args.worker_counts) > 1:
        a, b = args.worker_counts[:2]
        print(f"speedup of {b} workers over {a} (time to parity):")
        for name in methods:
            t1, t2 = times[a, name], times[b, name]
            ratio = "n/a" if t1 is None or t2 is None else f"{t1 / t2:.2f}x"
            print(f"  {name:<15} {ratio}")


def run_simulate(args):
    import dask
    import dask.array as da
    from _parity import OPTIMUM_PARAMS, scores

    from sk_softmax import SoftmaxRegressionClassifier

    n, d = args.rows, args.features
    X, y = make_rows(2, n, d)
    test = make_rows(1, TEST_ROWS, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = SoftmaxRegressionClassifier(alpha=args.alpha, **OPTIMUM_PARAMS)
        optimum = scores(opt.fit(X, y), *test)
    print(
        f"{n} x {d} rows, {N_CLASSES} classes; optimum: test accuracy "
        f"{optimum[0]:.4f}, log-loss {optimum[1]:.4f}; one process, every "
        "chunk standing for a worker"
    )
    print(f"{'chunks':>6} {'rounds to parity':>16} {'ideal speedup':>13}")
    first = None
    with dask.config.set(scheduler="synchronous"):
        for k in args.chunks:
            rows = -(-n // k)
            Xd, yd = da.from_array(X, chunks=(rows, d)), da.from_array(y, chunks=rows)
            clf = SoftmaxRegressionClassifier(
                alpha=args.alpha,
                random_state=0,
                parallel=True,
                max_iter=args.max_epochs,
            )
            _, rounds, *_ = time_to_parity(clf, Xd, yd, test, optimum)
            reached = _ is not None
            first = first or (rounds if reached else None)
            speedup = k * first / rounds if (reached and first) else float("nan")
            shown = rounds if reached else f">{rounds}"
            print(f"{k:>6} {shown:>16} {speedup:>12.1f}x")
    print(
        "ideal speedup: k workers each doing 1/k of a round, over one chunk's "
        "sequential SGD (no communication cost); averaging stops paying where "
        "doubling the chunks no longer lowers rounds / chunks."
    )


def write_chunks(work_dir, replicas, chunk_rows):
    """Replicated MNIST (float32 in [0, 1]) as .npy row chunks; returns metadata."""
    from sk_softmax._datasets import default_mnist_dir, load_mnist

    X, y = load_mnist(default_mnist_dir())[:2]
    X = np.asarray(X, dtype=np.float32).reshape(X.shape[0], -1)  # in [0, 1]
    y = np.asarray(y, dtype=np.uint8)
    n = X.shape[0] * replicas
    files = []
    for i, start in enumerate(range(0, n, chunk_rows)):
        rows = np.arange(start, min(start + chunk_rows, n)) % X.shape[0]
        path_x = os.path.join(work_dir, f"X_{i:04d}.npy")
        path_y = os.path.join(work_dir, f"y_{i:04d}.npy")
        np.save(path_x, X[rows])
        np.save(path_y, y[rows])
        files.append((path_x, path_y, int(rows.shape[0])))
    return {"files": files, "n_features": int(X.shape[1])}


def _load(path):
    return np.load(path, mmap_mode="r")


def run_memory(meta, params):
    from sk_softmax import SoftmaxRegressionClassifier

    tic = time.perf_counter()
    X = np.concatenate([np.load(f[0]) for f in meta["files"]])
    y = np.concatenate([np.load(f[1]) for f in meta["files"]])
    load_s = time.perf_counter() - tic
    clf = SoftmaxRegressionClassifier(**params)
    tic = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - tic
    return {"load_s": load_s, "fit_s": fit_s, "train_accuracy": clf.score(X, y)}


def run_dask(meta, params, n_workers):
    import dask
    import dask.array as da
    import psutil
    from distributed import Client

    from sk_softmax import SoftmaxRegressionClassifier

    d = meta["n_features"]
    X = da.concatenate(
        [
            da.from_delayed(
                dask.delayed(_load)(f[0]), shape=(f[2], d), dtype=np.float32
            )
            for f in meta["files"]
        ]
    )
    y = da.concatenate(
        [
            da.from_delayed(dask.delayed(_load)(f[1]), shape=(f[2],), dtype=np.uint8)
            for f in meta["files"]
        ]
    )
    with (
        _cluster(n_workers) as cluster,
        Client(cluster) as client,
    ):
        clf = SoftmaxRegressionClassifier(**params)
        rss_before = psutil.Process().memory_info().rss / 2**20
        tic = time.perf_counter()
        clf.fit(X, y)
        fit_s = time.perf_counter() - tic
        workers_rss = client.run(lambda: psutil.Process().memory_info().rss)
        tic = time.perf_counter()
        accuracy = float((clf.predict(X) == y).mean().compute())
        predict_s = time.perf_counter() - tic
    return {
        "fit_s": fit_s,
        "driver_rss_before_fit_mb": rss_before,
        "predict_s": predict_s,
        "train_accuracy": accuracy,
        "workers_rss_mb_after_fit": sorted(v / 2**20 for v in workers_rss.values()),
    }


def child(mode, meta_path, params_json, n_workers):
    with open(meta_path) as f:
        meta = json.load(f)
    params = json.loads(params_json)
    warnings.simplefilter("ignore")  # ConvergenceWarning at a small max_iter
    if mode == "memory":
        out = run_memory(meta, params)
    else:
        out = run_dask(meta, params, n_workers)
    out["driver_peak_rss_mb"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode", default="parity", choices=["parity", "simulate", "memory"]
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--max-lbfgs", type=int, default=500)
    parser.add_argument(
        "--worker-counts",
        dest="worker_counts",
        type=int,
        nargs="+",
        default=[1, 2],
        help="parity mode",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        nargs="+",
        default=[1, 4, 8, 16, 32, 64],
        help="simulate mode",
    )
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="default: 20000 (memory), rows / 8 (parity)",
    )
    parser.add_argument("--solver", default="lbfgs", choices=["lbfgs", "cg", "sgd"])
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="memory mode")
    parser.add_argument("--work-dir", default=None, help="where the chunks go")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, meta_path, params_json, n_workers = args.child
        return child(mode, meta_path, params_json, int(n_workers))
    if args.mode == "parity":
        args.chunk_rows = args.chunk_rows or -(-args.rows // 8)
        return run_parity(args)
    if args.mode == "simulate":
        return run_simulate(args)
    args.chunk_rows = args.chunk_rows or 20000
    from sk_softmax._datasets import default_mnist_dir

    mnist = default_mnist_dir()
    if mnist is None or not (mnist / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"MNIST not found in {mnist}; set SK_SOFTMAX_MNIST_DIR.")
    params = {"solver": args.solver, "max_iter": args.max_iter, "random_state": 0}
    if args.solver == "sgd":
        params["n_iter_no_change"] = args.max_iter + 1
    work_dir = tempfile.mkdtemp(prefix="sk_softmax_dask_", dir=args.work_dir)
    try:
        tic = time.perf_counter()
        meta = write_chunks(work_dir, args.replicas, args.chunk_rows)
        write_s = time.perf_counter() - tic
        meta_path = os.path.join(work_dir, "meta.json")
        with open(meta_path, "w") as f:
            json.dump(meta, f)
        n = sum(f[2] for f in meta["files"])
        size_mb = n * meta["n_features"] * 4 / 2**20
        chunk_mb = args.chunk_rows * meta["n_features"] * 4 / 2**20
        print(
            f"{n} x {meta['n_features']} float32 = {size_mb:.0f} MiB on disk in "
            f"{len(meta['files'])} chunks of {chunk_mb:.1f} MiB (written in "
            f"{write_s:.1f} s); {params}"
        )
        results = {}
        for mode in ("dask", "memory"):
            cmd = [sys.executable, __file__, "--child", mode, meta_path]
            cmd += [json.dumps(params), str(args.workers)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{mode} run failed:\n{out.stderr[-3000:]}")
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{'run':<8} {'fit s':>8} {'driver peak RSS MiB':>20} {'accuracy':>9}")
        for mode, r in results.items():
            print(
                f"{mode:<8} {r['fit_s']:>8.1f} {r['driver_peak_rss_mb']:>20.0f} "
                f"{r['train_accuracy']:>9.4f}"
            )
        r = results["dask"]
        print(f"dask driver RSS before fit (MiB): {r['driver_rss_before_fit_mb']:.0f}")
        print(f"dask workers' RSS after fit (MiB): {r['workers_rss_mb_after_fit']}")
        print(f"dask lazy predict + accuracy over all chunks: {r['predict_s']:.1f} s")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
