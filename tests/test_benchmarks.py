"""The MNIST benchmark still runs (slow: it needs MNIST and trains on it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mnist.py"


@pytest.mark.slow
def test_bench_mnist_quick_run_reports_every_target():
    from sk_softmax._datasets import default_mnist_dir

    if default_mnist_dir() is None:
        pytest.skip("MNIST not found: set SK_SOFTMAX_MNIST_DIR to the IDX directory")
    # our rows only (the picking of the linear row's rate included); timings
    # are printed, never asserted
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--skip", "lbfgs"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "| our SGD epoch |" in out
    assert "- ours, linear: picked" in out
    assert 'sk_softmax SGD (ours, "linear"' in out
    assert "- epoch / floor:" in out
