"""Document files: ``store.import_file(...)`` reads them, ``Table.export(...)`` writes them.

Formats, picked by extension (or given): JSON Lines (``.jsonl``, ``.ndjson``; ``.json``
holds JSON Lines or one JSON array), Parquet (``.parquet``, ``.pq``), CSV (``.csv``; vectors
and lists as JSON text) and Arrow IPC (``.arrow``, ``.ipc``, ``.feather``; file or stream).

Reading only reshapes a file into the documents :meth:`omnivector.Table.add` accepts: it
renames the id, vector and text columns, turns integer ids into strings and JSON-text
vectors into lists, and folds columns the table does not have into ``metadata``. Checking
the documents is the library's job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, TypeAlias

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from omnivector.core.errors import InvalidInputError
from omnivector.operations.reads import iter_documents
from omnivector.storage.context import TableContext

__all__ = [
    "FORMATS",
    "ColumnMap",
    "Source",
    "detect_format",
    "export_documents",
    "open_source",
    "reshape",
    "vector_width",
]

FORMATS = ("jsonl", "json", "parquet", "csv", "arrow")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
    ".arrows": "arrow",
}

Chunk: TypeAlias = "list[dict[str, Any]] | pa.RecordBatch"


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise InvalidInputError(f"unknown format {given!r}; choose from {list(FORMATS)}")
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InvalidInputError(
            f"cannot tell the format of {path} from its extension; use one of "
            f"{sorted(_SUFFIXES)} or pass the format, one of {list(FORMATS)}"
        )
    return found


# -- reading ----------------------------------------------------------------------------------


@dataclass
class Source:
    """Chunks of documents from a file, and how far along the file each chunk is.

    ``total`` and the second item of each chunk are rows for Parquet/Arrow and bytes for
    text formats (whose row count is unknown until read).
    """

    path: Path
    format: str
    total: int
    unit: str
    chunks: Callable[[int], Iterator[tuple[Chunk, int]]]


def open_source(path: Path, fmt: str | None) -> Source:
    """Open ``path`` for reading in chunks of documents."""
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    kind = detect_format(path, fmt)
    size = path.stat().st_size
    try:
        if kind in ("jsonl", "json"):
            return Source(path, kind, size, "bytes", lambda n: _json_chunks(path, n))
        if kind == "csv":
            return Source(path, kind, size, "bytes", lambda n: _csv_chunks(path, n))
        if kind == "parquet":
            rows = pq.ParquetFile(path).metadata.num_rows
            return Source(path, kind, rows, "rows", lambda n: _parquet_chunks(path, n))
        rows = _arrow_rows(path)
        return Source(path, kind, rows, "rows", lambda n: _arrow_chunks(path, n))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"cannot read {path} as {kind}: {exc}") from exc


def _unreadable(path: Path, kind: str) -> Callable[[Exception], InvalidInputError]:
    def wrap(exc: Exception) -> InvalidInputError:
        error = InvalidInputError(f"cannot read {path} as {kind}: {exc}")
        error.__cause__ = exc
        return error

    return wrap


def _json_chunks(path: Path, size: int) -> Iterator[tuple[Chunk, int]]:
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
        handle.seek(0)
        if head.startswith(b"["):
            yield from _json_array(path, handle, size)
            return
        chunk: list[dict[str, Any]] = []
        done = 0
        for number, line in enumerate(handle, 1):
            if line.strip():
                chunk.append(_json_object(path, number, line))
            if len(chunk) == size:
                yield chunk, handle.tell() - done
                done, chunk = handle.tell(), []
        if chunk:
            yield chunk, handle.tell() - done


def _json_array(path: Path, handle: IO[bytes], size: int) -> Iterator[tuple[Chunk, int]]:
    try:
        items = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidInputError(f"{path} must hold a JSON array of objects (or JSON Lines)")
    total = handle.tell()
    for start in range(0, len(items), size):
        end = min(start + size, len(items))
        yield items[start:end], total if end == len(items) else 0


def _json_object(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} line {number}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path} line {number}: expected a JSON object per line")
    return value


def _csv_chunks(path: Path, size: int) -> Iterator[tuple[Chunk, int]]:
    wrap = _unreadable(path, "CSV")
    with path.open("rb") as handle:
        try:
            reader = pa_csv.open_csv(
                handle,
                read_options=pa_csv.ReadOptions(block_size=1 << 20),
                # Every column as text first would lose numbers; ids are fixed up later.
                convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
            )
            done = 0
            for batch in reader:
                for start in range(0, batch.num_rows, size):
                    part = batch.slice(start, size)
                    end = start + part.num_rows >= batch.num_rows
                    position = handle.tell() if end else done
                    yield part, position - done
                    done = position
        except pa.ArrowException as exc:
            raise wrap(exc) from exc


def _parquet_chunks(path: Path, size: int) -> Iterator[tuple[Chunk, int]]:
    wrap = _unreadable(path, "Parquet")
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=size):
            yield batch, batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise wrap(exc) from exc


def _arrow_rows(path: Path) -> int:
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        return 0  # a stream: the row count is known only once read


def _arrow_chunks(path: Path, size: int) -> Iterator[tuple[Chunk, int]]:
    wrap = _unreadable(path, "Arrow IPC")
    try:
        with pa.memory_map(str(path)) as source:
            try:
                file_reader = pa.ipc.open_file(source)
                batches: Iterable[pa.RecordBatch] = (
                    file_reader.get_batch(i) for i in range(file_reader.num_record_batches)
                )
            except pa.ArrowInvalid:
                source.seek(0)
                batches = pa.ipc.open_stream(source)
            for batch in batches:
                for start in range(0, batch.num_rows, size):
                    part = batch.slice(start, size)
                    yield part, part.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise wrap(exc) from exc


# -- reshaping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMap:
    """Which file columns hold the id, vector and text."""

    id: str = "id"
    vector: str = "vector"
    text: str = "text"

    def renames(self) -> dict[str, str]:
        pairs = {self.id: "id", self.vector: "vector", self.text: "text"}
        return {source: target for source, target in pairs.items() if source != target}


def reshape(
    chunk: Chunk, columns: ColumnMap, known: set[str], source: Path, *, embeds: bool = False
) -> Chunk:
    """Rename mapped columns, fix ids and JSON-text vectors, fold unknown columns into
    ``metadata``. ``embeds``: the table makes missing vectors, so none is required."""
    if isinstance(chunk, list):
        return [_reshape_row(row, columns, known, source, embeds) for row in chunk]
    renames = columns.renames()
    for column, target in renames.items():
        if embeds and target == "vector":
            continue
        if column not in chunk.schema.names:
            raise InvalidInputError(
                f"{source} has no column {column!r} for the {target} (columns: "
                f"{chunk.schema.names}); check --{target}"
            )
    names = [renames.get(n, n) for n in chunk.schema.names]
    if len(set(names)) != len(names):
        raise InvalidInputError(
            f"{source}: the column mapping {renames} gives two columns the same name {names}"
        )
    batch = chunk.rename_columns(names)
    for required, option in (("id", "--id"), ("vector", "--vector")):
        if required not in batch.schema.names and not (embeds and required == "vector"):
            raise InvalidInputError(
                f"{source} has no {required!r} column (columns: {chunk.schema.names}); "
                f"name it with {option} COLUMN"
            )
    batch = _set_column(batch, "id", _ids(batch.column("id")))
    vectors = batch.column("vector") if "vector" in batch.schema.names else None
    if vectors is not None and (
        pa.types.is_string(vectors.type) or pa.types.is_large_string(vectors.type)
    ):
        batch = _set_column(batch, "vector", _json_vectors(vectors, source))
    return _fold_metadata(batch, known)


def _reshape_row(
    row: dict[str, Any], columns: ColumnMap, known: set[str], source: Path, embeds: bool
) -> dict[str, Any]:
    renames = columns.renames()
    for column, target in ((columns.id, "id"), (columns.vector, "vector")):
        if column not in row and not (embeds and target == "vector"):
            raise InvalidInputError(
                f"{source}: a document has no {column!r} field (fields: {sorted(row)}); "
                f"name the {target} field with --{target}"
            )
    doc: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in row.items():
        name = renames.get(key, key)
        if name in doc or name in extras:
            raise InvalidInputError(
                f"the column mapping {renames} gives two fields the name {name!r}; "
                f"rename the file's {name!r} field or map another one"
            )
        if name in known:
            doc[name] = value
        elif value is not None:
            extras[name] = value
    if isinstance(doc.get("id"), int) and not isinstance(doc.get("id"), bool):
        doc["id"] = str(doc["id"])
    if extras:
        doc["metadata"] = {**_as_dict(doc.get("metadata")), **extras}
    return doc


def _set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    index = batch.schema.get_field_index(name)
    return batch.set_column(index, name, values)


def _ids(column: pa.Array) -> pa.Array:
    if pa.types.is_integer(column.type):
        return column.cast(pa.string())
    return column


def _json_vectors(column: pa.Array, source: Path) -> pa.Array:
    values = []
    for position, text in enumerate(column.to_pylist()):
        try:
            vector = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            vector = text
        if not isinstance(vector, list):
            raise InvalidInputError(
                f"{source}: the vector in row {position + 1} of a batch is not a JSON list "
                f"of numbers: {str(text)[:40]!r}"
            )
        values.append(vector)
    try:
        return pa.array(values, pa.list_(pa.float32()))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError(f"{source}: vectors must hold only numbers: {exc}") from exc


def _fold_metadata(batch: pa.RecordBatch, known: set[str]) -> pa.RecordBatch:
    extras = [n for n in batch.schema.names if n not in known]
    if not extras:
        return batch
    rows = batch.select(extras).to_pylist()
    base = (
        batch.column("metadata").to_pylist()
        if "metadata" in batch.schema.names
        else [None] * batch.num_rows
    )
    merged = [
        json.dumps(
            {**_as_dict(meta), **{k: v for k, v in row.items() if v is not None}},
            ensure_ascii=False,
            default=_json_default,
        )
        for meta, row in zip(base, rows, strict=True)
    ]
    keep = [n for n in batch.schema.names if n not in extras and n != "metadata"]
    folded = batch.select(keep)
    return folded.append_column("metadata", pa.array(merged, pa.string()))


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str | bytes):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"a metadata value is not a JSON object: {exc}") from exc
        if isinstance(parsed, dict):
            return parsed
    raise InvalidInputError(f"metadata must be a JSON object, got {str(value)[:40]!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def vector_width(chunk: Chunk) -> int | None:
    """The length of the first vector in ``chunk`` (to create a table), if any."""
    if isinstance(chunk, list):
        for row in chunk:
            vector = row.get("vector")
            if vector is not None and not isinstance(vector, str | bytes | Mapping):
                try:
                    return len(vector)
                except TypeError:
                    return None
        return None
    column = chunk.column("vector")
    if pa.types.is_fixed_size_list(column.type):
        return int(column.type.list_size)
    for value in column:
        if value.is_valid:
            return len(value)
    return None


# -- writing ----------------------------------------------------------------------------------


def export_documents(
    ctx: TableContext,
    path: Path,
    fmt: str,
    *,
    where: Mapping[str, Any] | None,
    advance: Callable[[int], None],
    batch_rows: int = 4096,
) -> int:
    """Write every (matching) document of ``table`` to ``path``; return the row count."""
    documents = iter_documents(ctx, where=where, include_vector=True, batch_size=batch_rows)
    if fmt in ("jsonl", "json"):
        return _write_json(documents, path, fmt, advance)
    schema = _export_schema(ctx, text_lists=fmt == "csv")
    count = 0
    with _arrow_writer(path, fmt, schema) as writer:
        batch: list[dict[str, Any]] = []
        for document in documents:
            batch.append(_export_row(document, text_lists=fmt == "csv"))
            if len(batch) == batch_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                advance(len(batch))
                batch = []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
            advance(len(batch))
    return count


def _write_json(
    documents: Iterable[dict[str, Any]], path: Path, fmt: str, advance: Callable[[int], None]
) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        if fmt == "json":
            handle.write("[")
        for document in documents:
            text = json.dumps(document, ensure_ascii=False, default=_json_default)
            if fmt == "json":
                handle.write(("," if count else "") + "\n" + text)
            else:
                handle.write(text + "\n")
            count += 1
            if count % 1024 == 0:
                advance(1024)
        if fmt == "json":
            handle.write("\n]\n")
    advance(count % 1024)
    return count


def _export_schema(ctx: TableContext, *, text_lists: bool) -> pa.Schema:
    stored = ctx.dataset().schema
    fields = [
        pa.field("id", pa.string()),
        pa.field(
            "vector", pa.string() if text_lists else pa.list_(pa.float32(), ctx.spec.dimension)
        ),
        pa.field("text", pa.string()),
        pa.field("metadata", pa.string()),
    ]
    for name in ctx.spec.fields:
        kind = stored.field(name).type
        if text_lists and pa.types.is_list(kind):
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _export_row(document: dict[str, Any], *, text_lists: bool) -> dict[str, Any]:
    row = dict(document)
    row["metadata"] = json.dumps(row.get("metadata") or {}, ensure_ascii=False)
    if text_lists:
        for key, value in row.items():
            if isinstance(value, list):
                row[key] = json.dumps(value, ensure_ascii=False)
    return row


class _arrow_writer:  # noqa: N801 - used like a function in a with-statement
    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self._writer: Any
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(str(path), schema)
        elif fmt == "csv":
            self._writer = pa_csv.CSVWriter(str(path), schema)
        else:
            self._writer = pa.ipc.new_file(str(path), schema)

    def __enter__(self) -> _arrow_writer:
        return self

    def write_table(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def __exit__(self, *exc: object) -> None:
        self._writer.close()
