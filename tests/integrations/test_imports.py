"""Frameworks are optional: imported only with their integration, named when missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("langchain_core", "llama_index", "mcp")


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_import_omnivector_loads_no_framework() -> None:
    loaded = _run(
        "import sys, omnivector, omnivector.integrations\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))"
    )
    assert loaded == "[]"


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("langchain", "langchain_core", "langchain"),
        ("llama_index", "llama_index", "llama-index"),
        ("mcp", "mcp", "mcp"),
    ],
)
def test_missing_framework_names_the_extra(module: str, framework: str, extra: str) -> None:
    message = _run(
        "import sys\n"
        f"sys.modules[{framework!r}] = None  # as if it were not installed\n"
        "import omnivector as ov\n"
        "try:\n"
        f"    import omnivector.integrations.{module}\n"
        "except ov.MissingDependencyError as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    assert f"pip install 'omni-vector[{extra}]'" in message
    assert f"omnivector.integrations.{module}" in message
