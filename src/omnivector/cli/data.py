"""Commands on documents: tables, info, count, import, export, search, get, delete, drop."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import Progress, TaskID

from omnivector import InvalidInputError, UnsafeOperationError, embeddings
from omnivector.cli.app import Cli, app, command, parse_where
from omnivector.cli.render import (
    INDEX_COLUMNS,
    index_row,
    key_values,
    rows_table,
    short_json,
    show_table,
)
from omnivector.operations import FORMATS, detect_format

TableArg = Annotated[str, typer.Argument(metavar="TABLE", help="Table name.", show_default=False)]
WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where",
        "-w",
        metavar="JSON",
        help='Filter as a JSON object, e.g. \'{"year": {"$gte": 2020}}\'.',
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", help=f"File format ({', '.join(FORMATS)}); default: by extension."
    ),
]


PANEL = "Documents"


@command(app, "tables", panel=PANEL)
def tables(
    cli: Cli,
    counts: Annotated[
        bool, typer.Option("--counts", "-c", help="Also show rows, dimension and version.")
    ] = False,
) -> None:
    """List the tables in the store."""
    with cli.open_store() as store:
        rows: list[dict[str, Any]] = []
        for name in store.table_names():
            row: dict[str, Any] = {"name": name}
            if counts:
                table = store.table(name)
                row.update(
                    rows=table.count(),
                    dimension=table.dimension,
                    metric=table.metric,
                    version=table.version,
                )
            rows.append(row)
    columns = ["name", "rows", "dimension", "metric", "version"] if counts else ["name"]
    cli.emit(
        rows,
        lambda: show_table(
            cli.out,
            rows_table(rows, columns, numeric=["rows", "dimension", "version"]),
            empty=f"no tables in {cli.store_path()}",
        ),
    )


@command(app, "info", panel=PANEL)
def info(cli: Cli, table: TableArg) -> None:
    """Show a table's schema, size, version, tags and indexes."""
    with cli.open_store() as store:
        tbl = store.table(table)
        data = {
            "name": tbl.name,
            "uri": tbl.uri,
            "dimension": tbl.dimension,
            "metric": tbl.metric,
            "fields": tbl.fields,
            "storage": tbl.storage.to_dict(),
            "rows": tbl.count(),
            "version": tbl.version,
            "tags": tbl.tags(),
            "indexes": tbl.indexes(),
        }

    def human() -> None:
        cli.out.print(key_values({k: v for k, v in data.items() if k != "indexes"}, title=table))
        show_table(cli.out, _index_table(data["indexes"]), empty="no indexes")

    cli.emit(data, human)


def _index_table(indexes: Any) -> Any:
    return rows_table(
        [index_row(i) for i in indexes],
        INDEX_COLUMNS,
        title="indexes",
        numeric=["indexed", "unindexed", "bytes"],
    )


@command(app, "count", panel=PANEL)
def count(cli: Cli, table: TableArg, where: WhereOpt = None) -> None:
    """Count a table's documents, optionally only those matching --where."""
    condition = parse_where(where)
    with cli.open_store() as store:
        result = store.table(table).count(where=condition)
    cli.emit({"table": table, "count": result}, lambda: cli.out.print(f"{result:,}"))


