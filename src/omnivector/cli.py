"""Command-line interface (placeholder entry point)."""

from __future__ import annotations

import sys

from .demo import run_demo


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["demo"]:
        store = args[args.index("--store") + 1] if "--store" in args else ".data/demo-store"
        run_demo(store)
        return 0
    print("usage: omnivector demo [--store PATH]", file=sys.stderr)
    return 2
