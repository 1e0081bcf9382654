"""README.md's command-line and Python examples run as written, from the repository root of a fresh clone.

Every line of a ```bash, ```sh or ```console block that runs the command line (`python -m sd_prompt_templates …` or
`sd-prompt-templates …`, after a console block's `$ ` prompt) is run with bash, `python` being this test's Python and
`sd-prompt-templates` the console script that `pip install -e .` installs. Where a console block shows output after
the command, that is exactly what it must print: on stdout with exit code 0, or on stderr with a non-zero exit code
when the output is an `error: …`. Other lines (`pip install -e .`, `git clone …`, `curl` to a running WebUI) are not
run here. Python blocks run too, except those that talk to a WebUI over HTTP.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CLI_PREFIXES = ("python -m sd_prompt_templates", "sd-prompt-templates")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Example:
    line: int  # of README.md, from 1
    command: str
    output: str | None  # what the README shows after it, None when it shows nothing

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def blocks(text: str) -> list[tuple[str, int, str]]:
    """(language, line of the block's first content line, content) of every fenced block."""
    return [(m.group(1).lower(), text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in FENCE.finditer(text)]


def cli_examples(text: str) -> list[Example]:
    found = []
    for language, first, body in blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        lines = body.splitlines()
        console = language == "console"
        i = 0
        while i < len(lines):
            number, line = first + i, lines[i]
            i += 1
            if console:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            command = line.strip()
            while command.endswith("\\") and i < len(lines):  # a continued command
                command = command[:-1] + " " + lines[i].strip().removeprefix("$ ")
                i += 1
            output_lines = []
            if console:
                while i < len(lines) and not lines[i].startswith("$ "):
                    output_lines.append(lines[i])
                    i += 1
            if command.startswith(CLI_PREFIXES):
                output = "\n".join(output_lines) + "\n" if output_lines else None
                found.append(Example(number, command, output))
    return found


def python_examples(text: str) -> list[tuple[int, str]]:
    return [
        (first, body)
        for language, first, body in blocks(text)
        if language == "python" and not re.search(r"https?://|\brequests\b", body)
    ]


TEXT = README.read_text(encoding="utf-8")
CLI = cli_examples(TEXT)
PYTHON = python_examples(TEXT)


def test_the_readme_has_command_line_examples():
    assert len(CLI) >= 6, CLI
    assert any(e.command.startswith("sd-prompt-templates") for e in CLI), "the console script is shown"
    assert sum(e.output is not None for e in CLI) >= 5, "most examples show their output"
    assert any(e.output and e.output.startswith("error: ") for e in CLI), "an error is shown"
    assert PYTHON, "the Python example"


def test_the_extractor_reads_console_blocks():
    readme = "\n".join(
        [
            "```console",
            "$ pip install -e .",
            "$ sd-prompt-templates count '{a|b}'",
            "2",
            "$ python -m sd_prompt_templates render x \\",
            "    --json",
            "```",
            "```bash",
            "python -m sd_prompt_templates count x  # a comment",
            "curl -s http://127.0.0.1:7860/",
            "```",
            "```python",
            "python -m sd_prompt_templates count y",
            "```",
            "",
        ]
    )
    assert cli_examples(readme) == [
        Example(3, "sd-prompt-templates count '{a|b}'", "2\n"),
        Example(5, "python -m sd_prompt_templates render x  --json", None),
        Example(9, "python -m sd_prompt_templates count x  # a comment", None),
    ]


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python` (this test's interpreter) and `sd-prompt-templates` (the [project.scripts] entry point) on PATH."""
    path = tmp_path_factory.mktemp("bin")
    python = path / "python"
    python.symlink_to(sys.executable)
    script = path / "sd-prompt-templates"
    script.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
        + shlex.quote("import sys; from sd_prompt_templates.cli import main; sys.exit(main())")
        + ' "$@"\n'
    )
    script.chmod(0o755)
    return path


@pytest.mark.parametrize("example", CLI, ids=str)
def test_command_line_example(example: Example, bin_dir: Path):
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)  # as from a fresh clone: the package is found in the current folder
    proc = subprocess.run(
        ["bash", "-c", example.command], cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8"
    )
    assert "Traceback" not in proc.stderr
    if example.output is not None and example.output.startswith("error: "):
        assert proc.returncode != 0 and proc.stdout == ""
        assert proc.stderr == example.output
        return
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    if example.output is not None:
        assert proc.stdout == example.output


@pytest.mark.parametrize(("line", "code"), PYTHON, ids=[f"README.md:{line}" for line, _ in PYTHON])
def test_python_example(line: int, code: str):
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
