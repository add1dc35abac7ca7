"""Fusion of a vector result list and a full-text result list into one ranking.

A fusion is any callable ``(vector_hits, text_hits, k) -> list[Hit]``. Both built-ins are
deterministic: ties are broken by id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from omnivector.core.errors import InvalidInputError
from omnivector.core.results import Hit
from omnivector.core.validation import is_integer, is_number

__all__ = ["RRF", "Fusion", "Weighted", "min_max"]

Fusion = Callable[[Sequence[Hit], Sequence[Hit], int], list[Hit]]


def _check_weights(weights: tuple[float, float]) -> tuple[float, float]:
    if (
        not isinstance(weights, tuple)
        or len(weights) != 2
        or any(not is_number(w) or w < 0 for w in weights)
        or sum(weights) == 0
    ):
        raise InvalidInputError(
            f"weights must be a pair of non-negative numbers, not both 0, got {weights!r}"
        )
    return (float(weights[0]), float(weights[1]))


@dataclass(frozen=True, slots=True)
class RRF:
    """Reciprocal rank fusion: ``score = sum(w_i / (k + rank_i))`` with 1-based ranks."""

    k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if not is_integer(self.k) or self.k < 0:
            raise InvalidInputError(f"RRF k must be a non-negative integer, got {self.k!r}")
        object.__setattr__(self, "weights", _check_weights(tuple(self.weights)))  # type: ignore[arg-type]

    def __call__(
        self, vector_hits: Sequence[Hit], text_hits: Sequence[Hit], limit: int
    ) -> list[Hit]:
        scores: dict[str, float] = {}
        for weight, hits in zip(self.weights, (vector_hits, text_hits), strict=True):
            for rank, hit in enumerate(hits, start=1):
                scores[hit.id] = scores.get(hit.id, 0.0) + weight / (self.k + rank)
        return _merge(vector_hits, text_hits, scores, limit)


@dataclass(frozen=True, slots=True)
class Weighted:
    """Blend of min-max normalised scores: ``w_v * norm(vector) + w_t * norm(text)``.

    A document missing from one list gets 0 for that part.
    """

    weights: tuple[float, float] = (0.5, 0.5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _check_weights(tuple(self.weights)))  # type: ignore[arg-type]

    def __call__(
        self, vector_hits: Sequence[Hit], text_hits: Sequence[Hit], limit: int
    ) -> list[Hit]:
        scores: dict[str, float] = {}
        parts = (
            (self.weights[0], vector_hits, [h.score for h in vector_hits]),
            (self.weights[1], text_hits, [h.text_score or 0.0 for h in text_hits]),
        )
        for weight, hits, raw in parts:
            for hit, value in zip(hits, min_max(raw), strict=True):
                scores[hit.id] = scores.get(hit.id, 0.0) + weight * value
        return _merge(vector_hits, text_hits, scores, limit)


def min_max(values: list[float]) -> list[float]:
    """``values`` scaled to [0, 1] (all 1 when they are equal)."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high == low:
        return [1.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def _merge(
    vector_hits: Sequence[Hit], text_hits: Sequence[Hit], scores: dict[str, float], limit: int
) -> list[Hit]:
    """Combine both views of each document into one hit with the fused score."""
    merged: dict[str, Hit] = {}
    for rank, hit in enumerate(vector_hits, start=1):
        merged[hit.id] = replace(hit, vector_rank=rank)
    for rank, hit in enumerate(text_hits, start=1):
        seen = merged.get(hit.id)
        if seen is None:
            merged[hit.id] = replace(hit, text_rank=rank, distance=None)
        else:
            merged[hit.id] = replace(seen, text_rank=rank, text_score=hit.text_score)
    ordered = sorted(merged, key=lambda doc_id: (-scores[doc_id], doc_id))
    return [replace(merged[doc_id], score=scores[doc_id]) for doc_id in ordered[:limit]]
