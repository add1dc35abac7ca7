"""Worker process for background index builds (``python -m omnivector.indexing.worker``).

Reads one JSON job on stdin, builds the index, and reports JSON lines on stdout:
``{"event": "progress", "stage": ..., "fraction": ...}`` then ``{"event": "done"}`` or
``{"event": "error", "message": ...}``. Killing it at any point leaves the table as it was:
Lance commits an index atomically at the very end.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

from omnivector.core.errors import lance_message
from omnivector.indexing.builds import build_in_process
from omnivector.indexing.planning import IndexRequest
from omnivector.storage.datasets import open_uri

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this worker when the process that started it dies (Linux):
    a build nobody waits for must not commit later, outside the parent's table lock."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main() -> int:
    die_with_parent()
    job = json.loads(sys.stdin.read())
    request = IndexRequest(**job["request"])

    def report(stage: str, fraction: float | None) -> None:
        print(json.dumps({"event": "progress", "stage": stage, "fraction": fraction}), flush=True)

    try:
        dataset = open_uri(job["uri"], storage_options=job.get("storage_options"))
        build_in_process(dataset, request, report if job.get("progress", True) else None)
    except Exception as exc:
        message = f"{type(exc).__name__}: {lance_message(exc)}"
        print(json.dumps({"event": "error", "message": message}), flush=True)
        return 1
    print(json.dumps({"event": "done"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
