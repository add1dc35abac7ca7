"""The auto-index policy: build what a table lacks (vector, id, full-text, declared fields)."""

from __future__ import annotations

from collections.abc import Callable

from omnivector.indexing.builds import IndexBuild, IndexBuilder
from omnivector.indexing.catalog import IndexInfo, describe
from omnivector.indexing.planning import (
    EXACT_SEARCH_MAX_ROWS,
    IndexRequest,
    IndexSkipped,
    plan_fts_index,
    plan_scalar_index,
    plan_vector_index,
)
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset

__all__ = ["auto_index"]

# declared field types a scalar index serves
_INDEXED_FIELD_TYPES = ("string", "int64", "bool", "list<string>", "timestamp")


def auto_index(
    ctx: TableContext, builder: IndexBuilder, *, background: bool
) -> list[IndexBuild | IndexInfo]:
    """Build the indexes the policy wants and the table lacks."""
    dataset = ctx.dataset()
    present = {tuple(i.columns) for i in describe(dataset)}
    results: list[IndexBuild | IndexInfo] = []

    def build(plan: Callable[[Dataset], IndexRequest | IndexSkipped]) -> None:
        # each plan reads the current version: a blocking build before it has committed
        request = plan(ctx.dataset())
        if isinstance(request, IndexSkipped):
            return
        result = builder.run(request, background=background)
        if result is not None:
            results.append(result)

    def scalar(column: str) -> Callable[[Dataset], IndexRequest]:
        return lambda current: plan_scalar_index(
            ctx.name, current, ctx.spec, column, kind="auto", replace=True
        )

    if ("vector",) not in present and dataset.count_rows() >= EXACT_SEARCH_MAX_ROWS:
        build(
            lambda current: plan_vector_index(
                ctx.name, current, ctx.spec, kind="auto", metric=None, replace=True, params={}
            )
        )
    if ("id",) not in present and dataset.count_rows() > 0:
        build(scalar("id"))
    if ("text",) not in present and dataset.count_rows(filter="text IS NOT NULL") > 0:
        build(
            lambda current: plan_fts_index(
                ctx.name, current, ctx.spec, "text", replace=True, tokenizer={}
            )
        )
    for name, kind in ctx.spec.fields.items():
        if (name,) not in present and kind in _INDEXED_FIELD_TYPES and dataset.count_rows() > 0:
            build(scalar(name))
    return results
