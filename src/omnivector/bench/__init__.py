"""Benchmark suites behind ``omnivector bench SUITE [--quick] [--json PATH] [--plot DIR]``.

Each suite is a module in this package exposing ``run(ctx: BenchContext) -> dict`` and is
registered in :data:`SUITES`. Suites measure a baseline in the same run (raw pylance,
numpy, lancedb, ...) and report ratios, medians and p99; they print a table through
``ctx.echo`` and return the raw figures, which :func:`run_suite` writes as JSON.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omnivector import InvalidInputError
from omnivector.bench.common import BenchContext

__all__ = ["SUITES", "BenchContext", "run_suite"]

# suite name -> module (relative to this package) with a ``run(ctx) -> dict`` function
SUITES: dict[str, str] = {
    "search": "search",
    "cache": "cache",
    "index": "index",
    "storage": "storage",
    "hybrid": "hybrid",
    "maintenance": "maintenance",
    "peers": "peers",
    "distributed": "distributed",
    "objectstore": "objectstore",
}


def run_suite(
    name: str,
    *,
    quick: bool = False,
    json_path: str | Path | None = None,
    plot_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run one suite (or "all") and return its figures; write JSON when asked."""
    names = sorted(SUITES) if name == "all" else [name]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise InvalidInputError(
            f"unknown benchmark suite {name!r}; choose from {[*sorted(SUITES), 'all']}"
        )
    results: dict[str, Any] = {}
    for suite in names:
        ctx = BenchContext(quick=quick, plot_dir=Path(plot_dir) if plot_dir else None, echo=echo)
        module = importlib.import_module(f".{SUITES[suite]}", __name__)
        echo(f"== omnivector bench {suite}{' --quick' if quick else ''} ==")
        results[suite] = {"machine": ctx.machine(), **module.run(ctx)}
    output = results[names[0]] if len(names) == 1 else results
    if json_path is not None:
        Path(json_path).write_text(json.dumps(output, indent=2, default=str))
    return output
