"""Embedding on write and on query: texts in, checked vectors out.

Documents without a vector (no ``vector`` key or column, or a null one) get one from their
``text`` with ``embed_documents``; every text and every returned vector is checked first,
so a bad row raises :class:`InvalidInputError` naming it and nothing is written.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from omnivector.core.conversion import (
    WRITE_BATCH_ROWS,
    dataframe_to_arrow,
    is_dataframe,
    iter_arrow_batches,
    vectors_to_numpy,
)
from omnivector.core.errors import (
    DimensionMismatchError,
    EmbeddingError,
    InvalidInputError,
    OmnivectorError,
)
from omnivector.embeddings.base import EmbeddingFunction

__all__ = ["Resolve", "embed_query", "fill_vectors"]

#: Gives the embedding function when a document needs one (it may load a model).
Resolve = Callable[[], EmbeddingFunction]


def embed_query(function: EmbeddingFunction, query: object) -> np.ndarray:
    """The query's vector from ``embed_queries``, checked."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"query= must be a non-empty string, got {query!r}")
    return _checked(function, function.embed_queries, [query], [-1], ["query"])[0]


def fill_vectors(data: Any, resolve: Resolve, dimension: int) -> Any:
    """``data`` with every missing vector embedded from its text.

    ``resolve()`` gives the embedding function; it is called only when some document lacks
    a vector. Dicts come back as a list of dicts; Arrow and DataFrame input with missing
    vectors as a ``RecordBatchReader`` with a float32 ``vector`` column; input with every
    vector as it was.
    """
    if isinstance(data, Mapping):
        data = [data]
    if isinstance(data, list) and all(isinstance(row, Mapping) for row in data):
        return _fill_rows(data, resolve)
    if is_dataframe(data):
        data = dataframe_to_arrow(data)
    if isinstance(data, pa.Table) and "vector" in data.column_names:
        column = data.column("vector")
        if column.null_count == 0 and not pa.types.is_null(column.type):
            return data
    batches = iter_arrow_batches(data)
    first = next(batches, None)
    if first is None:
        return data
    vector = pa.field("vector", pa.list_(pa.float32(), dimension))
    schema = first.schema
    if "vector" in schema.names:
        schema = schema.set(schema.get_field_index("vector"), vector)
    else:
        schema = schema.append(vector)
    filled = _fill_batches(itertools.chain([first], batches), resolve, dimension)
    return pa.RecordBatchReader.from_batches(schema, filled)


def _fill_rows(rows: list[Mapping[str, Any]], resolve: Resolve) -> list[Any]:
    missing = [i for i, row in enumerate(rows) if row.get("vector") is None]
    if not missing:
        return rows
    filled: list[Any] = list(rows)
    for start in range(0, len(missing), WRITE_BATCH_ROWS):
        positions = missing[start : start + WRITE_BATCH_ROWS]
        ids = [rows[i].get("id") for i in positions]
        texts = [_text(rows[i].get("text"), i, ids[n]) for n, i in enumerate(positions)]
        function = resolve()
        matrix = _checked(function, function.embed_documents, texts, positions, ids)
        for position, vector in zip(positions, matrix, strict=True):
            filled[position] = {**rows[position], "vector": vector}
    return filled


def _fill_batches(
    batches: Iterator[pa.RecordBatch], resolve: Resolve, dimension: int
) -> Iterator[pa.RecordBatch]:
    offset = 0
    for batch in batches:
        yield _fill_batch(batch, resolve, dimension, offset)
        offset += batch.num_rows


def _fill_batch(
    batch: pa.RecordBatch, resolve: Resolve, dimension: int, offset: int
) -> pa.RecordBatch:
    rows = batch.num_rows
    names = batch.schema.names
    column = batch.column("vector") if "vector" in names else None
    if column is None or pa.types.is_null(column.type):
        missing = np.ones(rows, dtype=bool)
    else:
        missing = column.is_null().to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(missing)
    matrix = np.empty((rows, dimension), dtype=np.float32)
    if column is not None and len(positions) < rows:
        matrix[~missing] = vectors_to_numpy(column.filter(pa.array(~missing)), dimension)
    if len(positions):
        ids = batch.column("id").take(pa.array(positions)).to_pylist() if "id" in names else []
        ids += [None] * (len(positions) - len(ids))
        if "text" not in names:
            raise InvalidInputError(
                f"row {offset + positions[0]} (id {ids[0]!r}) has no vector and there is no "
                "'text' column to embed it from"
            )
        text = batch.column("text")
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
            raise InvalidInputError(
                f"row {offset + positions[0]} (id {ids[0]!r}) needs its text embedded, but "
                f"the 'text' column holds {text.type}, not strings"
            )
        values = text.take(pa.array(positions)).to_pylist()
        where = [offset + int(p) for p in positions]
        texts = [_text(v, where[n], ids[n]) for n, v in enumerate(values)]
        function = resolve()
        matrix[positions] = _checked(function, function.embed_documents, texts, where, ids)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dimension)
    if column is None:
        return batch.append_column("vector", vectors)
    return batch.set_column(names.index("vector"), "vector", vectors)


def _text(value: object, row: int, doc_id: object) -> str:
    if not isinstance(value, str):
        what = "missing" if value is None else f"a {type(value).__name__}, not a string"
        raise InvalidInputError(
            f"row {row} (id {doc_id!r}) has no vector and its text is {what}: give it a "
            "text to embed, or a vector"
        )
    if not value.strip():
        raise InvalidInputError(
            f"row {row} (id {doc_id!r}) has no vector and an empty text: nothing to embed"
        )
    return value


def _checked(
    function: EmbeddingFunction,
    embed: Any,
    texts: list[str],
    rows: Sequence[int],
    ids: Sequence[object],
) -> np.ndarray:
    """``embed(texts)`` as a float32 matrix, refused unless one finite vector of the
    function's dimension came back per text."""
    name = function.config.name
    try:
        result = embed(texts)
    except OmnivectorError:
        raise
    except Exception as exc:  # a user's or a library's model failing in its own way
        raise EmbeddingError(f"the embedding function {name!r} failed: {exc}") from exc
    try:
        matrix = np.asarray(result, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the embedding function {name!r} returned something that is not a matrix of "
            f"numbers: {exc}"
        ) from exc
    if matrix.ndim != 2 or matrix.shape[0] != len(texts):
        got = matrix.shape[0] if matrix.ndim else 0
        raise InvalidInputError(
            f"the embedding function {name!r} returned {got} vector(s) for {len(texts)} "
            f"text(s) (rows {_span(rows)}); it must return one per text"
        )
    if matrix.shape[1] != function.dimension:
        raise DimensionMismatchError(
            f"the embedding function {name!r} returned vectors of length {matrix.shape[1]} for "
            f"{_row(rows[0], ids[0])}; its dimension is {function.dimension}"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InvalidInputError(
            f"the embedding function {name!r} returned NaN or infinity for "
            f"{_row(rows[bad], ids[bad])}"
        )
    return matrix


def _row(row: int, doc_id: object) -> str:
    return "the query" if row < 0 else f"row {row} (id {doc_id!r})"


def _span(rows: Sequence[int]) -> str:
    if rows[0] < 0:
        return "the query"
    return f"{rows[0]}..{rows[-1]}" if len(rows) > 1 else str(rows[0])
