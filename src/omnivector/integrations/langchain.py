"""LangChain vector store on an omnivector table (``pip install 'omni-vector[langchain]'``).

>>> from omnivector.integrations.langchain import OmnivectorVectorStore
>>> vectors = OmnivectorVectorStore(embedding=embeddings, path="./data")  # doctest: +SKIP
>>> vectors.add_texts(["Lance is a columnar format"], [{"topic": "storage"}])  # doctest: +SKIP
>>> vectors.similarity_search("columnar", k=4, filter={"topic": "storage"})  # doctest: +SKIP

Documents are rows of the table (``page_content`` in ``text``, ``metadata`` as is); the
LangChain ``Embeddings`` embeds documents (``embed_documents``) and queries
(``embed_query``). Writes are upserts by id, so adding a document again replaces it.
Search options: ``filter=`` (a filter dict in omnivector's filter language, keys being
metadata keys) and ``hybrid=True`` (vector and BM25 fused; also through
``as_retriever(search_kwargs={"hybrid": True})``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

import omnivector as ov

from ._common import TableHolder, check_options, maximal_marginal_relevance, missing_dependency

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.runnables.config import run_in_executor
    from langchain_core.vectorstores import VectorStore
except ImportError as exc:
    raise missing_dependency(__name__, "langchain-core", "langchain") from exc

__all__ = ["OmnivectorVectorStore"]

_SEARCH_OPTIONS = ("filter", "hybrid")


class OmnivectorVectorStore(VectorStore):
    """A LangChain ``VectorStore`` on the table ``table_name`` of an omnivector store.

    Pass ``path=`` (a store directory, opened here and closed by :meth:`close`) or
    ``store=`` (an open :class:`omnivector.VectorStore`). The table is created on the first
    write with the embeddings' dimension and ``metric``.
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        path: str | os.PathLike[str] | None = None,
        store: ov.VectorStore | None = None,
        table_name: str = "langchain",
        metric: str = "cosine",
    ) -> None:
        self.embedding = embedding
        self._holder = TableHolder(path, store, table_name, metric=metric)

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    @property
    def store(self) -> ov.VectorStore:
        return self._holder.store

    @property
    def table(self) -> ov.Table | None:
        """The omnivector table (None until the first write creates it)."""
        return self._holder.find()

    def close(self) -> None:
        """Close the store if this object opened it from ``path``."""
        self._holder.close()

    # -- writes ---------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and upsert texts; ids not given (or None) are generated."""
        check_options(list(kwargs), (), "add_texts")
        batch = _Batch.of(texts, metadatas, ids)
        if not batch.texts:
            return []
        return self._write(batch, self.embedding.embed_documents(batch.texts))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        check_options(list(kwargs), (), "aadd_texts")
        batch = _Batch.of(texts, metadatas, ids)
        if not batch.texts:
            return []
        vectors = await self.embedding.aembed_documents(batch.texts)
        return await run_in_executor(None, self._write, batch, vectors)

    def _write(self, batch: _Batch, vectors: list[list[float]]) -> list[str]:
        if len(vectors) != len(batch.texts):
            raise ov.InvalidInputError(
                f"the embeddings returned {len(vectors)} vectors for {len(batch.texts)} texts"
            )
        table = self._holder.create(len(vectors[0]))
        table.upsert(
            [
                {"id": doc_id, "vector": vector, "text": text, "metadata": metadata}
                for doc_id, vector, text, metadata in zip(
                    batch.ids, vectors, batch.texts, batch.metadatas, strict=True
                )
            ]
        )
        return batch.ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete by ids, or every document matching ``filter=``; missing ids are ignored."""
        check_options(list(kwargs), ("filter",), "delete")
        where = kwargs.get("filter")
        if (ids is None) == (where is None):
            raise ov.InvalidInputError(
                "delete() takes ids=[...] or filter={...}; to remove every document, "
                "drop the table: store.drop_table(name)"
            )
        table = self._holder.find()
        if table is not None:
            if ids is not None:
                table.delete(list(ids))
            else:
                table.delete(where=where)
        return True

    # -- reads ----------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents among ``ids``, in the order asked."""
        table = self._holder.find()
        if table is None:
            return []
        return [
            Document(id=row["id"], page_content=row.get("text") or "", metadata=row["metadata"])
            for row in table.get(list(ids), include_vector=False)
        ]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents and omnivector scores (higher is better: cosine similarity for a cosine
        table; with ``hybrid=True`` the fused score)."""
        where, hybrid = _search_options(kwargs)
        vector = self.embedding.embed_query(query)
        return _scored(self._search(vector, query if hybrid else None, k, where))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        where, hybrid = _search_options(kwargs)
        vector = await self.embedding.aembed_query(query)
        text = query if hybrid else None
        return _scored(await run_in_executor(None, self._search, vector, text, k, where))

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        check_options(list(kwargs), ("filter",), "similarity_search_by_vector")
        return [doc for doc, _ in _scored(self._search(embedding, None, k, kwargs.get("filter")))]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        _no_hybrid_relevance(kwargs)
        return _relevances(self.similarity_search_with_score(query, k, **kwargs))

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        _no_hybrid_relevance(kwargs)
        return _relevances(await self.asimilarity_search_with_score(query, k, **kwargs))

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` of the ``fetch_k`` best matches, chosen for relevance and diversity
        (``lambda_mult`` 1: relevance only, 0: diversity only); takes ``filter=`` and
        ``hybrid=True`` (the candidates are then the hybrid search's)."""
        where, hybrid = _search_options(kwargs)
        vector = self.embedding.embed_query(query)
        return self._mmr(vector, query if hybrid else None, k, fetch_k, lambda_mult, where)

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        where, hybrid = _search_options(kwargs)
        vector = await self.embedding.aembed_query(query)
        text = query if hybrid else None
        return await run_in_executor(None, self._mmr, vector, text, k, fetch_k, lambda_mult, where)

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        check_options(list(kwargs), ("filter",), "max_marginal_relevance_search_by_vector")
        return self._mmr(embedding, None, k, fetch_k, lambda_mult, kwargs.get("filter"))

    def _mmr(
        self,
        vector: list[float],
        text: str | None,
        k: int,
        fetch_k: int,
        lambda_mult: float,
        where: Mapping[str, Any] | None,
    ) -> list[Document]:
        hits = self._search(vector, text, max(k, fetch_k), where, with_vectors=True)
        candidates = [hit.vector for hit in hits]
        chosen = maximal_marginal_relevance(vector, candidates, k=k, lambda_mult=lambda_mult)
        return [_document(hits[position]) for position in chosen]

    def _search(
        self,
        vector: list[float],
        text: str | None,
        k: int,
        where: Mapping[str, Any] | None,
        *,
        with_vectors: bool = False,
    ) -> ov.SearchResults:
        table = self._holder.find()
        if table is None:
            return ov.SearchResults([])
        columns = ["text", "metadata", "vector"] if with_vectors else ["text", "metadata"]
        return table.search(vector=vector, text=text, k=k, where=where, columns=columns)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        store: ov.VectorStore | None = None,
        table_name: str = "langchain",
        metric: str = "cosine",
        **kwargs: Any,
    ) -> Self:
        """A store on ``table_name`` holding ``texts`` (added, or replaced by id)."""
        check_options(list(kwargs), (), "from_texts")
        vectors = cls(embedding, path=path, store=store, table_name=table_name, metric=metric)
        vectors.add_texts(texts, metadatas, ids=ids)
        return vectors


