"""What a resident graph's in-memory index does, whichever library holds it.

Two engines serve :mod:`omnivector.resident`: ScaNN partitions (``scann_engine``, where
the ``scann`` wheel exists: Linux, Python up to 3.13) and FAISS HNSW graphs
(``faiss_engine``, everywhere). Positions are the rows' places in the index, in the
order they were added; the resident graph keeps ids and row addresses by position.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from omnivector.core.query import VectorQuery
    from omnivector.core.schema import TableSpec

__all__ = [
    "ResidentEngine",
    "GraphIndex",
    "GraphIndexType",
    "LoadStoppedError",
    "EngineSettings",
    "scann_installed",
]

ResidentEngine = Literal["auto", "scann", "hnsw"]


class LoadStoppedError(Exception):
    """The store is closing: a load in progress gives up."""


class EngineSettings(Protocol):
    """The settings of :class:`~omnivector.ResidentConfig` an engine reads."""

    @property
    def precision(self) -> Literal["f32", "f16"]: ...
    @property
    def partitions_searched(self) -> float: ...
    @property
    def refine_factor(self) -> int: ...
    @property
    def connectivity(self) -> int: ...
    @property
    def expansion_add(self) -> int: ...
    @property
    def expansion_search(self) -> int: ...


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

    def __call__(self, spec: TableSpec, config: EngineSettings) -> GraphIndex: ...

    def row_bytes(self, dimension: int, config: EngineSettings) -> int:
        """Estimated index bytes per row, ids not included."""
        ...


@cache
def scann_installed() -> bool:
    return importlib.util.find_spec("scann") is not None
