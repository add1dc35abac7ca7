"""Indexes: planning what to build, the catalog of what exists, builds (blocking or in the
background, in a worker process) and the auto-index policy."""

from omnivector.indexing.builds import IndexBuild
from omnivector.indexing.catalog import QUERY_DEFAULTS, IndexInfo, query_defaults
from omnivector.indexing.planning import (
    AUTO_VECTOR_KIND,
    EXACT_SEARCH_MAX_ROWS,
    VECTOR_KINDS,
    vector_index_defaults,
)

__all__ = [
    "AUTO_VECTOR_KIND",
    "EXACT_SEARCH_MAX_ROWS",
    "QUERY_DEFAULTS",
    "VECTOR_KINDS",
    "IndexBuild",
    "IndexInfo",
    "query_defaults",
    "vector_index_defaults",
]
