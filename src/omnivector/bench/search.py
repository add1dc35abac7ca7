"""``omnivector bench search``: query latency and ingest, next to raw pylance.

On clustered 384-d vectors (100k; quick: 20k) written once through omnivector, the same
queries run through ``Table.search`` and through raw ``LanceDataset.to_table(nearest=...)``
on the same dataset, without and with a filter on a declared field, interleaved so both see
the same machine load. Ingest compares ``Table.add`` (validation, unique-id check) with
``lance.write_dataset`` of the same Arrow rows.
"""

from __future__ import annotations

import os
import time
from typing import Any

import lance
import numpy as np
import pyarrow as pa

from omnivector import DatasetCacheConfig, MaintenanceConfig, VectorStore
from omnivector.bench.common import BenchContext, format_table, interleaved
from omnivector.bench.data import clustered_vectors, vector_array

DIMENSION = 384
COLUMNS = ["id", "text", "metadata", "category", "_distance"]


def _sizes(ctx: BenchContext) -> tuple[int, int]:
    override = os.environ.get("OMNIVECTOR_BENCH_ROWS")
    if override:
        return int(override), 20
    return (20_000, 50) if ctx.quick else (100_000, 200)


def _arrow(vectors: np.ndarray, start: int = 0) -> pa.Table:
    count = len(vectors)
    return pa.table(
        {
            "id": [f"doc-{start + i}" for i in range(count)],
            "vector": vector_array(vectors),
            "text": [f"document {start + i}" for i in range(count)],
            "category": [f"c{i % 10}" for i in range(count)],
        }
    )


def run(ctx: BenchContext) -> dict[str, Any]:
    rows, queries = _sizes(ctx)
    vectors = clustered_vectors(rows, DIMENSION, seed=ctx.seed)
    probes = vectors[ctx.rng().integers(0, rows, queries)] + 0.01
    results: dict[str, Any] = {"rows": rows, "queries": queries, "dimension": DIMENSION}
    with ctx.scratch("search") as root:
        store = VectorStore(
            root / "store",
            dimension=DIMENSION,
            cache=DatasetCacheConfig(),
            maintenance=MaintenanceConfig(enabled=False),
        )
        table = store.create_table("bench", fields={"category": "string"})
        data = _arrow(vectors)
        batch = 4096
        started = time.perf_counter()
        for offset in range(0, rows, batch):
            table.add(data.slice(offset, batch))
        ours_ingest = rows / (time.perf_counter() - started)
        raw_uri = str(root / "raw.lance")
        started = time.perf_counter()
        raw_written = None
        for offset in range(0, rows, batch):
            chunk = data.slice(offset, batch)
            raw_written = lance.write_dataset(
                chunk, raw_uri, mode="append" if raw_written else "create"
            )
        raw_ingest = rows / (time.perf_counter() - started)
        results["ingest"] = {
            "omnivector_rows_per_s": ours_ingest,
            "pylance_rows_per_s": raw_ingest,
            "ratio": raw_ingest / ours_ingest,
        }

        raw = lance.dataset(table.uri)
        where = {"category": "c3"}
        cases: dict[str, dict[str, Any]] = {}
        for label, filtered in (("no filter", False), ("filter", True)):
            ours_calls = [
                (lambda q=q, f=filtered: table.search(q, k=10, where=where if f else None))
                for q in probes
            ]
            raw_calls = [
                (
                    lambda q=q, f=filtered: raw.to_table(
                        columns=COLUMNS,
                        nearest={"column": "vector", "q": q, "k": 10, "metric": "cosine"},
                        filter="category = 'c3'" if f else None,
                        prefilter=f,
                    )
                )
                for q in probes
            ]
            # Interleave the two so both see the same background load.
            ours_t, raw_t = interleaved(ours_calls, raw_calls)
            cases[label] = {
                "omnivector": ours_t.as_dict(),
                "pylance": raw_t.as_dict(),
                "p50_ratio": ours_t.p50_ms / raw_t.p50_ms,
                "p99_ratio": ours_t.p99_ms / raw_t.p99_ms,
            }
        results["exact_search"] = cases
        store.close()

    ctx.echo(
        f"{rows:,} x {DIMENSION} clustered vectors, exact search, {queries} queries, "
        f"k=10, {os.cpu_count()} cores"
    )
    ctx.echo(
        format_table(
            [
                "case",
                "omnivector p50 ms",
                "p99 ms",
                "pylance p50 ms",
                "p99 ms",
                "p50 ratio",
                "p99 ratio",
            ],
            [
                [
                    label,
                    c["omnivector"]["p50_ms"],
                    c["omnivector"]["p99_ms"],
                    c["pylance"]["p50_ms"],
                    c["pylance"]["p99_ms"],
                    c["p50_ratio"],
                    c["p99_ratio"],
                ]
                for label, c in cases.items()
            ],
        )
    )
    ingest = results["ingest"]
    ctx.echo(
        format_table(
            ["ingest", "omnivector rows/s", "lance.write_dataset rows/s", "pylance / omnivector"],
            [
                [
                    "4,096-row batches",
                    ingest["omnivector_rows_per_s"],
                    ingest["pylance_rows_per_s"],
                    ingest["ratio"],
                ]
            ],
        )
    )
    return results
