"""Query execution: vector (ANN or exact), full-text (BM25) and hybrid search.

Filters arrive compiled (:mod:`omnivector.filters`): the SQL part is pushed down to Lance as
a prefilter; a residual on metadata keys is evaluated here, exactly. Vector searches with a
residual fall back to an exact scan of the pushed-down candidates, so a filter never costs
recall.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import lance
import lance.query as lq
import numpy as np
import pyarrow as pa

from omnivector.core.errors import InvalidInputError
from omnivector.core.filters import CompiledFilter
from omnivector.core.fusion import Fusion
from omnivector.core.results import Hit, SearchResults, distances_and_scores
from omnivector.core.schema import (
    TableSpec,
    decode_metadata,
    vectors_to_numpy,
    with_float32_vectors,
)
from omnivector.indexing.builds import query_defaults
from omnivector.resident.graphs import ResidentGraph
from omnivector.storage.unique_ids import VersionKey, version_key

__all__ = [
    "HYBRID_TEXT_DEPTH",
    "TextQuery",
    "VectorQuery",
    "hybrid_search",
    "resident_search",
    "text_search",
    "vector_search",
]

_DISTANCE = "_distance"
_SCORE = "_score"
_RESIDUAL_BATCH = 8192
# hybrid search: BM25 candidates per hit wanted (the vector leg fetches k)
HYBRID_TEXT_DEPTH = 2


@dataclass(slots=True)  # not frozen: made per query, and a frozen one costs twice the time
class VectorQuery:
    """A validated vector query and the ANN knobs the caller set (None: the index's
    defaults, or the resident graph's)."""

    vector: np.ndarray
    k: int
    nprobes: int | None = None
    ef: int | None = None
    refine_factor: int | None = None
    exact: bool = False


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A full-text query over one or more columns with per-column boosts.

    ``text`` may quote phrases (``"exact words"``) and mark terms that must appear
    (``+term``) or must not (``-term``).
    """

    text: str
    k: int
    columns: Mapping[str, float]


def result_columns(spec: TableSpec, requested: Sequence[str] | None) -> list[str]:
    """The stored columns to fetch for hits (``id`` always; ``vector`` only on request)."""
    if requested == ["id"]:
        return ["id"]
    available = ["id", "text", "metadata", *spec.fields]
    if requested is None:
        return available
    if isinstance(requested, str) or not all(isinstance(c, str) for c in requested):
        raise InvalidInputError("columns must be a list of column names")
    unknown = sorted(set(requested) - {*available, "vector"})
    if unknown:
        raise InvalidInputError(f"unknown column(s) {unknown}; available: {[*available, 'vector']}")
    return ["id", *[c for c in requested if c != "id"]]


def vector_search(
    dataset: lance.LanceDataset,
    spec: TableSpec,
    query: VectorQuery,
    where: CompiledFilter,
    columns: list[str],
) -> list[Hit]:
    if where.residual is not None or query.exact:
        return _vector_hits(_exact_search(dataset, spec, query, where, columns), spec)
    nearest: dict[str, Any] = {
        "column": "vector",
        # an Arrow array skips pylance's float64 round trip of a numpy query (~0.1 ms)
        "q": pa.array(query.vector, pa.float32()),
        "k": query.k,
        "metric": spec.metric,
    }
    defaults = query_defaults(dataset)
    for knob in ("nprobes", "ef", "refine_factor"):
        value = getattr(query, knob)
        if value is None:
            value = defaults.get(knob)
        if value is not None:
            nearest[knob] = value
    if "ef" in nearest:
        # Lance rejects ef below the candidates it must return (k * refine_factor),
        # e.g. a large k with the caller's ef
        nearest["ef"] = max(nearest["ef"], query.k * nearest.get("refine_factor", 1))
    table = dataset.to_table(
        columns=[*columns, _DISTANCE],
        nearest=nearest,
        filter=where.sql,
        prefilter=where.sql is not None,
    )
    return _vector_hits(table, spec)


def _exact_search(
    dataset: lance.LanceDataset,
    spec: TableSpec,
    query: VectorQuery,
    where: CompiledFilter,
    columns: list[str],
) -> pa.Table:
    """Brute force over the rows passing the filter (pushed-down part, then residual)."""
    needed = sorted({*columns, *where.residual_columns, "vector"})
    best: list[tuple[float, int, int]] = []  # (-distance, batch, row): a max-heap of the k best
    kept: list[pa.RecordBatch] = []
    for batch in dataset.to_batches(columns=needed, filter=where.sql, batch_size=_RESIDUAL_BATCH):
        if batch.num_rows == 0:
            continue
        if where.residual is not None:
            batch = batch.filter(pa.array(_residual_mask(batch, where)))
            if batch.num_rows == 0:
                continue
        matrix = vectors_to_numpy(batch.column("vector"), spec.dimension)
        distances = lance_distances(matrix, query.vector, spec.metric)
        index = len(kept)
        kept.append(batch)
        for row in np.argsort(distances, kind="stable")[: query.k]:
            item = (-float(distances[row]), -index, -int(row))
            if len(best) < query.k:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heapreplace(best, item)
    ordered = sorted(best, reverse=True)
    rows = [kept[-b].slice(-r, 1).select(columns) for _, b, r in ordered]
    table = (
        pa.Table.from_batches(rows)
        if rows
        else pa.Table.from_batches([], schema=dataset.schema).select(columns)
    )
    return table.append_column(_DISTANCE, pa.array([-d for d, _, _ in ordered], pa.float32()))


def _residual_mask(batch: pa.RecordBatch, where: CompiledFilter) -> list[bool]:
    data = batch.select(list(where.residual_columns)).to_pylist()
    if "metadata" in where.residual_columns:
        for row in data:
            row["metadata"] = decode_metadata(row["metadata"])
    return [where.matches(row) for row in data]


def lance_distances(matrix: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    """Distances in Lance's conventions: squared L2, 1 - cosine, 1 - dot."""
    if metric == "l2":
        diff = matrix - query
        return np.einsum("ij,ij->i", diff, diff)
    dots = matrix @ query
    if metric == "dot":
        return 1.0 - dots
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norms > 0, dots / norms, 0.0)
    return 1.0 - cosine


