"""Storage that fails under the store: a full disk, read-only storage.

The tests mount a small tmpfs (a real size-limited file system; mounting needs root, as CI
has) and skip, saying why, where the machine does not allow it.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import lance
import numpy as np
import pytest

import omnivector as ov
from omnivector.storage.locations import fragment_files

DIM = 64
_FS_BYTES = 4 << 20
_BALLAST_BYTES = 512 << 10


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted at a fresh directory, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    target = tmp_path / "fs"
    target.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", f"size={_FS_BYTES}", "tmpfs", str(target))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        pytest.skip(f"this machine does not allow mounting a tmpfs: {detail}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _rows(rng: np.random.Generator, prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {"id": f"{prefix}-{i}", "vector": rng.random(DIM) + 0.1, "text": f"row {i} " * 30}
        for i in range(count)
    ]


def _unused_files(table: ov.Table) -> set[str]:
    """Data and deletion files on disk that no version of the table uses."""
    uri = table.uri
    used: set[str] = set()
    for version in lance.dataset(uri).versions():
        dataset = lance.dataset(uri, version=version["version"])
        used |= fragment_files(fragment.metadata for fragment in dataset.get_fragments())
    on_disk = {
        os.path.relpath(os.path.join(folder, name), uri)
        for sub in ("data", "_deletions")
        for folder, _, names in os.walk(os.path.join(uri, sub))
        for name in names
    }
    return on_disk - used


def test_a_full_disk_fails_writes_cleanly_and_the_next_write_after_freeing_space_succeeds(
    small_fs: Path,
) -> None:
    ballast = small_fs / "ballast"
    ballast.write_bytes(b"\0" * _BALLAST_BYTES)
    rng = np.random.default_rng(7)
    acknowledged: set[str] = set()
    failures: dict[str, list[ov.OmnivectorError]] = {"add": [], "upsert": [], "delete": []}
    with ov.VectorStore(small_fs / "store", dimension=DIM) as store:
        table = store.create_table("t")
        for step in range(400):
            operation = ("add", "add", "upsert", "delete")[step % 4]
            rows = _rows(rng, f"s{step}", int(rng.integers(50, 250)))
            victims = sorted(acknowledged)[:7]
            try:
                if operation == "add":
                    table.add(rows)
                elif operation == "upsert":
                    table.upsert(rows)
                else:
                    table.delete(victims)
            except ov.OmnivectorError as exc:
                failures[operation].append(exc)
                if all(len(found) >= 3 for found in failures.values()):
                    break
                continue
            if operation == "delete":
                acknowledged -= set(victims)
            else:
                acknowledged |= {str(row["id"]) for row in rows}
        assert all(len(found) >= 3 for found in failures.values()), "the disk never filled up"
        for found in failures.values():
            for error in found:
                assert isinstance(error, ov.StorageError)
                assert "no space left" in str(error) and ".rs:" not in str(error)
        stored = {doc["id"] for doc in table.iter_documents(include_vector=False)}
        assert stored == acknowledged
        assert table.count() == len(acknowledged)
        assert _unused_files(table) == set()

        ballast.unlink()
        assert table.add(_rows(rng, "after", 100)).inserted == 100
        assert table.count() == len(acknowledged) + 100
        assert table.search(rng.random(DIM) + 0.1, k=3).ids


def _tree(root: Path) -> dict[str, int]:
    return {
        os.path.relpath(os.path.join(folder, name), root): os.path.getsize(
            os.path.join(folder, name)
        )
        for folder, dirs, names in os.walk(root)
        for name in [*names, *dirs]
    }


def test_a_read_only_store_answers_reads_and_refuses_writes(small_fs: Path) -> None:
    path = small_fs / "store"
    rng = np.random.default_rng(3)
    rows = _rows(rng, "d", 300)
    with ov.VectorStore(path, dimension=DIM) as store:
        table = store.create_table("t", fields={"kind": "string"})
        table.add(rows)
        table.create_fts_index()
    before = _tree(small_fs)
    _mount("-o", "remount,ro", str(small_fs))
    with pytest.raises(OSError) as probe:
        (small_fs / "probe").touch()
    assert probe.value.errno == errno.EROFS

    with ov.VectorStore(path) as store:
        assert store.table_names() == ["t"] and "t" in store
        table = store.table("t")
        assert table.count() == 300 and len(table) == 300
        assert [doc["id"] for doc in table.get(["d-5", "d-9"])] == ["d-5", "d-9"]
        assert table.search(rows[17]["vector"], k=1).ids == ["d-17"]
        assert table.search(text="row", k=3).ids
        assert table.versions() and table.stats().rows == 300

        writes = {
            "add": lambda: table.add(_rows(rng, "new", 5)),
            "upsert": lambda: table.upsert(rows[:2]),
            "delete": lambda: table.delete(["d-1"]),
            "create_table": lambda: store.create_table("other", dimension=DIM),
            "drop_table": lambda: store.drop_table("t"),
            "compact": lambda: table.compact(),
            "create_scalar_index": lambda: table.create_scalar_index("kind"),
        }
        for name, write in writes.items():
            with pytest.raises(ov.ReadOnlyError, match="read-only storage") as caught:
                write()
            assert ".rs:" not in str(caught.value), name
        assert table.count() == 300
    _mount("-o", "remount,rw", str(small_fs))
    assert _tree(small_fs) == before


def test_reading_a_store_creates_no_files(tmp_path: Path) -> None:
    path = tmp_path / "store"
    rng = np.random.default_rng(5)
    with ov.VectorStore(path, dimension=DIM) as store:
        table = store.create_table("t")
        table.add(_rows(rng, "d", 50))
        table.create_fts_index()
    shutil.rmtree(path / ".omnivector")  # the lock files the writes left
    before = _tree(path)
    with ov.VectorStore(path) as store:
        table = store.table("t")
        assert store.table_names() == ["t"] and table.count() == 50
        assert table.get(["d-1"]) and table.search(rng.random(DIM) + 0.1, k=2).ids
        assert table.search(text="row", k=2).ids
    assert _tree(path) == before
