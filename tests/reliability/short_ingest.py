"""Short-lived ingest processes that never close their store, run by test_short_processes.py.

Usage: python short_ingest.py STORE PROCESSES BATCHES WAIT_SECONDS

Each of PROCESSES children (forked one after another from this launcher, which has imported
omnivector but not used Lance) opens the store, adds BATCHES batches to table "t" and ends
without ``close()``, like a script run again and again. WAIT_SECONDS after the last one ended,
this launcher opens the table as the next process would, waits for the maintenance that opening
a due table starts, and prints the table's fragments and bytes as JSON.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import time


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Refuses pandas: pyarrow imports it when present, which triples start-up."""

    def find_spec(self, name: str, *_: object) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is not needed by these programs")


sys.meta_path.insert(0, _WithoutPandas())

import numpy as np  # noqa: E402

import omnivector as ov  # noqa: E402

DIM = 64
ROWS = 200  # test_short_processes.py counts on it


def ingest(root: str, number: int, batches: int) -> None:
    table = ov.VectorStore(root, dimension=DIM).create_table("t", exist_ok=True)
    rng = np.random.default_rng(number)
    for b in range(batches):
        vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
        table.add([{"id": f"p{number}-b{b}-{j}", "vector": v} for j, v in enumerate(vectors)])


def main() -> None:
    root, processes, batches, wait = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    for number in range(processes):
        pid = os.fork()
        if pid == 0:
            ingest(root, number, batches)
            raise SystemExit(0)  # the script ends here, without close()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"ingest process {number} exited with {status}")
    time.sleep(wait)
    store = ov.VectorStore(root)
    table = store.table("t")
    finished = store.wait_for_maintenance("t", timeout=120)
    health = table.health()
    print(
        json.dumps(
            {
                "waited": finished,
                "rows": health.rows,
                "fragments": health.fragments,
                "versions": health.versions,
                "total_bytes": health.total_bytes,
                "live_bytes": health.live_bytes,
            }
        )
    )


if __name__ == "__main__":
    main()
