"""Stall detection for index-build worker processes.

Lance's index builds can hang for good when a progress callback is attached: every thread
parks and the process uses no CPU (seen with pylance 14 in IVF training, about one build in
three on a 2-core machine). A worker that reports nothing and uses no CPU for a while is
therefore killed, and the build is retried without progress events.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

__all__ = ["StallWatch", "cpu_seconds"]

# A worker that waits on object storage still spends some CPU on its I/O reactor.
_IDLE_CPU_SECONDS = 0.01


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux ``/proc``), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class StallWatch:
    """Kills ``process`` once it has been silent and idle for ``seconds``.

    Call :meth:`touch` on every message from the worker; :attr:`stalled` tells afterwards
    whether the watch killed it. Where CPU time cannot be read, nothing is ever killed.
    """

    def __init__(self, process: subprocess.Popen[str], seconds: float) -> None:
        self.stalled = False
        self._process = process
        self._seconds = seconds
        self._touched = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="omnivector-stall", daemon=True)

    def __enter__(self) -> StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def touch(self) -> None:
        self._touched = time.monotonic()

    def _watch(self) -> None:
        window_start = time.monotonic()
        cpu_at_start = cpu_seconds(self._process.pid)
        while not self._done.wait(min(5.0, self._seconds / 4)):
            now = time.monotonic()
            cpu = cpu_seconds(self._process.pid)
            if cpu is None or cpu_at_start is None:
                return
            busy = cpu - cpu_at_start > _IDLE_CPU_SECONDS
            if busy or self._touched > window_start:
                window_start, cpu_at_start = now, cpu
            elif now - window_start >= self._seconds:
                self.stalled = True
                self._process.kill()
                return
