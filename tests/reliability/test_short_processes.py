"""Short-lived processes that never call close() leave a compact table.

Twenty processes each add five batches and exit without ``close()``; one more opens the table
``keep_seconds`` after the last ended (see short_ingest.py). Opening a due table starts its
maintenance in the background, and ``wait_for_maintenance`` waits for it. Before, such
processes left one fragment per batch and every version on disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import omnivector as ov

CHILD = Path(__file__).with_name("short_ingest.py")
PROCESSES = 20
BATCHES = 5


# hundreds of processes: minutes on a loaded 2-core machine
@pytest.mark.timeout(1200)
def test_twenty_short_processes_leave_few_fragments_and_little_dead_data(tmp_path: Path) -> None:
    wait = ov.MaintenanceConfig().keep_seconds
    done = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path), str(PROCESSES), str(BATCHES), str(wait)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads(done.stdout.strip().splitlines()[-1])
    print(table)
    assert table["waited"]
    assert table["rows"] == PROCESSES * BATCHES * 200
    assert table["fragments"] <= 8
    assert table["total_bytes"] <= 1.5 * table["live_bytes"]
