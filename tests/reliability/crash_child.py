"""A writer that is killed with SIGKILL at a random point by test_crash.py.

Usage: python crash_child.py STORE OPERATION TAG LOG. Every acknowledged operation (the call
returned) is appended to LOG and fsynced before the next one starts.
"""

from __future__ import annotations

import importlib.abc
import os
import sys


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Refuses pandas: pyarrow imports it when present, which triples this child's start-up."""

    def find_spec(self, name: str, *_: object) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is not needed by this writer")


sys.meta_path.insert(0, _WithoutPandas())

import numpy as np  # noqa: E402

import omnivector as ov  # noqa: E402

BATCH = 20
DIM = 8


def vector(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32).tolist()


def batch_docs(name: str, seed: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"{name}-{j}",
            "vector": vector(seed * 100 + j),
            "text": name,
            "metadata": {"batch": name},
        }
        for j in range(BATCH)
    ]


def main() -> None:
    root, operation, tag, log_path = sys.argv[1:5]
    store = ov.VectorStore(
        root,
        maintenance=ov.MaintenanceConfig(enabled=False),
        index_builds=ov.IndexBuildConfig(executor="thread"),
    )
    table = store.table("crash")
    log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open until killed

    def ack(line: str) -> None:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())

    print("ready", flush=True)
    for step in range(10_000):
        name = f"{tag}-{step}"
        if operation == "upsert":
            docs = [
                {
                    "id": f"pool-{j}",
                    "vector": vector(j),
                    "text": name,
                    "metadata": {"batch": "pool"},
                }
                for j in range(10)
            ]
            table.upsert(docs)
            ack(f"upsert {name}")
        elif operation == "delete":
            table.delete(where={"batch": f"seed-{step % 40}"})
            ack(f"delete seed-{step % 40}")
        else:
            table.add(batch_docs(name, step))
            ack(f"add {name}")
            if operation == "index":
                table.create_index(kind="IVF_FLAT", num_partitions=2)
                ack("index")
            elif operation == "compact":
                table.compact()
                ack("compact")
            elif operation == "cleanup":
                table.cleanup(keep_versions=2)
                ack("cleanup")


if __name__ == "__main__":
    main()
