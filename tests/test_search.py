"""Vector search: exact results, scores and distances per metric, filters, columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from omnivector.operations import retrieval
from tests.conftest import DIM, FIELDS, make_docs


def _truth(matrix: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    if metric == "l2":
        return np.sqrt(((matrix - query) ** 2).sum(axis=1))
    if metric == "dot":
        return 1.0 - matrix @ query
    cosine = (matrix @ query) / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return 1.0 - cosine


@pytest.mark.parametrize("metric", ["l2", "cosine", "dot"])
def test_exact_search_matches_numpy_with_documented_scores(
    tmp_path: Path, rng: np.random.Generator, metric: str
) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        table = store.create_table("t", metric=metric, fields=FIELDS)
        docs = make_docs(200, rng)
        table.add(docs)
        matrix = np.stack([d["vector"] for d in docs])
        query = rng.standard_normal(DIM).astype(np.float32)
        hits = table.search(query, k=10)
        distances = _truth(matrix, query, metric)
        order = np.argsort(distances)[:10]
        assert hits.ids == [docs[i]["id"] for i in order]
        for hit, index in zip(hits, order, strict=True):
            expected = float(distances[index])
            assert hit.distance == pytest.approx(expected, rel=1e-4, abs=1e-4)
            if metric == "l2":
                assert hit.score == pytest.approx(1.0 / (1.0 + expected), rel=1e-4)
            else:
                assert hit.score == pytest.approx(1.0 - expected, rel=1e-4, abs=1e-4)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_filters_on_fields_and_metadata_are_exact(
    store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table = store.create_table("t", fields=FIELDS)
    docs = make_docs(300, rng)
    table.add(docs)
    query = rng.standard_normal(DIM).astype(np.float32)
    matrix = np.stack([d["vector"] for d in docs])
    distances = _truth(matrix, query, "cosine")
    for where, keep in [
        (
            {"category": "blog", "year": {"$lt": 2010}},
            lambda d: d["category"] == "blog" and d["year"] < 2010,
        ),
        (
            {"group": "g2", "category": {"$ne": "note"}},
            lambda d: d["metadata"]["group"] == "g2" and d["category"] != "note",
        ),
        (
            {"$or": [{"rank": {"$lt": 10}}, {"tags": {"$contains": "t3"}}]},
            lambda d: d["metadata"]["rank"] < 10 or "t3" in d["tags"],
        ),
    ]:
        allowed = [i for i, d in enumerate(docs) if keep(d)]
        expected = [docs[i]["id"] for i in sorted(allowed, key=lambda i: distances[i])[:7]]
        assert table.search(query, k=7, where=where).ids == expected


def test_an_exact_scan_over_many_batches_and_fragments_reads_the_winners_columns(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lance's exact path keeps each batch's best k and reads the columns of the k winners
    alone: across batches, fragments and a residual filter it answers as numpy does."""
    monkeypatch.setattr(retrieval, "_RESIDUAL_BATCH", 32)
    with ov.VectorStore(tmp_path, dimension=DIM, resident=False) as store:
        table = store.create_table("t", fields=FIELDS)
        docs = make_docs(500, rng)
        for start in range(0, 500, 125):  # four fragments
            table.add(docs[start : start + 125])
        table.delete(where={"year": 2003})
        live = [d for d in docs if d["year"] != 2003]
        matrix = np.stack([d["vector"] for d in live])
        for where, keep in [
            (None, lambda d: True),
            ({"group": "g1"}, lambda d: d["metadata"]["group"] == "g1"),  # residual
            ({"category": "note"}, lambda d: d["category"] == "note"),  # pushed down
        ]:
            query = rng.standard_normal(DIM).astype(np.float32)
            distances = _truth(matrix, query, "cosine")
            allowed = sorted((i for i, d in enumerate(live) if keep(d)), key=lambda i: distances[i])
            hits = table.search(query, k=12, where=where, exact=True)
            assert hits.ids == [live[i]["id"] for i in allowed[:12]]
            for hit, index in zip(hits, allowed, strict=False):
                assert hit.text == live[index]["text"]
                assert hit.metadata == live[index]["metadata"]
                assert hit.distance == pytest.approx(float(distances[index]), abs=1e-4)
        assert len(table.search(query, k=5, where={"year": 1999}, exact=True)) == 0


