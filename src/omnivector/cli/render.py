"""Human output: rich tables of plain values (never interpreted as rich markup)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnivector.cli.app import to_jsonable

__all__ = ["cell", "key_values", "rows_table", "short_json", "show_table"]


def cell(value: Any, *, width: int | None = None) -> Text:
    """One table cell; ``None`` is blank, containers are compact JSON, long text is cut."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.4f}" if abs(value) < 1 else f"{value:,.2f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, Mapping | list | tuple):
        text = short_json(value)
    else:
        text = str(value)
    if width is not None:
        text = text.strip().splitlines()[0] if text.strip() else ""
        if len(text) > width:
            text = text[: width - 1] + "…"
    return Text(text)


def short_json(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def rows_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    widths: Mapping[str, int] | None = None,
    numeric: Iterable[str] = (),
) -> Table:
    """A table with one row per mapping, showing ``columns`` in order."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    right = set(numeric)
    limits = widths or {}
    for name in columns:
        # Long-text columns give up width first, and are cut to one line rather than wrapped.
        limit = limits.get(name)
        table.add_column(
            name,
            justify="right" if name in right else "left",
            no_wrap=limit is None,
            overflow="ellipsis",
            min_width=min(limit, 12) if limit is not None else None,
            max_width=limit,
        )
    for row in rows:
        cells = []
        for name in columns:
            text = cell(row.get(name), width=limits.get(name))
            if name in limits:
                text.no_wrap, text.overflow = True, "ellipsis"
            cells.append(text)
        table.add_row(*cells)
    return table


def key_values(pairs: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A two-column table of names and values."""
    table = Table(title=title, title_justify="left", show_header=False, show_edge=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in pairs.items():
        table.add_row(Text(key), cell(value))
    return table


def show_table(console: Console, table: Table, *, empty: str | None = None) -> None:
    if empty is not None and table.row_count == 0:
        console.print(Text(empty))
        return
    console.print(table)


INDEX_COLUMNS = ["name", "kind", "columns", "indexed", "unindexed", "bytes"]


def index_row(info: Any) -> dict[str, Any]:
    """One ``IndexInfo`` as a row of the index tables."""
    return {
        "name": info.name,
        "kind": info.kind,
        "columns": ", ".join(info.columns),
        "indexed": info.indexed_rows,
        "unindexed": info.unindexed_rows,
        "bytes": info.size_bytes,
    }
