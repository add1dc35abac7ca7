"""The public surface: exactly the names in __all__, one exception tree."""

from __future__ import annotations

import inspect

import omnivector as ov

EXPECTED = {
    "RRF",
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
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(ov.__all__) == EXPECTED
    assert ov.__all__ == sorted(ov.__all__)
    public = {n for n in dir(ov) if not n.startswith("_") and not inspect.ismodule(getattr(ov, n))}
    assert public - {"annotations", "os"} <= EXPECTED


def test_every_error_is_an_omnivector_error() -> None:
    errors = [getattr(ov, n) for n in ov.__all__ if n.endswith("Error")]
    assert errors
    for error in errors:
        assert issubclass(error, ov.OmnivectorError)
    assert issubclass(ov.TableNotFoundError, LookupError)
    assert issubclass(ov.InvalidInputError, ValueError)


def test_public_classes_have_docstrings() -> None:
    for name in ov.__all__:
        obj = getattr(ov, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