def test_results_convert_to_arrow_list_and_pandas(
    store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table = store.create_table("t", fields=FIELDS)
    table.add(make_docs(20, rng))
    hits = table.search(rng.standard_normal(DIM), k=5, columns=["text", "year", "vector"])
    rows = hits.to_list()
    assert len(rows) == 5 and {"id", "score", "distance", "text", "year", "vector"} <= set(rows[0])
    assert len(rows[0]["vector"]) == DIM
    assert hits.to_arrow().num_rows == 5
    assert list(hits.to_pandas()["id"]) == hits.ids
    assert hits[:2].ids == hits.ids[:2]


def test_hits_without_fetched_metadata_say_none(
    store: ov.VectorStore, rng: np.random.Generator
) -> None:
    table = store.create_table("t", fields=FIELDS)
    table.add([*make_docs(5, rng), {"id": "bare", "vector": rng.standard_normal(DIM)}])
    query = rng.standard_normal(DIM)
    for columns in (["text"], ["year"], ["id"]):
        hits = table.search(query, k=6, columns=columns)
        assert len(hits) == 6 and all(hit.metadata is None for hit in hits)
        assert all(row["metadata"] is None for row in hits.to_list())
        assert hits.to_arrow().column("metadata").null_count == 6
    fetched = {hit.id: hit.metadata for hit in table.search(query, k=6)}
    assert fetched["bare"] == {} and fetched["doc-1"]["rank"] == 1
    assert table.search(query, k=6, columns=["metadata"])[0].metadata is not None


def test_zero_query_vectors_are_refused_where_cosine_is_undefined(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        cosine = store.create_table("cosine")
        cosine.add([{"id": "a", "vector": [1.0] * DIM}])
        for zero in ([0.0] * DIM, np.zeros(DIM, np.float32), np.zeros(DIM)):
            with pytest.raises(ov.InvalidInputError, match="all zeros"):
                cosine.search(zero)
            with pytest.raises(ov.InvalidInputError, match="all zeros"):
                cosine.search(zero, text="anything")
        for metric in ("l2", "dot"):  # a zero vector has a distance under these
            table = store.create_table(metric, metric=metric)
            table.add([{"id": "a", "vector": [1.0] * DIM}])
            assert table.search(np.zeros(DIM, np.float32)).ids == ["a"]


def test_search_rejects_bad_queries(store: ov.VectorStore) -> None:
    table = store.create_table("t")
    table.add([{"id": "a", "vector": [1.0] * DIM}])
    with pytest.raises(ov.DimensionMismatchError):
        table.search([1.0] * (DIM + 1))
    with pytest.raises(ov.InvalidInputError, match="NaN"):
        table.search([float("nan")] * DIM)
    for bad in (np.nan, np.inf, -np.inf):  # float32 arrays take the fast path
        vector = np.ones(DIM, np.float32)
        vector[3] = bad
        with pytest.raises(ov.InvalidInputError, match="NaN"):
            table.search(vector)
    # finite values whose squares overflow float32 are still a valid query
    assert table.search(np.full(DIM, 1e30, np.float32)).ids == ["a"]
    with pytest.raises(ov.InvalidInputError, match="k must be"):
        table.search([1.0] * DIM, k=0)
    with pytest.raises(ov.InvalidInputError, match="needs vector"):
        table.search()
    with pytest.raises(ov.InvalidInputError, match="unknown column"):
        table.search([1.0] * DIM, columns=["nope"])
    with pytest.raises(ov.InvalidInputError, match="has no embedding function"):
        table.search(query="hello")


def test_query_with_an_embedding_drives_both_retrievers(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path) as store:
        table = store.create_table("t", embedding=ov.embeddings.get("hashing", dimension=32))
        table.add(
            [
                {"id": "json", "text": "parse a JSON document into objects"},
                {"id": "gzip", "text": "compress bytes with gzip"},
                {"id": "sock", "text": "open a network socket"},
            ]
        )
        assert table.search(query="parse JSON", k=1).ids == ["json"]
        assert table.get(["gzip"])[0]["vector"] is not None


def test_float16_vectors_search_correctly(tmp_path: Path, rng: np.random.Generator) -> None:
    with ov.VectorStore(
        tmp_path, dimension=DIM, storage=ov.StorageOptions(vector_dtype="float16")
    ) as store:
        table = store.create_table("t")
        docs = make_docs(100, rng)
        for doc in docs:
            for key in ("category", "year", "tags"):
                doc.pop(key)
        table.add(docs)
        assert table.dataset().schema.field("vector").type.value_type == "halffloat"
        query = docs[17]["vector"]
        assert table.search(query, k=1).ids == ["doc-17"]
