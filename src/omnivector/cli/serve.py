"""``mcp``: serve the store to agents over the Model Context Protocol."""

from __future__ import annotations

from typing import Annotated

import typer

from omnivector.cli.app import Cli, app, command

PANEL = "Servers"


@command(app, "mcp", panel=PANEL, json_flag=False)
def mcp(
    cli: Cli,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Offer only the tools that read.")
    ] = False,
    http: Annotated[
        bool,
        typer.Option("--http", help="Streamable HTTP on 127.0.0.1 (path /mcp) instead of stdio."),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="The HTTP port (default 8765)."),
    ] = None,
) -> None:
    """Run an MCP server on the store: tools to list, describe, search, read and write
    tables (needs omni-vector[mcp]).

    Speaks stdio unless --http is given. A missing store directory is created, except with
    --read-only.
    """
    from omnivector.integrations.mcp import DEFAULT_PORT, serve

    if port is not None and not http:
        raise typer.BadParameter("--port needs --http", param_hint="--port")
    with cli.open_store(create=not read_only) as store:
        serve(
            store,
            read_only=read_only,
            transport="http" if http else "stdio",
            port=port if port is not None else DEFAULT_PORT,
        )
