"""``"hashing"``: a dependency-free lexical embedding by feature hashing; no model.

Word unigrams and bigrams are hashed into a fixed number of signed buckets (the "hashing
trick"), so texts sharing words land close together. It is a lexical stand-in for tests
and for stores that must not load a model, not a semantic embedding.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence

import numpy as np

from omnivector.embeddings.base import EmbeddingConfig, check_dimension

__all__ = ["HashingEmbedding"]

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedding:
    """Deterministic bag-of-words vectors of ``dimension`` (>= 8) buckets, unit length."""

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = check_dimension(dimension, minimum=8)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def config(self) -> EmbeddingConfig:
        return EmbeddingConfig("hashing", {"dimension": self._dimension})

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
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

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)


def _features(text: str) -> Iterable[tuple[str, float]]:
    words = _WORD.findall(text.lower())
    for word in words:
        yield word, 1.0
    for first, second in itertools.pairwise(words):
        yield f"{first} {second}", 0.5
