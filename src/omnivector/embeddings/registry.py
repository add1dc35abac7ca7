"""The registry of embedding functions by name, and the recommended default.

A table records its function's :class:`EmbeddingConfig`; :func:`from_config` rebuilds it
with the registered factory. A user's own factory registered under a name in every
process (``register``) is rebuilt like the built-in ones, provided the functions it makes
report that name in their config.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from omnivector.core.errors import (
    EmbeddingUnavailableError,
    InvalidInputError,
    MissingDependencyError,
)
from omnivector.embeddings.base import EmbeddingConfig, EmbeddingFunction
from omnivector.embeddings.e5 import E5Embedding
from omnivector.embeddings.hashing import HashingEmbedding
from omnivector.embeddings.onnx import MINILM_INT8, OnnxEmbedding
from omnivector.embeddings.openai import OpenAIEmbedding
from omnivector.embeddings.sentence_transformers import SentenceTransformerEmbedding

__all__ = ["DEFAULT", "default", "from_config", "get", "names", "register"]

Factory = Callable[..., EmbeddingFunction]

#: The recommended local semantic model (docs/embeddings.md has the measurements).
DEFAULT = EmbeddingConfig("onnx", {"model": MINILM_INT8})
DEFAULT_EXTRA = "embed"

_FACTORIES: dict[str, Factory] = {
    "e5": E5Embedding,
    "hashing": HashingEmbedding,
    "onnx": OnnxEmbedding,
    "openai": OpenAIEmbedding,
    "sentence-transformers": SentenceTransformerEmbedding,
}


def names() -> list[str]:
    """The registered names, sorted."""
    return sorted(_FACTORIES)


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make ``get(name, **options)`` call ``factory(**options)``."""
    if not isinstance(name, str) or not name or name == "callable":
        raise InvalidInputError(f"an embedding function needs a non-empty name, got {name!r}")
    if not callable(factory):
        raise InvalidInputError(f"factory must be callable, got {type(factory).__name__}")
    if name in _FACTORIES and not replace:
        raise InvalidInputError(
            f"embedding function {name!r} is already registered; pass replace=True"
        )
    _FACTORIES[name] = factory


def get(name: str, **options: Any) -> EmbeddingFunction:
    """A new embedding function: ``get("hashing", dimension=64)``, ``get("onnx")``, ..."""
    if name == "callable":
        raise EmbeddingUnavailableError(
            "a Python callable cannot be rebuilt from its name; pass the function: "
            "store.table(name, embedding=ov.embeddings.from_callable(fn, dimension=...))"
        )
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InvalidInputError(
            f"unknown embedding function {name!r}; known: {', '.join(names())} "
            "(or ov.embeddings.register your own)"
        )
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise InvalidInputError(f"embedding function {name!r}: {exc}") from exc
    except ValueError:  # no signature to check (a builtin): let the factory decide
        pass
    function = factory(**options)
    if not isinstance(function, EmbeddingFunction):
        raise InvalidInputError(
            f"the factory of {name!r} returned {type(function).__name__}, which lacks "
            "dimension, config, embed_documents or embed_queries"
        )
    return function


def from_config(config: EmbeddingConfig) -> EmbeddingFunction:
    """Rebuild a recorded function."""
    return get(config.name, **config.options)


def default() -> EmbeddingFunction:
    """The recommended local semantic model: all-MiniLM-L6-v2 (int8, ONNX), 384-d."""
    try:
        return from_config(DEFAULT)
    except MissingDependencyError as exc:
        raise MissingDependencyError(
            f"the default embedding model needs the {DEFAULT_EXTRA!r} extra",
            extra=DEFAULT_EXTRA,
        ) from exc
