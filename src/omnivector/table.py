"""Table: the user-facing operations on one table of documents.

Every operation asks the store's :class:`~omnivector.cache.DatasetCache` for the table's
current handle, so reads see other writers' commits and the pool stays bounded. Writes
validate the whole input first (a rejected write changes nothing), then hold the table's
write lock across the uniqueness check and the commit, so ids stay unique across threads
and processes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

import lance
import numpy as np
import pyarrow as pa
from lance.fragment import write_fragments

from omnivector.core.errors import (
    CommitConflictError,
    DuplicateIdError,
    InvalidInputError,
    OmnivectorError,
    ReadOnlyError,
    is_commit_conflict,
    lance_errors,
)
from omnivector.core.filters import MATCH_ALL, CompiledFilter, compile_filter, ids_filter
from omnivector.core.fusion import RRF, Fusion
from omnivector.core.layout import StorageOptions
from omnivector.core.results import SearchResults
from omnivector.core.schema import TableSpec, check_rows, query_vector, rows_from_arrow
from omnivector.distributed import engine as distributed
from omnivector.distributed import writes as distributed_writes
from omnivector.distributed.engine import Engine
from omnivector.embeddings import EmbeddingConfig, EmbeddingFunction, embed_query, fill_vectors
from omnivector.indexing import builds as indexing
from omnivector.maintenance import compaction as maintenance
from omnivector.operations.search import (
    HYBRID_TEXT_DEPTH,
    TextQuery,
    VectorQuery,
    hybrid_search,
    resident_search,
    result_columns,
    text_search,
    vector_search,
)
from omnivector.storage.id_hashes import SortedIdHashes
from omnivector.storage.locations import data_files, deletion_read_version, fragment_files
from omnivector.storage.unique_ids import check_new_ids, record_append

if TYPE_CHECKING:
    from omnivector.resident.graphs import ResidentGraphs
    from omnivector.store import VectorStore

__all__ = ["Table", "WriteResult"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_ID_CHUNK = 512
_COMMIT_RETRIES = 8
_WRITE_LOCK_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write changed, and the table version it produced."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    version: int = 0


class Table:
    """One table of documents in a :class:`~omnivector.VectorStore`.

    Obtain it with ``store.create_table(...)`` or ``store.table(name)``.
    """

    def __init__(
        self,
        store: VectorStore,
        name: str,
        spec: TableSpec,
        *,
        view: lance.LanceDataset | None = None,
        embedding: EmbeddingFunction | None = None,
    ) -> None:
        self._store = store
        self.name = name
        self.spec = spec
        self._view = view
        self._embedding = embedding

    def __repr__(self) -> str:
        suffix = f", version={self._view.version}, read_only" if self._view is not None else ""
        spec = self.spec
        return f"Table({self.name!r}, dimension={spec.dimension}, metric={spec.metric!r}{suffix})"

    # -- properties -----------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    @property
    def metric(self) -> str:
        return self.spec.metric

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.spec.fields)

    @property
    def storage(self) -> StorageOptions:
        return self.spec.storage

    @property
    def embedding_config(self) -> EmbeddingConfig | None:
        """The embedding function's config recorded in the table, if it has one."""
        raw = self.spec.embedding
        return None if raw is None else EmbeddingConfig.from_json(json.dumps(raw))

    @property
    def embedding(self) -> EmbeddingFunction | None:
        """The function that embeds this table's texts and queries (``None``: the table has
        none). The recorded one is rebuilt on first use, once per store;
        :class:`~omnivector.EmbeddingUnavailableError` if it cannot be here."""
        if self._embedding is None:
            config = self.embedding_config
            if config is not None:
                functions = self._store.embedding_functions
                self._embedding = functions.resolve(config, table=self.name)
        return self._embedding

    @property
    def read_only(self) -> bool:
        return self._view is not None

    @property
    def uri(self) -> str:
        return self._store.location.table_uri(self.name)

    @property
    def version(self) -> int:
        return int(self.dataset().version)

    @property
    def schema(self) -> pa.Schema:
        return self.dataset().schema

    def dataset(self) -> lance.LanceDataset:
        """The current Lance dataset handle (a checked-out view stays at its version)."""
        if self._view is not None:
            return self._view
        self._store._check_open()  # the name was checked when this Table was made
        return self._store.cache.get(self.name)

    def writable_dataset(self) -> lance.LanceDataset:
        """A private, up-to-date handle for an operation that commits through it.

        Lance mutates a handle in place when committing through it, which must never
        happen to the shared handle other threads are reading.
        """
        self._check_writable()
        return self._store.cache.open_private(self.name)

    # -- writes ---------------------------------------------------------------------------

    def add(self, data: Any, *, engine: Engine = "local") -> WriteResult:
        """Insert new documents; any id already stored or repeated raises ``DuplicateIdError``
        and nothing is written.

        ``engine="ray"`` (or a :class:`~omnivector.RayEngine`) writes with Ray tasks through
        lance-ray; ``data`` may then also be a ``ray.data.Dataset``
        (see :mod:`omnivector.distributed`).
        """
        ray_engine = distributed.resolve_engine(engine)
        if ray_engine is not None:
            self._check_writable()
            return distributed_writes.add(self, data, ray_engine)
        table = self._prepare(data, defer_checks=True)
        if table.num_rows == 0:
            return WriteResult(version=self.version)

        def commit() -> WriteResult:
            digests = self._store.id_digests
            # A worker writes the data files while this thread checks the rows and then the
            # ids (Lance's writer leaves most of a second core idle); the files are committed
            # only if all is well.
            dataset = self.writable_dataset()
            writing = self._store.write_pool.submit(_write_files, table, dataset)
            try:
                ids = table.column("id")
                hashes = SortedIdHashes.of(ids)
                check_rows(table, hashes, metric=self.spec.metric)
                check = check_new_ids(digests, self.name, dataset, ids, hashes)
            except BaseException:
                self._drop_files(writing)
                raise
            with lance_errors(f"adding to {self.name!r}"):
                transaction = writing.result()
            taken = check.taken
            if taken:
                self._drop_files(writing)
                raise DuplicateIdError(
                    f"{len(taken)} id(s) already exist in table {self.name!r}, e.g. "
                    f"{sorted(taken)[:5]}; nothing was written. Use upsert() to replace them",
                    sorted(taken),
                )
            written = self._commit(dataset, transaction, f"adding to {self.name!r}")
            record_append(digests, self.name, check, written)
            self._store.cache.put(self.name, written)
            return WriteResult(inserted=table.num_rows, version=int(written.version))

        result = self._write(commit)
        self._store._after_write(self.name)
        return result

    def upsert(self, data: Any, *, engine: Engine = "local") -> WriteResult:
        """Insert documents, replacing stored documents with the same id.

        ``engine="ray"`` writes the documents with Ray tasks, like ``add``, and replaces the
        stored ones in the same commit.
        """
        ray_engine = distributed.resolve_engine(engine)
        if ray_engine is not None:
            self._check_writable()
            return distributed_writes.upsert(self, data, ray_engine)
        table = self._prepare(data)
        if table.num_rows == 0:
            return WriteResult(version=self.version)

        def commit() -> WriteResult:
            dataset = self.writable_dataset()
            action = f"upserting into {self.name!r}"
            try:
                with lance_errors(action):
                    transaction, stats = (
                        dataset.merge_insert("id")
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .execute_uncommitted(_reader(table))
                    )
            except OmnivectorError:
                self._drop_deletions(int(dataset.version))
                raise
            written = self._commit(dataset, transaction, action)
            self._store.cache.put(self.name, written)
            return WriteResult(
                inserted=int(stats["num_inserted_rows"]),
                updated=int(stats["num_updated_rows"]),
                version=int(written.version),
            )

        result = self._write(commit)
        self._store._after_write(self.name)
        return result

    def delete(
        self,
        ids: Sequence[str] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        where_sql: str | None = None,
    ) -> WriteResult:
        """Delete documents by id or by filter; ``deleted`` counts the rows removed."""
        self._check_writable()
        if (ids is None) == (where is None and where_sql is None):
            raise InvalidInputError("pass either ids=[...] or where={...} to delete()")
        compiled = self._filter(where, where_sql)
        id_list = _check_ids(ids) if ids is not None else None
        if id_list is not None and not id_list:
            return WriteResult(version=self.version)

        def commit() -> WriteResult:
            dataset = self.writable_dataset()
            if id_list is not None:
                predicates = [ids_filter(chunk) for chunk in _chunks(id_list, _ID_CHUNK)]
            elif compiled.residual is not None:
                matching = [row["id"] for row in self._scan(dataset, compiled, ["id"])]
                predicates = [ids_filter(chunk) for chunk in _chunks(matching, _ID_CHUNK)]
            else:
                predicates = [compiled.sql or "true"]
            deleted = 0
            with lance_errors(f"deleting from {self.name!r}", user_sql=where_sql is not None):
                for predicate in predicates:
                    before = dataset.count_rows()
                    try:
                        dataset.delete(predicate)
                    except Exception:
                        self._drop_deletions(int(dataset.version))
                        raise
                    deleted += before - dataset.count_rows()
            self._store.cache.put(self.name, dataset)
            return WriteResult(deleted=deleted, version=int(dataset.version))

        result = self._write(commit)
        self._store._after_write(self.name)
        return result

    # -- reads ----------------------------------------------------------------------------

    def get(self, ids: Sequence[str] | str, *, include_vector: bool = True) -> list[dict[str, Any]]:
        """Stored documents for ``ids``, in the order asked; missing ids are left out."""
        wanted = _check_ids([ids] if isinstance(ids, str) else ids)
        if not wanted:
            return []
        dataset = self.dataset()
        columns = result_columns(self.spec, None) + (["vector"] if include_vector else [])
        found: dict[str, dict[str, Any]] = {}
        with lance_errors(f"reading from {self.name!r}"):
            for chunk in _chunks(list(dict.fromkeys(wanted)), _ID_CHUNK):
                table = dataset.to_table(columns=columns, filter=ids_filter(chunk))
                for row in rows_from_arrow(table):
                    found[row["id"]] = row
        return [found[i] for i in wanted if i in found]

    def count(self, where: Mapping[str, Any] | None = None, *, where_sql: str | None = None) -> int:
        """Number of documents, optionally only those matching a filter."""
        compiled = self._filter(where, where_sql)
        dataset = self.dataset()
        if compiled.residual is None:
            with lance_errors(f"counting {self.name!r}", user_sql=where_sql is not None):
                return int(dataset.count_rows(filter=compiled.sql))
        return sum(1 for _ in self._scan(dataset, compiled, ["id"]))

    def __len__(self) -> int:
        return self.count()

    def iter_documents(
        self,
        *,
        where: Mapping[str, Any] | None = None,
        include_vector: bool = True,
        batch_size: int = 4096,
    ) -> Iterator[dict[str, Any]]:
        """Stream every (matching) document."""
        compiled = self._filter(where, None)
        columns = result_columns(self.spec, None) + (["vector"] if include_vector else [])
        yield from self._scan(self.dataset(), compiled, columns, batch_size=batch_size)

    def to_arrow(self) -> pa.Table:
        """The whole table as Arrow (metadata column left encoded)."""
        with lance_errors(f"reading {self.name!r}"):
            return self.dataset().to_table()

    def search(
        self,
        vector: Any = None,
        text: str | None = None,
        *,
        query: str | None = None,
        k: int = 10,
        where: Mapping[str, Any] | None = None,
        where_sql: str | None = None,
        columns: Sequence[str] | None = None,
        fusion: Fusion | None = None,
        text_columns: Sequence[str] | Mapping[str, float] | None = None,
        nprobes: int | None = None,
        ef: int | None = None,
        refine_factor: int | None = None,
        exact: bool = False,
    ) -> SearchResults:
        """Vector, full-text or hybrid search; see :mod:`omnivector.results` for scores.

        - ``vector``: nearest neighbours by the table's metric.
        - ``text``: BM25 over the full-text index (built on first use if missing); quoted
          phrases, ``+must`` and ``-must_not`` terms are understood.
        - both: hybrid, fused by ``fusion`` (default ``RRF(k=60)``) from the k nearest
          vectors and the 2k best BM25 matches, retrieved concurrently.
        - ``query``: embedded by the table's embedding function, drives both retrievers.
        """
        if query is not None:
            if vector is not None or text is not None:
                raise InvalidInputError("pass query= alone, or vector=/text= without query=")
            vector = embed_query(self._required_embedding(), query)
            text = query
        if vector is None and text is None:
            raise InvalidInputError("search needs vector=, text= or query=")
        limit = _check_positive("k", k)
        for knob, value in (("nprobes", nprobes), ("ef", ef), ("refine_factor", refine_factor)):
            if value is not None:
                _check_positive(knob, value)
        dataset = self.dataset()
        vector_query = text_query = None
        if vector is not None:
            vector_query = VectorQuery(
                vector=query_vector(vector, self.spec.dimension, self.spec.metric),
                k=limit,
                nprobes=nprobes,
                ef=ef,
                refine_factor=refine_factor,
                exact=bool(exact),
            )
            if columns == ["id"] and text is None and where is None and where_sql is None:
                # the shortest path: a graph answers in a fraction of what the general one
                # costs in Python
                graphs = self._graphs_for(vector_query)
                if graphs is not None:
                    found = self._from_graph(graphs, dataset, vector_query, columns)
                    if found is not None:
                        return found
        compiled = self._filter(where, where_sql)
        wanted = result_columns(self.spec, columns)
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError("text must be a non-empty string")
            boosts = self._text_columns(text_columns)
            dataset = self._ensure_fts(dataset, boosts)
            text_query = TextQuery(text=text, k=limit, columns=boosts)
        with lance_errors(f"searching {self.name!r}", user_sql=where_sql is not None):
            if vector_query is not None and text_query is not None:
                # BM25 candidates are cheap, ANN ones are not: the text leg goes deeper
                deeper = TextQuery(text_query.text, HYBRID_TEXT_DEPTH * limit, text_query.columns)
                nearest = partial(self._nearest, dataset, vector_query, compiled, wanted)
                hits = hybrid_search(
                    lambda: list(nearest()),
                    partial(text_search, dataset, self.spec, deeper, compiled, wanted),
                    fusion if fusion is not None else RRF(),
                    limit,
                    self._store.query_pool,
                )
            elif vector_query is not None:
                return self._nearest(dataset, vector_query, compiled, wanted)
            else:
                assert text_query is not None
                hits = text_search(dataset, self.spec, text_query, compiled, wanted)
        return SearchResults(hits)

    def _nearest(
        self,
        dataset: lance.LanceDataset,
        query: VectorQuery,
        where: CompiledFilter,
        columns: list[str],
    ) -> SearchResults:
        """From the resident graph when it can answer (see omnivector.resident), else Lance."""
        graphs = self._graphs_for(query)
        if graphs is None or not where.is_empty:
            return SearchResults(vector_search(dataset, self.spec, query, where, columns))
        found = self._from_graph(graphs, dataset, query, columns)
        if found is not None:
            return found
        graphs.passed()
        hits = vector_search(dataset, self.spec, query, where, columns)
        # after the answer: a load started first would compete with this query
        graphs.refresh(self.name, dataset, self.spec)
        return SearchResults(hits)

    def _graphs_for(self, query: VectorQuery) -> ResidentGraphs | None:
        """The store's resident graphs if they may answer ``query`` (unfiltered is up to
        the caller): not for exact queries or a checked-out version."""
        graphs = self._store.resident
        return None if graphs is None or self._view is not None or query.exact else graphs

    def _from_graph(
        self,
        graphs: ResidentGraphs,
        dataset: lance.LanceDataset,
        query: VectorQuery,
        columns: list[str],
    ) -> SearchResults | None:
        """The answer of this table's graph if it is at the dataset's version (counted as
        answered from memory), else None (counted by the caller when it asks Lance)."""
        current = graphs.graph(self.name, dataset)
        if current is None:
            return None
        found = resident_search(dataset, self.spec, *current, query, columns)
        if found is None:
            graphs.retract()
        return found

    def load_resident(self, *, timeout: float | None = None) -> bool:
        """Load (or bring up to date) this table's in-memory graph and wait for it.

        False when the table is below ``ResidentConfig.min_rows`` or its graph would not fit
        in ``max_bytes``; ``TimeoutError`` after ``timeout`` seconds (the load goes on).
        Needs ``VectorStore(..., resident=ResidentConfig())``.
        """
        graphs = self._store.resident
        if graphs is None:
            raise InvalidInputError(
                "resident graphs are off: open the store with "
                "VectorStore(..., resident=ov.ResidentConfig())"
            )
        if self._view is not None:
            raise ReadOnlyError("a checked-out version is served by Lance, not a resident graph")
        return graphs.load(self.name, self.dataset(), self.spec, timeout=timeout) is not None

    # -- indexes (see omnivector.indexing) ------------------------------------------------

    def create_index(
        self,
        *,
        kind: str = "auto",
        metric: str | None = None,
        background: bool = False,
        replace: bool = True,
        engine: Engine = "local",
        **params: Any,
    ) -> indexing.IndexBuild | indexing.IndexInfo | indexing.IndexSkipped | None:
        """Build a vector index (``kind``: IVF_* / IVF_HNSW_* / "auto").

        Blocks and returns the index's info, or with ``background=True`` returns an
        :class:`~omnivector.IndexBuild` at once. "auto" builds nothing when the table is
        small enough that exact search is the better choice: it returns an
        :class:`~omnivector.IndexSkipped` (a finished ``IndexBuild`` in the background)
        whose ``reason`` says so, and logs it. ``engine="ray"`` builds it with Ray workers
        through lance-ray (blocking).
        """
        self._check_writable()
        ray_engine = _ray_engine(engine, background)
        request = indexing.plan_vector_index(
            self.name,
            self.dataset(),
            self.spec,
            kind=kind,
            metric=metric,
            replace=replace,
            params=params,
        )
        if isinstance(request, indexing.IndexSkipped):
            return indexing.skip(request, background=background)
        if ray_engine is not None:
            return distributed.build_index(self, request, ray_engine)
        return self._store.builder.run(request, background=background)

    def create_scalar_index(
        self,
        column: str,
        *,
        kind: str = "auto",
        background: bool = False,
        replace: bool = True,
        engine: Engine = "local",
    ) -> indexing.IndexBuild | indexing.IndexInfo | None:
        """Build a scalar index on ``column`` (auto: bitmap, btree or label_list)."""
        self._check_writable()
        ray_engine = _ray_engine(engine, background)
        request = indexing.plan_scalar_index(
            self.name, self.dataset(), self.spec, column, kind=kind, replace=replace
        )
        if ray_engine is not None:
            return distributed.build_index(self, request, ray_engine)
        return self._store.builder.run(request, background=background)

    def create_fts_index(
        self,
        column: str = "text",
        *,
        background: bool = False,
        replace: bool = True,
        engine: Engine = "local",
        **tokenizer: Any,
    ) -> indexing.IndexBuild | indexing.IndexInfo | None:
        """Build a BM25 full-text index on ``column`` (tokenizer options pass to Lance)."""
        self._check_writable()
        ray_engine = _ray_engine(engine, background)
        request = indexing.plan_fts_index(
            self.name, self.dataset(), self.spec, column, replace=replace, tokenizer=tokenizer
        )
        if ray_engine is not None:
            return distributed.build_index(self, request, ray_engine)
        return self._store.builder.run(request, background=background)

    def indexes(self) -> list[indexing.IndexInfo]:
        """Every index with its kind, columns and indexed/unindexed row counts."""
        return indexing.list_indexes(self.dataset())

    def drop_index(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove an index by name."""
        self._check_writable()
        indexing.drop_index(self, name, missing_ok=missing_ok)

    def auto_index(
        self, *, background: bool = False
    ) -> list[indexing.IndexBuild | indexing.IndexInfo]:
        """Build what the policy says is missing: vector, id, FTS and field indexes."""
        self._check_writable()
        return indexing.auto_index(self, background=background)

    def optimize_indexes(self) -> None:
        """Fold rows written since the last build into the existing indexes."""
        self._check_writable()
        maintenance.optimize_indexes(self)

    # Names kept from the original Omni-Vector API.
    def create_hnsw_index(self, **params: Any) -> Any:
        return self.create_index(kind=params.pop("kind", "IVF_HNSW_SQ"), **params)

    def create_btree_index(self, column: str, **options: Any) -> Any:
        return self.create_scalar_index(column, kind="btree", **options)

    def create_bitmap_index(self, column: str, **options: Any) -> Any:
        return self.create_scalar_index(column, kind="bitmap", **options)

    def create_optimal_vector_index(self, **options: Any) -> Any:
        return self.create_index(kind="auto", **options)

    def auto_index_if_needed(self, **options: Any) -> Any:
        return self.auto_index(**options)

    # -- maintenance, versions, schema (see omnivector.maintenance) -----------------------

    def compact(self, *, engine: Engine = "local", **options: Any) -> maintenance.CompactionResult:
        """Merge small fragments and purge deleted rows (serialized with index builds).

        ``engine="ray"`` runs the rewrites as Ray tasks through lance-ray.
        """
        self._check_writable()
        ray_engine = distributed.resolve_engine(engine)
        if ray_engine is not None:
            return distributed.compact(self, ray_engine, **options)
        return maintenance.compact(self, **options)

    def cleanup(
        self, *, older_than: Any = None, keep_versions: int | None = None
    ) -> maintenance.CleanupResult:
        """Remove old versions' files (tagged versions are kept)."""
        self._check_writable()
        return maintenance.cleanup(self, older_than=older_than, keep_versions=keep_versions)

    def optimize(self) -> maintenance.OptimizeResult:
        """Compact, fold new rows into indexes, and clean up old versions."""
        self._check_writable()
        return maintenance.optimize(self)

    def stats(self) -> maintenance.TableStats:
        """Rows, bytes on disk (total, per column, per row), fragments, versions, indexes."""
        return maintenance.stats(self)

    def health(self) -> maintenance.TableHealth:
        """Fragmentation, deleted rows, old versions and unindexed rows, with advice."""
        return maintenance.health(self)

    def versions(self) -> list[maintenance.VersionInfo]:
        return maintenance.versions(self)

    def tags(self) -> dict[str, int]:
        return maintenance.tags(self)

    def tag(self, name: str, version: int | None = None) -> None:
        self._check_writable()
        maintenance.tag(self, name, version)

    def untag(self, name: str) -> None:
        self._check_writable()
        maintenance.untag(self, name)

    def checkout(self, version: int | str) -> Table:
        """A read-only view of an older version or tag: searches work, writes raise."""
        dataset = maintenance.checkout_dataset(self, version)
        spec = TableSpec.from_schema(dataset.schema)
        return Table(self._store, self.name, spec, view=dataset, embedding=self._embedding)

    def restore(self, version: int | str) -> WriteResult:
        """Make an older version (or tag) the latest version again."""
        self._check_writable()
        return maintenance.restore(self, version)

    def add_columns(self, columns: Mapping[str, str], *, expressions: bool = False) -> None:
        """Add declared fields: ``{"name": "type"}``, or SQL expressions when ``expressions``."""
        self._check_writable()
        maintenance.add_columns(self, columns, expressions=expressions)

    def alter_columns(self, *alterations: Mapping[str, Any]) -> None:
        """Rename, cast or change nullability of declared fields."""
        self._check_writable()
        maintenance.alter_columns(self, list(alterations))

    def drop_columns(self, columns: Sequence[str]) -> None:
        """Remove declared fields."""
        self._check_writable()
        maintenance.drop_columns(self, list(columns))

    # -- internals --------------------------------------------------------------------------

    def _commit(
        self, dataset: lance.LanceDataset, transaction: lance.Transaction, action: str
    ) -> lance.LanceDataset:
        """Commit ``transaction``, whose files ``dataset`` has written, and return the new
        version's handle (sharing the store's session).

        A commit that fails (a full disk, a conflict) leaves files no version uses: they are
        removed, unless the latest version uses them (the commit landed after all: its
        handle is returned).
        """
        try:
            with lance_errors(action):
                return lance.LanceDataset.commit(dataset, transaction)
        except OmnivectorError:
            read = fragment_files(f.metadata for f in dataset.get_fragments())
            written = fragment_files(_operation_fragments(transaction.operation)) - read
            latest = self._latest()
            if latest is None:  # whether it landed is unknown: keep the files
                raise
            stored = fragment_files(f.metadata for f in latest.get_fragments())
            if written and written <= stored:
                return latest
            self._store.location.remove_files(self.name, sorted(written - stored))
            raise

    def _drop_deletions(self, read_version: int) -> None:
        """Remove the deletion files of a write that read ``read_version`` and failed: Lance
        writes them before committing, named after the version read, and only writes
        holding the write lock (this one) make them."""
        latest = self._latest()
        if latest is None:
            return
        stored = fragment_files(f.metadata for f in latest.get_fragments())
        location = self._store.location
        try:
            found = location.list_files(self.name, "_deletions")
        except OSError as exc:
            log.debug("could not list the deletion files of %s: %s", self.name, exc)
            return
        stale = [p for p in found if deletion_read_version(p) == read_version and p not in stored]
        location.remove_files(self.name, stale)

    def _latest(self) -> lance.LanceDataset | None:
        """A fresh handle on the latest version, or None if it cannot be opened."""
        try:
            return self._store.cache.open_private(self.name)
        except OmnivectorError as exc:
            log.debug("could not open %s to clean up a failed write: %s", self.name, exc)
            return None

    def _drop_files(self, writing: Future[lance.Transaction]) -> None:
        """Wait for a write that will not be committed and remove its data files."""
        try:
            transaction = writing.result()
        except Exception:  # the write failed too: it committed nothing
            return
        appended = cast(lance.LanceOperation.Append, transaction.operation)
        self._store.location.remove_files(self.name, data_files(appended.fragments))

    def _check_writable(self) -> None:
        if self._view is not None:
            raise ReadOnlyError(
                f"table {self.name!r} is checked out at version {self._view.version} "
                "(read-only); use store.table(name) to write, or restore() this version"
            )
        self._store._check_open()

    def _prepare(self, data: Any, *, defer_checks: bool = False) -> pa.Table:
        self._check_writable()
        if self._embedding is not None or self.spec.embedding is not None:
            data = fill_vectors(data, self._required_embedding, self.spec.dimension)
        return self.spec.to_arrow(
            data, extra_schema=self._extra_schema(), defer_checks=defer_checks
        )

    def _required_embedding(self) -> EmbeddingFunction:
        function = self.embedding
        if function is None:
            raise InvalidInputError(
                f"table {self.name!r} has no embedding function, so documents need vectors "
                "and search needs vector= or text=; create it with "
                "store.create_table(name, embedding=fn), or open it with "
                f"store.table({self.name!r}, embedding=fn)"
            )
        return function

    def _extra_schema(self) -> pa.Schema:
        """Columns added by schema evolution beyond the spec's declared fields."""
        known = {"id", "vector", "text", "metadata", *self.spec.fields}
        return pa.schema([f for f in self.dataset().schema if f.name not in known])

    def _write(self, commit: Callable[[], T]) -> T:
        lock = self._store.location.lock_path(self.name, "write")
        delay = 0.02
        for attempt in range(_COMMIT_RETRIES):
            try:
                with self._store._lock(lock, timeout=_WRITE_LOCK_TIMEOUT, what="write"):
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

    def _filter(self, where: Mapping[str, Any] | None, where_sql: str | None) -> CompiledFilter:
        if where is None and where_sql is None:
            return MATCH_ALL
        return compile_filter(where, self._all_fields(), where_sql=where_sql)

    def _all_fields(self) -> dict[str, str]:
        return dict(self.spec.fields)

    def _scan(
        self,
        dataset: lance.LanceDataset,
        compiled: CompiledFilter,
        columns: list[str],
        *,
        batch_size: int = 4096,
    ) -> Iterator[dict[str, Any]]:
        needed = list(dict.fromkeys([*columns, *compiled.residual_columns]))
        with lance_errors(f"scanning {self.name!r}"):
            batches = dataset.to_batches(columns=needed, filter=compiled.sql, batch_size=batch_size)
            for batch in batches:
                for row in rows_from_arrow(batch):
                    if compiled.matches(row):
                        yield {c: row[c] for c in columns}

    def _text_columns(
        self, columns: Sequence[str] | Mapping[str, float] | None
    ) -> dict[str, float]:
        if columns is None:
            return {"text": 1.0}
        boosts = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns, 1.0)
        allowed = {"text", *[n for n, t in self.spec.fields.items() if t == "string"]}
        unknown = sorted(set(boosts) - allowed)
        if unknown or not boosts:
            raise InvalidInputError(
                f"text_columns must name string columns {sorted(allowed)}, got {sorted(boosts)}"
            )
        for name, boost in boosts.items():
            if isinstance(boost, bool) or not isinstance(boost, (int, float)) or boost <= 0:
                raise InvalidInputError(f"boost for {name!r} must be a positive number")
        return {name: float(boost) for name, boost in boosts.items()}

    def _ensure_fts(
        self, dataset: lance.LanceDataset, columns: Mapping[str, float]
    ) -> lance.LanceDataset:
        missing = [c for c in columns if not indexing.has_fts_index(dataset, c)]
        if not missing:
            return dataset
        if self._view is not None:
            raise InvalidInputError(
                f"version {dataset.version} has no full-text index on {missing}; text search "
                "on a checked-out version needs one built before that version"
            )
        for column in missing:
            self.create_fts_index(column, replace=False)
        return self.dataset()


def _ray_engine(engine: object, background: bool) -> distributed.RayEngine | None:
    resolved = distributed.resolve_engine(engine)
    if resolved is not None and background:
        raise InvalidInputError(
            "background=True builds in a local worker process; a build with engine='ray' "
            "runs on the Ray cluster and blocks: drop one of them"
        )
    return resolved


def _operation_fragments(operation: Any) -> list[Any]:
    """The fragments a Lance operation adds or changes (an append's, an update's)."""
    names = ("fragments", "new_fragments", "updated_fragments")
    return [fragment for name in names for fragment in getattr(operation, name, None) or []]


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def _write_files(table: pa.Table, dataset: lance.LanceDataset) -> lance.Transaction:
    """Write ``table`` as new data files of ``dataset``: an append, not committed yet."""
    transaction: lance.Transaction = write_fragments(
        _reader(table), dataset, return_transaction=True
    )
    return transaction


def _check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence | set | frozenset):
        raise InvalidInputError("ids must be a list of strings")
    result = list(ids)
    for value in result:
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"ids must be non-empty strings, got {value!r}")
    return result


def _chunks(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
