"""``normalize_scores=True``: every search's scores mapped into [0, 1], higher is better.

Each kind of score has its own map, fixed where the score has known bounds (so a threshold
means the same across queries) and relative to the results where it has none:

- vector, ``cosine``: ``(similarity + 1) / 2`` (1 = same direction, 0.5 = orthogonal).
- vector, ``dot``: ``(q . v + 1) / 2``, clipped to [0, 1]: the cosine map for unit-length
  vectors; longer vectors' scores clip at 0 and 1.
- vector, ``l2``: the score ``1 / (1 + distance)`` is in (0, 1] already and is kept.
- full text (BM25, unbounded): ``score / best score`` of the results (the best hit is 1).
- hybrid, ``RRF``: ``score / (sum(weights) / (k + 1))``, the score of a document ranked
  first by both retrievers (= 1).
- hybrid, ``Weighted``: ``score / sum(weights)`` (1 = best in both lists).
- hybrid with another fusion: min-max over the results (best 1, worst 0; one hit: 1).
- reranked: scores already in [0, 1] are kept; others are taken as logits and mapped with
  the logistic function ``1 / (1 + e^-score)``, as a cross-encoder's raw scores are.

The order of the hits never changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from omnivector.core.fusion import RRF, Fusion, Weighted, min_max
from omnivector.core.results import Hit

__all__ = ["normalize_hits"]


def normalize_hits(
    hits: Sequence[Hit],
    *,
    metric: str,
    vector: bool,
    text: bool,
    fusion: Fusion | None,
    reranked: bool,
) -> list[Hit]:
    """``hits`` with scores mapped into [0, 1] by the rule for their kind (module doc)."""
    scores = [hit.score for hit in hits]
    if not scores:
        return []
    mapped: list[float]
    if reranked:
        mapped = scores if all(0.0 <= s <= 1.0 for s in scores) else [_logistic(s) for s in scores]
    elif vector and text:
        mapped = _hybrid(scores, fusion if fusion is not None else RRF())
    elif text:
        best = max(scores)
        mapped = [s / best if best > 0 else 0.0 for s in scores]
    elif metric == "l2":
        mapped = scores
    else:  # cosine, dot
        mapped = [(s + 1.0) / 2.0 for s in scores]
    return [replace(hit, score=min(max(s, 0.0), 1.0)) for hit, s in zip(hits, mapped, strict=True)]


def _hybrid(scores: list[float], fusion: Fusion) -> list[float]:
    if isinstance(fusion, RRF):
        best = sum(fusion.weights) / (fusion.k + 1)
        return [s / best for s in scores]
    if isinstance(fusion, Weighted):
        total = sum(fusion.weights)
        return [s / total for s in scores]
    return min_max(scores)


def _logistic(score: float) -> float:
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    exp = math.exp(score)  # no overflow for large negative scores
    return exp / (1.0 + exp)
