"""The document schema: reserved columns, declared fields, validation and Arrow conversion.

A table stores ``id`` (string, unique), ``vector`` (fixed-size list), ``text`` and
``metadata`` (encoded JSON or MessagePack), plus any declared, typed fields. Input in any
accepted shape is validated here, in one place, before anything is written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeVar

import msgpack
import numpy as np
import pyarrow as pa

from omnivector.core.errors import (
    DimensionMismatchError,
    DuplicateIdError,
    InvalidInputError,
    InvalidNameError,
    SchemaError,
)
from omnivector.core.layout import DEFAULT_STORAGE, StorageOptions
from omnivector.storage.id_hashes import SortedIdHashes

__all__ = [
    "FIELD_TYPES",
    "RESERVED_COLUMNS",
    "TableSpec",
    "check_table_name",
    "decode_metadata",
    "iter_arrow_batches",
    "rows_from_arrow",
    "with_float32_vectors",
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
WRITE_BATCH_ROWS = 4096

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
    if (
        isinstance(dimension, bool)
        or not isinstance(dimension, int)
        or not (1 <= dimension <= _MAX_DIMENSION)
    ):
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
            value = _parse_json_metadata(value)
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                f"metadata must be a dict (or a JSON object string), got {type(value).__name__}"
            )
        _check_json_value(value, "metadata")
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

        ``defer_checks=True`` leaves the checks that read every value (:func:`check_rows`)
        to the caller, which may run them while the rows are being written.
        """
        schema = self.arrow_schema(extra_schema or [])
        batches = [self._batch_to_arrow(b, schema) for b in iter_arrow_batches(data)]
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        if not defer_checks:
            check_rows(table, metric=self.metric)
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
            raise InvalidInputError(f"every document needs a 'vector'{_HOW_TO_EMBED}")
        rows = batch.num_rows
        arrays: list[pa.Array] = [
            _ids_array(batch.column("id")),
            self._vector_array(batch.column("vector")),
            _cast_column(batch, "text", pa.string(), rows),
            self._metadata_array(batch, rows),
        ]
        for fld in list(schema)[4:]:
            arrays.append(_cast_column(batch, fld.name, fld.type, rows))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _vector_array(self, column: pa.Array) -> pa.Array:
        matrix = vectors_to_numpy(column, self.dimension)
        dtype = np.float16 if self.storage.vector_dtype == "float16" else np.float32
        with np.errstate(over="ignore"):  # too large for float16: found by check_rows
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


# -- input shapes ---------------------------------------------------------------------------


_HOW_TO_EMBED = (
    "; to make vectors from 'text', give the table an embedding function: "
    "store.create_table(name, embedding=fn)"
)


def iter_arrow_batches(data: object) -> Iterator[pa.RecordBatch]:
    """Yield record batches of at most ``WRITE_BATCH_ROWS`` rows from any accepted input."""
    if isinstance(data, pa.RecordBatchReader):
        for batch in data:
            yield from _split(batch)
        return
    if isinstance(data, pa.RecordBatch):
        yield from _split(data)
        return
    if isinstance(data, pa.Table):
        for batch in data.to_batches(max_chunksize=WRITE_BATCH_ROWS):
            yield batch
        return
    if is_dataframe(data):
        yield from iter_arrow_batches(dataframe_to_arrow(data))
        return
    if isinstance(data, Mapping):
        data = [data]
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise InvalidInputError(
            "documents must be a list of dicts, a pyarrow Table/RecordBatchReader or a "
            f"pandas/polars DataFrame, got {type(data).__name__}"
        )
    chunk: list[Mapping[str, Any]] = []
    for row in data:
        if not isinstance(row, Mapping):
            raise InvalidInputError(f"each document must be a dict, got {type(row).__name__}")
        chunk.append(row)
        if len(chunk) == WRITE_BATCH_ROWS:
            yield _rows_to_batch(chunk)
            chunk = []
    if chunk:
        yield _rows_to_batch(chunk)


def _split(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, WRITE_BATCH_ROWS):
        yield batch.slice(start, WRITE_BATCH_ROWS)


