"""How stores end with their process: interpreter exit and ``fork``.

**Exit.** A store's background threads are daemon threads, so the interpreter never
waits for them; but a daemon thread that returns from Lance while the interpreter
finalizes aborts the process (``Fatal Python error: Aborted``, exit 134). An ``atexit``
hook therefore stops every live store's maintenance and resident loads and joins their
threads. ``atexit`` runs after the interpreter has joined the program's own threads and
waited for ``concurrent.futures`` work (background index builds among it), and before
finalization; a second Ctrl-C meanwhile does not cut the join short.

**Fork.** Lance is not fork-safe: in a child forked after Lance ran in the parent, Lance
calls crash (SIGSEGV) in most runs, whatever the child opens. Every store operation in
such a child, and opening a new store there, raises :class:`ForkedProcessError` instead;
``close()`` and the exit hook leave the parent's threads and builds alone. Stores and
tables pickle as their path and options, so multiprocessing's "spawn" and "forkserver"
start methods give the child a store of its own. Lock files the parent held are closed in
the child, so they stay the parent's alone.

Stores are held by weak reference: the hooks never keep one alive.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Protocol

from omnivector.core.errors import ForkedProcessError
from omnivector.storage.locks import forget_inherited_locks


class Owner(Protocol):
    """A store, as far as these hooks are concerned."""

    @property
    def closed(self) -> bool: ...

    def _stop_background(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


__all__ = ["check_process", "forked", "register"]

_stores: weakref.WeakSet[Owner] = weakref.WeakSet()
_lance_started = False  # a store was opened in this process (or in the one it forked from)
_forked_from: int | None = None  # the parent's pid, when forked after Lance ran there


def register(store: Owner) -> None:
    """Have ``store``'s background work stopped at exit and after ``fork``."""
    global _lance_started
    _lance_started = True
    _stores.add(store)


def forked() -> bool:
    """Whether this process was forked after Lance ran in its parent."""
    return _forked_from is not None


def check_process() -> None:
    """Raise :class:`ForkedProcessError` in a process forked after Lance ran."""
    if _forked_from is not None:
        raise ForkedProcessError(
            f"this process was forked (os.fork() or multiprocessing's 'fork' start method) "
            f"from process {_forked_from} after it had used Lance, which is not fork-safe: "
            "Lance calls crash in such a child. Use multiprocessing's 'spawn' or "
            "'forkserver' start method (stores and tables can be passed to the child), or "
            "fork before the parent opens a store"
        )


def _stop_all() -> None:
    if forked():
        return  # the threads were the parent's
    for store in list(_stores):
        if store.closed:
            continue
        while True:
            try:
                store._stop_background()
                break
            except KeyboardInterrupt:
                continue  # a thread still inside Lance must return before finalization


def _after_fork_in_child() -> None:
    global _forked_from
    forget_inherited_locks()
    if not _lance_started:
        return
    _forked_from = os.getppid()
    for store in list(_stores):
        store._after_fork_in_child()


atexit.register(_stop_all)
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
