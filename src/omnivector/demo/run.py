"""The main job on an embedded default: a real store of the standard library's docstrings.

Builds a store in a local directory from the module and class docstrings, embedded by the
default embedding model (all-MiniLM-L6-v2, int8 ONNX, installed with its weights by the
``embed`` extra), builds the vector index in the background while searches keep answering,
prints results and statistics, and finally times vector queries on Lance against the same
table's resident graph.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from omnivector import IndexBuild, ResidentConfig, SearchResults, VectorStore, embeddings
from omnivector.demo.corpus import Docstring, stdlib_docstrings

__all__ = ["run_demo"]

DEMO_QUERIES = (
    "parse a JSON document into Python objects",
    "compress data to save space",
    "measure how long code takes to run",
    "read a spreadsheet of comma separated values",
)


def demo_docstrings(limit: int | None) -> list[Docstring]:
    """Module and class docstrings (~1,300: embedded in about a minute on 2 cores), at most
    ``limit``."""
    docs = [d for d in stdlib_docstrings() if d.kind != "function"]
    return docs[:limit] if limit is not None else docs


def run_demo(
    path: str | Path,
    *,
    limit: int | None = None,
    embedding: embeddings.EmbeddingFunction | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Build (or rebuild) the demo store at ``path`` and run searches against it.

    ``embedding``: default :func:`omnivector.embeddings.default`.
    """
    started = time.perf_counter()
    function = embedding if embedding is not None else embeddings.default()
    echo(f"Embedding model loaded in {time.perf_counter() - started:.1f}s: {function.config}")
    started = time.perf_counter()
    with VectorStore(path) as store:
        store.drop_table("stdlib", missing_ok=True)
        table = store.create_table(
            "stdlib",
            fields={"module": "string", "kind": "string", "lines": "int64"},
            embedding=function,
        )
        docs = [
            {
                "id": d.id,
                "text": d.text,
                "module": d.module,
                "kind": d.kind,
                "lines": d.lines,
                "metadata": {"name": d.name, "top_level": d.module.split(".")[0]},
            }
            for d in demo_docstrings(limit)
        ]
        table.add(docs)  # no vectors: the table's embedding function makes them
        echo(
            f"Loaded {len(docs):,} docstrings from the standard library into {store.path} "
            f"in {time.perf_counter() - started:.1f}s (embedded from their text)"
        )

        build = table.create_index(kind="IVF_HNSW_SQ", background=True)
        assert isinstance(build, IndexBuild)
        echo(f"Vector index build started in the background: {build.status}")
        for query in DEMO_QUERIES:
            _show(echo, f"query (hybrid): {query!r}", table.search(query=query, k=3))
        _show(
            echo,
            "text: 'zip archive' where kind = class",
            table.search(text="zip archive", k=3, where={"kind": "class"}),
        )
        _show(
            echo,
            "vector: 'temporary directory' in metadata top_level = tempfile",
            table.search(
                function.embed_queries(["temporary directory"])[0],
                k=3,
                where={"top_level": "tempfile"},
            ),
        )
        build.wait()
        seconds = (build.finished_at or 0.0) - (build.started_at or 0.0)
        echo(f"Index build {build.status} in {seconds:.1f}s")
        _show(
            echo,
            "vector (indexed): 'read lines from a file'",
            table.search(function.embed_queries(["read lines from a file"])[0], k=3),
        )
        stats = table.stats()
        echo(
            f"\nRows: {stats.rows:,}  bytes on disk: {stats.bytes_on_disk:,} "
            f"({stats.bytes_per_row:.0f} B/row)"
        )
        for column, size in stats.column_bytes.items():
            echo(f"  {column:<10} {size / max(stats.rows, 1):8.1f} B/row")
        echo("Indexes: " + ", ".join(f"{i.name} ({i.kind})" for i in stats.indexes))
        echo(f"Cache: {store.cache_info()}")
        probe = function.embed_queries(["read lines from a file"])[0]
        on_lance = _median_ms(lambda: table.search(probe, k=10))
    # the same table through a store that keeps an in-memory graph of its vectors
    with VectorStore(path, resident=ResidentConfig(min_rows=0)) as store:
        table = store.table("stdlib")
        started = time.perf_counter()
        table.load_resident()
        loaded = time.perf_counter() - started
        in_memory = _median_ms(lambda: table.search(probe, k=10))
        echo(
            f"\nResident graph of {table.count():,} rows loaded in {loaded:.1f}s; vector "
            f"query median {on_lance:.2f} ms on Lance, {in_memory:.2f} ms from memory"
        )


def _median_ms(search: Callable[[], object], repeats: int = 31) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        search()
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)[repeats // 2]


def _show(echo: Callable[[str], None], title: str, hits: SearchResults) -> None:
    echo(f"\n{title}")
    for hit in hits:
        first_line = (hit.text or "").strip().splitlines()[0][:70]
        echo(f"  {hit.score:7.4f}  {hit.id:<45} {first_line}")
