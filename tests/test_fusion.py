"""Fusion against hand-computed scores, and full-text / hybrid search behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivector as ov
from omnivector.core.results import Hit


def _vec(*ids_scores: tuple[str, float]) -> list[Hit]:
    return [Hit(id=i, score=s, distance=1 - s) for i, s in ids_scores]


def _txt(*ids_scores: tuple[str, float]) -> list[Hit]:
    return [Hit(id=i, score=s, text_score=s) for i, s in ids_scores]


def test_rrf_matches_hand_computed_scores() -> None:
    vector = _vec(("a", 0.9), ("b", 0.8), ("c", 0.7))
    text = _txt(("c", 12.0), ("d", 8.0), ("a", 1.0))
    fused = ov.RRF(k=60)(vector, text, 10)
    expected = {"a": 1 / 61 + 1 / 63, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 62}
    assert [h.id for h in fused] == ["a", "c", "b", "d"]  # ties broken by id
    for hit in fused:
        assert hit.score == pytest.approx(expected[hit.id])
    a = fused[0]
    assert (a.vector_rank, a.text_rank, a.text_score, a.distance) == (1, 3, 1.0, pytest.approx(0.1))


def test_rrf_weights_and_limit() -> None:
    fused = ov.RRF(k=2, weights=(1.0, 3.0))(_vec(("a", 1.0)), _txt(("b", 5.0)), 1)
    assert [h.id for h in fused] == ["b"] and fused[0].score == pytest.approx(3 / 3)


def test_weighted_blend_of_normalised_scores() -> None:
    vector = _vec(("a", 0.9), ("b", 0.5), ("c", 0.1))
    text = _txt(("b", 10.0), ("c", 5.0))
    fused = ov.Weighted(weights=(0.25, 0.75))(vector, text, 10)
    expected = {"a": 0.25 * 1.0, "b": 0.25 * 0.5 + 0.75 * 1.0, "c": 0.0}
    assert [h.id for h in fused] == ["b", "a", "c"]
    for hit in fused:
        assert hit.score == pytest.approx(expected[hit.id])


@pytest.mark.parametrize("bad", [(1.0,), (-1.0, 1.0), (0, 0), ("a", 1.0)])
def test_bad_fusion_weights(bad: tuple[object, ...]) -> None:
    with pytest.raises(ov.InvalidInputError):
        ov.RRF(weights=bad)  # type: ignore[arg-type]
    with pytest.raises(ov.InvalidInputError):
        ov.Weighted(weights=bad)  # type: ignore[arg-type]


@pytest.fixture
def corpus(tmp_path: Path) -> ov.Table:
    store = ov.VectorStore(
        tmp_path,
        maintenance=ov.MaintenanceConfig(enabled=False),
    )
    table = store.create_table(
        "docs",
        fields={"title": "string", "year": "int64"},
        embedding=ov.embeddings.get("hashing", dimension=32),
    )
    table.add(
        [
            {
                "id": "lance",
                "text": "Lance is a columnar data format for machine learning",
                "title": "Lance format",
                "year": 2023,
                "metadata": {"lang": "rust"},
            },
            {
                "id": "parquet",
                "text": "Parquet is a columnar storage file format",
                "title": "Parquet",
                "year": 2013,
                "metadata": {"lang": "java"},
            },
            {
                "id": "vectors",
                "text": "Vector search finds nearest neighbours quickly",
                "title": "Vector search",
                "year": 2020,
                "metadata": {"lang": "rust"},
            },
            {
                "id": "python",
                "text": "Python is a programming language",
                "title": "Python columnar tools",
                "year": 1991,
                "metadata": {"lang": "c"},
            },
        ]
    )
    return table


def test_bm25_text_search_with_filters(corpus: ov.Table) -> None:
    hits = corpus.search(text="columnar format", k=5)
    assert set(hits.ids[:2]) == {"lance", "parquet"}
    assert all(h.text_score is not None and h.text_score > 0 for h in hits)
    assert corpus.search(text="columnar", k=5, where={"year": {"$gt": 2015}}).ids == ["lance"]
    assert corpus.search(text="columnar", k=5, where={"lang": "java"}).ids == ["parquet"]
    assert any(i.kind == "INVERTED" for i in corpus.indexes())


def test_phrases_and_required_or_excluded_terms(corpus: ov.Table) -> None:
    assert corpus.search(text='"columnar storage"', k=5).ids == ["parquet"]
    assert corpus.search(text="columnar -parquet", k=5).ids == ["lance"]
    assert corpus.search(text="+vector search", k=5).ids[0] == "vectors"
    with pytest.raises(ov.InvalidInputError):
        corpus.search(text="-columnar", k=5)


def test_multi_column_text_search_with_boosts(corpus: ov.Table) -> None:
    hits = corpus.search(text="columnar", k=5, text_columns={"text": 1.0, "title": 3.0})
    assert hits.ids[0] == "python"  # only its title matches, boosted 3x
    with pytest.raises(ov.InvalidInputError):
        corpus.search(text="x", text_columns=["year"])


def _embed(table: ov.Table, text: str) -> np.ndarray:
    assert table.embedding is not None
    return table.embedding.embed_queries([text])[0]


def test_hybrid_search_keeps_both_views(corpus: ov.Table) -> None:
    query = _embed(corpus, "nearest neighbours vector search")
    hits = corpus.search(vector=query, text="columnar", k=4)
    assert len(hits) == 4 and hits.ids[0] in ("vectors", "lance", "parquet")
    vector_side = [h for h in hits if h.vector_rank is not None]
    text_side = [h for h in hits if h.text_rank is not None]
    assert vector_side and text_side
    assert all(h.text_score is not None for h in text_side)
    weighted = corpus.search(vector=query, text="columnar", k=4, fusion=ov.Weighted((1.0, 0.0)))
    plain = corpus.search(vector=query, k=4)
    assert weighted.ids[0] == plain.ids[0]
    assert corpus.search(query="columnar file format", k=2).ids[0] in ("parquet", "lance")


@pytest.mark.parametrize("where", [None, {"year": {"$gt": 2000}}, {"lang": "rust"}])
def test_hybrid_hits_carry_the_stored_columns(corpus: ov.Table, where: Any) -> None:
    query = _embed(corpus, "columnar format")
    columns = ["text", "metadata", "title", "year", "vector"]
    hits = corpus.search(vector=query, text="columnar", k=4, where=where, columns=columns)
    assert hits
    for hit in hits:
        stored = corpus.search(
            vector=query, k=4, where={"id": hit.id}, columns=columns, exact=True
        )[0]
        assert (hit.text, hit.metadata, hit.fields) == (stored.text, stored.metadata, stored.fields)
        assert hit.vector == stored.vector
    bare = corpus.search(vector=query, text="columnar", k=4, where=where, columns=["id"])
    assert bare.ids == hits.ids and all(h.text is None for h in bare)


def test_custom_fusion_sees_complete_hits(corpus: ov.Table) -> None:
    seen: list[str | None] = []

    def by_title(vector: list[Hit], text: list[Hit], k: int) -> list[Hit]:
        seen.extend(h.fields.get("title") for h in [*vector, *text])
        return sorted(text, key=lambda h: h.fields["title"])[:k]

    query = np.ones(32, dtype=np.float32)
    hits = corpus.search(vector=query, text="columnar", k=3, fusion=by_title)
    assert hits.ids == ["lance", "parquet"] and seen and None not in seen


def test_custom_fusion_callable(corpus: ov.Table) -> None:
    def text_only(vector: list[Hit], text: list[Hit], k: int) -> list[Hit]:
        return list(text)[:k]

    query = np.ones(32, dtype=np.float32)
    assert corpus.search(vector=query, text="python", k=3, fusion=text_only).ids == ["python"]


def test_hybrid_benchmark_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnivector.bench import run_suite

    monkeypatch.setenv("OMNIVECTOR_BENCH_DOCS", "300")
    monkeypatch.setenv("OMNIVECTOR_BENCH_QUERIES", "30")
    monkeypatch.setenv("OMNIVECTOR_BENCH_ROWS", "1000")
    # the hashing embedding keeps this fast; the default model's figures come from full runs
    monkeypatch.setenv("OMNIVECTOR_BENCH_EMBEDDING", '{"name": "hashing"}')
    result = run_suite("hybrid", quick=True, echo=lambda _: None)
    quality = result["quality"]
    metrics = quality["metrics"]
    assert quality["queries"] == 30 and quality["documents"] == 300
    assert {"BM25", "dense (exact)", "dense (IVF_HNSW_SQ)", "hybrid RRF(k=60)"} <= set(metrics)
    assert all(0.0 <= m["recall@10"] <= 1.0 for m in metrics.values())
    assert metrics["BM25"]["recall@10"] > 0.3
    latency = result["latency"]
    assert latency["omnivector"]["hybrid"]["p50_ms"] > 0
    assert latency["queries"] == 100
    assert latency["resident_answered"] == 2 * (100 + 5)  # vector and hybrid, with warm-up
    for system in ("omnivector", "omnivector-resident", "pylance"):
        assert {"text", "vector", "hybrid"} <= set(latency[system])
        assert latency[system]["hybrid"]["count"] == 100
        assert latency[system]["hybrid_vs_slower_part"] > 0
    for system in ("omnivector", "omnivector-resident"):
        assert set(latency["threads"][system]) == {"1", "2"}
        assert all(qps > 0 for qps in latency["threads"][system].values())
