"""ResidentConfig: which engine holds a store's in-memory indexes, and its settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from omnivector.core.errors import InvalidInputError
from omnivector.core.validation import is_integer, is_number
from omnivector.resident.engine import GraphIndexType, ResidentEngine, scann_installed
from omnivector.resident.faiss_engine import HnswIndex
from omnivector.resident.scann_engine import ScannIndex

__all__ = ["Precision", "ResidentConfig", "default_max_bytes", "engine_for", "index_type"]

Precision = Literal["f32", "f16"]
# the default budget: this share of the machine's memory
_MEMORY_SHARE = 4
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def default_max_bytes() -> int:
    """A quarter of the memory this process may use: the machine's, or its cgroup's limit
    when lower (1 GiB where neither can be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        total = _MEMORY_SHARE << 30
    try:
        limit = _CGROUP_LIMIT.read_text().strip()
    except OSError:
        limit = "max"
    if limit.isdigit():
        total = min(total, int(limit))
    return max(total // _MEMORY_SHARE, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentConfig:
    """In-memory indexes for fast vector queries.

    Memory per document is about ``dimension x`` 4 bytes (``precision="f32"``) or 2
    (``"f16"``: float16), plus the engine's own (ScaNN: a
    quarter byte per dimension; HNSW: ``2 x connectivity x 4`` bytes of links), 8 bytes of
    row address and the id string. Loading costs CPU, on all cores; queries meanwhile go to
    Lance.

    - ``engine``: ``"scann"`` (partitions scored on compressed codes, then exactly; Linux),
      ``"hnsw"`` (a FAISS HNSW graph; everywhere) or ``"auto"``: ScaNN where installed.
    - ``max_bytes``: budget for all graphs of the store; least recently used graphs go
      first. By default a quarter of the machine's memory (or of the cgroup's limit).
    - ``min_rows``: smaller tables stay with Lance alone.
    - ``load_after``: a table's graph starts loading after this many of its queries went
      to Lance (a process that asks once and exits never loads one).
    - ``release_lance_after``: vector queries that go to Lance while a table's graph loads
      or follows writes run in a Lance session of their own, which holds the table's Lance
      vector index; it is let go when the graph answers a query and the table has not been
      written for this many seconds.
    - ScaNN: ``partitions_searched``, the share of partitions a query visits (a query's
      ``nprobes=`` sets their number instead), and ``refine_factor``: ``refine_factor x k``
      candidates, at least 100 and times ``sqrt(rows / 250,000)`` past 250,000 rows, are
      scored exactly (a query's ``refine_factor=`` sets
      ``refine_factor x k`` alone). Tables of at most 2^20 values (rows x dimension) are
      scored exactly.
    - HNSW: ``connectivity`` (``M``) and ``expansion_add`` (``efConstruction``): graph
      quality against load time and memory; ``expansion_search``: the default ``ef``, which
      a query's ``ef=`` overrides.
    """

    max_bytes: int = field(default_factory=lambda: default_max_bytes())
    min_rows: int = 1_000
    load_after: int = 3
    release_lance_after: float = 30.0
    precision: Precision = "f32"
    engine: ResidentEngine = "auto"
    partitions_searched: float = 0.15
    refine_factor: int = 20
    connectivity: int = 16
    expansion_add: int = 200
    expansion_search: int = 128

    def __post_init__(self) -> None:
        names = (
            "max_bytes",
            "load_after",
            "refine_factor",
            "connectivity",
            "expansion_add",
            "expansion_search",
        )
        for name in names:
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise InvalidInputError(f"ResidentConfig.{name} must be a positive integer")
        if not is_integer(self.min_rows):
            raise InvalidInputError("ResidentConfig.min_rows must be an integer")
        if self.precision not in ("f32", "f16"):
            raise InvalidInputError("ResidentConfig.precision must be 'f32' or 'f16'")
        if self.engine not in ("auto", "scann", "hnsw"):
            raise InvalidInputError("ResidentConfig.engine must be 'auto', 'scann' or 'hnsw'")
        if self.engine == "scann" and not scann_installed():
            raise InvalidInputError(
                "ResidentConfig(engine='scann') needs the scann package (Linux, Python up "
                "to 3.13); use engine='hnsw' or 'auto'"
            )
        linger = self.release_lance_after
        if not is_number(linger) or linger < 0:
            raise InvalidInputError("ResidentConfig.release_lance_after must be >= 0 seconds")
        share = self.partitions_searched
        if not is_number(share) or not 0 < share <= 1:
            raise InvalidInputError("ResidentConfig.partitions_searched must be in (0, 1]")

    def row_bytes(self, dimension: int) -> int:
        """Estimated index bytes per row in the chosen engine, ids not included."""
        return index_type(self).row_bytes(dimension, self)


def engine_for(config: ResidentConfig) -> Literal["scann", "hnsw"]:
    """The engine ``config`` asks for; "auto" is ScaNN where it is installed."""
    if config.engine == "auto":
        return "scann" if scann_installed() else "hnsw"
    return config.engine


def index_type(config: ResidentConfig) -> GraphIndexType:
    """The index class of the engine ``config`` asks for."""
    return ScannIndex if engine_for(config) == "scann" else HnswIndex