def is_dataframe(data: object) -> bool:
    module = type(data).__module__
    return type(data).__name__ == "DataFrame" and module.split(".")[0] in ("pandas", "polars")


def dataframe_to_arrow(frame: Any) -> pa.Table:
    if type(frame).__module__.startswith("polars"):
        return frame.to_arrow()
    return pa.Table.from_pandas(frame, preserve_index=False)


def _rows_to_batch(rows: list[Mapping[str, Any]]) -> pa.RecordBatch:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    columns: dict[str, pa.Array] = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        columns[key] = _python_column(key, values)
    return pa.RecordBatch.from_pydict(columns)


def _python_column(key: str, values: list[Any]) -> pa.Array:
    """Build one column from Python values; metadata and vectors stay loosely typed."""
    if key == "vector":
        return _python_vectors(values)
    if key == "metadata":
        return pa.array([_metadata_text(v) for v in values], pa.string())
    if key == "id":
        for value in values:
            if value is None:
                raise InvalidInputError("every document needs an 'id'")
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"ids must be strings, got {type(value).__name__} {value!r}; convert them "
                    "with str()"
                )
        return pa.array(values, pa.string())
    if all(v is None or isinstance(v, (str, date)) for v in values):
        # Timestamps given partly as datetimes and partly as ISO strings.
        values = [v.isoformat() if isinstance(v, date) else v for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise InvalidInputError(
            f"column {key!r} has values of mixed or invalid types: {exc}"
        ) from exc


def _metadata_text(value: object) -> str | None:
    """Python metadata as JSON text; re-encoded to the table's encoding by the spec."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"metadata must be a dict (or a JSON object string), got {type(value).__name__}"
        )
    _check_json_value(value, "metadata")
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _python_vectors(values: list[Any]) -> pa.Array:
    lengths: set[int] = set()
    arrays: list[np.ndarray] = []
    for value in values:
        if value is None:
            raise InvalidInputError(f"every document needs a 'vector'{_HOW_TO_EMBED}")
        array = _vector_to_numpy(value)
        lengths.add(array.shape[0])
        arrays.append(array)
    if len(lengths) > 1:
        raise DimensionMismatchError(
            f"vectors in one batch have different lengths {sorted(lengths)}; all must match "
            "the table's dimension"
        )
    width = lengths.pop() if lengths else 0
    if width == 0:
        raise InvalidInputError("vectors must not be empty")
    matrix = np.vstack(arrays) if arrays else np.empty((0, width), np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), width)


def _vector_to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, (str, bytes, Mapping)):
        raise InvalidInputError(
            f"a vector must be a sequence of numbers, got {type(value).__name__}"
        )
    try:
        # Values beyond float32 become inf here and are rejected by the finiteness check.
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"a vector must be a sequence of numbers: {exc}") from exc
    if array.ndim != 1:
        raise InvalidInputError(f"a vector must be one-dimensional, got shape {array.shape}")
    return array


def vectors_to_numpy(column: pa.Array | pa.ChunkedArray, dimension: int) -> np.ndarray:
    """Convert an Arrow vector column to a float32 matrix of the right width (values too
    large for float32 become infinite; :func:`check_rows` refuses them in new rows)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if not (
        pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
    ):
        raise InvalidInputError(f"the vector column must hold lists of numbers, got {kind}")
    if column.null_count:
        raise InvalidInputError(
            f"every document needs a 'vector' (found null vectors){_HOW_TO_EMBED}"
        )
    if not pa.types.is_fixed_size_list(kind):
        lengths = np.unique(column.value_lengths().to_numpy(zero_copy_only=False))
        if lengths.size and (lengths.size > 1 or lengths[0] != dimension):
            raise DimensionMismatchError(
                f"vectors have length(s) {lengths.tolist()}, but the table's dimension is "
                f"{dimension}"
            )
    elif kind.list_size != dimension:
        raise DimensionMismatchError(
            f"vectors have length {kind.list_size}, but the table's dimension is {dimension}"
        )
    if not pa.types.is_floating(kind.value_type) and not pa.types.is_integer(kind.value_type):
        raise InvalidInputError(f"vector values must be numbers, got {kind.value_type}")
    flat = column.flatten().to_numpy(zero_copy_only=False)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(flat, dtype=np.float32).reshape(-1, dimension)


def check_rows(
    table: pa.Table, hashes: SortedIdHashes | None = None, *, metric: str = "l2"
) -> None:
    """The checks of converted rows that read every value: no id repeated in the batch, and
    only finite vectors (values too large for the stored float type are infinite), none of
    them all zeros in a cosine table (a zero vector has no direction to compare).

    ``hashes``: those of the table's ids, when the caller already has them.
    """
    ids = table.column("id")
    _check_no_repeated_ids(ids, hashes or SortedIdHashes.of(ids))
    start = 0
    for chunk in table.column("vector").chunks:
        matrix = chunk.flatten().to_numpy().reshape(len(chunk), chunk.type.list_size)
        bad = _first_non_finite_row(matrix)
        if bad is not None:
            raise InvalidInputError(
                f"vector at position {start + bad} contains NaN or infinity (or a value too "
                f"large for {matrix.dtype} storage); vectors must be finite"
            )
        if metric == "cosine":
            zero = _first_zero_row(matrix)
            if zero is not None:
                raise InvalidInputError(
                    f"vector at position {start + zero} is all zeros, which has no cosine "
                    "similarity to anything; leave the document out or give it a non-zero "
                    "vector (or use metric='l2' or 'dot')"
                )
        start += len(chunk)


def _first_non_finite_row(matrix: np.ndarray) -> int | None:
    """The first row holding NaN or infinity, if any.

    ``isfinite`` runs on one core. A sum by matrix product reads the values ~3x faster
    alone, but it wakes the BLAS threads, which then spin on the cores Lance's writer is
    using (``add`` checks while the files are written): adds were 10-25% slower.
    """
    if np.isfinite(matrix).all():
        return None
    return int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])


