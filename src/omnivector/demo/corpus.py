"""Real text available offline on every machine: the Python standard library's docstrings.

Docstrings are read with :mod:`ast` from the stdlib's source files (nothing is imported),
one document per module, class or function docstring.
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Docstring", "stdlib_docstrings"]

_SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__", "turtledemo"}


@dataclass(frozen=True, slots=True)
class Docstring:
    id: str  # dotted path, e.g. "json.decoder.JSONDecoder.decode"
    module: str
    kind: str  # "module", "class" or "function"
    name: str
    text: str
    lines: int


def stdlib_docstrings(limit: int | None = None, *, min_chars: int = 40) -> Iterator[Docstring]:
    """Yield docstrings of the running interpreter's standard library, in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    count = 0
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if _SKIP_DIRS.intersection(relative.parts[:-1]):
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for doc in _docstrings(tree, module):
            if len(doc.text) < min_chars:
                continue
            yield doc
            count += 1
            if limit is not None and count >= limit:
                return


def _docstrings(tree: ast.Module, module: str) -> Iterator[Docstring]:
    text = ast.get_docstring(tree)
    if text:
        yield Docstring(module, module, "module", module, text, text.count("\n") + 1)
    seen: set[str] = {module}
    stack: list[tuple[ast.AST, str]] = [(tree, module)]
    while stack:
        node, prefix = stack.pop(0)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                path = f"{prefix}.{child.name}"
                text = ast.get_docstring(child)
                if text and path not in seen:
                    seen.add(path)
                    kind = "class" if isinstance(child, ast.ClassDef) else "function"
                    yield Docstring(path, module, kind, child.name, text, text.count("\n") + 1)
                if isinstance(child, ast.ClassDef):
                    stack.append((child, path))
