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
    "sphinx-mathjax-offline",  # MathJax served with the site: math offline
    "sphinx.ext.intersphinx",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
]

numpydoc_show_class_members = False
# The page index ("On this page") and the object headings read ``fit()``, not
# ``SoftmaxRegressionClassifier.fit()`` sixteen times, cut at the column's edge
toc_object_entries_show_parents = "hide"
numpydoc_xref_param_type = False
# scikit-learn's names link to its documentation through a small inventory
# kept here (docs/sklearn-objects.inv, from docs/make_sklearn_inventory.py):
# the build needs no network
intersphinx_mapping = {
    "sklearn": ("https://scikit-learn.org/stable/", "sklearn-objects.inv"),
}
exclude_patterns = ["_build", "examples/*.py", "gallery/*.py", "gallery/README.rst"]
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": True,
    "download_all_examples": False,
    # an example's printed lines and figures come after the code that made
    # them (the scripts are split into cells with ``# %%``); the value of a
    # cell's last expression is not echoed, only what it prints
    "capture_repr": (),
    "remove_config_comments": True,
}
# The theme's own navigation: the site's sections in the header bar, a
# section's pages in the left sidebar (none on a page without sub-pages), the
# page's own headings and API objects on the right
html_theme = "pydata_sphinx_theme"
# pages without sub-pages: no empty "Section Navigation" column
_LEAF_PAGES = ("index", "getting_started", "user_guide", "gpu", "sparse", "dask", "api")
html_sidebars = {page: [] for page in _LEAF_PAGES}
html_title = "sk_softmax"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,  # every section in the header bar
    "navbar_persistent": [],
    "navbar_end": ["search-button", "theme-switcher", "navbar-icon-links"],
    "show_toc_level": 2,  # the API page's methods under their class
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.figsize": (7, 4)}
plot_working_directory = os.path.abspath("..")
nitpicky = False


def _plain_sklearn_refs(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn (``score``, metadata routing) cite
    its docs' labels and glossary, which this site does not have: keep the
    text, drop the link."""
    if getattr(obj, "__module__", "").startswith("sklearn"):
        ref = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")
        lines[:] = [ref.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_refs)
