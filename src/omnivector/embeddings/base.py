"""What an embedding function is: a dimension, two embedding methods and a config.

The config (a registry name and JSON options) is what a table records, so any process
that opens the table can rebuild the function. It never holds a secret: an API key is
named by the environment variable that holds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from omnivector.core.errors import InvalidInputError
from omnivector.core.validation import is_integer

__all__ = [
    "EmbeddingConfig",
    "EmbeddingFunction",
    "PrefixedModel",
    "batches",
    "check_dimension",
    "normalized",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EmbeddingConfig:
    """How to rebuild an embedding function: ``get(name, **options)`` from the registry."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "options": dict(self.options)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> EmbeddingConfig:
        try:
            raw = json.loads(text)
            return cls(str(raw["name"]), dict(raw.get("options") or {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"not an embedding function config: {text!r}") from exc


@runtime_checkable
class EmbeddingFunction(Protocol):
    """Turns texts into float32 vectors of a fixed ``dimension``.

    ``embed_documents`` embeds stored texts, ``embed_queries`` search queries; they differ
    for models trained with instructions (e5's ``passage:`` / ``query:``).
    """

    @property
    def dimension(self) -> int: ...

    @property
    def config(self) -> EmbeddingConfig:
        """The registry name and options that rebuild this function."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dimension)`` float32 matrix."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dimension)`` float32 matrix."""
        ...


def check_dimension(value: object, *, minimum: int = 1) -> int:
    """A positive integer dimension, or ``InvalidInputError``."""
    if not is_integer(value) or value < minimum:
        raise InvalidInputError(f"dimension must be an integer >= {minimum}, got {value!r}")
    return value


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def normalized(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.float32(1e-12))


class PrefixedModel:
    """A local model whose options put ``document_prefix`` / ``query_prefix`` before each
    text (an instruction some models were trained with); subclasses set ``_options`` and
    ``_dimension`` and encode non-empty lists in ``_encode``."""

    _options: dict[str, Any]
    _dimension: int

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_all([self._options["document_prefix"] + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_all([self._options["query_prefix"] + t for t in texts])

    def _encode_all(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self._dimension), dtype=np.float32)
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError
