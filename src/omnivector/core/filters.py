"""The filter language: a dict DSL compiled to safe Lance SQL, plus an exact Python twin.

``{"category": "paper", "year": {"$gte": 2020}, "$or": [...], "tags": {"$contains": "x"}}``

Conditions on declared fields, ``id`` and ``text`` are pushed down to Lance as SQL (so
scalar indexes apply); conditions on metadata keys (any other name, or ``metadata.a.b``)
are evaluated in Python on the decoded metadata. Every value is rendered as a quoted
literal here and nowhere else; identifiers come only from the table's own schema.

Semantics: a comparison with a missing or null value is false, except ``$ne`` and
``$nin``, which are true for it. ``{"k": None}`` matches missing/null values. Types are
compared strictly: ``1`` does not equal ``"1"`` or ``True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from omnivector.core.errors import InvalidFilterError
from omnivector.core.validation import is_number

__all__ = ["MATCH_ALL", "CompiledFilter", "compile_filter", "ids_filter"]

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_COMPARISONS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_SET_OPS = ("$in", "$nin")
_LOGICAL = ("$and", "$or", "$not")
_OPERATORS = (*_COMPARISONS, *_SET_OPS, "$contains", "$exists")
_BASE_COLUMNS = {"id": "string", "text": "string"}
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A compiled filter: the SQL pushed down to Lance and a Python residual.

    A row matches when it passes ``sql`` (in Lance) and ``residual`` (in Python). Either may
    be ``None``. ``residual_columns`` are the columns the residual reads.
    """

    sql: str | None
    residual: Predicate | None
    residual_columns: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return self.sql is None and self.residual is None

    def matches(self, row: Row) -> bool:
        """Evaluate the residual on a row with decoded metadata (True when there is none)."""
        return self.residual is None or self.residual(row)


MATCH_ALL = CompiledFilter(None, None, ())


def compile_filter(
    where: Mapping[str, Any] | None,
    fields: Mapping[str, str],
    *,
    where_sql: str | None = None,
) -> CompiledFilter:
    """Compile a dict filter over a table with declared ``fields`` ({name: type})."""
    if where_sql is not None and (not isinstance(where_sql, str) or not where_sql.strip()):
        raise InvalidFilterError("where_sql must be a non-empty SQL string")
    if where is None or (isinstance(where, Mapping) and not where):
        return CompiledFilter(where_sql, None, ())
    if not isinstance(where, Mapping):
        raise InvalidFilterError(
            f"where must be a dict such as {{'category': 'paper'}}, got {type(where).__name__}"
        )
    columns = {**_BASE_COLUMNS, **fields}
    conjuncts = _Compiler(columns).conjuncts(where, depth=0)
    pushed = [node.sql for node in conjuncts if node.sql is not None]
    kept = [node for node in conjuncts if node.sql is None]
    if where_sql is not None:
        pushed.append(where_sql)
    sql = " AND ".join(f"({part})" for part in pushed) if pushed else None
    if not kept:
        return CompiledFilter(sql, None, ())
    tests = [node.test for node in kept]
    needed = sorted({col for node in kept for col in node.columns})

    def residual(row: Row) -> bool:
        return all(test(row) for test in tests)

    return CompiledFilter(sql, residual, tuple(needed))


@dataclass(frozen=True, slots=True)
class _Node:
    sql: str | None  # None: cannot be pushed down, evaluate in Python
    test: Predicate
    columns: frozenset[str]


class _Compiler:
    def __init__(self, columns: Mapping[str, str]) -> None:
        self.columns = columns

    def conjuncts(self, where: Mapping[str, Any], depth: int) -> list[_Node]:
        if depth > _MAX_DEPTH:
            raise InvalidFilterError(f"filter nests deeper than {_MAX_DEPTH} levels")
        if not isinstance(where, Mapping):
            raise InvalidFilterError(f"expected a dict of conditions, got {where!r}")
        nodes: list[_Node] = []
        for key, value in where.items():
            if not isinstance(key, str):
                raise InvalidFilterError(f"filter keys must be strings, got {key!r}")
            if key == "$and":
                for item in _as_list(key, value):
                    nodes.extend(self.conjuncts(item, depth + 1))
            elif key == "$or":
                nodes.append(_any_of([self.group(i, depth + 1) for i in _as_list(key, value)]))
            elif key == "$not":
                nodes.append(_negate(self.group(value, depth + 1)))
            elif key.startswith("$"):
                raise InvalidFilterError(
                    f"unknown logical operator {key!r}; use one of {list(_LOGICAL)}"
                )
            else:
                nodes.extend(self.field_conditions(key, value))
        return nodes

    def group(self, where: Any, depth: int) -> _Node:
        return _all_of(self.conjuncts(where, depth))

    def field_conditions(self, key: str, spec: Any) -> list[_Node]:
        target = self.target(key)
        if (
            isinstance(spec, Mapping)
            and spec
            and all(isinstance(k, str) and k.startswith("$") for k in spec)
        ):
            return [self.condition(target, op, value) for op, value in spec.items()]
        if isinstance(spec, Mapping):
            raise InvalidFilterError(
                f"condition on {key!r} must be a value or a dict of operators such as {{'$gte': 3}}"
            )
        return [self.condition(target, "$eq", spec)]

    def target(self, key: str) -> _Target:
        if key in self.columns:
            return _Target(key, self.columns[key], ())
        path = key.removeprefix("metadata.") if key.startswith("metadata.") else key
        parts = tuple(path.split("."))
        if key == "metadata" or not all(parts):
            raise InvalidFilterError(
                f"invalid field name {key!r}: use a declared field or a metadata key path "
                "such as 'metadata.author.name'"
            )
        return _Target("metadata", None, parts)

    def condition(self, target: _Target, op: str, value: Any) -> _Node:
        if op not in _OPERATORS:
            raise InvalidFilterError(f"unknown operator {op!r}; use one of {list(_OPERATORS)}")
        test = _python_test(target, op, value)
        sql = _sql_condition(target, op, value) if target.kind is not None else None
        return _Node(sql, test, frozenset({target.column}))