def _vector_hits(table: pa.Table, spec: TableSpec) -> list[Hit]:
    distances, scores = distances_and_scores(table.column(_DISTANCE).to_pylist(), spec.metric)
    return _hits(table, spec, scores, distance=distances)


def text_search(
    dataset: lance.LanceDataset,
    spec: TableSpec,
    query: TextQuery,
    where: CompiledFilter,
    columns: list[str],
) -> list[Hit]:
    full_text = build_text_query(query)
    if where.residual is None:
        table = dataset.to_table(
            columns=[*columns, _SCORE],
            full_text_query=full_text,
            filter=where.sql,
            prefilter=where.sql is not None,
            limit=query.k,
        )
        return _text_hits(table, spec)
    needed = sorted({*columns, *where.residual_columns})
    table = dataset.to_table(
        columns=[*needed, _SCORE],
        full_text_query=full_text,
        filter=where.sql,
        prefilter=where.sql is not None,
    )
    mask = [match for batch in table.to_batches() for match in _residual_mask(batch, where)]
    table = table.filter(pa.array(mask, pa.bool_()))
    table = table.sort_by([(_SCORE, "descending"), ("id", "ascending")]).slice(0, query.k)
    return _text_hits(table.select([*columns, _SCORE]), spec)


def build_text_query(query: TextQuery) -> lq.FullTextQuery:
    """Translate the simple query syntax into Lance's structured full-text queries."""
    phrases, must, must_not, terms = _parse_text(query.text)
    columns = list(query.columns)
    boosts = [float(query.columns[c]) for c in columns]

    def match(text: str) -> lq.FullTextQuery:
        if len(columns) == 1:
            return lq.MatchQuery(text, columns[0], boost=boosts[0])
        return lq.MultiMatchQuery(text, columns, boosts=boosts)

    def phrase(text: str) -> lq.FullTextQuery:
        if len(columns) == 1:
            return lq.PhraseQuery(text, columns[0])
        return lq.BooleanQuery([(lq.Occur.SHOULD, lq.PhraseQuery(text, c)) for c in columns])

    clauses: list[tuple[lq.Occur, lq.FullTextQuery]] = []
    clauses += [(lq.Occur.MUST, phrase(p)) for p in phrases]
    clauses += [(lq.Occur.MUST, match(t)) for t in must]
    clauses += [(lq.Occur.MUST_NOT, match(t)) for t in must_not]
    if terms:
        clauses.append((lq.Occur.SHOULD if clauses else lq.Occur.MUST, match(" ".join(terms))))
    if not clauses:
        raise InvalidInputError("the text query has no words to search for")
    if len(clauses) == 1 and clauses[0][0] == lq.Occur.MUST:
        return clauses[0][1]
    if all(occur == lq.Occur.MUST_NOT for occur, _ in clauses):
        raise InvalidInputError("a text query needs at least one word that is not excluded")
    return lq.BooleanQuery(clauses)


