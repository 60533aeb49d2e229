"""Collection rules for the whole project (tests and the package's doctests)."""

import importlib.util

# sk_softmax.onnx needs the [onnx] extra: without it, its doctests are not
# collected (tests/test_onnx.py skips with the reason)
collect_ignore = []
if not all(importlib.util.find_spec(name) for name in ("onnx", "skl2onnx")):
    collect_ignore.append("sk_softmax/onnx.py")
