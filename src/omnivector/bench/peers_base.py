"""Common ground for the systems of ``omnivector bench peers``: the batch and the adapter.

Every system stores the same documents (id, vector, text, category) except hnswlib, FAISS and
numpy, which keep vectors only and filter through a category array held beside the index.
All search cosine distance and return ids only, so the figures compare search, not payload
decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

__all__ = ["TABLE", "Batch", "Params", "System", "ids_of", "unit"]

Params = dict[str, int]
TABLE = "bench"


@dataclass(frozen=True, slots=True)
class Batch:
    """One ingest batch: rows ``start .. start + len(vectors)`` of the corpus."""

    start: int
    vectors: np.ndarray
    texts: list[str]
    categories: list[str]

    @property
    def ids(self) -> list[str]:
        return [str(i) for i in range(self.start, self.start + len(self.vectors))]

    def arrow(self) -> pa.Table:
        flat = pa.array(np.ascontiguousarray(self.vectors, np.float32).reshape(-1))
        return pa.table(
            {
                "id": pa.array(self.ids, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, self.vectors.shape[1]),
                "text": pa.array(self.texts, pa.string()),
                "category": pa.array(self.categories, pa.string()),
            }
        )


class System:
    """A store under test. Subclasses fill in the hooks they support."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    #: modules imported before the clock starts (time to first query excludes imports)
    imports: ClassVar[tuple[str, ...]] = ()
    index: ClassVar[str] = ""
    knob: ClassVar[str] = ""
    #: trained indexes (FAISS IVF) build before the rows are added
    train_first: ClassVar[bool] = False
    #: whether hybrid (vector + full-text) search is offered
    hybrid: ClassVar[bool] = False
    #: a system whose store this one would build alike: it queries that store instead
    builds_like: ClassVar[str | None] = None

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        self.dimension = int(config["dimension"])
        self.count = int(config["count"])

    def prepare(self, batch: Batch) -> Any:
        """Shape a batch into the system's input (not timed)."""
        return batch

    def create(self) -> None:
        """Create the empty store (not timed)."""

    def add(self, prepared: Any) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Make the ingested rows durable (timed with ingest)."""

    def build(self, sample: np.ndarray) -> bool:
        """Build the vector index; False when the index is built while adding rows."""
        return False

    def build_extras(self) -> None:
        """Secondary indexes: the category filter and, for hybrid, full text."""

    def close(self) -> None:
        """Release the store."""

    def open(self) -> None:
        raise NotImplementedError

    def warm(self) -> None:
        """After the first query, load what the system keeps in memory (timed apart)."""

    def memory_parts(self) -> dict[str, int]:
        """Bytes the system reports holding, by part (for the RSS breakdown)."""
        return {}

    def sweep(self) -> list[Params]:
        """Search settings from fast to accurate."""
        return [{}]

    def search(self, query: np.ndarray, k: int, params: Params | None) -> list[int]:
        raise NotImplementedError

    def search_filtered(
        self, query: np.ndarray, k: int, params: Params | None, category: str
    ) -> list[int]:
        raise NotImplementedError

    #: whether :meth:`search_exact` is offered (exact nearest neighbours on request)
    exact: ClassVar[bool] = False

    def search_exact(self, query: np.ndarray, k: int) -> list[int]:
        raise NotImplementedError

    def search_hybrid(
        self, query: np.ndarray, text: str, k: int, params: Params | None
    ) -> list[int]:
        raise NotImplementedError


def ids_of(values: Any) -> list[int]:
    return [int(v) for v in values]


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), np.float32)
