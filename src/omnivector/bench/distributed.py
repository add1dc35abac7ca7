"""``omnivector bench distributed``: Ray (lance-ray) next to local ingest and index builds.

On clustered vectors (100k x 128; quick: 5k x 64) the same rows are written once with
``tbl.add`` in this process and once with ``tbl.add(..., engine="ray")``, then each vector
index kind is built on both tables, locally (blocking, in this process) and on a local Ray
cluster (one index segment per worker); each build is followed by recall@10 against numpy
brute force and p50 query latency at the default query settings. The Ray cluster is local,
with as many CPUs as the machine (at most ``OMNIVECTOR_BENCH_RAY_CPUS``, default 2), so the
figures show the overhead of going through Ray on one machine, not a cluster's speed-up; the
first Ray job also starts the worker processes, and the queries of a Ray-built index search one
segment per worker.
Skipped when Ray and lance-ray are not installed (``pip install 'omni-vector[ray]'``).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any

import numpy as np

from omnivector import IndexBuildConfig, MaintenanceConfig, RayEngine, Table, VectorStore
from omnivector.bench.common import BenchContext, format_table
from omnivector.bench.data import (
    brute_force_topk,
    clustered_vectors,
    id_vector_table,
    search_quality,
)
from omnivector.distributed import Engine

K = 10
_HINT = "pip install 'omni-vector[ray]'"


def _sizes(ctx: BenchContext) -> tuple[int, int, tuple[str, ...]]:
    rows = int(os.environ.get("OMNIVECTOR_BENCH_ROWS") or (5_000 if ctx.quick else 100_000))
    kinds = os.environ.get("OMNIVECTOR_BENCH_KINDS")
    default = ("IVF_PQ",) if ctx.quick else ("IVF_FLAT", "IVF_PQ", "IVF_HNSW_SQ")
    return rows, 64 if ctx.quick else 128, tuple(kinds.split(",")) if kinds else default


def run(ctx: BenchContext) -> dict[str, Any]:
    try:
        import lance_ray  # noqa: F401
        import ray
    except ImportError:
        ctx.echo(f"skipped: Ray and lance-ray are not installed; {_HINT}")
        return {"skipped": f"not installed; {_HINT}"}
    rows, dimension, kinds = _sizes(ctx)
    cpus = min(os.cpu_count() or 1, int(os.environ.get("OMNIVECTOR_BENCH_RAY_CPUS", "2")))
    query_count = 30 if ctx.quick else 200
    vectors = clustered_vectors(rows + query_count, dimension, seed=ctx.seed)
    data, queries = vectors[:rows], vectors[rows:]
    truth = brute_force_topk(data, queries, K, "cosine")
    started_here = not ray.is_initialized()
    began = time.perf_counter()
    if started_here:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "lance is not fork-safe", UserWarning)
            ray.init(
                num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR"
            )
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray_start = time.perf_counter() - began
    engine = RayEngine(num_workers=cpus)
    result: dict[str, Any] = {
        "rows": rows,
        "dimension": dimension,
        "ray_cpus": cpus,
        "ray_start_s": ray_start if started_here else None,
    }
    try:
        result.update(_measure(ctx, data, queries, truth, kinds, engine))
    finally:
        if started_here:
            ray.shutdown()
    ctx.echo(
        f"{rows:,} x {dimension} clustered vectors; local Ray cluster of {cpus} CPUs "
        + (f"(started in {ray_start:.1f} s)" if started_here else "(already running)")
    )
    ctx.echo(
        format_table(
            ["ingest", "seconds", "rows/s"],
            [[r["engine"], r["seconds"], r["rows_per_s"]] for r in result["ingest"]],
        )
    )
    ctx.echo(
        format_table(
            ["kind", "engine", "build s", "ratio to local", "recall@10", "p50 ms"],
            [
                [r["kind"], r["engine"], r["build_s"], r["ratio"], r["recall@10"], r["p50_ms"]]
                for r in result["builds"]
            ],
        )
    )
    return result


def _measure(
    ctx: BenchContext,
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    kinds: tuple[str, ...],
    engine: RayEngine,
) -> dict[str, Any]:
    ingest: list[dict[str, Any]] = []
    builds: list[dict[str, Any]] = []
    arrow = id_vector_table(data)
    with (
        ctx.scratch("distributed") as root,
        VectorStore(
            root,
            dimension=data.shape[1],
            index_builds=IndexBuildConfig(executor="thread"),
            maintenance=MaintenanceConfig(enabled=False),
        ) as store,
    ):
        tables: dict[str, tuple[Table, Engine]] = {}
        engines: dict[str, Engine] = {"local": "local", "ray": engine}
        for name, where in engines.items():
            table = store.create_table(name)
            started = time.perf_counter()
            table.add(arrow, engine=where)
            seconds = time.perf_counter() - started
            ingest.append({"engine": name, "seconds": seconds, "rows_per_s": len(data) / seconds})
            tables[name] = (table, where)
        for kind in kinds:
            local_seconds = None
            for name, (table, where) in tables.items():
                started = time.perf_counter()
                table.create_index(kind=kind, engine=where)
                seconds = time.perf_counter() - started
                local_seconds = local_seconds or seconds
                recall, p50 = search_quality(table, queries, truth, K)
                builds.append(
                    {
                        "kind": kind,
                        "engine": name,
                        "build_s": seconds,
                        "ratio": seconds / local_seconds,
                        "recall@10": recall,
                        "p50_ms": p50,
                        "segments": len(table.dataset().describe_indices()[0].segments),
                    }
                )
                table.drop_index("vector_idx")
    return {"ingest": ingest, "builds": builds}
