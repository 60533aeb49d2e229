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
