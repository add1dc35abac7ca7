"""No foreign noise: Lance's log lines never reach a program's terminal, its errors carry no
Rust source paths.

Each test runs a real program in a subprocess and reads what it printed.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

import omnivector as ov

# A program with the usual logging set-up that provokes each kind of Lance output: an IVF
# build on 300 rows of 3 distinct vectors (Lance warns that it trains fewer partitions than
# asked and that KMeans clusters are empty; pylance logs timings at INFO), and a raw Lance
# query without `_distance` among its columns (Lance's deprecation notice).
_PROGRAM = """
import logging, sys
logging.basicConfig(level=getattr(logging, sys.argv[2]))
import numpy as np
import omnivector as ov
import lance

store = ov.VectorStore(
    sys.argv[1], dimension=16, index_builds=ov.IndexBuildConfig(executor="thread")
)
table = store.create_table("t")
base = np.random.default_rng(0).random((3, 16))
table.add([{"id": str(i), "vector": base[i % 3], "text": f"word {i}"} for i in range(300)])
table.create_index(kind="IVF_PQ", num_partitions=8)
lance.dataset(table.uri).to_table(
    columns=["id"], nearest={"column": "vector", "q": base[0], "k": 3}
)
assert table.search(base[0], k=3).ids and table.search(text="word", k=3).ids
store.close()
print("done")
"""


def _run(tmp_path: Path, level: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANCE_LOG", "LANCE_LOG_FILE")}
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(tmp_path / level), level],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def test_lance_logs_stay_off_the_terminal_at_default_logging(tmp_path: Path) -> None:
    quiet = _run(tmp_path, "WARNING")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "done\n"
    assert quiet.stderr == ""


def test_lance_logs_go_to_the_omnivector_logger_at_debug(tmp_path: Path) -> None:
    # the same program with DEBUG logging shows that each kind of output was produced, and
    # where it went
    verbose = _run(tmp_path, "DEBUG")
    assert verbose.returncode == 0, verbose.stderr
    records = [line for line in verbose.stderr.splitlines() if not line.startswith(" ")]
    lance_records = [line for line in records if line.startswith("DEBUG:omnivector.lance:")]
    for expected in (
        "WARN  lance::index::vector] Build Vector Index: training",
        "WARN  lance_index::vector::kmeans] KMeans: more than 10% of clusters are empty",
        "did not include `_distance`",
        "pylance: Final create_index rust time",
    ):
        assert any(expected in line for line in lance_records), expected
    assert not any("WARN" in line and "lance" in line for line in records if line.startswith("["))
    assert not any(line.startswith("INFO:pylance") for line in records)


def test_errors_carry_no_rust_source_paths(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=4) as store:
        table = store.create_table("t")
        table.add([{"id": "a", "vector": [1.0] * 4}])
        for data_file in glob.glob(f"{table.uri}/data/*"):
            os.remove(data_file)
        with pytest.raises(ov.StorageError, match="Not found") as caught:
            table.to_arrow()
    message = str(caught.value)
    assert ".rs:" not in message and "/rustc/" not in message
    assert ".rs:" in str(caught.value.__cause__)  # the cause keeps Lance's text
