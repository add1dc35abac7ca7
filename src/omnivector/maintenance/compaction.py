"""Keeping tables small and fast: compaction, cleanup, stats, health, versions, schema.

Auto-maintenance runs in one background thread per store: after writes it checks each
touched table's fragment count, small files, deleted rows and unindexed rows, and when a
threshold is passed it compacts, folds new rows into indexes and removes old versions.
It holds the table's maintenance lock (shared with index builds, across processes) and
skips a table whose lock is busy rather than wait, so writers are never blocked.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import lance
import pyarrow as pa
import pyarrow.fs as pafs

from omnivector.core.errors import (
    CommitConflictError,
    InvalidInputError,
    OmnivectorError,
    SchemaError,
    StorageError,
    VersionNotFoundError,
    lance_errors,
)
from omnivector.core.schema import (
    FIELD_TYPES,
    RESERVED_COLUMNS,
    SPEC_METADATA_KEY,
    TableSpec,
    check_field_name,
)
from omnivector.indexing.builds import IndexInfo, list_indexes

if TYPE_CHECKING:
    from omnivector.store import VectorStore
    from omnivector.table import Table, WriteResult

__all__ = [
    "DEFAULT_MAINTENANCE",
    "CleanupResult",
    "CompactionResult",
    "MaintenanceConfig",
    "OptimizeResult",
    "TableHealth",
    "TableStats",
    "VersionInfo",
]

log = logging.getLogger(__name__)

_LOCK_TIMEOUT = 3600.0


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    """Auto-maintenance thresholds (checked after writes, acted on in the background).

    - ``enabled``: False turns auto-maintenance off (call ``tbl.optimize()`` yourself).
    - ``max_fragments`` / ``max_small_fragments``: compact when passed.
    - ``max_deleted_fraction``: compact (purging deleted rows) when passed.
    - ``max_unindexed_rows``: fold new rows into existing indexes when passed.
    - ``keep_versions`` / ``keep_seconds``: old versions kept by cleanup; a version is
      removed only when it is both older than ``keep_seconds`` and not among the newest
      ``keep_versions``. Tagged versions are always kept. Disk space stays bounded by
      the live data plus what these recent versions reference.
    - ``min_interval``: seconds between two maintenance runs on one table.
    """

    enabled: bool = True
    max_fragments: int = 32
    max_small_fragments: int = 8
    max_deleted_fraction: float = 0.1
    max_unindexed_rows: int = 10_000
    keep_versions: int = 10
    keep_seconds: float = 5.0
    min_interval: float = 2.0
    target_rows_per_fragment: int = 1_048_576

    def __post_init__(self) -> None:
        for name in (
            "max_fragments",
            "max_small_fragments",
            "max_unindexed_rows",
            "keep_versions",
            "target_rows_per_fragment",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_deleted_fraction", "keep_seconds", "min_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {value!r}")


DEFAULT_MAINTENANCE = MaintenanceConfig()

# Automatic compaction merges small fragments into fragments of about 1/16 of the table
# (never fewer rows than this), so a run rewrites recent writes rather than the whole table;
# a fragment is rewritten whole only once ``max_deleted_fraction`` of its rows are deleted.
_MIN_TIERED_FRAGMENT_ROWS = 4096
_TIERS = 16


def tiered_target_rows(rows: int, config: MaintenanceConfig) -> int:
    """Rows per fragment that automatic compaction aims for in a table of ``rows`` rows."""
    return min(config.target_rows_per_fragment, max(_MIN_TIERED_FRAGMENT_ROWS, rows // _TIERS))


@dataclass(frozen=True, slots=True)
class CompactionResult:
    fragments_removed: int
    fragments_added: int
    files_removed: int
    files_added: int


@dataclass(frozen=True, slots=True)
class CleanupResult:
    versions_removed: int
    bytes_removed: int


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    compaction: CompactionResult
    cleanup: CleanupResult
    indexes_optimized: bool


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version of a table; ``timestamp`` is its commit time, timezone-aware (UTC)."""

    version: int
    timestamp: datetime
    operation: str | None
    rows: int
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TableStats:
    rows: int
    bytes_on_disk: int
    bytes_per_row: float
    column_bytes: dict[str, int]
    fragments: int
    versions: int
    indexes: list[IndexInfo]
    data_storage_version: str


