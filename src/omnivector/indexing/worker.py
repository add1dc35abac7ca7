"""Worker process for background index builds (``python -m omnivector.indexing.worker``).

Reads one JSON job on stdin, builds the index, and reports JSON lines on stdout:
``{"event": "progress", "stage": ..., "fraction": ...}`` then ``{"event": "done"}`` or
``{"event": "error", "message": ...}``. Killing it at any point leaves the table as it was:
Lance commits an index atomically at the very end.
"""

from __future__ import annotations

import json
import sys

from omnivector.indexing.builds import build_in_process
from omnivector.indexing.planning import IndexRequest
from omnivector.storage.datasets import open_uri


def main() -> int:
    job = json.loads(sys.stdin.read())
    request = IndexRequest(**job["request"])

    def report(stage: str, fraction: float | None) -> None:
        print(json.dumps({"event": "progress", "stage": stage, "fraction": fraction}), flush=True)

    try:
        dataset = open_uri(job["uri"], storage_options=job.get("storage_options"))
        build_in_process(dataset, request, report if job.get("progress", True) else None)
    except Exception as exc:
        print(json.dumps({"event": "error", "message": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"event": "done"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
