"""Resident vector graphs: a table's vectors in an in-memory index (ScaNN or FAISS HNSW).

A Lance vector query plans and runs a pipeline per query, which costs a few milliseconds
whatever the index; an index in memory answers in a fraction of one. Unless a store is
opened with ``resident=False``, a table's vectors start loading into a graph in the
background once ``ResidentConfig.load_after`` of its queries went to Lance; until that
graph matches the table's current version every query goes to Lance, so nothing waits for
the load. Then vector queries (and the vector leg of hybrid queries) are answered from
memory: filtered ones over an allow-list of the rows the filter matches (read from Lance
once per filter and version); exact ones, those on a table without a vector index, and
filters that let few rows through, by a matrix product over the index's copy of the
vectors (:mod:`omnivector.resident.exact`).

A graph belongs to one table version. When the table moves on, the graph follows in the
background, fragment by fragment: rows of new fragments are added, rows that were deleted
(or moved by compaction or an update) leave its answers; once the index has changed more
than its engine allows (see :mod:`omnivector.resident.engine`) the graph is rebuilt.
Graphs of all tables share one byte budget, evicting the least recently used.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from omnivector.core.background import DaemonWorker
from omnivector.core.conversion import vectors_to_numpy
from omnivector.core.schema import TableSpec
from omnivector.resident import exact
from omnivector.resident.config import ResidentConfig, index_type
from omnivector.resident.engine import AllowList, LoadStoppedError
from omnivector.resident.fragments import (
    ROWADDR,
    FragmentState,
    fragment_changes,
    fragment_state,
    scan,
)
from omnivector.resident.nearest import Nearest
from omnivector.storage.allocator import release_freed_memory
from omnivector.storage.datasets import Dataset
from omnivector.storage.unique_ids import VersionKey, version_key

if TYPE_CHECKING:
    from omnivector.core.query import VectorQuery

__all__ = [
    "ResidentGraph",
    "ResidentGraphs",
    "ResidentInfo",
]

log = logging.getLogger(__name__)

_ID_DTYPE = np.dtypes.StringDType()
# a filter's allow-lists kept per graph (least recently used go first)
_ALLOW_LISTS = 32
# a filter letting through at most this many values (rows x dimension) is answered by
# scoring its rows exactly: cheaper than a filtered walk, and exact
_EXACT_SCAN_VALUES = 1 << 19


@dataclass(frozen=True, slots=True)
class ResidentInfo:
    """What the resident graphs hold and how often they answered."""

    tables: dict[str, int]  # table -> rows in its graph
    masked: int  # positions of rows gone from their tables, until a graph is rebuilt
    bytes: int
    max_bytes: int
    answered: int  # vector queries answered from memory
    passed_to_lance: int  # queries that went to Lance while a graph was missing or stale
    loads: int  # graphs built or extended


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
        elif not query.exact and allowed.count * self.spec.dimension > _EXACT_SCAN_VALUES:
            found = self.index.search(query, allowed)
            if len(found[1]) >= min(query.k, allowed.count):
                return found
            # the walk found fewer than k of them: the exact scan finds every one
        positions = None if allowed is None else allowed.positions
        metric = "l2" if self.spec.metric == "l2" else "ip"
        if allowed is not None and allowed.count * self.spec.dimension <= _EXACT_SCAN_VALUES:
            rows = _allowed_rows(allowed, self.index.vectors())
            values = exact.scores(rows, query.vector, metric)
        else:
            values = exact.scores(self.index.vectors(), query.vector, metric, positions)
        best, order = exact.nearest(values, query.k, metric)
        return best, (order if positions is None else positions[order])


def _allowed_rows(allowed: AllowList, vectors: np.ndarray) -> np.ndarray:
    """The vectors of a small allow-list's rows side by side, kept with it: gathering
    them on every query cost twice the scoring (1,000 x 384-d: 58 us against 23 us)."""
    rows = allowed.engine.get("rows")
    if not isinstance(rows, np.ndarray):
        rows = allowed.engine["rows"] = vectors[allowed.positions]
    return rows


class ResidentGraphs:
    """The store's resident graphs: loads in one background thread, LRU by bytes."""

    def __init__(self, config: ResidentConfig) -> None:
        self.config = config
        self._graphs: OrderedDict[str, ResidentGraph] = OrderedDict()
        self._loading: dict[str, Future[bool]] = {}
        self._refused: dict[str, VersionKey] = {}  # table -> state too small or large to load
        self._asked: dict[str, int] = {}  # table -> queries that went to Lance
        # table -> the dataset handle last queried and its version key
        self._handles: dict[str, tuple[weakref.ref[Dataset], VersionKey]] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # a daemon thread: a load in progress never holds up the end of the process
        self._worker = DaemonWorker("omnivector-resident")
        self._answered = self._passed = self._loads = 0

    def graph(self, key: str, dataset: Dataset) -> tuple[ResidentGraph, VersionKey] | None:
        """The graph of ``key`` at the dataset's version, and that version; or None.

        A graph returned counts the query as answered from memory (see :meth:`passed`)."""
        with self._lock:
            seen = self._handles.get(key)
            if seen is not None and seen[0]() is dataset and seen[1][0] == dataset.version:
                version = seen[1]
            else:  # reading the commit time costs more than the search: once per handle
                version = version_key(dataset)
                self._handles[key] = (weakref.ref(dataset), version)
            graph = self._current(key, version)
            if graph is not None:
                self._graphs.move_to_end(key)
                self._answered += 1
                return graph, version
        return None

    def _current(self, key: str, version: VersionKey) -> ResidentGraph | None:
        """``key``'s graph if it is at ``version`` (the caller holds the lock)."""
        graph = self._graphs.get(key)
        return graph if graph is not None and graph.version == version else None

    def refresh(self, key: str, dataset: Dataset, spec: TableSpec) -> None:
        """A query on ``key`` went to Lance: once ``load_after`` did, start bringing its
        graph to the dataset's version, unless that is under way."""
        with self._lock:
            self._asked[key] = asked = self._asked.get(key, 0) + 1
            if asked >= self.config.load_after:
                self._start_load(key, dataset, spec, version_key(dataset))

    def retract(self) -> None:
        """A graph returned by :meth:`graph` had moved on before it answered."""
        with self._lock:
            self._answered -= 1

    def passed(self) -> None:
        """A query went to Lance: no graph, or none at the table's version."""
        with self._lock:
            self._passed += 1

    def load(
        self,
        key: str,
        dataset: Dataset,
        spec: TableSpec,
        *,
        timeout: float | None = None,
    ) -> ResidentGraph | None:
        """Bring ``key``'s graph to the dataset's version and wait for it."""
        version = version_key(dataset)
        while True:
            with self._lock:
                graph = self._current(key, version)
                if graph is not None:
                    return graph
                future = self._start_load(key, dataset, spec, version)
            # False: refused (size) or failed; True may be an earlier version's load that
            # was running already, so look again
            try:
                if future is None or not future.result(timeout):
                    return None
            except CancelledError:  # the store is closing
                return None

    def _start_load(
        self, key: str, dataset: Dataset, spec: TableSpec, version: VersionKey
    ) -> Future[bool] | None:
        if self._refused.get(key) == version:
            return None
        pending = self._loading.get(key)
        if pending is not None and not pending.done():
            return pending
        self._loading = {name: f for name, f in self._loading.items() if not f.done()}
        try:
            future = self._worker.submit(self._load, key, dataset, spec, version)
        except RuntimeError:  # the store is closing
            return None
        self._loading[key] = future
        return future

    def _load(self, key: str, dataset: Dataset, spec: TableSpec, version: VersionKey) -> bool:
        """Whether the graph of ``key`` reached ``version``."""
        try:
            return self._bring_up_to_date(key, dataset, spec, version)
        except LoadStoppedError:
            return False
        except Exception:  # a failed load leaves queries with Lance, which is always right
            log.exception("loading the resident graph of %s failed", key)
            self.discard(key)
            return False
        finally:
            release_freed_memory()

    def _bring_up_to_date(
        self, key: str, dataset: Dataset, spec: TableSpec, version: VersionKey
    ) -> bool:
        # a private handle at exactly this version: the pooled one may move under the scan
        snapshot = dataset.checkout_version(version[0])
        if version_key(snapshot) != version:  # the table was dropped and created again
            return False
        rows = snapshot.count_rows()
        if rows < self.config.min_rows or (
            rows * self.config.row_bytes(spec.dimension) > self.config.max_bytes
        ):
            with self._lock:
                self._refused[key] = version
                self._graphs.pop(key, None)
            return False
        fragments = fragment_state(snapshot)
        with self._lock:
            graph = self._graphs.get(key)
        if graph is not None and graph.fragments != fragments:
            graph.retire()
            if not graph.follow(snapshot, fragments, self._stopping):
                graph = None
        if graph is None:
            graph = ResidentGraph(spec, self.config)
            graph.extend(snapshot, None, self._stopping)
        graph.publish(version, fragments)
        with self._lock:
            self._loads += 1
            self._graphs[key] = graph
            self._graphs.move_to_end(key)
            self._evict_over_budget(keep=key)
        log.debug("resident graph of %s at version %d: %d rows", key, version[0], graph.rows)
        return True

    def _evict_over_budget(self, keep: str) -> None:
        total = sum(g.nbytes for g in self._graphs.values())
        for name in list(self._graphs):
            if total <= self.config.max_bytes:
                break
            if name != keep:
                total -= self._graphs.pop(name).nbytes

    def discard(self, key: str) -> None:
        with self._lock:
            self._graphs.pop(key, None)
            self._refused.pop(key, None)
            self._handles.pop(key, None)
            self._asked.pop(key, None)

    def info(self) -> ResidentInfo:
        with self._lock:
            return ResidentInfo(
                tables={name: g.rows for name, g in self._graphs.items()},
                masked=sum(g.masked for g in self._graphs.values()),
                bytes=sum(g.nbytes for g in self._graphs.values()),
                max_bytes=self.config.max_bytes,
                answered=self._answered,
                passed_to_lance=self._passed,
                loads=self._loads,
            )

    def stop(self) -> None:
        """Stop loading: a load in progress gives up at its next batch."""
        self._stopping.set()
        self._worker.stop()

    def shutdown(self) -> None:
        self.stop()
        with self._lock:
            self._graphs.clear()
