"""Compaction, cleanup and index optimization of one table, on request or by the policy.

Compaction and index builds conflict in Lance (a compaction committed during a build wastes
the build), so both hold the table's maintenance lock, across processes too.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from omnivector.core.configs import DEFAULT_MAINTENANCE, MaintenanceConfig
from omnivector.core.errors import (
    InvalidInputError,
    lance_errors,
)
from omnivector.core.validation import is_integer, is_number
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset
from omnivector.storage.locks import REWRITE_TIMEOUT

__all__ = [
    "cleanup_locked",
    "compact_locked",
    "optimize_indexes_locked",
    "CleanupResult",
    "CompactionResult",
    "OptimizeResult",
    "cleanup",
    "compact",
    "optimize",
    "optimize_indexes",
    "tiered_target_rows",
]


# Automatic compaction merges small fragments into fragments of about 1/16 of the table
# (never fewer rows than this), so a run rewrites recent writes rather than the whole table;
# a fragment is rewritten whole only once ``max_deleted_fraction`` of its rows are deleted.
_MIN_TIERED_FRAGMENT_ROWS = 4096
_TIERS = 16


def tiered_target_rows(rows: int, config: MaintenanceConfig) -> int:
    """Rows per fragment that automatic compaction aims for in a table of ``rows`` rows."""
    return min(config.target_rows_per_fragment, max(_MIN_TIERED_FRAGMENT_ROWS, rows // _TIERS))


@dataclass(frozen=True, slots=True)
class CompactionResult:
    fragments_removed: int
    fragments_added: int
    files_removed: int
    files_added: int


@dataclass(frozen=True, slots=True)
class CleanupResult:
    versions_removed: int
    bytes_removed: int


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    compaction: CompactionResult
    cleanup: CleanupResult
    indexes_optimized: bool


def compact(
    ctx: TableContext,
    *,
    target_rows_per_fragment: int | None = None,
    materialize_deletions: bool = True,
) -> CompactionResult:
    with ctx.services.locks.maintenance(ctx.name):
        return compact_locked(ctx, target_rows_per_fragment, materialize_deletions)


def compact_locked(
    ctx: TableContext,
    target_rows: int | None,
    materialize_deletions: bool = True,
    deletions_threshold: float = 0.0,
) -> CompactionResult:
    # Compaction rewrites fragments that concurrent upserts and deletes also touch, and
    # Lance lets those writes win, discarding the rewrite; under a steady stream of small
    # writes it would never commit. Holding the write lock makes writers wait for it instead
    # (the rewrite of small fragments takes milliseconds).
    with ctx.services.locks.write(ctx.name, timeout=REWRITE_TIMEOUT):
        dataset = ctx.writable_dataset()
        with lance_errors(f"compacting {ctx.name!r}"):
            metrics = dataset.optimize.compact_files(
                target_rows_per_fragment=target_rows
                or DEFAULT_MAINTENANCE.target_rows_per_fragment,
                materialize_deletions=materialize_deletions,
                materialize_deletions_threshold=deletions_threshold
                if materialize_deletions
                else None,
            )
        ctx.publish(dataset)
    return CompactionResult(
        metrics.fragments_removed,
        metrics.fragments_added,
        metrics.files_removed,
        metrics.files_added,
    )


def cleanup(
    ctx: TableContext,
    *,
    older_than: timedelta | float | None = None,
    keep_versions: int | None = None,
) -> CleanupResult:
    """Remove versions replaced more than ``older_than`` ago (timedelta or seconds, default 0)
    beyond the newest ``keep_versions`` (default 1). Tagged versions are kept."""
    age = _as_timedelta(older_than) if older_than is not None else timedelta(0)
    keep = 1 if keep_versions is None else keep_versions
    if not is_integer(keep) or keep < 1:
        raise InvalidInputError(f"keep_versions must be a positive integer, got {keep!r}")
    with ctx.services.locks.maintenance(ctx.name):
        return cleanup_locked(ctx, age, keep)


def cleanup_locked(ctx: TableContext, age: timedelta, keep: int) -> CleanupResult:
    # cleanup borrows the handle mutably: a reader on the shared handle would fail meanwhile
    dataset = ctx.services.datasets.open_private(ctx.name)
    pinned = ctx.services.pins.versions(ctx.name)
    if pinned:
        keep = max(keep, int(dataset.version) - min(pinned) + 1)
    if age > timedelta(0):
        keep = max(keep, _recently_replaced(dataset, age))
    with lance_errors(f"cleaning up {ctx.name!r}"):
        stats = dataset.cleanup_old_versions(
            older_than=age, retain_versions=keep, error_if_tagged_old_versions=False
        )
    return CleanupResult(int(stats.old_versions), int(stats.bytes_removed))


def _recently_replaced(dataset: Dataset, age: timedelta) -> int:
    """How many of the newest versions to keep so that every version replaced less than
    ``age`` ago stays: Lance ages a version from its own commit, so a version written long
    before a delete would go at once, and the delete could no longer be undone."""
    with lance_errors("listing versions"):
        listed = sorted((int(v["version"]), _seconds(v["timestamp"])) for v in dataset.versions())
    cutoff = time.time() - age.total_seconds()
    for (number, _), (_, replaced_at) in itertools.pairwise(listed):
        if replaced_at > cutoff:
            return int(dataset.version) - number + 1
    return 1


def _seconds(value: datetime | int | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def optimize_indexes(ctx: TableContext) -> None:
    with ctx.services.locks.maintenance(ctx.name):
        optimize_indexes_locked(ctx)


def optimize_indexes_locked(ctx: TableContext) -> bool:
    dataset = ctx.writable_dataset()
    if not dataset.describe_indices():
        return False
    with lance_errors(f"optimizing indexes of {ctx.name!r}"):
        dataset.optimize.optimize_indices()
    ctx.publish(dataset)
    return True


def optimize(ctx: TableContext) -> OptimizeResult:
    with ctx.services.locks.maintenance(ctx.name):
        compaction = compact_locked(ctx, None)
        optimized = optimize_indexes_locked(ctx)
        config = ctx.services.maintenance
        removed = cleanup_locked(ctx, timedelta(seconds=config.keep_seconds), config.keep_versions)
    return OptimizeResult(compaction, removed, optimized)


def _as_timedelta(value: timedelta | float) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not is_number(value) or value < 0:
        raise InvalidInputError(f"older_than must be a timedelta or seconds >= 0, got {value!r}")
    return timedelta(seconds=value)
