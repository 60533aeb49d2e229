"""The benchmarks still run (the MNIST one is slow: it needs MNIST and trains on it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mnist.py"


def _run_bench(script, *args, timeout):
    """Run ``benchmarks/<script>`` with one BLAS thread; its completed process."""
    return subprocess.run(
        [sys.executable, str(BENCH.with_name(script)), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.slow
def test_bench_mnist_quick_run_reports_every_target():
    from sk_softmax._datasets import default_mnist_dir

    if default_mnist_dir() is None:
        pytest.skip("MNIST not found: set SK_SOFTMAX_MNIST_DIR to the IDX directory")
    # the defaults table on a subsample, then our rows of the secondary
    # sections (the picking of the linear row's rate included); timings are
    # printed, never asserted
    result = _run_bench("bench_mnist.py", "--quick", "--skip", "lbfgs", timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "- held-out parity: test accuracy >= acc* - 0.003" in out
    assert "## Every estimator with its defaults, run to its own stop" in out
    for row in ("ours (defaults)", "ours (early_stopping=True)", "ours (solver="):
        assert f"| {row}" in out
    assert "| LogisticRegression() |" in out
    assert "- LogisticRegression()'s default fit / ours (defaults)" in out
    assert "- ours (defaults) epochs vs the oracle:" in out
    assert "| our SGD epoch |" in out
    assert "- ours, linear: picked" in out
    assert 'sk_softmax SGD (ours, "linear"' in out
    assert "- epoch / floor:" in out
    assert "- ours / LogisticRegression(tol=1e-6):" in out


def test_bench_embeddings_quick_run_reports_the_defaults_table():
    """The embedding-like benchmark runs on its generated data (timings are
    printed, never asserted)."""
    result = _run_bench("bench_embeddings.py", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "## Every estimator with its defaults, run to its own stop" in out
    for row in (
        "ours (defaults)",
        "ours (early_stopping=True)",
        "LogisticRegression()",
    ):
        assert f"| {row} |" in out
    assert "- ours (momentum=0.9), the default before its cap:" in out


def test_bench_quality_quick_run_reports_every_problem_and_alpha():
    """The quality suite runs (no data to download; nothing is timed)."""
    result = _run_bench("bench_quality.py", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    names = ("digits_raw", "three_imbalanced", "sparse_binary")
    seen = {(row[0], row[2]) for row in rows if len(row) > 12 and row[0] in names}
    assert seen == {(name, alpha) for name in names for alpha in ("1e-04", "1e+00")}
    out = result.stdout
    assert "- held-out parity: test accuracy >= acc* - 0.003" in out
    assert "fits at parity" in out and "of 6 fits meet every bar" in out
    assert "- no ConvergenceWarning where at parity:" in out


@pytest.mark.slow
def test_bench_sparse_quick_run_reports_the_defaults_and_the_width_ratio():
    """The sparse benchmark runs on its small corpora (timings printed, never
    asserted)."""
    result = _run_bench("bench_sparse.py", "--quick", "--only-defaults", timeout=900)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "| ours (defaults) |" in out and "| optimum (lbfgs, tol=1e-8) |" in out
    assert "SGDClassifier's default fit time / ours (target >= 3x):" in out
    assert "epochs vs the oracle:" in out
    assert "- 2^22 / 2^16:" in out and "3 interleaved rounds" in out


@pytest.mark.parametrize(
    "script", sorted(p.name for p in BENCH.parent.glob("bench_*.py")), ids=str
)
def test_every_benchmark_imports_and_describes_itself(script):
    # bench_batch_size.py imported a helper that had moved to _parity.py: it
    # failed even on --help while the README told users to run it
    result = _run_bench(script, "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
