"""The examples of docs/integrations.md run, in a fresh process each, and print what the page
shows: every ``python`` block of a section, in order, prints the section's ``text`` blocks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "integrations.md"
BLOCK = re.compile(r"^```(python|text)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def section(title: str) -> tuple[str, str]:
    """The code and the expected output of the section ``## title``."""
    text = PAGE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    blocks = BLOCK.findall(text[start : end if end != -1 else None])
    code = "\n".join(body for kind, body in blocks if kind == "python")
    return code, "".join(body for kind, body in blocks if kind == "text")


@pytest.mark.parametrize(
    "title",
    [
        "LangChain",
        "LlamaIndex",
        "MCP server",
        "Async API",
        "Reranking",
        "Normalized scores",
        "Polars and pandas",
    ],
)
def test_examples_print_what_the_page_shows(title: str, tmp_path: Path) -> None:
    code, expected = section(title)
    assert code and expected
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
