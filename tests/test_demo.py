"""The demo job, the stdlib corpus and the hashing embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from omnivector.demo.corpus import stdlib_docstrings
from omnivector.demo.run import run_demo


def test_stdlib_docstrings_are_real_and_stable() -> None:
    first = list(stdlib_docstrings(50))
    again = list(stdlib_docstrings(50))
    assert first == again and len(first) == 50
    assert len({d.id for d in first}) == 50
    assert {d.kind for d in first} <= {"module", "class", "function"}
    assert all(len(d.text) >= 40 for d in first)


def test_hashing_embedder_is_deterministic_and_lexical() -> None:
    embedder = ov.HashingEmbedder(64)
    vectors = embedder.embed(["parse json text", "parse json text", "open a socket", ""])
    assert vectors.shape == (4, 64) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    related = embedder.embed(["json parser"])[0]
    assert float(related @ vectors[0]) > float(related @ vectors[2])
    with pytest.raises(ov.InvalidInputError):
        ov.HashingEmbedder(4)


def test_embedder_needs_text_when_vector_is_missing(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path, dimension=32, embedder=ov.HashingEmbedder(32)) as store:
        table = store.create_table("t")
        with pytest.raises(ov.InvalidInputError, match="no vector and no text"):
            table.add([{"id": "a"}])


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    run_demo(tmp_path / "demo", limit=600, echo=lines.append)
    output = "\n".join(lines)
    assert "Loaded 600 docstrings" in output
    assert "Index build succeeded" in output
    assert "B/row" in output
    assert "Resident graph of 600 rows loaded" in output
    with ov.VectorStore(tmp_path / "demo") as store:
        assert store.table("stdlib").count() == 600
        kinds = {i.kind for i in store.table("stdlib").indexes()}
        assert "IVF_HNSW_SQ" in kinds
