"""``omnivector bench objectstore``: query latency on S3-compatible storage vs a local directory.

The same table (20k x 128 clustered vectors with an IVF_PQ index; quick: 5k x 64) is written
to a local directory and to a bucket on moto's S3 server on 127.0.0.1, then queried through
the connection pool three ways: cold (a new ``VectorStore`` per query, so the first query pays
for opening the table and loading the index), warm with the pool's default freshness check on
every call (on S3 a listing request), and warm with ``refresh_interval=1s``. p50/p99 per
location, and S3's ratio to local. moto runs in this process and answers from memory, so the
S3 figures show request overhead, not a real network's latency. Skipped when moto or boto3
is not installed (both are in the development environment).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from omnivector import DatasetCacheConfig, MaintenanceConfig, VectorStore
from omnivector.bench.common import BenchContext, Timing, format_table, summarize
from omnivector.bench.data import clustered_vectors, id_vector_table
from omnivector.bench.s3server import moto_s3

BUCKET = "omnivector-bench"
K = 10
MODES = ("cold", "warm", "warm_refresh_1s")


def _open(path: str, options: dict[str, str], refresh: float = 0.0) -> VectorStore:
    return VectorStore(
        path,
        storage_options=options,
        cache=DatasetCacheConfig(refresh_interval=refresh),
        maintenance=MaintenanceConfig(enabled=False),
    )


def _build(path: str, options: dict[str, str], data: np.ndarray) -> None:
    with _open(path, options) as store:
        table = store.create_table("t", dimension=data.shape[1])
        for start in range(0, len(data), 8192):
            table.add(id_vector_table(data[start : start + 8192], start))
        table.create_index(kind="IVF_PQ")


def _latencies(
    path: str, options: dict[str, str], queries: np.ndarray, cold_reps: int
) -> dict[str, Timing]:
    cold: list[float] = []
    for query in queries[:cold_reps]:
        with _open(path, options) as store:
            started = time.perf_counter()
            store.table("t").search(query, k=K, columns=[])
            cold.append((time.perf_counter() - started) * 1000)
    timings = {"cold": summarize(cold)}
    for mode, refresh in (("warm", 0.0), ("warm_refresh_1s", 1.0)):
        with _open(path, options, refresh) as store:
            table = store.table("t")
            for query in queries[:5]:
                table.search(query, k=K, columns=[])
            samples = []
            for query in queries:
                started = time.perf_counter()
                table.search(query, k=K, columns=[])
                samples.append((time.perf_counter() - started) * 1000)
        timings[mode] = summarize(samples)
    return timings


def run(ctx: BenchContext) -> dict[str, Any]:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        ctx.echo("skipped: moto[server] and boto3 are not installed (pip install 'moto[server]')")
        return {"skipped": "moto[server] and boto3 not installed"}
    rows = int(os.environ.get("OMNIVECTOR_BENCH_ROWS") or (5_000 if ctx.quick else 20_000))
    dimension = 64 if ctx.quick else 128
    cold_reps, warm = (10, 100) if ctx.quick else (30, 500)
    warm = int(os.environ.get("OMNIVECTOR_BENCH_QUERIES") or warm)
    cold_reps = min(cold_reps, warm)
    vectors = clustered_vectors(rows + warm, dimension, seed=ctx.seed)
    data, queries = vectors[:rows], vectors[rows:]
    figures: dict[str, dict[str, Timing]] = {}
    with ctx.scratch("objectstore") as root, moto_s3(BUCKET) as options:
        places = {
            "local": (str(Path(root) / "store"), {}),
            "s3": (f"s3://{BUCKET}/{uuid.uuid4().hex}", options),
        }
        for name, (path, opts) in places.items():
            _build(path, opts, data)
            figures[name] = _latencies(path, opts, queries, cold_reps)
    table_rows = [
        [
            mode,
            figures["local"][mode].p50_ms,
            figures["local"][mode].p99_ms,
            figures["s3"][mode].p50_ms,
            figures["s3"][mode].p99_ms,
            figures["s3"][mode].p50_ms / figures["local"][mode].p50_ms,
        ]
        for mode in MODES
    ]
    ctx.echo(f"{rows:,} x {dimension} vectors, IVF_PQ index; S3 = moto on 127.0.0.1")
    ctx.echo(
        format_table(
            ["query", "local p50 ms", "local p99 ms", "s3 p50 ms", "s3 p99 ms", "s3/local p50"],
            table_rows,
        )
    )
    return {
        "rows": rows,
        "dimension": dimension,
        "latency": {
            place: {mode: timing.as_dict() for mode, timing in modes.items()}
            for place, modes in figures.items()
        },
        "p50_ratio": {row[0]: row[5] for row in table_rows},
    }
