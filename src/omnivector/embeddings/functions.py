"""``from_callable``: any Python function from texts to vectors as an embedding function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from omnivector.core.errors import InvalidInputError
from omnivector.embeddings.base import EmbeddingConfig, check_dimension

__all__ = ["CallableEmbedding", "from_callable"]

TextsToVectors = Callable[[list[str]], Any]


class CallableEmbedding:
    """Wraps ``documents`` (and ``queries``, default: the same) functions of a text list.

    A table records only its name and dimension: another process must pass it again with
    ``store.table(name, embedding=...)`` to write texts without vectors or search by query.
    """

    def __init__(
        self, documents: TextsToVectors, *, dimension: int, queries: TextsToVectors | None = None
    ) -> None:
        self._documents = documents
        self._queries = queries or documents
        self._dimension = check_dimension(dimension)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def config(self) -> EmbeddingConfig:
        name = getattr(self._documents, "__qualname__", type(self._documents).__name__)
        module = getattr(self._documents, "__module__", None)
        function = f"{module}.{name}" if module else name
        return EmbeddingConfig("callable", {"dimension": self._dimension, "function": function})

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return _matrix(self._documents(list(texts)))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _matrix(self._queries(list(texts)))


def _matrix(result: Any) -> np.ndarray:
    try:
        return np.asarray(result, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the embedding function returned something that is not a matrix of numbers: {exc}"
        ) from exc


def from_callable(
    fn: TextsToVectors, *, dimension: int, queries: TextsToVectors | None = None
) -> CallableEmbedding:
    """An embedding function from ``fn(texts) -> vectors`` (``queries``: another function
    for search queries). Its vectors are checked on every use: ``dimension`` long, finite,
    one per text."""
    return CallableEmbedding(fn, dimension=dimension, queries=queries)
