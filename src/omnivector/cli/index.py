"""``omnivector index ...``: create, list, inspect, wait for and drop indexes.

A background build runs in a worker process owned by the CLI process that started it, so
``index create --background`` follows its build with a progress bar (``--no-wait`` hands it
to a detached CLI process instead). Another CLI process sees builds through the table's
maintenance lock (held by every build and compaction) and the indexes' indexed/unindexed
row counts: that is what ``index status`` and ``index wait`` show.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivector import IndexBuild, IndexInfo, IndexSkipped, Table, VectorStore
from omnivector.cli.app import Cli, EngineOpt, WorkersOpt, app, command, engine_option, parse_value
from omnivector.cli.data import TableArg
from omnivector.cli.render import INDEX_COLUMNS, index_row, rows_table, show_table
from omnivector.distributed import Engine

index_app = typer.Typer(
    help="Create, list, inspect, wait for and drop indexes.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(index_app, name="index", rich_help_panel="Indexes")

_FTS_KINDS = ("FTS", "INVERTED")
_POLL_SECONDS = 0.2
_DETACH_START_SECONDS = 60.0


@command(index_app, "create")
def create(
    cli: Cli,
    table: TableArg,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            "-k",
            help="auto, a vector kind (IVF_FLAT, IVF_PQ, IVF_SQ, IVF_RQ, IVF_HNSW_FLAT, "
            "IVF_HNSW_SQ, IVF_HNSW_PQ), a scalar kind (btree, bitmap, label_list) or fts.",
        ),
    ] = "auto",
    column: Annotated[
        str | None,
        typer.Option("--column", "-c", help="Column to index (default: vector; text for fts)."),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="Index parameter passed to Lance, e.g. num_partitions=64 (repeatable).",
        ),
    ] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background", "-b", help="Build in a worker process and follow its progress."
        ),
    ] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            help="With --background: hand the build to a detached process and return at once.",
        ),
    ] = False,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="With --no-wait: where the detached build writes its output."),
    ] = None,
    engine: EngineOpt = "local",
    workers: WorkersOpt = None,
) -> None:
    """Build an index (vector, scalar or full-text) on a table."""
    target = column or ("text" if kind.upper() in _FTS_KINDS else "vector")
    options = _parse_params(params or [])
    where = engine_option(engine, workers)
    if where != "local" and background:
        raise typer.BadParameter(
            "a Ray build runs on the cluster and blocks; drop --background", param_hint="--engine"
        )
    if no_wait:
        if not background:
            raise typer.BadParameter("--no-wait needs --background", param_hint="--no-wait")
        _detach(cli, table, kind, target, params or [], log)
        return
    with cli.open_store() as store:
        outcome: IndexInfo | IndexSkipped | None
        if background:
            build = store.create_index_background(table, kind=kind, column=target, **options)
            outcome = build.skipped
            if outcome is None:
                outcome = _follow(cli, build, table, target)
        else:
            tbl = store.table(table)
            on = " with Ray" if where != "local" else ""
            with cli.err.status(f"building {kind} index on {table}.{target}{on}", spinner="dots"):
                outcome = _build(tbl, kind, target, options, where)
        info = outcome if isinstance(outcome, IndexInfo) else None
        data = {"table": table, "column": target, "kind": kind, "engine": engine, "index": info}
    if info is None:
        data["message"] = outcome.reason if isinstance(outcome, IndexSkipped) else "no index built"
    cli.emit(data, lambda: cli.out.print(_describe_index(data), markup=False))


def _build(
    tbl: Table, kind: str, column: str, options: dict[str, Any], engine: Engine
) -> IndexInfo | IndexSkipped | None:
    if column == "vector":
        result = tbl.create_index(kind=kind, engine=engine, **options)
    elif kind.upper() in _FTS_KINDS:
        result = tbl.create_fts_index(column, engine=engine, **options)
    else:
        if options:
            raise typer.BadParameter("scalar indexes take no --param", param_hint="--param")
        result = tbl.create_scalar_index(column, kind=kind, engine=engine)
    return result if isinstance(result, IndexInfo | IndexSkipped) else None


def _follow(cli: Cli, build: IndexBuild, table: str, column: str) -> IndexInfo | None:
    """Show a background build's state, then its progress until it ends."""
    kind = build.kind if build.kind != "NONE" else "no index"
    cli.echo(f"index build on {table}.{column} ({kind}): {build.status}")
    try:
        with cli.progress("percent") as progress:
            task = progress.add_task(build.kind, total=100)
            while not build.wait(_POLL_SECONDS):
                state = build.progress
                fraction = state.get("fraction")
                progress.update(
                    task,
                    description=f"{build.kind}: {state.get('stage', build.status)}",
                    completed=100 * fraction if fraction is not None else None,
                )
            progress.update(task, completed=100, description=f"{build.kind}: {build.status}")
    except KeyboardInterrupt:
        build.cancel()
        build.wait(30)
        raise
    return build.result()


