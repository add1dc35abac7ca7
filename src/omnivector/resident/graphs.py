"""The store's resident graphs: which tables have one, their loads, and their byte budget.

A Lance vector query plans and runs a pipeline per query, which costs a few milliseconds
whatever the index; an index in memory answers in a fraction of one. Unless a store is
opened with ``resident=False``, a table's vectors start loading into a graph
(:mod:`omnivector.resident.graph`) in the background once ``ResidentConfig.load_after`` of
its queries went to Lance; until that graph matches the table's current version every
query goes to Lance, so nothing waits for the load. Then vector queries (and the vector leg
of hybrid queries) are answered from memory. When the table moves on, its graph follows in
the background. Graphs of all tables share one byte budget, evicting the least recently
used. Vector queries that go to Lance meanwhile use a Lance session of their own
(:mod:`omnivector.resident.passing`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass

from omnivector.core.background import DaemonWorker
from omnivector.core.schema import TableSpec
from omnivector.resident.config import ResidentConfig
from omnivector.resident.engine import LoadStoppedError
from omnivector.resident.fragments import fragment_state
from omnivector.resident.graph import ResidentGraph
from omnivector.resident.passing import PassingHandles
from omnivector.storage.allocator import release_freed_memory
from omnivector.storage.datasets import Dataset
from omnivector.storage.unique_ids import VersionKey, version_key

__all__ = ["ResidentGraphs", "ResidentInfo"]

log = logging.getLogger(__name__)


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
    lance_bytes: int  # Lance's caches of tables queried while their graphs load or follow


class ResidentGraphs:
    """The store's resident graphs: loads in one background thread, LRU by bytes."""

    def __init__(self, config: ResidentConfig, open_apart: Callable[[Dataset], Dataset]) -> None:
        """``open_apart(dataset)`` opens ``dataset``'s table and version in a Lance session
        of its own."""
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
        self._passing = PassingHandles(config.release_lance_after, open_apart, self._let_go)
        self._answered = self._passed = self._loads = 0

    def graph(self, key: str, dataset: Dataset) -> tuple[ResidentGraph, VersionKey] | None:
        """The graph of ``key`` at the dataset's version, and that version; or None.

        A graph returned counts the query as answered from memory (see :meth:`passed`)."""
        with self._lock:
            version = self._version(key, dataset)
            graph = self._current(key, version)
            if graph is None:
                return None
            self._graphs.move_to_end(key)
            self._answered += 1
        self._passing.answered(key, version)
        return graph, version

    def _version(self, key: str, dataset: Dataset) -> VersionKey:
        """The version key of ``key``'s handle ``dataset`` (the caller holds the lock)."""
        seen = self._handles.get(key)
        if seen is not None and seen[0]() is dataset and seen[1][0] == dataset.version:
            return seen[1]
        # reading the commit time costs more than the search: once per handle
        version = version_key(dataset)
        self._handles[key] = (weakref.ref(dataset), version)
        return version

    def lance_handle(self, key: str, dataset: Dataset, spec: TableSpec) -> Dataset:
        """The handle a vector query of ``key`` that no graph answered takes to Lance: one
        with a session of its own while the table's graph loads or follows, the pooled
        ``dataset`` for a table too small or too large for a graph."""
        with self._lock:
            version = self._version(key, dataset)
        handle = self._passing.get(key, version)
        if handle is not None:
            return handle
        if not self._fits(dataset.count_rows(), spec):
            return dataset
        return self._passing.open(key, dataset, version) or dataset

    def _fits(self, rows: int, spec: TableSpec) -> bool:
        """Whether a table of ``rows`` rows gets a graph."""
        return self.config.min_rows <= rows and (
            rows * self.config.row_bytes(spec.dimension) <= self.config.max_bytes
        )

    def _let_go(self, handles: list[Dataset]) -> None:
        """Free passing handles' sessions on the load thread, not on a query's: ``handles``
        holds their only references."""
        try:
            self._worker.submit(_free, handles)
        except RuntimeError:  # the store is closing
            handles.clear()

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
        if not self._fits(snapshot.count_rows(), spec):
            with self._lock:
                self._refused[key] = version
                self._graphs.pop(key, None)
            self._passing.drop(key)
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
        self._passing.drop(key)

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
                lance_bytes=self._passing.nbytes(),
            )

    def stop(self) -> None:
        """Stop loading: a load in progress gives up at its next batch."""
        self._stopping.set()
        self._worker.stop()

    def shutdown(self) -> None:
        self.stop()
        with self._lock:
            self._graphs.clear()
        self._passing.clear()


def _free(handles: list[Dataset]) -> None:
    """Drop the last reference to passing handles, and return the freed memory."""
    handles.clear()
    release_freed_memory()
