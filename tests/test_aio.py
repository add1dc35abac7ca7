"""The async facade: awaitable store and table operations that never block the event loop."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import omnivector as ov
from tests.conftest import DIM, make_docs

SOAK = os.environ.get("OMNIVECTOR_SOAK") == "1"

# Table methods the facade leaves out: names kept from the original Omni-Vector API (their
# new names are there), and what does no I/O or is a handle rather than an operation.
_NOT_WRAPPED = {
    "auto_index_if_needed",
    "create_bitmap_index",
    "create_btree_index",
    "create_hnsw_index",
    "create_optimal_vector_index",
    "dataset",
    "writable_dataset",
}
# The same for the store: the original API's names, and the internals.
_STORE_NOT_WRAPPED = {
    "add_documents",
    "analyze_table_health",
    "check_open",
    "clear_cache",
    "compact",
    "count",
    "delete",
    "evict",
    "open_dataset",
    "search",
}


def test_every_table_operation_has_an_awaitable_twin(tmp_path: Path) -> None:
    public = {
        name
        for name, member in inspect.getmembers(ov.Table)
        if not name.startswith("_") and inspect.isfunction(member)
    }
    assert sorted(public - _NOT_WRAPPED - set(dir(ov.AsyncTable))) == []
    store_public = {
        name
        for name, member in inspect.getmembers(ov.VectorStore)
        if not name.startswith("_") and inspect.isfunction(member)
    }
    assert sorted(store_public - _STORE_NOT_WRAPPED - set(dir(ov.AsyncVectorStore))) == []

    async def main() -> None:
        async with await ov.connect_async(tmp_path / "s", dimension=DIM) as store:
            table = await store.create_table("docs")
            for name in public - _NOT_WRAPPED:
                method = getattr(table, name)
                assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
            # the wrapper shows the sync method's signature (without self) and docstring
            assert table.search.__doc__ == ov.Table.search.__doc__
            assert list(inspect.signature(table.get).parameters) == ["ids", "include_vector"]

    asyncio.run(main())


def test_documents_indexes_and_versions_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    docs = make_docs(300, rng)

    async def main() -> None:
        async with await ov.connect_async(
            tmp_path / "s", dimension=DIM, index_builds=ov.IndexBuildConfig(executor="thread")
        ) as store:
            table = await store.create_table(
                "docs", fields={"category": "string", "year": "int64", "tags": "list<string>"}
            )
            assert (await table.add(docs[:290])).inserted == 290
            with pytest.raises(ov.DuplicateIdError):
                await table.add(docs[:1])
            assert (await table.upsert(docs[285:])).updated == 5
            assert await table.count() == 300
            assert await table.count(where={"category": "paper"}) == 100
            [got] = await table.get(["doc-3"], include_vector=False)
            assert got["text"] == docs[3]["text"] and "vector" not in got

            query = docs[10]["vector"]
            hits = await table.search(query, k=5)
            assert hits.ids == table.sync.search(query, k=5).ids and hits[0].id == "doc-10"
            assert (await table.search(text="number 17", k=3)).ids[0] == "doc-17"
            hybrid = await table.search(query, text="number 17", k=3)
            assert {"doc-10", "doc-17"} <= set(hybrid.ids)

            build = await table.create_index(kind="IVF_FLAT", num_partitions=2, background=True)
            assert isinstance(build, ov.IndexBuild)
            info = await build
            assert info is not None and info.kind == "IVF_FLAT"
            assert sorted(i.kind for i in await table.indexes()) == ["INVERTED", "IVF_FLAT"]

            version = await table.version()
            assert (await table.delete(["doc-0", "doc-1"])).deleted == 2
            old = await table.checkout(version)
            assert old.read_only and await old.count() == 300
            with pytest.raises(ov.ReadOnlyError):
                await old.add(make_docs(1, rng, start=1000))
            streamed = [row["id"] async for row in table.iter_documents(include_vector=False)]
            assert sorted(streamed) == sorted(d["id"] for d in docs[2:])
            assert (await table.stats()).rows == 298

            assert await store.table_names() == ["docs"] and await store.has_table("docs")
            assert (await store.table("docs")).name == "docs"
            await store.drop_table("docs")
            with pytest.raises(ov.TableNotFoundError):
                await store.table("docs")
        assert store.closed

    asyncio.run(main())


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ov.InvalidInputError, match="read_workers"):
        asyncio.run(ov.connect_async(tmp_path / "s", read_workers=0))


def test_concurrent_searches_and_large_writes_leave_the_loop_free(tmp_path: Path) -> None:
    """50 searches and large writes at once: right answers, and a ticker on the event loop
    is never late by more than ~50 ms.

    A shared machine can deschedule the whole process for longer than that now and then, so
    a round that saw it is run again (up to 3 rounds); a facade that blocked the loop would
    be late in every round, by the length of a write.
    """
    dim, rows, batches = 64, (40_000 if SOAK else 10_000), (8 if SOAK else 3)
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2_000, dim)).astype(np.float32)
    queries = base[rng.choice(len(base), 50, replace=False)]
    writes = [_arrow_batch(rng, dim, rows, start=i * rows) for i in range(batches)]

    async def round_(path: Path) -> float:
        """One round: checks the answers, returns the ticker's worst lateness."""
        async with await ov.connect_async(path, dimension=dim) as store:
            docs = await store.create_table("docs", metric="l2")
            await docs.add([{"id": f"b{i}", "vector": v} for i, v in enumerate(base)])
            expected = [docs.sync.search(q, k=10).ids for q in queries]
            bulk = await store.create_table("bulk")
            lateness: list[float] = []
            stop = asyncio.Event()

            async def ticker() -> None:
                while not stop.is_set():
                    start = time.perf_counter()
                    await asyncio.sleep(0.005)
                    lateness.append(time.perf_counter() - start - 0.005)

            ticking = asyncio.create_task(ticker())
            await asyncio.sleep(0.02)
            found, written = await asyncio.gather(
                asyncio.gather(*(docs.search(q, k=10) for q in queries)),
                asyncio.gather(*(bulk.add(batch) for batch in writes)),
            )
            stop.set()
            await ticking
            assert [hits.ids for hits in found] == expected
            assert [w.inserted for w in written] == [rows] * batches
            assert await bulk.count() == rows * batches
            assert len(lateness) > 10
            return max(lateness)

    worst = []
    for attempt in range(3):
        worst.append(asyncio.run(round_(tmp_path / f"s{attempt}")))
        if worst[-1] < 0.05:
            break
    assert min(worst) < 0.05, f"the event loop was held for {[round(w * 1000) for w in worst]} ms"


def _arrow_batch(rng: np.random.Generator, dim: int, rows: int, *, start: int) -> pa.Table:
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    return pa.table(
        {
            "id": [f"w{start + i}" for i in range(rows)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
            "text": [f"row {start + i}" for i in range(rows)],
        }
    )
