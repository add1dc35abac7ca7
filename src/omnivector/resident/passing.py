"""Lance handles of their own for the vector queries that go to Lance while a graph loads.

A Lance vector query loads the table's whole vector index into the session it runs in (an
IVF_HNSW_SQ index of 1,000,000 x 384-d vectors holds about 620 MiB), and a Lance session
lets go of an entry only when its byte bound pushes it out. Queries that go to Lance only
until a table's graph is current would leave that index in the store's shared session beside
the graph for good. They go through a handle with a Lance session of its own instead, let go
at the first query the graph answers once the table has not been written for
``ResidentConfig.release_lance_after`` seconds (a table written again soon needs it again
while its graph follows the writes). At most
:data:`MAX_HANDLES` tables hold one at a time; queries of others use the shared session.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from omnivector.storage.datasets import Dataset
from omnivector.storage.unique_ids import VersionKey, version_key

__all__ = ["MAX_HANDLES", "PassingHandles"]

#: tables holding a handle of their own at a time (each session holds one table's index)
MAX_HANDLES = 4


@dataclass(slots=True)
class _Held:
    dataset: Dataset
    version: VersionKey


class PassingHandles:
    """Per table, a Lance handle with a session of its own; thread-safe."""

    def __init__(
        self,
        linger: float,
        open_apart: Callable[[Dataset], Dataset],
        let_go: Callable[[list[Dataset]], None],
    ) -> None:
        """``open_apart(dataset)`` opens ``dataset``'s table and version in a new session;
        ``let_go(handles)`` receives the only references to handles no longer needed (their
        caches go with the last one)."""
        self._linger = linger
        self._open_apart = open_apart
        self._let_go = let_go
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def get(self, key: str, version: VersionKey) -> Dataset | None:
        """``key``'s handle if it is at ``version``."""
        with self._lock:
            held = self._held.get(key)
            return held.dataset if held is not None and held.version == version else None

    def open(self, key: str, dataset: Dataset, version: VersionKey) -> Dataset | None:
        """A handle of ``key`` at ``dataset``'s version (``version``), keeping the session
        (and the index in it) of the handle it had; None when too many tables hold one."""
        with self._lock:
            held = self._held.get(key)
            if held is None and len(self._held) >= MAX_HANDLES:
                return None
        opened = None
        if held is not None:
            opened = held.dataset.checkout_version(version[0])
            if version_key(opened) != version:  # the table was dropped and created again
                opened = None
        if opened is None:
            opened = self._open_apart(dataset)
        with self._lock:
            self._held[key] = _Held(opened, version)
        return opened

    def answered(self, key: str, version: VersionKey) -> None:
        """``key``'s graph answered a query at ``version``: its handle goes once that
        version is older than the linger time."""
        with self._lock:
            if key not in self._held or _age(version) < self._linger:
                return
            gone = [self._held.pop(key).dataset]
        self._let_go(gone)

    def drop(self, key: str) -> None:
        """``key`` will get no graph (refused or failed): its queries use the shared session."""
        with self._lock:
            if key not in self._held:
                return
            gone = [self._held.pop(key).dataset]
        self._let_go(gone)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()

    def nbytes(self) -> int:
        """Bytes the handles' sessions hold."""
        with self._lock:
            handles = [held.dataset for held in self._held.values()]
        return sum(int(handle.session().size_bytes()) for handle in handles)


def _age(version: VersionKey) -> float:
    """Seconds since ``version`` was committed (unknown: as old as can be)."""
    committed = version[1]
    if not isinstance(committed, datetime):
        return math.inf
    return time.time() - committed.timestamp()
