"""``omnivector bench hybrid``: retrieval quality of BM25, dense and hybrid, and latency.

Quality (:mod:`omnivector.bench.retrieval`): known-item retrieval on the standard
library's docstrings with the default embedding model; recall@10, MRR@10 and nDCG@10 for
BM25, dense (exact and indexed) and hybrid with RRF and weighted fusion.

Latency: p50/p99 of text-only, vector-only and hybrid queries on 100k documents (quick: 20k)
of synthetic text with clustered vectors, next to the same table with a resident graph, the
same Lance queries on a raw pylance handle (the hybrid's two legs on two threads, unfused: the
floor) and lancedb's hybrid search on the same data, all interleaved query by query. Then
the QPS of vector queries (ids only) from one thread and from two, on Lance and on the
resident graph.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector import MaintenanceConfig, ResidentConfig, Table, VectorStore
from omnivector.bench.common import BenchContext, format_table, interleaved
from omnivector.bench.data import clustered_vectors, vector_array
from omnivector.bench.retrieval import quality
from omnivector.indexing import query_defaults
from omnivector.operations import HYBRID_TEXT_DEPTH

K = 10
DIMENSION = 384
THREADS = (1, 2)


def _latency(ctx: BenchContext) -> dict[str, Any]:
    rows = int(os.environ.get("OMNIVECTOR_BENCH_ROWS", 20_000 if ctx.quick else 100_000))
    rng = np.random.default_rng(ctx.seed)
    vectors = clustered_vectors(rows, DIMENSION, seed=ctx.seed)
    vocabulary = [f"w{i}" for i in range(20_000)]
    words = rng.zipf(1.3, (rows, 12)) % len(vocabulary)
    texts = [" ".join(vocabulary[j] for j in row) for row in words]
    data = pa.table(
        {
            "id": [str(i) for i in range(rows)],
            "vector": vector_array(vectors),
            "text": texts,
        }
    )
    probes = [
        (vectors[i] + 0.01, " ".join(texts[i].split()[:2]))
        for i in rng.integers(0, rows, 100 if ctx.quick else 300)
    ]
    out: dict[str, Any] = {"rows": rows, "queries": len(probes)}
    with ctx.scratch("hybrid-latency") as root, ThreadPoolExecutor(1) as pool:
        store = VectorStore(root, dimension=DIMENSION, maintenance=MaintenanceConfig(enabled=False))
        table = store.create_table("docs")
        table.add(data)
        table.create_fts_index()
        if rows >= 20_000:
            table.create_index(kind="IVF_HNSW_SQ")
        # the same table through a second store whose vector queries use a resident graph
        resident_store = VectorStore(
            root, maintenance=MaintenanceConfig(enabled=False), resident=ResidentConfig()
        )
        resident = resident_store.table("docs")
        if not resident.load_resident():
            raise RuntimeError("the resident graph did not load")
        calls = {
            **{f"omnivector {label}": call for label, call in _omnivector_calls(table).items()},
            **{f"pylance {label}": call for label, call in _pylance_calls(table, pool).items()},
            **{
                f"omnivector-resident {label}": call
                for label, call in _omnivector_calls(resident).items()
                if label != "text"  # the same Lance query as omnivector's
            },
        }
        lancedb = _lancedb_hybrid(root, data, rows)
        if callable(lancedb):
            calls["lancedb hybrid"] = lancedb
        else:
            out["lancedb"] = {"skipped": lancedb}
        # every probe runs every query kind in turn: all see the same background load
        timings = interleaved(
            *[[partial(call, v, t) for v, t in probes] for call in calls.values()], warmup=5
        )
        measured = dict(zip(calls, (t.as_dict() for t in timings), strict=True))
        info = resident_store.resident_info()
        out["resident_answered"] = info.answered if info is not None else 0
        alone = [v for v, _ in probes]
        out["threads"] = {
            system: {str(n): _throughput(partial(_ids_search, searched), alone, n) for n in THREADS}
            for system, searched in (("omnivector", table), ("omnivector-resident", resident))
        }
        store.close()
        resident_store.close()
    measured["omnivector-resident text"] = measured["omnivector text"]
    for system in ("omnivector", "omnivector-resident", "pylance"):
        parts = {kind: measured[f"{system} {kind}"] for kind in ("text", "vector", "hybrid")}
        slower = max(parts["text"]["p50_ms"], parts["vector"]["p50_ms"])
        out[system] = {**parts, "hybrid_vs_slower_part": parts["hybrid"]["p50_ms"] / slower}
    if "lancedb hybrid" in measured:
        out["lancedb"] = {"hybrid": measured["lancedb hybrid"]}
    return out


Probe = Callable[[np.ndarray, str], Any]


def _ids_search(table: Table, vector: np.ndarray) -> Any:
    return table.search(vector, k=K, columns=["id"])


def _throughput(
    search: Callable[[np.ndarray], Any], probes: list[np.ndarray], threads: int, rounds: int = 3
) -> float:
    """Queries per second with ``threads`` threads sharing ``probes``: the median round."""

    def run(part: list[np.ndarray]) -> None:
        for vector in part:
            search(vector)

    parts = [probes[i::threads] for i in range(threads)]
    measured = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(rounds):
            start = time.perf_counter()
            list(pool.map(run, parts))
            measured.append(len(probes) / (time.perf_counter() - start))
    return statistics.median(measured)


def _omnivector_calls(table: Table) -> dict[str, Probe]:
    return {
        "text": lambda v, t: table.search(text=t, k=K),
        "vector": lambda v, t: table.search(vector=v, k=K),
        "hybrid": lambda v, t: table.search(vector=v, text=t, k=K),
    }


def _pylance_calls(table: Table, pool: ThreadPoolExecutor) -> dict[str, Probe]:
    """The floor: the same two Lance queries on a raw handle, run concurrently, not fused."""
    import lance
    import lance.query as lq

    dataset = lance.dataset(table.uri)
    knobs = query_defaults(table.dataset())
    columns = ["id", "text", "metadata"]

    def vector(v: np.ndarray) -> pa.Table:
        nearest = {"column": "vector", "q": v, "k": K, "metric": table.spec.metric, **knobs}
        return dataset.to_table(columns=[*columns, "_distance"], nearest=nearest)

    def text(t: str, depth: int) -> pa.Table:
        query = lq.MatchQuery(t, "text")
        return dataset.to_table(columns=[*columns, "_score"], full_text_query=query, limit=depth)

    def both(v: np.ndarray, t: str) -> tuple[pa.Table, pa.Table]:
        vector_leg = pool.submit(vector, v)
        return vector_leg.result(), text(t, HYBRID_TEXT_DEPTH * K)

    return {"text": lambda v, t: text(t, K), "vector": lambda v, t: vector(v), "hybrid": both}


def _lancedb_hybrid(root: Any, data: pa.Table, rows: int) -> Probe | str:
    """lancedb's hybrid search on the same data, or why it was skipped."""
    try:
        import lancedb
    except ImportError:
        return "lancedb not installed"
    try:
        db = lancedb.connect(root / "lancedb")
        table = db.create_table("docs", data)
        table.create_fts_index("text")
        if rows >= 20_000:
            table.create_index(
                metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ"
            )

        def hybrid(vector: np.ndarray, text: str) -> Any:
            return table.search(query_type="hybrid").vector(vector).text(text).limit(K).to_arrow()

        hybrid(data.column("vector")[0].values.to_numpy(), "w1")
        return hybrid
    except Exception as exc:  # a peer's API drift must not break our run
        return f"lancedb hybrid failed: {type(exc).__name__}: {exc}"


