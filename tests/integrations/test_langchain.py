"""The LangChain vector store beyond the standard suite: filters, hybrid, MMR, scores, async."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

import omnivector as ov
from omnivector.integrations.langchain import OmnivectorVectorStore


class HashEmbeddings(Embeddings):
    """omnivector's download-free lexical hashing embedding as LangChain embeddings."""

    def __init__(self, dimension: int = 64) -> None:
        self.embedder = ov.embeddings.get("hashing", dimension=dimension)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class FixedEmbeddings(Embeddings):
    """Vectors looked up by text, so the vector and text retrievers can disagree."""

    def __init__(self, vectors: Mapping[str, list[float]]) -> None:
        self.vectors = dict(vectors)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


# vector says a, c, b; the words say b ("zebra" is in b alone)
FIXED = {
    "apples and oranges": [1.0, 0.0, 0.0],
    "cherries and plums": [0.9, 0.3, 0.0],
    "a zebra grazing": [0.0, 0.0, 1.0],
    "zebra": [1.0, 0.0, 0.0],
}
FIXED_IDS = {"apples and oranges": "a", "a zebra grazing": "b", "cherries and plums": "c"}

PAPERS = [
    ("Lance is a columnar data format", {"topic": "storage", "year": 2022, "id": 7}),
    ("Vector search with HNSW graphs", {"topic": "search", "year": 2018}),
    ("Columnar storage compresses well", {"topic": "storage", "year": 2015}),
    ("Hybrid search fuses BM25 and vectors", {"topic": "search", "year": 2023}),
]


@pytest.fixture
def papers(tmp_path: Path) -> Iterator[OmnivectorVectorStore]:
    vectors = OmnivectorVectorStore.from_texts(
        [text for text, _ in PAPERS],
        HashEmbeddings(),
        [meta for _, meta in PAPERS],
        ids=[f"p{i}" for i in range(len(PAPERS))],
        path=tmp_path / "store",
    )
    yield vectors
    vectors.close()


@pytest.fixture
def fixed(tmp_path: Path) -> Iterator[OmnivectorVectorStore]:
    vectors = OmnivectorVectorStore(FixedEmbeddings(FIXED), path=tmp_path / "store")
    vectors.add_texts(list(FIXED_IDS), ids=list(FIXED_IDS.values()))
    yield vectors
    vectors.close()


def _ids(documents: list[Document]) -> list[str | None]:
    return [doc.id for doc in documents]


def test_filters_are_omnivector_filters(papers: OmnivectorVectorStore) -> None:
    found = papers.similarity_search("columnar", k=4, filter={"topic": "storage"})
    assert sorted(_ids(found)) == ["p0", "p2"]
    recent = papers.similarity_search("search", k=4, filter={"year": {"$gte": 2020}})
    assert sorted(_ids(recent)) == ["p0", "p3"]
    either = {"$or": [{"year": {"$lt": 2016}}, {"topic": "search", "year": {"$gt": 2020}}]}
    assert sorted(_ids(papers.similarity_search("x", k=4, filter=either))) == ["p2", "p3"]
    # "id" names the document id; the metadata key is reached by its full path
    assert _ids(papers.similarity_search("x", k=4, filter={"metadata.id": 7})) == ["p0"]
    assert _ids(papers.similarity_search("x", k=4, filter={"id": "p1"})) == ["p1"]
    with pytest.raises(ov.InvalidFilterError):
        papers.similarity_search("x", filter={"year": {"$like": 3}})


def test_documents_round_trip(papers: OmnivectorVectorStore) -> None:
    (doc,) = papers.get_by_ids(["p0"])
    assert doc == Document(id="p0", page_content=PAPERS[0][0], metadata=PAPERS[0][1])
    assert _ids(papers.get_by_ids(["p3", "missing", "p1"])) == ["p3", "p1"]
    assert papers.table is not None and papers.table.count() == len(PAPERS)


