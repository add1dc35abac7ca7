"""``bench`` (the benchmark suites) and ``demo`` (the standard-library demo store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnivector.cli.app import Cli, app, command

DEMO_STORE = ".data/demo-store"


PANEL = "Benchmarks and demo"


@command(app, "bench", panel=PANEL, json_flag=False)
def bench(
    cli: Cli,
    suite: Annotated[str, typer.Argument(help="Suite name, or 'all'.")],
    quick: Annotated[
        bool, typer.Option("--quick", "-q", help="Small sizes, under a minute.")
    ] = False,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", metavar="PATH", help="Write the raw figures as JSON to PATH."),
    ] = None,
    plot_dir: Annotated[
        Path | None, typer.Option("--plot", metavar="DIR", help="Write plots to DIR.")
    ] = None,
) -> None:
    """Run a benchmark suite and print its table (omnivector --json bench ... prints JSON)."""
    from omnivector.bench import run_suite

    results = run_suite(suite, quick=quick, json_path=json_path, plot_dir=plot_dir, echo=cli.echo)
    cli.emit(results, lambda: None)


@command(app, "demo", panel=PANEL)
def demo(cli: Cli) -> None:
    """Build a store from the standard library's docstrings and search it.

    Uses --store if given (not $OMNIVECTOR_STORE), else .data/demo-store.
    """
    from omnivector.demo import run_demo

    path = cli.store_option or DEMO_STORE
    lines: list[str] = []

    def echo(text: str) -> None:
        lines.append(text)
        cli.echo(text)

    run_demo(path, echo=echo)
    cli.emit({"store": path, "output": lines}, lambda: None)
