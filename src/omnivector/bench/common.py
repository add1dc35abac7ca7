"""Shared benchmark tools: timing with medians/p99, a scratch directory, machine facts."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BenchContext",
    "Timing",
    "format_table",
    "interleaved",
    "plotting",
    "summarize",
    "time_calls",
]


@dataclass(frozen=True, slots=True)
class Timing:
    """Latency summary of repeated calls, in milliseconds."""

    p50_ms: float
    p99_ms: float
    mean_ms: float
    count: int

    def as_dict(self) -> dict[str, float]:
        return {
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "count": self.count,
        }


def time_calls(calls: Sequence[Callable[[], Any]], *, warmup: int = 3) -> Timing:
    """Run each call once (after ``warmup`` untimed ones) and summarise the latencies."""
    for call in calls[:warmup]:
        call()
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return summarize(samples)


def summarize(samples_ms: Sequence[float]) -> Timing:
    """Median, p99 and mean of latencies given in milliseconds."""
    values = np.asarray(samples_ms)
    return Timing(
        float(np.median(values)),
        float(np.percentile(values, 99)),
        float(values.mean()),
        len(values),
    )


def interleaved(*call_lists: Sequence[Callable[[], Any]], warmup: int = 3) -> tuple[Timing, ...]:
    """Time several call lists in rotation (one call of each in turn), so all see the same
    background load."""
    for calls in call_lists:
        for call in calls[:warmup]:
            call()
    samples: list[list[float]] = [[] for _ in call_lists]
    for round_calls in zip(*call_lists, strict=True):
        for call, timings in zip(round_calls, samples, strict=True):
            start = time.perf_counter()
            call()
            timings.append((time.perf_counter() - start) * 1000.0)
    return tuple(summarize(timings) for timings in samples)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned numbers."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
        for i, h in enumerate(headers)
    ]
    lines = ["  ".join(str(h).rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class BenchContext:
    """What a suite gets: the run mode, an output channel and scratch space."""

    quick: bool = False
    plot_dir: Path | None = None
    echo: Callable[[str], None] = print
    seed: int = 42
    _scratch: list[Path] = field(default_factory=list)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    @contextmanager
    def scratch(self, name: str) -> Iterator[Path]:
        """A temporary directory removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix=f"omnivector-bench-{name}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def machine(self) -> dict[str, Any]:
        import lance
        import pyarrow

        return {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "pylance": lance.__version__,
            "pyarrow": pyarrow.__version__,
            "numpy": np.__version__,
        }


def plotting(ctx: BenchContext) -> Any | None:
    """matplotlib's pyplot drawing to files, with ``ctx.plot_dir`` created; None (and a note)
    when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        ctx.echo("plots skipped: matplotlib not installed")
        return None
    assert ctx.plot_dir is not None
    ctx.plot_dir.mkdir(parents=True, exist_ok=True)
    return plt