def test_hybrid_search_and_retriever(fixed: OmnivectorVectorStore) -> None:
    assert _ids(fixed.similarity_search("zebra", k=2)) == ["a", "c"]
    assert _ids(fixed.similarity_search("zebra", k=2, hybrid=True)) == ["a", "b"]
    retriever = fixed.as_retriever(search_kwargs={"k": 2, "hybrid": True})
    assert _ids(retriever.invoke("zebra")) == ["a", "b"]
    # k=3: the vector leg reaches b too (rank 3), so RRF puts it first
    scored = fixed.similarity_search_with_score("zebra", k=3, hybrid=True)
    assert [doc.id for doc, _ in scored] == ["b", "a", "c"]
    assert [score for _, score in scored] == pytest.approx([1 / 61 + 1 / 63, 1 / 61, 1 / 62])
    with pytest.raises(ov.InvalidInputError, match="rank-fusion"):
        fixed.similarity_search_with_relevance_scores("zebra", k=2, hybrid=True)


def test_scores_and_relevance(fixed: OmnivectorVectorStore) -> None:
    scored = fixed.similarity_search_with_score("zebra", k=3)
    assert [doc.id for doc, _ in scored] == ["a", "c", "b"]
    expected = [1.0, 0.9 / np.hypot(0.9, 0.3), 0.0]
    assert [score for _, score in scored] == pytest.approx(expected, abs=1e-6)
    relevant = fixed.similarity_search_with_relevance_scores("zebra", k=3, score_threshold=0.5)
    assert [doc.id for doc, _ in relevant] == ["a", "c"]
    assert all(0.0 <= score <= 1.0 for _, score in relevant)
    retriever = fixed.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.99}
    )
    assert _ids(retriever.invoke("zebra")) == ["a"]
    by_vector = fixed.similarity_search_by_vector([0.0, 0.1, 1.0], k=1)
    assert _ids(by_vector) == ["b"]


def test_max_marginal_relevance(tmp_path: Path) -> None:
    near = {"one": [1.0, 0.0, 0.0], "twin": [0.99, 0.1, 0.0], "other": [0.6, 0.8, 0.0]}
    vectors = OmnivectorVectorStore(FixedEmbeddings(near), path=tmp_path / "store")
    vectors.add_texts(list(near), ids=list(near))
    query = [1.0, 0.0, 0.0]
    assert _ids(vectors.similarity_search_by_vector(query, k=2)) == ["one", "twin"]
    diverse = vectors.max_marginal_relevance_search_by_vector(query, k=2, lambda_mult=0.25)
    assert _ids(diverse) == ["one", "other"]
    by_relevance = vectors.max_marginal_relevance_search("one", k=3, lambda_mult=1.0)
    assert _ids(by_relevance) == ["one", "twin", "other"]
    retriever = vectors.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "fetch_k": 3, "lambda_mult": 0.25}
    )
    assert _ids(retriever.invoke("one")) == ["one", "other"]
    filtered = vectors.max_marginal_relevance_search("one", k=2, filter={"id": {"$ne": "one"}})
    assert _ids(filtered) == ["twin", "other"]
    with pytest.raises(ov.InvalidInputError, match="lambda_mult"):
        vectors.max_marginal_relevance_search("one", lambda_mult=2.0)
    vectors.close()


def test_upsert_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store"
    vectors = OmnivectorVectorStore(HashEmbeddings(), path=path, table_name="notes")
    assert vectors.similarity_search("anything") == [] and vectors.table is None
    ids = vectors.add_documents(
        [Document(page_content="first note", metadata={"n": 1}), Document(page_content="two")]
    )
    assert len(set(ids)) == 2
    vectors.add_texts(["first note, edited"], [{"n": 1, "edited": True}], ids=[ids[0]])
    vectors.delete(filter={"n": {"$exists": False}})
    vectors.close()

    reopened = OmnivectorVectorStore(HashEmbeddings(), path=path, table_name="notes")
    assert reopened.get_by_ids(ids) == [
        Document(id=ids[0], page_content="first note, edited", metadata={"n": 1, "edited": True})
    ]
    assert reopened.delete([ids[0], "never-stored"]) is True
    assert reopened.similarity_search("note") == []
    reopened.close()


