"""omnivector: an embedded vector database for Python on the Lance columnar format.

>>> import omnivector as ov
>>> store = ov.VectorStore("./data", dimension=384)  # doctest: +SKIP
"""

from __future__ import annotations

import os

# Lance's vector index statistics otherwise carry every centroid (memory) and warn.
os.environ.setdefault("LANCE_INCLUDE_VECTOR_CENTROIDS", "false")

# first: glibc's heap settings, before pyarrow and Lance start threads that allocate
from omnivector.storage import allocator  # noqa: F401

# isort: split
from omnivector.storage import lance_logs  # noqa: F401  (before Lance loads: routes its logs)

# isort: split
from omnivector import embeddings
from omnivector.aio import AsyncTable, AsyncVectorStore, connect_async
from omnivector.core.configs import DatasetCacheConfig, IndexBuildConfig, MaintenanceConfig
from omnivector.core.errors import (
    CommitConflictError,
    DimensionMismatchError,
    DuplicateIdError,
    EmbeddingError,
    EmbeddingUnavailableError,
    ForkedProcessError,
    IndexBuildCancelledError,
    IndexBuildError,
    IndexNotFoundError,
    InvalidFilterError,
    InvalidInputError,
    InvalidNameError,
    MissingDependencyError,
    OmnivectorError,
    ReadOnlyError,
    SchemaError,
    StorageError,
    StoreClosedError,
    TableExistsError,
    TableNotFoundError,
    UnsafeOperationError,
    VersionNotFoundError,
)
from omnivector.core.fusion import RRF, Weighted
from omnivector.core.layout import StorageOptions
from omnivector.core.rerank import CrossEncoderReranker
from omnivector.core.results import Hit, ImportResult, SearchResults, WriteResult
from omnivector.distributed.engine import RayEngine
from omnivector.indexing.builds import IndexBuild
from omnivector.indexing.catalog import IndexInfo
from omnivector.indexing.planning import IndexSkipped
from omnivector.maintenance.compaction import CleanupResult, CompactionResult, OptimizeResult
from omnivector.maintenance.stats import TableHealth, TableStats
from omnivector.operations.versions import VersionInfo
from omnivector.resident.config import ResidentConfig
from omnivector.resident.graphs import ResidentInfo
from omnivector.storage.pool import CacheInfo
from omnivector.store import VectorStore, connect
from omnivector.table import Table

__version__ = "0.1.0"

__all__ = [
    "AsyncTable",
    "AsyncVectorStore",
    "CacheInfo",
    "CleanupResult",
    "CommitConflictError",
    "CompactionResult",
    "CrossEncoderReranker",
    "DatasetCacheConfig",
    "DimensionMismatchError",
    "DuplicateIdError",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "ForkedProcessError",
    "Hit",
    "ImportResult",
    "IndexBuild",
    "IndexBuildCancelledError",
    "IndexBuildConfig",
    "IndexBuildError",
    "IndexInfo",
    "IndexNotFoundError",
    "IndexSkipped",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidNameError",
    "MaintenanceConfig",
    "MissingDependencyError",
    "OmnivectorError",
    "OptimizeResult",
    "RRF",
    "RayEngine",
    "ReadOnlyError",
    "ResidentConfig",
    "ResidentInfo",
    "SchemaError",
    "SearchResults",
    "StorageError",
    "StorageOptions",
    "StoreClosedError",
    "Table",
    "TableExistsError",
    "TableHealth",
    "TableNotFoundError",
    "TableStats",
    "UnsafeOperationError",
    "VectorStore",
    "VersionInfo",
    "VersionNotFoundError",
    "Weighted",
    "WriteResult",
    "__version__",
    "connect",
    "connect_async",
    "embeddings",
]
