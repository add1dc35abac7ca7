"""Maintenance, versions and schema evolution on :class:`~omnivector.Table`.

:class:`Table` inherits these methods; each checks that the table is writable where it must
be and hands the work to the operation that owns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from omnivector.core.results import WriteResult
from omnivector.distributed import engine as distributed
from omnivector.distributed.engine import Engine
from omnivector.maintenance import compaction, stats
from omnivector.maintenance.compaction import CleanupResult, CompactionResult, OptimizeResult
from omnivector.maintenance.stats import TableHealth, TableStats
from omnivector.operations import evolution, versions
from omnivector.operations.versions import VersionInfo
from omnivector.storage.context import TableContext

__all__ = ["TableUpkeep"]


class TableUpkeep:
    """Compaction, cleanup, statistics, versions, tags and schema evolution of a table."""

    _ctx: TableContext

    def compact(self, *, engine: Engine = "local", **options: Any) -> CompactionResult:
        """Merge small fragments and purge deleted rows (serialized with index builds).

        ``engine="ray"`` runs the rewrites as Ray tasks through lance-ray.
        """
        self._ctx.check_writable()
        ray_engine = distributed.resolve_engine(engine)
        if ray_engine is not None:
            return distributed.compact(self._ctx, ray_engine, **options)
        return compaction.compact(self._ctx, **options)

    def cleanup(
        self, *, older_than: timedelta | float | None = None, keep_versions: int | None = None
    ) -> CleanupResult:
        """Remove old versions' files (tagged versions are kept)."""
        self._ctx.check_writable()
        return compaction.cleanup(self._ctx, older_than=older_than, keep_versions=keep_versions)

    def optimize(self) -> OptimizeResult:
        """Compact, fold new rows into indexes, and clean up old versions."""
        self._ctx.check_writable()
        return compaction.optimize(self._ctx)

    def stats(self) -> TableStats:
        """Rows, bytes on disk (total, per column, per row), fragments, versions, indexes."""
        return stats.stats(self._ctx)

    def health(self) -> TableHealth:
        """Fragmentation, deleted rows, old versions and unindexed rows, with advice."""
        return stats.health(self._ctx)

    def versions(self) -> list[VersionInfo]:
        return versions.versions(self._ctx)

    def tags(self) -> dict[str, int]:
        return versions.tags(self._ctx)

    def tag(self, name: str, version: int | None = None) -> None:
        self._ctx.check_writable()
        versions.tag(self._ctx, name, version)

    def untag(self, name: str) -> None:
        self._ctx.check_writable()
        versions.untag(self._ctx, name)

    def restore(self, version: int | str) -> WriteResult:
        """Make an older version (or tag) the latest version again."""
        self._ctx.check_writable()
        return versions.restore(self._ctx, version)

    def add_columns(self, columns: Mapping[str, str], *, expressions: bool = False) -> None:
        """Add declared fields: ``{"name": "type"}``, or SQL expressions when ``expressions``."""
        self._ctx.check_writable()
        evolution.add_columns(self._ctx, columns, expressions=expressions)

    def alter_columns(self, *alterations: Mapping[str, Any]) -> None:
        """Rename, cast or change nullability of declared fields."""
        self._ctx.check_writable()
        evolution.alter_columns(self._ctx, list(alterations))

    def drop_columns(self, columns: Sequence[str]) -> None:
        """Remove declared fields."""
        self._ctx.check_writable()
        evolution.drop_columns(self._ctx, list(columns))
