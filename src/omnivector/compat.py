"""The original Omni-Vector names, kept so code written for it runs unchanged.

:class:`VectorStore` and :class:`Table` inherit these methods; each is a short spelling of
the current API (``store.search(table, vector, limit, where_filter)`` is
``store.table(table).search(vector, k=limit, where=...)``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from omnivector.core.errors import InvalidInputError
from omnivector.core.results import SearchResults, WriteResult

__all__ = ["StoreCompat", "TableCompat"]


class _Table(Protocol):
    def create_index(self, **params: Any) -> Any: ...
    def create_scalar_index(self, column: str, **options: Any) -> Any: ...
    def auto_index(self, **options: Any) -> Any: ...


class _Store(Protocol):
    dimension: int | None

    def table(self, name: str) -> Any: ...
    def create_table(self, name: str, *, dimension: int | None, exist_ok: bool) -> Any: ...
    def __contains__(self, name: object) -> bool: ...


class TableCompat:
    """Index names of the original API, on :class:`~omnivector.Table`."""

    def create_hnsw_index(self: _Table, **params: Any) -> Any:
        return self.create_index(kind=params.pop("kind", "IVF_HNSW_SQ"), **params)

    def create_btree_index(self: _Table, column: str, **options: Any) -> Any:
        return self.create_scalar_index(column, kind="btree", **options)

    def create_bitmap_index(self: _Table, column: str, **options: Any) -> Any:
        return self.create_scalar_index(column, kind="bitmap", **options)

    def create_optimal_vector_index(self: _Table, **options: Any) -> Any:
        return self.create_index(kind="auto", **options)

    def auto_index_if_needed(self: _Table, **options: Any) -> Any:
        return self.auto_index(**options)


class StoreCompat:
    """Table-by-name operations of the original API, on :class:`~omnivector.VectorStore`."""

    def add_documents(
        self: _Store,
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
        result: WriteResult = self.table(table).add(rows)
        return result

    def search(
        self: _Store,
        table: str,
        vector: Any,
        limit: int = 5,
        where_filter: Mapping[str, Any] | str | None = None,
    ) -> SearchResults:
        """Vector search; ``where_filter`` is a filter dict or a raw SQL string."""
        found: SearchResults
        if isinstance(where_filter, str):
            found = self.table(table).search(vector, k=limit, where_sql=where_filter)
        else:
            found = self.table(table).search(vector, k=limit, where=where_filter)
        return found

    def count(self: _Store, table: str) -> int:
        return int(self.table(table).count())

    def delete(self: _Store, table: str, ids: Sequence[str]) -> int:
        return int(self.table(table).delete(ids).deleted)

    def compact(self: _Store, table: str) -> Any:
        return self.table(table).compact()

    def analyze_table_health(self: _Store, table: str) -> Any:
        return self.table(table).health()
