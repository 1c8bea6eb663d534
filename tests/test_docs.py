"""Every Python code block of README.md and docs/*.md runs as written.

The blocks of one page run in order as one script (a page may define a model once and use it in
later blocks), in a temporary directory. The script is a real file with the blocks at their
line numbers in the page, so tracebacks point at the page's lines and code that reads its own
source (``torch.jit.script``) works. A block right after the line
``<!-- illustration -->`` is an illustration only and is not run; keep those few and say in the
text why the block cannot run here.

A page in ``SHELL_PAGES`` (the command line's) runs all its ``sh`` and ``python`` blocks in
document order, in one directory: ``sh`` blocks with ``bash -eu -o pipefail`` (the ``torch-trt``
script of this Python's environment first on ``PATH``), each Python block as its own script.
Other pages' ``sh`` blocks (``make test``) are not run.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ILLUSTRATION = "<!-- illustration -->"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_ANY_FENCE = re.compile(r"^```(python|sh)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SHELL_PAGES = [ROOT / "docs" / "cli.md"]


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, source)`` of every ```python block not marked as an illustration."""
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        if before and before[-1].strip() == ILLUSTRATION:
            continue
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def test_block_parser_finds_blocks_and_skips_illustrations() -> None:
    """The parser returns each python block with its first line and skips marked ones."""
    text = (
        "# t\n```python\na = 1\n```\n\n<!-- illustration -->\n"
        "```python\nb = 2\n```\n```sh\nx\n```\n"
    )
    assert python_blocks(text) == [(3, "a = 1\n")]
    assert page_script(text).splitlines()[2] == "a = 1"


def page_script(text: str) -> str:
    """The page's runnable blocks at their own line numbers, every other line blank."""
    lines = [""] * (text.count("\n") + 1)
    for line, source in python_blocks(text):
        for k, code in enumerate(source.splitlines()):
            lines[line - 1 + k] = code
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p not in SHELL_PAGES], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's Python blocks run without error, in order."""
    monkeypatch.chdir(tmp_path)
    script = tmp_path / f"{page.stem}_md.py"
    script.write_text(page_script(page.read_text()))
    runpy.run_path(str(script), run_name="__main__")


def all_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(language, line, source)`` of every ```sh and ```python block, in order."""
    return [
        (m.group(1), text.count("\n", 0, m.start()) + 2, m.group(2))
        for m in _ANY_FENCE.finditer(text)
    ]


def test_all_blocks_keeps_document_order() -> None:
    """The shell-page parser returns sh and python blocks in the order of the page."""
    text = "```sh\necho a\n```\ntext\n```python\nb = 2\n```\n```sh\necho c\n```\n"
    assert [(lang, src) for lang, _, src in all_blocks(text)] == [
        ("sh", "echo a\n"),
        ("python", "b = 2\n"),
        ("sh", "echo c\n"),
    ]


@pytest.mark.parametrize("page", SHELL_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shell_page_runs(page: Path, tmp_path: Path) -> None:
    """The page's sh and Python blocks run without error, in order, in one directory."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    for lang, line, source in all_blocks(page.read_text()):
        cmd = (
            ["bash", "-eu", "-o", "pipefail", "-c", source]
            if lang == "sh"
            else [sys.executable, "-c", source]
        )
        done = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{page.name} line {line}:\n{done.stdout}\n{done.stderr}"
