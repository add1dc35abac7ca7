"""LlamaIndex vector store on an omnivector table (``pip install 'omni-vector[llama-index]'``).

>>> from llama_index.core import StorageContext, VectorStoreIndex
>>> from omnivector.integrations.llama_index import OmnivectorVectorStore
>>> vector_store = OmnivectorVectorStore(path="./data")  # doctest: +SKIP
>>> index = VectorStoreIndex.from_vector_store(vector_store, embed_model=...)  # doctest: +SKIP

Each node is a row: its id, embedding, text (so no docstore is needed), metadata (the node's
metadata, filterable) and three declared fields: ``ref_doc_id`` (so deleting a source
document is a pushed-down filter), ``node_json`` (the rest of the node, as LlamaIndex
serialises it) and ``node_type``. ``MetadataFilters`` are translated into omnivector filter
dicts; query modes ``default`` (vector), ``text_search`` (BM25), ``hybrid`` (both, fused by
RRF, or by weight when ``alpha`` is given) and ``mmr``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import omnivector as ov

from ._common import TableHolder, check_options, maximal_marginal_relevance, missing_dependency

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode, MetadataMode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as exc:
    raise missing_dependency(__name__, "llama-index-core", "llama-index") from exc

__all__ = ["OmnivectorVectorStore", "translate_filters"]

FIELDS = {"ref_doc_id": "string", "node_json": "string", "node_type": "string"}
# LlamaIndex's names for a node's source document, all stored in the ref_doc_id field
_DOCUMENT_KEYS = frozenset({"ref_doc_id", "doc_id", "document_id"})
_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.CONTAINS: "$contains",
}
_MODES = ("default", "text_search", "hybrid", "mmr")
_COLUMNS = ["text", "metadata", *FIELDS]
# MMR candidates per result wanted, unless the query says (mmr_prefetch_k / _factor)
_MMR_PREFETCH_FACTOR = 4


class OmnivectorVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store on the table ``table_name`` of an omnivector store.

    Pass ``path=`` (a store directory, opened here and closed by :meth:`close`) or
    ``store=`` (an open :class:`omnivector.VectorStore`). The table is created on the first
    ``add`` with the embeddings' dimension and ``metric``.
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    flat_metadata: bool = False
    table_name: str = "llama_index"
    metric: str = "cosine"

    _holder: TableHolder = PrivateAttr()

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        store: ov.VectorStore | None = None,
        table_name: str = "llama_index",
        metric: str = "cosine",
    ) -> None:
        # through a dict: type checkers see only the base class's fields in __init__
        settings: dict[str, Any] = {"table_name": table_name, "metric": metric}
        super().__init__(**settings)
        self._holder = TableHolder(path, store, table_name, metric=metric, fields=FIELDS)

    @classmethod
    def class_name(cls) -> str:
        return "OmnivectorVectorStore"

    @property
    def client(self) -> ov.VectorStore:
        """The omnivector store."""
        return self._holder.store

    @property
    def table(self) -> ov.Table | None:
        """The omnivector table (None until the first ``add`` creates it)."""
        return self._holder.find()

    def close(self) -> None:
        """Close the store if this object opened it from ``path``."""
        self._holder.close()

    # -- writes ---------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Store nodes (with their embeddings), replacing nodes with the same id."""
        check_options(list(kwargs), (), "add")
        rows = [_row(node) for node in nodes]
        if not rows:
            return []
        self._holder.create(len(rows[0]["vector"])).upsert(rows)
        return [row["id"] for row in rows]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        check_options(list(delete_kwargs), (), "delete")
        table = self._holder.find()
        if table is not None:
            table.delete(where={"ref_doc_id": ref_doc_id})

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids and/or matching ``filters`` (never all: use
        :meth:`clear`)."""
        check_options(list(delete_kwargs), (), "delete_nodes")
        where = _where(filters, node_ids=node_ids)
        if where is None:
            raise ov.InvalidInputError("delete_nodes() needs node_ids or filters; clear() empties")
        table = self._holder.find()
        if table is not None:
            table.delete(where=where)

    def clear(self) -> None:
        """Remove every node (the table is dropped; the next ``add`` creates it again)."""
        self._holder.drop()

    # -- reads ----------------------------------------------------------------------------

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes (with embeddings) by id and/or filter; all of them without either."""
        table = self._holder.find()
        if table is None:
            return []
        if node_ids is not None and filters is None:
            rows = table.get(node_ids)
        else:
            rows = list(table.iter_documents(where=_where(filters, node_ids=node_ids)))
        nodes = []
        for row in rows:
            node = _node(row["text"], row["metadata"], row)
            node.embedding = row["vector"]
            nodes.append(node)
        return nodes

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Answer a query in mode default, text_search, hybrid or mmr."""
        mode = VectorStoreQueryMode(query.mode)
        if mode.value not in _MODES:
            raise ov.InvalidInputError(
                f"query mode {mode.value!r} is not supported; use one of {list(_MODES)}"
                + (" (text_search is BM25)" if mode == VectorStoreQueryMode.SPARSE else "")
            )
        check_options(
            list(kwargs),
            ("mmr_prefetch_k", "mmr_prefetch_factor") if mode.value == "mmr" else (),
            "query",
        )
        where = _where(query.filters, node_ids=query.node_ids, doc_ids=query.doc_ids)
        table = self._holder.find()
        if table is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        k = query.similarity_top_k
        if mode == VectorStoreQueryMode.TEXT_SEARCH:
            hits = table.search(text=_text(query), k=k, where=where, columns=_COLUMNS)
        elif mode == VectorStoreQueryMode.HYBRID:
            alpha = query.alpha
            hits = table.search(
                vector=_embedding(query),
                text=_text(query),
                k=query.hybrid_top_k or k,
                where=where,
                columns=_COLUMNS,
                fusion=ov.Weighted((alpha, 1.0 - alpha)) if alpha is not None else None,
            )
        elif mode == VectorStoreQueryMode.MMR:
            return self._mmr(table, query, where, kwargs)
        else:
            hits = table.search(vector=_embedding(query), k=k, where=where, columns=_COLUMNS)
        return _result(hits, [hit.score for hit in hits])

    def _mmr(
        self,
        table: ov.Table,
        query: VectorStoreQuery,
        where: Mapping[str, Any] | None,
        options: Mapping[str, Any],
    ) -> VectorStoreQueryResult:
        k = query.similarity_top_k
        fetch = options.get("mmr_prefetch_k") or k * options.get(
            "mmr_prefetch_factor", _MMR_PREFETCH_FACTOR
        )
        vector = _embedding(query)
        hits = table.search(
            vector=vector, k=max(k, int(fetch)), where=where, columns=[*_COLUMNS, "vector"]
        )
        lambda_mult = query.mmr_threshold if query.mmr_threshold is not None else 0.5
        chosen = maximal_marginal_relevance(
            vector, [hit.vector for hit in hits], k=k, lambda_mult=lambda_mult
        )
        return _result([hits[i] for i in chosen], [hits[i].score for i in chosen])

    # -- async: the same operations on a worker thread, so the event loop never waits ---

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)


def translate_filters(filters: MetadataFilters) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` as an omnivector filter dict (None: no condition).

    Keys are node metadata keys (``ref_doc_id``, ``doc_id`` and ``document_id`` name the
    source document); values stay values, never SQL text.
    """
    parts = [
        translate_filters(item) if isinstance(item, MetadataFilters) else _condition(item)
        for item in filters.filters
    ]
    conditions = [part for part in parts if part is not None]
    if not conditions:
        return None
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition == FilterCondition.AND:
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}
    if condition == FilterCondition.OR:
        return {"$or": conditions}
    if condition == FilterCondition.NOT:  # LlamaIndex: none of the filters matches
        return {"$not": {"$or": conditions}}
    raise ov.InvalidFilterError(f"unknown filter condition {condition.value!r}; use and/or/not")


