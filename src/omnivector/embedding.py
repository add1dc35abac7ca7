"""Pluggable text embedding: the ``Embedder`` protocol and a dependency-free default.

A table with an embedder fills in missing ``vector`` values from ``text`` on write and
accepts ``search(query="...")``. :class:`HashingEmbedder` needs no model download: it
hashes word unigrams and bigrams into a fixed number of signed buckets (the "hashing
trick"), so texts sharing words land close together. It is a lexical stand-in, useful for
demos and tests; plug a real model (e.g. sentence-transformers) for semantic search.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from omnivector.core.errors import InvalidInputError

__all__ = ["Embedder", "HashingEmbedder", "SentenceTransformerEmbedder"]

_WORD = re.compile(r"[a-z0-9]+")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of a fixed ``dimension``."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 matrix with one row per text."""
        ...

    def fill_vectors(self, data: Any) -> Any:
        """Return ``data`` with missing vectors computed from ``text``."""
        ...


class _FillMixin:
    """``fill_vectors`` for list-of-dict and Arrow input, shared by the embedders."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def fill_vectors(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = [data]
        if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
            missing = [i for i, r in enumerate(data) if r.get("vector") is None]
            if not missing:
                return data
            texts = [_text_of(data[i]) for i in missing]
            vectors = self.embed(texts)
            filled = list(data)
            for row_index, vector in zip(missing, vectors, strict=True):
                filled[row_index] = {**data[row_index], "vector": vector}
            return filled
        if isinstance(data, pa.Table) and "vector" not in data.column_names:
            if "text" not in data.column_names:
                raise InvalidInputError("documents without 'vector' need 'text' to embed")
            texts = [t or "" for t in data.column("text").to_pylist()]
            matrix = self.embed(texts)
            flat = pa.array(matrix.astype(np.float32).ravel())
            return data.append_column(
                "vector", pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])
            )
        return data


def _text_of(row: Mapping[str, Any]) -> str:
    text = row.get("text")
    if not isinstance(text, str):
        raise InvalidInputError(
            f"document {row.get('id')!r} has no vector and no text to embed it from"
        )
    return text


class HashingEmbedder(_FillMixin):
    """Deterministic bag-of-words embedding by feature hashing; no model, no download."""

    def __init__(self, dimension: int = 384) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 8:
            raise InvalidInputError(f"dimension must be an integer >= 8, got {dimension!r}")
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                matrix[row, bucket] += sign * weight
            norm = float(np.linalg.norm(matrix[row]))
            if norm > 0:
                matrix[row] /= norm
            else:
                matrix[row, 0] = 1.0  # an empty text still needs a valid direction
        return matrix


def _features(text: str) -> Iterable[tuple[str, float]]:
    words = _WORD.findall(text.lower())
    for word in words:
        yield word, 1.0
    for first, second in itertools.pairwise(words):
        yield f"{first} {second}", 0.5


class SentenceTransformerEmbedder(_FillMixin):
    """Adapter for a sentence-transformers model (install the model package yourself)."""

    def __init__(self, model: Any) -> None:
        if isinstance(model, str):
            try:
                from sentence_transformers import (  # type: ignore[import-not-found]
                    SentenceTransformer,
                )
            except ImportError as exc:
                raise InvalidInputError(
                    "SentenceTransformerEmbedder needs sentence-transformers installed"
                ) from exc
            model = SentenceTransformer(model)
        self._model = model
        self._dimension = int(model.get_sentence_embedding_dimension())

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)