def _first_zero_row(matrix: np.ndarray) -> int | None:
    """The first row whose values are all zero, if any."""
    nonzero = matrix.any(axis=1)
    if nonzero.all():
        return None
    return int(np.flatnonzero(~nonzero)[0])


def query_vector(value: object, dimension: int, metric: str = "l2") -> np.ndarray:
    """Validate a query vector and return it as float32."""
    # the common case, checked first: conversion and its checks cost more than a search
    if type(value) is np.ndarray and value.dtype == np.float32 and value.ndim == 1:
        array = value
    else:
        array = _vector_to_numpy(value)
    if array.shape[0] != dimension:
        raise DimensionMismatchError(
            f"query vector has length {array.shape[0]}, but the table's dimension is {dimension}"
        )
    if not np.isfinite(array).all():
        raise InvalidInputError("the query vector contains NaN or infinity")
    if metric == "cosine" and not array.any():
        raise InvalidInputError(
            "the query vector is all zeros, which has no cosine similarity to anything; "
            "query with a non-zero vector"
        )
    return array


def _ids_array(column: pa.Array) -> pa.Array:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InvalidInputError(f"ids must be strings, got {column.type}; convert them with str()")
    if column.null_count:
        raise InvalidInputError("every document needs a non-null string 'id'")
    column = column.cast(pa.string())
    lengths = pa.compute.utf8_length(column).to_numpy(zero_copy_only=False)
    if lengths.size and lengths.min() == 0:
        raise InvalidInputError("ids must not be empty strings")
    return column


def _check_no_repeated_ids(ids: pa.ChunkedArray, hashes: SortedIdHashes) -> None:
    """Raise ``DuplicateIdError`` if an id appears more than once in ``ids`` (hashed to
    ``hashes``); the ids themselves are compared only if two hashes are equal."""
    if not hashes.may_repeat():
        return
    counts = pa.compute.value_counts(ids)
    if len(counts) != len(ids):
        repeated = [c["values"] for c in counts.to_pylist() if c["counts"] > 1]
        raise DuplicateIdError(
            f"{len(repeated)} id(s) appear more than once in the batch, e.g. {repeated[:5]}; "
            "each id must be unique (use upsert to replace documents)",
            repeated,
        )


