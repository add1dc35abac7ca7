"""Resident graphs: in-memory answers (ScaNN and HNSW) checked against numpy and Lance,
freshness, budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from omnivector.core.query import VectorQuery
from omnivector.core.schema import TableSpec
from omnivector.operations import search
from omnivector.resident import scann_engine as resident_scann
from omnivector.resident.faiss_engine import locality_order
from tests.conftest import DIM, arrow_docs

ROWS = 2_000
CATEGORY = {"category": "string"}
ENGINES = ["scann", "hnsw"]
EXHAUSTIVE = {"ef": 4 * ROWS, "nprobes": 4 * ROWS, "refine_factor": 4 * ROWS}


@pytest.fixture(autouse=True)
def _as_if_indexed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables here have no Lance vector index, which makes memory answer exactly: these
    tests are about the engines, so the graph answers as for an indexed table."""
    monkeypatch.setattr(search, "has_vector_index", lambda dataset: True)


def _open(path: Path, **config: Any) -> ov.VectorStore:
    return ov.VectorStore(
        path,
        dimension=DIM,
        maintenance=ov.MaintenanceConfig(enabled=False),
        resident=ov.ResidentConfig(**{"min_rows": 100, **config}),
    )


@pytest.fixture
def resident_store(tmp_path: Path) -> Iterator[ov.VectorStore]:
    with _open(tmp_path / "store") as store:
        yield store


def _filled(
    store: ov.VectorStore, rng: np.random.Generator, *, metric: str = "cosine"
) -> tuple[ov.Table, np.ndarray]:
    """Table "t" with ROWS random documents d0..; returns it and their vectors."""
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    table = store.create_table("t", metric=metric, fields=CATEGORY)
    table.add(arrow_docs(vectors))
    return table, vectors


