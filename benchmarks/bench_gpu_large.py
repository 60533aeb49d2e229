"""A large dense problem on the GPU against our CPU fit (issue 29).

``--rows`` x ``--features`` float32 (default 1,000,000 x 1,000), ``--classes``
classes (default 100), labels drawn from a random linear teacher's softmax
(so the problem is a true multinomial logit, with label noise), made on the
GPU with CuPy's generator. Our default fit (``backend="cupy"``, X resident
on the device) is timed, its epochs printed as they end; then our default
fit on the host on the first ``--cpu-rows`` rows (default 100,000; all the
host's BLAS threads unless ``--threads``), whose time is extrapolated
linearly to all rows (an assumption: the same number of epochs, and an epoch
costing in proportion to the rows). Both are scored on ``--test-rows`` held-out
rows drawn the same way.

Host synchronisations are counted for one epoch of ``partial_fit`` on the
first ``--sync-rows`` rows (default 100,000; they should not depend on it): the
calls of our device-to-host conversion (``sk_softmax._backend.to_numpy``,
wrapped in every module of the package that imported it), and, where
PyTorch's profiler can see CuPy's CUDA calls, the device-to-host copies.
Scalar reads such as ``float(x)`` on a CuPy array go through neither wrapper
and are counted only by the profiler.

With ``--backend numpy`` the same code runs on the host on small sizes: a
smoke test of the script, not a measurement (without CuPy and without that
option the script says no GPU is usable and exits)::

    python benchmarks/bench_gpu_large.py --backend numpy --rows 20000 \\
        --features 50 --classes 5 --cpu-rows 5000
"""

import argparse
import sys
import time
import warnings

import numpy as np


def make_problem(xp, n_rows, n_features, n_classes, seed, scale=3.0):
    """``(X, y)`` from a random linear teacher: ``y`` drawn from
    ``softmax(scale * X @ W.T / sqrt(n_features))`` with the Gumbel trick,
    by blocks of rows (no temporary of ``X``'s size beyond ``X``)."""
    rng = xp.random.default_rng(seed)
    W = rng.standard_normal((n_classes, n_features), dtype=xp.float32)
    W *= scale / np.sqrt(n_features)
    X = xp.empty((n_rows, n_features), dtype=xp.float32)
    y = xp.empty(n_rows, dtype=xp.int64)
    block = 100_000
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        Xb = rng.standard_normal((stop - start, n_features), dtype=xp.float32)
        u = rng.random((stop - start, n_classes), dtype=xp.float32)
        gumbel = -xp.log(-xp.log(xp.clip(u, 1e-12, 1 - 1e-7)))
        X[start:stop] = Xb
        y[start:stop] = xp.argmax(Xb @ W.T + gumbel, axis=1)
    return X, y


def _sync(xp):
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def _accuracy(clf, X, y):
    pred = clf.predict(X)
    return float((pred == y).mean())


def timed_fit(X, y, backend, label):
    """Our default fit, its epochs printed as they end: ``(clf, seconds)``."""
    from sk_softmax import SoftmaxRegressionClassifier
    from sk_softmax._callbacks import observe

    tic = time.perf_counter()

    def report(rep, parameters):
        print(
            f"  [{label}] epoch {rep.epoch}: loss {rep.loss:.4f}, "
            f"{time.perf_counter() - tic:.1f} s so far",
            flush=True,
        )

    clf = SoftmaxRegressionClassifier(backend=backend, random_state=0)
    with warnings.catch_warnings(record=True) as caught, observe(report):
        warnings.simplefilter("always")
        tic = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - tic
    for w in caught:
        print(f"  [{label}] warning: {w.category.__name__}: {w.message}")
    return clf, seconds


def count_host_syncs(X, y, classes, backend):
    """Host reads in one ``partial_fit`` epoch (after a first one): calls of
    ``to_numpy`` on a CuPy array and, through PyTorch's profiler where it
    sees them, CUDA device-to-host copies. Returns ``(to_numpy calls, copies or None,
    minibatch updates)``."""
    from sk_softmax import SoftmaxRegressionClassifier, _backend
    from sk_softmax._callbacks import observe

    clf = SoftmaxRegressionClassifier(backend=backend, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, y, classes=classes)
    original = _backend.to_numpy
    calls = [0]

    def counted(x, *args, **kwargs):
        if _backend.is_cupy_array(x):  # a no-op on host arrays: not counted
            calls[0] += 1
        return original(x, *args, **kwargs)

    patched = [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("sk_softmax") and getattr(m, "to_numpy", None) is original
    ]
    rates = []
    for m in patched:
        m.to_numpy = counted
    try:
        with warnings.catch_warnings(), observe(lambda r, _: rates.extend(r.rates)):
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y)
    finally:
        for m in patched:
            m.to_numpy = original
    copies = None
    if backend == "cupy":
        copies = _profiled_copies(clf, X, y)
    return calls[0], copies, len(rates)


