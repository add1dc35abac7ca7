"""What a table has: its indexes, their row coverage and query defaults, and dropping one."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from omnivector.core.errors import (
    IndexNotFoundError,
    lance_errors,
)
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset
from omnivector.storage.locks import DROP_INDEX_TIMEOUT

__all__ = [
    "QUERY_DEFAULTS",
    "IndexInfo",
    "describe",
    "drop_index",
    "has_fts_index",
    "list_indexes",
    "query_defaults",
]

# Query-time defaults per index kind, chosen for recall@10 >= 0.95 (bench index). The PQ
# kinds need a refine depth of 20: at 10, 384-d clustered vectors stayed near 0.8.


# Query-time defaults per index kind, chosen for recall@10 >= 0.95 (bench index). The PQ
# kinds need a refine depth of 20: at 10, 384-d clustered vectors stayed near 0.8.
QUERY_DEFAULTS: dict[str, dict[str, int]] = {
    "IVF_FLAT": {"nprobes": 20},
    "IVF_SQ": {"nprobes": 20, "refine_factor": 5},
    "IVF_PQ": {"nprobes": 20, "refine_factor": 20},
    "IVF_RQ": {"nprobes": 20, "refine_factor": 10},
    "IVF_HNSW_FLAT": {"nprobes": 8, "ef": 64},
    "IVF_HNSW_SQ": {"nprobes": 8, "ef": 64, "refine_factor": 2},
    "IVF_HNSW_PQ": {"nprobes": 8, "ef": 64, "refine_factor": 20},
}


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index on a table."""

    name: str
    kind: str
    columns: list[str]
    indexed_rows: int
    unindexed_rows: int
    size_bytes: int = 0


def has_fts_index(dataset: Dataset, column: str) -> bool:
    return any(i.kind == "INVERTED" and i.columns == [column] for i in _describe_cached(dataset))


_KIND_BY_URL = {
    "BTreeIndexDetails": "BTREE",
    "BitmapIndexDetails": "BITMAP",
    "LabelListIndexDetails": "LABEL_LIST",
    "InvertedIndexDetails": "INVERTED",
}


def describe(dataset: Dataset) -> list[IndexInfo]:
    infos = []
    rows = None
    for desc in dataset.describe_indices():
        suffix = desc.type_url.rsplit(".", 1)[-1]
        kind = _KIND_BY_URL.get(suffix)
        if kind is None:
            kind = str(dataset.stats.index_stats(desc.name).get("index_type", suffix)).upper()
        if rows is None:
            rows = dataset.count_rows()
        indexed = int(desc.num_rows_indexed)
        infos.append(
            IndexInfo(
                desc.name,
                kind,
                list(desc.field_names),
                indexed,
                max(rows - indexed, 0),
                int(desc.total_size_bytes or 0),
            )
        )
    return infos


def list_indexes(dataset: Dataset) -> list[IndexInfo]:
    with lance_errors("listing indexes"):
        infos = describe(dataset)
        return [_with_unindexed(dataset, info) for info in infos]


def _with_unindexed(dataset: Dataset, info: IndexInfo) -> IndexInfo:
    try:
        stats = dataset.stats.index_stats(info.name)
    except (ValueError, OSError, RuntimeError):
        return info
    unindexed = stats.get("num_unindexed_rows")
    indexed = stats.get("num_indexed_rows", info.indexed_rows)
    if unindexed is None:
        return info
    return IndexInfo(
        info.name, info.kind, info.columns, int(indexed), int(unindexed), info.size_bytes
    )


# per handle (weakly: a pooled handle lives as long as the pool keeps it), with its version:
# a table dropped and created again reaches the same URI and version numbers
_described: weakref.WeakKeyDictionary[Dataset, tuple[int, list[IndexInfo]]] = (
    weakref.WeakKeyDictionary()
)
_described_lock = threading.Lock()


def _describe_cached(dataset: Dataset) -> list[IndexInfo]:
    """The indexes of this dataset version; a version's indexes never change, so cache them."""
    version = int(dataset.version)
    with _described_lock:
        found = _described.get(dataset)
    if found is None or found[0] != version:
        found = (version, describe(dataset))
        with _described_lock:
            _described[dataset] = found
    return found[1]


def has_vector_index(dataset: Dataset) -> bool:
    """Whether this dataset version has a vector index (without one, search is exact)."""
    return any(i.columns == ["vector"] for i in _describe_cached(dataset))


def query_defaults(dataset: Dataset) -> dict[str, int]:
    """Query knobs for the vector index of this dataset version."""
    kind = next((i.kind for i in _describe_cached(dataset) if i.columns == ["vector"]), None)
    return QUERY_DEFAULTS.get(kind or "", {})


def drop_index(ctx: TableContext, name: str, *, missing_ok: bool) -> None:
    dataset = ctx.dataset()
    if name not in {i.name for i in describe(dataset)}:
        if missing_ok:
            return
        raise IndexNotFoundError(f"table {ctx.name!r} has no index {name!r}; see tbl.indexes()")
    with (
        ctx.services.locks.maintenance(ctx.name, timeout=DROP_INDEX_TIMEOUT),
        lance_errors(f"dropping index {name!r}"),
    ):
        dataset = ctx.writable_dataset()
        dataset.drop_index(name)
        ctx.publish(dataset)