@command(app, "import", panel=PANEL)
def import_(
    cli: Cli,
    table: TableArg,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="JSONL, JSON, Parquet, CSV or Arrow IPC file.")
    ],
    id_column: Annotated[
        str, typer.Option("--id", metavar="COLUMN", help="The file's id column.")
    ] = "id",
    vector_column: Annotated[
        str, typer.Option("--vector", metavar="COLUMN", help="The file's vector column.")
    ] = "vector",
    text_column: Annotated[
        str, typer.Option("--text", metavar="COLUMN", help="The file's text column.")
    ] = "text",
    fmt: FormatOpt = None,
    upsert: Annotated[
        bool, typer.Option("--upsert", help="Replace documents whose id exists (else: error).")
    ] = False,
    fields: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            metavar="NAME:TYPE",
            help="Declare a typed column when creating the table (repeatable); "
            "types: string, int64, float64, bool, timestamp, list<string>.",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Metric of a new table: cosine, l2 or dot.")
    ] = "cosine",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="Rows per commit (default 10000; 256 when embedding)."
        ),
    ] = None,
    embedding: Annotated[
        str | None,
        typer.Option(
            "--embedding",
            metavar="NAME",
            help="A new table's embedding function: 'default' (the default model) or a "
            "registered name (hashing, onnx, e5, ...). It embeds documents without vectors.",
        ),
    ] = None,
) -> None:
    """Load documents from a file, creating the table (and store) if missing.

    A new table takes its dimension from the first vector, or from --embedding. A table
    with an embedding function embeds the documents that have no vector from their text.
    Columns the table does not have go into each document's metadata. Each batch is
    committed as it is read.
    """
    declared = _parse_fields(fields or [])
    with cli.open_store(create=True) as store, ExitStack() as bars:
        shown: list[tuple[Progress, TaskID]] = []

        def report(advanced: int, total: int, unit: str) -> None:
            if not shown:  # the unit (rows or bytes) is known once the file is open
                bar = bars.enter_context(cli.progress(unit))
                shown.append((bar, bar.add_task(f"import {file.name}", total=total or None)))
            bar, task = shown[0]
            bar.update(task, advance=advanced)

        result = store.import_file(
            table,
            file,
            format=fmt,
            id_column=id_column,
            vector_column=vector_column,
            text_column=text_column,
            fields=declared,
            metric=metric,
            embedding=_embedding(embedding) if embedding is not None else None,
            upsert=upsert,
            batch_size=batch_size,
            progress=report,
        )
    created, version = result.created, result.version
    totals = {
        "inserted": result.inserted,
        "updated": result.updated,
        "rows": result.inserted + result.updated,
    }
    data = {"table": table, "file": str(file), "created": created, **totals, "version": version}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"{'created' if created else 'updated'} table {table}: "
            f"{totals['inserted']:,} inserted, {totals['updated']:,} updated "
            f"(version {version})",
            markup=False,
        ),
    )


def _parse_fields(values: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for value in values:
        name, sep, kind = value.partition(":")
        if not sep or not name or not kind:
            raise typer.BadParameter(f"{value!r} is not NAME:TYPE", param_hint="--field")
        fields[name] = kind
    return fields


@command(app, "export", panel=PANEL)
def export(
    cli: Cli,
    table: TableArg,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Output file; the format is its extension.")
    ],
    where: WhereOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Write a table's documents to a JSONL, JSON, Parquet, CSV or Arrow IPC file."""
    kind = detect_format(file, fmt)
    condition = parse_where(where)
    with cli.open_store() as store:
        tbl = store.table(table)
        total = tbl.count(where=condition)
        with cli.progress() as progress:
            task = progress.add_task(f"export {file.name}", total=total)
            rows = tbl.export(
                file,
                format=kind,
                where=condition,
                progress=lambda n: progress.update(task, advance=n),
            )
    data = {"table": table, "file": str(file), "format": kind, "rows": rows}
    cli.emit(
        data,
        lambda: cli.out.print(f"wrote {rows:,} documents to {file} ({kind})", markup=False),
    )


@command(app, "search", panel=PANEL)
def search(
    cli: Cli,
    table: TableArg,
    text: Annotated[
        str | None, typer.Option("--text", "-t", help="Full-text (BM25) query.")
    ] = None,
    vector_file: Annotated[
        Path | None,
        typer.Option(
            "--vector-file",
            "-v",
            metavar="FILE",
            help="Query vector: a .npy file or a JSON list of numbers. "
            "With --text too, the search is hybrid.",
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query",
            "-q",
            help="Hybrid search from one string, embedded by the table's embedding function.",
        ),
    ] = None,
    where: WhereOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of hits.")] = 10,
) -> None:
    """Vector, full-text, hybrid or --query search."""
    if text is None and vector_file is None and query is None:
        raise typer.BadParameter(
            "give --query, --text, --vector-file or --text with --vector-file",
            param_hint="--query",
        )
    if query is not None and (text is not None or vector_file is not None):
        raise typer.BadParameter("--query goes alone", param_hint="--query")
    vector = _read_vector(vector_file) if vector_file is not None else None
    condition = parse_where(where)
    with cli.open_store() as store:
        searched = store.table(table)
        if query is not None:
            hits = searched.search(query=query, k=k, where=condition)
        else:
            hits = searched.search(vector=vector, text=text, k=k, where=condition)
    rows = hits.to_list()

    def human() -> None:
        columns = ["#", "id", "score"]
        columns += ["distance"] if any(h.distance is not None for h in hits) else []
        columns += ["bm25"] if any(h.text_score is not None for h in hits) else []
        shown = [
            {**row, "#": rank, "bm25": row["text_score"], "fields / metadata": _fields_text(row)}
            for rank, row in enumerate(rows, 1)
        ]
        columns += ["text", "fields / metadata"]
        table_view = rows_table(
            shown,
            columns,
            widths={"id": 40, "text": 60, "fields / metadata": 50},
            numeric=["#", "score", "distance", "bm25"],
        )
        show_table(cli.out, table_view, empty="no hits")

    cli.emit(rows, human)


def _fields_text(row: dict[str, Any]) -> str:
    """Declared fields, then metadata, as ``key=value`` pairs."""
    pairs = {k: v for k, v in row.items() if k not in _HIT_KEYS}
    pairs.update(row.get("metadata") or {})
    return " ".join(
        f"{k}={short_json(v) if not isinstance(v, str) else v}" for k, v in pairs.items()
    )


_HIT_KEYS = {
    "id",
    "score",
    "distance",
    "text_score",
    "vector_rank",
    "text_rank",
    "text",
    "metadata",
    "vector",
}


def _embedding(name: str) -> embeddings.EmbeddingFunction:
    """``--embedding``: the default model, or a registered function with its defaults."""
    return embeddings.default() if name == "default" else embeddings.get(name)


def _read_vector(path: Path) -> Any:
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read {path} as a .npy array: {exc}") from exc
        if array.ndim == 2 and array.shape[0] == 1:
            array = array[0]
        return array
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path} is neither a .npy file nor a JSON list of numbers: {exc}"
        ) from exc
    if not isinstance(value, list):
        raise InvalidInputError(f"{path} must hold a JSON list of numbers")
    return value