class _Batch:
    """Texts to write with their metadata and ids, checked before anything is embedded."""

    __slots__ = ("ids", "metadatas", "texts")

    def __init__(self, texts: list[str], metadatas: list[dict[str, Any]], ids: list[str]):
        self.texts = texts
        self.metadatas = metadatas
        self.ids = ids

    @classmethod
    def of(
        cls,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> _Batch:
        text_list = list(texts)
        for label, values in (("metadatas", metadatas), ("ids", ids)):
            if values is not None and len(values) != len(text_list):
                raise ov.InvalidInputError(
                    f"{label} has {len(values)} items for {len(text_list)} texts"
                )
        for text in text_list:
            if not isinstance(text, str):
                raise ov.InvalidInputError(f"texts must be strings, got {text!r}")
        return cls(
            text_list,
            [dict(m or {}) for m in metadatas] if metadatas is not None else [{}] * len(text_list),
            [i if i is not None else uuid.uuid4().hex for i in (ids or [None] * len(text_list))],
        )


def _search_options(kwargs: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, bool]:
    check_options(list(kwargs), _SEARCH_OPTIONS, "search")
    hybrid = kwargs.get("hybrid", False)
    if not isinstance(hybrid, bool):
        raise ov.InvalidInputError(f"hybrid must be True or False, got {hybrid!r}")
    return kwargs.get("filter"), hybrid


def _no_hybrid_relevance(kwargs: Mapping[str, Any]) -> None:
    if kwargs.get("hybrid"):
        raise ov.InvalidInputError(
            "hybrid scores are rank-fusion scores, not relevances in [0, 1]: use "
            "similarity_search_with_score(..., hybrid=True), or a vector search for thresholds"
        )


def _relevances(scored: list[tuple[Document, float]]) -> list[tuple[Document, float]]:
    """Scores as LangChain relevances in [0, 1]: cosine similarity (and dot product, the
    same for unit vectors) below 0 becomes 0; an l2 table's 1 / (1 + distance) is one
    already."""
    return [(doc, min(max(score, 0.0), 1.0)) for doc, score in scored]


def _document(hit: ov.Hit) -> Document:
    return Document(id=hit.id, page_content=hit.text or "", metadata=hit.metadata or {})


def _scored(hits: ov.SearchResults) -> list[tuple[Document, float]]:
    return [(_document(hit), hit.score) for hit in hits]
