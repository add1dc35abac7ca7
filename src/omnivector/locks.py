"""Per-table locks shared by every thread and process that opens the same store.

Two locks per table: ``write`` serializes the read-check-commit of document writes (so ids
stay unique across processes), ``maintenance`` serializes index builds and compaction (a
compaction committed during an index build would waste the build). Locks are ``flock``
based: the kernel releases them when a process dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import filelock

from .errors import CommitConflictError

__all__ = ["table_lock"]

_POLL_SECONDS = 0.05


@contextmanager
def table_lock(
    path: str, *, timeout: float, what: str, cancelled: Callable[[], bool] | None = None
) -> Iterator[None]:
    """Hold the lock file at ``path``; give up after ``timeout`` s or when ``cancelled()``."""
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
                raise CommitConflictError(
                    f"timed out after {timeout:.0f}s waiting for the {what} lock ({path}); "
                    "another thread or process is holding it. Retry later"
                ) from None
    try:
        yield
    finally:
        lock.release()


class LockCancelledError(Exception):
    """Raised inside the builder when a queued build is cancelled while waiting."""
