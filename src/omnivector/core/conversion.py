"""Conversion between what callers pass and Arrow: any accepted input (dicts, Arrow, pandas,
polars) into record batches, and stored rows back into Python values."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import msgpack
import numpy as np
import pyarrow as pa

from omnivector.core.errors import DimensionMismatchError, InvalidInputError
from omnivector.core.validation import is_integer

__all__ = [
    "HOW_TO_EMBED",
    "WRITE_BATCH_ROWS",
    "dataframe_to_arrow",
    "is_dataframe",
    "cast_column",
    "check_json_value",
    "ids_array",
    "parse_json_metadata",
    "vector_to_numpy",
    "decode_metadata",
    "iter_arrow_batches",
    "rows_from_arrow",
    "vectors_to_numpy",
    "with_float32_vectors",
]

WRITE_BATCH_ROWS = 4096
#: how a missing vector is made instead, said where one is missing
HOW_TO_EMBED = (
    "; to make vectors from 'text', give the table an embedding function: "
    "store.create_table(name, embedding=fn)"
)
_Tabular = TypeVar("_Tabular", pa.Table, pa.RecordBatch)


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
    check_json_value(value, "metadata")
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _python_vectors(values: list[Any]) -> pa.Array:
    lengths: set[int] = set()
    arrays: list[np.ndarray] = []
    for value in values:
        if value is None:
            raise InvalidInputError(f"every document needs a 'vector'{HOW_TO_EMBED}")
        array = vector_to_numpy(value)
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


def vector_to_numpy(value: Any) -> np.ndarray:
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
    large for float32 become infinite; :func:`check_vectors` refuses them in new rows)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if not (
        pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
    ):
        raise InvalidInputError(f"the vector column must hold lists of numbers, got {kind}")
    if column.null_count:
        raise InvalidInputError(
            f"every document needs a 'vector' (found null vectors){HOW_TO_EMBED}"
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


def ids_array(column: pa.Array) -> pa.Array:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InvalidInputError(f"ids must be strings, got {column.type}; convert them with str()")
    if column.null_count:
        raise InvalidInputError("every document needs a non-null string 'id'")
    column = column.cast(pa.string())
    lengths = pa.compute.utf8_length(column).to_numpy(zero_copy_only=False)
    if lengths.size and lengths.min() == 0:
        raise InvalidInputError("ids must not be empty strings")
    return column


def cast_column(batch: pa.RecordBatch, name: str, kind: pa.DataType, rows: int) -> pa.Array:
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


def parse_json_metadata(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata string is not valid JSON: {exc}") from exc


def check_json_value(value: object, path: str, depth: int = 0) -> None:
    if depth > 32:
        raise InvalidInputError(f"{path} nests deeper than 32 levels")
    if value is None or isinstance(value, (str, bool, int)):
        if is_integer(value) and abs(value) >= 2**63:
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
            check_json_value(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json_value(item, f"{path}[{index}]", depth + 1)
        return
    raise InvalidInputError(
        f"{path} holds a {type(value).__name__}; metadata values must be JSON types (str, "
        "int, float, bool, None, list, dict). Declare a typed field for other values"
    )
