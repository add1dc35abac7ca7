"""``omnivector bench cache``: memory and latency of the connection pool.

1,000 tables of 200 x 384 rows (quick: 200), two random passes of one query per table. Each
variant runs in a fresh process (RSS is per process) and reports its RSS growth:
omnivector with the default pool and with ``max_cached_tables=64``, next to raw pylance
opening a fresh dataset per request, raw pylance keeping every handle open (each with its own
session), and lancedb's ``open_table`` per request. Latency of a cache hit is compared with a
held-open raw handle, and the lookup alone (``store.open_dataset``) is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector import DatasetCacheConfig, MaintenanceConfig, VectorStore
from omnivector.bench.common import BenchContext, format_table, interleaved, summarize

DIMENSION = 384
ROWS = 200
LATENCY_ROWS = (
    ("cache hit: Table.search", "hit"),
    ("held-open pylance handle", "raw"),
    ("cache miss: reopen + search", "miss"),
    ("lookup alone (refresh every call)", "lookup"),
    ("lookup alone (refresh_interval=1s)", "lookup_interval"),
)
VARIANTS = (
    "omnivector-default",
    "omnivector-64",
    "pylance-fresh-open",
    "pylance-all-handles",
    "lancedb-open-table",
)


def _table_count(ctx: BenchContext) -> int:
    override = os.environ.get("OMNIVECTOR_BENCH_TABLES")
    if override:
        return int(override)
    return 200 if ctx.quick else 1000


def _populate(root: Path, tables: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with VectorStore(
        root, dimension=DIMENSION, maintenance=MaintenanceConfig(enabled=False)
    ) as store:
        for index in range(tables):
            vectors = rng.standard_normal((ROWS, DIMENSION)).astype(np.float32)
            store.create_table(f"t{index}").add(
                pa.table(
                    {
                        "id": [f"d{i}" for i in range(ROWS)],
                        "vector": pa.FixedSizeListArray.from_arrays(
                            pa.array(vectors.ravel()), DIMENSION
                        ),
                    }
                )
            )


def run(ctx: BenchContext) -> dict[str, Any]:
    tables = _table_count(ctx)
    results: dict[str, Any] = {"tables": tables, "rows_per_table": ROWS}
    with ctx.scratch("cache") as root:
        started = time.perf_counter()
        _populate(root, tables, ctx.seed)
        ctx.echo(
            f"created {tables} tables of {ROWS} x {DIMENSION} in "
            f"{time.perf_counter() - started:.1f}s"
        )
        memory: dict[str, Any] = {}
        for variant in VARIANTS:
            memory[variant] = _run_variant(variant, root, tables)
        results["rss"] = memory
        results["latency"] = _latency(root, tables, ctx)
    rows = [
        [
            v,
            m.get("rss_growth_mb", "skipped"),
            m.get("open_tables", ""),
            m.get("session_mb", ""),
            m.get("seconds", ""),
        ]
        for v, m in memory.items()
    ]
    ctx.echo(
        format_table(["variant", "RSS growth MB", "open handles", "session MB", "seconds"], rows)
    )
    lat = results["latency"]
    ctx.echo(
        format_table(
            ["measure", "p50 us", "p99 us"],
            [
                [label, lat[key]["p50_ms"] * 1000, lat[key]["p99_ms"] * 1000]
                for label, key in LATENCY_ROWS
            ],
        )
    )
    ctx.echo(f"hit / held-open p50 ratio: {lat['hit_ratio']:.3f}")
    return results


def _run_variant(variant: str, root: Path, tables: int) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "omnivector.bench.cache", variant, str(root), str(tables)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        return {"error": (completed.stderr.strip().splitlines() or ["no output"])[-1]}
    return dict(json.loads(lines[-1]))


def _latency(root: Path, tables: int, ctx: BenchContext) -> dict[str, Any]:
    import lance

    rng = ctx.rng()
    queries = [rng.standard_normal(DIMENSION).astype(np.float32) for _ in range(200)]
    with VectorStore(root, maintenance=MaintenanceConfig(enabled=False)) as store:
        table = store.table("t0")
        raw = lance.dataset(table.uri)
        nearest = {"column": "vector", "k": 10, "metric": "cosine"}
        columns = ["id", "text", "metadata", "_distance"]
        hit, held = interleaved(
            [partial(table.search, q, k=10) for q in queries],
            [partial(raw.to_table, columns=columns, nearest={**nearest, "q": q}) for q in queries],
        )
        misses = []
        for index, query in enumerate(queries[:100]):
            name = f"t{index % tables}"
            store.evict(name)
            started = time.perf_counter()
            store.table(name).search(query, k=10)
            misses.append((time.perf_counter() - started) * 1000)
        lookups = _lookups(store)
    with VectorStore(
        root,
        cache=DatasetCacheConfig(refresh_interval=1.0),
        maintenance=MaintenanceConfig(enabled=False),
    ) as store:
        lookups_interval = _lookups(store)
    return {
        "hit": hit.as_dict(),
        "raw": held.as_dict(),
        "hit_ratio": hit.p50_ms / held.p50_ms,
        "miss": summarize(misses).as_dict(),
        "lookup": lookups.as_dict(),
        "lookup_interval": lookups_interval.as_dict(),
    }


def _lookups(store: VectorStore) -> Any:
    store.open_dataset("t0")
    samples = []
    for _ in range(2000):
        started = time.perf_counter()
        store.open_dataset("t0")
        samples.append((time.perf_counter() - started) * 1000)
    return summarize(samples)


# -- the measured process ----------------------------------------------------------------


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1 << 20)


def _measure(variant: str, root: str, tables: int) -> dict[str, Any]:
    import lance

    rng = np.random.default_rng(7)
    order = [int(i) for i in np.concatenate([rng.permutation(tables), rng.permutation(tables)])]
    query = rng.standard_normal(DIMENSION).astype(np.float32)
    nearest = {"column": "vector", "q": query, "k": 10, "metric": "cosine"}
    uri = f"{root}/t{{}}.lance"
    result: dict[str, Any] = {}
    if variant.startswith("omnivector"):
        config = (
            DatasetCacheConfig(max_cached_tables=64)
            if variant.endswith("64")
            else DatasetCacheConfig()
        )
        store = VectorStore(root, cache=config, maintenance=MaintenanceConfig(enabled=False))
        store.table("t0").search(query, k=10)
        base, started = _rss_mb(), time.perf_counter()
        for index in order:
            store.table(f"t{index}").search(query, k=10)
        info = store.cache_info()
        result = {"open_tables": info.open_tables, "session_mb": info.session_bytes / (1 << 20)}
    elif variant == "pylance-fresh-open":
        lance.dataset(uri.format(0)).to_table(nearest=nearest)
        base, started = _rss_mb(), time.perf_counter()
        for index in order:
            lance.dataset(uri.format(index)).to_table(nearest=nearest)
    elif variant == "pylance-all-handles":
        handles: dict[int, Any] = {}
        lance.dataset(uri.format(0)).to_table(nearest=nearest)
        base, started = _rss_mb(), time.perf_counter()
        for index in order:
            if index not in handles:
                handles[index] = lance.dataset(uri.format(index))
            handles[index].to_table(nearest=nearest)
        result = {"open_tables": len(handles)}
    else:
        try:
            import lancedb
        except ImportError:
            return {"skipped": "lancedb not installed"}
        db = lancedb.connect(root)
        db.open_table("t0").search(query).limit(10).to_arrow()
        base, started = _rss_mb(), time.perf_counter()
        for index in order:
            db.open_table(f"t{index}").search(query).limit(10).to_arrow()
    result.update({"rss_growth_mb": _rss_mb() - base, "seconds": time.perf_counter() - started})
    return result


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
