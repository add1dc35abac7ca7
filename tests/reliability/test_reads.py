"""Reads never wait on index builds and never write: text and hybrid searches answer while a
vector build holds its locks (its worker process stopped with SIGSTOP, so the build is
certainly still running), commit nothing, and give what a full-text index over every row
gives; builds of different indexes run side by side."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from tests.conftest import DIM, FIELDS, make_docs

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ov.VectorStore]:
    # a short lock timeout: code that waits for the build fails fast instead of hanging
    builds = ov.IndexBuildConfig(executor="process", lock_timeout=3.0)
    with ov.VectorStore(
        tmp_path / "s",
        dimension=DIM,
        index_builds=builds,
        maintenance=ov.MaintenanceConfig(enabled=False),
    ) as opened:
        yield opened


def _paused_build(table: ov.Table) -> tuple[ov.IndexBuild, int]:
    """A background vector build whose worker process is stopped (it holds its locks)."""
    build = table.create_index(kind="IVF_FLAT", background=True)
    assert isinstance(build, ov.IndexBuild)
    deadline = time.monotonic() + 60
    while build._process is None:
        assert time.monotonic() < deadline and not build.done(), build.exception()
        time.sleep(0.01)
    pid = build._process.pid
    os.kill(pid, signal.SIGSTOP)
    return build, pid


def test_text_and_hybrid_searches_answer_during_a_build_and_commit_nothing(
    store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table = store.create_table("docs", fields=FIELDS)
    table.add(make_docs(300, rng))
    table.add(make_docs(200, rng, start=300))
    build, pid = _paused_build(table)
    try:
        version = table.version
        text = table.search(text="lance vector", k=500)
        hybrid = table.search(rng.standard_normal(DIM), text="python index", k=5)
        phrase = table.search(text='"column search"', k=500, where={"category": "paper"})
        assert len(text) > 10 and len(hybrid) == 5 and len(phrase) > 0
        assert not build.done() and table.version == version  # nothing waited, nothing written
        # another index builds meanwhile: a scalar index and the full-text index
        assert store.table("docs").create_scalar_index("category") is not None
        assert not build.done()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert build.result(timeout=120) is not None
    # the rows no index covered were scored as a full-text index over every row scores them
    table.drop_index("text_idx")
    table.create_fts_index()
    assert _scores(table.search(text="lance vector", k=500)) == _scores(text)
    # phrases: the same documents (Lance scores them within 1% of the index's scores)
    indexed = table.search(text='"column search"', k=500, where={"category": "paper"})
    assert set(indexed.ids) == set(phrase.ids)


def _scores(hits: ov.SearchResults) -> dict[str, float]:
    return {hit.id: round(hit.score, 5) for hit in hits}


def test_a_full_text_build_runs_beside_a_vector_build(
    store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table = store.create_table("docs", fields=FIELDS)
    table.add(make_docs(400, rng))
    build, pid = _paused_build(table)
    try:
        info = table.create_fts_index(replace=True)
        assert isinstance(info, ov.IndexInfo) and info.indexed_rows == 400
        assert not build.done()
    finally:
        os.kill(pid, signal.SIGCONT)
    build.result(timeout=120)
    assert {i.name for i in table.indexes()} >= {"vector_idx", "text_idx"}


def test_a_table_without_a_text_index_is_searched_and_indexed_in_the_background(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    root = tmp_path / "s"
    # without auto-maintenance first: nothing else may commit while the read is watched
    with ov.VectorStore(root, dimension=DIM, maintenance=ov.MaintenanceConfig(enabled=False)) as s:
        table = s.create_table("docs", fields=FIELDS)
        table.add(make_docs(50, rng))
        table.drop_index("text_idx")  # as a table created before tables got one
        version = table.version
        assert table.search(text="lance", k=5).ids
        assert table.version == version  # the read itself committed nothing
        assert "text_idx" not in {i.name for i in table.indexes()}
    maintenance = ov.MaintenanceConfig(min_interval=0.0)
    builds = ov.IndexBuildConfig(executor="thread")
    with ov.VectorStore(root, maintenance=maintenance, index_builds=builds) as s:
        table = s.table("docs")  # opening the table has auto-maintenance look at it
        deadline = time.monotonic() + 60
        while "text_idx" not in {i.name for i in table.indexes()}:
            assert time.monotonic() < deadline, "auto-maintenance built no full-text index"
            time.sleep(0.05)
        s.await_pending_index_builds(timeout=60)
        assert table.search(text="lance", k=5).ids


def test_auto_maintenance_folds_text_rows_past_their_threshold(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    maintenance = ov.MaintenanceConfig(min_interval=0.0, max_unindexed_text_rows=50)
    with ov.VectorStore(tmp_path / "s", dimension=DIM, maintenance=maintenance) as s:
        table = s.create_table("docs", fields=FIELDS)
        table.add(make_docs(40, rng))  # below the threshold: scanned
        s.wait_for_maintenance("docs", timeout=60)
        [text] = [i for i in table.indexes() if i.name == "text_idx"]
        assert text.unindexed_rows == 40
        table.add(make_docs(40, rng, start=40))
        deadline = time.monotonic() + 60
        while next(i for i in table.indexes() if i.name == "text_idx").unindexed_rows:
            assert time.monotonic() < deadline, "auto-maintenance did not fold the text rows"
            time.sleep(0.05)
        assert len(table.search(text="lance", k=100)) > 0
