"""An MCP server on an omnivector store: agent memory and tool search over MCP
(``pip install 'omni-vector[mcp]'``).

>>> from omnivector.integrations.mcp import create_server
>>> create_server(store).run()            # stdio; or: omnivector mcp --store PATH  # doctest: +SKIP

Tools: ``list_tables``, ``describe_table``, ``search``, ``get_documents``, ``count`` and
``index_status`` read; ``add_documents``, ``upsert_documents`` and ``delete_documents``
write (left out with ``read_only=True``). A document is ``{"id", "text", "vector",
"metadata", <declared fields>}``; ``vector`` may be left out on a table with an embedding
function, which embeds ``text``. Every failure an argument causes comes back as a tool error
(``isError``) carrying the omnivector message; the server keeps serving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import omnivector as ov

from ._common import missing_dependency

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations
except ImportError as exc:
    raise missing_dependency(__name__, "the MCP SDK (mcp)", "mcp") from exc

__all__ = ["DEFAULT_PORT", "create_server", "serve"]

DEFAULT_PORT = 8765
HOST = "127.0.0.1"  # the HTTP transport has no authentication: it listens on loopback only
_MAX_K = 1000

_INSTRUCTIONS = """\
An omnivector store: tables of documents (id, text, vector, metadata, declared fields) with
vector, keyword (BM25) and hybrid search. Start with list_tables and describe_table. search
takes query= (natural language, on tables with an embedding function: hybrid), text=
(keywords) or vector=, and where= filters such as {"year": {"$gte": 2020}} or
{"metadata.topic": "storage"}. Documents are written by id: add_documents refuses ids that
exist, upsert_documents replaces them."""

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


@contextmanager
def _tool_errors() -> Iterator[None]:
    """omnivector's errors as tool errors: the message reaches the caller, the server lives."""
    try:
        yield
    except ov.OmnivectorError as exc:
        raise ToolError(str(exc)) from exc


def create_server(store: ov.VectorStore, *, read_only: bool = False) -> MCPServer:
    """An MCP server (the SDK's ``MCPServer``) whose tools work on ``store``.

    ``read_only`` registers only the reading tools. Run it with ``.run()`` (stdio) or
    ``.run("streamable-http", host=..., port=...)``, or use :func:`serve`.
    """
    if not isinstance(store, ov.VectorStore):
        raise ov.InvalidInputError(f"store must be an omnivector.VectorStore, got {store!r}")
    tools = _Tools(store, read_only=read_only)
    server: MCPServer = MCPServer(
        "omnivector",
        instructions=_INSTRUCTIONS,
        version=ov.__version__,
        log_level="WARNING",
    )
    reading: list[Callable[..., dict[str, Any]]] = [
        tools.list_tables,
        tools.describe_table,
        tools.search,
        tools.get_documents,
        tools.count,
        tools.index_status,
    ]
    writing: list[Callable[..., dict[str, Any]]] = [
        tools.add_documents,
        tools.upsert_documents,
        tools.delete_documents,
    ]
    for tool in reading:
        server.add_tool(tool, annotations=_READ)
    if not read_only:
        for tool in writing:
            destructive = tool == tools.delete_documents
            server.add_tool(tool, annotations=_DELETE if destructive else _WRITE)
    return server


def serve(
    store: ov.VectorStore,
    *,
    read_only: bool = False,
    transport: Literal["stdio", "http"] = "stdio",
    port: int = DEFAULT_PORT,
) -> None:
    """Serve ``store`` over stdio until the client closes it, or over streamable HTTP on
    ``127.0.0.1:port`` (path ``/mcp``) until interrupted."""
    server = create_server(store, read_only=read_only)
    if transport == "http":
        server.run("streamable-http", host=HOST, port=port)
    else:
        server.run()


