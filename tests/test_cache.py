"""The connection pool: LRU bounds, freshness, thread safety, byte budgets."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from tests.conftest import DIM


def _store(path: Path, **cache: object) -> ov.VectorStore:
    # Auto-maintenance would touch tables from its own thread and move the counters.
    return ov.VectorStore(
        path,
        dimension=DIM,
        cache=ov.DatasetCacheConfig(**cache),  # type: ignore[arg-type]
        maintenance=ov.MaintenanceConfig(enabled=False),
    )


def _doc(doc_id: str, value: float = 1.0) -> dict[str, object]:
    return {"id": doc_id, "vector": [value] * DIM}


def test_least_recently_used_tables_are_evicted_and_reopen(tmp_path: Path) -> None:
    with _store(tmp_path, max_cached_tables=2) as store:
        for name in ("a", "b", "c"):
            store.create_table(name).add([_doc(name)])
        assert store.cache_info().open_tables == 2
        assert store.evict("a") is False  # "a" was the least recent: already evicted
        store.table("b").count()  # b is now most recent, c least recent
        store.table("a").count()  # reopening a evicts c
        info = store.cache_info()
        assert info.open_tables == 2 and info.max_tables == 2
        assert store.evict("c") is False and store.evict("b") is True
        assert store.table("c").get(["c"])[0]["id"] == "c"
        assert store.cache_info().evictions >= 3


def test_counters_and_clear(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.create_table("t").add([_doc("x")])
        store.clear_cache()
        before = store.cache_info()
        store.table("t").count()
        store.table("t").count()
        after = store.cache_info()
        assert after.misses == before.misses + 1 and after.hits > before.hits
        assert after.opens == before.opens + 1 and after.open_tables == 1
        assert after.session_bytes > 0


def test_eviction_does_not_break_an_operation_holding_the_handle(tmp_path: Path) -> None:
    with _store(tmp_path, max_cached_tables=1) as store:
        table = store.create_table("a")
        table.add([_doc(f"d{i}", (i + 1) / 10) for i in range(50)])
        dataset = store.open_dataset("a")
        store.create_table("b")  # evicts "a"
        assert "a" not in store._datasets._pool._entries
        assert dataset.count_rows() == 50  # the held handle still works
        assert table.search([0.3] * DIM, k=1).ids


def test_unbounded_pool(tmp_path: Path) -> None:
    with _store(tmp_path, max_cached_tables=None) as store:
        for i in range(20):
            store.create_table(f"t{i}")
        assert store.cache_info().open_tables == 20
        assert store.cache_info().evictions == 0


def test_threads_hammering_more_tables_than_the_cap(tmp_path: Path) -> None:
    tables = [f"t{i}" for i in range(12)]
    errors: list[BaseException] = []
    with _store(tmp_path, max_cached_tables=4) as store:
        for name in tables:
            store.create_table(name)

        def work(worker: int) -> None:
            rng = np.random.default_rng(worker)
            try:
                for step in range(15):
                    table = store.table(tables[(worker * 5 + step) % len(tables)])
                    table.add([{"id": f"w{worker}-{step}", "vector": rng.random(DIM)}])
                    table.search(rng.random(DIM), k=3)
                    table.count()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(store.table(name).count() for name in tables) == 6 * 15
        assert store.cache_info().open_tables <= 4


def test_commits_by_another_process_are_seen_on_the_next_call(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        table = store.create_table("t")
        table.add([_doc("a")])
        assert table.count() == 1
        script = (
            "import omnivector as ov, sys\n"
            f"s = ov.VectorStore(sys.argv[1], dimension={DIM})\n"
            f"s.table('t').add([{{'id': 'from-child', 'vector': [0.5] * {DIM}}}])\n"
            "s.close()\n"
        )
        subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
        assert table.count() == 2
        assert table.get(["from-child"])[0]["id"] == "from-child"
        assert store.cache_info().refreshes >= 1


def test_rapid_commits_by_another_writer_are_never_missed(tmp_path: Path) -> None:
    # Commits land within one clock tick of the reader's last check: the reader must not
    # take an unchanged directory stamp for "nothing new".
    with _store(tmp_path) as reader, _store(tmp_path) as writer:
        reader.create_table("t")
        for expected in range(1, 41):
            writer.table("t").add([_doc(f"d{expected}")])
            assert reader.table("t").count() == expected
            if expected % 10 == 0:
                time.sleep(0.15)  # let the reader trust the stamp, then commit again
                assert reader.table("t").count() == expected
                assert reader._datasets._pool._entries["t"].stamp is not None


def test_quiet_local_table_is_not_listed_on_every_call(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.create_table("t").add([_doc("a")])
        time.sleep(0.15)
        store.open_dataset("t")
        store.open_dataset("t")  # records a trusted stamp
        cached = store._datasets._pool._entries["t"]
        assert cached.stamp is not None
        dataset = store.open_dataset("t")
        assert dataset is cached.dataset
        assert store.table("t").count() == 1


def test_a_table_created_again_elsewhere_at_the_same_version_is_seen(tmp_path: Path) -> None:
    with _store(tmp_path) as reader, _store(tmp_path) as writer:
        reader.create_table("t").add([_doc("old")])
        time.sleep(0.15)
        reader.open_dataset("t")
        reader.open_dataset("t")  # a trusted stamp for the old table
        version = reader.table("t").version
        writer.drop_table("t")
        writer.create_table("t").add([_doc("new")])
        table = reader.table("t")
        assert table.version == version  # same version number, other contents
        assert [d["id"] for d in table.iter_documents(include_vector=False)] == ["new"]


def test_session_stays_within_its_byte_budgets(tmp_path: Path) -> None:
    budget = 2 << 20
    with _store(
        tmp_path, max_cached_tables=8, index_cache_bytes=budget, metadata_cache_bytes=budget
    ) as store:
        rng = np.random.default_rng(0)
        for i in range(40):
            table = store.create_table(f"t{i}")
            table.add(
                [
                    {"id": f"d{j}", "vector": rng.random(DIM), "text": f"word{j} common"}
                    for j in range(300)
                ]
            )
            table.create_scalar_index("id")
            table.search(rng.random(DIM), k=3, where={"id": "d7"})
            table.search(text="common", k=3)
        info = store.cache_info()
        assert info.session_bytes <= 2 * budget + (1 << 20)
        assert info.open_tables <= 8


def test_open_and_evict_are_logged_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _store(tmp_path, max_cached_tables=1) as store:
        store.create_table("a")
        store.create_table("b")
        store.clear_cache()
        with caplog.at_level(logging.DEBUG, logger="omnivector.storage.pool"):
            store.table("a")
            store.table("b")
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "opened table a" in messages and "evicted table a" in messages


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_cached_tables": 0},
        {"max_cached_tables": True},
        {"index_cache_bytes": -1},
        {"refresh_interval": -1.0},
    ],
)
def test_bad_cache_config_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ov.InvalidInputError):
        ov.DatasetCacheConfig(**kwargs)  # type: ignore[arg-type]
