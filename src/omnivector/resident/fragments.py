"""A table's fragments as a resident graph follows them: what identifies each one's rows,
how they moved between two versions, and scans of their rows with row addresses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from omnivector.storage.datasets import Dataset

__all__ = ["ROWADDR", "SCAN_BATCH", "FragmentState", "fragment_changes", "fragment_state", "scan"]

SCAN_BATCH = 8192
ROWADDR = "_rowaddr"

FragmentState = tuple[int, tuple[str, ...], tuple[int, int] | None]


def fragment_state(dataset: Dataset) -> dict[int, FragmentState]:
    """What identifies each fragment's rows: data files and deletions."""
    state: dict[int, FragmentState] = {}
    for fragment in dataset.get_fragments():
        meta = fragment.metadata
        deletion = meta.deletion_file
        deleted = None if deletion is None else (deletion.id, deletion.num_deleted_rows)
        state[meta.id] = (meta.physical_rows, tuple(f.path for f in meta.files), deleted)
    return state


def scan(
    dataset: Dataset, columns: list[str], fragments: list[Any] | None
) -> Iterator[pa.RecordBatch]:
    """Batches of ``columns`` and row addresses of ``fragments`` (all when None)."""
    # a scanner: to_batches(fragments=...) reads every fragment
    scanner = dataset.scanner(
        columns=columns, with_row_address=True, fragments=fragments, batch_size=SCAN_BATCH
    )
    return (batch for batch in scanner.to_batches() if batch.num_rows)


def fragment_changes(
    old: dict[int, FragmentState], new: dict[int, FragmentState]
) -> tuple[set[int], list[int], list[int]]:
    """How a table's fragments moved: ids whose rows are all gone (dropped or rewritten),
    fragments that only lost rows, and fragments to add (new or rewritten)."""
    gone = {f for f, state in old.items() if f not in new or new[f][:2] != state[:2]}
    trimmed = [f for f, state in old.items() if f not in gone and new[f] != state]
    added = [f for f in new if f not in old or f in gone]
    return gone, trimmed, added