@dataclass(frozen=True, slots=True)
class TableHealth:
    rows: int
    fragments: int
    small_fragments: int
    deleted_rows: int
    versions: int
    total_bytes: int
    live_bytes: int
    indexes: list[IndexInfo]
    recommendations: list[str]

    @property
    def healthy(self) -> bool:
        return not self.recommendations


# -- explicit operations ---------------------------------------------------------------------


def _maintenance_lock(table: Table, timeout: float = _LOCK_TIMEOUT) -> Any:
    store = table._store
    return store._lock(
        store.location.lock_path(table.name, "maintenance"), timeout=timeout, what="maintenance"
    )


def compact(
    table: Table, *, target_rows_per_fragment: int | None = None, materialize_deletions: bool = True
) -> CompactionResult:
    with _maintenance_lock(table):
        return _compact_locked(table, target_rows_per_fragment, materialize_deletions)


def _compact_locked(
    table: Table,
    target_rows: int | None,
    materialize_deletions: bool = True,
    deletions_threshold: float = 0.0,
) -> CompactionResult:
    # Compaction rewrites fragments that concurrent upserts and deletes also touch, and
    # Lance lets those writes win, discarding the rewrite; under a steady stream of small
    # writes it would never commit. Holding the write lock makes writers wait for it instead
    # (the rewrite of small fragments takes milliseconds).
    store = table._store
    write_lock = store.location.lock_path(table.name, "write")
    with store._lock(write_lock, timeout=_LOCK_TIMEOUT, what="write"):
        dataset = table.writable_dataset()
        with lance_errors(f"compacting {table.name!r}"):
            metrics = dataset.optimize.compact_files(
                target_rows_per_fragment=target_rows
                or DEFAULT_MAINTENANCE.target_rows_per_fragment,
                materialize_deletions=materialize_deletions,
                materialize_deletions_threshold=deletions_threshold
                if materialize_deletions
                else None,
            )
        store.cache.put(table.name, dataset)
    return CompactionResult(
        metrics.fragments_removed,
        metrics.fragments_added,
        metrics.files_removed,
        metrics.files_added,
    )


def cleanup(
    table: Table, *, older_than: timedelta | float | None = None, keep_versions: int | None = None
) -> CleanupResult:
    """Remove versions older than ``older_than`` (timedelta or seconds, default 0) beyond the
    newest ``keep_versions`` (default 1). Tagged versions are kept."""
    age = _as_timedelta(older_than) if older_than is not None else timedelta(0)
    keep = 1 if keep_versions is None else keep_versions
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InvalidInputError(f"keep_versions must be a positive integer, got {keep!r}")
    with _maintenance_lock(table):
        return _cleanup_locked(table, age, keep)


def _cleanup_locked(table: Table, age: timedelta, keep: int) -> CleanupResult:
    # cleanup borrows the handle mutably: a reader on the shared handle would fail meanwhile
    dataset = table._store.cache.open_private(table.name)
    pinned = table._store.maintainer.pinned_versions(table.name)
    if pinned:
        keep = max(keep, int(dataset.version) - min(pinned) + 1)
    with lance_errors(f"cleaning up {table.name!r}"):
        stats = dataset.cleanup_old_versions(
            older_than=age, retain_versions=keep, error_if_tagged_old_versions=False
        )
    return CleanupResult(int(stats.old_versions), int(stats.bytes_removed))


def optimize_indexes(table: Table) -> None:
    with _maintenance_lock(table):
        _optimize_indexes_locked(table)


def _optimize_indexes_locked(table: Table) -> bool:
    dataset = table.writable_dataset()
    if not dataset.describe_indices():
        return False
    with lance_errors(f"optimizing indexes of {table.name!r}"):
        dataset.optimize.optimize_indices()
    table._store.cache.put(table.name, dataset)
    return True


def optimize(table: Table) -> OptimizeResult:
    with _maintenance_lock(table):
        compaction = _compact_locked(table, None)
        optimized = _optimize_indexes_locked(table)
        config = table._store.maintainer.config
        removed = _cleanup_locked(
            table, timedelta(seconds=config.keep_seconds), config.keep_versions
        )
    return OptimizeResult(compaction, removed, optimized)


