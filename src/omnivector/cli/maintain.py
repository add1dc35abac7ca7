"""Maintenance and versions: compact, cleanup, optimize, health, stats, versions, tag, restore."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from omnivector.cli.app import Cli, EngineOpt, WorkersOpt, app, command, engine_option, to_jsonable
from omnivector.cli.data import TableArg
from omnivector.cli.render import key_values, rows_table, show_table

OptionalTableArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[TABLE]", help="Table name (default: every table).", show_default=False
    ),
]


PANEL = "Maintenance and versions"


@command(app, "compact", panel=PANEL)
def compact(
    cli: Cli,
    table: TableArg,
    target_rows: Annotated[
        int | None,
        typer.Option(
            "--target-rows", metavar="N", min=1, help="Rows per fragment to aim for (default 1Mi)."
        ),
    ] = None,
    engine: EngineOpt = "local",
    workers: WorkersOpt = None,
) -> None:
    """Merge small fragments and purge deleted rows."""
    where = engine_option(engine, workers)
    with cli.open_store() as store:
        tbl = store.table(table)
        on = " with Ray" if where != "local" else ""
        with cli.err.status(f"compacting {table}{on}", spinner="dots"):
            result = tbl.compact(engine=where, target_rows_per_fragment=target_rows)
        data = {"table": table, **to_jsonable(result), "version": tbl.version, "engine": engine}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"compacted {table}: {result.fragments_removed} fragments merged into "
            f"{result.fragments_added} (version {data['version']})"
        ),
    )


@command(app, "cleanup", panel=PANEL)
def cleanup(
    cli: Cli,
    table: TableArg,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than", metavar="SECONDS", min=0, help="Only versions older than this."
        ),
    ] = None,
    keep_versions: Annotated[
        int | None,
        typer.Option("--keep-versions", metavar="N", min=1, help="Always keep the newest N."),
    ] = None,
) -> None:
    """Delete old versions' files (tagged versions are kept)."""
    with cli.open_store() as store:
        tbl = store.table(table)
        with cli.err.status(f"cleaning up {table}", spinner="dots"):
            result = tbl.cleanup(older_than=older_than, keep_versions=keep_versions)
    data = {"table": table, **to_jsonable(result)}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"removed {result.versions_removed} versions ({result.bytes_removed:,} bytes) "
            f"from {table}"
        ),
    )


@command(app, "optimize", panel=PANEL)
def optimize(cli: Cli, table: TableArg) -> None:
    """Compact, fold new rows into the indexes, and clean up old versions."""
    with cli.open_store() as store:
        tbl = store.table(table)
        with cli.err.status(f"optimizing {table}", spinner="dots"):
            result = tbl.optimize()
        data = {"table": table, **to_jsonable(result), "version": tbl.version}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"optimized {table}: {result.compaction.fragments_removed} fragments merged into "
            f"{result.compaction.fragments_added}, indexes "
            f"{'updated' if result.indexes_optimized else 'unchanged'}, "
            f"{result.cleanup.versions_removed} old versions removed "
            f"({result.cleanup.bytes_removed:,} bytes)"
        ),
    )


@command(app, "health", panel=PANEL)
def health(cli: Cli, table: OptionalTableArg = None) -> None:
    """Fragmentation, deleted rows, old versions and unindexed rows, with advice."""
    with cli.open_store() as store:
        names = [table] if table is not None else store.table_names()
        report = [{"table": name, **to_jsonable(store.table(name).health())} for name in names]

    def human() -> None:
        if table is not None:
            entry = report[0]
            shown = {k: v for k, v in entry.items() if k not in ("indexes", "recommendations")}
            shown["indexes"] = [i["name"] for i in entry["indexes"]]
            cli.out.print(key_values(shown, title=table))
            for advice in entry["recommendations"]:
                cli.out.print(f"  - {advice}", markup=False)
            return
        columns = ["table", "rows", "fragments", "deleted_rows", "versions", "healthy", "advice"]
        rows = [{**e, "advice": "; ".join(e["recommendations"])} for e in report]
        numeric = ["rows", "fragments", "deleted_rows", "versions"]
        show_table(cli.out, rows_table(rows, columns, numeric=numeric), empty="no tables")

    cli.emit(report[0] if table is not None else report, human)