def run(ctx: BenchContext) -> dict[str, Any]:
    measured = quality(ctx)
    ctx.echo(
        f"known-item retrieval: {measured['queries']} docstring summaries against "
        f"{measured['documents']:,} docstring descriptions; dense: {measured['embedding']} "
        f"(loaded in {measured['load_s']:.1f} s, {measured['documents_per_s']:.1f} documents/s, "
        f"{measured['queries_per_s']:.1f} queries/s)"
    )
    ctx.echo(
        format_table(
            ["retriever", "recall@10", "MRR@10", "nDCG@10"],
            [
                [label, m["recall@10"], m["mrr@10"], m["ndcg@10"]]
                for label, m in measured["metrics"].items()
            ],
        )
    )
    latency = _latency(ctx)
    systems = ("omnivector", "omnivector-resident", "pylance")
    rows = [
        [f"{system} {label}", latency[system][label]["p50_ms"], latency[system][label]["p99_ms"]]
        for system in systems
        for label in ("text", "vector", "hybrid")
        if (system, label) != ("omnivector-resident", "text")  # omnivector's text query
    ]
    lancedb = latency["lancedb"]
    if "hybrid" in lancedb:
        rows.append(["lancedb hybrid", lancedb["hybrid"]["p50_ms"], lancedb["hybrid"]["p99_ms"]])
    else:
        ctx.echo(f"lancedb: {lancedb['skipped']}")
    ctx.echo(
        f"latency on {latency['rows']:,} documents, k={K}, {latency['queries']} queries, "
        "interleaved"
    )
    ctx.echo(format_table(["query", "p50 ms", "p99 ms"], rows))
    ratios = ", ".join(f"{s} {latency[s]['hybrid_vs_slower_part']:.2f}" for s in systems)
    ctx.echo(
        f"hybrid p50 / slower part p50: {ratios} (pylance: the two queries on two threads, "
        "no fusion)"
    )
    threads = latency["threads"]
    ctx.echo("vector queries (ids only), QPS by threads sharing the queries")
    ctx.echo(
        format_table(
            ["system", *(f"{n} thread(s)" for n in THREADS), "ratio"],
            [
                [system, *(by[str(n)] for n in THREADS), by[str(THREADS[-1])] / by[str(THREADS[0])]]
                for system, by in threads.items()
            ],
        )
    )
    return {"quality": measured, "latency": latency}
