"""The connection pool: a bounded LRU of open Lance datasets sharing one Lance session.

Every read and write in a store goes through :class:`DatasetCache`. Handles are bounded in
number (``max_cached_tables``) and all of them share one ``lance.Session`` whose index and
metadata caches are bounded in bytes, so memory stays bounded however many tables a
process touches. A cached handle is refreshed when another writer has committed, so reads
are never stale. Evicting a handle only drops the cache's reference: an operation that
already holds it finishes undisturbed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lance
from lance import LanceDataset

from omnivector.core.configs import DatasetCacheConfig

__all__ = ["CacheInfo", "DatasetCache", "new_session"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """A snapshot of the pool's counters and the shared session's memory."""

    hits: int
    misses: int
    evictions: int
    opens: int
    refreshes: int
    open_tables: int
    max_tables: int | None
    session_bytes: int
    index_cache_bytes: int
    metadata_cache_bytes: int


# A directory's mtime moves on every commit, but in coarse clock ticks: a stamp read less
# than this long after it was set could still be shared by a later commit in the same tick,
# so such a stamp is not trusted (the "racily clean" rule of git's index).
_RACY_STAMP_NS = 100_000_000


# The identity of a handle installed without one (a write's handle, nothing cached before):
# it matches no table, so the next read looks the identity up by opening the table again.
_UNKNOWN_IDENTITY = "unknown"


@dataclass(slots=True)
class _Entry:
    dataset: lance.LanceDataset
    checked_at: float
    # local tables: the ``_versions`` directory, whose mtime moves on every commit
    versions_dir: str | None
    # the identity recorded when the table was created (None: created before identities)
    identity: str | None
    # local tables: the mtime of ``_versions`` when the handle was known to be the latest
    stamp: int | None = None


class DatasetCache:
    """Bounded LRU of open datasets; thread-safe, never holds its lock during I/O."""

    def __init__(
        self,
        config: DatasetCacheConfig,
        opener: Callable[[str, Any], LanceDataset],
        *,
        local: bool = False,
        identify: Callable[[str], str | None] = lambda name: None,
        is_identity: Callable[[str, str | None], bool] = lambda name, identity: True,
        on_replaced: Callable[[str], None] = lambda name: None,
    ) -> None:
        """``opener(name, session)`` opens a table; ``identify(name)`` finds the identity
        the table recorded when it was created and ``is_identity(name, identity)`` checks it
        cheaply; ``on_replaced(name)`` hears that ``name`` was dropped and created again,
        so state kept about the old table can go."""
        self.config = config
        self._local = local
        self._identify = identify
        self._is_identity = is_identity
        self._on_replaced = on_replaced
        self.session = new_session(config)
        self._opener = opener
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # the last identity seen per table name, kept past eviction: a table found created
        # again (even after its handle was evicted) lets go of what was known of the old one
        self._identities: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = self._opens = self._refreshes = 0

    def get(self, name: str) -> lance.LanceDataset:
        """The latest version of table ``name``, opening or refreshing it as needed."""
        return self.current(name)[0]

    def current(self, name: str) -> tuple[lance.LanceDataset, str | None]:
        """The latest version of table ``name`` and the identity of the table it belongs to."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None:
                self._entries.move_to_end(name)
                self._hits += 1
            else:
                self._misses += 1
        if entry is None:
            return self._open(name)
        now = time.monotonic()
        if now - entry.checked_at < self.config.refresh_interval:
            return entry.dataset, entry.identity
        dataset = entry.dataset
        read_at = time.time_ns()
        stamp = _stamp(entry.versions_dir)
        if stamp is not None and stamp == entry.stamp:
            # no commit since the handle was last found current (a table created again has
            # a new ``_versions`` directory, with another mtime)
            return dataset, entry.identity
        # a trusted stamp that moved means a commit; without one, ask the storage
        if entry.stamp is not None or not self._still_current(name, entry):
            with self._lock:
                self._refreshes += 1
            return self._open(name)
        entry.checked_at = now
        trusted = stamp is not None and read_at - stamp > _RACY_STAMP_NS
        entry.stamp = stamp if trusted else None
        return dataset, entry.identity

    def _still_current(self, name: str, entry: _Entry) -> bool:
        """Whether the handle is at the latest version of the same table (not of one
        dropped and created again, which reaches the same version numbers)."""
        if entry.identity == _UNKNOWN_IDENTITY or not self._is_identity(name, entry.identity):
            return False
        try:
            return bool(entry.dataset.latest_version == entry.dataset.version)
        except Exception:  # the table is gone: opening it again says so clearly
            return False

    def open_private(self, name: str) -> lance.LanceDataset:
        """A fresh handle on the latest version that the cache does not share.

        Committing through a Lance handle mutates it in place; writers use a private
        handle (cheap: it shares the session's caches) and install it with :meth:`put`.
        """
        dataset = self._opener(name, self.session)
        with self._lock:
            self._opens += 1
        return dataset

    def put(
        self, name: str, dataset: lance.LanceDataset, *, identity: str | None = _UNKNOWN_IDENTITY
    ) -> None:
        """Install a handle a write just returned (it already holds the new version).

        ``identity`` is the table's, when the caller knows it (it just created the table);
        otherwise the cached handle's identity is kept.
        """
        self._install(name, dataset, identity, keep_identity=identity == _UNKNOWN_IDENTITY)

    def evict(self, name: str) -> bool:
        """Drop the handle of ``name``; return whether one was cached."""
        with self._lock:
            found = self._entries.pop(name, None) is not None
            if found:
                self._evictions += 1
        if found:
            log.debug("evicted table %s", name)
        return found

    def clear(self) -> None:
        """Drop every handle (the shared session's caches stay warm)."""
        with self._lock:
            self._evictions += len(self._entries)
            self._entries.clear()

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                opens=self._opens,
                refreshes=self._refreshes,
                open_tables=len(self._entries),
                max_tables=self.config.max_cached_tables,
                session_bytes=int(self.session.size_bytes()),
                index_cache_bytes=self.config.index_cache_bytes,
                metadata_cache_bytes=self.config.metadata_cache_bytes,
            )

    def _open(self, name: str) -> tuple[lance.LanceDataset, str | None]:
        # the identity first: if the table is created again meanwhile, the identity read is
        # the old one, and the next check opens the new table again
        identity = self._identify(name)
        dataset = self._opener(name, self.session)
        with self._lock:
            self._opens += 1
        log.debug("opened table %s at version %s", name, dataset.version)
        self._install(name, dataset, identity)
        return dataset, identity

    def _install(
        self,
        name: str,
        dataset: lance.LanceDataset,
        identity: str | None,
        *,
        keep_identity: bool = False,
    ) -> None:
        evicted: list[str] = []
        versions = os.path.join(dataset.uri, "_versions") if self._local else None
        with self._lock:
            current = self._entries.get(name)
            if keep_identity:
                identity = current.identity if current is not None else _UNKNOWN_IDENTITY
            known = self._identities.get(name, _UNKNOWN_IDENTITY)
            replaced = _UNKNOWN_IDENTITY not in (known, identity) and known != identity
            if identity != _UNKNOWN_IDENTITY:
                self._identities[name] = identity
            # Never replace a handle with an older version of the same table opened
            # concurrently; a table created again starts its versions anew.
            if (
                current is None
                or current.identity != identity
                or current.dataset.version <= dataset.version
            ):
                self._entries[name] = _Entry(dataset, time.monotonic(), versions, identity)
            self._entries.move_to_end(name)
            limit = self.config.max_cached_tables
            while limit is not None and len(self._entries) > limit:
                old, _ = self._entries.popitem(last=False)
                self._evictions += 1
                evicted.append(old)
        for old in evicted:
            log.debug("evicted table %s (LRU, limit %s)", old, self.config.max_cached_tables)
        if replaced:
            log.debug("table %s was dropped and created again", name)
            self._on_replaced(name)


def new_session(config: DatasetCacheConfig) -> Any:
    """A Lance cache session with ``config``'s byte bounds."""
    return lance.Session(  # type: ignore[attr-defined]
        index_cache_size_bytes=config.index_cache_bytes,
        metadata_cache_size_bytes=config.metadata_cache_bytes,
    )


def _stamp(versions_dir: str | None) -> int | None:
    """The mtime of a local table's ``_versions`` directory: one ``stat`` instead of a
    listing, so the per-call freshness check stays cheap (``None`` elsewhere)."""
    if versions_dir is None:
        return None
    try:
        return os.stat(versions_dir).st_mtime_ns
    except OSError:
        return None
