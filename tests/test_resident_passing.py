"""Vector queries that go to Lance while a graph loads run in a Lance session of their own,
let go once the graph answers: Lance's vector index does not stay in memory beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from omnivector.resident.passing import MAX_HANDLES
from tests.conftest import DIM, arrow_docs

ROWS = 1_500
QUIET = ov.MaintenanceConfig(enabled=False)


def _store(path: Path, resident: ov.ResidentConfig | bool) -> ov.VectorStore:
    return ov.VectorStore(path, dimension=DIM, maintenance=QUIET, resident=resident)


def _indexed(store: ov.VectorStore, name: str, vectors: np.ndarray) -> ov.Table:
    table = store.create_table(name, fields={"category": "string"})
    table.add(arrow_docs(vectors))
    table.create_index(kind="IVF_FLAT", num_partitions=4)
    return table


def _info(store: ov.VectorStore) -> ov.ResidentInfo:
    info = store.resident_info()
    assert info is not None
    return info


def _config(**settings: Any) -> ov.ResidentConfig:
    return ov.ResidentConfig(**{"min_rows": 100, "load_after": 1_000, **settings})


@pytest.fixture
def vectors(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((ROWS, DIM)).astype(np.float32)


def test_queries_before_the_graph_leave_no_index_in_the_shared_session(
    tmp_path: Path, vectors: np.ndarray
) -> None:
    with _store(tmp_path / "lance", False) as lance_only:
        table = _indexed(lance_only, "t", vectors)
        before = lance_only.cache_info().session_bytes
        expected = [table.search(v, k=5).ids for v in vectors[:3]]
        index_bytes = lance_only.cache_info().session_bytes - before
    with _store(tmp_path / "resident", _config(release_lance_after=0)) as store:
        table = _indexed(store, "t", vectors)
        before = store.cache_info().session_bytes
        assert [table.search(v, k=5).ids for v in vectors[:3]] == expected
        # the IVF index went into the queries' own session, not the shared one
        assert _info(store).lance_bytes >= index_bytes > 0
        assert store.cache_info().session_bytes - before < index_bytes / 2
        assert _info(store).passed_to_lance == 3
        assert table.load_resident(timeout=60) is not None
        assert table.search(vectors[3], k=1).ids == ["d3"]  # answered: the session goes
        assert _info(store).answered == 1 and _info(store).lance_bytes == 0


def test_the_session_stays_while_the_graph_follows_writes(
    tmp_path: Path, vectors: np.ndarray, rng: np.random.Generator
) -> None:
    with _store(tmp_path / "store", _config(release_lance_after=3600)) as store:
        table = _indexed(store, "t", vectors)
        table.search(vectors[0], k=1)
        assert table.load_resident(timeout=60) is not None
        assert table.search(vectors[1], k=1).ids == ["d1"]
        assert _info(store).lance_bytes > 0  # kept within the linger time
        extra = rng.standard_normal((1, DIM)).astype(np.float32)
        table.add([{"id": "new", "vector": extra[0]}])
        # the graph is behind the table: Lance answers, through the same session
        assert table.search(extra[0], k=1).ids == ["new"]
        assert _info(store).lance_bytes > 0
        store.drop_table("t")
        assert _info(store).lance_bytes == 0  # a dropped table's session goes with it


def test_tables_without_a_graph_use_the_shared_session(tmp_path: Path, vectors: np.ndarray) -> None:
    # too small for a graph: its queries stay with the shared session, as they always will
    with _store(tmp_path / "small", _config(min_rows=ROWS + 1)) as store:
        table = _indexed(store, "t", vectors)
        shared = store.cache_info().session_bytes
        assert table.search(vectors[0], k=1).ids == ["d0"]
        assert _info(store).lance_bytes == 0
        assert store.cache_info().session_bytes > shared
    # at most MAX_HANDLES tables hold a session of their own; the others share
    with _store(tmp_path / "many", _config()) as store:
        tables = [_indexed(store, f"t{i}", vectors) for i in range(MAX_HANDLES + 1)]
        for table in tables[:MAX_HANDLES]:
            table.search(vectors[0], k=1)
        shared = store.cache_info().session_bytes
        held = _info(store).lance_bytes
        assert held > 0
        assert tables[-1].search(vectors[1], k=1).ids == ["d1"]
        assert store.cache_info().session_bytes > shared
        assert _info(store).lance_bytes == held


def test_release_lance_after_is_checked() -> None:
    with pytest.raises(ov.InvalidInputError, match="release_lance_after"):
        ov.ResidentConfig(release_lance_after=-1)
