"""Stores: table lifecycle, names, context manager, the original Omni-Vector API."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from tests.conftest import DIM


def test_create_open_list_and_drop(store: ov.VectorStore) -> None:
    store.create_table("b")
    store.create_table("a", dimension=8, metric="l2", fields={"x": "int64"})
    assert store.table_names() == ["a", "b"]
    assert "a" in store and "zzz" not in store and "../etc" not in store
    table = store.table("a")
    assert (table.dimension, table.metric, table.fields) == (8, "l2", {"x": "int64"})
    store.drop_table("a")
    assert store.table_names() == ["b"]
    with pytest.raises(ov.TableNotFoundError, match="create_table"):
        store.table("a")
    with pytest.raises(ov.TableNotFoundError):
        store.drop_table("a")
    store.drop_table("a", missing_ok=True)


def test_create_twice_needs_exist_ok(store: ov.VectorStore) -> None:
    first = store.create_table("t")
    with pytest.raises(ov.TableExistsError, match="exist_ok"):
        store.create_table("t")
    assert store.create_table("t", exist_ok=True).name == first.name
    with pytest.raises(ov.DimensionMismatchError):
        store.create_table("t", dimension=DIM + 1, exist_ok=True)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "a b", "x" * 129, "é", None, 3])
def test_invalid_table_names_are_rejected(store: ov.VectorStore, name: object) -> None:
    with pytest.raises(ov.InvalidNameError, match="invalid table name"):
        store.create_table(name)  # type: ignore[arg-type]
    assert store.table_names() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "manhattan"}, "metric must be one of"),
        ({"dimension": 0}, "dimension must be"),
        ({"fields": {"id": "string"}}, "reserved"),
        ({"fields": {"x": "decimal"}}, "unknown type"),
        ({"fields": {"bad name": "string"}}, "invalid field name"),
    ],
)
def test_invalid_table_options_are_rejected(
    store: ov.VectorStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ov.InvalidInputError, match=message):
        store.create_table("t", **kwargs)  # type: ignore[arg-type]
    assert "t" not in store


def test_dimension_is_required_somewhere(tmp_path: Path) -> None:
    with ov.connect(tmp_path) as store, pytest.raises(ov.InvalidInputError, match="dimension"):
        store.create_table("t")


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = ov.VectorStore(tmp_path, dimension=DIM)
    table = store.create_table("t")
    store.close()
    assert store.closed
    with pytest.raises(ov.StoreClosedError):
        store.table_names()
    with pytest.raises(ov.StoreClosedError):
        table.add([{"id": "a", "vector": [1.0] * DIM}])
    store.close()  # idempotent


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "not" / "here"
    with ov.VectorStore(path, dimension=DIM) as store:
        assert store.table_names() == [] and "t" not in store and list(store) == []
        with pytest.raises(ov.TableNotFoundError):
            store.table("t")
        store.drop_table("t", missing_ok=True)
    assert not (tmp_path / "not").exists()
    with ov.VectorStore(path, dimension=DIM) as store:
        store.create_table("t").add([{"id": "a", "vector": [1.0] * DIM}])
        assert store.table_names() == ["t"]


def test_store_plumbing_is_not_public_api(tmp_path: Path) -> None:
    for name in ("after_write", "lock", "check_open"):
        assert not hasattr(ov.VectorStore, name)
    with ov.VectorStore(tmp_path, dimension=DIM) as store:
        assert store.path == str(tmp_path.resolve()) and not store.closed
    assert store.closed


def test_data_persists_across_stores_and_other_handles_see_commits(tmp_path: Path) -> None:
    with (
        ov.VectorStore(tmp_path, dimension=DIM) as first,
        ov.VectorStore(tmp_path, dimension=DIM) as second,
    ):
        first.create_table("t").add([{"id": "a", "vector": [1.0] * DIM}])
        reader = second.table("t")
        assert reader.count() == 1
        first.table("t").add([{"id": "b", "vector": [0.5] * DIM}])
        assert reader.count() == 2  # fresh on the next call, no reopen needed
        assert reader.get(["b"])[0]["id"] == "b"


def test_store_path_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ov.InvalidInputError, match="not a directory"):
        ov.VectorStore(path)


def test_the_original_api_still_works(store: ov.VectorStore, rng: np.random.Generator) -> None:
    vectors = rng.standard_normal((3, DIM)).astype(np.float32)
    store.add_documents(
        "legacy",
        ["a", "b", "c"],
        list(vectors),
        ["x", "y", "z"],
        [json.dumps({"k": 1}), {"k": 2}, None],
    )
    assert store.count("legacy") == 3
    hits = store.search("legacy", vectors[1], limit=2, where_filter={"k": 2})
    assert hits.ids == ["b"]
    assert store.search("legacy", vectors[0], limit=1, where_filter="text = 'z'").ids == ["c"]
    assert store.delete("legacy", ["a"]) == 1
    assert store.count("legacy") == 2
    with pytest.raises(ov.InvalidInputError, match="items"):
        store.add_documents("legacy", ["d"], [], None, None)


def test_stores_and_tables_pickle_as_their_path_and_options(tmp_path: Path) -> None:
    config = ov.MaintenanceConfig(keep_versions=3)
    with ov.VectorStore(tmp_path, dimension=DIM, metric="l2", maintenance=config) as store:
        table = store.create_table("t")
        table.add([{"id": "a", "vector": [1.0] * DIM}])
        table.add([{"id": "b", "vector": [2.0] * DIM}])
        store_copy, table_copy, view_copy = pickle.loads(
            pickle.dumps((store, table, table.checkout(3)))
        )
        assert store_copy is not store and table_copy._store is store_copy
        assert store_copy.path == store.path and store_copy.metric == "l2"
        assert store_copy._maintainer.config == config
        assert table_copy.count() == 2 and view_copy.count() == 1 and view_copy.read_only
        table_copy.add([{"id": "c", "vector": [3.0] * DIM}])
        assert table.count() == 3
        store_copy.close()
