"""A download-free LlamaIndex embedding model and the nodes the LlamaIndex tests store.

Also run as a script by the reopening test: ``llama_helpers.py STORE QUERY`` opens the store
in a fresh process and prints the retrieved node ids and texts as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

import omnivector as ov
from omnivector.integrations.llama_index import OmnivectorVectorStore

DIM = 64


class HashEmbedding(BaseEmbedding):
    """omnivector's lexical hashing embedding as a LlamaIndex embedding model."""

    def _get_text_embedding(self, text: str) -> list[float]:
        vector: list[float] = (
            ov.embeddings.get("hashing", dimension=DIM).embed_documents([text])[0].tolist()
        )
        return vector

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)


# id, text, source document, metadata
NODES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "n0",
        "Lance is a columnar data format",
        "d0",
        {"topic": "storage", "year": 2022, "tags": ["lance", "format"]},
    ),
    (
        "n1",
        "Vector search with HNSW graphs",
        "d1",
        {"topic": "search", "year": 2018, "tags": ["hnsw"]},
    ),
    (
        "n2",
        "Columnar storage compresses well",
        "d0",
        {"topic": "storage", "year": 2015, "tags": ["format"]},
    ),
    (
        "n3",
        "Hybrid search fuses BM25 and vectors",
        "d2",
        {"topic": "search", "year": 2023, "score": 0.5},
    ),
    (
        "n4",
        "Agents keep memories in small tables",
        "d3",
        {"topic": "agents", "year": 2024, "tags": []},
    ),
]


def make_nodes() -> list[TextNode]:
    return [
        TextNode(
            id_=node_id,
            text=text,
            metadata=metadata,
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=source)},
        )
        for node_id, text, source, metadata in NODES
    ]


def main(path: str, query: str) -> None:
    vector_store = OmnivectorVectorStore(path=path)
    index = VectorStoreIndex.from_vector_store(vector_store, embed_model=HashEmbedding())
    found = index.as_retriever(similarity_top_k=2).retrieve(query)
    print(json.dumps([[hit.node.node_id, hit.node.get_content()] for hit in found]))
    vector_store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
