"""VectorStore: a directory (or object-store prefix) of tables, and what they share.

The store owns what its tables share: the Lance seam (:class:`~omnivector.storage.datasets.
Datasets`, with the pool of open datasets), the per-table locks, the digests of stored ids,
the background index builder, the auto-maintenance scheduler and the resident graphs. Tables
are Lance datasets named ``<name>.lance`` under the root.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omnivector import lifecycle
from omnivector.compat import StoreCompat
from omnivector.core.configs import (
    DEFAULT_CACHE,
    DEFAULT_INDEX_BUILDS,
    DEFAULT_MAINTENANCE,
    DatasetCacheConfig,
    IndexBuildConfig,
    MaintenanceConfig,
)
from omnivector.core.errors import (
    CommitConflictError,
    DimensionMismatchError,
    InvalidInputError,
    StoreClosedError,
    TableExistsError,
    TableNotFoundError,
)
from omnivector.core.layout import DEFAULT_STORAGE, StorageOptions
from omnivector.core.results import ImportResult
from omnivector.core.schema import TableSpec, check_dimension, check_metric, check_table_name
from omnivector.embeddings import EmbeddingFunction, EmbeddingFunctions
from omnivector.indexing.builds import IndexBuild, IndexBuilder, index_new_table
from omnivector.maintenance.policy import AutoMaintainer
from omnivector.operations import files
from omnivector.resident.config import ResidentConfig
from omnivector.resident.graphs import ResidentGraphs, ResidentInfo
from omnivector.storage.context import StoreServices, TableContext, VersionPins
from omnivector.storage.datasets import Dataset, Datasets
from omnivector.storage.locations import StoreLocation
from omnivector.storage.locks import TableLocks
from omnivector.storage.pool import CacheInfo
from omnivector.storage.unique_ids import IdDigests
from omnivector.table import Table

__all__ = ["VectorStore", "connect"]

log = logging.getLogger(__name__)


class VectorStore(StoreCompat):
    """An embedded vector database rooted at a directory or object-store URI.

    >>> store = VectorStore("./data", dimension=384)        # doctest: +SKIP
    >>> docs = store.create_table("docs", fields={"year": "int64"})  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        dimension: int | None = None,
        *,
        metric: str = "cosine",
        cache: DatasetCacheConfig | None = None,
        storage: StorageOptions | None = None,
        storage_options: Mapping[str, str] | None = None,
        index_builds: IndexBuildConfig | None = None,
        maintenance: MaintenanceConfig | None = None,
        resident: ResidentConfig | bool = True,
    ) -> None:
        lifecycle.check_process()
        self.dimension = check_dimension(dimension) if dimension is not None else None
        self.metric = check_metric(metric)
        if cache is not None and not isinstance(cache, DatasetCacheConfig):
            raise InvalidInputError("cache must be a DatasetCacheConfig")
        if storage is not None and not isinstance(storage, StorageOptions):
            raise InvalidInputError("storage must be a StorageOptions")
        if not isinstance(resident, ResidentConfig | bool):
            raise InvalidInputError("resident must be a ResidentConfig, True or False")
        self.storage = storage or DEFAULT_STORAGE
        self.storage_options = {str(k): str(v) for k, v in (storage_options or {}).items()}
        #: one instance of each embedding function the store's tables use
        self.embedding_functions = EmbeddingFunctions()
        self._location = StoreLocation(path, self.storage_options)
        self._datasets = Datasets(
            self._location,
            cache or DEFAULT_CACHE,
            self.storage_options,
            on_replaced=self._forget_table,
        )
        self._query_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="omnivector-q")
        self._write_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="omnivector-w")
        self._services = StoreServices(
            datasets=self._datasets,
            locks=TableLocks(self._location.lock_path),
            digests=IdDigests(),
            pins=VersionPins(),
            query_pool=self._query_pool,
            write_pool=self._write_pool,
            maintenance=maintenance or DEFAULT_MAINTENANCE,
            index_builds=index_builds or DEFAULT_INDEX_BUILDS,
            check_open=self._check_open,
            after_write=self._after_write,
            want_text_indexes=self._want_text_indexes,
        )
        self._builder = IndexBuilder(self._services)
        self._maintainer = AutoMaintainer(
            self._services.maintenance,
            self._maintained,
            lambda request: self._builder.run(request, background=True),
        )
        if resident is True:
            resident = ResidentConfig()
        self._resident = ResidentGraphs(resident, self._datasets.apart) if resident else None
        self._closed = False
        self._create_lock = threading.Lock()
        self._opened: set[str] = set()
        # what a child process needs to open the same store (see __reduce__)
        self._options: dict[str, Any] = {
            "dimension": dimension,
            "metric": metric,
            "cache": cache,
            "storage": storage,
            "storage_options": storage_options,
            "index_builds": index_builds,
            "maintenance": maintenance,
            "resident": resident,
        }
        lifecycle.register(self)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._location.root

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        lifecycle.check_process()
        if self._closed:
            raise StoreClosedError(f"the store at {self.path} is closed; open a new VectorStore")

    def close(self, *, cancel_builds: bool = False, timeout: float | None = None) -> None:
        """Finish (or cancel) background index builds, run the maintenance that is due on
        the tables this store wrote or opened, then release caches."""
        if self._closed:
            return
        if lifecycle.forked():  # the threads and builds are the parent's: nothing to end
            self._closed = True
            return
        self._builder.shutdown(cancel=cancel_builds, timeout=timeout)
        self._maintainer.drain(timeout=timeout)
        self._query_pool.shutdown(wait=True)
        self._write_pool.shutdown(wait=True)
        if self._resident is not None:
            self._resident.shutdown()
        self._datasets.clear()
        self._closed = True

    def _stop_background(self) -> None:
        """Stop maintenance and resident loads after the Lance call each is in (at exit).

        Index builds are not stopped: the interpreter waits for them like for any
        ``concurrent.futures`` work, before this runs."""
        self._maintainer.stop(None)
        if self._resident is not None:
            self._resident.stop()

    def _after_fork_in_child(self) -> None:
        """In a forked child: the parent's builds are not this process's to wait for."""
        self._builder.forget_builds()

    def __reduce__(self) -> tuple[Any, ...]:
        # a child process (multiprocessing's spawn or forkserver) opens the store afresh
        return (_reopen, (self.path, self._options))

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"VectorStore({self.path!r}, {state})"

    # -- tables ---------------------------------------------------------------------------

    def create_table(
        self,
        name: str,
        *,
        dimension: int | None = None,
        metric: str | None = None,
        fields: Mapping[str, str] | None = None,
        storage: StorageOptions | None = None,
        exist_ok: bool = False,
        data: Any = None,
        embedding: EmbeddingFunction | None = None,
    ) -> Table:
        """Create a table (``exist_ok=True`` returns an existing, compatible one).

        ``embedding``: the function that embeds documents without vectors and ``query=``
        searches; the table takes its dimension and records its config, so every process
        that opens the table uses it (see ``omnivector.embeddings``).
        """
        self._check_open()
        check_table_name(name)
        recorded = None
        if embedding is not None:
            _check_embedding(embedding)
            if dimension is not None and dimension != embedding.dimension:
                raise DimensionMismatchError(
                    f"dimension={dimension} differs from the embedding function's dimension "
                    f"{embedding.dimension}; omit dimension="
                )
            dimension = embedding.dimension
            recorded = json.loads(embedding.config.to_json())
        dim = dimension if dimension is not None else self.dimension
        if dim is None:
            raise InvalidInputError(
                "dimension is required: pass create_table(..., dimension=N) or "
                "VectorStore(path, dimension=N)"
            )
        if storage is not None and not isinstance(storage, StorageOptions):
            raise InvalidInputError("storage must be a StorageOptions")
        spec = TableSpec(
            dimension=dim,
            metric=check_metric(metric or self.metric),
            fields=dict(fields or {}),
            storage=storage or self.storage,
            embedding=recorded,
        )
        with self._create_lock:
            if self._location.exists(name):
                return self._existing(name, spec, exist_ok, embedding)
            try:
                dataset, identity = self._datasets.create(
                    name, spec.arrow_schema(), storage_version=spec.storage.storage_version
                )
            except Exception:
                if self._location.exists(name):  # another process created it first
                    return self._existing(name, spec, exist_ok, embedding)
                raise
            index_new_table(name, dataset, spec)
            self._datasets.put(name, dataset)
        log.debug("created table %s", name)
        table = self._table(name, spec, embedding, identity)
        if data is not None:
            table.add(data)
        return table

    def _existing(
        self, name: str, spec: TableSpec, exist_ok: bool, embedding: EmbeddingFunction | None
    ) -> Table:
        if not exist_ok:
            raise TableExistsError(
                f"table {name!r} already exists; use store.table({name!r}) or exist_ok=True"
            )
        table = self.table(name, embedding=embedding)
        if table.dimension != spec.dimension:
            raise DimensionMismatchError(
                f"table {name!r} exists with dimension {table.dimension}, not {spec.dimension}"
            )
        return table

    def table(self, name: str, *, embedding: EmbeddingFunction | None = None) -> Table:
        """Open an existing table; ``TableNotFoundError`` if there is none.

        The table embeds with the function recorded when it was created, rebuilt on first
        use; ``embedding`` supplies one instead (a callable, or one whose package this
        process cannot import), of the table's dimension.
        """
        self._check_open()
        dataset, identity = self._datasets.current(check_table_name(name))
        if name not in self._opened:  # auto-maintenance looks at a table on its first open
            self._opened.add(name)
            self._maintainer.notify(name, thorough=True)
        spec = TableSpec.from_schema(dataset.schema)
        if embedding is not None:
            _check_embedding(embedding)
            if embedding.dimension != spec.dimension:
                raise DimensionMismatchError(
                    f"the embedding function's dimension {embedding.dimension} differs from "
                    f"table {name!r}'s dimension {spec.dimension}"
                )
        return self._table(name, spec, embedding, identity)

    def _table(
        self, name: str, spec: TableSpec, embedding: EmbeddingFunction | None, identity: str | None
    ) -> Table:
        return Table(
            TableContext(name, spec, self._services, identity=identity),
            builder=self._builder,
            resident=self._resident,
            embedding=None if embedding is None else self.embedding_functions.adopt(embedding),
            functions=self.embedding_functions,
            store=self,
        )

    def __getitem__(self, name: str) -> Table:
        return self.table(name)

    def table_names(self) -> list[str]:
        self._check_open()
        return self._location.table_names()

    def __contains__(self, name: object) -> bool:
        self._check_open()
        try:
            return isinstance(name, str) and self._location.exists(check_table_name(name))
        except InvalidInputError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.table_names())

    def drop_table(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a table and its files (running builds on it are cancelled first)."""
        self._check_open()
        check_table_name(name)
        if not self._location.exists(name):
            if missing_ok:
                return
            raise TableNotFoundError(f"table {name!r} does not exist in {self.path}")
        self._builder.cancel_table(name)
        self._datasets.evict(name)
        self._forget_table(name)
        self._location.remove(name)

    def _forget_table(self, name: str) -> None:
        """Let go of what this store keeps about table ``name`` (dropped, or dropped and
        created again by another process)."""
        self._maintainer.forget(name)
        self._opened.discard(name)
        self._services.digests.discard(name)
        if self._resident is not None:
            self._resident.discard(name)

    def open_dataset(self, name: str) -> Dataset:
        """The cached, up-to-date dataset of ``name`` (the pool's single entry point)."""
        self._check_open()
        check_table_name(name)
        return self._datasets.get(name)

    def import_file(
        self,
        table: str,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        id_column: str = "id",
        vector_column: str = "vector",
        text_column: str = "text",
        fields: Mapping[str, str] | None = None,
        metric: str | None = None,
        embedding: EmbeddingFunction | None = None,
        upsert: bool = False,
        batch_size: int | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportResult:
        """Load documents from a JSONL, JSON, Parquet, CSV or Arrow IPC file (``format``:
        by extension unless given), creating the table if missing: its dimension is the
        first vector's, or ``embedding``'s; ``fields``/``metric`` as in :meth:`create_table`.

        A table with an embedding function embeds the documents that have no vector from
        their text. Columns the table does not have go into each document's metadata; each
        batch of ``batch_size`` rows (default 10,000; 256 when embedding) is committed as it
        is read (``upsert`` replaces stored ids, else they raise ``DuplicateIdError``).
        ``progress(advanced, total, unit)`` follows the file: rows for Parquet/Arrow, bytes
        for text formats.
        """
        source = files.open_source(Path(path), format)
        columns = files.ColumnMap(id=id_column, vector=vector_column, text=text_column)
        declared = dict(fields or {})
        tbl = self.table(table) if table in self else None
        created = False
        if tbl is None and embedding is not None:
            tbl = self.create_table(table, embedding=embedding, metric=metric, fields=declared)
            created = True
        embeds = tbl is not None and tbl.embedding_config is not None
        rows_per_commit = batch_size or (256 if embeds else 10_000)
        known = (
            set(tbl.schema.names)
            if tbl is not None
            else {"id", "vector", "text", "metadata", *declared}
        )
        inserted, updated, version = 0, 0, 0
        for chunk, advanced in source.chunks(rows_per_commit):
            documents = files.reshape(chunk, columns, known, source.path, embeds=embeds)
            if tbl is None:
                width = files.vector_width(documents)
                if width is None:
                    raise InvalidInputError(
                        f"{source.path}: the first document has no vector, so the new table's "
                        f"dimension is unknown; check vector_column={vector_column!r}, or give "
                        "the table an embedding function (embedding=)"
                    )
                tbl = self.create_table(table, dimension=width, metric=metric, fields=declared)
                created = True
            result = tbl.upsert(documents) if upsert else tbl.add(documents)
            inserted += result.inserted
            updated += result.updated
            version = result.version
            if progress is not None:
                progress(advanced, source.total, source.unit)
        if tbl is None:
            raise InvalidInputError(f"{source.path} holds no documents; nothing was imported")
        return ImportResult(table, created, inserted, updated, version)

    # -- cache ----------------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        return self._datasets.info()

    def resident_info(self) -> ResidentInfo | None:
        """What the in-memory graphs hold (None when ``resident`` is off)."""
        return self._resident.info() if self._resident is not None else None

    def evict(self, name: str) -> bool:
        return self._datasets.evict(name)

    def clear_cache(self) -> None:
        self._datasets.clear()

    # -- background index builds and maintenance ------------------------------------------

    def create_index_background(
        self, table: str, *, kind: str = "auto", column: str = "vector", **params: Any
    ) -> IndexBuild:
        """Start an index build on ``table`` and return its handle at once."""
        tbl = self.table(table)
        if column == "vector":
            result = tbl.create_index(kind=kind, background=True, **params)
        elif kind.upper() in ("FTS", "INVERTED"):
            result = tbl.create_fts_index(column, background=True, **params)
        else:
            result = tbl.create_scalar_index(column, kind=kind, background=True, **params)
        assert isinstance(result, IndexBuild)  # background=True always returns a handle
        return result

    def index_builds(self) -> list[IndexBuild]:
        """Every build this store started, newest last."""
        return self._builder.builds()

    def await_pending_index_builds(self, timeout: float | None = None) -> list[IndexBuild]:
        """Wait until every queued or running build has finished; return them."""
        return self._builder.wait_all(timeout)

    def wait_for_maintenance(self, table: str, *, timeout: float | None = None) -> bool:
        """Wait until no auto-maintenance of ``table`` is pending in this store and no index
        build or compaction runs on it in any process.

        Builds and compactions hold the table's maintenance lock; this waits for this
        store's queued runs, then takes the lock and lets it go at once. Returns False if
        either was still pending after ``timeout`` seconds (``0`` just checks whether a
        build or compaction holds the lock now).
        """
        self._check_open()
        name = check_table_name(table)
        limit = math.inf if timeout is None else max(float(timeout), 0.0)
        deadline = time.monotonic() + limit
        idle_timeout = None if math.isinf(limit) else limit
        if limit > 0 and not self._maintainer.wait_idle(name, idle_timeout):
            return False
        try:
            left = max(deadline - time.monotonic(), 0.0)
            with self._services.locks.maintenance(name, timeout=left):
                return True
        except CommitConflictError:
            return False

    def _after_write(self, name: str) -> None:
        self._maintainer.notify(name)

    def _want_text_indexes(self, name: str, columns: Sequence[str]) -> None:
        self._maintainer.want_text_indexes(name, columns)

    def _maintained(self, name: str) -> TableContext | None:
        """The context auto-maintenance works on: None once closed or the table is gone."""
        if self._closed or name not in self:
            return None
        dataset, identity = self._datasets.current(name)
        spec = TableSpec.from_schema(dataset.schema)
        return TableContext(name, spec, self._services, identity=identity)


def _reopen(path: str, options: dict[str, Any]) -> VectorStore:
    """Unpickle a store: open it again with the same options."""
    return VectorStore(path, **options)


def connect(path: str | os.PathLike[str], **options: Any) -> VectorStore:
    """Open (or create) a store; same options as :class:`VectorStore`."""
    return VectorStore(path, **options)


def _check_embedding(embedding: object) -> None:
    if not isinstance(embedding, EmbeddingFunction):
        raise InvalidInputError(
            f"embedding must be an embedding function (dimension, config, embed_documents, "
            f"embed_queries), got {type(embedding).__name__}: see ov.embeddings.get and "
            "ov.embeddings.from_callable"
        )
