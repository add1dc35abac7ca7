"""The LlamaIndex vector store: through VectorStoreIndex and its retrievers, filters checked
against LlamaIndex's own filter semantics, and reopened in a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

import omnivector as ov
from omnivector.integrations.llama_index import OmnivectorVectorStore, translate_filters
from tests.integrations.llama_helpers import NODES, HashEmbedding, make_nodes

ROOT = Path(__file__).parents[2]
ALL = len(NODES)


@pytest.fixture
def vector_store(tmp_path: Path) -> Iterator[OmnivectorVectorStore]:
    opened = OmnivectorVectorStore(path=tmp_path / "store")
    yield opened
    opened.close()


@pytest.fixture
def index(vector_store: OmnivectorVectorStore) -> VectorStoreIndex:
    return VectorStoreIndex(
        make_nodes(),
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=HashEmbedding(),
    )


def _retrieve(index: VectorStoreIndex, query: str, **options: object) -> list[str]:
    return [hit.node.node_id for hit in index.as_retriever(**options).retrieve(query)]


def test_index_stores_text_and_retrieves(
    index: VectorStoreIndex, vector_store: OmnivectorVectorStore
) -> None:
    assert vector_store.stores_text and vector_store.table is not None
    assert vector_store.table.count() == ALL
    assert len(index.docstore.docs) == 0  # the text lives in the table, not a docstore
    found = index.as_retriever(similarity_top_k=2).retrieve("columnar data format")
    assert [hit.node.node_id for hit in found] == ["n0", "n2"]
    assert found[0].node.get_content() == NODES[0][1]
    assert found[0].node.metadata == NODES[0][3]
    assert found[0].node.ref_doc_id == "d0"
    assert found[0].score is not None and found[0].score > found[1].score


def test_nodes_round_trip(vector_store: OmnivectorVectorStore) -> None:
    nodes = make_nodes()
    for node in nodes:
        node.embedding = HashEmbedding().get_text_embedding(node.get_content())
    nodes[0].excluded_llm_metadata_keys = ["year"]
    assert vector_store.add(nodes) == [node.node_id for node in nodes]
    stored = vector_store.get_nodes(node_ids=["n0", "n3"])
    assert [node.node_id for node in stored] == ["n0", "n3"]
    assert stored[0] == nodes[0]  # text, metadata, relationships, embedding, settings
    assert stored[1].embedding == pytest.approx(nodes[3].embedding)
    storage = MetadataFilters(filters=[MetadataFilter(key="topic", value="storage")])
    assert sorted(n.node_id for n in vector_store.get_nodes(filters=storage)) == ["n0", "n2"]
    assert len(vector_store.get_nodes()) == ALL


FILTERS = [
    MetadataFilter(key="topic", value="storage"),
    MetadataFilter(key="topic", value="storage", operator=FilterOperator.NE),
    MetadataFilter(key="year", value=2018, operator=FilterOperator.GT),
    MetadataFilter(key="year", value=2018, operator=FilterOperator.GTE),
    MetadataFilter(key="year", value=2022, operator=FilterOperator.LT),
    MetadataFilter(key="year", value=2022, operator=FilterOperator.LTE),
    MetadataFilter(key="topic", value=["search", "agents"], operator=FilterOperator.IN),
    MetadataFilter(key="topic", value=["search", "agents"], operator=FilterOperator.NIN),
    MetadataFilter(key="tags", value="format", operator=FilterOperator.CONTAINS),
    MetadataFilter(key="score", value=0.5),
    MetadataFilter(key="score", value=0.5, operator=FilterOperator.NE),
]
CONDITIONS = [FilterCondition.AND, FilterCondition.OR, FilterCondition.NOT]


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c.value)
@pytest.mark.parametrize("operator", range(len(FILTERS)), ids=lambda i: FILTERS[i].operator.name)
def test_filters_match_llama_index_semantics(
    index: VectorStoreIndex, operator: int, condition: FilterCondition
) -> None:
    """Each operator alone and with a second condition, against LlamaIndex's own in-memory
    filter evaluation."""
    second = MetadataFilter(key="year", value=2016, operator=FilterOperator.GTE)
    filters = MetadataFilters(filters=[FILTERS[operator], second], condition=condition)
    metadata = {node_id: meta for node_id, _, _, meta in NODES}
    expected = build_metadata_filter_fn(metadata.__getitem__, filters)
    found = _retrieve(index, "search", similarity_top_k=ALL, filters=filters)
    assert sorted(found) == [node_id for node_id in metadata if expected(node_id)]


def test_nested_filters_and_document_keys(index: VectorStoreIndex) -> None:
    recent_or_hnsw = MetadataFilters(
        filters=[
            MetadataFilter(key="year", value=2023, operator=FilterOperator.GTE),
            MetadataFilter(key="tags", value="hnsw", operator=FilterOperator.CONTAINS),
        ],
        condition=FilterCondition.OR,
    )
    nested = MetadataFilters(
        filters=[recent_or_hnsw, MetadataFilter(key="topic", value="search")],
        condition=FilterCondition.AND,
    )
    assert sorted(_retrieve(index, "x", similarity_top_k=ALL, filters=nested)) == ["n1", "n3"]
    by_document = MetadataFilters(filters=[MetadataFilter(key="doc_id", value="d0")])
    assert sorted(_retrieve(index, "x", similarity_top_k=ALL, filters=by_document)) == [
        "n0",
        "n2",
    ]
    assert sorted(_retrieve(index, "x", similarity_top_k=ALL, doc_ids=["d1", "d3"])) == [
        "n1",
        "n4",
    ]
    assert translate_filters(nested) == {
        "$and": [
            {"$or": [{"metadata.year": {"$gte": 2023}}, {"metadata.tags": {"$contains": "hnsw"}}]},
            {"metadata.topic": {"$eq": "search"}},
        ]
    }


@pytest.mark.parametrize(
    "operator",
    [
        FilterOperator.TEXT_MATCH,
        FilterOperator.TEXT_MATCH_INSENSITIVE,
        FilterOperator.ANY,
        FilterOperator.ALL,
        FilterOperator.IS_EMPTY,
    ],
)
def test_other_operators_are_refused(index: VectorStoreIndex, operator: FilterOperator) -> None:
    value = ["a"] if operator in (FilterOperator.ANY, FilterOperator.ALL) else "a"
    filters = MetadataFilters(filters=[MetadataFilter(key="k", value=value, operator=operator)])
    with pytest.raises(ov.InvalidFilterError, match=operator.name):
        _retrieve(index, "x", filters=filters)


def test_text_hybrid_and_mmr_modes(index: VectorStoreIndex) -> None:
    assert _retrieve(index, "bm25", vector_store_query_mode="text_search") == ["n3"]
    assert _retrieve(index, "bm25 tables", vector_store_query_mode="text_search") == ["n3", "n4"]
    hybrid = _retrieve(index, "search graphs", vector_store_query_mode="hybrid")
    assert hybrid[0] == "n1" and set(hybrid) == {"n1", "n3"}
    # alpha: 1 is the vector ranking alone, 0 the BM25 ranking alone
    vector_only = _retrieve(index, "columnar format", similarity_top_k=3)
    weighted = _retrieve(
        index, "columnar format", vector_store_query_mode="hybrid", alpha=1.0, similarity_top_k=3
    )
    assert weighted == vector_only
    text_only = _retrieve(
        index, "columnar format", vector_store_query_mode="text_search", similarity_top_k=2
    )
    bm25_only = _retrieve(
        index, "columnar format", vector_store_query_mode="hybrid", alpha=0.0, similarity_top_k=2
    )
    assert bm25_only == text_only
    diverse = _retrieve(index, "columnar format", vector_store_query_mode="mmr")
    assert diverse[0] == "n0" and len(diverse) == 2


def test_mmr_prefers_diversity(vector_store: OmnivectorVectorStore) -> None:
    nodes = make_nodes()[:3]
    vectors = ([1.0, 0.0, 0.0], [0.99, 0.1, 0.0], [0.6, 0.8, 0.0])
    for node, vector in zip(nodes, vectors, strict=True):
        node.embedding = vector
    vector_store.add(nodes)
    query = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=2, mode="mmr")
    assert vector_store.query(query).ids == ["n0", "n1"]  # 0.5: the near twin still wins
    query.mmr_threshold = 0.25
    result = vector_store.query(query)
    assert result.ids == ["n0", "n2"]
    assert result.similarities == pytest.approx([1.0, 0.6])


def test_deletes(index: VectorStoreIndex, vector_store: OmnivectorVectorStore) -> None:
    vector_store.delete("d0")
    assert sorted(_retrieve(index, "x", similarity_top_k=ALL)) == ["n1", "n3", "n4"]
    index.delete_ref_doc("d1")
    vector_store.delete_nodes(
        filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="agents")])
    )
    assert _retrieve(index, "x", similarity_top_k=ALL) == ["n3"]
    vector_store.delete_nodes(node_ids=["n3", "never-stored"])
    assert _retrieve(index, "x", similarity_top_k=ALL) == []
    with pytest.raises(ov.InvalidInputError, match="clear"):
        vector_store.delete_nodes()
    index.insert_nodes(make_nodes()[:1])
    vector_store.clear()
    assert vector_store.table is None and _retrieve(index, "x") == []
    vector_store.delete("d0")  # nothing stored: nothing to do


def test_bad_queries_are_refused(
    index: VectorStoreIndex, vector_store: OmnivectorVectorStore, tmp_path: Path
) -> None:
    with pytest.raises(ov.InvalidInputError, match="not supported"):
        _retrieve(index, "x", vector_store_query_mode="svm")
    with pytest.raises(ov.InvalidInputError, match="query_str"):
        vector_store.query(VectorStoreQuery(mode="text_search"))
    with pytest.raises(ov.InvalidInputError, match="query_embedding"):
        vector_store.query(VectorStoreQuery(query_str="x"))
    with pytest.raises(ov.InvalidInputError, match="unknown option"):
        vector_store.query(VectorStoreQuery(query_str="x"), hnsw_ef=5)
    with pytest.raises(ov.InvalidInputError, match="no embedding"):
        vector_store.add(make_nodes())
    with pytest.raises(ov.InvalidInputError, match="path="):
        OmnivectorVectorStore()
    with ov.VectorStore(tmp_path / "plain", dimension=4) as store:
        store.create_table("llama_index")
        with pytest.raises(ov.SchemaError, match="not made by this integration"):
            OmnivectorVectorStore(store=store)


@pytest.mark.asyncio
async def test_async_retrieval_and_writes(
    index: VectorStoreIndex, vector_store: OmnivectorVectorStore
) -> None:
    retriever = index.as_retriever(similarity_top_k=2)
    assert [hit.node.node_id for hit in await retriever.aretrieve("columnar")] == ["n2", "n0"]
    await vector_store.adelete("d0")
    assert [hit.node.node_id for hit in await retriever.aretrieve("columnar")] == ["n1", "n3"]
    nodes = make_nodes()[:1]
    nodes[0].embedding = [0.0] * 64
    nodes[0].embedding[0] = 1.0
    assert await vector_store.async_add(nodes) == ["n0"]
    assert [n.node_id for n in await vector_store.aget_nodes(node_ids=["n0"])] == ["n0"]
    await vector_store.aclear()
    assert vector_store.table is None


def test_reopened_in_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "store"
    vector_store = OmnivectorVectorStore(path=path)
    VectorStoreIndex(
        make_nodes(),
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=HashEmbedding(),
    )
    vector_store.close()
    script = ROOT / "tests/integrations/llama_helpers.py"
    child = subprocess.run(
        [sys.executable, str(script), str(path), "columnar data format"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert json.loads(child.stdout) == [["n0", NODES[0][1]], ["n2", NODES[2][1]]]
