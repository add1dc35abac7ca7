"""Writes through Ray tasks: ``tbl.add(data, engine="ray")`` and ``tbl.upsert(...)``.

Each task validates and converts its block like a local write and writes data files; the driver
checks the ids across blocks and commits every task's files in one commit (an append, or for an
upsert an update that also deletes the rows replaced). See :mod:`omnivector.distributed`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from omnivector.core import errors
from omnivector.core.conversion import WRITE_BATCH_ROWS
from omnivector.core.errors import (
    DuplicateIdError,
    InvalidInputError,
    OmnivectorError,
    lance_errors,
    storage_error,
)
from omnivector.core.filters import ids_filter
from omnivector.core.results import WriteResult
from omnivector.core.schema import TableSpec
from omnivector.distributed.engine import (
    RayEngine,
    ray_modules,
    remote_args,
    worker_count,
    write_lock,
)
from omnivector.embeddings import EmbeddingFunction
from omnivector.operations.writes import extra_schema, prepare
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset, commit_append, commit_update, open_uri
from omnivector.storage.locations import data_files
from omnivector.storage.unique_ids import check_batch_ids, existing_ids, stored_rows

__all__ = ["add", "upsert"]


_RESULT_SCHEMA = pa.schema(
    [
        pa.field("fragments", pa.list_(pa.binary())),
        pa.field("ids", pa.list_(pa.string())),
        pa.field("taken", pa.list_(pa.string())),
        pa.field("error", pa.string()),
        pa.field("message", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class _BlockWriter:
    """The Ray task body of a distributed write: validate, convert, check ids, write files.

    It writes data files but commits nothing: it returns the fragments' metadata, the block's
    ids and any ids already stored, so the driver can refuse the whole write. Caller errors
    come back as values, since Ray does not carry the original exception to the driver.
    """

    table: str
    uri: str
    spec_json: str
    extra_schema: pa.Schema
    storage_options: dict[str, str] | None
    read_version: int | None
    storage_version: str
    max_rows_per_file: int

    def __call__(self, block: pa.Table) -> pa.Table:
        from lance_ray import LanceFragmentWriter

        try:
            spec = TableSpec.from_json(self.spec_json)
            table = spec.to_arrow(_plain_columns(block), extra_schema=self.extra_schema)
            ids = table.column("id")
            check_batch_ids(ids)
            taken: list[str] = []
            if self.read_version is not None:
                with lance_errors(f"opening {self.table!r}"):
                    dataset = open_uri(
                        self.uri, version=self.read_version, storage_options=self.storage_options
                    )
                taken = sorted(existing_ids(dataset, ids, table=self.table))
            fragments: list[bytes] = []
            if not taken and table.num_rows:
                writer = LanceFragmentWriter(
                    self.uri,
                    schema=table.schema,
                    data_storage_version=self.storage_version,
                    storage_options=self.storage_options,
                    max_rows_per_file=self.max_rows_per_file,
                )
                with lance_errors(f"writing to {self.table!r}"):
                    fragments = writer(table).column("fragment").to_pylist()
            return _result(fragments=fragments, ids=ids.combine_chunks(), taken=taken)
        except OmnivectorError as exc:
            taken = list(exc.ids) if isinstance(exc, DuplicateIdError) else []
            return _result(taken=taken, error=exc)


def _result(
    *,
    fragments: list[bytes] | None = None,
    ids: pa.Array | None = None,
    taken: list[str] | None = None,
    error: OmnivectorError | None = None,
) -> pa.Table:
    id_values = ids if ids is not None else pa.array([], pa.string())
    return pa.table(
        [
            pa.array([fragments or []], pa.list_(pa.binary())),
            pa.ListArray.from_arrays(pa.array([0, len(id_values)], pa.int32()), id_values),
            pa.array([taken or []], pa.list_(pa.string())),
            pa.array([type(error).__name__ if error is not None else None], pa.string()),
            pa.array([str(error) if error is not None else None], pa.string()),
        ],
        schema=_RESULT_SCHEMA,
    )


def _plain_columns(block: pa.Table) -> pa.Table:
    """Ray's tensor columns (numpy vectors) as the Arrow lists they are stored as."""
    columns = []
    for column in block.columns:
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array(
                [chunk.storage for chunk in column.chunks], column.type.storage_type
            )
        columns.append(column)
    return pa.table(columns, names=block.column_names)


