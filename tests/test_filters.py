"""The filter compiler: SQL pushdown and Python residual agree with a pure-Python oracle."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnivector as ov
from omnivector.core.filters import compile_filter, ids_filter

FIELDS = {
    "category": "string",
    "year": "int64",
    "score": "float64",
    "flag": "bool",
    "tags": "list<string>",
    "when": "timestamp",
}
CATEGORIES = ["paper", "blog", "it's", "a\\b", "DROP TABLE x; --", "nul\x00byte", ""]
TAGS = ["x", "y", "z'", "OR 1=1"]


def oracle(doc: dict[str, Any], where: dict[str, Any]) -> bool:
    """An independent evaluation of the documented semantics."""
    for key, spec in where.items():
        if key == "$and":
            if not all(oracle(doc, part) for part in spec):
                return False
        elif key == "$or":
            if not any(oracle(doc, part) for part in spec):
                return False
        elif key == "$not":
            if oracle(doc, spec):
                return False
        else:
            ops = spec if isinstance(spec, dict) else {"$eq": spec}
            value = _lookup(doc, key)
            for op, operand in ops.items():
                if not _atom(value, op, operand):
                    return False
    return True


def _lookup(doc: dict[str, Any], key: str) -> Any:
    if key in FIELDS or key in ("id", "text"):
        return doc.get(key)
    value: Any = doc.get("metadata") or {}
    for part in key.removeprefix("metadata.").split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _same_kind(a: Any, b: Any) -> bool:
    kinds = [
        (
            "bool"
            if isinstance(v, bool)
            else "num"
            if isinstance(v, (int, float))
            else type(v).__name__
        )
        for v in (a, b)
    ]
    return kinds[0] == kinds[1]


def _atom(value: Any, op: str, operand: Any) -> bool:
    if isinstance(operand, datetime):
        operand = operand.replace(tzinfo=UTC) if operand.tzinfo is None else operand
    if op == "$exists":
        return (value is not None) is operand
    if op == "$eq":
        return (
            value is None
            if operand is None
            else (value is not None and _same_kind(value, operand) and value == operand)
        )
    if op == "$ne":
        return not _atom(value, "$eq", operand)
    if op == "$in":
        return any(_atom(value, "$eq", o) for o in operand)
    if op == "$nin":
        return not _atom(value, "$in", operand)
    if op == "$contains":
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list):
            return any(_atom(v, "$eq", operand) for v in value)
        return False
    if value is None or not _same_kind(value, operand) or isinstance(value, bool):
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return {
        "$gt": value > operand,
        "$gte": value >= operand,
        "$lt": value < operand,
        "$lte": value <= operand,
    }[op]


def _doc(i: int, rng: np.random.Generator) -> dict[str, Any]:
    def maybe(v):
        return None if i % 7 == 3 else v

    return {
        "id": f"id-{i}'\"\\",
        "vector": rng.standard_normal(4).astype(np.float32),
        "text": f"row {i} {CATEGORIES[i % len(CATEGORIES)]}",
        "category": maybe(CATEGORIES[i % len(CATEGORIES)]),
        "year": maybe(2000 + i % 9),
        "score": maybe(float(i % 5) / 2),
        "flag": maybe(i % 2 == 0),
        "tags": maybe([TAGS[i % 4]] + ([TAGS[(i + 1) % 4]] if i % 3 else [])),
        "when": maybe(datetime(2020, 1, 1 + i % 20, tzinfo=UTC)),
        "metadata": {
            "n": i % 6,
            "s": CATEGORIES[i % 3],
            "f": i / 3,
            "b": i % 3 == 0,
            "nested": {"k": i % 4},
            "list": [i % 2, "v"],
            **({"opt": i} if i % 4 else {}),
        },
    }


@pytest.fixture(scope="module")
def filter_table(tmp_path_factory: pytest.TempPathFactory) -> Any:
    rng = np.random.default_rng(7)
    store = ov.VectorStore(tmp_path_factory.mktemp("filters"), dimension=4)
    table = store.create_table("f", fields=FIELDS)
    docs = [_doc(i, rng) for i in range(60)]
    table.add(docs)
    yield table, docs
    store.close()


scalar_conditions = st.one_of(
    st.tuples(
        st.just("category"),
        st.sampled_from(["$eq", "$ne", "$gt", "$lt", "$contains"]),
        st.sampled_from([*CATEGORIES, "zzz", "a"]),
    ),
    st.tuples(
        st.just("category"),
        st.sampled_from(["$in", "$nin"]),
        st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3),
    ),
    st.tuples(
        st.just("year"),
        st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
        st.one_of(st.integers(1998, 2010), st.floats(1999.5, 2009.5)),
    ),
    st.tuples(
        st.just("year"),
        st.sampled_from(["$in", "$nin"]),
        st.lists(st.integers(1999, 2010), min_size=1, max_size=4),
    ),
    st.tuples(
        st.just("score"),
        st.sampled_from(["$gt", "$lte", "$eq"]),
        st.sampled_from([0.0, 0.5, 1.0, 1.7, 3]),
    ),
    st.tuples(st.just("flag"), st.sampled_from(["$eq", "$ne"]), st.booleans()),
    st.tuples(st.just("tags"), st.just("$contains"), st.sampled_from([*TAGS, "none"])),
    st.tuples(
        st.sampled_from(["category", "year", "tags", "opt"]), st.just("$exists"), st.booleans()
    ),
    st.tuples(
        st.just("when"),
        st.sampled_from(["$gt", "$lte"]),
        st.sampled_from([datetime(2020, 1, 5), datetime(2020, 1, 15, tzinfo=UTC)]),
    ),
    st.tuples(
        st.sampled_from(["n", "metadata.n", "nested.k", "opt"]),
        st.sampled_from(["$eq", "$ne", "$gt", "$lte"]),
        st.integers(0, 6),
    ),
    st.tuples(
        st.just("s"),
        st.sampled_from(["$eq", "$in", "$contains"]),
        st.sampled_from([CATEGORIES[0], [CATEGORIES[1], "x"], "a"]),
    ),
    st.tuples(
        st.sampled_from(["b", "list"]),
        st.sampled_from(["$eq", "$contains"]),
        st.sampled_from([True, 1, "v", 0]),
    ),
    st.tuples(st.just("f"), st.sampled_from(["$gt", "$lt"]), st.floats(0, 20)),
)


def _leaf(item: tuple[str, str, Any]) -> dict[str, Any]:
    key, op, value = item
    if op in ("$in", "$nin") and not isinstance(value, list):
        value = [value]
    if op not in ("$in", "$nin") and isinstance(value, list):
        value = value[0]
    return {key: {op: value}}


filters = st.recursive(
    scalar_conditions.map(_leaf),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"$or": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"$and": xs}),
        inner.map(lambda x: {"$not": x}),
        st.tuples(inner, inner).map(
            lambda xs: {**xs[0], **{k: v for k, v in xs[1].items() if k not in xs[0]}}
        ),
    ),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=120)
@given(where=filters)
def test_filters_match_the_oracle(filter_table: Any, where: dict[str, Any]) -> None:
    table, docs = filter_table
    try:
        got = sorted(row["id"] for row in table.iter_documents(where=where, include_vector=False))
    except ov.InvalidFilterError:
        return  # e.g. a type the field cannot be compared with; rejected before any I/O
    expected = sorted(d["id"] for d in docs if oracle(d, where))
    assert got == expected
    assert table.count(where) == len(expected)


def test_declared_field_conditions_are_pushed_down() -> None:
    compiled = compile_filter({"category": "paper", "year": {"$gte": 2020}}, FIELDS)
    assert compiled.residual is None
    assert compiled.sql == "(`category` = 'paper') AND (`year` >= 2020)"


def test_metadata_conditions_become_a_residual() -> None:
    compiled = compile_filter({"category": "paper", "author.name": "Ada"}, FIELDS)
    assert compiled.sql == "(`category` = 'paper')"
    assert compiled.residual_columns == ("metadata",)
    assert compiled.matches({"metadata": {"author": {"name": "Ada"}}})
    assert not compiled.matches({"metadata": {"author": "Ada"}})


def test_quotes_are_escaped_as_data() -> None:
    compiled = compile_filter({"category": "x' OR '1'='1"}, FIELDS)
    assert compiled.sql == "(`category` = 'x'' OR ''1''=''1')"
    assert ids_filter(["a'b"]) == "`id` IN ('a''b')"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"year": {"$gte": "2020"}}, "needs a number"),
        ({"category": {"$foo": 1}}, "unknown operator"),
        ({"$nor": []}, "unknown logical operator"),
        ({"year": {"$in": []}}, "non-empty list"),
        ({"tags": "x"}, "filter it with"),
        ({"flag": {"$eq": 1}}, "true or false"),
        ({"year": {"$gt": float("nan")}}, "finite"),
        ({"metadata": 1}, "invalid field name"),
        ({"a..b": 1}, "invalid field name"),
        ({"$or": "x"}, "non-empty list"),
        ({"category": {"$gt": None}}, "cannot compare with None"),
        ({"when": {"$gt": "yesterday"}}, "ISO-8601"),
    ],
)
def test_bad_filters_are_rejected_clearly(where: dict[str, Any], message: str) -> None:
    with pytest.raises(ov.InvalidFilterError, match=message):
        compile_filter(where, FIELDS)


def test_non_dict_filter_is_rejected() -> None:
    with pytest.raises(ov.InvalidFilterError, match="must be a dict"):
        compile_filter("year > 3", FIELDS)  # type: ignore[arg-type]


def test_where_sql_is_combined_with_the_dict(filter_table: Any) -> None:
    table, docs = filter_table
    count = table.count({"flag": True}, where_sql="`year` > 2004")
    assert count == sum(1 for d in docs if d["flag"] is True and (d["year"] or 0) > 2004)
    with pytest.raises(ov.InvalidFilterError):
        table.count(where_sql="no_such_column = 1")
