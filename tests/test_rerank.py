"""Reranking, normalized scores and polars output of searches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest

import omnivector as ov
from omnivector import Hit
from tests.conftest import DIM, make_docs


@pytest.fixture
def docs(store: ov.VectorStore, rng: np.random.Generator) -> ov.Table:
    table = store.create_table(
        "docs", fields={"category": "string", "year": "int64", "tags": "list<string>"}
    )
    table.add(make_docs(120, rng))
    return table


class Recorder:
    """A reranker scoring each hit by a function of it, remembering what it was given."""

    def __init__(self, score: Any) -> None:
        self.score = score
        self.calls: list[tuple[str | None, list[Hit]]] = []

    def __call__(self, query: str | None, hits: list[Hit]) -> list[float]:
        self.calls.append((query, hits))
        return [self.score(hit) for hit in hits]


def test_a_vector_search_reranked_by_a_callable(docs: ov.Table, rng: np.random.Generator) -> None:
    query = rng.standard_normal(DIM).astype(np.float32)
    by_rank = Recorder(lambda hit: float(hit.metadata["rank"]))
    hits = docs.search(query, k=4, rerank=by_rank)
    [(text, candidates)] = by_rank.calls
    assert text is None  # a vector search has no query text
    assert [h.id for h in candidates] == docs.search(query, k=12).ids  # 3k, first ranking
    best = sorted(candidates, key=lambda h: -h.metadata["rank"])[:4]
    assert hits.ids == [h.id for h in best]
    assert [h.score for h in hits] == [float(h.metadata["rank"]) for h in best]
    assert [h.distance for h in hits] == [h.distance for h in best]  # the rest is kept


def test_text_hybrid_and_filtered_searches_pass_their_query(docs: ov.Table) -> None:
    reverse = Recorder(lambda hit: -hit.text_score if hit.text_score is not None else 0.0)
    text_hits = docs.search(text="lance vector", k=3, rerank=reverse)
    assert reverse.calls[0][0] == "lance vector"
    first = docs.search(text="lance vector", k=9)
    assert [h.id for h in reverse.calls[0][1]] == first.ids
    lowest = sorted(first, key=lambda h: h.text_score or 0.0)[:3]  # stable: ties keep order
    assert text_hits.ids == [h.id for h in lowest]

    constant = Recorder(lambda hit: 1.0)
    vector = docs.get(["doc-5"])[0]["vector"]
    hybrid = docs.search(vector, text="python", k=5, where={"category": "blog"}, rerank=constant)
    assert constant.calls[0][0] == "python"
    assert all(h.fields["category"] == "blog" for h in constant.calls[0][1])
    # equal scores keep the first ranking's order
    assert hybrid.ids == [h.id for h in constant.calls[0][1]][:5]
    assert all(h.score == 1.0 for h in hybrid)


def test_query_with_an_embedding_function_reranks_hybrid_candidates(
    store: ov.VectorStore,
) -> None:
    table = store.create_table("notes", embedding=ov.embeddings.get("hashing", dimension=32))
    table.add(
        [{"id": str(i), "text": text} for i, text in enumerate(
            ["dark roast coffee", "green tea", "coffee grinder settings", "tea kettle"]
        )]
    )  # fmt: skip
    shortest = Recorder(lambda hit: -len(hit.text or ""))
    hits = table.search(query="coffee", k=1, rerank=shortest)
    assert shortest.calls[0][0] == "coffee" and hits.ids == ["1"]  # "green tea"


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (lambda n: [1.0] * (n - 1), "returned 11 scores for 12 hits"),
        (lambda n: [1.0] * n + [2.0], "returned 13 scores for 12 hits"),
        (lambda n: [math.nan] * n, "score #0 is nan"),
        (lambda n: [1.0, math.inf] + [0.0] * (n - 2), "score #1 is inf"),
        (lambda n: ["high"] * n, "score #0 is 'high'"),
        (lambda n: [True] * n, "score #0 is True"),
        (lambda n: None, "must return a sequence of 12 scores"),
    ],
)
def test_a_reranker_must_return_one_finite_score_per_hit(
    docs: ov.Table, scores: Any, message: str
) -> None:
    vector = docs.get(["doc-1"])[0]["vector"]
    with pytest.raises(ov.InvalidInputError, match=message):
        docs.search(vector, k=4, rerank=lambda query, hits: scores(len(hits)))


def test_bad_rerank_and_normalize_arguments(docs: ov.Table) -> None:
    vector = docs.get(["doc-1"])[0]["vector"]
    with pytest.raises(ov.InvalidInputError, match="rerank must be a callable"):
        docs.search(vector, rerank="cross-encoder")  # type: ignore[arg-type]
    with pytest.raises(ov.InvalidInputError, match="normalize_scores must be True or False"):
        docs.search(vector, normalize_scores="yes")  # type: ignore[arg-type]
    with pytest.raises(ov.InvalidInputError, match="k must be a positive integer"):
        docs.search(vector, k=0, rerank=lambda q, hits: [0.0] * len(hits))
    assert docs.search(vector, k=3, rerank=lambda q, hits: np.arange(len(hits))).ids


def test_an_empty_result_is_not_reranked(docs: ov.Table) -> None:
    never = Recorder(lambda hit: 0.0)
    assert len(docs.search(text="absent-word", k=3, rerank=never)) == 0
    assert never.calls == []


# -- normalize_scores --------------------------------------------------------------------------


def _in_unit_range(hits: Sequence[Hit]) -> bool:
    return all(0.0 <= h.score <= 1.0 for h in hits)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_vector_scores_are_normalized_by_the_metric(
    store: ov.VectorStore, rng: np.random.Generator, metric: str
) -> None:
    table = store.create_table(f"v_{metric}", metric=metric)
    table.add([{"id": d["id"], "vector": d["vector"]} for d in make_docs(50, rng)])
    query = rng.standard_normal(DIM).astype(np.float32)
    raw = table.search(query, k=50)
    normal = table.search(query, k=50, normalize_scores=True)
    assert normal.ids == raw.ids and _in_unit_range(normal)
    for before, after in zip(raw, normal, strict=True):
        if metric == "cosine":
            assert after.score == pytest.approx((before.score + 1) / 2)
        elif metric == "dot":
            assert after.score == pytest.approx(min(max((before.score + 1) / 2, 0.0), 1.0))
        else:
            assert after.score == before.score
        assert after.distance == before.distance
    if metric == "dot":  # the vectors are not unit length: some scores lie beyond [-1, 1]
        assert {0.0, 1.0} & {h.score for h in normal}


def test_text_and_hybrid_scores_are_normalized(docs: ov.Table) -> None:
    raw = docs.search(text="lance python", k=8)
    normal = docs.search(text="lance python", k=8, normalize_scores=True)
    assert normal.ids == raw.ids and normal[0].score == 1.0 and _in_unit_range(normal)
    assert [h.score for h in normal] == pytest.approx([h.score / raw[0].score for h in raw])

    vector = docs.get(["doc-7"])[0]["vector"]
    rrf = ov.RRF(k=10, weights=(1.0, 2.0))
    raw = docs.search(vector, text="number 7", k=5, fusion=rrf)
    normal = docs.search(vector, text="number 7", k=5, fusion=rrf, normalize_scores=True)
    assert normal.ids == raw.ids and _in_unit_range(normal)
    # doc-7 is first in both lists: the best fused score there is, which maps to 1
    assert normal[0].id == "doc-7" and normal[0].score == pytest.approx(1.0)
    assert [h.score for h in normal] == pytest.approx([h.score * 11 / 3 for h in raw])

    weighted = ov.Weighted(weights=(2.0, 2.0))
    raw = docs.search(vector, text="number 7", k=5, fusion=weighted)
    normal = docs.search(vector, text="number 7", k=5, fusion=weighted, normalize_scores=True)
    assert [h.score for h in normal] == pytest.approx([h.score / 4 for h in raw])

    def custom(vector_hits: Sequence[Hit], text_hits: Sequence[Hit], k: int) -> list[Hit]:
        return [Hit(h.id, 10.0 - i) for i, h in enumerate(vector_hits)][:k]

    normal = docs.search(vector, text="number 7", k=5, fusion=custom, normalize_scores=True)
    assert [h.score for h in normal] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])


def test_reranked_scores_are_normalized_as_logits_unless_in_range(docs: ov.Table) -> None:
    vector = docs.get(["doc-2"])[0]["vector"]
    logits = docs.search(
        vector, k=3, rerank=lambda q, hits: [-800.0, 0.0, 3.0] + [-5.0] * (len(hits) - 3),
        normalize_scores=True,
    )  # fmt: skip
    assert [h.score for h in logits] == pytest.approx(
        [1 / (1 + math.exp(-3)), 0.5, 1 / (1 + math.exp(5))]
    )
    probabilities = docs.search(
        vector, k=2, rerank=lambda q, hits: [0.2, 0.9] + [0.0] * (len(hits) - 2),
        normalize_scores=True,
    )  # fmt: skip
    assert [h.score for h in probabilities] == [0.9, 0.2]


# -- the built-in cross-encoder ------------------------------------------------------------


def test_cross_encoder_without_sentence_transformers_names_what_to_install() -> None:
    # sentence-transformers is kept out of the environment (it needs PyTorch)
    with pytest.raises(ov.MissingDependencyError, match="pip install sentence-transformers"):
        ov.CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2")


class PairModel:
    """Stands where a sentence-transformers CrossEncoder goes: ``predict(pairs)``."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        self.pairs.extend(pairs)
        return np.array([float(len(set(q.split()) & set(t.split()))) for q, t in pairs])