class _Tools:
    """The tool functions; their signatures and docstrings are what clients see."""

    def __init__(self, store: ov.VectorStore, *, read_only: bool) -> None:
        self._store = store
        self._read_only = read_only

    def list_tables(self) -> dict[str, Any]:
        """The names of the store's tables."""
        with _tool_errors():
            return {"tables": self._store.table_names()}

    def describe_table(self, table: str) -> dict[str, Any]:
        """A table's dimension, metric, declared fields, row count, version, indexes and
        embedding function (with one, documents and searches may give text alone)."""
        with _tool_errors():
            tbl = self._store.table(table)
            return {
                "name": tbl.name,
                "dimension": tbl.dimension,
                "metric": tbl.metric,
                "fields": tbl.fields,
                "rows": tbl.count(),
                "version": tbl.version,
                "embedding": _embedding(tbl),
                "indexes": [dataclasses.asdict(info) for info in tbl.indexes()],
            }

    def search(
        self,
        table: str,
        query: str | None = None,
        text: str | None = None,
        vector: list[float] | None = None,
        where: dict[str, Any] | None = None,
        k: int = 10,
    ) -> dict[str, Any]:
        """Search a table; best hits first, each with id, score, text, metadata and fields.

        query: natural language, embedded by the table's embedding function and also matched
        as keywords (hybrid). text: keywords (BM25; "quoted phrases", +must, -exclude).
        vector: a query vector of the table's dimension. text and vector together: hybrid.
        where: a filter, e.g. {"category": "paper", "year": {"$gte": 2020}}. k: hits wanted.
        """
        with _tool_errors():
            tbl = self._store.table(table)
            if isinstance(k, int) and k > _MAX_K:
                raise ov.InvalidInputError(f"k must be at most {_MAX_K}, got {k}")
            if self._read_only and (text is not None or query is not None):
                self._check_text_index(tbl)
            hits = tbl.search(vector, text, query=query, k=k, where=where)
            return {"hits": [_plain(hit.to_dict()) for hit in hits]}

    def get_documents(
        self, table: str, ids: list[str], include_vectors: bool = False
    ) -> dict[str, Any]:
        """Documents by id, in the order asked; ids not found are listed under "missing"."""
        with _tool_errors():
            found = self._store.table(table).get(ids, include_vector=include_vectors)
            present = {doc["id"] for doc in found}
            return {
                "documents": [_plain(doc) for doc in found],
                "missing": [i for i in dict.fromkeys(ids) if i not in present],
            }

    def count(self, table: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
        """The number of documents in a table, or of those matching a filter."""
        with _tool_errors():
            return {"count": self._store.table(table).count(where)}

    def index_status(self, table: str) -> dict[str, Any]:
        """A table's indexes with their indexed and unindexed rows, and whether an index
        build or compaction is running on it (in any process)."""
        with _tool_errors():
            tbl = self._store.table(table)
            return {
                "indexes": [dataclasses.asdict(info) for info in tbl.indexes()],
                "busy": not self._store.wait_for_maintenance(table, timeout=0),
            }

    def add_documents(self, table: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
        """Add new documents; an id that exists already fails the whole call (nothing is
        written). A missing table is created, with the dimension of the documents' vectors.
        Each document: {"id", "text", "vector" (optional on a table that embeds text),
        "metadata": {...}, <declared fields>}."""
        with _tool_errors():
            written = self._writable(table, documents).add(documents)
            return {"inserted": written.inserted, "version": written.version}

    def upsert_documents(self, table: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
        """Insert documents, replacing stored ones with the same id (same shape as
        add_documents; a missing table is created)."""
        with _tool_errors():
            written = self._writable(table, documents).upsert(documents)
            return {
                "inserted": written.inserted,
                "updated": written.updated,
                "version": written.version,
            }

    def delete_documents(self, table: str, ids: list[str]) -> dict[str, Any]:
        """Delete documents by id (at least one; there is no "delete everything")."""
        with _tool_errors():
            if not ids:
                raise ov.InvalidInputError(
                    "ids is empty: name the documents to delete (delete_documents never "
                    "deletes everything)"
                )
            return {"deleted": self._store.table(table).delete(ids).deleted}

    # -- helpers ----------------------------------------------------------------------------

    def _writable(self, name: str, documents: list[dict[str, Any]]) -> ov.Table:
        """The table to write ``documents`` to, created from their vectors if missing."""
        if not documents:
            raise ov.InvalidInputError("documents is empty: pass at least one document")
        if name not in self._store:
            vector = documents[0].get("vector")
            if not isinstance(vector, list) or not vector:
                raise ov.TableNotFoundError(
                    f"table {name!r} does not exist; documents with vectors create it (its "
                    "dimension is theirs), or create it with an embedding function first"
                )
            self._store.create_table(name, dimension=len(vector), exist_ok=True)
        return self._store.table(name)

    def _check_text_index(self, tbl: ov.Table) -> None:
        """Text search builds a missing full-text index: a write a read-only server refuses."""
        if not any(i.kind == "INVERTED" and i.columns == ["text"] for i in tbl.indexes()):
            raise ov.ReadOnlyError(
                f"table {tbl.name!r} has no full-text index and this server is read-only; "
                f"build one first (omnivector index create {tbl.name} --kind fts)"
            )


def _embedding(tbl: ov.Table) -> dict[str, Any] | None:
    """The table's recorded embedding function (registry name and options), if any."""
    config = tbl.embedding_config
    return None if config is None else {"name": config.name, "options": dict(config.options)}


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A hit or document for the wire: empty parts left out, vectors as plain lists."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        out[key] = value.tolist() if hasattr(value, "tolist") else value
    return out