def _distances(matrix: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    if metric == "l2":
        return np.sqrt(((matrix - query) ** 2).sum(axis=1))
    if metric == "dot":
        return 1.0 - matrix @ query
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    return 1.0 - (matrix @ query) / norms


def _answered(store: ov.VectorStore) -> int:
    info = store.resident_info()
    assert info is not None
    return info.answered


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_graph_answers_match_exact_search(
    tmp_path: Path, rng: np.random.Generator, metric: str, engine: str
) -> None:
    with _open(tmp_path / "store", engine=engine) as store:
        _answers_match_exact_search(store, rng, metric)


def _answers_match_exact_search(
    store: ov.VectorStore, rng: np.random.Generator, metric: str
) -> None:
    table, vectors = _filled(store, rng, metric=metric)
    assert table.load_resident(timeout=60) is True
    recall = []
    for query in rng.standard_normal((20, DIM)).astype(np.float32):
        before = _answered(store)
        hits = table.search(query, k=10)
        assert _answered(store) == before + 1
        distances = _distances(vectors, query, metric)
        truth = [f"d{i}" for i in np.argsort(distances)[:10]]
        recall.append(len(set(hits.ids) & set(truth)) / 10)
        for hit in hits:  # every reported distance is the true one, in Lance's conventions
            assert hit.distance == pytest.approx(distances[int(hit.id[1:])], rel=1e-3, abs=1e-3)
            assert hit.text is not None and hit.metadata == {"n": int(hit.id[1:])}
            assert hit.fields["category"] == ["paper", "blog", "note"][int(hit.id[1:]) % 3]
    assert np.mean(recall) >= 0.95
    only_ids = table.search(vectors[7], k=3, columns=["id"])
    assert only_ids.ids[0] == "d7" and only_ids[0].text is None


def test_cosine_distances_hold_for_strided_and_huge_queries(
    resident_store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table, vectors = _filled(resident_store, rng)
    assert table.load_resident(timeout=60) is True
    strided = rng.standard_normal((DIM, 2)).astype(np.float32)[:, 0]
    huge = vectors[11] * np.float32(1e30)  # its squared norm overflows float32
    for query in (strided, huge):
        before = _answered(resident_store)
        hits = table.search(query, k=5)
        assert _answered(resident_store) == before + 1
        distances = _distances(vectors, query.astype(np.float64), "cosine")
        assert hits.ids[0] == f"d{np.argmin(distances)}"
        for hit in hits:
            assert hit.distance == pytest.approx(distances[int(hit.id[1:])], abs=1e-3)
    assert table.search(huge, k=1).ids == ["d11"]


def test_queries_before_the_load_go_to_lance_and_start_it(
    resident_store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table, vectors = _filled(resident_store, rng)
    assert table.search(vectors[3], k=1).ids == ["d3"]  # answered by Lance, load started
    info = resident_store.resident_info()
    assert info is not None and info.answered == 0 and info.passed_to_lance == 1
    assert table.load_resident(timeout=60)
    info = resident_store.resident_info()
    assert info is not None and info.tables == {"t": ROWS} and info.loads == 1
    assert 0 < info.bytes <= info.max_bytes
    # ids-only queries take a shorter path to the graph, counted the same way
    assert table.search(vectors[5], k=1, columns=["id"]).ids == ["d5"]
    table.add(arrow_docs(vectors[:1], start=ROWS))  # the graph is now behind the table
    assert table.search(vectors[5], k=1, columns=["id"]).ids == ["d5"]
    info = resident_store.resident_info()
    assert info is not None and info.answered == 1 and info.passed_to_lance == 2


def test_writes_are_seen_at_once_and_the_graph_follows(
    resident_store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table, vectors = _filled(resident_store, rng)
    assert table.load_resident(timeout=60)
    probe = rng.standard_normal(DIM).astype(np.float32)

    table.add(arrow_docs(probe[None, :], start=ROWS))  # a new fragment: added to the graph
    assert table.search(probe, k=1).ids == [f"d{ROWS}"]  # stale graph: Lance answers
    assert table.load_resident(timeout=60)
    info = resident_store.resident_info()
    assert info is not None and info.tables == {"t": ROWS + 1}
    before = _answered(resident_store)
    assert table.search(probe, k=1).ids == [f"d{ROWS}"]
    assert _answered(resident_store) == before + 1

    table.delete([f"d{ROWS}"])  # masked out of the graph
    assert f"d{ROWS}" not in table.search(probe, k=5).ids
    assert table.load_resident(timeout=60)
    assert f"d{ROWS}" not in table.search(probe, k=5).ids
    info = resident_store.resident_info()
    assert info is not None and info.tables == {"t": ROWS}

    moved = {"id": "d5", "vector": probe, "text": "moved", "category": "blog"}
    table.upsert([moved])
    assert table.load_resident(timeout=60)
    hit = table.search(probe, k=1)[0]
    assert (hit.id, hit.text) == ("d5", "moved")
    assert table.search(vectors[5], k=1).ids != ["d5"]

    table.create_scalar_index("category")  # only the version moves: the graph follows it
    assert table.load_resident(timeout=60)
    before = _answered(resident_store)
    assert table.search(probe, k=1).ids == ["d5"]
    assert _answered(resident_store) == before + 1


def test_filtered_and_exact_queries_are_answered_from_memory_old_versions_by_lance(
    resident_store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table, vectors = _filled(resident_store, rng)
    version = table.version
    assert table.load_resident(timeout=60)
    before = _answered(resident_store)
    filtered = table.search(vectors[4], k=5, where={"category": "blog"})
    assert filtered.ids[0] == "d4" and all(int(i[1:]) % 3 == 1 for i in filtered.ids)
    assert table.search(vectors[9], k=1, exact=True).ids == ["d9"]
    assert _answered(resident_store) == before + 2
    before = _answered(resident_store)
    old = table.checkout(version)
    assert old.search(vectors[9], k=1).ids == ["d9"]
    with pytest.raises(ov.ReadOnlyError):
        old.load_resident()
    assert _answered(resident_store) == before


def test_hybrid_search_takes_its_vector_leg_from_the_graph(
    resident_store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table, vectors = _filled(resident_store, rng)
    table.create_fts_index()  # a new version: built before the graph is loaded
    assert table.load_resident(timeout=60)
    before = _answered(resident_store)
    hits = table.search(vectors[8], text="ray", k=5)
    assert _answered(resident_store) == before + 1
    assert hits.ids[0] == "d8"  # nearest vector and a "ray" document (8 % 4 == 0)
    assert hits[0].distance is not None and hits[0].text_score is not None


def test_graphs_share_one_byte_budget(tmp_path: Path, rng: np.random.Generator) -> None:
    one_table = ov.ResidentConfig().row_bytes(DIM) * ROWS
    with _open(tmp_path / "store", max_bytes=int(one_table * 1.5)) as store:
        for name in ("a", "b"):
            store.create_table(name, fields=CATEGORY).add(
                arrow_docs(rng.standard_normal((ROWS, DIM)))
            )
        assert store.table("a").load_resident(timeout=60)
        assert store.table("b").load_resident(timeout=60)
        info = store.resident_info()
        assert info is not None and list(info.tables) == ["b"]  # "a" was least recently used
        assert info.bytes <= info.max_bytes
        store.create_table("big", fields=CATEGORY).add(
            arrow_docs(rng.standard_normal((2 * ROWS, DIM)))
        )
        assert store.table("big").load_resident(timeout=60) is False  # over the budget
        store.drop_table("b")
        info = store.resident_info()
        assert info is not None and info.tables == {}


def test_small_tables_stay_with_lance(tmp_path: Path, rng: np.random.Generator) -> None:
    with _open(tmp_path / "store", min_rows=ROWS + 1) as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(rng.standard_normal((ROWS, DIM))))
        assert table.load_resident(timeout=60) is False
        assert table.search(rng.standard_normal(DIM), k=3).ids


def test_bad_configuration_is_refused(store: ov.VectorStore) -> None:
    with pytest.raises(ov.InvalidInputError, match="max_bytes"):
        ov.ResidentConfig(max_bytes=0)
    with pytest.raises(ov.InvalidInputError, match="precision"):
        ov.ResidentConfig(precision="i4")  # type: ignore[arg-type]
    with pytest.raises(ov.InvalidInputError, match="engine"):
        ov.ResidentConfig(engine="annoy")  # type: ignore[arg-type]
    for share in (0, 1.5, True):
        with pytest.raises(ov.InvalidInputError, match="partitions_searched"):
            ov.ResidentConfig(partitions_searched=share)
    with pytest.raises(ov.InvalidInputError, match="refine_factor"):
        ov.ResidentConfig(refine_factor=0)
    with pytest.raises(ov.InvalidInputError, match="ResidentConfig"):
        ov.VectorStore(store.path, resident={"max_bytes": 1})  # type: ignore[arg-type]
    with pytest.raises(ov.InvalidInputError, match=r"ResidentConfig\.load_after"):
        ov.ResidentConfig(load_after=0)
    with ov.VectorStore(store.path, dimension=DIM, resident=False) as off:
        table = off.create_table("t", fields=CATEGORY)
        with pytest.raises(ov.InvalidInputError, match="resident=False"):
            table.load_resident()
        assert off.resident_info() is None


@pytest.mark.parametrize("engine", ENGINES)
def test_half_precision_graph(tmp_path: Path, rng: np.random.Generator, engine: str) -> None:
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    with ov.VectorStore(
        tmp_path / "s",
        dimension=DIM,
        maintenance=ov.MaintenanceConfig(enabled=False),  # no new version between queries
        resident=ov.ResidentConfig(min_rows=0, precision="f16", engine=engine),  # type: ignore[arg-type]
    ) as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(vectors))
        assert table.load_resident(timeout=60)
        assert [table.search(vectors[i], k=1).ids[0] for i in range(20)] == [
            f"d{i}" for i in range(20)
        ]
        assert _answered(store) == 20


@pytest.mark.parametrize("engine", [*ENGINES, "scann-codes", "scann-partitioned"])
def test_graph_follows_a_mix_of_writes_like_an_exact_search(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Oracle: after every write the graph, searched exhaustively, answers as exact search
    over the live rows. ScaNN scores the table's first rows exactly, unless told that they
    are enough for codes, or for codes and partitions."""
    if engine in ("scann-codes", "scann-partitioned"):
        monkeypatch.setattr(resident_scann, "EXACT_MAX_VALUES", 500 * DIM)
    if engine == "scann-partitioned":
        monkeypatch.setattr(resident_scann, "TREE_MIN_ROWS", 500)
    with _open(tmp_path / "store", engine=engine.split("-")[0]) as store:
        _follows_a_mix_of_writes(store, rng, masks=engine == "hnsw")
        if engine == "scann-partitioned":
            assert store._resident is not None
            assert store._resident._graphs["t"].index._partitions > 0  # type: ignore[attr-defined]


def _follows_a_mix_of_writes(
    resident_store: ov.VectorStore, rng: np.random.Generator, *, masks: bool
) -> None:
    table = resident_store.create_table("t", metric="l2", fields=CATEGORY)
    live: dict[str, np.ndarray] = {}
    next_id = 0

    def add(count: int) -> None:
        nonlocal next_id
        vectors = rng.standard_normal((count, DIM)).astype(np.float32)
        table.add(arrow_docs(vectors, start=next_id))
        live.update({f"d{next_id + i}": v for i, v in enumerate(vectors)})
        next_id += count

    add(600)
    # "bulk" adds enough rows to be rearranged for locality (see locality_order)
    steps = ["add", "delete", "upsert", "bulk", "compact", "delete", "upsert", "compact"]
    for step in steps:
        if step in ("add", "bulk"):
            add(150 if step == "add" else 600)
        elif step == "delete":
            doomed = [str(i) for i in rng.choice(sorted(live), 120, replace=False)]
            table.delete(doomed)
            for doc in doomed:
                del live[doc]
        elif step == "upsert":
            changed = [str(i) for i in rng.choice(sorted(live), 80, replace=False)]
            vectors = rng.standard_normal((len(changed), DIM)).astype(np.float32)
            docs = arrow_docs(vectors).set_column(0, "id", [changed])
            table.upsert(docs)
            live.update(zip(changed, vectors, strict=True))
        else:
            table.compact()
        graph = resident_store._resident._graphs.get("t") if resident_store._resident else None
        assert table.load_resident(timeout=60), step
        info = resident_store.resident_info()
        assert info is not None and info.tables == {"t": len(live)}, step
        assert info.masked <= len(live), step  # rebuilt once masked rows outnumber live ones
        if step == "delete":  # a delete is followed, not rebuilt
            assert resident_store._resident is not None
            assert resident_store._resident._graphs["t"] is graph
            assert (info.masked > 0) is masks  # HNSW masks deleted rows, ScaNN drops them
        names = sorted(live)
        matrix = np.stack([live[n] for n in names])
        for query in rng.standard_normal((5, DIM)).astype(np.float32):
            before = _answered(resident_store)
            hits = table.search(query, k=5, columns=["id"], **EXHAUSTIVE)
            assert _answered(resident_store) == before + 1, step
            distances = np.sqrt(((matrix - query) ** 2).sum(axis=1))
            truth = [names[i] for i in np.argsort(distances)[:5]]
            assert hits.ids == truth, step


def test_a_table_created_again_elsewhere_is_not_served_from_the_old_graph(
    resident_store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table, _ = _filled(resident_store, rng)
    assert table.load_resident(timeout=60)
    time.sleep(0.15)  # past the racy window: the pool trusts the table's directory stamp
    version = table.version
    second = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    # another process, in effect (no maintenance: it would move past the same version number)
    with ov.VectorStore(
        resident_store.path, maintenance=ov.MaintenanceConfig(enabled=False)
    ) as other:
        other.drop_table("t")
        other.create_table("t", dimension=DIM, fields=CATEGORY).add(arrow_docs(second, start=ROWS))
    assert table.version == version  # the same version number, other rows
    assert table.search(second[3], k=1).ids == [f"d{ROWS + 3}"]
    assert table.load_resident(timeout=60)
    before = _answered(resident_store)
    assert table.search(second[3], k=1).ids == [f"d{ROWS + 3}"]
    assert _answered(resident_store) == before + 1


def test_a_table_storing_float16_vectors_is_served(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    with ov.VectorStore(
        tmp_path / "s",
        dimension=DIM,
        storage=ov.StorageOptions(vector_dtype="float16"),
        resident=ov.ResidentConfig(min_rows=0),
    ) as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(vectors))
        assert table.load_resident(timeout=60)
        hit = table.search(vectors[7], k=1, columns=["id", "vector"])[0]
        assert hit.id == "d7" and hit.vector is not None
        np.testing.assert_allclose(hit.vector, vectors[7], atol=1e-2)
        assert _answered(store) == 1


def test_graph_rows_are_stored_neighbours_together(rng: np.random.Generator) -> None:
    centres = rng.standard_normal((4, DIM)).astype(np.float32) * 10
    labels = rng.permutation(np.repeat(np.arange(4), 300))
    points = centres[labels] + rng.standard_normal((len(labels), DIM)).astype(np.float32)
    order = locality_order(points)
    assert order is not None and sorted(order.tolist()) == list(range(len(labels)))
    assert np.count_nonzero(np.diff(labels[order])) == 3  # one run per cluster
    assert locality_order(points[:300]) is None  # too few rows to rearrange


def test_partitioned_index_answers_clustered_data_and_takes_query_knobs(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resident_scann, "TREE_MIN_ROWS", 1_000)
    monkeypatch.setattr(resident_scann, "EXACT_MAX_VALUES", 0)
    centres = rng.standard_normal((40, DIM)).astype(np.float32) * 4
    rows = 3 * ROWS
    vectors = centres[rng.integers(0, 40, rows)] + rng.standard_normal((rows, DIM))
    vectors = vectors.astype(np.float32)
    with _open(tmp_path / "store", engine="scann") as store:
        table = store.create_table("t", fields=CATEGORY)
        table.add(arrow_docs(vectors))
        assert table.load_resident(timeout=60)
        queries = vectors[rng.choice(rows, 30, replace=False)] + 0.3 * rng.standard_normal(
            (30, DIM)
        ).astype(np.float32)

        def recall(**knobs: int) -> float:
            found = []
            for query in queries:
                truth = np.argsort(_distances(vectors, query, "cosine"))[:10]
                hits = table.search(query, k=10, columns=["id"], **knobs)
                found.append(len(set(hits.ids) & {f"d{i}" for i in truth}) / 10)
            return float(np.mean(found))

        before = _answered(store)
        assert recall() >= 0.95  # the defaults: 15% of the partitions, 20 x k refined
        assert recall(nprobes=1, refine_factor=1) < recall(**EXHAUSTIVE) == 1.0
        assert _answered(store) == before + 3 * len(queries)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_empty_table_is_served_until_rows_arrive(
    tmp_path: Path, rng: np.random.Generator, engine: str
) -> None:
    with _open(tmp_path / "store", engine=engine, min_rows=0) as store:
        table = store.create_table("t", fields=CATEGORY)
        assert table.load_resident(timeout=60)
        probe = rng.standard_normal(DIM).astype(np.float32)
        assert table.search(probe, k=3).ids == [] and _answered(store) == 1
        table.add(arrow_docs(probe[None, :]))
        assert table.load_resident(timeout=60)
        assert table.search(probe, k=3).ids == ["d0"] and _answered(store) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_searches_run_side_by_side_and_a_change_waits_for_them(
    tmp_path: Path, rng: np.random.Generator, engine: str
) -> None:
    with _open(tmp_path / "store", engine=engine) as store:
        table, vectors = _filled(store, rng)
        assert table.load_resident(timeout=60)
        assert store._resident is not None
        graph = store._resident._graphs["t"]
        search = graph.index.search
        in_flight, overlap = [0], [0]
        ended: list[float] = []
        guard = threading.Lock()

        def slow_search(query: Any, allowed: Any) -> Any:
            with guard:
                in_flight[0] += 1
                overlap[0] = max(overlap[0], in_flight[0])
            time.sleep(0.3)  # long enough for every thread to be inside at once
            answer = search(query, allowed)
            with guard:
                in_flight[0] -= 1
                ended.append(time.monotonic())
            return answer

        graph.index.search = slow_search  # type: ignore[method-assign]
        with ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(table.search, vectors[i], k=1, columns=["id"]) for i in range(4)]
            time.sleep(0.1)
            graph.retire()  # a change to the graph must wait for the searches in flight
            retired = time.monotonic()
            assert [a.result().ids for a in answers] == [[f"d{i}"] for i in range(4)]
        assert overlap[0] == 4 and len(ended) == 4 and retired >= max(ended)
        before = _answered(store)
        assert table.search(vectors[5], k=1).ids == ["d5"]  # a retired graph passes to Lance
        assert _answered(store) == before


def test_scann_refines_more_candidates_as_a_table_grows(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past REFINE_GROWTH_ROWS rows the default candidates grow with the root of the rows;
    a query's own refine_factor is taken as given."""
    monkeypatch.setattr(resident_scann, "EXACT_MAX_VALUES", 0)  # codes for few rows
    spec = TableSpec(dimension=DIM, metric="cosine")
    index = resident_scann.ScannIndex(spec, ov.ResidentConfig(refine_factor=20))
    vectors = rng.standard_normal((4_000, DIM)).astype(np.float32)
    index.add(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), threading.Event())
    asked: list[int] = []
    searcher = index._searcher

    def search_asked(query: np.ndarray, count: int, *rest: Any) -> Any:
        asked.append(count)
        return searcher.search(query, count, *rest)

    monkeypatch.setattr(index, "_searcher", SimpleNamespace(search=search_asked))
    query = vectors[7]
    for growth_rows, refine in ((4_000, None), (1_000, None), (1_000, 3)):
        monkeypatch.setattr(resident_scann, "REFINE_GROWTH_ROWS", growth_rows)
        _, positions = index.search(VectorQuery(query, 10, refine_factor=refine), None)
        assert positions[0] == 7
    assert asked == [200, 400, 30]  # 20 x 10; 20 x 10 x sqrt(4); the query's 3 x 10


def test_scann_built_from_a_sample_of_a_large_table_finds_every_row(
    resident_store: ov.VectorStore, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past BUILD_SAMPLE_ROWS rows ScaNN is built from a random sample moved to the front
    and the other rows are added after: each row is still found under its own id."""
    monkeypatch.setattr(resident_scann, "BUILD_SAMPLE_ROWS", ROWS // 2)
    monkeypatch.setattr(resident_scann, "_TRAINING_SAMPLE", ROWS // 4)
    monkeypatch.setattr(resident_scann, "TREE_MIN_ROWS", 1_000)
    monkeypatch.setattr(resident_scann, "EXACT_MAX_VALUES", 0)
    table, vectors = _filled(resident_store, rng)
    assert table.load_resident(timeout=60)
    assert resident_store._resident is not None
    index = resident_store._resident._graphs["t"].index
    assert isinstance(index, resident_scann.ScannIndex) and index._partitions > 0
    before = _answered(resident_store)
    for row in rng.choice(ROWS, 40, replace=False).tolist():
        hits = table.search(vectors[row], k=3, **EXHAUSTIVE)
        assert hits[0].id == f"d{row}" and hits[0].distance == pytest.approx(0.0, abs=1e-5)
        expected = np.argsort(_distances(vectors, vectors[row], "cosine"))[:3]
        assert hits.ids == [f"d{i}" for i in expected]
    assert _answered(resident_store) == before + 40
