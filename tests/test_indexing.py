"""Index management: kinds, the auto policy, background handles, serialization."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from omnivector.indexing import EXACT_SEARCH_MAX_ROWS
from tests.conftest import DIM, FIELDS, make_docs


def built(table: ov.Table) -> list[ov.IndexInfo]:
    """The table's indexes but the full-text index on "text" every table gets when created."""
    return [i for i in table.indexes() if i.name != "text_idx"]


@pytest.fixture
def filled(store: ov.VectorStore, rng: np.random.Generator) -> ov.Table:
    table = store.create_table("t", fields=FIELDS)
    table.add(make_docs(1200, rng))
    return table


@pytest.mark.parametrize("kind", ["IVF_FLAT", "IVF_PQ", "IVF_SQ", "IVF_HNSW_SQ"])
def test_vector_index_kinds_build_and_answer(
    filled: ov.Table, rng: np.random.Generator, kind: str
) -> None:
    info = filled.create_index(kind=kind, num_partitions=2)
    assert isinstance(info, ov.IndexInfo) and info.kind == kind
    assert info.indexed_rows == 1200 and info.unindexed_rows == 0
    doc = filled.get(["doc-77"])[0]
    assert filled.search(doc["vector"], k=5).ids[0] == "doc-77"


def test_auto_keeps_exact_search_for_small_tables_and_says_why(
    filled: ov.Table, caplog: pytest.LogCaptureFixture
) -> None:
    assert filled.count() < EXACT_SEARCH_MAX_ROWS
    with caplog.at_level(logging.INFO, logger="omnivector"):
        skipped = filled.create_index()
    assert isinstance(skipped, ov.IndexSkipped) and not skipped
    assert (skipped.table, skipped.column) == ("t", "vector")
    assert "1200 rows" in skipped.reason and "exact search" in skipped.reason
    assert skipped.reason in caplog.text
    build = filled.create_index(background=True)
    assert isinstance(build, ov.IndexBuild) and build.done() and build.skipped == skipped
    assert build.progress["stage"] == skipped.reason and build.table == "t"
    assert built(filled) == []


def test_index_parameters_are_validated(filled: ov.Table, store: ov.VectorStore) -> None:
    with pytest.raises(ov.InvalidInputError, match="unknown vector index kind"):
        filled.create_index(kind="HNSW_MAGIC")
    with pytest.raises(ov.InvalidInputError, match="metric"):
        filled.create_index(kind="IVF_FLAT", metric="l2")
    small = store.create_table("small")
    small.add([{"id": "a", "vector": [1.0] * DIM}])
    with pytest.raises(ov.InvalidInputError, match="at least"):
        small.create_index(kind="IVF_PQ")


def test_scalar_index_auto_kinds(filled: ov.Table) -> None:
    assert filled.create_scalar_index("category").kind == "BITMAP"  # type: ignore[union-attr]
    assert filled.create_scalar_index("id").kind == "BTREE"  # type: ignore[union-attr]
    assert filled.create_scalar_index("tags").kind == "LABEL_LIST"  # type: ignore[union-attr]
    assert filled.create_btree_index("year").kind == "BTREE"
    names = {i.name for i in built(filled)}
    assert names == {"category_idx", "id_idx", "tags_idx", "year_idx"}
    assert filled.count({"category": "paper", "tags": {"$contains": "t1"}}) == sum(
        1
        for d in filled.iter_documents(include_vector=False)
        if d["category"] == "paper" and "t1" in d["tags"]
    )
    with pytest.raises(ov.InvalidInputError, match="label_list"):
        filled.create_scalar_index("year", kind="label_list")
    with pytest.raises(ov.InvalidInputError, match="cannot index"):
        filled.create_scalar_index("metadata")


def test_drop_index(filled: ov.Table) -> None:
    filled.create_scalar_index("year")
    filled.drop_index("year_idx")
    assert built(filled) == []
    with pytest.raises(ov.IndexNotFoundError):
        filled.drop_index("year_idx")
    filled.drop_index("year_idx", missing_ok=True)


def test_background_build_returns_at_once_and_reports(filled: ov.Table) -> None:
    started = time.perf_counter()
    build = filled.create_index(kind="IVF_PQ", num_partitions=2, background=True)
    elapsed = time.perf_counter() - started
    assert isinstance(build, ov.IndexBuild)
    assert elapsed < 0.5  # the benchmark checks the 10 ms target; this only guards blocking
    assert build.status in ("queued", "running", "succeeded")
    seen: list[str] = []
    build.add_done_callback(lambda b: seen.append(b.status))
    info = build.result(timeout=120)
    assert build.done() and build.status == "succeeded" and seen == ["succeeded"]
    assert info is not None and info.kind == "IVF_PQ"
    assert build.progress["fraction"] == 1.0
    assert build in filled._builder.builds()


def test_queries_answer_completely_while_a_build_runs(
    filled: ov.Table, rng: np.random.Generator
) -> None:
    build = filled.create_index(kind="IVF_HNSW_SQ", num_partitions=1, background=True)
    assert isinstance(build, ov.IndexBuild)
    filled.add(make_docs(50, rng, start=5000))  # writes succeed during the build
    while not build.done():
        assert filled.count() == 1250
        assert filled.search(filled.get(["doc-5010"])[0]["vector"], k=1).ids == ["doc-5010"]
    build.result()
    index = built(filled)[0]
    assert index.unindexed_rows in (0, 50)
    assert filled.search(filled.get(["doc-5020"])[0]["vector"], k=1).ids == ["doc-5020"]


