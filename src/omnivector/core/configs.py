"""The store's frozen configuration objects, with their named defaults.

Each docstring states what its knobs cost in memory or disk. :class:`~omnivector.StorageOptions`
(the on-disk layout of a table) lives in :mod:`omnivector.core.layout`, and
:class:`~omnivector.ResidentConfig` with the in-memory indexes it configures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from omnivector.core.errors import InvalidInputError
from omnivector.core.validation import is_integer, is_number

__all__ = [
    "DEFAULT_CACHE",
    "DEFAULT_INDEX_BUILDS",
    "DEFAULT_MAINTENANCE",
    "DatasetCacheConfig",
    "Executor",
    "IndexBuildConfig",
    "MaintenanceConfig",
]

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class DatasetCacheConfig:
    """Bounds of the connection pool.

    - ``max_cached_tables``: open dataset handles kept (LRU); ``None`` = unbounded. Each
      open handle costs roughly 50-250 KB beyond the shared session caches.
    - ``index_cache_bytes``: shared budget for index pages (IVF partitions, HNSW graphs,
      FTS posting lists) across all tables; warm indexes survive eviction of a handle. It
      fills only as indexes are read; an index larger than it is read again on every query
      (500,000 x 384-d IVF_HNSW_SQ: p50 540 ms at 256 MiB, 5 ms at 2 GiB).
    - ``metadata_cache_bytes``: shared budget for manifests, fragment and file metadata.
    - ``refresh_interval``: seconds between checks for other writers' commits on a cached
      handle; ``0`` checks on every operation (strong consistency, ~13 us locally).
    """

    max_cached_tables: int | None = 128
    index_cache_bytes: int = 2048 * MiB
    metadata_cache_bytes: int = 64 * MiB
    refresh_interval: float = 0.0

    def __post_init__(self) -> None:
        limit = self.max_cached_tables
        if limit is not None and (not is_integer(limit) or limit < 1):
            raise InvalidInputError(
                f"max_cached_tables must be a positive integer or None, got {limit!r}"
            )
        for name in ("index_cache_bytes", "metadata_cache_bytes"):
            value = getattr(self, name)
            if not is_integer(value) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
        interval = self.refresh_interval
        if not is_number(interval) or interval < 0:
            raise InvalidInputError(
                f"refresh_interval must be a non-negative number of seconds, got {interval!r}"
            )


DEFAULT_CACHE = DatasetCacheConfig()


Executor = Literal["process", "thread"]


@dataclass(frozen=True, slots=True)
class IndexBuildConfig:
    """How background builds run.

    - ``executor``: "process" (default) builds in a separate, lower-priority worker process
      so queries in this process never stall; "thread" builds in-process (no process
      start-up, ~0.5 s, but IVF_HNSW builds then stall other queries).
    - ``max_concurrent``: builds on different tables that may run at once.
    - ``lock_timeout``: seconds a build waits for another build/compaction on its table.
    - ``worker_nice``: niceness added to worker processes (0 keeps normal priority).
    - ``stall_seconds``: a worker silent and idle (no CPU) this long is killed and the build
      retried once without Lance's progress events, which can hang a build.
    """

    executor: Executor = "process"
    max_concurrent: int = 1
    lock_timeout: float = 3600.0
    worker_nice: int = 10
    stall_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.executor not in ("process", "thread"):
            raise InvalidInputError(
                f"executor must be 'process' or 'thread', got {self.executor!r}"
            )
        if not is_integer(self.max_concurrent) or self.max_concurrent < 1:
            raise InvalidInputError("max_concurrent must be a positive integer")
        if not is_number(self.stall_seconds) or self.stall_seconds <= 0:
            raise InvalidInputError("stall_seconds must be a positive number of seconds")


DEFAULT_INDEX_BUILDS = IndexBuildConfig()


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    """Auto-maintenance thresholds (checked after writes, acted on in the background).

    - ``enabled``: False turns auto-maintenance off (call ``tbl.optimize()`` yourself).
    - ``max_fragments`` / ``max_small_fragments``: compact when passed.
    - ``max_deleted_fraction``: compact (purging deleted rows) when passed.
    - ``max_unindexed_rows``: fold new rows into existing indexes when passed.
    - ``max_unindexed_text_rows``: the same for full-text indexes, whose missing rows cost
      more: a text query scans them at ~15 us per row (2 shared cores), where an indexed
      query takes 1-2 ms.
    - ``keep_versions`` / ``keep_seconds``: old versions kept by cleanup; a version is
      removed only when it was replaced by a newer one more than ``keep_seconds`` ago and
      is not among the newest ``keep_versions``, so ``restore()`` can undo any write for at
      least ``keep_seconds`` however many versions follow. Tagged versions are always kept.
      Disk space stays bounded by the live data plus what these recent versions reference.
    - ``min_interval``: seconds between two maintenance runs on one table.
    - ``quiet_seconds`` / ``max_delay``: a run waits until no write came to the table for
      ``quiet_seconds``, so a stream of writes (a bulk import) is not slowed by compactions
      competing for the cores and the write lock; a table written without a pause still gets
      its look ``max_delay`` seconds after the first write that asked for it.
    """

    enabled: bool = True
    max_fragments: int = 32
    max_small_fragments: int = 8
    max_deleted_fraction: float = 0.1
    max_unindexed_rows: int = 10_000
    max_unindexed_text_rows: int = 1_000
    keep_versions: int = 10
    keep_seconds: float = 5.0
    min_interval: float = 2.0
    quiet_seconds: float = 1.0
    max_delay: float = 30.0
    target_rows_per_fragment: int = 1_048_576

    def __post_init__(self) -> None:
        for name in (
            "max_fragments",
            "max_small_fragments",
            "max_unindexed_rows",
            "max_unindexed_text_rows",
            "keep_versions",
            "target_rows_per_fragment",
        ):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        for name in (
            "max_deleted_fraction",
            "keep_seconds",
            "min_interval",
            "quiet_seconds",
            "max_delay",
        ):
            value = getattr(self, name)
            if not is_number(value) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {value!r}")

    def fold_threshold(self, index_kind: str) -> int:
        """Unindexed rows past which an index of ``index_kind`` is folded up to date."""
        return self.max_unindexed_text_rows if index_kind == "INVERTED" else self.max_unindexed_rows


DEFAULT_MAINTENANCE = MaintenanceConfig()
