"""The demo job and the stdlib corpus."""

from __future__ import annotations

from pathlib import Path

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


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    # the hashing embedding keeps this test fast; the real model is tested elsewhere
    hashing = ov.embeddings.get("hashing", dimension=384)
    run_demo(tmp_path / "demo", limit=600, embedding=hashing, echo=lines.append)
    output = "\n".join(lines)
    assert "Loaded 600 docstrings" in output
    assert "Index build succeeded" in output
    assert "B/row" in output
    assert "Resident graph of 600 rows loaded" in output
    with ov.VectorStore(tmp_path / "demo") as store:
        assert store.table("stdlib").count() == 600
        kinds = {i.kind for i in store.table("stdlib").indexes()}
        assert "IVF_HNSW_SQ" in kinds
