"""Search on one table: vector, full-text or hybrid, from the resident graph or from Lance.

Filters are compiled once; a graph answers vector queries (filtered and exact ones too)
when it is at the dataset's version, Lance answers the rest (see
:mod:`omnivector.operations.retrieval`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from omnivector.core.checks import query_vector
from omnivector.core.errors import InvalidInputError, lance_errors
from omnivector.core.filters import MATCH_ALL, CompiledFilter
from omnivector.core.fusion import RRF, Fusion
from omnivector.core.normalize import normalize_hits
from omnivector.core.query import TextQuery, VectorQuery
from omnivector.core.rerank import Reranker, apply_reranker, candidates, check_reranker
from omnivector.core.results import SearchResults
from omnivector.core.validation import is_integer, is_number
from omnivector.indexing.catalog import has_fts_index, has_vector_index
from omnivector.operations.reads import compile_where
from omnivector.operations.retrieval import (
    HYBRID_TEXT_DEPTH,
    hybrid_search,
    resident_search,
    result_columns,
    text_search,
    vector_search,
)
from omnivector.resident.graphs import ResidentGraphs
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset

__all__ = ["check_positive", "search"]


def search(
    ctx: TableContext,
    *,
    vector: Any,
    text: str | None,
    k: int,
    where: Mapping[str, Any] | None,
    where_sql: str | None,
    columns: Sequence[str] | None,
    fusion: Fusion | None,
    text_columns: Sequence[str] | Mapping[str, float] | None,
    nprobes: int | None,
    ef: int | None,
    refine_factor: int | None,
    exact: bool,
    graphs: ResidentGraphs | None,
    rerank: Reranker | None = None,
    normalize_scores: bool = False,
) -> SearchResults:
    """Vector, full-text or hybrid search (see ``Table.search``); ``text`` is also what a
    reranker is given."""
    if not isinstance(normalize_scores, bool):
        raise InvalidInputError(f"normalize_scores must be True or False, not {normalize_scores!r}")
    if rerank is not None or normalize_scores:
        reranker = check_reranker(rerank) if rerank is not None else None
        limit = check_positive("k", k)
        first = search(
            ctx, vector=vector, text=text, k=candidates(limit) if reranker else limit,
            where=where, where_sql=where_sql, columns=columns, fusion=fusion,
            text_columns=text_columns, nprobes=nprobes, ef=ef, refine_factor=refine_factor,
            exact=exact, graphs=graphs,
        )  # fmt: skip
        hits = list(first)
        if reranker is not None:
            hits = apply_reranker(reranker, text, hits, limit)
        if normalize_scores:
            hits = normalize_hits(
                hits,
                metric=ctx.spec.metric,
                vector=vector is not None,
                text=text is not None,
                fusion=fusion,
                reranked=reranker is not None,
            )
        return SearchResults(hits)
    if vector is None and text is None:
        raise InvalidInputError("search needs vector=, text= or query=")
    limit = check_positive("k", k)
    for knob, value in (("nprobes", nprobes), ("ef", ef), ("refine_factor", refine_factor)):
        if value is not None:
            check_positive(knob, value)
    dataset = ctx.dataset()
    # a graph may answer: not for a checked-out version
    if ctx.read_only:
        graphs = None
    vector_query = text_query = None
    if vector is not None:
        vector_query = VectorQuery(
            vector=query_vector(vector, ctx.spec.dimension, ctx.spec.metric),
            k=limit,
            nprobes=nprobes,
            ef=ef,
            refine_factor=refine_factor,
            exact=bool(exact),
        )
        shortest = columns == ["id"] and text is None and where is None and where_sql is None
        if shortest and graphs is not None:
            # the shortest path: a graph answers in a fraction of what the general one
            # costs in Python
            found = _from_graph(ctx, graphs, dataset, vector_query, ["id"])
            if found is not None:
                return found
    compiled = compile_where(ctx, where, where_sql)
    wanted = result_columns(ctx.spec, columns)
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("text must be a non-empty string")
        boosts = _text_columns(ctx, text_columns)
        _check_text_indexes(ctx, dataset, boosts)
        text_query = TextQuery(text=text, k=limit, columns=boosts)
    with lance_errors(f"searching {ctx.name!r}", user_sql=where_sql is not None):
        if vector_query is not None and text_query is not None:
            # BM25 candidates are cheap, ANN ones are not: the text leg goes deeper
            deeper = TextQuery(text_query.text, HYBRID_TEXT_DEPTH * limit, text_query.columns)
            nearest = partial(_nearest, ctx, graphs, dataset, vector_query, compiled, wanted)
            hits = hybrid_search(
                lambda: list(nearest()),
                partial(text_search, dataset, ctx.spec, deeper, compiled, wanted),
                fusion if fusion is not None else RRF(),
                limit,
                ctx.services.query_pool,
            )
        elif vector_query is not None:
            return _nearest(ctx, graphs, dataset, vector_query, compiled, wanted)
        else:
            assert text_query is not None
            hits = text_search(dataset, ctx.spec, text_query, compiled, wanted)
    return SearchResults(hits)


def _nearest(
    ctx: TableContext,
    graphs: ResidentGraphs | None,
    dataset: Dataset,
    query: VectorQuery,
    where: CompiledFilter,
    columns: list[str],
) -> SearchResults:
    """From the resident graph when it can answer (see omnivector.resident), else Lance."""
    if graphs is None:
        return SearchResults(vector_search(dataset, ctx.spec, query, where, columns))
    found = _from_graph(ctx, graphs, dataset, query, columns, where)
    if found is not None:
        return found
    graphs.passed()
    lance_dataset = graphs.lance_handle(ctx.name, dataset, ctx.spec)
    hits = vector_search(lance_dataset, ctx.spec, query, where, columns)
    # after the answer: a load started first would compete with this query
    graphs.refresh(ctx.name, dataset, ctx.spec)
    return SearchResults(hits)


def _from_graph(
    ctx: TableContext,
    graphs: ResidentGraphs,
    dataset: Dataset,
    query: VectorQuery,
    columns: list[str],
    where: CompiledFilter = MATCH_ALL,
) -> SearchResults | None:
    """The answer of this table's graph if it is at the dataset's version (counted as
    answered from memory), else None (counted by the caller when it asks Lance)."""
    current = graphs.graph(ctx.name, dataset)
    if current is None:
        return None
    if not query.exact and not has_vector_index(dataset):
        # Lance searches a table without a vector index exactly: so does memory
        query = replace(query, exact=True)
    found = resident_search(dataset, ctx.spec, *current, query, columns, where)
    if found is None:
        graphs.retract()
    return found


def _text_columns(
    ctx: TableContext, columns: Sequence[str] | Mapping[str, float] | None
) -> dict[str, float]:
    if columns is None:
        return {"text": 1.0}
    boosts = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns, 1.0)
    allowed = {"text", *[n for n, t in ctx.spec.fields.items() if t == "string"]}
    unknown = sorted(set(boosts) - allowed)
    if unknown or not boosts:
        raise InvalidInputError(
            f"text_columns must name string columns {sorted(allowed)}, got {sorted(boosts)}"
        )
    for name, boost in boosts.items():
        if not is_number(boost) or boost <= 0:
            raise InvalidInputError(f"boost for {name!r} must be a positive number")
    return {name: float(boost) for name, boost in boosts.items()}


def _check_text_indexes(ctx: TableContext, dataset: Dataset, columns: Mapping[str, float]) -> None:
    """A search never builds an index (it would wait for other builds and commit): a column
    without a full-text index is searched by Lance without one, and auto-maintenance is
    asked to build the index in the background."""
    missing = [c for c in columns if not has_fts_index(dataset, c)]
    if not missing:
        return
    if ctx.read_only:
        raise InvalidInputError(
            f"version {dataset.version} has no full-text index on {missing}; text search "
            "on a checked-out version needs one built before that version"
        )
    ctx.services.want_text_indexes(ctx.name, missing)


def check_positive(name: str, value: object) -> int:
    if not (is_integer(value) or isinstance(value, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
