"""Exact scores over a resident copy of a table's vectors: BLAS products and a top k.

Used for ``exact=True`` queries, for filters that let few rows through, and for scoring
an engine's candidates exactly. Scores follow the engines' convention: inner products
with the unscaled query (rows are unit length for cosine), squared l2 distances for
"l2". float16 copies are widened a chunk at a time: numpy has no float16 BLAS.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest", "scores"]

# rows widened to float32 at a time for float16 copies (16 MiB at 64-d)
_WIDEN_ROWS = 65_536


def scores(
    vectors: np.ndarray,
    query: np.ndarray,
    metric: str,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of ``query`` against ``vectors`` (the rows at ``positions`` when given)."""
    query = np.ascontiguousarray(query, np.float32)
    rows = vectors if positions is None else vectors[positions]
    if metric == "l2":
        # the direct form: |x|^2 - 2 x.q + |q|^2 loses digits to cancellation near 0
        return _squared_l2(rows, query)
    if rows.dtype == np.float32:
        product: np.ndarray = rows @ query
        return product
    out = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), _WIDEN_ROWS):
        chunk = rows[start : start + _WIDEN_ROWS].astype(np.float32)
        out[start : start + len(chunk)] = chunk @ query
    return out


def _squared_l2(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    out = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), _WIDEN_ROWS):
        diff = rows[start : start + _WIDEN_ROWS].astype(np.float32) - query
        out[start : start + len(diff)] = np.einsum("ij,ij->i", diff, diff)
    return out


def nearest(values: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of ``values`` (smallest for l2, largest otherwise), best first, ties
    by index: their values and indexes."""
    keys = values if metric == "l2" else -values
    chosen = np.argpartition(keys, k - 1)[:k] if len(keys) > k else np.arange(len(keys))
    order = chosen[np.lexsort((chosen, keys[chosen]))]
    return values[order], order