def _as_timedelta(value: timedelta | float) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"older_than must be a timedelta or seconds >= 0, got {value!r}")
    return timedelta(seconds=value)


# -- inspection --------------------------------------------------------------------------


def stats(table: Table) -> TableStats:
    dataset = table.dataset()
    with lance_errors(f"reading stats of {table.name!r}"):
        by_id = (
            {f.id: f.name for f in _walk_fields(dataset.lance_schema)}
            if hasattr(dataset, "lance_schema")
            else {}
        )
        columns: dict[str, int] = {}
        for stat in list(dataset.stats.data_stats().fields):  # type: ignore[call-overload]
            name = by_id.get(stat.id, str(stat.id))
            top = name.split(".")[0]
            columns[top] = columns.get(top, 0) + int(stat.bytes_on_disk)
        rows = dataset.count_rows()
        total = sum(columns.values())
        return TableStats(
            rows=rows,
            bytes_on_disk=total,
            bytes_per_row=total / rows if rows else 0.0,
            column_bytes=columns,
            fragments=len(dataset.get_fragments()),
            versions=len(dataset.versions()),
            indexes=list_indexes(dataset),
            data_storage_version=str(dataset.data_storage_version),
        )


@dataclass(frozen=True, slots=True)
class _FieldName:
    id: int
    name: str


def _walk_fields(lance_schema: Any) -> list[_FieldName]:
    """Field ids to top-level column names, from Lance's schema (ids follow Arrow order)."""
    result: list[_FieldName] = []
    for item in lance_schema.fields():
        _collect(item, item.name(), result)
    return result


def _collect(item: Any, name: str, out: list[_FieldName]) -> None:
    out.append(_FieldName(int(item.id()), name))
    for child in item.children():
        _collect(child, name, out)


def health(table: Table) -> TableHealth:
    dataset = table.dataset()
    config = table._store.maintainer.config
    with lance_errors(f"checking health of {table.name!r}"):
        summary = dataset.stats.dataset_stats()
        versions = dataset.versions()
        latest = versions[-1]["metadata"] if versions else {}
        live = int(latest.get("total_files_size", 0))
        total = _directory_bytes(table)
        indexes = list_indexes(dataset)
        rows = dataset.count_rows()
    fragments = int(summary["num_fragments"])
    small = int(summary["num_small_files"])
    deleted = int(summary["num_deleted_rows"])
    advice = []
    if fragments > config.max_fragments:
        advice.append(
            f"compact: {fragments} fragments (threshold {config.max_fragments}) slow down scans"
        )
    if small > config.max_small_fragments:
        advice.append(f"compact: {small} small files (threshold {config.max_small_fragments})")
    if rows + deleted and deleted / (rows + deleted) > config.max_deleted_fraction:
        advice.append(f"compact: {deleted} deleted rows still stored")
    if len(versions) > config.keep_versions * 2:
        advice.append(f"cleanup: {len(versions)} versions kept on disk")
    for index in indexes:
        if index.unindexed_rows > config.max_unindexed_rows:
            advice.append(
                f"optimize indexes: {index.name} misses {index.unindexed_rows} rows "
                "(they are scanned on every query)"
            )
    return TableHealth(rows, fragments, small, deleted, len(versions), total, live, indexes, advice)


def _directory_bytes(table: Table) -> int:
    location = table._store.location
    uri = location.table_uri(table.name)
    if location.is_local:
        filesystem, path = pafs.LocalFileSystem(), uri
    else:
        filesystem, path = location._fs, location._fs_path(uri)
    selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
    return sum(
        info.size or 0
        for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File
    )


# -- versions and tags ---------------------------------------------------------------------


def versions(table: Table) -> list[VersionInfo]:
    """The table's versions, oldest first. A version removed by a concurrent cleanup between
    Lance's listing and its read makes the listing start again."""
    for attempt in range(_LISTING_ATTEMPTS):
        # read_transaction borrows the handle mutably: a reader on the shared handle would fail
        private = not table.read_only
        dataset = table._store.cache.open_private(table.name) if private else table.dataset()
        try:
            with lance_errors(f"listing versions of {table.name!r}"):
                return _versions(dataset)
        except StorageError as exc:
            if attempt == _LISTING_ATTEMPTS - 1 or not _removed_meanwhile(exc.__cause__):
                raise
    raise AssertionError("unreachable")


