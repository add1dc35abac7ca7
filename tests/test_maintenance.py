"""Maintenance: compaction, cleanup, auto-maintenance, health, versions, schema evolution."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pytest

import omnivector as ov

DIM = 8
OFF = ov.MaintenanceConfig(enabled=False)


def _doc(i: int) -> dict[str, object]:
    return {"id": f"d{i}", "vector": [float(i % 13) + 0.5] * DIM, "text": f"doc {i}"}


def _small_writes(table: ov.Table, count: int) -> None:
    for i in range(count):
        table.add([_doc(i)])


def test_compact_cleanup_and_optimize(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t")
        _small_writes(table, 11)
        table.add([_doc(100), _doc(101)])
        table.delete(["d100"])
        health = table.health()
        assert health.fragments == 12 and health.deleted_rows == 1
        assert any("compact" in advice for advice in health.recommendations)
        result = table.compact()
        assert result.fragments_removed == 12 and result.fragments_added == 1
        assert table.health().deleted_rows == 0 and table.count() == 12
        table.tag("keep", 3)  # 1: created, 2: its full-text index, 3: the first add
        removed = table.cleanup(keep_versions=1)
        assert removed.versions_removed > 0 and removed.bytes_removed > 0
        kept = [v.version for v in table.versions()]
        assert 3 in kept and kept[-1] == table.version
        assert table.checkout("keep").count() == 1
        optimized = store.compact("t")
        assert isinstance(optimized, ov.CompactionResult)
        assert isinstance(store.analyze_table_health("t"), ov.TableHealth)
        assert table.optimize().indexes_optimized  # the full-text index made with the table


def test_auto_maintenance_keeps_fragments_and_versions_bounded(tmp_path: Path) -> None:
    config = ov.MaintenanceConfig(
        max_fragments=4,
        max_small_fragments=4,
        keep_versions=3,
        keep_seconds=0.0,
        min_interval=0.0,
        quiet_seconds=0.0,
    )
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=config) as store:
        table = store.create_table("t")
        _small_writes(table, 40)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = table.health()
            if health.fragments <= 5 and health.versions <= 10 and store._maintainer.runs:
                break
            store._after_write("t")
            time.sleep(0.2)
        assert store._maintainer.runs >= 1
        assert health.fragments <= 5 and health.versions <= 10
        assert table.count() == 40


def test_auto_compaction_merges_recent_writes_without_rewriting_the_table(
    tmp_path: Path,
) -> None:
    config = ov.MaintenanceConfig(max_small_fragments=4, min_interval=3600.0)
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=config) as store:
        table = store.create_table("t")
        rng = np.random.default_rng(0)
        table.add([{"id": f"b{i}", "vector": rng.random(DIM)} for i in range(20_000)])
        (base,) = table.dataset().get_fragments()
        base_files = [f.path for f in base.data_files()]
        _small_writes(table, 10)
        assert store._maintainer.maintain("t")
        fragments = table.dataset().get_fragments()
        assert [f.path for f in fragments[0].data_files()] == base_files
        assert len(fragments) == 2 and fragments[1].count_rows() == 10
        assert table.count() == 20_010


def test_versions_left_by_a_burst_of_writes_are_removed_without_another_write(
    tmp_path: Path,
) -> None:
    config = ov.MaintenanceConfig(keep_versions=2, keep_seconds=0.5, min_interval=0.2)
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=config) as store:
        table = store.create_table("t")
        _small_writes(table, 30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(table.versions()) > 4:
            time.sleep(0.2)
        assert len(table.versions()) <= 4
        assert table.count() == 30


@pytest.mark.parametrize(("failures", "listed"), [(1, True), (5, False)])
def test_versions_removed_while_listed_are_listed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int, listed: bool
) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t")
        _small_writes(table, 3)
        real = lance.LanceDataset.versions
        calls = []

        def cleaned_meanwhile(dataset: lance.LanceDataset) -> list[dict[str, Any]]:
            calls.append(1)
            if len(calls) <= failures:  # what Lance says when cleanup removed one
                raise ValueError(f"Not found: {dataset.uri}/_versions/3.manifest")
            return real(dataset)

        monkeypatch.setattr(lance.LanceDataset, "versions", cleaned_meanwhile)
        if listed:
            assert [v.version for v in table.versions()] == [1, 2, 3, 4, 5]
        else:
            with pytest.raises(ov.StorageError, match="manifest"):
                table.versions()
        assert len(calls) == min(failures + 1, 5)


def test_auto_maintenance_waits_for_writes_to_pause(tmp_path: Path) -> None:
    config = ov.MaintenanceConfig(max_small_fragments=2, min_interval=0.0, quiet_seconds=2.0)
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=config) as store:
        table = store.create_table("t")
        for i in range(12):  # a stream of writes, never 2 s apart
            table.add([_doc(i)])
            time.sleep(0.05)
        assert store._maintainer.runs == 0 and table.health().fragments == 12
        store.wait_for_maintenance("t", timeout=60)  # the stream paused: the run comes
        assert store._maintainer.runs == 1 and table.health().fragments == 1
        assert table.count() == 12


def test_a_stream_of_writes_is_maintained_after_max_delay(tmp_path: Path) -> None:
    config = ov.MaintenanceConfig(
        max_small_fragments=2, min_interval=0.0, quiet_seconds=3600.0, max_delay=0.5
    )
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=config) as store:
        table = store.create_table("t")
        deadline = time.monotonic() + 60
        i = 0
        while not store._maintainer.runs:  # never a pause of quiet_seconds
            assert time.monotonic() < deadline, "a stream of writes was never maintained"
            table.add([_doc(i)])
            i += 1
            time.sleep(0.05)
        assert table.count() == i


def test_auto_maintenance_can_be_turned_off(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t")
        _small_writes(table, 20)
        time.sleep(0.3)
        assert store._maintainer.runs == 0 and table.health().fragments == 20


def test_maintenance_never_wastes_a_running_build(tmp_path: Path) -> None:
    config = ov.MaintenanceConfig(
        max_fragments=2, max_small_fragments=2, min_interval=0.0, quiet_seconds=0.0
    )
    with ov.VectorStore(
        tmp_path,
        dimension=DIM,
        maintenance=config,
        index_builds=ov.IndexBuildConfig(executor="thread"),
    ) as store:
        table = store.create_table("t")
        rng = np.random.default_rng(0)
        table.add([{"id": str(i), "vector": rng.random(DIM)} for i in range(2000)])
        build = table.create_index(kind="IVF_PQ", num_partitions=2, background=True)
        assert isinstance(build, ov.IndexBuild)
        for i in range(10):
            table.add([{"id": f"x{i}", "vector": rng.random(DIM)}])
        assert build.result(timeout=120) is not None
        assert table.count() == 2010


def test_version_timestamps_are_timezone_aware(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pylance reports naive local time: a zone far from UTC shows whether it is converted
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    time.tzset()
    try:
        with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
            table = store.create_table("t")
            table.add([_doc(1)])
            now = datetime.now(UTC)
            for version in table.versions():
                assert version.timestamp.utcoffset() == timedelta(0)
                assert abs(version.timestamp - now) < timedelta(minutes=1)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_checkout_is_read_only_and_restore_brings_it_back(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t")
        table.add([_doc(1), _doc(2)])
        table.tag("two-docs")
        first = table.version
        table.delete(["d1"])
        view = table.checkout(first)
        assert view.read_only and view.count() == 2
        assert view.search([1.5] * DIM, k=1).ids == ["d1"]
        with pytest.raises(ov.ReadOnlyError, match="read-only"):
            view.add([_doc(3)])
        assert table.tags() == {"two-docs": first}
        table.restore("two-docs")
        assert table.count() == 2 and table.version > first
        with pytest.raises(ov.VersionNotFoundError):
            table.checkout(999)
        with pytest.raises(ov.VersionNotFoundError):
            table.checkout("no-such-tag")
        operations = [v.operation for v in table.versions()]
        assert "Delete" in operations and table.versions()[-1].rows == 2


def test_schema_evolution(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t", fields={"n": "int64"})
        table.add([{**_doc(i), "n": i} for i in range(10)])
        table.add_columns({"score": "float64"})
        table.add_columns({"double": "n * 2"}, expressions=True)
        assert table.fields == {"n": "int64", "score": "float64", "double": "int64"}
        table.add([{**_doc(20), "n": 20, "score": 0.5, "double": 40}])
        assert table.count({"double": {"$gte": 10}}) == 6
        table.alter_columns({"path": "score", "name": "quality"})
        assert "quality" in table.fields and "score" not in table.fields
        table.drop_columns(["double"])
        assert table.fields == {"n": "int64", "quality": "float64"}
        assert store.table("t").fields == table.fields  # recorded in the table
        for bad in (
            lambda: table.drop_columns(["vector"]),
            lambda: table.alter_columns({"path": "id", "name": "key"}),
            lambda: table.add_columns({"text": "string"}),
            lambda: table.add_columns({"x": "decimal"}),
            lambda: table.drop_columns(["missing"]),
        ):
            with pytest.raises(ov.SchemaError):
                bad()


_WRITER = """
import sys, omnivector as ov
store = ov.VectorStore(sys.argv[1], dimension=8, maintenance=ov.MaintenanceConfig(enabled=False))
table = store.table("shared")
worker = sys.argv[2]
for i in range(25):
    table.add([{"id": f"{worker}-{i}", "vector": [float(i + 1)] * 8}])
    table.upsert([{"id": f"{worker}-u", "vector": [float(i + 1)] * 8, "text": str(i)}])
    if i % 5 == 4:
        table.delete([f"{worker}-{i - 1}"])