def _cast_column(batch: pa.RecordBatch, name: str, kind: pa.DataType, rows: int) -> pa.Array:
    if name not in batch.schema.names:
        return pa.nulls(rows, kind)
    column = batch.column(name)
    if column.type == kind:
        return column
    if pa.types.is_timestamp(kind):
        return _timestamp_column(name, column, kind)
    if pa.types.is_null(column.type):
        return pa.nulls(rows, kind)
    if not _safe_cast(column.type, kind):
        raise InvalidInputError(f"column {name!r} must hold {kind} values, got {column.type}")
    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(f"column {name!r} must hold {kind} values: {exc}") from exc


def _safe_cast(source: pa.DataType, target: pa.DataType) -> bool:
    """Casts that never change a value's meaning (no number-to-string or string-to-bool)."""
    if pa.types.is_string(target):
        return pa.types.is_string(source) or pa.types.is_large_string(source)
    if pa.types.is_integer(target):
        return pa.types.is_integer(source)
    if pa.types.is_floating(target):
        return pa.types.is_integer(source) or pa.types.is_floating(source)
    if pa.types.is_boolean(target):
        return pa.types.is_boolean(source)
    if pa.types.is_list(target):
        return (pa.types.is_list(source) or pa.types.is_large_list(source)) and (
            pa.types.is_null(source.value_type)
            or pa.types.is_string(source.value_type)
            or pa.types.is_large_string(source.value_type)
        )
    return False


def _timestamp_column(name: str, column: pa.Array, kind: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            column = pa.compute.assume_timezone(column, "UTC")
        return column.cast(kind)
    if pa.types.is_date(column.type):
        return column.cast(pa.timestamp("us")).cast(kind)
    values = column.to_pylist()
    converted = []
    for value in values:
        if value is None or isinstance(value, datetime):
            converted.append(value)
        elif isinstance(value, date):
            converted.append(datetime(value.year, value.month, value.day))
        elif isinstance(value, str):
            try:
                converted.append(datetime.fromisoformat(value))
            except ValueError as exc:
                raise InvalidInputError(
                    f"column {name!r}: {value!r} is not an ISO-8601 timestamp"
                ) from exc
        else:
            raise InvalidInputError(f"column {name!r} must hold timestamps, got {value!r}")
    return pa.array(converted, type=kind)


# -- reading back -------------------------------------------------------------------------


_Tabular = TypeVar("_Tabular", pa.Table, pa.RecordBatch)


def decode_metadata(raw: str | bytes | None) -> dict[str, Any]:
    """Decode a stored metadata value (JSON text or MessagePack bytes) to a dict."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        value = json.loads(raw)
    else:
        value = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return value if isinstance(value, dict) else {}


def with_float32_vectors(data: _Tabular) -> _Tabular:
    """``data`` with a float16 ``vector`` column cast to float32.

    pyarrow turns float16 values into numpy scalars one by one, about 10x slower than
    casting the column first and converting plain floats.
    """
    if "vector" not in data.column_names:
        return data
    vectors = data.column("vector")
    if not pa.types.is_float16(vectors.type.value_type):
        return data
    position = data.column_names.index("vector")
    cast = vectors.cast(pa.list_(pa.float32(), vectors.type.list_size))
    return data.set_column(position, data.schema.field(position).with_type(cast.type), cast)


def rows_from_arrow(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """Arrow rows as dicts with decoded metadata and vectors as lists of floats."""
    rows = with_float32_vectors(table).to_pylist()
    if "metadata" in table.column_names:
        for row in rows:
            row["metadata"] = decode_metadata(row["metadata"])
    return rows


def _parse_json_metadata(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata string is not valid JSON: {exc}") from exc


def _check_json_value(value: object, path: str, depth: int = 0) -> None:
    if depth > 32:
        raise InvalidInputError(f"{path} nests deeper than 32 levels")
    if value is None or isinstance(value, (str, bool, int)):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise InvalidInputError(f"{path} holds an integer outside the 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{path} holds {value}; metadata numbers must be finite")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{path} has a non-string key {key!r}")
            _check_json_value(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_value(item, f"{path}[{index}]", depth + 1)
        return
    raise InvalidInputError(
        f"{path} holds a {type(value).__name__}; metadata values must be JSON types (str, "
        "int, float, bool, None, list, dict). Declare a typed field for other values"
    )
