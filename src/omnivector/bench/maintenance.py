"""``omnivector bench maintenance``: disk space under small writes, with and without upkeep.

A 50,000-document table (quick: 5,000) takes 20,000 single-document upserts and 2,000
deletes (quick: 2,000 and 200). With auto-maintenance on and off: disk bytes over live data
bytes (space amplification), fragments and versions at the end, writer throughput, and query
p99 while maintenance runs vs idle; next to lancedb with default settings on the same
workload. No maintenance call is made by the "user".
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector import MaintenanceConfig, VectorStore
from omnivector.bench.common import BenchContext, format_table, summarize
from omnivector.bench.data import vector_array

DIMENSION = 128
# Idle time after the last write before the final measurement with auto-maintenance on:
# the default keep_seconds plus two maintenance intervals and a margin for the run itself.
_DEFAULTS = MaintenanceConfig()
SETTLE_SECONDS = _DEFAULTS.keep_seconds + 2 * _DEFAULTS.min_interval + 2.0


def _sizes(ctx: BenchContext) -> tuple[int, int, int]:
    scale = float(os.environ.get("OMNIVECTOR_BENCH_SCALE", 0.1 if ctx.quick else 1.0))
    return int(50_000 * scale), int(20_000 * scale), int(2_000 * scale)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _base(rows: int, seed: int) -> pa.Table:
    vectors = np.random.default_rng(seed).standard_normal((rows, DIMENSION)).astype(np.float32)
    return pa.table(
        {
            "id": [f"d{i}" for i in range(rows)],
            "vector": vector_array(vectors),
            "text": [f"document {i}" for i in range(rows)],
        }
    )


def _ours(
    root: Path, enabled: bool, rows: int, upserts: int, deletes: int, ctx: BenchContext
) -> dict[str, Any]:
    rng = ctx.rng()
    store = VectorStore(root, dimension=DIMENSION, maintenance=MaintenanceConfig(enabled=enabled))
    table = store.create_table("t")
    table.add(_base(rows, ctx.seed))
    queries = rng.standard_normal((50, DIMENSION)).astype(np.float32)
    idle = [_timed(lambda q=q: table.search(q, k=10)) for q in queries]
    during: list[float] = []
    started = time.perf_counter()
    for step in range(upserts):
        doc = rng.integers(0, rows)
        table.upsert(
            [{"id": f"d{doc}", "vector": rng.standard_normal(DIMENSION), "text": f"updated {step}"}]
        )
        if step % 50 == 0:
            during.append(_timed(lambda q=queries[step % 50]: table.search(q, k=10)))
    for step in range(deletes):
        table.delete([f"d{(step * 7919) % rows}"])
    seconds = time.perf_counter() - started
    disk_at_end = _dir_bytes(root / "t.lance")
    if enabled:  # a user's process keeps running: let the trailing cleanup happen
        time.sleep(SETTLE_SECONDS)
    store.close()  # waits for the maintenance thread to finish its current run
    with VectorStore(root, maintenance=MaintenanceConfig(enabled=False)) as reopened:
        health = reopened.table("t").health()
        live = health.live_bytes
        count = reopened.table("t").count()
    disk = _dir_bytes(root / "t.lance")
    return {
        "space_amplification": disk / live,
        "space_amplification_at_end": disk_at_end / live,
        "disk_mb": disk / 1e6,
        "live_mb": live / 1e6,
        "fragments": health.fragments,
        "versions": health.versions,
        "rows": count,
        "writes_per_s": (upserts + deletes) / seconds,
        "query_idle": summarize(idle).as_dict(),
        "query_during": summarize(during).as_dict(),
    }


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _lancedb(
    root: Path, rows: int, upserts: int, deletes: int, ctx: BenchContext
) -> dict[str, Any]:
    try:
        import lancedb
    except ImportError:
        return {"skipped": "lancedb not installed"}
    rng = ctx.rng()
    db = lancedb.connect(root)
    table = db.create_table("t", _base(rows, ctx.seed))
    started = time.perf_counter()
    for step in range(upserts):
        doc = rng.integers(0, rows)
        vector = rng.standard_normal(DIMENSION).astype(np.float32)
        row = pa.table(
            {
                "id": [f"d{doc}"],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vector), DIMENSION),
                "text": [f"updated {step}"],
            }
        )
        (
            table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(row)
        )
    for step in range(deletes):
        table.delete(f"id = 'd{(step * 7919) % rows}'")
    seconds = time.perf_counter() - started
    disk = _dir_bytes(root / "t.lance")
    import lance

    dataset = lance.dataset(str(root / "t.lance"))
    live = int(dataset.versions()[-1]["metadata"]["total_files_size"])
    return {
        "space_amplification": disk / live,
        "disk_mb": disk / 1e6,
        "live_mb": live / 1e6,
        "fragments": len(dataset.get_fragments()),
        "versions": len(dataset.versions()),
        "rows": dataset.count_rows(),
        "writes_per_s": (upserts + deletes) / seconds,
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    rows, upserts, deletes = _sizes(ctx)
    results: dict[str, Any] = {"rows": rows, "upserts": upserts, "deletes": deletes}
    # e.g. OMNIVECTOR_BENCH_VARIANTS=on for a full-scale run of the default alone
    wanted = os.environ.get("OMNIVECTOR_BENCH_VARIANTS", "on,off,lancedb").split(",")
    with ctx.scratch("maintenance") as root:
        if "on" in wanted:
            results["auto-maintenance on"] = _ours(root / "on", True, rows, upserts, deletes, ctx)
        if "off" in wanted:
            results["auto-maintenance off"] = _ours(
                root / "off", False, rows, upserts, deletes, ctx
            )
        if "lancedb" in wanted:
            results["lancedb default"] = _lancedb(root / "lancedb", rows, upserts, deletes, ctx)
    ctx.echo(f"{rows:,} documents, {upserts:,} single upserts + {deletes:,} deletes")
    table = []
    for label in ("auto-maintenance on", "auto-maintenance off", "lancedb default"):
        if label not in results:
            continue
        r = results[label]
        if "skipped" in r:
            ctx.echo(f"{label}: {r['skipped']}")
            continue
        table.append(
            [
                label,
                r.get("space_amplification_at_end", r["space_amplification"]),
                r["space_amplification"],
                r["disk_mb"],
                r["live_mb"],
                r["fragments"],
                r["versions"],
                r["writes_per_s"],
                r.get("query_idle", {}).get("p99_ms", ""),
                r.get("query_during", {}).get("p99_ms", ""),
            ]
        )
    ctx.echo(
        format_table(
            [
                "variant",
                "disk / live at last write",
                f"disk / live {SETTLE_SECONDS:.0f} s later",
                "disk MB",
                "live MB",
                "fragments",
                "versions",
                "writes/s",
                "idle p99 ms",
                "during p99 ms",
            ],
            table,
        )
    )
    return results