store.close()
"""


def test_writers_in_several_processes_lose_nothing(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        store.create_table("shared")
    workers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), f"w{n}"]) for n in range(3)
    ]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0]
    with ov.VectorStore(tmp_path) as store:
        table = store.table("shared")
        ids = {d["id"] for d in table.iter_documents(include_vector=False)}
        for n in range(3):
            deleted = {f"w{n}-{i - 1}" for i in range(25) if i % 5 == 4}
            expected = {f"w{n}-{i}" for i in range(25)} - deleted | {f"w{n}-u"}
            assert {i for i in ids if i.startswith(f"w{n}-")} == expected
            assert table.get([f"w{n}-u"])[0]["text"] == "24"
        assert table.count() == len(ids)


def test_compaction_commits_while_small_writes_keep_coming(tmp_path: Path) -> None:
    import threading

    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t")
        _small_writes(table, 30)
        stop = threading.Event()

        def writer() -> None:
            step = 0
            while not stop.is_set():
                table.upsert([{**_doc(step % 30), "text": f"v{step}"}])
                step += 1

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            result = table.compact()
        finally:
            stop.set()
            thread.join()
        assert result.fragments_removed > 0
        assert table.count() == 30


def test_maintenance_benchmark_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnivector.bench import run_suite

    monkeypatch.setenv("OMNIVECTOR_BENCH_SCALE", "0.004")
    result = run_suite("maintenance", quick=True, echo=lambda _: None)
    on = result["auto-maintenance on"]
    assert on["rows"] == result["rows"] - len(
        {(s * 7919) % result["rows"] for s in range(result["deletes"])}
    )
    assert on["space_amplification"] > 0 and on["writes_per_s"] > 0


def test_versions_can_be_listed_while_other_threads_read(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        table = store.create_table("t")
        _small_writes(table, 5)
        failures: list[BaseException] = []
        done = threading.Event()

        def read() -> None:
            try:
                while not done.is_set():
                    table.get(["x"])
            except BaseException as exc:  # reported below
                failures.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for _ in range(40):
                assert len(table.versions()) == 7
        finally:
            done.set()
            reader.join()
        assert failures == []


def test_close_runs_the_maintenance_that_is_due(tmp_path: Path) -> None:
    # min_interval holds every run after the first one back: only close() can run it
    config = ov.MaintenanceConfig(max_small_fragments=4, keep_seconds=0.0, min_interval=3600.0)
    store = ov.VectorStore(tmp_path, dimension=DIM, maintenance=config)
    _small_writes(store.create_table("t"), 12)
    store.close()
    with ov.VectorStore(tmp_path, maintenance=OFF) as reopened:
        health = reopened.table("t").health()
    assert health.rows == 12
    assert health.fragments <= 4 and health.versions <= config.keep_versions


def test_wait_for_maintenance_waits_for_the_run_that_opening_a_due_table_starts(
    tmp_path: Path,
) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM, maintenance=OFF) as store:
        _small_writes(store.create_table("t"), 12)
    with ov.VectorStore(tmp_path) as store:
        table = store.table("t")
        assert store.wait_for_maintenance("t", timeout=60)
        assert table.health().fragments == 1 and table.count() == 12
