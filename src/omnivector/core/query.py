"""What a search asks for: a validated vector query and a full-text query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["TextQuery", "VectorQuery"]


@dataclass(slots=True)  # not frozen: made per query, and a frozen one costs twice the time
class VectorQuery:
    """A validated vector query and the ANN knobs the caller set (None: the index's
    defaults, or the resident graph's)."""

    vector: np.ndarray
    k: int
    nprobes: int | None = None
    ef: int | None = None
    refine_factor: int | None = None
    exact: bool = False


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A full-text query over one or more columns with per-column boosts.

    ``text`` may quote phrases (``"exact words"``) and mark terms that must appear
    (``+term``) or must not (``-term``).
    """

    text: str
    k: int
    columns: Mapping[str, float]