@command(app, "stats", panel=PANEL)
def stats(cli: Cli, table: OptionalTableArg = None) -> None:
    """Rows, bytes on disk (per column and per row), fragments, versions, indexes."""
    with cli.open_store() as store:
        names = [table] if table is not None else store.table_names()
        report = [{"table": name, **to_jsonable(store.table(name).stats())} for name in names]
    if table is not None:
        entry = report[0]

        def one() -> None:
            shown = {k: v for k, v in entry.items() if k not in ("column_bytes", "indexes")}
            shown["indexes"] = [i["name"] for i in entry["indexes"]]
            cli.out.print(key_values(shown, title=table))
            rows = [
                {"column": c, "bytes": b, "bytes/row": b / max(entry["rows"], 1)}
                for c, b in entry["column_bytes"].items()
            ]
            cli.out.print(
                rows_table(rows, ["column", "bytes", "bytes/row"], numeric=["bytes", "bytes/row"])
            )

        cli.emit(entry, one)
        return
    data: dict[str, Any] = {
        "tables": report,
        "rows": sum(e["rows"] for e in report),
        "bytes_on_disk": sum(e["bytes_on_disk"] for e in report),
    }

    def every() -> None:
        rows = [{**e, "indexes": len(e["indexes"])} for e in report]
        columns = [
            "table",
            "rows",
            "bytes_on_disk",
            "bytes_per_row",
            "fragments",
            "versions",
            "indexes",
        ]
        show_table(cli.out, rows_table(rows, columns, numeric=columns[1:]), empty="no tables")
        cli.out.print(f"total: {data['rows']:,} rows, {data['bytes_on_disk']:,} bytes on disk")

    cli.emit(data, every)


@command(app, "versions", panel=PANEL)
def versions(cli: Cli, table: TableArg) -> None:
    """List a table's versions with their time, operation, rows and tags."""
    with cli.open_store() as store:
        listed = store.table(table).versions()
    rows = to_jsonable(listed)
    shown = [{**row, "timestamp": row["timestamp"][:19].replace("T", " ")} for row in rows]
    cli.emit(
        rows,
        lambda: show_table(
            cli.out,
            rows_table(
                shown,
                ["version", "timestamp", "operation", "rows", "tags"],
                numeric=["version", "rows"],
            ),
        ),
    )


@command(app, "tag", panel=PANEL)
def tag(
    cli: Cli,
    table: TableArg,
    name: Annotated[str, typer.Argument(help="Tag name (letters, digits, '-', '_', '.').")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Version to tag (default: latest).")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", "-d", help="Remove the tag instead.")] = False,
) -> None:
    """Name a version so cleanup keeps it and restore can find it."""
    with cli.open_store() as store:
        tbl = store.table(table)
        if delete:
            tbl.untag(name)
            data: dict[str, Any] = {"table": table, "tag": name, "deleted": True}
        else:
            tbl.tag(name, version)
            data = {"table": table, "tag": name, "version": tbl.tags()[name]}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"removed tag {name}"
            if delete
            else f"tagged version {data['version']} of {table} as {name}",
            markup=False,
        ),
    )


@command(app, "restore", panel=PANEL)
def restore(
    cli: Cli,
    table: TableArg,
    version: Annotated[str, typer.Argument(metavar="VERSION_OR_TAG", help="A version or tag.")],
) -> None:
    """Make an older version (or tag) the latest version again."""
    target: int | str = int(version) if version.isdigit() else version
    with cli.open_store() as store:
        result = store.table(table).restore(target)
    data = {"table": table, "restored": target, "version": result.version}
    cli.emit(
        data,
        lambda: cli.out.print(
            f"restored {table} to {version}: now version {result.version}", markup=False
        ),
    )
