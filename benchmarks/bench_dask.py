"""Driver memory and fit time: Dask on chunked files vs loading everything.

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

    python benchmarks/bench_dask.py                       # lbfgs, 10 iterations
    python benchmarks/bench_dask.py --solver sgd --max-iter 2

Needs MNIST (``SK_SOFTMAX_MNIST_DIR`` or the default directory); exits with a
message when it is absent.
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
    from distributed import Client, LocalCluster

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
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # loopback, any free port
            memory_limit=0,
        ) as cluster,
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--chunk-rows", type=int, default=20000)
    parser.add_argument("--solver", default="lbfgs", choices=["lbfgs", "cg", "sgd"])
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work-dir", default=None, help="where the chunks go")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, meta_path, params_json, n_workers = args.child
        return child(mode, meta_path, params_json, int(n_workers))
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