_LISTING_ATTEMPTS = 5


def _removed_meanwhile(exc: BaseException | None) -> bool:
    """Whether Lance failed on a version manifest that was there when it listed them."""
    text = str(exc)
    return "not found" in text.lower() and ".manifest" in text


def _versions(dataset: lance.LanceDataset) -> list[VersionInfo]:
    tags_by_version: dict[int, list[str]] = {}
    for name, info in dataset.tags.list().items():
        tags_by_version.setdefault(int(info["version"]), []).append(name)
    result = []
    for item in dataset.versions():
        meta = item.get("metadata", {})
        number = int(item["version"])
        result.append(
            VersionInfo(
                version=number,
                timestamp=_as_datetime(item["timestamp"]),
                operation=_operation(dataset, number),
                rows=int(meta.get("total_rows", 0)),
                tags=sorted(tags_by_version.get(number, [])),
            )
        )
    return result


def _as_datetime(value: datetime | int) -> datetime:
    """A version's commit time, timezone-aware in UTC (pylance gives naive local time)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def _operation(dataset: lance.LanceDataset, version: int) -> str | None:
    try:
        transaction = dataset.read_transaction(version)
    except Exception:
        return None
    if transaction is None:
        return None
    operation = getattr(transaction, "operation", None)
    return type(operation).__name__ if operation is not None else None


def tags(table: Table) -> dict[str, int]:
    with lance_errors(f"listing tags of {table.name!r}"):
        return {
            name: int(info["version"]) for name, info in sorted(table.dataset().tags.list().items())
        }


def tag(table: Table, name: str, version: int | None) -> None:
    if (
        not isinstance(name, str)
        or not name
        or not all(c.isalnum() or c in "-_." for c in name)
        or len(name) > 128
    ):
        raise InvalidInputError(f"invalid tag {name!r}: use letters, digits, '-', '_' or '.'")
    dataset = table._store.cache.open_private(table.name)
    target = int(dataset.version) if version is None else _resolve(dataset, version)
    with lance_errors(f"tagging {table.name!r}"):
        if name in dataset.tags.list():
            dataset.tags.update(name, target)
        else:
            dataset.tags.create(name, target)


def untag(table: Table, name: str) -> None:
    dataset = table._store.cache.open_private(table.name)
    if name not in dataset.tags.list():
        raise VersionNotFoundError(f"table {table.name!r} has no tag {name!r}")
    with lance_errors(f"removing tag {name!r}"):
        dataset.tags.delete(name)


def _resolve(dataset: lance.LanceDataset, version: int | str) -> int:
    if isinstance(version, str):
        known = dataset.tags.list()
        if version not in known:
            raise VersionNotFoundError(f"no tag {version!r}; known tags: {sorted(known)}")
        return int(known[version]["version"])
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(f"version must be a number or a tag name, got {version!r}")
    numbers = {int(v["version"]) for v in dataset.versions()}
    if version not in numbers:
        raise VersionNotFoundError(
            f"version {version} does not exist (or was cleaned up); available: "
            f"{sorted(numbers)[-10:]}"
        )
    return version


def checkout_dataset(table: Table, version: int | str) -> lance.LanceDataset:
    dataset = table.dataset()
    number = _resolve(dataset, version)
    with lance_errors(f"checking out version {version} of {table.name!r}"):
        view = dataset.checkout_version(number)
    table._store.maintainer.pin(table.name, view)
    return view


def restore(table: Table, version: int | str) -> WriteResult:
    from omnivector.table import WriteResult

    view = checkout_dataset(table, version)
    with lance_errors(f"restoring {table.name!r}"):
        view.restore()  # type: ignore[no-untyped-call]
    latest = table._store.open_dataset(table.name)
    return WriteResult(version=int(latest.version))


# -- schema evolution ------------------------------------------------------------------------


def add_columns(table: Table, columns: Mapping[str, str], *, expressions: bool) -> None:
    if not isinstance(columns, Mapping) or not columns:
        raise InvalidInputError("add_columns takes a non-empty dict {name: type_or_expression}")
    existing = set(table.dataset().schema.names)
    for name, value in columns.items():
        check_field_name(name)
        if name in existing:
            raise SchemaError(f"column {name!r} already exists")
        if not isinstance(value, str):
            raise InvalidInputError(f"column {name!r}: expected a type name or SQL expression")
        if not expressions and value not in FIELD_TYPES:
            raise SchemaError(
                f"field {name!r} has unknown type {value!r}; use one of "
                f"{list(FIELD_TYPES)} (or expressions=True for SQL)"
            )
    with _maintenance_lock(table):
        dataset = table.writable_dataset()
        with lance_errors(f"adding columns to {table.name!r}", user_sql=expressions):
            if expressions:
                dataset.add_columns(dict(columns))
            else:
                dataset.add_columns([pa.field(n, FIELD_TYPES[t]) for n, t in columns.items()])
        _record_fields(table, dataset)


def alter_columns(table: Table, alterations: Sequence[Mapping[str, Any]]) -> None:
    changes = []
    for alteration in alterations:
        if not isinstance(alteration, Mapping) or "path" not in alteration:
            raise InvalidInputError(
                "each alteration is a dict with 'path' and any of 'name', 'type', 'nullable'"
            )
        unknown = set(alteration) - {"path", "name", "type", "nullable"}
        if unknown:
            raise InvalidInputError(f"unknown alteration key(s) {sorted(unknown)}")
        path = alteration["path"]
        _check_user_column(table, path)
        change: dict[str, Any] = {"path": path}
        if "name" in alteration:
            change["name"] = check_field_name(alteration["name"])
        if "type" in alteration:
            if alteration["type"] not in FIELD_TYPES:
                raise SchemaError(f"unknown type {alteration['type']!r}; use {list(FIELD_TYPES)}")
            change["data_type"] = FIELD_TYPES[alteration["type"]]
        if "nullable" in alteration:
            change["nullable"] = bool(alteration["nullable"])
        changes.append(change)
    with _maintenance_lock(table):
        dataset = table.writable_dataset()
        with lance_errors(f"altering columns of {table.name!r}"):
            dataset.alter_columns(*changes)  # type: ignore[arg-type]
        _record_fields(table, dataset)


def drop_columns(table: Table, columns: list[str]) -> None:
    if not columns:
        raise InvalidInputError("drop_columns takes a non-empty list of field names")
    for name in columns:
        _check_user_column(table, name)
    with _maintenance_lock(table):
        dataset = table.writable_dataset()
        with lance_errors(f"dropping columns of {table.name!r}"):
            dataset.drop_columns(list(columns))
        _record_fields(table, dataset)


def _check_user_column(table: Table, name: object) -> None:
    if name in RESERVED_COLUMNS:
        raise SchemaError(f"{name!r} is a reserved column and cannot be changed or dropped")
    if not isinstance(name, str) or name not in table.dataset().schema.names:
        raise SchemaError(f"table {table.name!r} has no column {name!r}")


def _record_fields(table: Table, dataset: lance.LanceDataset) -> None:
    """Record the declared fields after a schema change in the table's spec."""
    by_type = {str(kind): name for name, kind in FIELD_TYPES.items()}
    fields = {
        f.name: by_type[str(f.type)]
        for f in dataset.schema
        if f.name not in RESERVED_COLUMNS and str(f.type) in by_type
    }
    old = TableSpec.from_schema(dataset.schema)
    spec = replace(old, fields=fields)
    with lance_errors(f"recording the schema of {table.name!r}"):
        dataset.update_schema_metadata({SPEC_METADATA_KEY.decode(): spec.to_json()})
    table.spec = spec
    table._store.cache.put(table.name, dataset)


