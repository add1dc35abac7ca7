"""Concurrency: 4 processes x 2 threads writing and reading shared tables, nothing lost.

Each worker thread adds batches, upserts and deletes its own ids and searches, with
background index builds and auto-maintenance running, and logs every acknowledged
operation. At the end the tables must hold exactly what the logs say.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import omnivector as ov

WORKER = r"""
import json, sys, threading
import numpy as np
import omnivector as ov

root, worker, log_path, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = ov.MaintenanceConfig(max_fragments=8, max_small_fragments=8, min_interval=0.2,
                              quiet_seconds=0.0)
store = ov.VectorStore(root, maintenance=config)
lock = threading.Lock()
log = open(log_path, "w")
errors = []

def work(thread):
    rng = np.random.default_rng(hash((worker, thread)) % 2**32)
    try:
        for step in range(steps):
            table = store.table(f"shared{step % 2}")
            prefix = f"{worker}-{thread}-{step}"
            docs = [{"id": f"{prefix}-{j}", "vector": rng.random(8), "metadata": {"b": prefix}}
                    for j in range(5)]
            table.add(docs)
            entries = [("add", table.name, prefix)]
            if step % 3 == 0:
                table.upsert([{**docs[0], "text": "updated"}])
                entries.append(("upsert", table.name, f"{prefix}-0"))
            if step % 4 == 1:
                table.delete([f"{prefix}-4"])
                entries.append(("delete", table.name, f"{prefix}-4"))
            total = table.count()
            assert total >= 0
            hits = table.search(rng.random(8), k=3)
            assert len(hits) == 3
            if step == steps // 2 and thread == 0:
                table.create_scalar_index("id", background=True)
            with lock:
                for entry in entries:
                    log.write(json.dumps(entry) + "\n")
                log.flush()
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
for t in threads: t.start()
for t in threads: t.join()
store.await_pending_index_builds(timeout=300)
store.close()
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
"""

STEPS = 40 if os.environ.get("OMNIVECTOR_SOAK") else 12


def test_processes_and_threads_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with ov.VectorStore(root, dimension=8) as store:
        for name in ("shared0", "shared1"):
            store.create_table(name)
    workers = []
    for n in range(4):
        log = tmp_path / f"log{n}"
        workers.append(
            (
                log,
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(root), f"p{n}", str(log), str(STEPS)],
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    for _, process in workers:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    expected: dict[str, set[str]] = {"shared0": set(), "shared1": set()}
    upserted: set[str] = set()
    for log, _ in workers:
        for line in log.read_text().splitlines():
            kind, table, key = json.loads(line)
            if kind == "add":
                expected[table] |= {f"{key}-{j}" for j in range(5)}
            elif kind == "delete":
                expected[table].discard(key)
            else:
                upserted.add(key)
    with ov.VectorStore(root) as store:
        for name, ids in expected.items():
            table = store.table(name)
            stored = [d["id"] for d in table.iter_documents(include_vector=False)]
            assert len(stored) == len(set(stored)), "duplicated ids"
            assert set(stored) == ids, "lost or resurrected ids"
            texts = {d["id"]: d["text"] for d in table.get(sorted(upserted & ids))}
            assert set(texts.values()) <= {"updated"}
    total = sum(len(ids) for ids in expected.values())
    assert total == 4 * 2 * STEPS * 5 - 4 * 2 * len([s for s in range(STEPS) if s % 4 == 1])