@dataclass(frozen=True, slots=True)
class _Target:
    column: str
    kind: str | None  # declared type, or None for a metadata path
    path: tuple[str, ...]

    @property
    def label(self) -> str:
        return ".".join(("metadata", *self.path)) if self.kind is None else self.column

    def get(self, row: Row) -> tuple[bool, Any]:
        """(present, value) for this target in a row."""
        value: Any = row.get(self.column)
        for part in self.path:
            if not isinstance(value, Mapping) or part not in value:
                return False, None
            value = value[part]
        return value is not None, value


# -- combinators ------------------------------------------------------------------------


def _all_of(nodes: Sequence[_Node]) -> _Node:
    if not nodes:
        raise InvalidFilterError("an empty condition group matches nothing useful; remove it")
    if len(nodes) == 1:
        return nodes[0]
    sql = None if any(n.sql is None for n in nodes) else " AND ".join(f"({n.sql})" for n in nodes)
    tests = [n.test for n in nodes]
    return _Node(
        sql, lambda row: all(t(row) for t in tests), frozenset().union(*(n.columns for n in nodes))
    )


def _any_of(nodes: Sequence[_Node]) -> _Node:
    if not nodes:
        raise InvalidFilterError("$or needs at least one condition")
    sql = None if any(n.sql is None for n in nodes) else " OR ".join(f"({n.sql})" for n in nodes)
    tests = [n.test for n in nodes]
    return _Node(
        sql, lambda row: any(t(row) for t in tests), frozenset().union(*(n.columns for n in nodes))
    )


def _negate(node: _Node) -> _Node:
    # coalesce keeps NOT two-valued: a condition that is unknown (null) counts as false.
    sql = None if node.sql is None else f"NOT coalesce(({node.sql}), false)"
    inner = node.test
    return _Node(sql, lambda row: not inner(row), node.columns)


