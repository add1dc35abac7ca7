"""The ``omnivector`` Typer application, its global options and the command plumbing.

Every command is registered with :func:`command`, which adds the options every command
shares (``--store``, ``--json``, ``--debug``), hands the command a :class:`Cli` (the resolved
options, the consoles, the store opener) and turns errors into one line on stderr with exit
code 1. Usage errors (bad or missing arguments) exit with 2, as Typer does.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlparse

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from omnivector import OmnivectorError, RayEngine, StorageError, VectorStore
from omnivector.distributed import Engine

__all__ = [
    "STORE_ENV",
    "Cli",
    "EngineOpt",
    "WorkersOpt",
    "app",
    "command",
    "engine_option",
    "main",
    "parse_where",
]

STORE_ENV = "OMNIVECTOR_STORE"

app = typer.Typer(
    name="omnivector",
    help="omnivector: inspect, load, search and maintain an embedded vector store.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(slots=True)
class _Globals:
    store: str | None = None
    json: bool = False
    debug: bool = False


_globals = _Globals()


@app.callback()
def _root(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            "-s",
            metavar="PATH",
            help=f"The store directory or URI (default: ${STORE_ENV}).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """omnivector: inspect, load, search and maintain an embedded vector store."""
    _globals.store, _globals.json, _globals.debug = store, as_json, debug


class Cli:
    """What a command needs: its resolved options, output consoles and the store."""

    def __init__(self, store: str | None, as_json: bool, debug: bool) -> None:
        self.store_option = store
        self.json = as_json
        self.debug = debug
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    # -- the store ------------------------------------------------------------------------

    def store_path(self) -> str:
        """``--store``, else ``$OMNIVECTOR_STORE``; a usage error if neither is given."""
        path = self.store_option or os.environ.get(STORE_ENV)
        if not path:
            raise typer.BadParameter(
                f"no store given: pass --store PATH or set {STORE_ENV}", param_hint="--store"
            )
        return path

    @contextmanager
    def open_store(self, *, create: bool = False) -> Iterator[VectorStore]:
        """Open the store; a missing local directory is an error unless ``create``."""
        path = self.store_path()
        if not create and _is_local(path) and not Path(path.removeprefix("file://")).is_dir():
            raise StorageError(
                f"no store at {path}: check --store (or ${STORE_ENV}); "
                "`omnivector import` creates a store"
            )
        store = VectorStore(path)
        try:
            yield store
        finally:
            store.close()

    # -- output ---------------------------------------------------------------------------

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """Print ``data`` as JSON with ``--json``, else call ``human`` to print for people."""
        if self.json:
            print_json(data)
        else:
            human()

    def echo(self, text: str) -> None:
        """A plain line for people (stderr under ``--json`` so stdout stays JSON)."""
        (self.err if self.json else self.out).print(text, markup=False, highlight=False)

    def progress(self, unit: str = "rows") -> Progress:
        """A progress bar on stderr counting ``unit`` ("rows", "bytes" or "percent"), hidden
        under ``--json``."""
        amount: ProgressColumn
        if unit == "bytes":
            amount = DownloadColumn()
        elif unit == "percent":
            amount = TaskProgressColumn()
        else:
            amount = MofNCompleteColumn()
        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            amount,
            TextColumn(unit if unit == "rows" else ""),
            TimeElapsedColumn(),
            console=self.err,
            disable=self.json,
        )


# Options every command takes; the root callback's values apply when they are not given.
_COMMON = (
    inspect.Parameter(
        "store",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--store",
                "-s",
                metavar="PATH",
                help=f"The store directory or URI (default: ${STORE_ENV}).",
            ),
        ],
    ),
    inspect.Parameter(
        "as_json",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")],
    ),
    inspect.Parameter(
        "debug",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")],
    ),
)


def command(
    group: typer.Typer, name: str, *, panel: str | None = None, json_flag: bool = True
) -> Callable[[F], F]:
    """Register ``fn(cli, ...)`` as command ``name`` of ``group`` (under ``panel`` in help).

    The command's help is its docstring. ``json_flag=False`` leaves out the per-command
    ``--json`` flag (for a command whose own ``--json`` takes a value).
    """

    def register(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)
        own = list(signature.parameters.values())[1:]  # drop ``cli``
        common = [p for p in _COMMON if json_flag or p.name != "as_json"]

        @functools.wraps(fn)
        def run(**kwargs: Any) -> None:
            cli = Cli(
                kwargs.pop("store") or _globals.store,
                kwargs.pop("as_json", False) or _globals.json,
                kwargs.pop("debug") or _globals.debug,
            )
            try:
                fn(cli, **kwargs)
            except (typer.Exit, typer.Abort, typer.TyperException):
                raise
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                raise typer.Exit(130) from None
            except Exception as exc:
                if cli.debug:
                    raise
                print(f"error: {_describe(exc)}", file=sys.stderr)
                raise typer.Exit(1) from None

        run.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*own, *common]
        )
        run.__annotations__ = {
            **{p.name: p.annotation for p in [*own, *common]},
            "return": None,
        }
        group.command(name, rich_help_panel=panel)(run)
        return fn

    return register


def _describe(exc: BaseException) -> str:
    message = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OmnivectorError | OSError):
        return message.splitlines()[0] if isinstance(exc, OSError) else message
    return f"{type(exc).__name__}: {message} (rerun with --debug for the traceback)"


def _is_local(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or len(scheme) == 1  # "C:\..." on Windows


# -- parsing ----------------------------------------------------------------------------------

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        metavar="local|ray",
        help="local: in this process; ray: as Ray tasks through lance-ray (connects to "
        "$RAY_ADDRESS, else starts a local cluster; needs omni-vector[ray]).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="With --engine ray: tasks side by side (default: the cluster's CPUs).",
    ),
]


def engine_option(engine: str, workers: int | None) -> Engine:
    """The library's ``engine=`` for ``--engine`` and ``--workers``."""
    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"{engine!r} is not 'local' or 'ray'", param_hint="--engine")
    if engine == "local":
        if workers is not None:
            raise typer.BadParameter("--workers needs --engine ray", param_hint="--workers")
        return "local"
    return RayEngine(num_workers=workers)


def parse_where(text: str | None, option: str = "--where") -> dict[str, Any] | None:
    """A ``--where`` JSON object (the filter DSL of :mod:`omnivector.core.filters`)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f'not valid JSON ({exc.msg}); e.g. --where \'{{"year": {{"$gte": 2020}}}}\'',
            param_hint=option,
        ) from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=option)
    return value


def parse_value(text: str) -> Any:
    """A ``key=value`` option's value: JSON when it parses (numbers, booleans), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- JSON output ------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes, numpy values and paths as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        healthy = getattr(type(value), "healthy", None)
        if isinstance(healthy, property):
            data["healthy"] = bool(getattr(value, "healthy"))  # noqa: B009
        return data
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """The ``omnivector`` console script; returns the exit code."""
    try:
        app(args=argv, prog_name="omnivector")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
