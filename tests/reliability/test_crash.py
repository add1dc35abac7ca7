"""Crash injection: writers killed with SIGKILL lose no acknowledged write, leave no partial one.

Each round starts a real child process doing one kind of operation in a loop (add, upsert,
delete, index build, compaction, cleanup), kills it with SIGKILL at a random moment, then
checks the table against the child's log of acknowledged operations. ``make soak`` runs more
rounds (``OMNIVECTOR_SOAK=1``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from tests.reliability.crash_child import BATCH, DIM, batch_docs

OPERATIONS = ("add", "upsert", "delete", "index", "compact", "cleanup")
ROUNDS = 200 if os.environ.get("OMNIVECTOR_SOAK") else 54
CHILD = Path(__file__).with_name("crash_child.py")


def _start(root: Path, operation: str, tag: str, log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(root), operation, tag, str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def _check(table: ov.Table, log: Path, deleted_before: set[str]) -> set[str]:
    acked = log.read_text().splitlines() if log.exists() else []
    docs = list(table.iter_documents(include_vector=True))
    batches = Counter(d["metadata"].get("batch") for d in docs)
    # all-or-nothing: every add batch is complete or absent
    for name, count in batches.items():
        if name not in ("pool", None) and not str(name).startswith("seed-"):
            assert count == BATCH, f"batch {name} is partial: {count} of {BATCH}"
    present = {d["id"] for d in docs}
    for line in acked:
        kind, _, name = line.partition(" ")
        if kind == "add":
            assert f"{name}-0" in present, f"acknowledged batch {name} was lost"
        if kind == "delete":
            deleted_before.add(name)
    for name in deleted_before:
        assert batches.get(name, 0) == 0, f"acknowledged delete of {name} came back"
    pool = [d for d in docs if d["metadata"].get("batch") == "pool"]
    if pool:
        assert len({d["text"] for d in pool}) == 1, "an upsert batch is partly applied"
        upserts = [line.split()[1] for line in acked if line.startswith("upsert")]
        if upserts:
            last = int(upserts[-1].rsplit("-", 1)[1])
            assert int(pool[0]["text"].rsplit("-", 1)[1]) >= last
    assert len(present) == len(docs), "duplicate ids after a crash"
    # searches are correct: a stored vector finds its own document first
    if docs:
        probe = random.choice(docs)
        hits = table.search(probe["vector"], k=3, exact=True)
        assert hits[0].distance == pytest.approx(0.0, abs=1e-5)
    return deleted_before


def test_sigkill_at_random_points_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(1234)
    root = tmp_path / "store"
    with ov.VectorStore(
        root, dimension=DIM, maintenance=ov.MaintenanceConfig(enabled=False)
    ) as store:
        table = store.create_table("crash")
        for seed in range(40):
            table.add(batch_docs(f"seed-{seed}", 10_000 + seed))
    deleted: set[str] = set()
    kills = 0
    for round_number in range(ROUNDS):
        operation = OPERATIONS[round_number % len(OPERATIONS)]
        log = tmp_path / f"log-{round_number}"
        child = _start(root, operation, f"r{round_number}", log)
        time.sleep(rng.uniform(0.05, 0.8))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()
        with ov.VectorStore(root, maintenance=ov.MaintenanceConfig(enabled=False)) as store:
            table = store.table("crash")
            deleted = _check(table, log, deleted)
            # the next write succeeds: no stale lock, no broken manifest
            table.add([{"id": f"after-{round_number}", "vector": np.ones(DIM)}])
            assert table.get([f"after-{round_number}"])
    assert kills >= ROUNDS * 0.8
    print(f"crash rounds={ROUNDS} kills={kills}")
