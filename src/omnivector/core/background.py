"""Background threads that never hold up, or crash, the end of the process.

Python lets a daemon thread that returns from Lance while the interpreter finalizes call
``pthread_exit`` through Lance's Rust frames, which aborts the process (exit 134). Work
that can run long (resident graph loads) therefore runs on a :class:`DaemonWorker`: a
daemon thread, so the interpreter does not wait for it, that
:mod:`omnivector.lifecycle` stops and joins before finalization begins.

Once the main thread has ended, ``concurrent.futures`` pools refuse new work while other
threads may still be writing; :func:`submit` then runs the call in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

__all__ = ["DaemonWorker", "submit"]

T = TypeVar("T")


def submit(pool: Executor, fn: Callable[..., T], /, *args: Any) -> Future[T]:
    """``pool.submit(fn, *args)``, or the call run here once the interpreter is exiting."""
    try:
        return pool.submit(fn, *args)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class DaemonWorker:
    """One daemon thread running submitted calls in order; :meth:`stop` ends it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; ``RuntimeError`` once stopped."""
        future: Future[T] = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self._name} is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((future, lambda: fn(*args)))
        return future

    def stop(self, timeout: float | None = None) -> None:
        """Cancel queued calls, let the running one end, and join the thread."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            future, call = item
            if self._stopped:
                future.cancel()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)
        while True:  # calls queued after the stop request: cancelled
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()
