"""Sphinx configuration for sk_softmax."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

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
