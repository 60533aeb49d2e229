"""The code blocks of the documentation's pages, for the tests that read them."""

import re
import textwrap


def _indented_body(lines):
    """The indented lines that follow a block's opening line, dedented."""
    body = []
    for following in lines:
        if following.strip() and not following[:1].isspace():
            break
        body.append(following)
    return textwrap.dedent("\n".join(body)).strip("\n")


def rst_blocks(text, languages):
    """The bodies of ``.. code-block:: <language>`` directives, dedented."""
    blocks, lines = [], text.splitlines()
    for k, line in enumerate(lines):
        match = re.match(r"\s*\.\. code-block::\s*(\S+)\s*$", line)
        if not match or match.group(1) not in languages:
            continue
        body = _indented_body(lines[k + 1 :])
        # directive options (":caption: ...") come before the first blank line
        body = re.sub(r"\A(?::[\w-]+:.*\n)+", "", body)
        blocks.append(body + "\n")
    return blocks


def literal_blocks(text):
    """The bodies of reST literal blocks (a paragraph ending in ``::``, not a
    directive), dedented."""
    blocks, lines = [], text.splitlines()
    for k, line in enumerate(lines):
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            body = _indented_body(lines[k + 1 :])
            if body:
                blocks.append(body + "\n")
    return blocks


def markdown_blocks(text, language):
    """The bodies of a Markdown page's fenced ``language`` blocks."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)