def test_cross_encoder_scores_query_and_text_pairs(docs: ov.Table) -> None:
    model = PairModel()
    reranker = ov.CrossEncoderReranker(model)
    hits = docs.search(text="lance number 40", k=2, rerank=reranker)
    assert model.pairs and all(q == "lance number 40" for q, _ in model.pairs)
    assert hits[0].id == "doc-40" and hits[0].score == 3.0  # "lance", "number", "40"
    with pytest.raises(ov.InvalidInputError, match="search with text= or query="):
        docs.search(docs.get(["doc-1"])[0]["vector"], k=2, rerank=reranker)
    with pytest.raises(ov.InvalidInputError, match="CrossEncoder"):
        ov.CrossEncoderReranker(object())


# -- polars and pandas ---------------------------------------------------------------------


def test_results_and_tables_to_polars(docs: ov.Table) -> None:
    hits = docs.search(text="lance", k=5)
    frame = hits.to_polars()
    assert isinstance(frame, pl.DataFrame)
    assert frame["id"].to_list() == hits.ids and frame["score"].to_list() == [h.score for h in hits]
    assert frame["category"].to_list() == [h.fields["category"] for h in hits]
    whole = docs.to_polars()
    assert whole.height == 120 and set(whole["id"].to_list()) == {f"doc-{i}" for i in range(120)}
    assert docs.to_pandas().shape[0] == 120
    empty = docs.search(text="absent-word", k=5).to_polars()
    assert empty.height == 0 and empty.columns == ["id", "score"]
