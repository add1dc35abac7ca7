"""Ingest, index builds and compaction on a local Ray cluster (lance-ray), served by omnivector.

One small local cluster (2 CPUs) serves the whole module and is shut down at its end.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import omnivector as ov
from omnivector.bench.data import brute_force_topk, clustered_vectors, recall_at_k
from tests.conftest import arrow_docs

# Ray forks (then execs) its own processes, which Lance warns about; Ray Data sets its own
# deprecated options.
pytestmark = [
    pytest.mark.filterwarnings("ignore:lance is not fork-safe:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
]

# `make test` runs pytest under `uv run`; Ray must start its workers with this interpreter.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
DIM = 32
ENGINE = ov.RayEngine(num_workers=2)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    pytest.importorskip("lance_ray")
    # address="local": a cluster of its own, never one that another process started here
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


def _open(path: Path) -> ov.VectorStore:
    return ov.VectorStore(
        path,
        index_builds=ov.IndexBuildConfig(executor="thread"),
        maintenance=ov.MaintenanceConfig(enabled=False),
    )


def _cli(store: ov.VectorStore, *args: str) -> Any:
    from typer.testing import CliRunner

    from omnivector.cli import app

    result = CliRunner().invoke(app, ["--json", "--store", store.path, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _data_files(store: ov.VectorStore, name: str) -> set[str]:
    return {p.name for p in (Path(store.path) / f"{name}.lance" / "data").iterdir()}


def test_ingest_compact_index_and_search(ray_cluster: Any, tmp_path: Path) -> None:
    ray = ray_cluster
    vectors = clustered_vectors(5000, DIM, clusters=20, seed=3)
    with _open(tmp_path / "store") as store:
        table = store.create_table("docs", dimension=DIM, fields={"category": "string"})
        # a Ray Dataset in 8 blocks: 8 write tasks, 8 fragments
        source = ray.data.from_arrow(
            [arrow_docs(vectors[i : i + 500], i) for i in range(0, 4000, 500)]
        )
        written = table.add(source, engine=ENGINE)
        assert written.inserted == 4000 and table.count() == 4000
        # local input (rows as dicts) through the same engine
        rows = arrow_docs(vectors[4000:], 4000).to_pylist()
        assert table.add(rows, engine="ray").inserted == 1000
        assert table.count() == 5000 and table.count({"category": "paper"}) == 1667
        assert table.get(["d4999"])[0]["metadata"] == {"n": 4999}

        # ids must be new: nothing is committed and the written files are removed
        files = _data_files(store, "docs")
        with pytest.raises(ov.DuplicateIdError, match="already exist") as caught:
            table.add(arrow_docs(vectors[:3], 4998)[1:], engine=ENGINE)
        assert caught.value.ids == ["d4999"]
        assert table.count() == 5000 and _data_files(store, "docs") == files

        # the layout is the table's: schema, encodings, storage version
        dataset = table.dataset()
        assert dataset.schema == table.spec.arrow_schema()
        assert dataset.data_storage_version == table.storage.storage_version
        assert len(dataset.get_fragments()) >= 9

        # compaction and the scalar index through the CLI (tbl.compact / create_scalar_index),
        # with one worker each: every lance-ray call starts its worker processes anew
        compacted = _cli(store, "compact", "docs", "--engine", "ray", "--workers", "1",
                         "--target-rows", "10000")  # fmt: skip
        assert compacted["fragments_removed"] >= 9 and compacted["fragments_added"] >= 1
        assert compacted["engine"] == "ray"
        assert len(table.dataset().get_fragments()) < 9 and table.count() == 5000

        built = table.create_index(kind="IVF_PQ", engine=ENGINE)
        assert isinstance(built, ov.IndexInfo) and built.kind == "IVF_PQ"
        scalar = _cli(
            store, "index", "create", "docs", "--column", "category", "--engine", "ray",
            "--workers", "1",
        )  # fmt: skip
        assert scalar["index"]["kind"] == "BITMAP" and scalar["index"]["indexed_rows"] == 5000

    # a new store opens and serves the table as it is
    with _open(tmp_path / "store") as store:
        table = store.table("docs")
        indexes = {i.name: i for i in table.indexes()}
        text = indexes.pop("text_idx")  # folded by the CLI's maintenance, or not yet
        assert text.kind == "INVERTED" and text.indexed_rows + text.unindexed_rows == 5000
        assert {n: (i.kind, i.indexed_rows, i.unindexed_rows) for n, i in indexes.items()} == {
            "vector_idx": ("IVF_PQ", 5000, 0),
            "category_idx": ("BITMAP", 5000, 0),
        }
        queries = vectors[::250] + 0.01
        truth = brute_force_topk(vectors, queries, 10, "cosine")
        found = [[int(h.id[1:]) for h in table.search(q, k=10)] for q in queries]
        assert recall_at_k(found, truth, 10) >= 0.9
        assert table.search(vectors[42], k=1).ids == ["d42"]
        filtered = table.search(vectors[42], k=5, where={"category": "note"})
        assert filtered.ids and all(h.id != "d42" for h in filtered)  # d42 is a paper
        assert table.count({"category": "blog"}) == 1667


def test_upsert_replaces_documents_in_one_commit(ray_cluster: Any, tmp_path: Path) -> None:
    ray = ray_cluster
    vectors = clustered_vectors(1300, DIM, clusters=10, seed=5)
    with _open(tmp_path / "store") as store:
        table = store.create_table("docs", dimension=DIM, fields={"category": "string"})
        table.add(arrow_docs(vectors[:500]))  # fragment 0: d0..d499
        table.add(arrow_docs(vectors[500:1000], 500))  # fragment 1: d500..d999
        table.create_index(kind="IVF_FLAT", num_partitions=4)
        before = table.version

        # every row of fragment 0, 200 of fragment 1 and 300 new ids, in 4 blocks
        other = clustered_vectors(700, DIM, clusters=10, seed=9)
        changed = arrow_docs(other).set_column(
            2, "text", pa.array([f"new {i}" for i in range(700)])
        )
        fresh = arrow_docs(vectors[1000:], 1000)
        blocks = [changed.slice(0, 350), changed.slice(350), fresh.slice(0, 150), fresh.slice(150)]
        result = table.upsert(ray.data.from_arrow(blocks), engine=ENGINE)

        assert (result.updated, result.inserted) == (700, 300)
        assert table.version == before + 1  # one commit: readers never miss a document
        assert table.count() == 1300
        ids = table.to_arrow().column("id").to_pylist()
        assert len(set(ids)) == 1300
        assert table.get(["d0"])[0]["text"] == "new 0"
        assert table.get(["d699"])[0]["text"] == "new 699"
        assert table.get(["d700"])[0]["text"].startswith("document 700 ")
        fragments = {f.fragment_id for f in table.dataset().get_fragments()}
        assert 0 not in fragments and 1 in fragments  # emptied fragment 0 is dropped
        # the index still answers, for new vectors and old, and with a filter
        assert table.search(other[5], k=1).ids == ["d5"]
        assert table.search(vectors[800], k=1).ids == ["d800"]
        assert table.search(vectors[1200], k=1, where={"category": "paper"}).ids == ["d1200"]

        # repeated ids are refused: nothing committed, the written files removed
        files = _data_files(store, "docs")
        repeated = ray.data.from_arrow([arrow_docs(vectors[:5]), arrow_docs(vectors[:5])])
        with pytest.raises(ov.DuplicateIdError, match="more than once"):
            table.upsert(repeated, engine=ENGINE)
        assert table.version == before + 1 and _data_files(store, "docs") == files

        # local input through the same engine
        assert table.upsert(arrow_docs(vectors[:2]).to_pylist(), engine="ray").updated == 2
        assert table.get(["d1"])[0]["text"].startswith("document 1 ")


def test_rejected_input_writes_nothing(ray_cluster: Any, tmp_path: Path) -> None:
    ray = ray_cluster
    vectors = clustered_vectors(40, DIM, seed=5)
    with _open(tmp_path / "store") as store:
        table = store.create_table("t", dimension=DIM, fields={"category": "string"})
        # the same id in two blocks
        repeated = ray.data.from_arrow([arrow_docs(vectors[:20]), arrow_docs(vectors[20:], 19)])
        with pytest.raises(ov.DuplicateIdError, match="more than once") as caught:
            table.add(repeated, engine=ENGINE)
        assert caught.value.ids == ["d19"]
        # a wrong width, found by a worker, comes back as the library's error
        narrow = ray.data.from_items([{"id": "x", "vector": np.ones(DIM - 1, np.float32)}])
        with pytest.raises(ov.DimensionMismatchError):
            table.add(narrow, engine=ENGINE)
        assert table.count() == 0
        assert not (Path(store.path) / "t.lance" / "data").exists() or not _data_files(store, "t")
        # numpy vectors (Ray tensor columns) are accepted
        items = [{"id": f"v{i}", "vector": vectors[i]} for i in range(5)]
        assert table.add(ray.data.from_items(items), engine=ENGINE).inserted == 5
        assert table.search(vectors[3], k=1).ids == ["v3"]


def test_bench_suite_compares_ray_with_local(
    ray_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnivector.bench import run_suite

    monkeypatch.setenv("OMNIVECTOR_BENCH_ROWS", "1000")
    monkeypatch.setenv("OMNIVECTOR_BENCH_KINDS", "IVF_FLAT")
    monkeypatch.setenv("OMNIVECTOR_BENCH_RAY_CPUS", "1")  # one worker: one process to start
    result = run_suite("distributed", quick=True, echo=lambda _: None)
    assert result["ray_start_s"] is None  # the running cluster was used, and left running
    assert [r["engine"] for r in result["ingest"]] == ["local", "ray"]
    builds = {r["engine"]: r for r in result["builds"]}
    assert builds["local"]["recall@10"] > 0.8 and builds["ray"]["recall@10"] > 0.8
    assert builds["ray"]["segments"] >= 1 and builds["ray"]["build_s"] > 0
    assert ray_cluster.is_initialized()


def test_engine_arguments_are_checked(store: ov.VectorStore) -> None:
    table = store.create_table("t")
    with pytest.raises(ov.InvalidInputError, match="engine must be"):
        table.compact(engine="spark")  # type: ignore[arg-type]
    with pytest.raises(ov.InvalidInputError, match="blocks"):
        table.create_index(kind="IVF_FLAT", engine="ray", background=True)
    with pytest.raises(ov.InvalidInputError, match="num_workers"):
        ov.RayEngine(num_workers=0)


def test_missing_ray_says_what_to_install(
    store: ov.VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    table = store.create_table("t")
    with pytest.raises(ov.MissingDependencyError, match=r"omni-vector\[ray\]"):
        table.add([{"id": "a", "vector": [1.0] * 16}], engine="ray")
    assert isinstance(ov.MissingDependencyError("x", extra="ray"), ImportError)