@dataclass(frozen=True, slots=True)
class _Written:
    """Data files Ray tasks wrote for one write, not committed yet."""

    fragments: list[Any]
    ids: pa.Array
    read_version: int
    last_fragment: int


def add(
    ctx: TableContext,
    data: Any,
    engine: RayEngine,
    *,
    embedding: Callable[[], EmbeddingFunction] | None,
) -> WriteResult:
    """Insert documents with Ray tasks; ``data`` is a ``ray.data.Dataset`` or any input
    ``Table.add`` takes. Same contract as ``Table.add``: new, unique ids or nothing written."""
    written = _write_blocks(ctx, data, engine, embedding, new_ids_only=True)
    if not written.fragments:
        return WriteResult(version=int(ctx.dataset().version))
    try:
        version = _commit_append(ctx, written)
    except DuplicateIdError:
        # refused before the commit; a failed commit leaves its files (a commit that failed
        # late may still reference them)
        ctx.services.datasets.location.remove_files(ctx.name, data_files(written.fragments))
        raise
    ctx.services.after_write(ctx.name)
    return WriteResult(inserted=len(written.ids), version=version)


def upsert(
    ctx: TableContext,
    data: Any,
    engine: RayEngine,
    *,
    embedding: Callable[[], EmbeddingFunction] | None,
) -> WriteResult:
    """Insert documents with Ray tasks, replacing stored documents with the same id in the
    same commit (readers see the old documents or the new ones, never neither)."""
    written = _write_blocks(ctx, data, engine, embedding, new_ids_only=False)
    if not written.fragments:
        return WriteResult(version=int(ctx.dataset().version))
    updated, version = _commit_upsert(ctx, written)
    ctx.services.after_write(ctx.name)
    return WriteResult(inserted=len(written.ids) - updated, updated=updated, version=version)


def _write_blocks(
    ctx: TableContext,
    data: Any,
    engine: RayEngine,
    embedding: Callable[[], EmbeddingFunction] | None,
    *,
    new_ids_only: bool,
) -> _Written:
    """Write ``data`` as data files with one Ray task per block, checking every id is unique
    (and, with ``new_ids_only``, not stored yet); the files are removed if not."""
    ray, _ = ray_modules(engine)
    dataset = ctx.writable_dataset()
    read_version = int(dataset.version)
    last_fragment = max((f.fragment_id for f in dataset.get_fragments()), default=-1)
    writer = _BlockWriter(
        table=ctx.name,
        uri=ctx.uri,
        spec_json=ctx.spec.to_json(),
        extra_schema=extra_schema(ctx),
        storage_options=ctx.services.datasets.storage_options or None,
        read_version=read_version if new_ids_only and dataset.count_rows() else None,
        storage_version=ctx.spec.storage.storage_version,
        max_rows_per_file=engine.max_rows_per_file,
    )
    source = _ray_dataset(ray, ctx, data, embedding, worker_count(ray, engine))
    try:
        outputs = source.map_batches(
            writer, batch_format="pyarrow", **(remote_args(engine) or {})
        ).to_arrow_refs()
        results = pa.concat_tables([_RESULT_SCHEMA.empty_table(), *ray.get(outputs)])
    except OmnivectorError:
        raise
    except Exception as exc:
        raise storage_error(f"the distributed write to {ctx.name!r}", exc) from exc
    fragments = [
        pickle.loads(raw) for row in results.column("fragments").to_pylist() for raw in row
    ]
    try:
        _check_results(ctx.name, results)
    except OmnivectorError:
        ctx.services.datasets.location.remove_files(ctx.name, data_files(fragments))
        raise
    return _Written(
        fragments=fragments,
        ids=pc.list_flatten(results.column("ids")),
        read_version=read_version,
        last_fragment=last_fragment,
    )


