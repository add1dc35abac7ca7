"""Document writes: add, upsert and delete.

Each write validates its whole input first (a rejected write changes nothing), then holds the
table's write lock across the uniqueness check and the commit, so ids stay unique across
threads and processes. A commit that loses a race with another process is retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import pyarrow as pa

from omnivector.core.background import submit
from omnivector.core.checks import check_vectors
from omnivector.core.errors import (
    CommitConflictError,
    DuplicateIdError,
    InvalidInputError,
    OmnivectorError,
    UnsafeOperationError,
    is_commit_conflict,
    lance_errors,
)
from omnivector.core.filters import MATCH_ALL, CompiledFilter, ids_filter
from omnivector.core.results import WriteResult
from omnivector.embeddings import EmbeddingFunction, fill_vectors
from omnivector.operations.reads import check_ids, chunks, compile_where, scan
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Transaction, always_true
from omnivector.storage.unique_ids import (
    SortedIdHashes,
    check_batch_ids,
    check_new_ids,
    record_append,
)

__all__ = ["add", "delete", "extra_schema", "prepare", "upsert"]

T = TypeVar("T")

_ID_CHUNK = 512
_COMMIT_RETRIES = 8


def add(
    ctx: TableContext, data: Any, *, embedding: Callable[[], EmbeddingFunction] | None
) -> WriteResult:
    """Insert new documents; any id already stored or repeated raises ``DuplicateIdError``
    and nothing is written."""
    table = prepare(ctx, data, embedding=embedding, defer_checks=True)
    if table.num_rows == 0:
        return WriteResult(version=int(ctx.dataset().version))
    services = ctx.services
    datasets = services.datasets

    def commit() -> WriteResult:
        # A worker writes the data files while this thread checks the rows and then the
        # ids (Lance's writer leaves most of a second core idle); the files are committed
        # only if all is well.
        dataset = ctx.writable_dataset()
        writing = submit(services.write_pool, datasets.write_files, table, dataset)
        try:
            ids = table.column("id")
            hashes = SortedIdHashes.of(ids)
            check_batch_ids(ids, hashes)
            check_vectors(table, metric=ctx.spec.metric)
            check = check_new_ids(services.digests, ctx.name, dataset, ids, hashes)
        except BaseException:
            _drop_files(ctx, writing)
            raise
        with lance_errors(f"adding to {ctx.name!r}"):
            transaction = writing.result()
        taken = check.taken
        if taken:
            _drop_files(ctx, writing)
            raise DuplicateIdError(
                f"{len(taken)} id(s) already exist in table {ctx.name!r}, e.g. "
                f"{sorted(taken)[:5]}; nothing was written. Use upsert() to replace them",
                sorted(taken),
            )
        written = datasets.commit(ctx.name, dataset, transaction)
        record_append(services.digests, ctx.name, check, written)
        return WriteResult(inserted=table.num_rows, version=int(written.version))

    result = _write(ctx, commit)
    services.after_write(ctx.name)
    return result


def upsert(
    ctx: TableContext, data: Any, *, embedding: Callable[[], EmbeddingFunction] | None
) -> WriteResult:
    """Insert documents, replacing stored documents with the same id."""
    table = prepare(ctx, data, embedding=embedding)
    if table.num_rows == 0:
        return WriteResult(version=int(ctx.dataset().version))

    datasets = ctx.services.datasets

    def commit() -> WriteResult:
        dataset = ctx.writable_dataset()
        action = f"upserting into {ctx.name!r}"
        try:
            with lance_errors(action):
                transaction, stats = (
                    dataset.merge_insert("id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute_uncommitted(_reader(table))
                )
        except OmnivectorError:
            datasets.drop_failed_deletions(ctx.name, int(dataset.version))
            raise
        written = datasets.commit(ctx.name, dataset, transaction, action=action)
        return WriteResult(
            inserted=int(stats["num_inserted_rows"]),
            updated=int(stats["num_updated_rows"]),
            version=int(written.version),
        )

    result = _write(ctx, commit)
    ctx.services.after_write(ctx.name)
    return result


def delete(
    ctx: TableContext,
    ids: Sequence[str] | None,
    *,
    where: Mapping[str, Any] | None,
    where_sql: str | None,
    everything: bool = False,
) -> WriteResult:
    """Delete documents by id, by filter, or every one (``everything``); ``deleted`` counts
    the rows removed. A filter that matches every row whatever the data (``{}``, ``1=1``)
    is refused with ``UnsafeOperationError``: deleting everything must be asked for."""
    ctx.check_writable()
    if not isinstance(everything, bool):
        raise InvalidInputError(f"all must be True or False, got {everything!r}")
    if (ids is not None) + (where is not None or where_sql is not None) + everything != 1:
        raise InvalidInputError(
            "pass one of ids=[...], where={...} (or where_sql=...) or all=True to delete()"
        )
    compiled = MATCH_ALL if everything else compile_where(ctx, where, where_sql)
    if ids is None and not everything:
        _refuse_match_all(ctx, compiled, user_sql=where_sql is not None)
    id_list = check_ids(ids) if ids is not None else None
    if id_list is not None and not id_list:
        return WriteResult(version=int(ctx.dataset().version))

    def commit() -> WriteResult:
        dataset = ctx.writable_dataset()
        if id_list is not None:
            predicates = [ids_filter(chunk) for chunk in chunks(id_list, _ID_CHUNK)]
        elif compiled.residual is not None:
            matching = [row["id"] for row in scan(ctx, dataset, compiled, ["id"])]
            predicates = [ids_filter(chunk) for chunk in chunks(matching, _ID_CHUNK)]
        else:
            predicates = [compiled.sql or "true"]
        deleted = 0
        with lance_errors(f"deleting from {ctx.name!r}", user_sql=where_sql is not None):
            for predicate in predicates:
                before = dataset.count_rows()
                try:
                    dataset.delete(predicate)
                except Exception:
                    ctx.services.datasets.drop_failed_deletions(ctx.name, int(dataset.version))
                    raise
                deleted += before - dataset.count_rows()
        ctx.publish(dataset)
        return WriteResult(deleted=deleted, version=int(dataset.version))

    result = _write(ctx, commit)
    ctx.services.after_write(ctx.name)
    return result


def _refuse_match_all(ctx: TableContext, compiled: CompiledFilter, *, user_sql: bool) -> None:
    """Raise ``UnsafeOperationError`` for a filter that matches every row by itself."""
    if not compiled.is_empty:
        if compiled.residual is not None or compiled.sql is None:
            return  # a condition on metadata keys: true only for some rows
        with lance_errors(f"checking the filter on {ctx.name!r}", user_sql=user_sql):
            if not always_true(ctx.dataset(), compiled.sql):
                return
    raise UnsafeOperationError(
        f"this filter matches every document of {ctx.name!r} whatever they hold, so "
        "delete() would empty the table; nothing was deleted. Pass all=True to delete "
        "every document (or a filter that names what to delete)"
    )


def prepare(
    ctx: TableContext,
    data: Any,
    *,
    embedding: Callable[[], EmbeddingFunction] | None,
    defer_checks: bool = False,
) -> pa.Table:
    """Validate ``data`` and convert it to the stored schema; ``embedding`` (the table's
    embedding function, fetched when first needed) makes the vectors documents lack.
    ``defer_checks`` leaves the checks that read every value to the caller."""
    ctx.check_writable()
    if embedding is not None:
        data = fill_vectors(data, embedding, ctx.spec.dimension)
    table = ctx.spec.to_arrow(data, extra_schema=extra_schema(ctx), defer_checks=defer_checks)
    if not defer_checks:
        check_batch_ids(table.column("id"))
    return table


def extra_schema(ctx: TableContext) -> pa.Schema:
    """Columns added by schema evolution beyond the spec's declared fields."""
    known = {"id", "vector", "text", "metadata", *ctx.spec.fields}
    return pa.schema([f for f in ctx.dataset().schema if f.name not in known])


def _write(ctx: TableContext, commit: Callable[[], T]) -> T:
    delay = 0.02
    for attempt in range(_COMMIT_RETRIES):
        try:
            with ctx.services.locks.write(ctx.name):
                return commit()
        except CommitConflictError as exc:
            if attempt == _COMMIT_RETRIES - 1:
                raise
            cause = exc.__cause__
            if cause is not None and not is_commit_conflict(cause):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def _drop_files(ctx: TableContext, writing: Future[Transaction]) -> None:
    """Wait for a write that will not be committed and remove its data files."""
    try:
        transaction = writing.result()
    except Exception:  # the write failed too: it committed nothing
        return
    ctx.services.datasets.drop_written(ctx.name, transaction)


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