def _parse_text(text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    phrases: list[str] = []
    parts = text.split('"')
    plain: list[str] = []
    for position, part in enumerate(parts):
        if position % 2 == 1 and position < len(parts) - 1:
            if part.strip():
                phrases.append(part.strip())
        else:
            plain.append(part)
    must: list[str] = []
    must_not: list[str] = []
    terms: list[str] = []
    for word in " ".join(plain).split():
        if word.startswith("+") and len(word) > 1:
            must.append(word[1:])
        elif word.startswith("-") and len(word) > 1:
            must_not.append(word[1:])
        else:
            terms.append(word)
    return phrases, must, must_not, terms


def _text_hits(table: pa.Table, spec: TableSpec) -> list[Hit]:
    scores = [float(score) for score in table.column(_SCORE).to_pylist()]
    return _hits(table, spec, scores, text_score=scores)


def hybrid_search(
    vector_leg: Callable[[], list[Hit]],
    text_leg: Callable[[], list[Hit]],
    fusion: Fusion,
    k: int,
    pool: ThreadPoolExecutor,
) -> list[Hit]:
    """Run both retrievers concurrently and fuse their lists.

    Each retriever reads the stored columns of its own hits: measured against returning ids
    alone and reading the final hits afterwards, that extra read cost more than it saved.
    """
    vector_future = pool.submit(vector_leg)
    text_hits = text_leg()
    fused = fusion(vector_future.result(), text_hits, k)
    if not isinstance(fused, list) or not all(isinstance(h, Hit) for h in fused):
        raise InvalidInputError("a fusion callable must return a list of Hit")
    return fused[:k]


def resident_search(
    dataset: lance.LanceDataset,
    spec: TableSpec,
    graph: ResidentGraph,
    version: VersionKey,
    query: VectorQuery,
    columns: list[str],
) -> SearchResults | None:
    """Nearest neighbours from the table's in-memory graph; None if it is no longer at the
    dataset's ``version`` (the caller then asks Lance)."""
    found = graph.search(query, version)
    if found is None:
        return None
    if columns == ["id"]:  # from memory alone: the hot path of a resident table
        return SearchResults(found)
    table = dataset._take_rows(graph.addresses[found.positions].tolist(), columns=columns)
    if version_key(dataset) != version:  # the pooled handle moved: addresses may be stale
        return None
    table = table.append_column(_DISTANCE, pa.array(found.distances(), pa.float32()))
    return SearchResults(_vector_hits(table, spec))


def _hits(
    table: pa.Table,
    spec: TableSpec,
    score: list[float],
    *,
    distance: list[float] | None = None,
    text_score: list[float] | None = None,
) -> list[Hit]:
    """Hits from a result table, converted column by column (far cheaper than per row)."""
    table = with_float32_vectors(table)
    values = {
        name: table.column(name).to_pylist()
        for name in table.column_names
        if name not in (_DISTANCE, _SCORE)
    }
    missing: list[Any] = [None] * table.num_rows
    # not fetched: None, where a stored document without metadata reads as {}
    metadata = (
        [decode_metadata(raw) for raw in values["metadata"]] if "metadata" in values else missing
    )
    declared = [name for name in spec.fields if name in values]
    vectors = values.get("vector", missing)
    distances = distance or missing
    text_scores = text_score or missing
    return [
        Hit(
            values["id"][row],
            score[row],
            distance=distances[row],
            text_score=text_scores[row],
            text=text,
            metadata=metadata[row],
            fields={name: values[name][row] for name in declared},
            vector=vectors[row],
        )
        for row, text in enumerate(values.get("text", missing))
    ]
