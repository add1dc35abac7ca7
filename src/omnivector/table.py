"""Table: the user-facing operations on one table of documents.

A thin facade: each method checks what only the facade knows (read-only views, the engine
asked for, the embedding function) and delegates to an operation (:mod:`omnivector.operations`,
:mod:`omnivector.indexing`, :mod:`omnivector.maintenance`, :mod:`omnivector.distributed`),
handing it the table's :class:`~omnivector.storage.context.TableContext`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from omnivector.compat import TableCompat
from omnivector.core.errors import InvalidInputError, ReadOnlyError
from omnivector.core.fusion import Fusion
from omnivector.core.layout import StorageOptions
from omnivector.core.rerank import Reranker
from omnivector.core.results import SearchResults, WriteResult, arrow_to_pandas, arrow_to_polars
from omnivector.core.schema import TableSpec
from omnivector.distributed import engine as distributed
from omnivector.distributed import writes as distributed_writes
from omnivector.distributed.engine import Engine, RayEngine
from omnivector.embeddings import (
    EmbeddingConfig,
    EmbeddingFunction,
    EmbeddingFunctions,
    embed_query,
)
from omnivector.indexing.auto import auto_index
from omnivector.indexing.builds import IndexBuild, IndexBuilder, skip
from omnivector.indexing.catalog import IndexInfo, drop_index, list_indexes
from omnivector.indexing.planning import (
    IndexSkipped,
    plan_fts_index,
    plan_scalar_index,
    plan_vector_index,
)
from omnivector.maintenance import compaction
from omnivector.operations import files, reads, search, versions, writes
from omnivector.resident.graphs import ResidentGraphs
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset
from omnivector.upkeep import TableUpkeep


class _Opener(Protocol):
    """What a table is opened again from when unpickled: its store."""

    def table(self, name: str) -> Table: ...


__all__ = ["Table"]


class Table(TableUpkeep, TableCompat):
    """One table of documents in a :class:`~omnivector.VectorStore`.

    Obtain it with ``store.create_table(...)`` or ``store.table(name)``.
    """

    def __init__(
        self,
        context: TableContext,
        *,
        builder: IndexBuilder,
        resident: ResidentGraphs | None,
        embedding: EmbeddingFunction | None,
        functions: EmbeddingFunctions,
        store: _Opener | None = None,
    ) -> None:
        self._ctx = context
        self._store = store  # what a pickled table is opened again from
        self._builder = builder
        self._resident = resident
        self._embedding = embedding
        self._functions = functions
        self.name = context.name

    def __reduce__(self) -> tuple[Any, ...]:
        # a child process (multiprocessing's spawn or forkserver) opens the table afresh
        if self._store is None:
            raise TypeError(f"table {self.name!r} was not opened from a VectorStore")
        view = self._ctx.view
        version = int(view.version) if view is not None else None
        return (_reopen_table, (self._store, self.name, version))

    def __repr__(self) -> str:
        view = self._ctx.view
        suffix = f", version={view.version}, read_only" if view is not None else ""
        spec = self.spec
        return f"Table({self.name!r}, dimension={spec.dimension}, metric={spec.metric!r}{suffix})"

    # -- properties -----------------------------------------------------------------------

    @property
    def spec(self) -> TableSpec:
        return self._ctx.spec

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
                self._embedding = self._functions.resolve(config, table=self.name)
        return self._embedding

    @property
    def read_only(self) -> bool:
        return self._ctx.read_only

    @property
    def uri(self) -> str:
        return self._ctx.uri

    @property
    def version(self) -> int:
        return int(self.dataset().version)

    @property
    def schema(self) -> pa.Schema:
        return self.dataset().schema

    def dataset(self) -> Dataset:
        """The current Lance dataset handle (a checked-out view stays at its version)."""
        return self._ctx.dataset()

    def writable_dataset(self) -> Dataset:
        """A private, up-to-date handle for an operation that commits through it.

        Lance mutates a handle in place when committing through it, which must never
        happen to the shared handle other threads are reading.
        """
        return self._ctx.writable_dataset()

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
            self._ctx.check_writable()
            return distributed_writes.add(self._ctx, data, ray_engine, embedding=self._embedder())
        return writes.add(self._ctx, data, embedding=self._embedder())

    def upsert(self, data: Any, *, engine: Engine = "local") -> WriteResult:
        """Insert documents, replacing stored documents with the same id.

        ``engine="ray"`` writes the documents with Ray tasks, like ``add``, and replaces the
        stored ones in the same commit.
        """
        ray_engine = distributed.resolve_engine(engine)
        if ray_engine is not None:
            self._ctx.check_writable()
            return distributed_writes.upsert(
                self._ctx, data, ray_engine, embedding=self._embedder()
            )
        return writes.upsert(self._ctx, data, embedding=self._embedder())

    def delete(
        self,
        ids: Sequence[str] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        where_sql: str | None = None,
        all: bool = False,
    ) -> WriteResult:
        """Delete documents by id, by filter, or every one with ``all=True``; ``deleted``
        counts the rows removed.

        A filter that matches every row whatever the data (``{}``, ``where_sql="1=1"``) is
        refused with ``UnsafeOperationError``: deleting everything takes ``all=True``.
        """
        return writes.delete(self._ctx, ids, where=where, where_sql=where_sql, everything=all)

    # -- reads ----------------------------------------------------------------------------

    def get(self, ids: Sequence[str] | str, *, include_vector: bool = True) -> list[dict[str, Any]]:
        """Stored documents for ``ids``, in the order asked; missing ids are left out."""
        return reads.get(self._ctx, ids, include_vector=include_vector)

    def count(self, where: Mapping[str, Any] | None = None, *, where_sql: str | None = None) -> int:
        """Number of documents, optionally only those matching a filter."""
        return reads.count(self._ctx, where, where_sql)

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
        return reads.iter_documents(
            self._ctx, where=where, include_vector=include_vector, batch_size=batch_size
        )

    def to_arrow(self) -> pa.Table:
        """The whole table as Arrow (metadata column left encoded)."""
        return reads.to_arrow(self._ctx)

    def export(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        where: Mapping[str, Any] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write every (matching) document to a JSONL, JSON, Parquet, CSV or Arrow IPC file
        (``format``: by extension unless given); return the number written.
        ``progress(rows)`` is told the rows written as they are."""
        target = Path(path)
        kind = files.detect_format(target, format)
        advance = progress if progress is not None else (lambda rows: None)
        return files.export_documents(self._ctx, target, kind, where=where, advance=advance)

    def to_pandas(self) -> Any:
        """The whole table as a pandas DataFrame (as ``to_arrow``; needs pandas)."""
        return arrow_to_pandas(self.to_arrow())

    def to_polars(self) -> Any:
        """The whole table as a polars DataFrame (as ``to_arrow``; needs polars)."""
        return arrow_to_polars(self.to_arrow())

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
        rerank: Reranker | None = None,
        normalize_scores: bool = False,
    ) -> SearchResults:
        """Vector, full-text or hybrid search; see :mod:`omnivector.core.results` for scores.

        - ``vector``: nearest neighbours by the table's metric.
        - ``text``: BM25 over the full-text index (rows written since it was built are
          scanned; a column without one is searched without it while auto-maintenance
          builds it); quoted phrases, ``+must`` and ``-must_not`` terms are understood.
        - both: hybrid, fused by ``fusion`` (default ``RRF(k=60)``) from the k nearest
          vectors and the 2k best BM25 matches, retrieved concurrently.
        - ``query``: embedded by the table's embedding function, drives both retrievers.
        - ``rerank``: ``(query, hits) -> scores`` re-sorts 3k candidates, keeps the k best
          (see :mod:`omnivector.core.rerank`).
        - ``normalize_scores``: scores mapped into [0, 1] (see :mod:`omnivector.core.normalize`).
        """
        if query is not None:
            if vector is not None or text is not None:
                raise InvalidInputError("pass query= alone, or vector=/text= without query=")
            vector = embed_query(self._required_embedding(), query)
            text = query
        return search.search(
            self._ctx,
            vector=vector,
            text=text,
            k=k,
            where=where,
            where_sql=where_sql,
            columns=columns,
            fusion=fusion,
            text_columns=text_columns,
            nprobes=nprobes,
            ef=ef,
            refine_factor=refine_factor,
            exact=exact,
            rerank=rerank,
            normalize_scores=normalize_scores,
            graphs=self._resident,
        )

    def load_resident(self, *, timeout: float | None = None) -> bool:
        """Load (or bring up to date) this table's in-memory graph and wait for it.

        False when the table is below ``ResidentConfig.min_rows`` or its graph would not fit
        in ``max_bytes``; ``TimeoutError`` after ``timeout`` seconds (the load goes on).
        Needs resident graphs (on unless the store was opened with ``resident=False``).
        """
        graphs = self._resident
        if graphs is None:
            raise InvalidInputError(
                "resident graphs are off (the store was opened with resident=False); open "
                "it without that option, or with resident=ov.ResidentConfig(...)"
            )
        if self.read_only:
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
    ) -> IndexBuild | IndexInfo | IndexSkipped | None:
        """Build a vector index (``kind``: IVF_* / IVF_HNSW_* / "auto").

        Blocks and returns the index's info, or with ``background=True`` returns an
        :class:`~omnivector.IndexBuild` at once. "auto" builds nothing when the table is
        small enough that exact search is the better choice: it returns an
        :class:`~omnivector.IndexSkipped` (a finished ``IndexBuild`` in the background)
        whose ``reason`` says so, and logs it. ``engine="ray"`` builds it with Ray workers
        through lance-ray (blocking).
        """
        self._ctx.check_writable()
        ray_engine = _ray_engine(engine, background)
        request = plan_vector_index(
            self.name,
            self.dataset(),
            self.spec,
            kind=kind,
            metric=metric,
            replace=replace,
            params=params,
        )
        if isinstance(request, IndexSkipped):
            return skip(request, background=background)
        if ray_engine is not None:
            return distributed.build_index(self._ctx, request, ray_engine)
        return self._builder.run(request, background=background)

    def create_scalar_index(
        self,
        column: str,
        *,
        kind: str = "auto",
        background: bool = False,
        replace: bool = True,
        engine: Engine = "local",
    ) -> IndexBuild | IndexInfo | None:
        """Build a scalar index on ``column`` (auto: bitmap, btree or label_list)."""
        self._ctx.check_writable()
        ray_engine = _ray_engine(engine, background)
        request = plan_scalar_index(
            self.name, self.dataset(), self.spec, column, kind=kind, replace=replace
        )
        if ray_engine is not None:
            return distributed.build_index(self._ctx, request, ray_engine)
        return self._builder.run(request, background=background)

    def create_fts_index(
        self,
        column: str = "text",
        *,
        background: bool = False,
        replace: bool = True,
        engine: Engine = "local",
        **tokenizer: Any,
    ) -> IndexBuild | IndexInfo | None:
        """Build a BM25 full-text index on ``column`` (tokenizer options pass to Lance)."""
        self._ctx.check_writable()
        ray_engine = _ray_engine(engine, background)
        request = plan_fts_index(
            self.name, self.dataset(), self.spec, column, replace=replace, tokenizer=tokenizer
        )
        if ray_engine is not None:
            return distributed.build_index(self._ctx, request, ray_engine)
        return self._builder.run(request, background=background)

    def indexes(self) -> list[IndexInfo]:
        """Every index with its kind, columns and indexed/unindexed row counts."""
        return list_indexes(self.dataset())

    def drop_index(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove an index by name."""
        self._ctx.check_writable()
        drop_index(self._ctx, name, missing_ok=missing_ok)

    def auto_index(self, *, background: bool = False) -> list[IndexBuild | IndexInfo]:
        """Build what the policy says is missing: vector, id, FTS and field indexes."""
        self._ctx.check_writable()
        return auto_index(self._ctx, self._builder, background=background)

    def optimize_indexes(self) -> None:
        """Fold rows written since the last build into the existing indexes."""
        self._ctx.check_writable()
        compaction.optimize_indexes(self._ctx)

    # -- versions ---------------------------------------------------------------------------

    def checkout(self, version: int | str) -> Table:
        """A read-only view of an older version or tag: searches work, writes raise."""
        dataset = versions.checkout_dataset(self._ctx, version)
        view = TableContext(
            self.name, TableSpec.from_schema(dataset.schema), self._ctx.services, view=dataset
        )
        return Table(
            view,
            builder=self._builder,
            resident=self._resident,
            embedding=self._embedding,
            functions=self._functions,
            store=self._store,
        )

    # -- internals --------------------------------------------------------------------------

    def _embedder(self) -> Callable[[], EmbeddingFunction] | None:
        """What makes the vectors documents lack: the table's embedding function, if any."""
        if self._embedding is not None or self.spec.embedding is not None:
            return self._required_embedding
        return None

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


def _ray_engine(engine: object, background: bool) -> RayEngine | None:
    resolved = distributed.resolve_engine(engine)
    if resolved is not None and background:
        raise InvalidInputError(
            "background=True builds in a local worker process; a build with engine='ray' "
            "runs on the Ray cluster and blocks: drop one of them"
        )
    return resolved


def _reopen_table(store: _Opener, name: str, version: int | None) -> Table:
    """Unpickle a table: open it again in the unpickled store (at its version, for a view)."""
    table = store.table(name)
    return table if version is None else table.checkout(version)
