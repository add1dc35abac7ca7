"""Retrieval quality of BM25, dense and hybrid search on real embeddings (``bench hybrid``).

The test set is built from the standard library's docstrings, offline and independent of
any model: the documents are the descriptions of docstrings (the text after their summary
paragraph); the queries are the summaries of a sample of them, each with its own
description as the one relevant document. Dense vectors
come from the default embedding model (``OMNIVECTOR_BENCH_EMBEDDING``: another
function's JSON config, e.g. ``{"name": "e5"}``). Reports recall@10, MRR@10 and nDCG@10
per retriever: BM25, dense exact, dense through the default vector index, and hybrids with
RRF and weighted fusion; plus the model's load time and embedding speed.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from omnivector import RRF, MaintenanceConfig, Table, VectorStore, Weighted, embeddings
from omnivector.bench.common import BenchContext
from omnivector.core.fusion import Fusion
from omnivector.demo import stdlib_docstrings
from omnivector.indexing import AUTO_VECTOR_KIND

__all__ = ["FUSIONS", "KnownItems", "known_items", "quality"]

K = 10

#: The fusions compared; the first is the default (``fusion.RRF()``).
FUSIONS: dict[str, Fusion] = {
    "RRF(k=60)": RRF(),
    "RRF(k=20)": RRF(k=20),
    "RRF(k=60, 1:2)": RRF(weights=(1.0, 2.0)),
    "RRF(k=60, 2:1)": RRF(weights=(2.0, 1.0)),
    **{f"Weighted(vector {w})": Weighted((w, 1 - w)) for w in (0.3, 0.5, 0.7)},
}


@dataclass(frozen=True, slots=True)
class KnownItems:
    """Documents ``(id, text)`` and queries ``(text, the id of their one relevant doc)``."""

    documents: list[tuple[str, str]]
    queries: list[tuple[str, str]]


def known_items(count: int, queries: int, seed: int) -> KnownItems:
    """``count`` descriptions from distinct stdlib docstrings (the text after the summary
    paragraph); the summaries of ``queries`` of them are the queries."""
    seen: set[str] = set()
    summaries: dict[str, int] = {}
    documents: list[tuple[str, str]] = []
    summary_of: dict[str, str] = {}
    for doc in stdlib_docstrings():
        summary, _, body = doc.text.partition("\n\n")
        body = body.strip()
        if len(body) < 120 or body in seen:
            continue
        seen.add(body)
        summary = " ".join(summary.split())
        summaries[summary] = summaries.get(summary, 0) + 1
        documents.append((doc.id, body))
        summary_of[doc.id] = summary
        if len(documents) == count:
            break
    # a sentence of its own, shared with no other document
    candidates = [
        doc_id
        for doc_id, _ in documents
        if 5 <= len(summary_of[doc_id].split()) <= 40 and summaries[summary_of[doc_id]] == 1
    ]
    picked = random.Random(seed).sample(candidates, min(queries, len(candidates)))
    return KnownItems(documents, [(summary_of[doc_id], doc_id) for doc_id in picked])


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    found = [r for r in ranks if r is not None]
    return {
        "recall@10": len(found) / len(ranks),
        "mrr@10": sum(1 / r for r in found) / len(ranks),
        "ndcg@10": sum(1 / math.log2(r + 1) for r in found) / len(ranks),
    }


def _function() -> embeddings.EmbeddingFunction:
    raw = os.environ.get("OMNIVECTOR_BENCH_EMBEDDING")
    if raw:
        return embeddings.from_config(embeddings.EmbeddingConfig.from_json(raw))
    return embeddings.default()


def quality(ctx: BenchContext) -> dict[str, Any]:
    count = int(os.environ.get("OMNIVECTOR_BENCH_DOCS", 500 if ctx.quick else 2000))
    wanted = int(os.environ.get("OMNIVECTOR_BENCH_QUERIES", 60 if ctx.quick else 300))
    items = known_items(count, wanted, ctx.seed)
    started = time.perf_counter()
    function = _function()
    load_s = time.perf_counter() - started
    texts = [text for _, text in items.documents]
    started = time.perf_counter()
    vectors = function.embed_documents(texts)
    embed_s = time.perf_counter() - started
    queries = [q for q, _ in items.queries]
    started = time.perf_counter()
    query_vectors = function.embed_queries(queries)
    query_s = time.perf_counter() - started
    results: dict[str, dict[str, float]] = {}
    with ctx.scratch("hybrid-quality") as root:
        store = VectorStore(
            root, dimension=function.dimension, maintenance=MaintenanceConfig(enabled=False)
        )
        table = store.create_table("docs")
        table.add(
            [
                {"id": doc_id, "text": text, "vector": vector}
                for (doc_id, text), vector in zip(items.documents, vectors, strict=True)
            ]
        )
        table.create_fts_index()
        modes: dict[str, Callable[[str, Any], Any]] = {
            "BM25": lambda q, v: table.search(text=q, k=K),
            "dense (exact)": lambda q, v: table.search(vector=v, k=K, exact=True),
        }
        for label, fusion in FUSIONS.items():
            modes[f"hybrid {label}"] = partial(_hybrid, table, fusion)
        for label, search in modes.items():
            results[label] = _evaluate(search, items.queries, query_vectors)
        table.create_index(kind=AUTO_VECTOR_KIND)
        results[f"dense ({AUTO_VECTOR_KIND})"] = _evaluate(
            lambda q, v: table.search(vector=v, k=K), items.queries, query_vectors
        )
        store.close()
    return {
        "documents": len(items.documents),
        "queries": len(items.queries),
        "embedding": function.config.to_json(),
        "load_s": load_s,
        "documents_per_s": len(texts) / embed_s,
        "queries_per_s": len(queries) / query_s,
        "metrics": results,
    }


def _hybrid(table: Table, fusion: Fusion, query: str, vector: Any) -> Any:
    return table.search(vector=vector, text=query, k=K, fusion=fusion, exact=True)


def _evaluate(
    search: Callable[[str, Any], Any], queries: list[tuple[str, str]], vectors: Any
) -> dict[str, float]:
    ranks: list[int | None] = []
    for (query, relevant), vector in zip(queries, vectors, strict=True):
        ids = search(query, vector).ids
        ranks.append(ids.index(relevant) + 1 if relevant in ids else None)
    return _metrics(ranks)
