"""Per-table locks shared by every thread and process that opens the same store.

Locks per table: ``write`` serializes the read-check-commit of document writes (so ids
stay unique across processes); ``maintenance`` keeps compaction and cleanup apart from index
builds (a compaction committed during an index build would waste the build): index builds
hold it shared, so builds of different indexes run side by side, each also holding its own
index's lock. Locks are ``flock``
based: the kernel releases them when a process dies, so a crash never leaves a stale lock.
Each holder opens the lock file itself, so threads of one process exclude each other too.

On POSIX systems the lock is taken with ``fcntl.flock`` directly (~6 µs to take and
release, where ``filelock`` spends ~200 µs: a few percent of a small ``add``); elsewhere
``filelock`` provides the same lock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress

from omnivector.core.errors import CommitConflictError, storage_error

try:
    import fcntl
except ImportError:  # not a POSIX system
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DROP_INDEX_TIMEOUT",
    "MAINTENANCE_TIMEOUT",
    "NO_WAIT",
    "REWRITE_TIMEOUT",
    "WRITE_TIMEOUT",
    "LockCancelledError",
    "TableLocks",
    "forget_inherited_locks",
    "table_lock",
]

# Lock files this process holds, by descriptor. A forked child inherits the descriptors,
# and with them the parent's locks for as long as it keeps them open.
_held: set[int] = set()

#: seconds a document write (add, upsert, delete) waits for another writer
WRITE_TIMEOUT = 300.0
#: seconds a rewrite that must hold off writers (compaction, a Ray commit) waits for them
REWRITE_TIMEOUT = 3600.0
#: seconds compaction, cleanup and index optimization wait for a build or another compaction
MAINTENANCE_TIMEOUT = 3600.0
#: seconds dropping an index waits for a build or compaction on its table
DROP_INDEX_TIMEOUT = 600.0
#: take the lock only if it is free (background maintenance retries later)
NO_WAIT = 0.0

_POLL_SECONDS = 0.05


class LockCancelledError(Exception):
    """Raised inside the builder when a queued build is cancelled while waiting."""


@contextmanager
def table_lock(
    path: str,
    *,
    timeout: float,
    what: str,
    cancelled: Callable[[], bool] | None = None,
    shared: bool = False,
) -> Iterator[None]:
    """Hold the lock file at ``path``; give up after ``timeout`` s or when ``cancelled()``.

    ``shared`` holders exclude only exclusive ones (where ``flock`` is missing, every holder
    is exclusive).
    """
    if fcntl is not None:
        with _flock(path, timeout, what, cancelled, shared):
            yield
    else:
        with _filelock(path, timeout, what, cancelled):
            yield


class TableLocks:
    """The ``write`` and ``maintenance`` locks of every table of one store."""

    def __init__(self, lock_path: Callable[[str, str], str]) -> None:
        self._lock_path = lock_path

    def write(self, table: str, *, timeout: float = WRITE_TIMEOUT) -> AbstractContextManager[None]:
        """Serializes document writes (the uniqueness check and the commit) on ``table``."""
        return table_lock(self._lock_path(table, "write"), timeout=timeout, what="write")

    def maintenance(
        self,
        table: str,
        *,
        timeout: float = MAINTENANCE_TIMEOUT,
        cancelled: Callable[[], bool] | None = None,
    ) -> AbstractContextManager[None]:
        """Serializes compaction, cleanup and index folding on ``table``, and keeps them
        apart from index builds."""
        return table_lock(
            self._lock_path(table, "maintenance"),
            timeout=timeout,
            what="maintenance",
            cancelled=cancelled,
        )

    @contextmanager
    def index_build(
        self,
        table: str,
        index: str,
        *,
        timeout: float = MAINTENANCE_TIMEOUT,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[None]:
        """Held by a build of ``index``: the maintenance lock shared with builds of other
        indexes (Lance lets them commit side by side), and the index's own lock."""
        with (
            table_lock(
                self._lock_path(table, "maintenance"),
                timeout=timeout,
                what="maintenance",
                cancelled=cancelled,
                shared=True,
            ),
            table_lock(
                self._lock_path(table, f"index-{index}"),
                timeout=timeout,
                what=f"{index} build",
                cancelled=cancelled,
            ),
        ):
            yield


def _gave_up(path: str, timeout: float, what: str) -> CommitConflictError:
    return CommitConflictError(
        f"timed out after {timeout:.0f}s waiting for the {what} lock ({path}); "
        "another thread or process is holding it. Retry later"
    )


@contextmanager
def _flock(
    path: str, timeout: float, what: str, cancelled: Callable[[], bool] | None, shared: bool
) -> Iterator[None]:
    assert fcntl is not None
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:  # read-only storage, no space for the file, no permission
        raise storage_error(f"taking the {what} lock ({path})", exc) from exc
    owner = os.getpid()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancelled is not None and cancelled():
                    raise LockCancelledError from None
                if time.monotonic() >= deadline:
                    raise _gave_up(path, timeout, what) from None
                time.sleep(_POLL_SECONDS)
        _held.add(fd)
        try:
            yield
        finally:
            _held.discard(fd)
            if os.getpid() == owner:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if os.getpid() == owner:  # a forked child closed it already
            os.close(fd)


def forget_inherited_locks() -> None:
    """In a forked child: close the lock files the parent held, leaving the locks to it.

    Closing a copy does not release an ``flock`` lock: the parent still holds it, and the
    kernel releases it when the parent lets go or dies, whatever the child does.
    """
    for fd in list(_held):
        with suppress(OSError):
            os.close(fd)
    _held.clear()


@contextmanager
def _filelock(
    path: str, timeout: float, what: str, cancelled: Callable[[], bool] | None
) -> Iterator[None]:
    import filelock

    lock = filelock.FileLock(path, thread_local=False, is_singleton=False)
    waited = 0.0
    while True:
        try:
            lock.acquire(
                timeout=min(_POLL_SECONDS * 4, max(timeout - waited, 0)),
                poll_interval=_POLL_SECONDS,
            )
            break
        except filelock.Timeout:
            waited += _POLL_SECONDS * 4
            if cancelled is not None and cancelled():
                raise LockCancelledError from None
            if waited >= timeout:
                raise _gave_up(path, timeout, what) from None
    try:
        yield
    finally:
        lock.release()
