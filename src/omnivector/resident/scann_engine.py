"""ScaNN partitions for resident tables (the engine where the ``scann`` wheel exists).

A k-means tree splits the rows into about ``2 x sqrt(rows)`` partitions; a query scores the
rows of its nearest partitions on 4-bit anisotropic codes (two dimensions per code), then
scores the best ``refine_factor x k`` of them exactly. On the peers benchmark's data,
queries through omnivector reached recall 0.95 at 1.1 to 2.2 times hnswlib's queries per
second (see docs/resident.md).

Tables under :data:`TREE_MIN_ROWS` rows have no partitions: every row is scored on its
codes (under :data:`CODES_MIN_ROWS`, exactly). Rows
added later are assigned to the trained partitions; rows removed leave the index for real
(ScaNN moves its last row into the freed position). Once the rows changed since training
outnumber those it was trained on, the owner builds a fresh index.
"""

from __future__ import annotations

import ctypes
import math
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivector.resident.engine import EngineSettings, LoadStoppedError

if TYPE_CHECKING:
    from omnivector.core.query import VectorQuery
    from omnivector.core.schema import TableSpec

__all__ = ["ScannIndex", "partitions_for"]

TREE_MIN_ROWS = 20_000
CODES_MIN_ROWS = 2_000
# candidates refined by default, whatever k: codes rank a few close rows poorly
_MIN_REFINED = 100
_TRAINING_SAMPLE = 100_000
_UPSERT_BATCH = 8192
# absl::SetMinLogLevel of the absl copy inside ScaNN's extension (2: errors only)
_SET_MIN_LOG_LEVEL = "_ZN4absl12lts_2025012714SetMinLogLevelENS0_18LogSeverityAtLeastE"
_ABSL_ERROR = 2


def partitions_for(rows: int) -> int:
    """Partitions of the k-means tree trained on ``rows`` rows (0: too few rows for one)."""
    return max(2, round(2 * math.sqrt(rows))) if rows >= TREE_MIN_ROWS else 0


@cache
def _scann() -> Any:
    """ScaNN's Python module, with its C++ progress logs (INFO lines on stderr at every
    training) turned off: only errors reach stderr."""
    from scann.scann_ops.py import scann_ops_pybind

    try:
        library = ctypes.CDLL(scann_ops_pybind.scann_pybind.__file__)
        getattr(library, _SET_MIN_LOG_LEVEL)(ctypes.c_int(_ABSL_ERROR))
    except (OSError, AttributeError):  # another build of ScaNN: its logs stay on
        pass
    return scann_ops_pybind


class ScannIndex:
    """One table's vectors in a ScaNN searcher."""

    def __init__(self, spec: TableSpec, config: EngineSettings) -> None:
        self.config = config
        self.metric = spec.metric
        self._searcher: Any = None  # built from the first rows added
        self._partitions = 0  # 0: exact scoring, no tree
        self._trained_rows = 0
        self._changed = 0  # rows added or removed since training

    @staticmethod
    def row_bytes(dimension: int, config: EngineSettings) -> int:
        """Index bytes per row: the vector kept for exact scoring, its codes, bookkeeping."""
        scalar = 4 if config.precision == "f32" else 2
        return dimension * scalar + (dimension + 3) // 4 + 16

    def add(self, vectors: np.ndarray, stop: threading.Event) -> np.ndarray | None:
        if self._searcher is None:
            self._searcher = self._build(vectors)
            return None
        for start in range(0, len(vectors), _UPSERT_BATCH):
            if stop.is_set():
                raise LoadStoppedError
            chunk = vectors[start : start + _UPSERT_BATCH]
            self._searcher.upsert([None] * len(chunk), chunk, len(chunk))
        self._changed += len(vectors)
        return None

    def _build(self, vectors: np.ndarray) -> Any:
        scann = _scann()
        reorder = scann.scann_builder.ReorderType
        quantize = reorder.FLOAT32 if self.config.precision == "f32" else reorder.BFLOAT16
        measure = "squared_l2" if self.metric == "l2" else "dot_product"
        builder = scann.builder(vectors, 10, measure)
        rows = len(vectors)
        self._trained_rows = rows
        if rows < CODES_MIN_ROWS:
            return builder.score_brute_force(quantize=quantize).build().searcher
        self._partitions = partitions_for(rows)
        if self._partitions:
            builder = builder.tree(
                num_leaves=self._partitions,
                num_leaves_to_search=self._partitions_searched(None),
                training_sample_size=min(rows, _TRAINING_SAMPLE),
            )
        # the anisotropic loss is for inner products; l2 takes plain codes
        anisotropic = 0.2 if measure == "dot_product" else math.nan
        builder = builder.score_ah(2, anisotropic_quantization_threshold=anisotropic)
        builder = builder.reorder(10 * self.config.refine_factor, quantize=quantize)
        return builder.build().searcher

    def _partitions_searched(self, nprobes: int | None) -> int:
        if nprobes is None:
            nprobes = math.ceil(self._partitions * self.config.partitions_searched)
        return max(1, min(nprobes, self._partitions))

    def remove(self, alive: np.ndarray) -> np.ndarray | None:
        doomed = np.flatnonzero(~alive)[::-1]
        if not len(doomed):
            return None
        # each removal moves the last row into the freed position; from the highest
        # position down, that last row is never one still to be removed
        kept = np.arange(len(alive))
        size = len(alive)
        for position in doomed.tolist():
            size -= 1
            kept[position] = kept[size]
        self._searcher.delete(doomed.tolist())
        self._changed += len(doomed)
        result: np.ndarray = kept[:size]
        return result

    def needs_rebuild(self, live: int, masked: int, incoming: int) -> bool:
        return self._changed + masked + incoming > self._trained_rows

    def search(self, query: VectorQuery) -> tuple[np.ndarray, np.ndarray]:
        if self._searcher is None:  # no row yet
            return np.empty(0, np.float32), np.empty(0, np.int64)
        partitions = self._partitions_searched(query.nprobes) if self._partitions else -1
        k = query.k
        if query.refine_factor is None:
            refined = max(k * self.config.refine_factor, _MIN_REFINED)
        else:
            refined = k * query.refine_factor
        positions, scores = self._searcher.search(query.vector, k, refined, partitions)
        return scores, positions
