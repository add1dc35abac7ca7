"""What the framework integrations share: opening the store and table, MMR selection."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

import omnivector as ov

__all__ = ["TableHolder", "check_options", "maximal_marginal_relevance", "missing_dependency"]


def missing_dependency(module: str, package: str, extra: str) -> ov.MissingDependencyError:
    """The error for an integration module imported without its framework installed."""
    return ov.MissingDependencyError(
        f"{module} needs {package}, which is not installed", extra=extra
    )


def check_options(given: Sequence[str], allowed: Sequence[str], where: str) -> None:
    """Refuse keyword arguments the integration does not understand (rather than ignore)."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ov.InvalidInputError(
            f"{where} got unknown option(s) {unknown}; it takes {sorted(allowed) or 'none'}"
        )


class TableHolder:
    """The store (opened from ``path`` or given) and the integration's table in it.

    The table is created on the first write, with the dimension of the first vectors; until
    then reads find nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        store: ov.VectorStore | None,
        table_name: str,
        *,
        metric: str,
        fields: dict[str, str] | None = None,
    ) -> None:
        if (path is None) == (store is None):
            raise ov.InvalidInputError("pass path= (a store directory) or store=, not both")
        if store is not None and not isinstance(store, ov.VectorStore):
            raise ov.InvalidInputError(f"store must be an omnivector.VectorStore, got {store!r}")
        self.owns_store = store is None
        self.store = store if store is not None else ov.VectorStore(path)  # type: ignore[arg-type]
        self.table_name = table_name
        self.metric = metric
        self.fields = dict(fields or {})
        self._table: ov.Table | None = None
        self.find()  # checks the name at once, and an existing table's columns

    def find(self) -> ov.Table | None:
        """The table, or None while it does not exist."""
        if self._table is None:
            try:
                table = self.store.table(self.table_name)
            except ov.TableNotFoundError:
                return None
            missing = sorted(set(self.fields) - set(table.fields))
            if missing:
                raise ov.SchemaError(
                    f"table {self.table_name!r} has no field(s) {missing}, so it was not made "
                    "by this integration; pass another table_name"
                )
            self._table = table
        return self._table

    def create(self, dimension: int) -> ov.Table:
        """The table, created with ``dimension`` if it does not exist yet."""
        table = self.find()
        if table is None:
            table = self.store.create_table(
                self.table_name,
                dimension=dimension,
                metric=self.metric,
                fields=self.fields,
                exist_ok=True,
            )
            self._table = table
        return table

    def drop(self) -> None:
        self.store.drop_table(self.table_name, missing_ok=True)
        self._table = None

    def close(self) -> None:
        """Close the store if it was opened from a path (a given store stays open)."""
        if self.owns_store:
            self.store.close()


def maximal_marginal_relevance(
    query: Any, candidates: Sequence[Any], *, k: int, lambda_mult: float
) -> list[int]:
    """Positions of up to ``k`` candidates chosen by maximal marginal relevance.

    Each pick maximises ``lambda_mult * sim(query, c) - (1 - lambda_mult) * max sim(c,
    picked)`` with cosine similarity: 1 ranks by relevance alone, 0 by diversity alone.
    """
    if isinstance(lambda_mult, bool) or not 0.0 <= float(lambda_mult) <= 1.0:
        raise ov.InvalidInputError(f"lambda_mult must be between 0 and 1, got {lambda_mult!r}")
    if not candidates or k < 1:
        return []
    unit = _unit(np.asarray(candidates, dtype=np.float64))
    relevance = unit @ _unit(np.asarray(query, dtype=np.float64)[None, :])[0]
    chosen = [int(np.argmax(relevance))]
    closest = unit @ unit[chosen[0]]
    while len(chosen) < min(k, len(unit)):
        score = lambda_mult * relevance - (1.0 - lambda_mult) * closest
        score[chosen] = -np.inf
        pick = int(np.argmax(score))
        chosen.append(pick)
        closest = np.maximum(closest, unit @ unit[pick])
    return chosen


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)
