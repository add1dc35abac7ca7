"""What a table holds and costs: :class:`TableStats`, and :class:`TableHealth` with advice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnivector.core.errors import (
    lance_errors,
)
from omnivector.indexing.catalog import IndexInfo, list_indexes
from omnivector.storage.context import TableContext

__all__ = ["TableHealth", "TableStats", "health", "stats"]


@dataclass(frozen=True, slots=True)
class TableStats:
    rows: int
    bytes_on_disk: int
    bytes_per_row: float
    column_bytes: dict[str, int]
    fragments: int
    versions: int
    indexes: list[IndexInfo]
    data_storage_version: str


@dataclass(frozen=True, slots=True)
class TableHealth:
    rows: int
    fragments: int
    small_fragments: int
    deleted_rows: int
    versions: int
    total_bytes: int
    live_bytes: int
    indexes: list[IndexInfo]
    recommendations: list[str]

    @property
    def healthy(self) -> bool:
        return not self.recommendations


def stats(ctx: TableContext) -> TableStats:
    dataset = ctx.dataset()
    with lance_errors(f"reading stats of {ctx.name!r}"):
        by_id = (
            {f.id: f.name for f in _walk_fields(dataset.lance_schema)}
            if hasattr(dataset, "lance_schema")
            else {}
        )
        columns: dict[str, int] = {}
        for stat in list(dataset.stats.data_stats().fields):  # type: ignore[call-overload]
            name = by_id.get(stat.id, str(stat.id))
            top = name.split(".")[0]
            columns[top] = columns.get(top, 0) + int(stat.bytes_on_disk)
        rows = dataset.count_rows()
        total = sum(columns.values())
        return TableStats(
            rows=rows,
            bytes_on_disk=total,
            bytes_per_row=total / rows if rows else 0.0,
            column_bytes=columns,
            fragments=len(dataset.get_fragments()),
            versions=len(dataset.versions()),
            indexes=list_indexes(dataset),
            data_storage_version=str(dataset.data_storage_version),
        )


@dataclass(frozen=True, slots=True)
class _FieldName:
    id: int
    name: str


def _walk_fields(lance_schema: Any) -> list[_FieldName]:
    """Field ids to top-level column names, from Lance's schema (ids follow Arrow order)."""
    result: list[_FieldName] = []
    for item in lance_schema.fields():
        _collect(item, item.name(), result)
    return result


def _collect(item: Any, name: str, out: list[_FieldName]) -> None:
    out.append(_FieldName(int(item.id()), name))
    for child in item.children():
        _collect(child, name, out)


def health(ctx: TableContext) -> TableHealth:
    dataset = ctx.dataset()
    config = ctx.services.maintenance
    with lance_errors(f"checking health of {ctx.name!r}"):
        summary = dataset.stats.dataset_stats()
        versions = dataset.versions()
        latest = versions[-1]["metadata"] if versions else {}
        live = int(latest.get("total_files_size", 0))
        total = ctx.services.datasets.location.bytes_on_disk(ctx.name)
        indexes = list_indexes(dataset)
        rows = dataset.count_rows()
    fragments = int(summary["num_fragments"])
    small = int(summary["num_small_files"])
    deleted = int(summary["num_deleted_rows"])
    advice = []
    if fragments > config.max_fragments:
        advice.append(
            f"compact: {fragments} fragments (threshold {config.max_fragments}) slow down scans"
        )
    if small > config.max_small_fragments:
        advice.append(f"compact: {small} small files (threshold {config.max_small_fragments})")
    if rows + deleted and deleted / (rows + deleted) > config.max_deleted_fraction:
        advice.append(f"compact: {deleted} deleted rows still stored")
    if len(versions) > config.keep_versions * 2:
        advice.append(f"cleanup: {len(versions)} versions kept on disk")
    for index in indexes:
        if index.unindexed_rows > config.fold_threshold(index.kind):
            advice.append(
                f"optimize indexes: {index.name} misses {index.unindexed_rows} rows "
                "(they are scanned on every query)"
            )
    return TableHealth(rows, fragments, small, deleted, len(versions), total, live, indexes, advice)
