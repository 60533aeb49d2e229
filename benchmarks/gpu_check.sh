#!/usr/bin/env bash
# The GPU check of issue 29, in one run: versions, the GPU and array API
# tests, bench_mnist.py on CuPy, and a large synthetic problem (GPU against
# our CPU fit). Every step has a time limit; the whole run ends in under
# 8 minutes. Where no GPU is, the GPU parts skip and the rest still runs.
#
#   benchmarks/gpu_check.sh [MNIST_DIR]        # from the project root
#   STEPS="pytest bench_mnist" MNIST_SKIP="defaults floor" benchmarks/gpu_check.sh
#
# Logs go to stdout and to $OUT (default ./gpu_check_out): env.log,
# pytest.log, pytest_gpu.log, bench_mnist.log, large.log.
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
DATA=${1:-${SK_SOFTMAX_MNIST_DIR:-../shared/data/mnist}}
PY=${PYTHON:-python3}
export SCIPY_ARRAY_API=1 PYTHONUNBUFFERED=1
START=$SECONDS

# STEPS: the steps to run (a rerun of what failed); MNIST_SKIP: more
# entries for bench_mnist.py's --skip (e.g. "defaults floor")
STEPS=" ${STEPS:-env pytest pytest_gpu bench_mnist large} "
MNIST_SKIP=${MNIST_SKIP:-}

# step NAME LIMIT_S COMMAND...: run COMMAND under `timeout`, log to $OUT/NAME.log
step() {
    local name=$1 limit=$2
    shift 2
    [[ $STEPS == *" $name "* ]] || return 0
    echo "=== $name (limit ${limit} s, at $((SECONDS - START)) s): $*" | tee -a "$OUT/$name.log"
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: rc=$rc$([ "$rc" = 124 ] && echo ' (TIMED OUT)') at $((SECONDS - START)) s" | tee -a "$OUT/$name.log"
}

versions() {
    nvidia-smi || echo "no nvidia-smi"
    "$PY" - <<'EOF'
import platform, numpy, scipy, sklearn
print("python", platform.python_version(), platform.machine())
print("numpy", numpy.__version__, "| scipy", scipy.__version__,
      "| scikit-learn", sklearn.__version__)
for name in ("array_api_compat", "array_api_strict", "numba", "threadpoolctl"):
    try:
        print(name, __import__(name).__version__)
    except Exception as exc:
        print(name, "missing:", exc)
try:
    import cupy
    rt = cupy.cuda.runtime
    print("cupy", cupy.__version__, "| CUDA runtime", rt.runtimeGetVersion(),
          "| driver", rt.driverGetVersion(), "| devices", rt.getDeviceCount())
    props = rt.getDeviceProperties(0)
    print("device 0:", props["name"].decode(), "| SMs", props["multiProcessorCount"],
          "| memory GiB", round(props["totalGlobalMem"] / 2**30, 1))
except Exception as exc:
    print("cupy unusable:", type(exc).__name__, exc)
from threadpoolctl import threadpool_info
print("BLAS:", [(i["internal_api"], i["num_threads"]) for i in threadpool_info()])
EOF
}

export -f versions
export PY
step env 30 bash -c versions
# every test of the two files, GPU ones included; no -x: every failure shows
step pytest 110 "$PY" -m pytest -m "gpu or not gpu" -q -p no:cacheprovider \
    -o addopts="" -ra tests/test_gpu.py tests/test_array_api.py
# the GPU tests alone, for their summary line (and the timing table)
step pytest_gpu 60 "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py
# MNIST on the device: defaults with X resident, time to parity, the floor,
# the time to 92.5% (host-only comparisons skipped: they are not the GPU's)
step bench_mnist 120 "$PY" benchmarks/bench_mnist.py --backend cupy \
    --data-dir "$DATA" --repeats 3 --skip sgdclassifier mlp torch lbfgs $MNIST_SKIP
# 1,000,000 x 1,000, 100 classes on the GPU; the CPU on 100,000 rows
step large 150 "$PY" benchmarks/bench_gpu_large.py
echo "=== done in $((SECONDS - START)) s" | tee -a "$OUT/env.log"
