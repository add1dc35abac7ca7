"""VectorStore: a directory (or object-store prefix) of tables, and what they share.

The store owns the connection pool (:class:`~omnivector.cache.DatasetCache`), the
background index builder, the auto-maintenance scheduler and the per-table locks. Tables
are Lance datasets named ``<name>.lance`` under the root.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import lance

from omnivector.core.errors import (
    CommitConflictError,
    DimensionMismatchError,
    InvalidInputError,
    StoreClosedError,
    TableExistsError,
    TableNotFoundError,
    lance_errors,
)
from omnivector.core.layout import DEFAULT_STORAGE, StorageOptions
from omnivector.core.results import SearchResults
from omnivector.core.schema import TableSpec, check_dimension, check_metric, check_table_name
from omnivector.embeddings import EmbeddingFunction, EmbeddingFunctions
from omnivector.indexing.builds import (
    DEFAULT_INDEX_BUILDS,
    IndexBuild,
    IndexBuildConfig,
    IndexBuilder,
)
from omnivector.maintenance.compaction import DEFAULT_MAINTENANCE, AutoMaintainer, MaintenanceConfig
from omnivector.resident.graphs import ResidentConfig, ResidentGraphs, ResidentInfo
from omnivector.storage.allocator import raise_mmap_threshold
from omnivector.storage.locations import StoreLocation
from omnivector.storage.locks import table_lock
from omnivector.storage.pool import DEFAULT_CACHE, CacheInfo, DatasetCache, DatasetCacheConfig
from omnivector.storage.unique_ids import IdDigests
from omnivector.table import Table, WriteResult

__all__ = ["VectorStore", "connect"]

log = logging.getLogger(__name__)


class VectorStore:
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
        resident: ResidentConfig | None = None,
    ) -> None:
        self.dimension = check_dimension(dimension) if dimension is not None else None
        self.metric = check_metric(metric)
        if cache is not None and not isinstance(cache, DatasetCacheConfig):
            raise InvalidInputError("cache must be a DatasetCacheConfig")
        if storage is not None and not isinstance(storage, StorageOptions):
            raise InvalidInputError("storage must be a StorageOptions")
        if resident is not None and not isinstance(resident, ResidentConfig):
            raise InvalidInputError("resident must be a ResidentConfig")
        raise_mmap_threshold()
        self.storage = storage or DEFAULT_STORAGE
        self.storage_options = {str(k): str(v) for k, v in (storage_options or {}).items()}
        #: one instance of each embedding function the store's tables use
        self.embedding_functions = EmbeddingFunctions()
        self.location = StoreLocation(path, self.storage_options)
        self.cache = DatasetCache(cache or DEFAULT_CACHE, self._open, local=self.location.is_local)
        self.query_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="omnivector-q")
        self.write_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="omnivector-w")
        self.builder = IndexBuilder(self, index_builds or DEFAULT_INDEX_BUILDS)
        self.maintainer = AutoMaintainer(self, maintenance or DEFAULT_MAINTENANCE)
        self.id_digests = IdDigests()
        self.resident = ResidentGraphs(resident) if resident is not None else None
        self._closed = False
        self._create_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.location.root

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the store at {self.path} is closed; open a new VectorStore")

    def close(self, *, cancel_builds: bool = False, timeout: float | None = None) -> None:
        """Finish (or cancel) background index builds and maintenance, then release caches."""
        if self._closed:
            return
        self.builder.shutdown(cancel=cancel_builds, timeout=timeout)
        self.maintainer.shutdown(timeout=timeout)
        self.query_pool.shutdown(wait=True)
        self.write_pool.shutdown(wait=True)
        if self.resident is not None:
            self.resident.shutdown()
        self.cache.clear()
        self._closed = True

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
            if self.location.exists(name):
                return self._existing(name, spec, exist_ok, embedding)
            try:
                with lance_errors(f"creating table {name!r}"):
                    dataset = lance.write_dataset(
                        spec.arrow_schema().empty_table(),
                        self.location.table_uri(name),
                        mode="create",
                        data_storage_version=spec.storage.storage_version,
                        session=self.cache.session,
                        storage_options=self.storage_options or None,
                    )
            except Exception:
                if self.location.exists(name):  # another process created it first
                    return self._existing(name, spec, exist_ok, embedding)
                raise
        self.cache.put(name, dataset)
        log.debug("created table %s", name)
        table = Table(self, name, spec, embedding=self._adopt(embedding))
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
        dataset = self.open_dataset(name)
        spec = TableSpec.from_schema(dataset.schema)
        if embedding is not None:
            _check_embedding(embedding)
            if embedding.dimension != spec.dimension:
                raise DimensionMismatchError(
                    f"the embedding function's dimension {embedding.dimension} differs from "
                    f"table {name!r}'s dimension {spec.dimension}"
                )
        return Table(self, name, spec, embedding=self._adopt(embedding))

    def _adopt(self, embedding: EmbeddingFunction | None) -> EmbeddingFunction | None:
        return None if embedding is None else self.embedding_functions.adopt(embedding)

    def __getitem__(self, name: str) -> Table:
        return self.table(name)

    def table_names(self) -> list[str]:
        self._check_open()
        return self.location.table_names()

    def __contains__(self, name: object) -> bool:
        self._check_open()
        try:
            return isinstance(name, str) and self.location.exists(check_table_name(name))
        except InvalidInputError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.table_names())

    def drop_table(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a table and its files (running builds on it are cancelled first)."""
        self._check_open()
        check_table_name(name)
        if not self.location.exists(name):
            if missing_ok:
                return
            raise TableNotFoundError(f"table {name!r} does not exist in {self.path}")
        self.builder.cancel_table(name)
        self.maintainer.forget(name)
        self.cache.evict(name)
        self.id_digests.discard(name)
        if self.resident is not None:
            self.resident.discard(name)
        self.location.remove(name)

    def open_dataset(self, name: str) -> lance.LanceDataset:
        """The cached, up-to-date dataset of ``name`` (the pool's single entry point)."""
        self._check_open()
        check_table_name(name)
        return self.cache.get(name)

    def _open(self, name: str, session: Any) -> lance.LanceDataset:
        uri = self.location.table_uri(name)
        if not self.location.exists(name):
            raise TableNotFoundError(
                f"table {name!r} does not exist in {self.path}; create it with "
                "store.create_table(...)"
            )
        with lance_errors(f"opening table {name!r}"):
            return lance.dataset(uri, session=session, storage_options=self.storage_options or None)

    # -- cache ----------------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        return self.cache.info()

    def resident_info(self) -> ResidentInfo | None:
        """What the in-memory graphs hold (None when ``resident`` is off)."""
        return self.resident.info() if self.resident is not None else None

    def evict(self, name: str) -> bool:
        return self.cache.evict(name)

    def clear_cache(self) -> None:
        self.cache.clear()

    # -- background index builds ----------------------------------------------------------

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
        return self.builder.builds()

    def await_pending_index_builds(self, timeout: float | None = None) -> list[IndexBuild]:
        """Wait until every queued or running build has finished; return them."""
        return self.builder.wait_all(timeout)

    def wait_for_maintenance(self, table: str, *, timeout: float | None = None) -> bool:
        """Wait until no index build or compaction runs on ``table``, in any process.

        Builds and compactions hold the table's maintenance lock; this takes it and lets it
        go at once. Returns False if it was still held after ``timeout`` seconds (``0``
        just checks).
        """
        self._check_open()
        path = self.location.lock_path(check_table_name(table), "maintenance")
        limit = math.inf if timeout is None else max(float(timeout), 0.0)
        try:
            with self._lock(path, timeout=limit, what="maintenance"):
                return True
        except CommitConflictError:
            return False

    def _lock(self, path: str, *, timeout: float, what: str) -> AbstractContextManager[None]:
        return table_lock(path, timeout=timeout, what=what)

    def _after_write(self, name: str) -> None:
        self.maintainer.notify(name)

    # -- the original Omni-Vector API -----------------------------------------------------

    def add_documents(
        self,
        table: str,
        ids: Sequence[str],
        vectors: Sequence[Any],
        contents: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any] | str | None] | None = None,
    ) -> WriteResult:
        """Add documents column-wise, creating the table on first write."""
        count = len(ids)
        for label, values in (
            ("vectors", vectors),
            ("contents", contents),
            ("metadatas", metadatas),
        ):
            if values is not None and len(values) != count:
                raise InvalidInputError(f"{label} has {len(values)} items but ids has {count}")
        rows = []
        for index, doc_id in enumerate(ids):
            metadata = metadatas[index] if metadatas is not None else None
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"metadatas[{index}] is not valid JSON") from exc
            rows.append(
                {
                    "id": doc_id,
                    "vector": vectors[index],
                    "text": contents[index] if contents is not None else None,
                    "metadata": metadata,
                }
            )
        if table not in self:
            width = len(vectors[0]) if count else self.dimension
            self.create_table(table, dimension=width, exist_ok=True)
        return self.table(table).add(rows)

    def search(
        self,
        table: str,
        vector: Any,
        limit: int = 5,
        where_filter: Mapping[str, Any] | str | None = None,
    ) -> SearchResults:
        """Vector search; ``where_filter`` is a filter dict or a raw SQL string."""
        if isinstance(where_filter, str):
            return self.table(table).search(vector, k=limit, where_sql=where_filter)
        return self.table(table).search(vector, k=limit, where=where_filter)

    def count(self, table: str) -> int:
        return self.table(table).count()

    def delete(self, table: str, ids: Sequence[str]) -> int:
        return self.table(table).delete(ids).deleted

    def compact(self, table: str) -> Any:
        return self.table(table).compact()

    def analyze_table_health(self, table: str) -> Any:
        return self.table(table).health()


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
