"""FAISS HNSW graphs for resident tables (the engine where ScaNN is not installed).

Rows go into the graph in scan order (an order that groups neighbours builds a worse graph
on clustered data), then the new positions are rearranged in :func:`locality_order`. Rows
gone from the table stay in the graph, masked out of answers by a bitmap selector, until
they outnumber live ones.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivector.resident.engine import EngineSettings, LoadStoppedError

if TYPE_CHECKING:
    from omnivector.core.query import VectorQuery
    from omnivector.core.schema import TableSpec

__all__ = ["HnswIndex", "locality_order"]

_ADD_BATCH = 8192
# locality order: one k-means cluster per this many rows, at most _MAX_CLUSTERS
_ROWS_PER_CLUSTER = 256
_MAX_CLUSTERS = 1024


def _faiss() -> Any:
    """FAISS, imported on first use (~0.2 s) and typed loosely: its bundled stubs lag the
    library (no SearchParametersHNSW, narrower signatures)."""
    import faiss

    return faiss


class HnswIndex:
    """One table's vectors in a FAISS HNSW graph."""

    def __init__(self, spec: TableSpec, config: EngineSettings) -> None:
        self.config = config
        faiss = self._faiss = _faiss()
        # cosine is inner product on unit vectors; Lance's l2 distance is squared, as FAISS's
        metric = faiss.METRIC_L2 if spec.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if config.precision == "f16":
            self.index = faiss.IndexHNSWSQ(
                spec.dimension, faiss.ScalarQuantizer.QT_fp16, config.connectivity, metric
            )
        else:
            self.index = faiss.IndexHNSWFlat(spec.dimension, config.connectivity, metric)
        self.index.hnsw.efConstruction = config.expansion_add
        self._selector: Any = None  # FAISS's filter of live positions, None when all are
        self._selected_bits: np.ndarray | None = None  # the bitmap the selector points into
        self._params: dict[int, Any] = {}  # search parameters by ef, with the selector

    @staticmethod
    def row_bytes(dimension: int, config: EngineSettings) -> int:
        """Graph bytes per row: vector, links, upper layers."""
        scalar = 4 if config.precision == "f32" else 2
        return dimension * scalar + 2 * config.connectivity * 4 + 16

    def add(self, vectors: np.ndarray, stop: threading.Event) -> np.ndarray | None:
        before = self.index.ntotal
        for start in range(0, len(vectors), _ADD_BATCH):
            if stop.is_set():
                raise LoadStoppedError
            self.index.add(vectors[start : start + _ADD_BATCH])
        order = locality_order(vectors)
        if order is not None:
            self.index.permute_entries(np.concatenate([np.arange(before), before + order]))
        return order

    def remove(self, alive: np.ndarray) -> np.ndarray | None:
        selector, bits = None, None
        if not alive.all():
            bits = np.packbits(alive, bitorder="little")
            selector = self._faiss.IDSelectorBitmap(len(alive), self._faiss.swig_ptr(bits))
        self._selector, self._selected_bits = selector, bits
        self._params = {}
        return None

    def needs_rebuild(self, live: int, masked: int, incoming: int) -> bool:
        return masked > live + incoming

    def search(self, query: VectorQuery) -> tuple[np.ndarray, np.ndarray]:
        k = query.k
        depth = max(query.ef or self.config.expansion_search, k)
        params = self._params.get(depth)
        if params is None:  # read-only during searches, so shared by all of them
            params = self._params[depth] = self._faiss.SearchParametersHNSW(efSearch=depth)
            if self._selector is not None:
                params.sel = self._selector
        # cosine: the graph holds unit vectors; the query is not scaled, as scaling every
        # inner product by one positive factor leaves the walk unchanged
        scores, positions = self.index.search(query.vector.reshape(1, -1), k, params=params)
        positions, scores = positions[0], scores[0]
        if positions[-1] < 0:  # fewer than k rows: FAISS pads with -1
            scores, positions = scores[positions >= 0], positions[positions >= 0]
        return scores, positions


def locality_order(vectors: np.ndarray) -> np.ndarray | None:
    """An order of ``vectors`` that groups neighbours, by nearest k-means centroid (None:
    too few rows to be worth it).

    A graph walk reads the vectors of near neighbours one after another; stored side by
    side they share cache lines and pages (see docs/resident.md for what it was measured to
    save). K-means on a sample, then one assignment pass: about 0.4 s for 200,000 50-d or
    100,000 384-d rows.
    """
    clusters = min(_MAX_CLUSTERS, len(vectors) // _ROWS_PER_CLUSTER)
    if clusters < 2:
        return None
    faiss = _faiss()
    kmeans = faiss.Kmeans(vectors.shape[1], clusters, niter=10, seed=1, max_points_per_centroid=32)
    kmeans.train(vectors)
    _, nearest = kmeans.index.search(vectors, 1)
    order: np.ndarray = np.argsort(nearest[:, 0], kind="stable")
    return order
