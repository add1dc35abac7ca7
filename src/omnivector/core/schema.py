"""The document schema: reserved columns, declared fields and their types, and :class:`TableSpec`.

A table stores ``id`` (string, unique), ``vector`` (fixed-size list), ``text`` and
``metadata`` (encoded JSON or MessagePack), plus any declared, typed fields. Input in any
accepted shape is validated here, in one place, before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack
import numpy as np
import pyarrow as pa

from omnivector.core.checks import check_vectors
from omnivector.core.conversion import (
    HOW_TO_EMBED,
    cast_column,
    check_json_value,
    decode_metadata,
    ids_array,
    iter_arrow_batches,
    parse_json_metadata,
    vectors_to_numpy,
)
from omnivector.core.errors import (
    InvalidInputError,
    InvalidNameError,
    SchemaError,
)
from omnivector.core.layout import DEFAULT_STORAGE, StorageOptions
from omnivector.core.validation import is_integer

__all__ = [
    "FIELD_TYPES",
    "RESERVED_COLUMNS",
    "TableSpec",
    "check_table_name",
]

Metric = Literal["l2", "cosine", "dot"]
METRICS: tuple[str, ...] = ("l2", "cosine", "dot")
RESERVED_COLUMNS = ("id", "vector", "text", "metadata")
FIELD_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<string>": pa.list_(pa.string()),
}
SPEC_METADATA_KEY = b"omnivector"

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_FIELD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MAX_DIMENSION = 65536


def check_table_name(name: object) -> str:
    """Return ``name`` if it is a valid table name, else raise ``InvalidNameError``."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid table name {name!r}: use 1-128 characters from A-Z, a-z, 0-9, '_' and '-'"
        )
    return name


def check_field_name(name: object) -> str:
    """Return ``name`` if it can name a declared column, else raise ``InvalidNameError``."""
    if not isinstance(name, str) or not _FIELD_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid field name {name!r}: start with a letter or '_', then letters, digits "
            "or '_' (at most 128)"
        )
    if name in RESERVED_COLUMNS:
        raise SchemaError(f"{name!r} is a reserved column; choose another field name")
    return name


def check_dimension(dimension: object) -> int:
    """Return a valid vector dimension or raise ``InvalidInputError``."""
    if not is_integer(dimension) or not (1 <= dimension <= _MAX_DIMENSION):
        raise InvalidInputError(
            f"dimension must be an integer from 1 to {_MAX_DIMENSION}, got {dimension!r}"
        )
    return dimension