def test_same_request_returns_the_running_handle(filled: ov.Table) -> None:
    first = filled.create_index(kind="IVF_FLAT", num_partitions=2, background=True)
    second = filled.create_index(kind="IVF_FLAT", num_partitions=2, background=True)
    assert first is second or (isinstance(first, ov.IndexBuild) and first.done())
    assert isinstance(first, ov.IndexBuild)
    first.result(timeout=120)


def test_failed_build_raises_from_result_and_is_logged(
    filled: ov.Table, caplog: pytest.LogCaptureFixture
) -> None:
    build = filled.create_index(
        kind="IVF_PQ", num_partitions=2, num_sub_vectors=5, background=True
    )  # 16 is not divisible by 5
    assert isinstance(build, ov.IndexBuild)
    with pytest.raises(ov.IndexBuildError, match="IVF_PQ"):
        build.result(timeout=120)
    assert build.status == "failed" and isinstance(build.exception(), ov.IndexBuildError)
    assert any("failed" in r.getMessage() for r in caplog.records)
    assert built(filled) == []


def test_cancel_leaves_the_table_unchanged(filled: ov.Table) -> None:
    version = filled.version
    blocker = filled.create_index(kind="IVF_FLAT", num_partitions=2, background=True)
    queued = filled.create_index(kind="IVF_SQ", num_partitions=2, background=True)
    assert isinstance(queued, ov.IndexBuild) and isinstance(blocker, ov.IndexBuild)
    assert queued.cancel() or queued.done()
    with pytest.raises(ov.IndexBuildCancelledError):
        queued.result(timeout=60)
    blocker.result(timeout=120)
    assert [i.kind for i in built(filled)] == ["IVF_FLAT"]
    assert filled.version == version + 1  # only the first vector index committed


def test_awaitable_and_await_pending(filled: ov.Table, store: ov.VectorStore) -> None:
    build = store.create_index_background("t", kind="IVF_FLAT", num_partitions=2)
    other = store.create_index_background("t", column="year", kind="btree")

    async def wait() -> ov.IndexInfo | None:
        return await build

    info = asyncio.run(wait())
    assert info is not None and info.kind == "IVF_FLAT"
    store.await_pending_index_builds(timeout=120)
    assert other.status == "succeeded"


def test_worker_process_build_and_cancel(tmp_path: Path, rng: np.random.Generator) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM) as store:  # default: worker process
        table = store.create_table("t")
        docs = make_docs(1000, rng)
        for doc in docs:
            for key in ("category", "year", "tags"):
                doc.pop(key)
        table.add(docs)
        build = table.create_index(kind="IVF_PQ", num_partitions=2, background=True)
        assert isinstance(build, ov.IndexBuild)
        assert build.result(timeout=120) is not None
        assert built(table)[0].kind == "IVF_PQ"
        version = table.version
        slow = table.create_index(kind="IVF_HNSW_PQ", num_partitions=1, background=True)
        assert isinstance(slow, ov.IndexBuild)
        while slow.status == "queued":
            time.sleep(0.01)
        slow.cancel()
        assert slow.wait(60) and slow.status in ("cancelled", "succeeded")
        if slow.status == "cancelled":
            assert table.version == version and built(table)[0].kind == "IVF_PQ"


def test_close_waits_for_running_builds(tmp_path: Path, rng: np.random.Generator) -> None:
    store = ov.VectorStore(
        tmp_path, dimension=DIM, index_builds=ov.IndexBuildConfig(executor="thread")
    )
    table = store.create_table("t", fields=FIELDS)
    table.add(make_docs(800, rng))
    build = table.create_index(kind="IVF_FLAT", num_partitions=2, background=True)
    store.close()
    assert isinstance(build, ov.IndexBuild) and build.status == "succeeded"


def test_compaction_and_builds_are_serialized(filled: ov.Table, rng: np.random.Generator) -> None:
    for start in range(2000, 2400, 40):
        filled.add(make_docs(40, rng, start=start))
    build = filled.create_index(kind="IVF_PQ", num_partitions=2, background=True)
    filled.compact()  # waits for the build's lock instead of wasting the build
    assert isinstance(build, ov.IndexBuild)
    assert build.result(timeout=120) is not None
    assert filled.count() == 1600


def test_auto_index_builds_what_is_missing(filled: ov.Table) -> None:
    made = filled.auto_index()
    kinds = sorted(i.kind for i in made if isinstance(i, ov.IndexInfo))
    assert "BTREE" in kinds  # the full-text index came with the table
    assert "INVERTED" in {i.kind for i in filled.indexes()}
    assert filled.auto_index() == []  # nothing left to build
    assert filled.search(text="lance vector", k=3)


def test_new_rows_are_folded_in_incrementally(filled: ov.Table, rng: np.random.Generator) -> None:
    filled.create_index(kind="IVF_FLAT", num_partitions=2)
    filled.add(make_docs(30, rng, start=9000))
    assert built(filled)[0].unindexed_rows == 30
    filled.optimize_indexes()
    assert built(filled)[0].unindexed_rows == 0
    assert all(i.unindexed_rows == 0 for i in filled.indexes())  # the full-text one too


def test_ivf_rq_needs_a_dimension_divisible_by_8(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=12) as store:
        table = store.create_table("t")
        rng = np.random.default_rng(0)
        table.add([{"id": str(i), "vector": rng.standard_normal(12)} for i in range(300)])
        with pytest.raises(ov.InvalidInputError, match="divisible by 8"):
            table.create_index(kind="IVF_RQ")
        assert built(table) == []