def _detach(
    cli: Cli, table: str, kind: str, column: str, params: list[str], log: Path | None
) -> None:
    """Run the build in a new session that outlives this process; report where to look."""
    path = cli.store_path()
    with cli.open_store() as store:
        store.table(table)  # fail now, not in the detached process, if it is missing
    if log is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log = Path(tempfile.gettempdir()) / f"omnivector-index-{table}-{stamp}.log"
    command_line = [
        sys.executable,
        "-m",
        "omnivector",
        "--store",
        path,
        "index",
        "create",
        table,
        "--kind",
        kind,
        "--column",
        column,
        "--background",
        "--json",
        *[item for value in params for item in ("--param", value)],
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command_line,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )
    # Return once the build holds the table's maintenance lock (or has ended), so an
    # `index wait` run right after this waits for it.
    deadline = time.monotonic() + _DETACH_START_SECONDS
    with cli.open_store() as store:
        while (
            process.poll() is None
            and store.wait_for_maintenance(table, timeout=0)
            and time.monotonic() < deadline
        ):
            time.sleep(_POLL_SECONDS / 2)
    code = process.poll()
    data = {
        "table": table,
        "column": column,
        "kind": kind,
        "status": "detached" if code is None else ("finished" if code == 0 else "failed"),
        "pid": process.pid,
        "log": str(log),
    }
    if code is not None:
        data["exit_code"] = code
    running = (
        f"running in process {process.pid}; `omnivector index wait {table}` waits for it"
        if code is None
        else f"{data['status']} already"
    )
    cli.emit(
        data,
        lambda: cli.out.print(
            f"index build on {table}.{column} ({kind}) {running}; output in {log}",
            markup=False,
        ),
    )
    if code:
        raise typer.Exit(1)


def _describe_index(data: dict[str, Any]) -> str:
    info = data["index"]
    if info is None:
        return str(data["message"])
    return (
        f"built {info.kind} index {info.name} on {data['table']}.{', '.join(info.columns)}: "
        f"{info.indexed_rows:,} rows indexed, {info.unindexed_rows:,} unindexed"
    )


def _parse_params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--param")
        params[key] = parse_value(raw)
    return params


@command(index_app, "list")
def list_(cli: Cli, table: TableArg) -> None:
    """List a table's indexes with their indexed and unindexed row counts."""
    with cli.open_store() as store:
        indexes = store.table(table).indexes()
    cli.emit(
        indexes, lambda: show_table(cli.out, _indexes_view(table, indexes), empty="no indexes")
    )


def _indexes_view(table: str, indexes: list[IndexInfo], busy: bool | None = None) -> Any:
    rows = [{"table": table, **index_row(i)} for i in indexes]
    return rows_table(
        rows,
        INDEX_COLUMNS,
        title=table
        if busy is None
        else f"{table} ({'build or compaction running' if busy else 'idle'})",
        numeric=["indexed", "unindexed", "bytes"],
    )


TablesArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[TABLE]...", help="Tables (default: every table).", show_default=False),
]


def _status(store: VectorStore, names: list[str], timeout: float) -> list[dict[str, Any]]:
    report = []
    for name in names:
        tbl = store.table(name)
        idle = store.wait_for_maintenance(name, timeout=timeout)
        report.append({"table": name, "busy": not idle, "indexes": tbl.indexes()})
    return report


def _show_status(cli: Cli, report: list[dict[str, Any]]) -> None:
    def human() -> None:
        if not report:
            cli.out.print("no tables")
        for entry in report:
            view = _indexes_view(entry["table"], entry["indexes"], entry["busy"])
            show_table(cli.out, view, empty=f"{entry['table']}: no indexes")

    cli.emit(report, human)


@command(index_app, "status")
def status(cli: Cli, tables: TablesArg = None) -> None:
    """Show each table's indexes (indexed/unindexed rows) and whether a build is running.

    "busy" means an index build or compaction holds the table's maintenance lock, in any
    process.
    """
    with cli.open_store() as store:
        report = _status(store, tables or store.table_names(), timeout=0)
    _show_status(cli, report)


@command(index_app, "wait")
def wait(
    cli: Cli,
    tables: TablesArg = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Give up (exit code 1) after this many seconds."),
    ] = None,
) -> None:
    """Wait until no index build (or compaction) runs on the tables, in any process."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with cli.open_store() as store:
        names = tables or store.table_names()
        with cli.err.status("waiting for index builds", spinner="dots"):
            store.await_pending_index_builds(timeout)
            report = []
            for name in names:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                entry = _status(store, [name], timeout=left if left is not None else float("inf"))
                report.extend(entry)
    _show_status(cli, report)
    busy = [entry["table"] for entry in report if entry["busy"]]
    if busy:
        print(f"error: still building after {timeout}s: {', '.join(busy)}", file=sys.stderr)
        raise typer.Exit(1)


@command(index_app, "drop")
def drop(
    cli: Cli,
    table: TableArg,
    name: Annotated[str, typer.Argument(help="Index name (see `index list`).")],
    missing_ok: Annotated[
        bool, typer.Option("--missing-ok", help="No error if there is no such index.")
    ] = False,
) -> None:
    """Remove an index from a table."""
    with cli.open_store() as store:
        store.table(table).drop_index(name, missing_ok=missing_ok)
    cli.emit(
        {"table": table, "index": name, "dropped": True},
        lambda: cli.out.print(f"dropped index {name} from {table}", markup=False),
    )
