"""Resident graphs by default: the memory budget, LRU eviction, loads that never hold up a
query."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from omnivector.resident import config as resident_config
from omnivector.resident import graph as resident
from omnivector.resident import scann_engine as resident_scann
from tests.conftest import DIM, arrow_docs

ROWS = 1_500  # above the default min_rows
CATEGORY = {"category": "string"}
# no auto-maintenance: its commits (folding the full-text index) would send queries to Lance
# until the graph follows them, and these tests count the queries answered from memory
QUIET = ov.MaintenanceConfig(enabled=False)


def _wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _info(store: ov.VectorStore) -> ov.ResidentInfo:
    info = store.resident_info()
    assert info is not None
    return info


def test_the_default_budget_is_a_quarter_of_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    monkeypatch.setattr(resident_config, "_CGROUP_LIMIT", tmp_path / "absent")
    assert ov.ResidentConfig().max_bytes == machine // 4
    limit = tmp_path / "memory.max"
    limit.write_text("max\n")  # a cgroup without a limit
    monkeypatch.setattr(resident_config, "_CGROUP_LIMIT", limit)
    assert ov.ResidentConfig().max_bytes == machine // 4
    limit.write_text(f"{machine // 8}\n")  # a container's limit below the machine's memory
    assert ov.ResidentConfig().max_bytes == machine // 32
    assert ov.ResidentConfig(max_bytes=123).max_bytes == 123


def test_a_queried_table_is_served_from_memory_without_asking(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    with ov.VectorStore(tmp_path / "store", dimension=DIM, maintenance=QUIET) as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(vectors))
        for i in range(2):  # fewer queries than load_after: nothing loads
            assert table.search(vectors[i], k=1).ids == [f"d{i}"]
        time.sleep(0.2)
        assert _info(store).loads == 0 and _info(store).passed_to_lance == 2
        assert table.search(vectors[2], k=1).ids == ["d2"]  # the third starts the load
        _wait_for(lambda: _info(store).tables == {"t": ROWS})
        before = _info(store).answered
        assert table.search(vectors[3], k=1, where={"category": "paper"}).ids == ["d3"]
        assert _info(store).answered == before + 1
    with ov.VectorStore(tmp_path / "store", resident=False) as store:
        assert store.resident_info() is None
        assert store.table("t").search(vectors[4], k=1).ids == ["d4"]
        with pytest.raises(ov.InvalidInputError, match="resident=False"):
            store.table("t").load_resident()
    with pytest.raises(ov.InvalidInputError, match="resident"):
        ov.VectorStore(tmp_path / "store", resident="yes")  # type: ignore[arg-type]


def test_no_query_waits_for_a_load(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    release, started = threading.Event(), threading.Event()
    extend = resident.ResidentGraph.extend

    def held_extend(self: resident.ResidentGraph, *args: Any) -> None:
        started.set()
        assert release.wait(60)
        extend(self, *args)

    monkeypatch.setattr(resident.ResidentGraph, "extend", held_extend)
    with ov.VectorStore(tmp_path / "store", dimension=DIM, maintenance=QUIET) as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(vectors))
        for i in range(3):
            table.search(vectors[i], k=1)
        assert started.wait(60)  # the load is under way, and held
        for i in range(20):  # every query is answered meanwhile, by Lance
            hits = table.search(vectors[i], k=1, columns=["id"])
            assert hits.ids == [f"d{i}"]
        assert _info(store).loads == 0 and _info(store).answered == 0
        release.set()
        _wait_for(lambda: _info(store).loads == 1)
        assert table.search(vectors[5], k=1, columns=["id"]).ids == ["d5"]
        assert _info(store).answered == 1


def test_the_least_recently_used_graph_leaves_first(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    # the index, and per row 16 bytes of id, 8 of row address and 1 of liveness
    one_table = (ov.ResidentConfig().row_bytes(DIM) + 25) * ROWS
    config = ov.ResidentConfig(max_bytes=int(one_table * 2.5))
    with ov.VectorStore(tmp_path / "store", dimension=DIM, resident=config) as store:
        vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
        for name in ("a", "b", "c"):
            store.create_table(name, fields=CATEGORY).add(arrow_docs(vectors))
        assert store.table("a").load_resident(timeout=60)
        assert store.table("b").load_resident(timeout=60)
        store.table("a").search(vectors[0], k=1)  # "a" is used again: "b" is the oldest
        assert store.table("c").load_resident(timeout=60)
        assert list(_info(store).tables) == ["a", "c"]
        assert _info(store).bytes <= config.max_bytes


def test_a_table_without_a_vector_index_is_searched_exactly_from_memory(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resident_scann, "EXACT_MAX_VALUES", 0)  # codes even for few rows
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    with ov.VectorStore(tmp_path / "store", dimension=DIM, maintenance=QUIET) as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(vectors))
        assert table.load_resident(timeout=60)
        assert store._resident is not None
        index = store._resident._graphs["t"].index
        walks = []
        search = index.search
        monkeypatch.setattr(index, "search", lambda *args: walks.append(1) or search(*args))
        queries = rng.standard_normal((10, DIM)).astype(np.float32)
        for query in queries:  # exact, as Lance would answer without an index
            norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
            truth = np.argsort(1 - vectors @ query / norms)[:10]
            assert table.search(query, k=10).ids == [f"d{i}" for i in truth]
        assert not walks and _info(store).answered == len(queries)
        table.create_index(kind="IVF_FLAT", num_partitions=4)
        assert table.load_resident(timeout=60)
        table.search(queries[0], k=10)
        assert walks == [1]  # with an index, the engine's search
