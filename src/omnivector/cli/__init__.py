"""The ``omnivector`` command line: a thin layer over the library.

``app`` is the Typer application, ``main`` the console script. Commands live by subject:
:mod:`.data` (tables and documents), :mod:`.index`, :mod:`.maintain` (maintenance and
versions), :mod:`.tools` (bench, demo) and :mod:`.serve` (the MCP server); :mod:`.app`
holds the shared plumbing.
"""

from __future__ import annotations

from omnivector.cli.app import app, main

from . import data, index, maintain, serve, tools

__all__ = ["app", "main"]

_COMMAND_MODULES = (data, index, maintain, tools, serve)
