"""Schema evolution: add, alter and drop declared fields (recorded in the table's spec)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from omnivector.core.errors import (
    InvalidInputError,
    SchemaError,
    lance_errors,
)
from omnivector.core.schema import (
    FIELD_TYPES,
    RESERVED_COLUMNS,
    SPEC_METADATA_KEY,
    TableSpec,
    check_field_name,
)
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset

__all__ = ["add_columns", "alter_columns", "drop_columns"]


def add_columns(ctx: TableContext, columns: Mapping[str, str], *, expressions: bool) -> None:
    if not isinstance(columns, Mapping) or not columns:
        raise InvalidInputError("add_columns takes a non-empty dict {name: type_or_expression}")
    existing = set(ctx.dataset().schema.names)
    for name, value in columns.items():
        check_field_name(name)
        if name in existing:
            raise SchemaError(f"column {name!r} already exists")
        if not isinstance(value, str):
            raise InvalidInputError(f"column {name!r}: expected a type name or SQL expression")
        if not expressions and value not in FIELD_TYPES:
            raise SchemaError(
                f"field {name!r} has unknown type {value!r}; use one of "
                f"{list(FIELD_TYPES)} (or expressions=True for SQL)"
            )
    with ctx.services.locks.maintenance(ctx.name):
        dataset = ctx.writable_dataset()
        with lance_errors(f"adding columns to {ctx.name!r}", user_sql=expressions):
            if expressions:
                dataset.add_columns(dict(columns))
            else:
                dataset.add_columns([pa.field(n, FIELD_TYPES[t]) for n, t in columns.items()])
        _record_fields(ctx, dataset)


def alter_columns(ctx: TableContext, alterations: Sequence[Mapping[str, Any]]) -> None:
    changes = []
    for alteration in alterations:
        if not isinstance(alteration, Mapping) or "path" not in alteration:
            raise InvalidInputError(
                "each alteration is a dict with 'path' and any of 'name', 'type', 'nullable'"
            )
        unknown = set(alteration) - {"path", "name", "type", "nullable"}
        if unknown:
            raise InvalidInputError(f"unknown alteration key(s) {sorted(unknown)}")
        path = alteration["path"]
        _check_user_column(ctx, path)
        change: dict[str, Any] = {"path": path}
        if "name" in alteration:
            change["name"] = check_field_name(alteration["name"])
        if "type" in alteration:
            if alteration["type"] not in FIELD_TYPES:
                raise SchemaError(f"unknown type {alteration['type']!r}; use {list(FIELD_TYPES)}")
            change["data_type"] = FIELD_TYPES[alteration["type"]]
        if "nullable" in alteration:
            change["nullable"] = bool(alteration["nullable"])
        changes.append(change)
    with ctx.services.locks.maintenance(ctx.name):
        dataset = ctx.writable_dataset()
        with lance_errors(f"altering columns of {ctx.name!r}"):
            dataset.alter_columns(*changes)  # type: ignore[arg-type]
        _record_fields(ctx, dataset)


def drop_columns(ctx: TableContext, columns: list[str]) -> None:
    if not columns:
        raise InvalidInputError("drop_columns takes a non-empty list of field names")
    for name in columns:
        _check_user_column(ctx, name)
    with ctx.services.locks.maintenance(ctx.name):
        dataset = ctx.writable_dataset()
        with lance_errors(f"dropping columns of {ctx.name!r}"):
            dataset.drop_columns(list(columns))
        _record_fields(ctx, dataset)


def _check_user_column(ctx: TableContext, name: object) -> None:
    if name in RESERVED_COLUMNS:
        raise SchemaError(f"{name!r} is a reserved column and cannot be changed or dropped")
    if not isinstance(name, str) or name not in ctx.dataset().schema.names:
        raise SchemaError(f"table {ctx.name!r} has no column {name!r}")


def _record_fields(ctx: TableContext, dataset: Dataset) -> None:
    """Record the declared fields after a schema change in the table's spec."""
    by_type = {str(kind): name for name, kind in FIELD_TYPES.items()}
    fields = {
        f.name: by_type[str(f.type)]
        for f in dataset.schema
        if f.name not in RESERVED_COLUMNS and str(f.type) in by_type
    }
    old = TableSpec.from_schema(dataset.schema)
    spec = replace(old, fields=fields)
    with lance_errors(f"recording the schema of {ctx.name!r}"):
        dataset.update_schema_metadata({SPEC_METADATA_KEY.decode(): spec.to_json()})
    ctx.spec = spec
    ctx.publish(dataset)