def _profiled_copies(clf, X, y):
    """Device-to-host copies (CUDA memcpy events) of one ``partial_fit``
    epoch, as PyTorch's profiler (CUPTI) sees them; None without PyTorch."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    try:
        torch.cuda.init()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with profile(activities=[ProfilerActivity.CUDA]) as p:
                clf.partial_fit(X, y)
        counts = {}
        for event in p.events():
            name = event.name
            if "DtoH" in name or "cudaStreamSynchronize" in name:
                counts[name] = counts.get(name, 0) + 1
            elif "cudaMemcpy" in name or "cudaDeviceSynchronize" in name:
                counts[name] = counts.get(name, 0) + 1
        return counts
    except Exception as exc:  # the profiler is a bonus: never fail the run on it
        return f"profiler failed: {type(exc).__name__}: {exc}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["cupy", "numpy"], default="cupy")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=1_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--test-rows", type=int, default=100_000)
    parser.add_argument("--cpu-rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sync-rows", type=int, default=100_000)
    parser.add_argument("--skip", nargs="*", default=[], help="gpu cpu syncs")
    args = parser.parse_args(argv)

    from sk_softmax._backend import cupy_status

    backend = args.backend
    if backend == "cupy":
        cupy, error = cupy_status()
        if cupy is None or error is not None:
            print(f"no usable CuPy GPU ({error}): skipped")
            return
        xp = cupy
    else:
        xp = np
    n, p, k = args.rows, args.features, args.classes
    tic = time.perf_counter()
    X_all, y_all = make_problem(xp, n + args.test_rows, p, k, seed=0)
    _sync(xp)
    X, y = X_all[:n], y_all[:n]
    X_test, y_test = X_all[n:], y_all[n:]
    print(
        f"{n} x {p} float32, {k} classes (teacher softmax; test {args.test_rows} "
        f"rows), made on {backend} in {time.perf_counter() - tic:.1f} s",
        flush=True,
    )
    y_host = y if xp is np else y.get()
    X_test_host = X_test if xp is np else X_test.get()
    y_test_host = y_test if xp is np else y_test.get()

    gpu = None
    if "gpu" not in args.skip:
        clf, seconds = timed_fit(X, y_host, backend, backend)
        _sync(xp)
        acc = _accuracy(clf, X_test_host, y_test_host)
        gpu = seconds
        print(
            f"default fit, backend={backend!r}, {n} rows: {seconds:.2f} s, "
            f"{clf.n_iter_} epochs ({seconds / clf.n_iter_:.3f} s/epoch), "
            f"test accuracy {acc:.4f}",
            flush=True,
        )
    if "cpu" not in args.skip:
        from threadpoolctl import threadpool_info, threadpool_limits

        m = min(args.cpu_rows, n)
        X_cpu = (X[:m] if xp is np else X[:m].get()).copy()
        with threadpool_limits(args.threads):
            threads = max((i["num_threads"] for i in threadpool_info()), default=1)
            clf, seconds = timed_fit(X_cpu, y_host[:m], "numpy", "cpu")
        acc = _accuracy(clf, X_test_host, y_test_host)
        extrapolated = seconds * n / m
        print(
            f"default fit, backend='numpy', {m} rows, {threads} BLAS threads: "
            f"{seconds:.2f} s, {clf.n_iter_} epochs "
            f"({seconds / clf.n_iter_:.3f} s/epoch), test accuracy {acc:.4f}; "
            f"x {n / m:g} rows (linear extrapolation): {extrapolated:.1f} s",
            flush=True,
        )
        if gpu is not None:
            ratio = extrapolated / gpu
            print(
                f"CPU (extrapolated) / GPU: {ratio:.1f}x (target >= 20x): "
                f"{'met' if ratio >= 20 else 'NOT met'}",
                flush=True,
            )

    if "syncs" not in args.skip:
        m_sync = min(args.sync_rows, n)
        calls, copies, n_batches = count_host_syncs(
            X[:m_sync], y_host[:m_sync], np.arange(k), backend
        )
        print(
            f"host syncs in one partial_fit epoch on {m_sync} rows ({n_batches} "
            "minibatches): "
            f"{calls} to_numpy call(s); device-to-host copies / syncs seen by "
            f"the profiler: {copies}",
            flush=True,
        )


if __name__ == "__main__":
    main()