# -- auto-maintenance ------------------------------------------------------------------------


class AutoMaintainer:
    """Background thread that keeps written tables compact and clean."""

    def __init__(self, store: VectorStore, config: MaintenanceConfig) -> None:
        self._store = store
        self.config = config
        self._pending: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._queued: set[str] = set()
        self._last_run: dict[str, float] = {}
        self._pins: dict[str, list[Any]] = {}
        self._followups: dict[str, float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.runs = 0

    def notify(self, name: str) -> None:
        if not self.config.enabled or self._stopping.is_set():
            return
        with self._lock:
            if name in self._queued:
                return
            self._queued.add(name)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="omnivector-maintenance", daemon=True
                )
                self._thread.start()
        self._pending.put(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._queued.discard(name)
            self._followups.pop(name, None)
            self._last_run.pop(name, None)

    def pin(self, name: str, dataset: lance.LanceDataset) -> None:
        with self._lock:
            self._pins.setdefault(name, []).append(weakref.ref(dataset))

    def pinned_versions(self, name: str) -> list[int]:
        with self._lock:
            alive = [ref() for ref in self._pins.get(name, [])]
            kept = [d for d in alive if d is not None]
            self._pins[name] = [weakref.ref(d) for d in kept]
            return [int(d.version) for d in kept]

    def shutdown(self, timeout: float | None) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            self._pending.put(None)
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            name = self._next_request()
            if name is None:
                return
            wait = self._last_run.get(name, 0.0) + self.config.min_interval - time.monotonic()
            if wait > 0 and self._stopping.wait(wait):
                return
            with self._lock:
                self._queued.discard(name)
            try:
                self.maintain(name)
            except OmnivectorError as exc:  # a full disk, read-only storage: said in one line
                log.warning(
                    "auto-maintenance of %s failed; it will be retried after the next write: %s",
                    name,
                    exc,
                )
            except Exception:
                log.warning(
                    "auto-maintenance of %s failed; it will be retried after the next write",
                    name,
                    exc_info=True,
                )
            self._last_run[name] = time.monotonic()

    def _next_request(self) -> str | None:
        """The next table to look at: a write's request, or a due follow-up cleanup."""
        while True:
            with self._lock:
                now = time.monotonic()
                due = [name for name, at in self._followups.items() if at <= now]
                for name in due:
                    del self._followups[name]
                timeout = min(self._followups.values(), default=now + 3600.0) - now
            for name in due:
                self.notify(name)
            try:
                return self._pending.get(timeout=max(timeout, 0.0))
            except queue.Empty:
                continue

    def _follow_up(self, name: str) -> None:
        """Look at ``name`` again once its recent versions are old enough to remove, so a
        burst of writes does not leave them on disk until the next write."""
        at = time.monotonic() + self.config.keep_seconds + self.config.min_interval
        with self._lock:
            self._followups[name] = at

    def maintain(self, name: str) -> bool:
        """Run whatever maintenance ``name`` needs now; return whether anything ran."""
        store = self._store
        if store.closed or name not in store:
            return False
        table = store.table(name)
        dataset = table.dataset()
        summary = dataset.stats.dataset_stats()
        rows = dataset.count_rows()
        deleted = int(summary["num_deleted_rows"])
        needs_compaction = (
            int(summary["num_fragments"]) > self.config.max_fragments
            or int(summary["num_small_files"]) > self.config.max_small_fragments
            or (
                rows + deleted > 0 and deleted / (rows + deleted) > self.config.max_deleted_fraction
            )
        )
        needs_index = any(
            i.unindexed_rows > self.config.max_unindexed_rows for i in list_indexes(dataset)
        )
        needs_cleanup = len(dataset.versions()) > self.config.keep_versions * 2
        if not (needs_compaction or needs_index or needs_cleanup):
            return False
        lock = store.location.lock_path(name, "maintenance")
        try:
            with store._lock(lock, timeout=0.0, what="maintenance"):
                if needs_compaction:
                    _compact_locked(
                        table,
                        tiered_target_rows(rows, self.config),
                        deletions_threshold=self.config.max_deleted_fraction,
                    )
                if needs_index or needs_compaction:
                    _optimize_indexes_locked(table)
                _cleanup_locked(
                    table, timedelta(seconds=self.config.keep_seconds), self.config.keep_versions
                )
        except CommitConflictError:
            self.notify(name)  # busy (an index build or another process): try again later
            return False
        if len(table.dataset().versions()) > self.config.keep_versions:
            self._follow_up(name)
        self.runs += 1
        log.debug("auto-maintenance ran on %s", name)
        return True
