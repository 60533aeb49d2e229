"""The documentation: its pages as built, and the commands it quotes.

``.ci/run`` builds the site (``docs/_build/html``) before the tests; where it
has not been built, the tests of the built pages are skipped with the command
that builds it.
"""

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _doc_blocks import literal_blocks, markdown_blocks, rst_blocks

from sk_softmax import SoftmaxRegressionClassifier

ROOT = Path(__file__).parents[1]
BUILT = ROOT / "docs" / "_build" / "html"
API_PAGE = BUILT / "api.html"
BUILD_COMMAND = (
    'docs not built: pip install -e ".[docs]" && '
    "python -m sphinx -W -b html docs docs/_build/html"
)
#: the content column holds 88 characters of code (the project's line length)
COLUMN = 88


def _built(page):
    if not page.is_file():
        pytest.skip(BUILD_COMMAND)
    return page.read_text(encoding="utf-8")


def _public_methods():
    return [
        name
        for name in dir(SoftmaxRegressionClassifier)
        if not name.startswith("_")
        and callable(getattr(SoftmaxRegressionClassifier, name, None))
    ]


class _Collect(HTMLParser):
    """The text of the elements for which ``wanted(tag, attrs)`` is true."""

    _VOID = {"br", "img", "input", "meta", "link", "hr", "wbr"}

    def __init__(self, wanted):
        super().__init__(convert_charrefs=True)
        self.wanted, self.depth, self.found = wanted, 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self._VOID:
            return
        if self.depth:
            self.depth += 1
        elif self.wanted(tag, dict(attrs)):
            self.depth = 1
            self.found.append("")

    def handle_endtag(self, tag):
        if self.depth and tag not in self._VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.found[-1] += data


def _texts(page, wanted):
    parser = _Collect(wanted)
    parser.feed(page)
    return parser.found


def test_docs_api_page_lists_every_public_method():
    page = _built(API_PAGE)
    methods = _public_methods()
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


def test_docs_api_page_index_shows_each_method_name():
    """The "On this page" list reads ``fit()``, not the class's name again."""
    page = _built(API_PAGE)
    (toc,) = _texts(
        page, lambda tag, a: tag == "nav" and a.get("id") == "pst-page-toc-nav"
    )
    entries = [line.strip() for line in toc.splitlines() if line.strip()]
    for name in _public_methods():
        assert f"{name}()" in entries, f"{name}() not in the page index: {entries}"
    assert not [e for e in entries if e.startswith("SoftmaxRegressionClassifier.")]


def _pages_with_code():
    pages = [API_PAGE, *sorted((BUILT / "auto_examples").glob("plot_*.html"))]
    pages += [BUILT / f"{name}.html" for name in ("getting_started", "user_guide")]
    return pages


def test_docs_code_lines_fit_the_content_column():
    """No line of a code block or an example's output is cut at the column."""
    _built(API_PAGE)
    pages = _pages_with_code()
    assert len(pages) >= 6, pages  # the API page, three examples, two guides
    too_wide = []
    for page in pages:
        for block in _texts(_built(page), lambda tag, a: tag == "pre"):
            too_wide += [
                f"{page.name}: {len(line)}: {line}"
                for line in block.splitlines()
                if len(line) > COLUMN
            ]
    assert not too_wide, "\n".join(too_wide)


def _extras():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(ROOT / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["project"]["optional-dependencies"])


_PIP_INSTALL = re.compile(r"pip install ([^`\n<]*)")


def _pip_installs(text):
    return [match.group(1) for match in _PIP_INSTALL.finditer(html.unescape(text))]


def _sources():
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.rst")),
        *sorted((ROOT / "docs" / "gallery").glob("*.py")),
    ]


def test_docs_pip_install_lines_name_extras_that_exist():
    extras = _extras()
    assert {"test", "docs", "onnx", "gpu", "dask", "plot", "bench"} <= extras
    texts = {path.name: path.read_text(encoding="utf-8") for path in _sources()}
    if BUILT.is_dir():  # the pages as built: the docstrings too
        for path in BUILT.rglob("*.html"):
            texts[str(path.relative_to(BUILT))] = path.read_text(encoding="utf-8")
    seen, unknown = 0, []
    for name, text in texts.items():
        for line in _pip_installs(text):
            for group in re.findall(r"\[([^\]]*)\]", line):
                named = {extra.strip() for extra in group.split(",")}
                named -= {"array"}  # dask[array]: Dask's own extra
                seen += 1
                unknown += [
                    f"{name}: {e!r} in pip install {line}" for e in named - extras
                ]
    assert seen >= 5, "no pip install line with an extra found"
    assert not unknown, "\n".join(unknown)


def test_docs_install_the_project_from_a_clone():
    """sk_softmax is on no package index: ``pip install "sk_softmax[...]"`` fails;
    from a clone it is ``pip install -e ".[...]"``."""
    wrong = [
        f"{path.name}: pip install {line}"
        for path in _sources()
        for line in _pip_installs(path.read_text(encoding="utf-8"))
        if "sk_softmax" in line or "sk-softmax" in line
    ]
    assert not wrong, "\n".join(wrong)


def test_docs_python_examples_that_import_import_what_they_use():
    # two of the user guide's complete examples imported their scikit-learn
    # pieces but not the estimator: run as written, a NameError
    missing = []
    for page in _sources():
        text = page.read_text(encoding="utf-8")
        if page.suffix == ".py":  # a gallery script runs whole (sphinx-gallery)
            continue
        if page.suffix == ".md":
            blocks = markdown_blocks(text, "python")
        else:
            blocks = rst_blocks(text, {"python"}) + literal_blocks(text)
        for block in blocks:
            imports = re.match(r"\s*(from|import) ", block)  # a whole example
            used = re.findall(
                r"\b(SoftmaxRegressionClassifier|TrainingCurveDisplay)[(.]", block
            )
            for name in set(used):
                # "from sk_softmax import X" or "from sk_softmax import (..., X"
                imported = rf"^from sk_softmax\S* import \(?[^)]*?\b{name}\b"
                if imports and not re.search(imported, block, flags=re.M):
                    missing.append(f"{page.name}: {name} in\n{block}")
    assert not missing, "\n".join(missing)
