"""The per-table lock: exclusion between threads and processes, timeout and cancellation,
for the flock implementation and the filelock one used where fcntl is missing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnivector as ov
from omnivector.storage import locks
from omnivector.storage.locks import LockCancelledError, table_lock


@pytest.fixture(params=["flock", "filelock"])
def implementation(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "filelock":
        monkeypatch.setattr(locks, "fcntl", None)
    yield request.param


def test_threads_take_turns(implementation: str, tmp_path: Path) -> None:
    path = str(tmp_path / "t.write.lock")
    inside = 0
    most_inside = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most_inside
        for _ in range(20):
            with table_lock(path, timeout=30, what="write"):
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most_inside == 1


def test_a_held_lock_times_out_with_a_clear_error(implementation: str, tmp_path: Path) -> None:
    path = str(tmp_path / "t.write.lock")
    with table_lock(path, timeout=1, what="write"):
        taken = threading.Event()
        errors: list[BaseException] = []

        def contend() -> None:
            try:
                with table_lock(path, timeout=0.3, what="write"):
                    taken.set()
            except ov.CommitConflictError as exc:
                errors.append(exc)

        thread = threading.Thread(target=contend)
        thread.start()
        thread.join()
    assert not taken.is_set()
    assert len(errors) == 1 and "waiting for the write lock" in str(errors[0])
    with table_lock(path, timeout=1, what="write"):  # free again once released
        pass


def test_a_waiter_gives_up_when_cancelled(implementation: str, tmp_path: Path) -> None:
    path = str(tmp_path / "t.maintenance.lock")
    with (
        table_lock(path, timeout=1, what="maintenance"),
        pytest.raises(LockCancelledError),
        table_lock(path, timeout=30, what="maintenance", cancelled=lambda: True),
    ):
        pass


_HOLDER = """
import sys, time
from omnivector.storage.locks import table_lock
with table_lock(sys.argv[1], timeout=10, what="write"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_another_process_is_excluded_until_it_releases_or_dies(tmp_path: Path) -> None:
    path = str(tmp_path / "t.write.lock")
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, path, "60"], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            with (
                pytest.raises(ov.CommitConflictError),
                table_lock(path, timeout=0.2, what="write"),
            ):
                pass
        finally:
            holder.kill()  # the kernel releases a dead process's lock
            holder.wait(timeout=30)
    with table_lock(path, timeout=10, what="write"):
        pass
