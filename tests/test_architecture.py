"""The shape docs/architecture.md describes: no import cycle among the library's modules
(counting imports inside functions and under ``TYPE_CHECKING``), and small modules.

The layers themselves are held by the import-linter contract in pyproject.toml (``make lint``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import omnivector

PACKAGE = Path(omnivector.__file__).parent
# the benchmark suites are an application with peers of their own; not part of the library
APPLICATIONS = ("bench",)
MAX_LINES = 520


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in APPLICATIONS:
            continue
        name = ".".join(("omnivector", *parts))
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The library modules ``name`` imports anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in modules and t != name}


def test_no_import_cycles_among_library_modules() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # a package's face (__init__) hands its modules' names on: it is not a step of a cycle
    faces = {name for name, path in modules.items() if path.name == "__init__.py"}
    edges = {name: targets - faces for name, targets in graph.items() if name not in faces}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_library_modules_stay_small() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
