"""Reading documents: get by id, count, stream, and the filtered scan they share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from omnivector.core.conversion import rows_from_arrow
from omnivector.core.errors import InvalidInputError, lance_errors
from omnivector.core.filters import MATCH_ALL, CompiledFilter, compile_filter, ids_filter
from omnivector.operations.retrieval import result_columns
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset

__all__ = ["check_ids", "chunks", "compile_where", "count", "get", "iter_documents", "scan"]

T = TypeVar("T")

_ID_CHUNK = 512


def get(
    ctx: TableContext, ids: Sequence[str] | str, *, include_vector: bool
) -> list[dict[str, Any]]:
    """Stored documents for ``ids``, in the order asked; missing ids are left out."""
    wanted = check_ids([ids] if isinstance(ids, str) else ids)
    if not wanted:
        return []
    dataset = ctx.dataset()
    columns = result_columns(ctx.spec, None) + (["vector"] if include_vector else [])
    found: dict[str, dict[str, Any]] = {}
    with lance_errors(f"reading from {ctx.name!r}"):
        for chunk in chunks(list(dict.fromkeys(wanted)), _ID_CHUNK):
            table = dataset.to_table(columns=columns, filter=ids_filter(chunk))
            for row in rows_from_arrow(table):
                found[row["id"]] = row
    return [found[i] for i in wanted if i in found]


def count(ctx: TableContext, where: Mapping[str, Any] | None, where_sql: str | None) -> int:
    """Number of documents, optionally only those matching a filter."""
    compiled = compile_where(ctx, where, where_sql)
    dataset = ctx.dataset()
    if compiled.residual is None:
        with lance_errors(f"counting {ctx.name!r}", user_sql=where_sql is not None):
            return int(dataset.count_rows(filter=compiled.sql))
    return sum(1 for _ in scan(ctx, dataset, compiled, ["id"]))


def iter_documents(
    ctx: TableContext,
    *,
    where: Mapping[str, Any] | None,
    include_vector: bool,
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """Stream every (matching) document."""
    compiled = compile_where(ctx, where, None)
    columns = result_columns(ctx.spec, None) + (["vector"] if include_vector else [])
    yield from scan(ctx, ctx.dataset(), compiled, columns, batch_size=batch_size)


def to_arrow(ctx: TableContext) -> pa.Table:
    """The whole table as Arrow (metadata column left encoded)."""
    with lance_errors(f"reading {ctx.name!r}"):
        return ctx.dataset().to_table()


def compile_where(
    ctx: TableContext, where: Mapping[str, Any] | None, where_sql: str | None
) -> CompiledFilter:
    if where is None and where_sql is None:
        return MATCH_ALL
    return compile_filter(where, dict(ctx.spec.fields), where_sql=where_sql)


def scan(
    ctx: TableContext,
    dataset: Dataset,
    compiled: CompiledFilter,
    columns: list[str],
    *,
    batch_size: int = 4096,
) -> Iterator[dict[str, Any]]:
    """The ``columns`` of every row matching ``compiled`` (its residual checked here)."""
    needed = list(dict.fromkeys([*columns, *compiled.residual_columns]))
    with lance_errors(f"scanning {ctx.name!r}"):
        batches = dataset.to_batches(columns=needed, filter=compiled.sql, batch_size=batch_size)
        for batch in batches:
            for row in rows_from_arrow(batch):
                if compiled.matches(row):
                    yield {c: row[c] for c in columns}


def check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence | set | frozenset):
        raise InvalidInputError("ids must be a list of strings")
    result = list(ids)
    for value in result:
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"ids must be non-empty strings, got {value!r}")
    return result


def chunks(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
