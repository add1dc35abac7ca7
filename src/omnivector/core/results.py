"""Results: a search's :class:`Hit` sequence (Arrow, list and pandas conversions) and what a
write changed (:class:`WriteResult`).

Scores are "higher is better" for every metric and retriever:

- ``cosine``: score = cosine similarity (1 = same direction); distance = 1 - similarity.
- ``dot``: score = q . v; distance = 1 - q . v (Lance's convention, lower is better).
- ``l2``: distance = Euclidean distance; score = 1 / (1 + distance), in (0, 1].
- full text: ``text_score`` = BM25; hybrid ``score`` = the fusion's score.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

import pyarrow as pa

from omnivector.core.errors import MissingDependencyError

__all__ = [
    "Hit",
    "ImportResult",
    "PendingHits",
    "SearchResults",
    "WriteResult",
    "arrow_to_pandas",
    "arrow_to_polars",
    "distances_and_scores",
]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write changed, and the table version it produced."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What ``store.import_file`` did: whether it created the table, the rows it wrote, and
    the table version it left."""

    table: str
    created: bool
    inserted: int
    updated: int
    version: int


@dataclass(slots=True)
class Hit:
    """One search result."""

    id: str
    score: float
    distance: float | None = None
    text_score: float | None = None
    vector_rank: int | None = None
    text_rank: int | None = None
    text: str | None = None
    metadata: dict[str, Any] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    vector: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": self.id,
            "score": self.score,
            "distance": self.distance,
            "text_score": self.text_score,
            "vector_rank": self.vector_rank,
            "text_rank": self.text_rank,
            "text": self.text,
            "metadata": self.metadata,
        }
        row.update(self.fields)
        if self.vector is not None:
            row["vector"] = self.vector
        return row


class PendingHits(Protocol):
    """Hits not yet made into :class:`Hit` objects, whose ids are cheaper to read alone."""

    def __len__(self) -> int: ...
    def ids(self) -> list[str]: ...
    def hits(self) -> list[Hit]: ...


class SearchResults(Sequence[Hit]):
    """Hits in rank order (best first).

    Results that come with their ids alone (a resident graph's) make their ``Hit`` objects
    on first use, so reading ``ids`` costs no objects.
    """

    def __init__(self, hits: Sequence[Hit] | PendingHits) -> None:
        self._pending: PendingHits | None = None
        self._made: list[Hit] | None = None
        if isinstance(hits, Sequence):
            self._made = list(hits)
        else:
            self._pending = hits

    @property
    def _hits(self) -> list[Hit]:
        if self._made is None:
            assert self._pending is not None
            self._made = self._pending.hits()
        return self._made

    @overload
    def __getitem__(self, index: int) -> Hit: ...
    @overload
    def __getitem__(self, index: slice) -> SearchResults: ...
    def __getitem__(self, index: int | slice) -> Hit | SearchResults:
        if isinstance(index, slice):
            return SearchResults(self._hits[index])
        return self._hits[index]

    def __len__(self) -> int:
        if self._made is not None:
            return len(self._made)
        assert self._pending is not None
        return len(self._pending)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self._hits)

    def __repr__(self) -> str:
        shown = ", ".join(f"{h.id!r}:{h.score:.4f}" for h in self._hits[:5])
        more = ", ..." if len(self._hits) > 5 else ""
        return f"SearchResults([{shown}{more}])"

    @property
    def ids(self) -> list[str]:
        if self._made is None:
            assert self._pending is not None
            return self._pending.ids()
        return [hit.id for hit in self._hits]

    def to_list(self) -> list[dict[str, Any]]:
        """Hits as plain dicts (metadata decoded, declared fields at top level)."""
        return [hit.to_dict() for hit in self._hits]

    def to_arrow(self) -> pa.Table:
        """Hits as an Arrow table; metadata is kept as a JSON-like struct-free string."""
        rows = self.to_list()
        if not rows:
            return pa.table({"id": pa.array([], pa.string()), "score": pa.array([], pa.float64())})
        import json

        for row in rows:
            if row["metadata"] is not None:
                row["metadata"] = json.dumps(row["metadata"], ensure_ascii=False, default=str)
        return pa.Table.from_pylist(rows)

    def to_pandas(self) -> Any:
        """Hits as a pandas DataFrame, one row per hit as ``to_list`` (needs pandas)."""
        return _pandas().DataFrame(self.to_list())

    def to_polars(self) -> Any:
        """Hits as a polars DataFrame, columns as ``to_arrow`` (needs polars)."""
        return arrow_to_polars(self.to_arrow())


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise MissingDependencyError("to_pandas() needs pandas", extra="pandas") from exc
    return pandas


def arrow_to_pandas(table: pa.Table) -> Any:
    """``table`` as a pandas DataFrame; MissingDependencyError without pandas."""
    _pandas()
    return table.to_pandas()


def arrow_to_polars(table: pa.Table) -> Any:
    """``table`` as a polars DataFrame; MissingDependencyError without polars."""
    try:
        import polars
    except ImportError as exc:
        raise MissingDependencyError("to_polars() needs polars", extra="polars") from exc
    return polars.from_arrow(table)


def distances_and_scores(lance_distances: list[Any], metric: str) -> tuple[list[float], ...]:
    """Reported distances and scores from Lance's (squared L2, 1 - cosine, 1 - dot)."""
    # plain floats: numpy costs more than it saves on k values
    distances = [float(d) for d in lance_distances]
    if metric == "l2":
        distances = [math.sqrt(max(d, 0.0)) for d in distances]
        return distances, [1.0 / (1.0 + d) for d in distances]
    return distances, [1.0 - d for d in distances]
