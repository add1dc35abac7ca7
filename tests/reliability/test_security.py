"""Bad input and attack surface: only OmnivectorError comes out, nothing changes, no escape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnivector as ov

DIM = 4
NASTY = [
    "'",
    "''",
    "\\",
    "\\'",
    "\x00",
    "a\x00b",
    "'; DROP TABLE t; --",
    "OR 1=1",
    "%",
    "_",
    '"',
    "`",
    "é",
    "🙂",
    "NULL",
    "true",
    " ",
    "\n",
]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = ov.VectorStore(
        tmp_path_factory.mktemp("sec"),
        dimension=DIM,
        maintenance=ov.MaintenanceConfig(enabled=False),
    )
    tbl = store.create_table("t", fields={"label": "string"})
    docs = [
        {
            "id": f"x{value}{i}",
            "vector": [float(i + 1)] * DIM,
            "label": value,
            "metadata": {"m": value},
        }
        for i, value in enumerate(NASTY)
    ]
    tbl.add(docs)
    yield tbl, docs
    store.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80)
@given(
    value=st.one_of(st.sampled_from(NASTY), st.text(max_size=12)),
    op=st.sampled_from(["$eq", "$ne", "$contains", "$in"]),
    key=st.sampled_from(["label", "m", "id"]),
)
def test_filter_values_are_data(table: Any, value: str, op: str, key: str) -> None:
    tbl, docs = table

    def stored(doc: dict[str, Any]) -> Any:
        return doc["metadata"]["m"] if key == "m" else doc[key]

    operand: Any = [value] if op == "$in" else value
    expected = sorted(
        d["id"]
        for d in docs
        if (op in ("$eq", "$in") and stored(d) == value)
        or (op == "$ne" and stored(d) != value)
        or (op == "$contains" and value in stored(d))
    )
    got = sorted(
        d["id"] for d in tbl.iter_documents(where={key: {op: operand}}, include_vector=False)
    )
    assert got == expected
    assert tbl.count() == len(docs)  # nothing was deleted or altered


def test_nasty_ids_round_trip_and_delete_exactly(table: Any) -> None:
    tbl, docs = table
    ids = [d["id"] for d in docs]
    assert [d["id"] for d in tbl.get(ids)] == ids
    assert tbl.delete(["x' OR '1'='1"]).deleted == 0
    assert tbl.count() == len(docs)


documents = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
        "vector": st.one_of(
            st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6),
            st.text(max_size=3),
            st.none(),
            st.integers(),
        ),
        "metadata": st.one_of(
            st.none(),
            st.dictionaries(
                st.text(max_size=3),
                st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.binary(max_size=3)),
                max_size=2,
            ),
            st.text(max_size=4),
            st.integers(),
        ),
    },
    optional={
        "text": st.one_of(st.text(max_size=50), st.integers()),
        "label": st.one_of(st.text(max_size=3), st.integers(), st.floats()),
    },
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(batch=st.lists(documents, min_size=1, max_size=3))
def test_fuzzed_documents_fail_cleanly_and_change_nothing(
    table: Any, batch: list[dict[str, Any]]
) -> None:
    tbl, _docs = table
    version, count = tbl.version, tbl.count()
    try:
        result = tbl.add(batch)
    except ov.OmnivectorError as exc:
        assert str(exc)
        assert (tbl.version, tbl.count()) == (version, count)
    else:
        tbl.delete(ids=[d["id"] for d in batch])
        assert result.inserted == len(batch)


@settings(max_examples=100)
@given(
    name=st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            ["..", "../x", "/etc", "a/../../b", ".hidden", "x" * 200, "a\x00b", "~root"]
        ),
    )
)
def test_table_names_never_leave_the_root(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    root = tmp_path_factory.mktemp("names")
    with ov.VectorStore(root / "store", dimension=DIM) as store:
        try:
            store.create_table(name)
        except ov.OmnivectorError:
            return
        created = Path(store.table(name).uri).resolve()
        assert created.parent == (root / "store").resolve()


@pytest.mark.parametrize(
    "where",
    [
        {"label": {"$regex": "x"}},
        {"$where": "1"},
        [1],
        "x = 1",
        {"label": {"$eq": {"nested": 1}}},
        {"label": object()},
    ],
)
def test_malformed_filters_raise_invalid_filter(table: Any, where: Any) -> None:
    tbl, _ = table
    with pytest.raises(ov.InvalidFilterError):
        tbl.count(where)


def test_symlinked_tables_outside_the_store_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    with ov.VectorStore(outside, dimension=DIM) as other:
        other.create_table("secret").add([{"id": "s", "vector": [1.0] * DIM}])
    root = tmp_path / "store"
    root.mkdir()
    with ov.VectorStore(root, dimension=DIM) as store:
        os.symlink(outside / "secret.lance", root / "secret.lance")
        assert store.table_names() == []
        assert "secret" not in store
        with pytest.raises(ov.InvalidInputError, match="outside the store"):
            store.table("secret")


def test_many_tables_stay_within_budgets_and_descriptors(tmp_path: Path) -> None:
    config = ov.DatasetCacheConfig(
        max_cached_tables=16, index_cache_bytes=4 << 20, metadata_cache_bytes=4 << 20
    )
    with ov.VectorStore(
        tmp_path, dimension=DIM, cache=config, maintenance=ov.MaintenanceConfig(enabled=False)
    ) as store:
        rng = np.random.default_rng(0)
        descriptors: list[int] = []
        for i in range(1000):
            table = store.create_table(f"t{i}")
            table.add([{"id": "a", "vector": rng.random(DIM)}])
            table.search(rng.random(DIM), k=1)
            if i in (100, 999):
                descriptors.append(len(os.listdir("/proc/self/fd")))
        info = store.cache_info()
        assert info.open_tables <= 16
        assert info.session_bytes <= 8 << 20
        assert descriptors[1] <= descriptors[0] + 10
