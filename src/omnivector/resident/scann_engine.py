"""ScaNN partitions for resident tables (the engine where the ``scann`` wheel exists).

A k-means tree splits the rows into about ``2 x sqrt(rows)`` partitions; a query scores the
rows of its nearest partitions on 4-bit anisotropic codes (two dimensions per code), then
scores the best ``refine_factor x k`` of them exactly, from the index's copy of the vectors
(ScaNN keeps only the codes: one float copy serves this and exact queries). A filter asks
for candidates in proportion to the rows it lets through, more until enough pass.

Tables under :data:`TREE_MIN_ROWS` rows have no partitions: every row is scored on its
codes; tables of at most :data:`EXACT_MAX_VALUES` values (rows x dimension) are scored
exactly, without ScaNN: codes of few dimensions rank a tight cluster's rows poorly, and a
product over so few values costs less than a third of a millisecond. Rows
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

from omnivector.resident.engine import AllowList, EngineSettings, LoadStoppedError
from omnivector.resident.exact import nearest, scores

if TYPE_CHECKING:
    from omnivector.core.query import VectorQuery
    from omnivector.core.schema import TableSpec

__all__ = ["ScannIndex", "partitions_for", "refine_growth"]

TREE_MIN_ROWS = 20_000
EXACT_MAX_VALUES = 1 << 20
# candidates refined by default, whatever k: codes rank a few close rows poorly
_MIN_REFINED = 100
# past this many rows the default candidates grow with the root of the rows: codes rank more
# near neighbours alike as a table grows (1,000,000 x 384-d clustered: 200 candidates gave
# recall@10 0.952, 400 gave 0.990 for 1.15x the time)
REFINE_GROWTH_ROWS = 250_000
_TRAINING_SAMPLE = 100_000
# tables past this many rows build ScaNN from a sample (see ScannIndex.add)
BUILD_SAMPLE_ROWS = 250_000
_UPSERT_BATCH = 8192
# a filtered query expects this share of ``refined`` (at least _FILTER_MIN_ALLOWED) allowed rows
# among ScaNN's candidates, is content with half as many, and visits 1 / share ** exponent
# times the partitions of an unfiltered query
_FILTER_ALLOWED = 0.3
_FILTER_MIN_ALLOWED = 40
_FILTER_PARTITION_EXPONENT = 0.25
# absl::SetMinLogLevel of the absl copy inside ScaNN's extension (2: errors only)
_SET_MIN_LOG_LEVEL = "_ZN4absl12lts_2025012714SetMinLogLevelENS0_18LogSeverityAtLeastE"
_ABSL_ERROR = 2


def partitions_for(rows: int) -> int:
    """Partitions of the k-means tree trained on ``rows`` rows (0: too few rows for one)."""
    return max(2, round(2 * math.sqrt(rows))) if rows >= TREE_MIN_ROWS else 0


def refine_growth(rows: int) -> float:
    """How many times ``refine_factor x k`` candidates a table of ``rows`` rows refines."""
    return max(1.0, math.sqrt(rows / REFINE_GROWTH_ROWS))


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


def _sample_to_front(vectors: np.ndarray) -> np.ndarray:
    """Swap a random sample of ``_TRAINING_SAMPLE`` rows into the first positions, in
    place; the rows' new order, as indexes into the rows as given."""
    size = len(vectors)
    sample = np.random.default_rng(size).choice(size, _TRAINING_SAMPLE, replace=False)
    incoming = sample[sample >= _TRAINING_SAMPLE]
    vacated = np.setdiff1d(np.arange(_TRAINING_SAMPLE), sample, assume_unique=True)
    order = np.arange(size)
    vectors[vacated], vectors[incoming] = vectors[incoming], vectors[vacated]
    order[vacated], order[incoming] = incoming, vacated
    return order


