"""Every way a program ends: its own exit status, no acknowledged write lost, table writable.

Programs whose last call is add/upsert/delete or a background index build, that exit while a
resident graph loads, raise, end from a thread, get SIGINT or SIGTERM mid-write, fork, or use
multiprocessing with fork, spawn and forkserver (see exit_child.py, which runs them). The
maintenance thread compacts after every write in these programs, so endings meet it inside
Lance: before the exit hook, 24 of 40 programs ending after add, upsert, delete or an exception
aborted (exit 134), forked children hung or crashed, and writes from a thread that outlived the
main thread failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("exit_child.py")
ROUNDS = 100 if os.environ.get("OMNIVECTOR_SOAK") else 25
PARALLEL = 4


# hundreds of processes: minutes on a loaded 2-core machine
@pytest.mark.timeout(1200)
def test_every_ending_exits_with_its_own_status_and_loses_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            str(tmp_path / "store"),
            str(work),
            str(ROUNDS),
            str(PARALLEL),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    endings = report["endings"]
    print(json.dumps(report, indent=1))
    assert len(endings) == 13
    for ending, entry in endings.items():
        assert entry["runs"] >= ROUNDS, ending
        assert entry["abnormal"] == [], (ending, entry["abnormal"][:3])
        assert entry["lost"] == 0, ending
        assert entry["not_writable"] == 0, ending
