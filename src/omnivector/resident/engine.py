"""What a resident graph's in-memory index does, whichever library holds it.

Two engines serve :mod:`omnivector.resident`: ScaNN partitions (``resident_scann``, where
the ``scann`` wheel exists: Linux, Python up to 3.13) and FAISS HNSW graphs
(``resident_hnsw``, everywhere). Positions are the rows' places in the index, in the
order they were added; the resident graph keeps ids and row addresses by position.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from omnivector.core.schema import TableSpec
    from omnivector.operations.search import VectorQuery
    from omnivector.resident.graphs import ResidentConfig

__all__ = [
    "Engine",
    "GraphIndex",
    "GraphIndexType",
    "LoadStoppedError",
    "engine_for",
    "index_type",
    "scann_installed",
]

Engine = Literal["auto", "scann", "hnsw"]


class LoadStoppedError(Exception):
    """The store is closing: a load in progress gives up."""


class GraphIndex(Protocol):
    """Rows' vectors held for nearest-neighbour search by position."""

    def add(self, vectors: np.ndarray, stop: threading.Event) -> np.ndarray | None:
        """Store prepared rows (float32, unit length for cosine) after the current ones;
        the order they were stored in, as indexes into ``vectors`` (None: as given)."""
        ...

    def remove(self, alive: np.ndarray) -> np.ndarray | None:
        """Stop answering with the positions where ``alive`` is False. None when positions
        stay (masked); else, for each position kept, the position it had before."""
        ...

    def needs_rebuild(self, live: int, masked: int, incoming: int) -> bool:
        """Whether a fresh index would serve better than updating this one."""
        ...

    def search(self, query: VectorQuery) -> tuple[np.ndarray, np.ndarray]:
        """Scores (inner products, or squared l2 for "l2") and positions of the nearest
        ``query.k`` rows, nearest first; the query's knobs for this engine apply."""
        ...


class GraphIndexType(Protocol):
    """An engine's index class: built per table, and its memory estimate beforehand."""

    def __call__(self, spec: TableSpec, config: ResidentConfig) -> GraphIndex: ...

    def row_bytes(self, dimension: int, config: ResidentConfig) -> int:
        """Estimated index bytes per row, ids not included."""
        ...


@cache
def scann_installed() -> bool:
    return importlib.util.find_spec("scann") is not None


def engine_for(config: ResidentConfig) -> Literal["scann", "hnsw"]:
    """The engine ``config`` asks for; "auto" is ScaNN where it is installed."""
    if config.engine == "auto":
        return "scann" if scann_installed() else "hnsw"
    return config.engine


def index_type(config: ResidentConfig) -> GraphIndexType:
    """The index class of the engine ``config`` asks for (imported here: both engine
    modules import this one)."""
    if engine_for(config) == "scann":
        from omnivector.resident.scann_engine import ScannIndex

        return ScannIndex
    from omnivector.resident.faiss_engine import HnswIndex

    return HnswIndex