def _condition(item: MetadataFilter) -> dict[str, Any]:
    operator = FilterOperator(item.operator)
    translated = _OPERATORS.get(operator)
    if translated is None:
        supported = ", ".join(op.name for op in _OPERATORS)
        raise ov.InvalidFilterError(
            f"filter operator {operator.name} ({operator.value!r}) on {item.key!r} is not "
            f"supported; use one of {supported}"
        )
    key = "ref_doc_id" if item.key in _DOCUMENT_KEYS else f"metadata.{item.key}"
    return {key: {translated: item.value}}


def _where(
    filters: MetadataFilters | None,
    *,
    node_ids: Sequence[str] | None = None,
    doc_ids: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    conditions = []
    if node_ids:
        conditions.append({"id": {"$in": list(node_ids)}})
    if doc_ids:
        conditions.append({"ref_doc_id": {"$in": list(doc_ids)}})
    if filters is not None:
        translated = translate_filters(filters)
        if translated is not None:
            conditions.append(translated)
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _row(node: BaseNode) -> dict[str, Any]:
    if node.embedding is None:
        raise ov.InvalidInputError(
            f"node {node.node_id!r} has no embedding; embed nodes before adding them "
            "(VectorStoreIndex does, with its embed_model)"
        )
    stored = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
    payload = json.loads(stored["_node_content"])
    metadata = payload["metadata"]  # JSON-safe (LlamaIndex dumps the node in JSON mode)
    payload["metadata"] = {}  # kept once, in the filterable metadata column
    return {
        "id": node.node_id,
        "vector": node.embedding,
        "text": node.get_content(metadata_mode=MetadataMode.NONE),
        "metadata": metadata,
        "ref_doc_id": node.ref_doc_id,
        "node_json": json.dumps(payload, ensure_ascii=False),
        "node_type": stored["_node_type"],
    }


def _node(text: str | None, metadata: dict[str, Any], fields: Mapping[str, Any]) -> BaseNode:
    stored = {"_node_content": fields["node_json"], "_node_type": fields["node_type"]}
    node = metadata_dict_to_node(stored, text=text or "")
    node.metadata = metadata
    return node


def _result(hits: Sequence[ov.Hit], similarities: list[float]) -> VectorStoreQueryResult:
    return VectorStoreQueryResult(
        nodes=[_node(hit.text, hit.metadata or {}, hit.fields) for hit in hits],
        similarities=similarities,
        ids=[hit.id for hit in hits],
    )


def _embedding(query: VectorStoreQuery) -> list[float]:
    if query.query_embedding is None:
        raise ov.InvalidInputError(
            f"a {VectorStoreQueryMode(query.mode).value} query needs query_embedding"
        )
    return query.query_embedding


def _text(query: VectorStoreQuery) -> str:
    if not query.query_str:
        raise ov.InvalidInputError(
            f"a {VectorStoreQueryMode(query.mode).value} query needs query_str"
        )
    return query.query_str
