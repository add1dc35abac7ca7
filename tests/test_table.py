"""Documents: add, upsert, delete, get, count, input shapes, validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnivector as ov
from omnivector.operations import writes
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Datasets
from tests.conftest import DIM, FIELDS, make_docs


@pytest.fixture
def table(store: ov.VectorStore) -> ov.Table:
    return store.create_table("docs", fields=FIELDS)


def test_add_then_get_round_trips_every_column(table: ov.Table, rng: np.random.Generator) -> None:
    docs = make_docs(20, rng)
    result = table.add(docs)
    assert result.inserted == 20 and result.version == table.version
    got = table.get(["doc-3", "doc-0", "missing"])
    assert [d["id"] for d in got] == ["doc-3", "doc-0"]
    original = docs[3]
    assert got[0]["text"] == original["text"]
    assert got[0]["metadata"] == original["metadata"]
    assert got[0]["category"] == original["category"]
    assert got[0]["tags"] == original["tags"]
    np.testing.assert_allclose(got[0]["vector"], original["vector"], rtol=1e-6)


def test_add_rejects_existing_ids_and_writes_nothing(
    table: ov.Table, rng: np.random.Generator
) -> None:
    table.add(make_docs(5, rng))
    version = table.version
    batch = make_docs(3, rng, start=4)  # doc-4 exists, doc-5 and doc-6 are new
    with pytest.raises(ov.DuplicateIdError, match="already exist") as info:
        table.add(batch)
    assert info.value.ids == ["doc-4"]
    assert table.version == version
    assert table.count() == 5


def test_a_refused_add_leaves_no_data_files(table: ov.Table, rng: np.random.Generator) -> None:
    # the files are written while the ids are checked: a refused batch removes them
    table.add(make_docs(5, rng))
    files = _data_files(table)
    with pytest.raises(ov.DuplicateIdError):
        table.add(make_docs(300, rng, start=4))
    assert _data_files(table) == files and table.count() == 5


def test_a_failed_id_check_leaves_no_data_files(
    table: ov.Table, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    table.add(make_docs(5, rng))
    files = _data_files(table)

    def broken_check(*args: object, **kwargs: object) -> None:
        raise ov.StorageError("the id column could not be read")

    monkeypatch.setattr(writes, "check_new_ids", broken_check)
    with pytest.raises(ov.StorageError, match="could not be read"):
        table.add(make_docs(300, rng, start=5))
    assert _data_files(table) == files and table.count() == 5
    monkeypatch.undo()
    assert table.add(make_docs(300, rng, start=5)).inserted == 300
    assert len(_data_files(table)) == len(files) + 1


def _data_files(table: ov.Table) -> set[str]:
    data = Path(table.uri) / "data"
    return {p.name for p in data.iterdir()} if data.exists() else set()


def test_add_rejects_ids_repeated_in_the_batch(table: ov.Table, rng: np.random.Generator) -> None:
    docs = make_docs(3, rng)
    docs[2]["id"] = docs[0]["id"]
    with pytest.raises(ov.DuplicateIdError, match="more than once"):
        table.add(docs)
    assert table.count() == 0 and _data_files(table) == set()


def test_large_add_checks_ids_against_the_whole_table(
    table: ov.Table, rng: np.random.Generator
) -> None:
    table.add(make_docs(3000, rng))
    with pytest.raises(ov.DuplicateIdError):
        table.add(make_docs(2500, rng, start=2999))
    assert table.count() == 3000


def test_upsert_inserts_and_replaces(table: ov.Table, rng: np.random.Generator) -> None:
    table.add(make_docs(4, rng))
    changed = {**make_docs(1, rng, start=2)[0], "text": "replaced", "metadata": {"v": 2}}
    result = table.upsert([changed, *make_docs(2, rng, start=10)])
    assert (result.inserted, result.updated) == (2, 1)
    assert table.count() == 6
    stored = table.get(["doc-2"])[0]
    assert stored["text"] == "replaced" and stored["metadata"] == {"v": 2}


def test_delete_by_ids_and_by_filters(table: ov.Table, rng: np.random.Generator) -> None:
    table.add(make_docs(30, rng))
    assert table.delete(["doc-1", "doc-2", "nope"]).deleted == 2
    papers = table.count({"category": "paper"})
    assert table.delete(where={"category": "paper"}).deleted == papers
    group = table.count({"group": "g1"})  # a metadata key: evaluated in Python
    assert table.delete(where={"group": "g1"}).deleted == group
    assert table.count() == 30 - 2 - papers - group
    assert table.count({"category": "paper"}) == 0
    with pytest.raises(ov.InvalidInputError, match="one of ids"):
        table.delete()


@pytest.mark.parametrize("shape", ["arrow", "reader", "pandas", "polars"])
def test_accepts_arrow_and_dataframes(
    table: ov.Table, rng: np.random.Generator, shape: str
) -> None:
    vectors = rng.standard_normal((5, DIM)).astype(np.float32)
    columns: dict[str, Any] = {
        "id": [f"r{i}" for i in range(5)],
        "vector": list(vectors),
        "text": [f"text {i}" for i in range(5)],
        "year": [2020 + i for i in range(5)],
    }
    arrow = pa.table(
        {**columns, "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)}
    )
    data: Any = {
        "arrow": arrow,
        "reader": pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches()),
        "pandas": pd.DataFrame(columns),
        "polars": pl.DataFrame({**columns, "vector": [v.tolist() for v in vectors]}),
    }[shape]
    assert table.add(data).inserted == 5
    row = table.get(["r3"])[0]
    assert row["year"] == 2023 and row["metadata"] == {}
    np.testing.assert_allclose(row["vector"], vectors[3], rtol=1e-6)


@pytest.mark.parametrize(
    ("doc", "error", "message"),
    [
        ({"id": "a", "vector": [1.0] * (DIM - 1)}, ov.DimensionMismatchError, "dimension"),
        ({"id": "a", "vector": [float("nan")] * DIM}, ov.InvalidInputError, "NaN"),
        ({"id": "a", "vector": [float("inf")] * DIM}, ov.InvalidInputError, "NaN or infinity"),
        ({"id": 5, "vector": [1.0] * DIM}, ov.InvalidInputError, "ids must be strings"),
        ({"id": "", "vector": [1.0] * DIM}, ov.InvalidInputError, "empty"),
        ({"vector": [1.0] * DIM}, ov.InvalidInputError, "needs an 'id'"),
        ({"id": "a"}, ov.InvalidInputError, "vector"),
        ({"id": "a", "vector": "abc"}, ov.InvalidInputError, "sequence of numbers"),
        (
            {"id": "a", "vector": [1.0] * DIM, "colour": "red"},
            ov.InvalidInputError,
            "unknown column",
        ),
        (
            {"id": "a", "vector": [1.0] * DIM, "metadata": {"t": datetime.now(UTC)}},
            ov.InvalidInputError,
            "JSON types",
        ),
        (
            {"id": "a", "vector": [1.0] * DIM, "metadata": {"x": float("nan")}},
            ov.InvalidInputError,
            "finite",
        ),
        (
            {"id": "a", "vector": [1.0] * DIM, "metadata": [1, 2]},
            ov.InvalidInputError,
            "must be a dict",
        ),
        ({"id": "a", "vector": [1.0] * DIM, "year": "2020"}, ov.InvalidInputError, "int64"),
        (
            {"id": "a", "vector": [1.0] * DIM, "metadata": "{not json"},
            ov.InvalidInputError,
            "not valid JSON",
        ),
    ],
)
def test_bad_documents_are_rejected_and_nothing_is_written(
    table: ov.Table, doc: dict[str, Any], error: type[Exception], message: str
) -> None:
    version = table.version
    with pytest.raises(error, match=message):
        table.add([{"id": "ok", "vector": [0.5] * DIM}, doc])
    with pytest.raises(error, match=message):
        table.upsert([doc])
    assert table.version == version and table.count() == 0


@pytest.mark.parametrize(
    ("bad_value", "at"),
    [(float("nan"), 0), (float("inf"), 5), (-float("inf"), DIM - 1), (float("nan"), 2)],
)
def test_a_non_finite_value_is_found_among_rows_whose_sums_overflow(
    table: ov.Table, bad_value: float, at: int
) -> None:
    # rows of huge finite values: their float32 sums overflow, yet they are valid
    vectors = np.full((6, DIM), 3e38, np.float32)
    vectors[1::2] *= -1
    bad = vectors.copy()
    bad[4, at] = bad_value
    with pytest.raises(ov.InvalidInputError, match="vector at position 4 contains NaN"):
        table.add([{"id": f"r{i}", "vector": v} for i, v in enumerate(bad)])
    assert table.count() == 0 and _data_files(table) == set()
    assert table.add([{"id": f"r{i}", "vector": v} for i, v in enumerate(vectors)]).inserted == 6


def test_zero_vectors_are_refused_in_cosine_tables(tmp_path: Path) -> None:
    rows = [{"id": "a", "vector": [1.0] * DIM}, {"id": "zero", "vector": [0.0] * DIM}]
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        cosine = store.create_table("cosine")
        created = cosine.version
        for write in (cosine.add, cosine.upsert):
            with pytest.raises(ov.InvalidInputError, match="position 1 is all zeros"):
                write(rows)
        assert cosine.count() == 0 and cosine.version == created and _data_files(cosine) == set()
        for metric in ("l2", "dot"):
            assert store.create_table(metric, metric=metric).add(rows).inserted == 2


def test_a_table_that_cannot_be_opened_for_writing_takes_no_rows(
    table: ov.Table, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    table.add(make_docs(5, rng))
    files = _data_files(table)

    def unopenable(self: TableContext) -> None:
        raise ov.StorageError("the table could not be opened")

    monkeypatch.setattr(TableContext, "writable_dataset", unopenable)
    with pytest.raises(ov.StorageError, match="could not be opened"):
        table.add(make_docs(300, rng, start=5))
    monkeypatch.undo()
    assert _data_files(table) == files and table.count() == 5


def test_an_add_whose_data_files_fail_to_write_takes_no_rows(
    table: ov.Table, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    table.add(make_docs(5, rng))
    files = _data_files(table)

    def unwritable(*_: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(Datasets, "write_files", unwritable)
    with pytest.raises(ov.StorageError, match="no space left"):
        table.add(make_docs(300, rng, start=5))
    monkeypatch.undo()
    assert _data_files(table) == files and table.count() == 5
    assert table.add(make_docs(300, rng, start=5)).inserted == 300


def _table_files(table: ov.Table) -> set[str]:
    root = Path(table.uri)
    return {
        str(p.relative_to(root)) for sub in ("data", "_deletions") for p in root.glob(f"{sub}/*")
    }


@pytest.mark.parametrize("write", ["add", "upsert", "delete"])
def test_a_write_whose_commit_fails_removes_the_files_it_wrote(
    table: ov.Table, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    table.add(make_docs(20, rng))
    files, version = _table_files(table), table.version

    def full(*_: object, **__: object) -> None:
        raise OSError("LanceError(IO): No space left on device (os error 28), lance/x.rs:1:2")

    monkeypatch.setattr(lance.LanceDataset, "commit", full)
    monkeypatch.setattr(lance.LanceDataset, "delete", lambda *_: full(), raising=True)
    run = {
        "add": lambda: table.add(make_docs(30, rng, start=20)),
        "upsert": lambda: table.upsert(make_docs(30, rng, start=10)),
        "delete": lambda: table.delete(["doc-3"]),
    }[write]
    with pytest.raises(ov.StorageError, match="no space left") as caught:
        run()
    assert ".rs:" not in str(caught.value)
    monkeypatch.undo()
    assert _table_files(table) == files and table.version == version and table.count() == 20


def test_a_commit_that_lands_before_failing_counts_as_written(
    table: ov.Table, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = lance.LanceDataset.commit

    def lands_then_fails(*args: Any, **kwargs: Any) -> lance.LanceDataset:
        commit(*args, **kwargs)
        raise OSError("LanceError(IO): No space left on device (os error 28)")

    monkeypatch.setattr(lance.LanceDataset, "commit", lands_then_fails)
    result = table.add(make_docs(30, rng))
    monkeypatch.undo()
    assert result.inserted == 30 and result.version == table.version and table.count() == 30
    assert table.add(make_docs(5, rng, start=30)).inserted == 5


def test_values_too_large_for_float16_storage_are_refused(store: ov.VectorStore) -> None:
    table = store.create_table("half", storage=ov.StorageOptions(vector_dtype="float16"))
    vectors = np.full((3, DIM), 0.5, np.float32)
    vectors[2, 1] = 1e5  # finite in float32, infinite in float16 (largest: 65504)
    docs = [{"id": f"h{i}", "vector": v} for i, v in enumerate(vectors)]
    for write in (table.add, table.upsert):
        with pytest.raises(ov.InvalidInputError, match=r"position 2 .* too large for float16"):
            write(docs)
    assert table.count() == 0
    vectors[2, 1] = 6e4
    assert table.add([{"id": f"h{i}", "vector": v} for i, v in enumerate(vectors)]).inserted == 3


def test_rejects_non_document_input(table: ov.Table) -> None:
    with pytest.raises(ov.InvalidInputError, match="list of dicts"):
        table.add("not documents")
    with pytest.raises(ov.InvalidInputError, match="must be a dict"):
        table.add([1, 2])


def test_count_with_filters_and_len(table: ov.Table, rng: np.random.Generator) -> None:
    docs = make_docs(40, rng)
    table.add(docs)
    assert len(table) == 40
    assert table.count({"year": {"$gte": 2010}}) == sum(d["year"] >= 2010 for d in docs)
    assert table.count({"nested.even": True}) == 20
    assert table.count({"tags": {"$contains": "t1"}}) == sum("t1" in d["tags"] for d in docs)


def test_writes_are_batched_into_bounded_chunks(table: ov.Table, rng: np.random.Generator) -> None:
    table.add(make_docs(10_000, rng))
    dataset = table.dataset()
    batch_rows = [b.num_rows for b in dataset.to_batches(columns=["id"], batch_size=100_000)]
    assert sum(batch_rows) == 10_000
    assert table.count() == 10_000


metadata_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**62), 2**62),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    doc_id=st.text(min_size=1, max_size=40),
    text=st.one_of(st.none(), st.text(max_size=200)),
    metadata=st.dictionaries(st.text(max_size=10), metadata_values, max_size=5),
    vector=st.lists(st.floats(-1e6, 1e6, width=32), min_size=DIM, max_size=DIM),
)
def test_documents_round_trip(
    store: ov.VectorStore,
    doc_id: str,
    text: str | None,
    metadata: dict[str, Any],
    vector: list[float],
) -> None:
    table = store.create_table("rt", metric="l2", exist_ok=True)  # any finite vector, zeros too
    table.upsert([{"id": doc_id, "text": text, "metadata": metadata, "vector": vector}])
    stored = table.get([doc_id])[0]
    assert stored["id"] == doc_id and stored["text"] == text
    assert stored["metadata"] == metadata
    np.testing.assert_array_equal(
        np.asarray(stored["vector"], np.float32), np.asarray(vector, np.float32)
    )


def test_timestamp_fields_accept_datetimes_and_iso_strings(store: ov.VectorStore) -> None:
    table = store.create_table("ts", fields={"when": "timestamp"})
    table.add(
        [
            {"id": "a", "vector": [1.0] * DIM, "when": datetime(2024, 5, 1, tzinfo=UTC)},
            {"id": "b", "vector": [1.0] * DIM, "when": "2023-01-01T00:00:00"},
        ]
    )
    assert table.count({"when": {"$gte": datetime(2024, 1, 1)}}) == 1
    with pytest.raises(ov.InvalidInputError, match="ISO-8601"):
        table.add([{"id": "c", "vector": [1.0] * DIM, "when": "soon"}])
