"""What to build: index kinds, the parameters chosen for them, and the auto policy."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from omnivector.core.errors import (
    InvalidInputError,
)
from omnivector.core.schema import TableSpec
from omnivector.storage.datasets import Dataset

__all__ = [
    "AUTO_VECTOR_KIND",
    "BITMAP_MAX_DISTINCT",
    "EXACT_SEARCH_MAX_ROWS",
    "SCALAR_KINDS",
    "VECTOR_KINDS",
    "IndexRequest",
    "IndexSkipped",
    "plan_fts_index",
    "plan_scalar_index",
    "plan_vector_index",
    "vector_index_defaults",
]


VECTOR_KINDS = (
    "IVF_FLAT",
    "IVF_PQ",
    "IVF_SQ",
    "IVF_RQ",
    "IVF_HNSW_FLAT",
    "IVF_HNSW_SQ",
    "IVF_HNSW_PQ",
)


SCALAR_KINDS = {"btree": "BTREE", "bitmap": "BITMAP", "label_list": "LABEL_LIST"}
# Below this many rows an exact scan answers in a few milliseconds with perfect recall,
# so "auto" keeps exact search (see docs/benchmarks.md, `omnivector bench index`).


# Below this many rows an exact scan answers in a few milliseconds with perfect recall,
# so "auto" keeps exact search (see docs/benchmarks.md, `omnivector bench index`).
EXACT_SEARCH_MAX_ROWS = 20_000


AUTO_VECTOR_KIND = "IVF_HNSW_SQ"


BITMAP_MAX_DISTINCT = 1_000


_MIN_TRAINING_ROWS = 256


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """A fully resolved index build: Lance kind, column, name and parameters."""

    table: str
    column: str
    kind: str  # Lance index type, e.g. "IVF_HNSW_SQ", "BTREE", "INVERTED"
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    replace: bool = True

    @property
    def is_vector(self) -> bool:
        return self.kind in VECTOR_KINDS

    def to_json(self) -> str:
        return json.dumps(
            {
                "table": self.table,
                "column": self.column,
                "kind": self.kind,
                "name": self.name,
                "params": self.params,
                "replace": self.replace,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> IndexRequest:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class IndexSkipped:
    """What ``create_index`` returns when it decides not to build: ``reason`` says why.

    It is falsy, so ``if tbl.create_index(): ...`` reads as "an index was built".
    """

    table: str
    column: str
    reason: str

    def __bool__(self) -> bool:
        return False


def plan_vector_index(
    table: str,
    dataset: Dataset,
    spec: TableSpec,
    *,
    kind: str,
    metric: str | None,
    replace: bool,
    params: dict[str, Any],
) -> IndexRequest | IndexSkipped:
    """Resolve a vector index request; :class:`IndexSkipped` when "auto" prefers exact
    search."""
    if metric is not None and metric != spec.metric:
        raise InvalidInputError(
            f"index metric {metric!r} differs from the table's metric {spec.metric!r}; "
            "scores would be wrong. Omit metric= or create the table with that metric"
        )
    if not isinstance(kind, str):
        raise InvalidInputError(f"kind must be a string, got {kind!r}")
    rows = dataset.count_rows()
    chosen = kind.upper()
    if chosen == "AUTO":
        if rows < EXACT_SEARCH_MAX_ROWS:
            return IndexSkipped(
                table,
                "vector",
                f"no vector index built: table {table!r} has {rows} rows, fewer than "
                f"{EXACT_SEARCH_MAX_ROWS}, where exact search is fast and exact. Pass a kind "
                "(e.g. kind='IVF_HNSW_SQ') to build one anyway",
            )
        chosen = AUTO_VECTOR_KIND
    if chosen not in VECTOR_KINDS:
        raise InvalidInputError(
            f"unknown vector index kind {kind!r}; use 'auto' or one of {list(VECTOR_KINDS)}"
        )
    if chosen == "IVF_RQ" and spec.dimension % 8:
        raise InvalidInputError(
            f"IVF_RQ needs a dimension divisible by 8 (table {table!r} has {spec.dimension}); "
            "choose another kind"
        )
    if rows < _MIN_TRAINING_ROWS:
        raise InvalidInputError(
            f"table {table!r} has {rows} rows; a vector index needs at least "
            f"{_MIN_TRAINING_ROWS} to train (exact search is used until then)"
        )
    resolved = {"metric": spec.metric, **vector_index_defaults(chosen, rows, spec.dimension)}
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, (int, float, str, bool)):
            raise InvalidInputError(f"index parameter {key!r} must be a number, string or bool")
        resolved[key] = value
    return IndexRequest(table, "vector", chosen, "vector_idx", resolved, replace)


def vector_index_defaults(kind: str, rows: int, dimension: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if "HNSW" in kind:
        # Large partitions keep HNSW recall high; ~1 partition per 250k rows.
        params["num_partitions"] = max(1, min(rows // _MIN_TRAINING_ROWS, round(rows / 250_000)))
    else:
        params["num_partitions"] = max(1, min(rows // _MIN_TRAINING_ROWS, round(math.sqrt(rows))))
    if kind.endswith("PQ"):
        params["num_sub_vectors"] = _sub_vectors(dimension)
    return params


def _sub_vectors(dimension: int) -> int:
    for width in (8, 4, 16, 2, 1):  # dimensions per sub-vector, preferred order
        if dimension % width == 0:
            return dimension // width
    return 1


def plan_scalar_index(
    table: str,
    dataset: Dataset,
    spec: TableSpec,
    column: str,
    *,
    kind: str,
    replace: bool,
) -> IndexRequest:
    types = {"id": "string", "text": "string", **spec.fields}
    if column not in types:
        raise InvalidInputError(
            f"cannot index {column!r}: scalar indexes need 'id' or a "
            f"declared field ({sorted(spec.fields)})"
        )
    wanted = kind.lower() if isinstance(kind, str) else kind
    if wanted == "auto":
        if types[column] == "list<string>":
            wanted = "label_list"
        else:
            wanted = (
                "btree"
                if column == "id" or _distinct_above(dataset, column, BITMAP_MAX_DISTINCT)
                else "bitmap"
            )
    if wanted not in SCALAR_KINDS:
        raise InvalidInputError(
            f"unknown scalar index kind {kind!r}; use 'auto' or one of {list(SCALAR_KINDS)}"
        )
    if (wanted == "label_list") != (types[column] == "list<string>"):
        raise InvalidInputError(
            f"label_list indexes list<string> fields only; {column!r} is {types[column]}"
        )
    return IndexRequest(table, column, SCALAR_KINDS[wanted], f"{column}_idx", {}, replace)


def _distinct_above(dataset: Dataset, column: str, limit: int) -> bool:
    seen: set[Any] = set()
    for batch in dataset.to_batches(columns=[column], batch_size=65536):
        seen.update(pc.unique(batch.column(0)).to_pylist())
        if len(seen) > limit:
            return True
    return False


_TOKENIZER_OPTIONS = (
    "base_tokenizer",
    "language",
    "with_position",
    "max_token_length",
    "lower_case",
    "stem",
    "remove_stop_words",
    "ascii_folding",
)


def plan_fts_index(
    table: str,
    dataset: Dataset,
    spec: TableSpec,
    column: str,
    *,
    replace: bool,
    tokenizer: dict[str, Any],
) -> IndexRequest:
    if column != "text" and spec.fields.get(column) != "string":
        raise InvalidInputError(f"full-text indexes need 'text' or a string field, not {column!r}")
    unknown = sorted(set(tokenizer) - set(_TOKENIZER_OPTIONS))
    if unknown:
        raise InvalidInputError(
            f"unknown tokenizer option(s) {unknown}; use {list(_TOKENIZER_OPTIONS)}"
        )
    params = {"with_position": True, **tokenizer}
    return IndexRequest(table, column, "INVERTED", f"{column}_idx", params, replace)
