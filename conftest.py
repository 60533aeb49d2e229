"""Collection rules for the whole project (tests and the package's doctests)."""

import importlib.util
import os

# sk_softmax.onnx's doctests need the [onnx] extra (the [docs] extra brings
# skl2onnx alone, for the API page): without it they are not collected
# (tests/test_onnx.py skips with the reason)
collect_ignore = []
_ONNX = ("onnx", "skl2onnx", "onnxruntime")
if not all(importlib.util.find_spec(name) for name in _ONNX):
    collect_ignore.append("sk_softmax/onnx.py")

# Figures drawn by tests and doctests never open a window: the docstrings'
# Examples stay free of ``matplotlib.use("Agg")`` (an explicit setting wins)
os.environ.setdefault("MPLBACKEND", "Agg")
