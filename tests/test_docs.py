"""The built documentation: every public method is on the API page.

``.ci/run`` builds the site (``docs/_build/html``) before the tests; where it
has not been built, the test is skipped with the command that builds it.
"""

from pathlib import Path

import pytest

from sk_softmax import SoftmaxRegressionClassifier

API_PAGE = Path(__file__).parents[1] / "docs" / "_build" / "html" / "api.html"


def test_docs_api_page_lists_every_public_method():
    if not API_PAGE.is_file():
        pytest.skip("docs not built: python -m sphinx -W -b html docs docs/_build/html")
    page = API_PAGE.read_text(encoding="utf-8")
    methods = [
        name
        for name in dir(SoftmaxRegressionClassifier)
        if not name.startswith("_")
        and callable(getattr(SoftmaxRegressionClassifier, name, None))
    ]
    assert "fit" in methods and "partial_fit" in methods
    missing = [
        name
        for name in methods
        if f'id="sk_softmax.SoftmaxRegressionClassifier.{name}"' not in page
    ]
    assert not missing, f"not on the API page: {missing}"


def test_html_repr_links_to_the_api_page_of_the_declared_docs(monkeypatch):
    """The link is the package's declared Documentation URL + the API anchor
    (the anchor the built page has); with no URL declared, no link."""
    import sk_softmax._doc_link as doc_link

    clf = SoftmaxRegressionClassifier()
    monkeypatch.setattr(doc_link, "documentation_url", lambda: "")
    assert clf._get_doc_link() == ""
    assert "SoftmaxRegressionClassifier" in clf._repr_html_()
    monkeypatch.setattr(doc_link, "documentation_url", lambda: "https://docs.example")
    link = "https://docs.example/api.html#sk_softmax.SoftmaxRegressionClassifier"
    assert clf._get_doc_link() == link
    assert f'href="{link}"' in clf._repr_html_()
    if API_PAGE.is_file():
        assert 'id="sk_softmax.SoftmaxRegressionClassifier"' in API_PAGE.read_text(
            encoding="utf-8"
        )


def test_documentation_url_reads_the_project_urls(monkeypatch):
    from importlib import metadata

    import sk_softmax._doc_link as doc_link

    class Meta:
        def get_all(self, name):
            assert name == "Project-URL"
            return ["Source, https://src.example", "Documentation, https://d.example/"]

    monkeypatch.setattr(metadata, "metadata", lambda name: Meta())
    assert doc_link.documentation_url() == "https://d.example"