def test_shares_a_given_store(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path / "store") as store:
        vectors = OmnivectorVectorStore(HashEmbeddings(16), store=store, table_name="kb")
        vectors.add_texts(["a b c"])
        table = store.table("kb")
        assert (table.dimension, table.metric, table.count()) == (16, "cosine", 1)
        vectors.close()  # a given store stays open
        assert not store.closed


def test_bad_input_is_refused(tmp_path: Path) -> None:
    embeddings = HashEmbeddings()
    with pytest.raises(ov.InvalidInputError, match="path="):
        OmnivectorVectorStore(embeddings)
    with ov.VectorStore(tmp_path / "other") as store, pytest.raises(ov.InvalidInputError):
        OmnivectorVectorStore(embeddings, path=tmp_path / "store", store=store)
    with pytest.raises(ov.InvalidNameError):
        OmnivectorVectorStore(embeddings, path=tmp_path / "store", table_name="../up")
    vectors = OmnivectorVectorStore(embeddings, path=tmp_path / "store")
    with pytest.raises(ov.InvalidInputError, match="metadatas has 1 items for 2 texts"):
        vectors.add_texts(["a", "b"], [{}])
    assert vectors.table is None  # nothing was written, not even the table
    with pytest.raises(ov.InvalidInputError, match="unknown option"):
        vectors.similarity_search("a", fetch_everything=True)
    with pytest.raises(ov.InvalidInputError, match="hybrid must be"):
        vectors.similarity_search("a", hybrid="yes")
    with pytest.raises(ov.InvalidInputError, match="drop the table"):
        vectors.delete()
    vectors.add_texts(["a"], ids=["1"])
    with pytest.raises(ov.DimensionMismatchError):
        vectors.similarity_search_by_vector([1.0, 2.0])
    with pytest.raises(ov.InvalidInputError):
        vectors.add_texts(["b"], [{"when": object()}])
    assert vectors.table is not None and vectors.table.count() == 1
    vectors.close()


@pytest.mark.asyncio
async def test_async_methods(fixed: OmnivectorVectorStore) -> None:
    assert _ids(await fixed.asimilarity_search("zebra", k=2, hybrid=True)) == ["a", "b"]
    assert _ids(await fixed.asimilarity_search_by_vector([0.0, 0.0, 1.0], k=1)) == ["b"]
    scored = await fixed.asimilarity_search_with_score("zebra", k=1)
    assert scored[0][0].id == "a" and scored[0][1] == pytest.approx(1.0)
    diverse = await fixed.amax_marginal_relevance_search("zebra", k=2, lambda_mult=0.1)
    assert _ids(diverse) == ["a", "b"]
    relevant = await fixed.asimilarity_search_with_relevance_scores("zebra", k=3)
    assert [round(score, 3) for _, score in relevant] == [1.0, 0.949, 0.0]
    retriever = fixed.as_retriever(search_kwargs={"k": 2, "hybrid": True})
    assert _ids(await retriever.ainvoke("zebra")) == ["a", "b"]
    await fixed.adelete(["a"])
    assert _ids(await fixed.aget_by_ids(["a", "b"])) == ["b"]
    assert await fixed.aadd_texts(["zebra"], ids=["z"]) == ["z"]
    assert _ids(await fixed.asimilarity_search("zebra", k=1)) == ["z"]


def test_l2_table_scores_are_relevances(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path / "store") as store:
        vectors = OmnivectorVectorStore.from_texts(
            list(FIXED_IDS),
            FixedEmbeddings(FIXED),
            ids=list(FIXED_IDS.values()),
            store=store,
            metric="l2",
        )
        assert store.table("langchain").metric == "l2"
        scored = vectors.similarity_search_with_relevance_scores("zebra", k=3)
        distances = [0.0, float(np.hypot(0.1, 0.3)), float(np.sqrt(2.0))]
        assert [doc.id for doc, _ in scored] == ["a", "c", "b"]
        assert [score for _, score in scored] == pytest.approx([1 / (1 + d) for d in distances])
