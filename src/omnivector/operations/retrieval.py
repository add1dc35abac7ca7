"""The retrievers: vector (ANN or exact), full-text (BM25), resident graph, and their fusion.

Filters arrive compiled (:mod:`omnivector.core.filters`): the SQL part is pushed down to Lance as
a prefilter; a residual on metadata keys is evaluated here, exactly. Vector searches with a
residual fall back to an exact scan of the pushed-down candidates, so a filter never costs
recall.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector.core.background import submit
from omnivector.core.conversion import decode_metadata, vectors_to_numpy, with_float32_vectors
from omnivector.core.errors import InvalidInputError
from omnivector.core.filters import MATCH_ALL, CompiledFilter
from omnivector.core.fusion import Fusion
from omnivector.core.query import TextQuery, VectorQuery
from omnivector.core.results import Hit, SearchResults, distances_and_scores
from omnivector.core.schema import TableSpec
from omnivector.indexing.catalog import query_defaults
from omnivector.resident import exact
from omnivector.resident.graph import ResidentGraph
from omnivector.storage.datasets import Dataset
from omnivector.storage.fulltext import build_text_query
from omnivector.storage.unique_ids import VersionKey, version_key

__all__ = [
    "HYBRID_TEXT_DEPTH",
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
    dataset: Dataset,
    spec: TableSpec,
    query: VectorQuery,
    where: CompiledFilter,
    columns: list[str],
) -> list[Hit]:
    if where.residual is not None:
        return _vector_hits(_exact_search(dataset, spec, query, where, columns), spec)
    nearest: dict[str, Any] = {
        "column": "vector",
        # an Arrow array skips pylance's float64 round trip of a numpy query (~0.1 ms)
        "q": pa.array(query.vector, pa.float32()),
        "k": query.k,
        "metric": spec.metric,
    }
    if query.exact:  # Lance's own flat search: twice as fast as reading the vectors out
        nearest["use_index"] = False
    else:
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
    dataset: Dataset,
    spec: TableSpec,
    query: VectorQuery,
    where: CompiledFilter,
    columns: list[str],
) -> pa.Table:
    """Brute force over the rows passing the filter (pushed-down part, then residual).

    The scan reads the vectors (and the residual's columns) with row addresses and keeps
    each batch's best ``k`` alone; the requested columns are then read for the ``k`` winners
    only."""
    distances: list[np.ndarray] = []
    addresses: list[np.ndarray] = []
    for batch in _passing(dataset, where, ["vector"]):
        matrix = vectors_to_numpy(batch.column("vector"), spec.dimension)
        values = lance_distances(matrix, query.vector, spec.metric)
        _, best = exact.nearest(values, query.k, "l2")  # the smallest distances
        distances.append(values[best])
        addresses.append(batch.column("_rowaddr").to_numpy()[best].astype(np.uint64))
    if not distances:
        empty = pa.Table.from_batches([], schema=dataset.schema).select(columns)
        return empty.append_column(_DISTANCE, pa.array([], pa.float32()))
    values = np.concatenate(distances)
    _, chosen = exact.nearest(values, query.k, "l2")  # ties: the earlier row in scan order
    table = dataset._take_rows(np.concatenate(addresses)[chosen].tolist(), columns=columns)
    return table.append_column(_DISTANCE, pa.array(values[chosen], pa.float32()))


def _matching(dataset: Dataset, where: CompiledFilter) -> np.ndarray:
    """The row addresses of the rows that pass ``where``."""
    addresses = [
        batch.column("_rowaddr").to_numpy().astype(np.uint64)
        for batch in _passing(dataset, where, [])
    ]
    return np.concatenate(addresses) if addresses else np.empty(0, np.uint64)


def _passing(
    dataset: Dataset, where: CompiledFilter, columns: list[str]
) -> Iterator[pa.RecordBatch]:
    """Non-empty batches of ``columns`` (with the residual's columns and row addresses) of
    the rows that pass ``where``: the pushed-down part in Lance, the residual here."""
    scanner = dataset.scanner(
        columns=sorted({*columns, *where.residual_columns}) or ["id"],
        filter=where.sql,
        with_row_address=True,
        batch_size=_RESIDUAL_BATCH,
    )
    for batch in scanner.to_batches():
        if where.residual is not None and batch.num_rows:
            batch = batch.filter(pa.array(_residual_mask(batch, where), pa.bool_()))
        if batch.num_rows:
            yield batch


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
    dataset: Dataset,
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
        # equal scores in id order, whether Lance found the rows in its index or by a scan
        return _text_hits(table.sort_by([(_SCORE, "descending"), ("id", "ascending")]), spec)
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


def _text_hits(table: pa.Table, spec: TableSpec) -> list[Hit]:
    scores = [float(score) for score in table.column(_SCORE).to_pylist()]
    return _hits(table, spec, scores, text_score=scores)


def hybrid_search(
    vector_leg: Callable[[], list[Hit]],
    text_leg: Callable[[], list[Hit]],
    fusion: Fusion,
    k: int,
    pool: Executor,
) -> list[Hit]:
    """Run both retrievers concurrently and fuse their lists.

    Each retriever reads the stored columns of its own hits: measured against returning ids
    alone and reading the final hits afterwards, that extra read cost more than it saved.
    """
    vector_future = submit(pool, vector_leg)
    text_hits = text_leg()
    fused = fusion(vector_future.result(), text_hits, k)
    if not isinstance(fused, list) or not all(isinstance(h, Hit) for h in fused):
        raise InvalidInputError("a fusion callable must return a list of Hit")
    return fused[:k]


def resident_search(
    dataset: Dataset,
    spec: TableSpec,
    graph: ResidentGraph,
    version: VersionKey,
    query: VectorQuery,
    columns: list[str],
    where: CompiledFilter = MATCH_ALL,
) -> SearchResults | None:
    """Nearest neighbours from the table's in-memory graph (of the rows ``where`` lets
    through: the row addresses it matches, read from Lance once per filter and version);
    None if the graph is no longer at the dataset's ``version`` (the caller then asks
    Lance)."""
    allowed = None
    if not where.is_empty:

        def matching() -> np.ndarray | None:  # None: the pooled handle moved meanwhile
            addresses = _matching(dataset, where)
            return addresses if version_key(dataset) == version else None

        allowed = graph.allow_list(version, where.key, matching)
        if allowed is None:
            return None
    found = graph.search(query, version, allowed)
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