class ScannIndex:
    """One table's vectors: a copy by position (scored exactly) and a ScaNN searcher over
    their codes (built from the first rows added, once there are enough of them)."""

    def __init__(self, spec: TableSpec, config: EngineSettings) -> None:
        self.config = config
        self.metric = spec.metric
        self._dtype = np.float32 if config.precision == "f32" else np.float16
        self._vectors = np.empty((0, spec.dimension), self._dtype)
        self._searcher: Any = None  # None: every row is scored exactly
        self._partitions = 0  # 0: no tree, every code is scored
        self._trained_rows = -1  # -1: nothing built yet
        self._changed = 0  # rows added or removed since training

    @staticmethod
    def row_bytes(dimension: int, config: EngineSettings) -> int:
        """Index bytes per row: the vector kept for exact scoring, its codes, bookkeeping."""
        scalar = 4 if config.precision == "f32" else 2
        return dimension * scalar + (dimension + 3) // 4 + 16

    def vectors(self) -> np.ndarray:
        return self._vectors

    def add(self, vectors: np.ndarray, stop: threading.Event) -> np.ndarray | None:
        """Index ``vectors`` (the first rows: reordered in place past BUILD_SAMPLE_ROWS)."""
        if self._trained_rows < 0:
            # past BUILD_SAMPLE_ROWS, ScaNN is built from a random sample moved to the front
            # and the other rows are added after: a build from all of them holds two more
            # float copies meanwhile (1,000,000 x 384-d: 3.4 GB more at its peak)
            order = _sample_to_front(vectors) if len(vectors) > BUILD_SAMPLE_ROWS else None
            self._vectors = vectors.astype(self._dtype, copy=False)
            built = _TRAINING_SAMPLE if order is not None else len(vectors)
            self._searcher = self._build(vectors[:built], len(vectors))
            self._upsert(vectors[built:], stop)
            return order
        self._upsert(vectors, stop)
        self._vectors = np.concatenate([self._vectors, vectors.astype(self._dtype, copy=False)])
        self._changed += len(vectors)
        return None

    def _upsert(self, vectors: np.ndarray, stop: threading.Event) -> None:
        if self._searcher is None:
            return
        for start in range(0, len(vectors), _UPSERT_BATCH):
            if stop.is_set():
                raise LoadStoppedError
            chunk = vectors[start : start + _UPSERT_BATCH]
            self._searcher.upsert([None] * len(chunk), chunk, len(chunk))

    def _build(self, vectors: np.ndarray, rows: int) -> Any:
        """A searcher over codes of ``vectors`` for a table of ``rows`` rows (no float copy
        of its own: candidates are scored exactly from :meth:`vectors`), or None when there
        are too few rows for codes."""
        self._trained_rows = rows
        if rows * vectors.shape[1] <= EXACT_MAX_VALUES:
            return None
        scann = _scann()
        measure = "squared_l2" if self.metric == "l2" else "dot_product"
        builder = scann.builder(vectors, 10, measure)
        self._partitions = partitions_for(rows)
        if self._partitions:
            builder = builder.tree(
                num_leaves=self._partitions,
                num_leaves_to_search=self._partitions_searched(None),
                training_sample_size=min(len(vectors), _TRAINING_SAMPLE),
            )
        # the anisotropic loss is for inner products; l2 takes plain codes
        anisotropic = 0.2 if measure == "dot_product" else math.nan
        return builder.score_ah(2, anisotropic_quantization_threshold=anisotropic).build().searcher

    def _partitions_searched(self, nprobes: int | None) -> int:
        if nprobes is None:
            nprobes = math.ceil(self._partitions * self.config.partitions_searched)
        return max(1, min(nprobes, self._partitions))

    def remove(self, alive: np.ndarray) -> np.ndarray | None:
        doomed = np.flatnonzero(~alive)[::-1]
        if not len(doomed):
            return None
        # each removal moves the last row into the freed position (as ScaNN does); from
        # the highest position down, that last row is never one still to be removed
        kept = np.arange(len(alive))
        size = len(alive)
        for position in doomed.tolist():
            size -= 1
            kept[position] = kept[size]
        if self._searcher is not None:
            self._searcher.delete(doomed.tolist())
        result: np.ndarray = kept[:size]
        self._vectors = self._vectors[result]
        self._changed += len(doomed)
        return result

    def needs_rebuild(self, live: int, masked: int, incoming: int) -> bool:
        return self._changed + masked + incoming > self._trained_rows

    def search(
        self, query: VectorQuery, allowed: AllowList | None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = query.k
        if self._searcher is None:  # few rows: all of them scored exactly
            positions = None if allowed is None else allowed.positions
            found, order = nearest(
                scores(self._vectors, query.vector, self.metric, positions), k, self.metric
            )
            return found, (order if positions is None else positions[order])
        if query.refine_factor is None:
            growth = refine_growth(len(self._vectors))
            refined = max(math.ceil(k * self.config.refine_factor * growth), _MIN_REFINED)
        else:
            refined = k * query.refine_factor
        partitions = self._partitions_searched(query.nprobes) if self._partitions else -1
        size = len(self._vectors)
        if allowed is None:
            candidates, _ = self._searcher.search(query.vector, refined, refined, partitions)
            return self._rescored(query, candidates)
        # a filter: candidates in proportion to the share of rows it lets through, more
        # (and more partitions) until enough of them pass it. The k-th nearest allowed row
        # ranks about k / share among all rows, further out than the k-th nearest: the query
        # visits more partitions, by a power of 1 / share. Each candidate ScaNN returns costs
        # more than a visited partition: measured on GloVe 200k x 50-d at 10% (p50 over the
        # p50 of the same queries unfiltered, alternating with them; recall@10 against exact
        # filtered search; 90 of 894 partitions, refine_factor 10), at least 40 allowed
        # candidates and 1 / share ** 0.25 the partitions gave 1.73x at 0.962, where 60 and
        # ** 0.35 gave 2.02x at 0.975, 30 and ** 0.25 1.64x at 0.951, 60 and ** 0.15 1.85x at
        # 0.959 (synthetic 100k x 384-d: 1.33x at 0.981 against 1.51x at 0.999).
        share = max(allowed.count, 1) / size
        expected = max(math.ceil(refined * _FILTER_ALLOWED), _FILTER_MIN_ALLOWED)
        wanted = min(max(k, expected // 2), allowed.count)
        depth = min(size, math.ceil(expected / share))
        if partitions > 0:
            partitions = min(
                self._partitions, math.ceil(partitions / share**_FILTER_PARTITION_EXPONENT)
            )
        while True:
            candidates, _ = self._searcher.search(query.vector, depth, depth, partitions)
            candidates = candidates[allowed.mask[candidates]]
            exhausted = depth >= size and partitions in (-1, self._partitions)
            if len(candidates) >= wanted or exhausted:
                return self._rescored(query, candidates)
            depth = min(size, 4 * depth)
            if partitions > 0:
                partitions = min(self._partitions, 2 * partitions)

    def _rescored(
        self, query: VectorQuery, candidates: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``query.k`` of the candidates, scored exactly."""
        candidates = candidates.astype(np.int64, copy=False)
        exact = scores(self._vectors, query.vector, self.metric, candidates)
        found, order = nearest(exact, query.k, self.metric)
        return found, candidates[order]
