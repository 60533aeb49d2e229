"""The README's first command: ``python -m sk_softmax``."""

import subprocess
import sys

import pytest


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "sk_softmax", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_runs_on_digits_and_prints_the_table(tmp_path):
    png = tmp_path / "curves.png"
    result = _run("--plot", str(png))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "digits: 1347 training / 450 test samples" in out
    assert "BLAS threads: 1" in out
    for name in ("sgd", "sgd-early-stopping", "cg", "lbfgs", "LogisticRegression"):
        row = next(ln for ln in out.splitlines() if ln.split()[:1] == [name])
        accuracy = float(row.split()[3])
        assert accuracy > 0.93, row
    assert png.stat().st_size > 10_000


def test_demo_single_solver():
    result = _run("--solver", "lbfgs", "--max-iter", "50")
    assert result.returncode == 0, result.stderr
    assert "lbfgs" in result.stdout
    assert "LogisticRegression" not in result.stdout


def test_demo_bad_option_exits_non_zero():
    result = _run("--solver", "newton")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_plot_without_sgd_solver_exits_before_fitting(tmp_path):
    result = _run("--solver", "cg", "--plot", str(tmp_path / "c.png"))
    assert result.returncode == 2
    assert "--plot needs an SGD solver" in result.stderr
    assert "solver " not in result.stdout  # no table: nothing was fitted
    assert "Traceback" not in result.stderr


def test_demo_missing_data_dir_is_one_line(tmp_path):
    result = _run("--dataset", "mnist", "--data-dir", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "MNIST data directory not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_on_mnist():
    from sk_softmax._datasets import default_mnist_dir

    if default_mnist_dir() is None:
        pytest.skip("MNIST not found: set SK_SOFTMAX_MNIST_DIR to the IDX directory")
    result = _run("--dataset", "mnist", "--solver", "sgd", "--max-iter", "3")
    assert result.returncode == 0, result.stderr
    assert "Epoch 1" in result.stdout


def test_demo_plot_without_matplotlib_says_which_extra_before_fitting():
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "from sk_softmax.__main__ import main; main(['--plot', 'x.png'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert 'pip install "sk_softmax[plot]"' in result.stderr
    assert "solver" not in result.stdout  # nothing was trained
