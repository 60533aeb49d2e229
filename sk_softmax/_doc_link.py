"""The link from an estimator's HTML representation to its API page.

scikit-learn's HTML repr links an estimator's name to its documentation
through ``_doc_link_module`` and ``_doc_link_template``. The address of our
documentation is the package's own metadata, ``[project.urls]
Documentation`` in ``pyproject.toml`` (``Project-URL: Documentation, ...``
once installed), so that it is written in one place; while none is declared
the repr shows no link rather than a wrong one.
"""

from importlib import metadata


def documentation_url():
    """The ``Documentation`` project URL of the installed package, or ``""``."""
    try:
        urls = metadata.metadata("sk_softmax").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return ""
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation":
            return url.strip().rstrip("/")
    return ""


class DocLinkMixin:
    """Links the HTML repr of an estimator of this package to its API page."""

    _doc_link_module = "sk_softmax"

    @property
    def _doc_link_template(self):
        base = documentation_url()
        if not base:
            return ""
        return base + "/api.html#sk_softmax.{estimator_name}"

    @_doc_link_template.setter
    def _doc_link_template(self, value):
        raise AttributeError(
            "the documentation link comes from the package's metadata "
            "([project.urls] Documentation in pyproject.toml)"
        )