def _ray_dataset(
    ray: Any,
    ctx: TableContext,
    data: Any,
    embedding: Callable[[], EmbeddingFunction] | None,
    workers: int,
) -> Any:
    if isinstance(data, ray.data.Dataset):
        return data
    # Local input is validated (and embedded) here; it is split so every worker writes.
    converted = prepare(ctx, data, embedding=embedding)
    step = max(WRITE_BATCH_ROWS, -(-converted.num_rows // workers))
    parts = [converted.slice(start, step) for start in range(0, converted.num_rows, step)]
    return ray.data.from_arrow(parts or [converted])


def _check_results(name: str, results: pa.Table) -> None:
    failed = results.filter(pc.is_valid(results.column("error")))
    if failed.num_rows:
        kind, message = failed.column("error")[0].as_py(), failed.column("message")[0].as_py()
        cls = getattr(errors, kind, None)
        if cls is DuplicateIdError:
            raise DuplicateIdError(message, failed.column("taken")[0].as_py())
        if isinstance(cls, type) and issubclass(cls, OmnivectorError):
            raise cls(message)
        raise InvalidInputError(message)
    taken = sorted(pc.list_flatten(results.column("taken")).to_pylist())
    if taken:
        raise DuplicateIdError(
            f"{len(taken)} id(s) already exist in table {name!r}, e.g. {taken[:5]}; nothing "
            "was written. Use upsert() to replace them",
            taken,
        )
    counts = pc.value_counts(pc.list_flatten(results.column("ids")))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
    if repeated:
        raise DuplicateIdError(
            f"{len(repeated)} id(s) appear more than once in the data, e.g. {repeated[:5]}; "
            "each id must be unique (use upsert to replace documents); nothing was written",
            repeated,
        )


def _commit_append(ctx: TableContext, written: _Written) -> int:
    """Commit the written files as one append, under the write lock, once no id committed
    since the write started collides."""
    with write_lock(ctx):
        latest = ctx.services.datasets.open_private(ctx.name)
        with lance_errors(f"committing to {ctx.name!r}"):
            if int(latest.version) != written.read_version:
                newer = [f for f in latest.get_fragments() if f.fragment_id > written.last_fragment]
                if newer:
                    scanner = latest.scanner(columns=["id"], fragments=newer)
                    stored = scanner.to_table().column("id")
                    ids = written.ids
                    clash = ids.filter(pc.is_in(ids, value_set=stored.combine_chunks()))
                    if len(clash):
                        taken = sorted(clash.to_pylist())
                        raise DuplicateIdError(
                            f"{len(taken)} id(s) were added to {ctx.name!r} by another writer "
                            f"during the distributed write, e.g. {taken[:5]}; nothing was "
                            "written",
                            taken,
                        )
            committed = commit_append(
                ctx.uri,
                written.fragments,
                read_version=int(latest.version),
                storage_options=ctx.services.datasets.storage_options,
            )
        ctx.services.datasets.evict(ctx.name)
    return int(committed.version)


def _commit_upsert(ctx: TableContext, written: _Written) -> tuple[int, int]:
    """Commit the written files and the deletion of the stored rows they replace as one
    update, under the write lock; returns ``(rows replaced, version)``."""
    with write_lock(ctx):
        latest = ctx.services.datasets.open_private(ctx.name)
        with lance_errors(f"upserting into {ctx.name!r}"):
            replaced = stored_rows(latest, written.ids, table=ctx.name, with_address=True)
            removed, updated = _delete_rows(latest, replaced)
            committed = commit_update(
                ctx.uri,
                removed_fragment_ids=removed,
                updated_fragments=updated,
                new_fragments=written.fragments,
                read_version=int(latest.version),
                storage_options=ctx.services.datasets.storage_options,
            )
        ctx.services.datasets.evict(ctx.name)
    return replaced.num_rows, int(committed.version)


def _delete_rows(dataset: Dataset, rows: pa.Table) -> tuple[list[int], list[Any]]:
    """Write (not commit) deletion files for ``rows`` (``id``, ``_rowaddr``): the ids of the
    fragments left empty, and the metadata of the others."""
    if rows.num_rows == 0:
        return [], []
    fragment_ids = pc.shift_right(rows.column("_rowaddr"), 32)
    removed: list[int] = []
    updated: list[Any] = []
    for fragment_id in pc.unique(fragment_ids).to_pylist():
        ids = rows.column("id").filter(pc.equal(fragment_ids, fragment_id)).to_pylist()
        fragment = dataset.get_fragment(fragment_id)
        assert fragment is not None  # its rows were just read
        metadata = fragment.delete(ids_filter(ids))
        if metadata is None:
            removed.append(fragment_id)
        else:
            updated.append(metadata)
    return removed, updated