def check_metric(metric: object) -> Metric:
    """Return a valid metric name or raise ``InvalidInputError``."""
    if metric not in METRICS:
        raise InvalidInputError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    return metric  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What a table is: vector dimension and metric, declared fields, storage layout."""

    dimension: int
    metric: Metric = "cosine"
    fields: Mapping[str, str] = field(default_factory=dict)
    storage: StorageOptions = DEFAULT_STORAGE
    #: the embedding function's recorded config (``{"name": ..., "options": {...}}``)
    embedding: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_dimension(self.dimension)
        check_metric(self.metric)
        if not isinstance(self.fields, Mapping):
            raise InvalidInputError("fields must be a dict of {name: type}")
        for name, kind in self.fields.items():
            check_field_name(name)
            if kind not in FIELD_TYPES:
                raise SchemaError(
                    f"field {name!r} has unknown type {kind!r}; use one of {list(FIELD_TYPES)}"
                )
        object.__setattr__(self, "fields", dict(self.fields))

    @property
    def vector_type(self) -> pa.DataType:
        value = pa.float16() if self.storage.vector_dtype == "float16" else pa.float32()
        return pa.list_(value, self.dimension)

    @property
    def metadata_type(self) -> pa.DataType:
        return pa.string() if self.storage.metadata_encoding == "json" else pa.binary()

    def arrow_schema(self, extra_fields: Iterable[pa.Field] = ()) -> pa.Schema:
        """The Arrow schema written to Lance, carrying encoding hints and this spec."""
        columns = [
            pa.field("id", pa.string(), nullable=False, metadata=self.storage.id_field_metadata()),
            pa.field("vector", self.vector_type, nullable=False),
            pa.field("text", pa.string(), metadata=self.storage.text_field_metadata()),
            pa.field(
                "metadata", self.metadata_type, metadata=self.storage.metadata_field_metadata()
            ),
        ]
        columns += [pa.field(name, FIELD_TYPES[kind]) for name, kind in self.fields.items()]
        columns += list(extra_fields)
        return pa.schema(columns, metadata={SPEC_METADATA_KEY: self.to_json().encode()})

    def to_json(self) -> str:
        raw: dict[str, Any] = {
            "format": 1,
            "dimension": self.dimension,
            "metric": self.metric,
            "fields": dict(self.fields),
            "storage": self.storage.to_dict(),
        }
        if self.embedding is not None:
            raw["embedding"] = dict(self.embedding)
        return json.dumps(raw)

    @classmethod
    def from_json(cls, text: str | bytes) -> TableSpec:
        raw = json.loads(text)
        return cls(
            dimension=raw["dimension"],
            metric=raw["metric"],
            fields=raw.get("fields", {}),
            storage=StorageOptions.from_dict(raw.get("storage", {})),
            embedding=raw.get("embedding"),
        )

    @classmethod
    def from_schema(cls, schema: pa.Schema) -> TableSpec:
        """Read the spec recorded in a table's schema metadata."""
        meta = schema.metadata or {}
        if SPEC_METADATA_KEY not in meta:
            raise SchemaError("this Lance dataset was not created by omnivector (no table spec)")
        return cls.from_json(meta[SPEC_METADATA_KEY])

    # -- encoding ---------------------------------------------------------------------------

    def encode_metadata(self, value: object) -> str | bytes | None:
        """Encode one document's metadata dict for storage."""
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_json_metadata(value)
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                f"metadata must be a dict (or a JSON object string), got {type(value).__name__}"
            )
        check_json_value(value, "metadata")
        if self.storage.metadata_encoding == "json":
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return msgpack.packb(value, use_bin_type=True)

    def decode_metadata(self, raw: str | bytes | None) -> dict[str, Any]:
        return decode_metadata(raw)

    # -- conversion ---------------------------------------------------------------------

    def to_arrow(
        self, data: object, *, extra_schema: pa.Schema | None = None, defer_checks: bool = False
    ) -> pa.Table:
        """Validate any accepted input and convert it to a table in the stored schema.

        ``defer_checks=True`` leaves the checks that read every value (:func:`check_vectors`)
        to the caller, which may run them while the rows are being written.
        """
        schema = self.arrow_schema(extra_schema or [])
        batches = [self._batch_to_arrow(b, schema) for b in iter_arrow_batches(data)]
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        if not defer_checks:
            check_vectors(table, metric=self.metric)
        return table

    def _batch_to_arrow(self, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        names = set(batch.schema.names)
        allowed = set(schema.names)
        unknown = sorted(names - allowed)
        if unknown:
            raise InvalidInputError(
                f"unknown column(s) {unknown}: declare them with fields= when creating the "
                "table, or put them under 'metadata'"
            )
        if "id" not in names:
            raise InvalidInputError("every document needs an 'id'")
        if "vector" not in names:
            raise InvalidInputError(f"every document needs a 'vector'{HOW_TO_EMBED}")
        rows = batch.num_rows
        arrays: list[pa.Array] = [
            ids_array(batch.column("id")),
            self._vector_array(batch.column("vector")),
            cast_column(batch, "text", pa.string(), rows),
            self._metadata_array(batch, rows),
        ]
        for fld in list(schema)[4:]:
            arrays.append(cast_column(batch, fld.name, fld.type, rows))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _vector_array(self, column: pa.Array) -> pa.Array:
        matrix = vectors_to_numpy(column, self.dimension)
        dtype = np.float16 if self.storage.vector_dtype == "float16" else np.float32
        with np.errstate(over="ignore"):  # too large for float16: found by check_vectors
            flat = pa.array(matrix.astype(dtype, copy=False).ravel())
        return pa.FixedSizeListArray.from_arrays(flat, self.dimension)

    def _metadata_array(self, batch: pa.RecordBatch, rows: int) -> pa.Array:
        if "metadata" not in batch.schema.names:
            return pa.nulls(rows, self.metadata_type)
        column = batch.column("metadata")
        if column.type == self.metadata_type and self.storage.metadata_encoding == "msgpack":
            values = [decode_metadata(v) for v in column.to_pylist()]
        else:
            values = column.to_pylist()
        encoded = [self.encode_metadata(v) for v in values]
        return pa.array(encoded, type=self.metadata_type)
