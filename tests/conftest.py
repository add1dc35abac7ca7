"""Shared fixtures: real stores in tmp_path, deterministic data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import settings

import omnivector as ov

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("soak", max_examples=500, deadline=None)
settings.load_profile("ci")

DIM = 16


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ov.VectorStore]:
    with ov.VectorStore(
        tmp_path / "store", dimension=DIM, index_builds=ov.IndexBuildConfig(executor="thread")
    ) as opened:
        yield opened


@dataclass(frozen=True)
class S3Server:
    """An S3-compatible server (moto) on 127.0.0.1 with one bucket."""

    options: dict[str, str]
    bucket: str

    def fresh_prefix(self) -> str:
        return f"s3://{self.bucket}/{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from omnivector.bench.s3server import moto_s3

    bucket = "omnivector-tests"
    with moto_s3(bucket) as options:
        yield S3Server(options, bucket)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_docs(
    count: int, rng: np.random.Generator, *, dim: int = DIM, start: int = 0
) -> list[dict[str, Any]]:
    """Documents with every kind of column filled (declared: category, year, tags)."""
    words = ["lance", "vector", "column", "search", "python", "index", "table", "query"]
    docs = []
    for i in range(start, start + count):
        picked = [words[(i * 7 + j) % len(words)] for j in range(3)]
        docs.append(
            {
                "id": f"doc-{i}",
                "vector": rng.standard_normal(dim).astype(np.float32),
                "text": " ".join(picked) + f" number {i}",
                "metadata": {"rank": i, "group": f"g{i % 4}", "nested": {"even": i % 2 == 0}},
                "category": ["paper", "blog", "note"][i % 3],
                "year": 2000 + i % 25,
                "tags": [f"t{i % 5}"] + ([f"t{(i + 1) % 5}"] if i % 2 else []),
            }
        )
    return docs


FIELDS = {"category": "string", "year": "int64", "tags": "list<string>"}


def arrow_docs(vectors: np.ndarray, start: int = 0) -> pa.Table:
    """Documents ``d<start>``... with the given vectors, as Arrow (declared field: category)."""
    count = len(vectors)
    return pa.table(
        {
            "id": [f"d{start + i}" for i in range(count)],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.ravel()), vectors.shape[1]
            ),
            "text": [
                f"document {start + i} about {'lance' if i % 4 else 'ray'}" for i in range(count)
            ],
            "metadata": [f'{{"n": {start + i}}}' for i in range(count)],
            "category": [["paper", "blog", "note"][(start + i) % 3] for i in range(count)],
        }
    )


@pytest.fixture(scope="session")
def minilm() -> ov.embeddings.EmbeddingFunction:
    """The default embedding model, loaded once for the whole run."""
    return ov.embeddings.default()
