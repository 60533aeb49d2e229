"""The README's and the "Getting started" page's commands, as a newcomer runs them.

The slow test clones the committed ``HEAD`` into a temporary directory and runs,
in order, in one bash session in that clone, every command of the README's
```` ```bash ```` blocks and of ``docs/getting_started.rst``'s
``.. code-block:: bash`` (or ``console``) blocks, then their Python examples:
the quick start makes its own venv, so nothing of the current environment is
used (the docs build included). A command that appears twice runs once.
Commands that need MNIST run where MNIST is found (``default_mnist_dir``): the
clone then sits beside a ``shared/data/mnist`` link to it, the default location
the documents describe; elsewhere they are skipped and the test says so.

``.ci/run`` runs it: ``python -m pytest -m slow tests/test_readme.py``.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _doc_blocks import rst_blocks

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting_started.rst"
TIMEOUT = 3 * 3600  # installs from PyPI, the test suite, the benchmark, the docs


def _markdown_blocks(text, language):
    pattern = rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$"
    return re.findall(pattern, text, flags=re.DOTALL | re.MULTILINE)


def _commands(block):
    """A shell block's commands: one a line, continuations joined, comments and
    console prompts' output left out."""
    commands, pending = [], ""
    console = any(line.startswith("$ ") for line in block.splitlines())
    for line in block.splitlines():
        if console:
            if not line.startswith("$ ") and not pending:
                continue  # a console block's output
            line = line.removeprefix("$ ")
        line = pending + line.lstrip() if pending else line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip() + " "
            continue
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    return commands


def documented_commands():
    """``[(source, kind, text)]``: the shell commands, then the Python examples,
    of the README and of the getting-started page, in order, each once."""
    readme = README.read_text(encoding="utf-8")
    started = GETTING_STARTED.read_text(encoding="utf-8")
    shell = [("README.md", block) for block in _markdown_blocks(readme, "bash")]
    shell += [
        ("getting_started.rst", block)
        for block in rst_blocks(started, {"bash", "console", "shell"})
    ]
    python = [("README.md", block) for block in _markdown_blocks(readme, "python")]
    python += [
        ("getting_started.rst", block) for block in rst_blocks(started, {"python"})
    ]
    found, seen = [], set()
    for source, block in shell:
        for command in _commands(block):
            key = tuple(shlex.split(command, comments=True))
            if key not in seen:
                seen.add(key)
                found.append((source, "shell", command))
    for source, block in python:
        key = block.strip()
        if key not in seen:
            seen.add(key)
            found.append((source, "python", block))
    return found


def needs_mnist(command):
    return "mnist" in command.lower()


def test_readme_commands_are_found():
    """What the slow test runs: the quick start, the demo, the tests, the docs."""
    commands = documented_commands()
    shell = [text for _, kind, text in commands if kind == "shell"]
    assert shell[0].startswith("python3 -m venv .venv && . .venv/bin/activate")
    for expected in (
        'pip install -e ".[test]"',
        "python -m sk_softmax",
        "SCIPY_ARRAY_API=1 python -m pytest",
        'pip install -e ".[docs]"',
        "python -m sphinx -W -b html docs docs/_build/html",
        "python -m sk_softmax --dataset mnist --plot mnist.png",
    ):
        assert any(text.split("#")[0].strip() == expected for text in shell), expected
    bench = [text for text in shell if "bench_mnist.py" in text]
    assert bench and bench[0].startswith("env -u OPENBLAS_CORETYPE"), bench
    assert "\\" not in bench[0]  # the continuation line is joined
    assert not [text for text in shell if text.startswith("#")]
    assert [source for source, kind, _ in commands if kind == "python"] == [
        "README.md",
        "getting_started.rst",
    ]


def test_readme_commands_parse_rst_and_console_blocks():
    text = textwrap.dedent(
        """
        Intro::

           not a command

        .. code-block:: console

           $ python -m venv .venv
           output line
           $ echo a \\
               b

        .. code-block:: bash
           :caption: setup

           pip install -e ".[test]"   # a comment
           # only a comment

        after
        """
    )
    blocks = rst_blocks(text, {"bash", "console"})
    assert [_commands(block) for block in blocks] == [
        ["python -m venv .venv", "echo a b"],
        ['pip install -e ".[test]"   # a comment'],
    ]


def _clean_environment():
    """This process's environment without its venv (the commands make their own)
    and with MNIST looked up where the documents say."""
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "SK_SOFTMAX_MNIST_DIR"):
        env.pop(name, None)
    venv_bin = str(Path(sys.prefix) / "bin")
    if sys.prefix != sys.base_prefix:
        env["PATH"] = os.pathsep.join(
            entry
            for entry in env.get("PATH", "").split(os.pathsep)
            if entry != venv_bin
        )
    env["MPLBACKEND"] = "Agg"  # no display: figures are saved, never shown
    return env


def _script(commands):
    lines = ["set -eo pipefail"]
    for source, kind, text in commands:
        shown = text if kind == "shell" else f"python - <<EOF ({source})"
        lines.append(f"printf '\\n+ %s\\n' {shlex.quote(shown)}")
        if kind == "shell":
            lines.append(text)
        else:
            lines.append(f"python - <<'SK_SOFTMAX_EXAMPLE'\n{text}SK_SOFTMAX_EXAMPLE")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_readme_and_getting_started_commands_run_in_a_fresh_clone(tmp_path):
    from sk_softmax._datasets import default_mnist_dir

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    clone = tmp_path / "sk_softmax"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(
        ["git", "-C", str(clone), "checkout", "--quiet", "--detach", head], check=True
    )

    commands = documented_commands()
    mnist = default_mnist_dir()
    if mnist is not None and mnist.is_dir():
        # the default location, as documented: ../shared/data/mnist beside it
        (tmp_path / "shared" / "data").mkdir(parents=True)
        (tmp_path / "shared" / "data" / "mnist").symlink_to(mnist.resolve())
        skipped = []
    else:
        skipped = [text for _, kind, text in commands if needs_mnist(text)]
        commands = [c for c in commands if not needs_mnist(c[2])]

    script = tmp_path / "commands.sh"
    script.write_text(_script(commands), encoding="utf-8")
    log = tmp_path / "commands.log"
    with open(log, "w", encoding="utf-8") as out:
        result = subprocess.run(
            ["bash", str(script)],
            cwd=clone,
            env=_clean_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
        )
    output = log.read_text(encoding="utf-8", errors="replace")
    ran = re.findall(r"^\+ (.*)$", output, flags=re.MULTILINE)
    assert result.returncode == 0, (
        f"failed: {ran[-1] if ran else '(before the first command)'}\n"
        f"log: {log}\n" + output[-6000:]
    )
    assert len(ran) == len(commands), ran
    assert (clone / "docs" / "_build" / "html" / "api.html").is_file()
    if skipped:
        pytest.skip(f"all ran but these, MNIST not found: {skipped}")
