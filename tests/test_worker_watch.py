"""Stall detection for index-build workers: real processes, real builds."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from omnivector.indexing import builds
from omnivector.indexing.watch import StallWatch, cpu_seconds

pytestmark = pytest.mark.skipif(cpu_seconds(1) is None, reason="needs /proc CPU times")

# A worker that hangs like Lance does when asked for progress events, and builds otherwise.
HANGING_WORKER = """
import io, json, sys, time
job = sys.stdin.read()
if json.loads(job).get("progress", True):
    time.sleep(120)
sys.stdin = io.StringIO(job)
from omnivector.indexing.worker import main
sys.exit(main())
"""


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], text=True)


def test_cpu_seconds_grow_with_work() -> None:
    # The child spins until it has used 1.5 s of CPU, so the test holds on a loaded machine.
    busy = _python("import time\nwhile time.process_time() < 1.5: pass")
    try:
        time.sleep(0.2)
        before = cpu_seconds(busy.pid)
        after = before
        deadline = time.monotonic() + 30
        while after is not None and before is not None and after - before <= 0.3:
            assert time.monotonic() < deadline, "the busy child's CPU time did not grow"
            time.sleep(0.1)
            after = cpu_seconds(busy.pid)
        assert before is not None and after is not None and after - before > 0.3
    finally:
        busy.wait()
    assert cpu_seconds(busy.pid) is None  # gone


def test_a_silent_idle_process_is_killed_and_a_busy_one_is_not() -> None:
    idle = _python("import time; time.sleep(60)")
    started = time.monotonic()
    with StallWatch(idle, 1.0) as watch:
        idle.wait(timeout=30)
    assert watch.stalled and idle.returncode != 0 and time.monotonic() - started < 10

    busy = _python("import time\nend = time.time() + 2.5\nwhile time.time() < end: pass")
    with StallWatch(busy, 1.0) as watch:
        busy.wait(timeout=30)
    assert not watch.stalled and busy.returncode == 0


def test_a_stalled_build_is_retried_without_progress_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "hanging_worker.py"
    script.write_text(HANGING_WORKER)
    monkeypatch.setattr(builds, "worker_command", lambda: [sys.executable, str(script)])
    rng = np.random.default_rng(0)
    with ov.VectorStore(
        tmp_path / "store",
        dimension=8,
        index_builds=ov.IndexBuildConfig(stall_seconds=1.0),
        maintenance=ov.MaintenanceConfig(enabled=False),
    ) as store:
        table = store.create_table("docs")
        table.add([{"id": str(i), "vector": rng.standard_normal(8)} for i in range(300)])
        with caplog.at_level(logging.WARNING, logger="omnivector"):
            build = table.create_scalar_index("id", background=True)
            assert isinstance(build, ov.IndexBuild)
            info = build.result(timeout=60)
        assert info is not None and info.kind == "BTREE"
        assert sorted(i.columns for i in table.indexes()) == [["id"], ["text"]]
        assert any("stalled" in r.getMessage() for r in caplog.records)


def test_stall_seconds_must_be_positive() -> None:
    with pytest.raises(ov.InvalidInputError):
        ov.IndexBuildConfig(stall_seconds=0)
