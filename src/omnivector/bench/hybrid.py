"""``omnivector bench hybrid``: retrieval quality of BM25, dense and hybrid, and latency.

Quality: a known-item test set from the standard library's docstrings. Each query is the
documented object's name split into words plus three words of its first line; the only
relevant document is that docstring. Dense vectors come from the download-free
:class:`~omnivector.HashingEmbedder` (a lexical stand-in: no embedding model is installed in
this environment). Reports recall@10, MRR@10 and nDCG@10 for BM25, dense, and hybrid with
RRF and weighted fusion, with a sweep of the fusion weight.

Latency: p50/p99 of text-only, vector-only and hybrid queries on 100k documents (quick: 20k)
of synthetic text with clustered vectors, next to the same table with a resident graph, the
same Lance queries on a raw pylance handle (the hybrid's two legs on two threads, unfused: the
floor) and lancedb's hybrid search on the same data, all interleaved query by query. Then
the QPS of vector queries (ids only) from one thread and from two, on Lance and on the
resident graph.
"""

from __future__ import annotations

import math
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector.bench.common import BenchContext, format_table, interleaved
from omnivector.bench.data import clustered_vectors, vector_array
from omnivector.core.fusion import RRF, Weighted
from omnivector.demo.corpus import stdlib_docstrings
from omnivector.embedding import HashingEmbedder
from omnivector.indexing.builds import query_defaults
from omnivector.maintenance.compaction import MaintenanceConfig
from omnivector.operations.search import HYBRID_TEXT_DEPTH
from omnivector.resident.graphs import ResidentConfig
from omnivector.store import VectorStore
from omnivector.table import Table

K = 10
DIMENSION = 384
THREADS = (1, 2)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name).replace("_", " ")
    return [w.lower() for w in spaced.split() if w]


def _quality(ctx: BenchContext) -> dict[str, Any]:
    count = int(os.environ.get("OMNIVECTOR_BENCH_DOCS", 2000 if ctx.quick else 6000))
    docs = list(stdlib_docstrings(count))
    embedder = HashingEmbedder(DIMENSION)
    rng = random.Random(ctx.seed)
    candidates = [d for d in docs if len(_words(d.name)) >= 2]
    picked = rng.sample(candidates, min(len(candidates), 60 if ctx.quick else 300))
    queries = []
    for doc in picked:
        line = re.findall(r"[a-zA-Z]{3,}", doc.text.splitlines()[0])
        queries.append((" ".join(_words(doc.name) + rng.sample(line, min(3, len(line)))), doc.id))
    results: dict[str, dict[str, float]] = {}
    with ctx.scratch("hybrid-quality") as root:
        store = VectorStore(
            root,
            dimension=DIMENSION,
            embedder=embedder,
            maintenance=MaintenanceConfig(enabled=False),
        )
        table = store.create_table("docs")
        table.add([{"id": d.id, "text": d.text} for d in docs])
        table.create_fts_index()
        vectors = embedder.embed([q for q, _ in queries])
        modes: dict[str, Any] = {
            "BM25": lambda q, v: table.search(text=q, k=K),
            "dense": lambda q, v: table.search(vector=v, k=K),
            "hybrid RRF(k=60)": lambda q, v: table.search(vector=v, text=q, k=K),
            "hybrid RRF(k=10, 1:1.5)": lambda q, v: table.search(
                vector=v, text=q, k=K, fusion=RRF(k=10, weights=(1.0, 1.5))
            ),
        }
        for weight in (0.2, 0.4, 0.5, 0.6, 0.8):
            modes[f"hybrid Weighted(vector {weight})"] = lambda q, v, w=weight: table.search(
                vector=v, text=q, k=K, fusion=Weighted((w, 1 - w))
            )
        for label, search in modes.items():
            ranks = []
            for (query, relevant), vector in zip(queries, vectors, strict=True):
                ids = search(query, vector).ids
                ranks.append(ids.index(relevant) + 1 if relevant in ids else None)
            results[label] = _metrics(ranks)
        store.close()
    return {"documents": len(docs), "queries": len(queries), "metrics": results}


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    found = [r for r in ranks if r is not None]
    return {
        "recall@10": len(found) / len(ranks),
        "mrr@10": sum(1 / r for r in found) / len(ranks),
        "ndcg@10": sum(1 / math.log2(r + 1) for r in found) / len(ranks),
    }


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
    quality = _quality(ctx)
    ctx.echo(
        f"known-item retrieval: {quality['queries']} queries over "
        f"{quality['documents']:,} stdlib docstrings (dense: HashingEmbedder)"
    )
    ctx.echo(
        format_table(
            ["retriever", "recall@10", "MRR@10", "nDCG@10"],
            [
                [label, m["recall@10"], m["mrr@10"], m["ndcg@10"]]
                for label, m in quality["metrics"].items()
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
    return {"quality": quality, "latency": latency}
