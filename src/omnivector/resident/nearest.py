"""A resident graph's answer: positions and scores, made into ids, Lance's distances and
:class:`Hit` objects only when asked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from omnivector.core.results import Hit, distances_and_scores
from omnivector.core.schema import TableSpec

__all__ = ["Nearest"]


class _Graph(Protocol):
    """What an answer reads from its graph (:class:`~omnivector.resident.graphs.ResidentGraph`)."""

    spec: TableSpec

    def ids_at(self, positions: np.ndarray) -> list[str]: ...


@dataclass(slots=True)
class Nearest:
    """A graph's answer, nearest first: positions, and the index's scores made into Lance's
    distances and :class:`Hit` objects only when asked (reading ids alone needs neither)."""

    graph: _Graph
    positions: np.ndarray
    scores: np.ndarray  # squared l2, or inner products with the unscaled query
    query: np.ndarray | None  # cosine: the query, for its norm

    def __len__(self) -> int:
        return len(self.positions)

    def ids(self) -> list[str]:
        return self.graph.ids_at(self.positions)

    def distances(self) -> np.ndarray:
        """Distances as Lance reports them for the table's metric."""
        metric = self.graph.spec.metric
        if self.query is not None:  # cosine; float64: a float32 squared norm may overflow
            wide = self.query.astype(np.float64)
            norm = math.sqrt(float(wide @ wide))
            return 1.0 - self.scores / (norm if norm > 0 else 1.0)
        if metric == "dot":
            return 1.0 - self.scores
        return self.scores

    def hits(self) -> list[Hit]:
        lance_distances = self.distances().tolist()
        distances, scores = distances_and_scores(lance_distances, self.graph.spec.metric)
        return [
            Hit(i, s, distance=d) for i, s, d in zip(self.ids(), scores, distances, strict=True)
        ]