def _as_list(op: str, value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidFilterError(f"{op} takes a non-empty list of condition dicts")
    return list(value)


# -- SQL rendering (the only place filter values become SQL text) -----------------------


def _sql_condition(target: _Target, op: str, value: Any) -> str | None:
    column = f"`{target.column}`"
    kind = target.kind
    assert kind is not None
    if op == "$exists":
        _check_bool(op, value)
        return f"{column} IS NOT NULL" if value else f"{column} IS NULL"
    if op == "$contains":
        if kind == "list<string>":
            return f"array_has({column}, {_literal(target, kind, value, op)})"
        if kind == "string":
            text = _literal(target, kind, value, op)
            return f"strpos({column}, {text}) > 0"
        raise InvalidFilterError(
            f"$contains needs a string or list<string> field; {target.label!r} is {kind}"
        )
    if kind == "list<string>":
        raise InvalidFilterError(f"{target.label!r} is a list; filter it with $contains or $exists")
    if op in _SET_OPS:
        values = _set_values(op, value)
        if any(v is None for v in values):
            raise InvalidFilterError(f"{op} values must not be None; use $exists instead")
        items = ", ".join(_literal(target, kind, v, op) for v in values)
        left = _numeric_column(column, kind, values)
        return (
            f"{left} IN ({items})"
            if op == "$in"
            else (f"({column} IS NULL OR NOT ({left} IN ({items})))")
        )
    if value is None:
        if op == "$eq":
            return f"{column} IS NULL"
        if op == "$ne":
            return f"{column} IS NOT NULL"
        raise InvalidFilterError(f"{op} cannot compare with None")
    left = _numeric_column(column, kind, [value])
    literal = _literal(target, kind, value, op)
    if op == "$ne":
        return f"({column} IS NULL OR {left} <> {literal})"
    return f"{left} {_COMPARISONS[op]} {literal}"


def _numeric_column(column: str, kind: str, values: Sequence[Any]) -> str:
    # Lance cannot compare an int64 column with a fractional literal; compare as doubles.
    if kind == "int64" and any(isinstance(v, float) for v in values):
        return f"CAST({column} AS DOUBLE)"
    return column


def _literal(target: _Target, kind: str, value: Any, op: str) -> str:
    label = target.label
    if kind in ("string", "list<string>"):
        if not isinstance(value, str):
            raise InvalidFilterError(f"{op} on {label!r} needs a string, got {value!r}")
        return _quote(value)
    if kind == "bool":
        _check_bool(op, value, label)
        return "true" if value else "false"
    if kind in ("int64", "float64"):
        if not is_number(value):
            raise InvalidFilterError(f"{op} on {label!r} needs a number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidFilterError(f"{op} on {label!r} needs a finite number, got {value!r}")
        if isinstance(value, int) and abs(value) >= 2**63:
            raise InvalidFilterError(f"{op} on {label!r}: {value} is outside the 64-bit range")
        return repr(float(value)) if isinstance(value, float) else str(int(value))
    if kind == "timestamp":
        moment = _as_utc(value, label, op)
        return "TIMESTAMP '" + moment.replace(tzinfo=None).isoformat(sep=" ") + "'"
    raise InvalidFilterError(f"cannot filter {label!r} of type {kind}")


def _check_bool(op: str, value: Any, label: str = "") -> None:
    if not isinstance(value, bool):
        where = f" on {label!r}" if label else ""
        raise InvalidFilterError(f"{op}{where} needs true or false, got {value!r}")


def _set_values(op: str, value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise InvalidFilterError(f"{op} takes a non-empty list of values, got {value!r}")
    return list(value)


def _as_utc(value: Any, label: str, op: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidFilterError(f"{op} on {label!r}: {value!r} is not ISO-8601") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise InvalidFilterError(f"{op} on {label!r} needs a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- the Python twin ----------------------------------------------------------------------


def _python_test(target: _Target, op: str, value: Any) -> Predicate:
    """The exact Python meaning of one condition (also validates the operand's shape)."""
    if target.kind == "timestamp" and op not in ("$exists", "$contains"):
        if op in _SET_OPS:
            value = [_as_utc(v, target.label, op) for v in _set_values(op, value)]
        elif value is not None:
            value = _as_utc(value, target.label, op)
    if op == "$exists":
        _check_bool(op, value, target.label)
        return lambda row: target.get(row)[0] is value
    if op in _SET_OPS:
        options = _set_values(op, value)
        for option in options:
            _check_operand(op, option, target.label)
        if op == "$in":
            return lambda row: _present_and(
                target, row, lambda v: any(_equal(v, o) for o in options)
            )
        return lambda row: (
            not _present_and(target, row, lambda v: any(_equal(v, o) for o in options))
        )
    if op == "$contains":
        if isinstance(value, (Mapping, list)) or value is None:
            raise InvalidFilterError(f"$contains on {target.label!r} needs a scalar value")
        return lambda row: _present_and(target, row, lambda v: _contains(v, value))
    _check_operand(op, value, target.label)
    if value is None:
        if op == "$eq":
            return lambda row: not target.get(row)[0]
        if op == "$ne":
            return lambda row: target.get(row)[0]
        raise InvalidFilterError(f"{op} cannot compare with None")
    if op == "$eq":
        return lambda row: _present_and(target, row, lambda v: _equal(v, value))
    if op == "$ne":
        return lambda row: not _present_and(target, row, lambda v: _equal(v, value))
    compare = _ORDERINGS[op]
    return lambda row: _present_and(target, row, lambda v: _ordered(v, value, compare))


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _check_operand(op: str, value: Any, label: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidFilterError(f"{op} on {label!r} needs a finite number, got {value!r}")
    if isinstance(value, (Mapping, list, tuple, set)):
        raise InvalidFilterError(f"{op} on {label!r} needs a scalar value, got {value!r}")
    if value is not None and not isinstance(value, (str, int, float, bool, datetime)):
        raise InvalidFilterError(
            f"{op} on {label!r}: unsupported value type {type(value).__name__}"
        )


def _present_and(target: _Target, row: Row, check: Callable[[Any], bool]) -> bool:
    present, value = target.get(row)
    return present and check(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "time"
    return "other"


def _equal(a: Any, b: Any) -> bool:
    return _kind(a) == _kind(b) != "other" and bool(a == b)


def _ordered(a: Any, b: Any, compare: Callable[[Any, Any], bool]) -> bool:
    kind = _kind(a)
    if kind != _kind(b) or kind in ("bool", "other"):
        return False
    if kind == "number" and isinstance(a, float) and math.isnan(a):
        return False
    return compare(a, b)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        return any(_equal(element, item) for element in container)
    return False


def ids_filter(ids: Sequence[str]) -> str:
    """SQL matching rows whose ``id`` is one of ``ids`` (values quoted here, as data)."""
    if not ids:
        return "false"
    return "`id` IN (" + ", ".join(_quote(value) for value in ids) + ")"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
