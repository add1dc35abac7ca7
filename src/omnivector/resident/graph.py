"""One table's resident graph: its vectors in an in-memory index (ScaNN or FAISS HNSW).

A graph belongs to one table version. When the table moves on, it follows fragment by
fragment: rows of new fragments are added, rows that were deleted (or moved by compaction
or an update) leave its answers; once the index has changed more than its engine allows
(see :mod:`omnivector.resident.engine`) the graph is rebuilt. Filtered queries are answered
over an allow-list of the rows the filter matches (read from Lance once per filter and
version); exact ones, and filters that let few rows through, by a matrix product over the
index's copy of the vectors (:mod:`omnivector.resident.exact`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from omnivector.core.conversion import vectors_to_numpy
from omnivector.core.schema import TableSpec
from omnivector.resident import exact
from omnivector.resident.config import ResidentConfig, index_type
from omnivector.resident.engine import AllowList, LoadStoppedError
from omnivector.resident.fragments import (
    ROWADDR,
    FragmentState,
    fragment_changes,
    scan,
)
from omnivector.resident.nearest import Nearest
from omnivector.storage.datasets import Dataset
from omnivector.storage.unique_ids import VersionKey

if TYPE_CHECKING:
    from omnivector.core.query import VectorQuery

__all__ = ["ResidentGraph"]

_ID_DTYPE = np.dtypes.StringDType()
# a filter's allow-lists kept per graph (least recently used go first)
_ALLOW_LISTS = 32
# a filter letting through at most this many values (rows x dimension) is answered by
# scoring its rows exactly: cheaper than a filtered walk, and exact
_EXACT_SCAN_VALUES = 1 << 19


class ResidentGraph:
    """One table's vectors at one version: an in-memory index, ids and Lance row addresses.

    ``ids``, ``addresses`` and ``alive`` are indexed by the rows' positions in the index.
    Positions of rows gone from the table are marked dead in ``alive`` until published;
    an engine that keeps them (HNSW) masks them out of answers.
    """

    def __init__(self, spec: TableSpec, config: ResidentConfig) -> None:
        self.spec = spec
        self.config = config
        # the table state it answers for (version and commit time: a table dropped and
        # created again reaches the same version numbers); None while being changed
        self.version: VersionKey | None = None
        self.fragments: dict[int, FragmentState] = {}
        self.index = index_type(config)(spec, config)
        # ids as numpy variable-width strings: 16 bytes each (longer ones also keep their
        # text aside), and taking k of them as Python strings costs 2 µs
        self._ids: np.ndarray = np.empty(0, _ID_DTYPE)
        self._id_text_bytes = 0  # UTF-8 bytes of all ids: the budget counts them too
        self.addresses = np.empty(0, np.uint64)
        self.alive = np.empty(0, np.bool_)
        self._lock = threading.Lock()
        self._searches_done = threading.Condition(self._lock)
        self._searching = 0  # searches in flight: they run side by side, not under the lock
        # derived from the positions while the graph answers; reset when they change
        self._by_address: tuple[np.ndarray, np.ndarray] | None = None  # sorted, positions
        self._live: AllowList | None = None
        self._allow_lists: OrderedDict[tuple[VersionKey, Hashable], AllowList] = OrderedDict()

    @property
    def rows(self) -> int:
        return int(self.alive.sum())

    @property
    def masked(self) -> int:
        return len(self.alive) - self.rows

    @property
    def nbytes(self) -> int:
        graph = len(self.addresses) * self.config.row_bytes(self.spec.dimension)
        ids = self._ids.nbytes + self._id_text_bytes
        return graph + ids + self.addresses.nbytes + self.alive.nbytes

    def ids_at(self, positions: np.ndarray) -> list[str]:
        """The ids at graph positions."""
        ids: list[str] = self._ids[positions].tolist()
        return ids

    def _prepare(self, vectors: np.ndarray) -> None:
        """Rows as the index takes them, in place: unit length for cosine."""
        if self.spec.metric == "cosine":
            norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
            vectors /= np.where(norms > 0, norms, 1.0)

    def extend(self, dataset: Dataset, fragments: list[Any] | None, stop: threading.Event) -> None:
        """Add the rows of ``fragments`` (all when None) read from ``dataset``, in the order
        the index stores them. Their vectors are read into one matrix, which the index
        keeps (float32) or copies (float16)."""
        ids: list[np.ndarray] = []
        addresses: list[np.ndarray] = []
        expected = sum(
            f.count_rows() for f in (dataset.get_fragments() if fragments is None else fragments)
        )
        matrix = np.empty((expected, self.spec.dimension), np.float32)
        filled = 0
        for batch in scan(dataset, ["id", "vector"], fragments):
            if stop.is_set():
                raise LoadStoppedError
            rows = matrix[filled : filled + batch.num_rows]
            rows[:] = vectors_to_numpy(batch.column("vector"), self.spec.dimension)
            self._prepare(rows)
            filled += batch.num_rows
            # copied out: an Arrow column kept would keep the batch's read buffers alive
            column = batch.column("id")
            self._id_text_bytes += pa.compute.sum(pa.compute.binary_length(column)).as_py() or 0
            ids.append(column.to_numpy(zero_copy_only=False).astype(_ID_DTYPE))
            addresses.append(batch.column(ROWADDR).to_numpy().astype(np.uint64))
        if not ids:
            return
        matrix = matrix[:filled]
        order = self.index.add(matrix, stop)
        if order is None:
            order = np.arange(len(matrix))
        self._ids = np.concatenate([self._ids, np.concatenate(ids)[order]])
        self.addresses = np.concatenate([self.addresses, np.concatenate(addresses)[order]])
        self.alive = np.concatenate([self.alive, np.ones(len(order), np.bool_)])
        self._forget_derived()

    def _forget_derived(self) -> None:
        self._by_address = self._live = None
        with self._lock:
            self._allow_lists.clear()

    def follow(
        self,
        dataset: Dataset,
        fragments: dict[int, FragmentState],
        stop: threading.Event,
    ) -> bool:
        """Mask rows that left the table since the graph's fragments and add new fragments'
        rows; False, before any row is added, when masked rows would outnumber live ones
        (the caller then builds a new graph)."""
        gone, trimmed, added = fragment_changes(self.fragments, fragments)
        by_id = {f.fragment_id: f for f in dataset.get_fragments()}
        in_fragment = self.addresses >> np.uint64(32)
        if gone:
            self.alive &= ~np.isin(in_fragment, list(gone))
        if trimmed:
            kept = [
                b.column(ROWADDR).to_numpy()
                for b in scan(dataset, ["id"], [by_id[f] for f in trimmed])
            ]
            still = np.isin(self.addresses, np.concatenate(kept) if kept else [])
            self.alive &= ~(np.isin(in_fragment, trimmed) & ~still)
        incoming = [by_id[f] for f in added]
        if self.index.needs_rebuild(self.rows, self.masked, sum(f.count_rows() for f in incoming)):
            return False
        if incoming:
            self.extend(dataset, incoming, stop)
        return True

    def publish(self, version: VersionKey, fragments: dict[int, FragmentState]) -> None:
        """Answer for ``version``. A graph still answering (its rows unchanged) only moves
        to the new version: searches in flight read its index."""
        if self.version is None:  # retired or not yet shared: the index may change
            kept = self.index.remove(self.alive)
            if kept is not None:  # rows left the index and others took their positions
                self._ids, self.addresses = self._ids[kept], self.addresses[kept]
                self.alive = np.ones(len(kept), np.bool_)
            self._forget_derived()
        with self._lock:
            self.version, self.fragments = version, fragments

    def retire(self) -> None:
        """Stop answering (waits for queries in flight) before the graph is changed."""
        with self._lock:
            self.version = None
            self._searches_done.wait_for(lambda: not self._searching)

    def allow_list(
        self,
        version: VersionKey,
        key: Hashable | None,
        addresses: Callable[[], np.ndarray | None],
    ) -> AllowList | None:
        """The live positions whose rows a filter lets through, from the row ``addresses``
        that it matched at ``version`` (kept by the filter's ``key``, None: not kept).
        None when ``addresses`` gives None (it could not read that version)."""
        with self._lock:  # the cache is shared by concurrent searches
            cached = None if key is None else self._allow_lists.get((version, key))
            if cached is not None:
                self._allow_lists.move_to_end((version, key))
                return cached
        matched = addresses()
        if matched is None:
            return None
        sorted_addresses, positions = self._address_index()
        if len(sorted_addresses) and len(matched):
            at = np.minimum(np.searchsorted(sorted_addresses, matched), len(positions) - 1)
            chosen = np.sort(positions[at[sorted_addresses[at] == matched]])
        else:
            chosen = np.empty(0, np.int64)
        mask = np.zeros(len(self.alive), np.bool_)
        mask[chosen] = True
        allowed = AllowList(chosen, mask)
        if key is not None:
            with self._lock:
                self._allow_lists[(version, key)] = allowed
                while len(self._allow_lists) > _ALLOW_LISTS:
                    self._allow_lists.popitem(last=False)
        return allowed

    def _address_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Live rows' addresses, sorted, and their positions."""
        if self._by_address is None:
            live = np.flatnonzero(self.alive)
            order = np.argsort(self.addresses[live])
            self._by_address = (self.addresses[live][order], live[order])
        return self._by_address

    def _live_rows(self) -> AllowList | None:
        """All live positions when some are masked (None: every position is live)."""
        if len(self.alive) == 0 or self.alive.all():
            return None
        if self._live is None:
            self._live = AllowList(np.flatnonzero(self.alive), self.alive.copy())
        return self._live

    def search(
        self, query: VectorQuery, version: VersionKey, allowed: AllowList | None = None
    ) -> Nearest | None:
        """The query's nearest rows (of ``allowed`` ones when given), or None if the graph
        is not at ``version``. Exact queries, and filters that let few rows through, score
        the rows' vectors exactly. Cosine: the index holds unit vectors, the query is not
        scaled (scaling every inner product by one positive factor leaves the order
        unchanged)."""
        with self._lock:
            if self.version != version:
                return None
            self._searching += 1
        try:  # the index is only read while searches are in flight
            nearest, positions = self._nearest(query, allowed)
        finally:
            with self._lock:
                self._searching -= 1
                if not self._searching and self.version is None:  # retire() is waiting
                    self._searches_done.notify_all()
        # cosine distances need the query's norm, taken when asked: from a copy, as the
        # caller may reuse the query's buffer meanwhile
        vector = query.vector.copy() if self.spec.metric == "cosine" else None
        return Nearest(self, positions, nearest, vector)

    def _nearest(
        self, query: VectorQuery, allowed: AllowList | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            if not query.exact:
                return self.index.search(query, None)
            allowed = self._live_rows()
        elif not query.exact and not self._few(allowed):
            found = self.index.search(query, allowed)
            if len(found[1]) >= min(query.k, allowed.count):
                return found
            # the walk found fewer than k of them: the exact scan finds every one
        positions = None if allowed is None else allowed.positions
        metric = "l2" if self.spec.metric == "l2" else "ip"
        if allowed is not None and self._few(allowed):
            rows = _allowed_rows(allowed, self.index.vectors())
            values = exact.scores(rows, query.vector, metric)
        else:
            values = exact.scores(self.index.vectors(), query.vector, metric, positions)
        best, order = exact.nearest(values, query.k, metric)
        return best, (order if positions is None else positions[order])

    def _few(self, allowed: AllowList) -> bool:
        """Whether ``allowed`` lets few enough rows through to score them all exactly."""
        return allowed.count * self.spec.dimension <= _EXACT_SCAN_VALUES


def _allowed_rows(allowed: AllowList, vectors: np.ndarray) -> np.ndarray:
    """The vectors of a small allow-list's rows side by side, kept with it: gathering
    them on every query cost twice the scoring (1,000 x 384-d: 58 us against 23 us)."""
    rows = allowed.engine.get("rows")
    if not isinstance(rows, np.ndarray):
        rows = allowed.engine["rows"] = vectors[allowed.positions]
    return rows