@command(app, "get", panel=PANEL)
def get(
    cli: Cli,
    table: TableArg,
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Document ids.")],
    with_vector: Annotated[
        bool, typer.Option("--with-vector", help="Include the vectors.")
    ] = False,
) -> None:
    """Show documents by id (exit code 1 if any id is missing)."""
    with cli.open_store() as store:
        documents = store.table(table).get(ids, include_vector=with_vector)

    def human() -> None:
        for document in documents:
            cli.out.print(key_values(document, title=document["id"]))

    cli.emit(documents, human)
    missing = sorted(set(ids) - {d["id"] for d in documents})
    if missing:
        cli.err.print(f"not found in {table}: {', '.join(missing)}", markup=False)
        raise typer.Exit(1)


@command(app, "delete", panel=PANEL)
def delete(
    cli: Cli,
    table: TableArg,
    ids: Annotated[
        list[str] | None,
        typer.Option(
            "--ids", metavar="ID[,ID...]", help="Ids to delete (comma-separated, repeatable)."
        ),
    ] = None,
    where: WhereOpt = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Delete every document (asks unless --yes).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete documents by id, by filter, or all of them.

    A filter that matches every document by itself (such as '{}') is refused: use --all.
    """
    if (ids is not None) + (where is not None) + everything != 1:
        raise typer.BadParameter(
            "give one of --ids, --where or --all", param_hint="--ids/--where/--all"
        )
    id_list = [part for value in ids or [] for part in value.split(",") if part]
    condition = parse_where(where)
    with cli.open_store() as store:
        tbl = store.table(table)
        if everything:
            if not yes and not typer.confirm(f"Delete all {tbl.count():,} documents of {table}?"):
                raise typer.Abort()
            result = tbl.delete(all=True)
        elif ids is not None:
            result = tbl.delete(id_list)
        else:
            try:
                result = tbl.delete(where=condition)
            except UnsafeOperationError as exc:
                raise UnsafeOperationError(
                    f"--where {where} matches every document of {table}; nothing was deleted. "
                    "Use --all --yes to delete every document"
                ) from exc
    data = {"table": table, "deleted": result.deleted, "version": result.version}
    cli.emit(
        data,
        lambda: cli.out.print(f"deleted {result.deleted:,} documents (version {result.version})"),
    )


@command(app, "drop", panel=PANEL)
def drop(
    cli: Cli,
    table: TableArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a table and all its files."""
    with cli.open_store() as store:
        store.table(table)  # a clear error before asking when it does not exist
        if not yes and not typer.confirm(f"Delete table {table} and all its versions?"):
            raise typer.Abort()
        store.drop_table(table)
    cli.emit({"table": table, "dropped": True}, lambda: cli.out.print(f"dropped {table}"))
