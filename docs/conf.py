"""Sphinx configuration for sk_softmax."""

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))
# The examples run during the build are small (digits): extra BLAS threads only
# add synchronisation, and on a busy machine OpenBLAS' spinning threads made the
# L-BFGS fits ~100x slower (docs build 85 s wall vs 15 s with one thread). Set
# before NumPy is imported; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sk_softmax  # noqa: E402

project = "sk_softmax"
author = "the sk_softmax developers"
copyright = "2026, the sk_softmax developers"
version = release = sk_softmax.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
]

numpydoc_show_class_members = False
numpydoc_xref_param_type = False
intersphinx_mapping = {}
exclude_patterns = ["_build", "examples/*.py"]
html_theme = "pydata_sphinx_theme"
html_title = "sk_softmax"
html_theme_options = {"navigation_with_keys": False}
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.figsize": (7, 4)}
plot_working_directory = os.path.abspath("..")
nitpicky = False


def _plain_sklearn_refs(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn (``score``) cite its own docs'
    labels, which this site does not have: keep their text, drop the link."""
    if getattr(obj, "__module__", "").startswith("sklearn"):
        ref = re.compile(r":ref:`([^`<]*?)\s*(?:<[^`>]*>)?`")
        lines[:] = [ref.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_refs)
