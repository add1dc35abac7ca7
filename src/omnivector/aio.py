"""The async API: a thin facade that runs the sync operations off the event loop.

>>> store = await ov.connect_async("./data", dimension=384)   # doctest: +SKIP
>>> docs = await store.create_table("docs", exist_ok=True)     # doctest: +SKIP
>>> hits = await docs.search(vector=q, k=10)                    # doctest: +SKIP

Every awaitable method calls the :class:`~omnivector.Table` or
:class:`~omnivector.VectorStore` method of the same name, with the same arguments, on a
thread pool of the async store: nothing here re-implements an operation. Reads and writes
have separate pools so a long write never holds up searches. They are not the store's
``query_pool`` / ``write_pool``: operations submit work to those themselves (hybrid search,
add) and wait for it, which would deadlock once every worker of a pool waited on itself.
Lance releases the GIL while it works, so searches on the read pool run side by side.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from omnivector.core.errors import InvalidInputError
from omnivector.indexing.builds import IndexBuild
from omnivector.resident.graphs import ResidentInfo
from omnivector.storage.pool import CacheInfo
from omnivector.store import VectorStore
from omnivector.table import Table

__all__ = ["AsyncTable", "AsyncVectorStore", "connect_async"]

P = ParamSpec("P")
R = TypeVar("R")
Owner = TypeVar("Owner")

DEFAULT_READ_WORKERS = 4
"""Searches and reads in flight at once. Each worker turns Lance's answer into hits in Python,
holding the GIL meanwhile; with 8 workers beside 2 writers the event loop waited up to ~100 ms
for the GIL on 2 cores, with 4 under ~30 ms (the rest is queued, not lost)."""
DEFAULT_WRITE_WORKERS = 2
"""Writes, index and maintenance calls in flight at once (a table's writes serialize anyway)."""
_ITER_CHUNK = 1024  # documents fetched per trip to the pool by iter_documents


class _Pools:
    """The async store's two executors."""

    def __init__(self, read_workers: int, write_workers: int) -> None:
        for label, count in (("read_workers", read_workers), ("write_workers", write_workers)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidInputError(f"{label} must be a positive integer, got {count!r}")
        self.read = ThreadPoolExecutor(read_workers, thread_name_prefix="omnivector-aio-r")
        self.write = ThreadPoolExecutor(write_workers, thread_name_prefix="omnivector-aio-w")

    def shutdown(self) -> None:
        self.read.shutdown(wait=True)
        self.write.shutdown(wait=True)


async def _run(
    pool: ThreadPoolExecutor, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    call = functools.partial(fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


class _Offload(Generic[Owner, P, R]):
    """A descriptor: the sync method ``method`` of the wrapped object, as a coroutine run on
    the ``pool`` ("read" or "write") of the async store. It keeps the method's signature and
    docstring."""

    def __init__(
        self, method: Callable[Concatenate[Owner, P], R], pool: Literal["read", "write"]
    ) -> None:
        self.method = method
        self.pool = pool
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Offload[Owner, P, R]: ...
    @overload
    def __get__(self, obj: _Facade[Owner], owner: type[Any]) -> Callable[P, Awaitable[R]]: ...
    def __get__(
        self, obj: _Facade[Owner] | None, owner: type[Any]
    ) -> _Offload[Owner, P, R] | Callable[P, Awaitable[R]]:
        if obj is None:
            return self
        method, target = self.method, obj.sync
        pool = obj._pools.read if self.pool == "read" else obj._pools.write

        @functools.wraps(getattr(target, method.__name__))  # the bound method: no ``self``
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return await _run(pool, method, target, *args, **kwargs)

        return call


def _offload_kwargs(
    method: Callable[..., R], pool: Literal["read", "write"]
) -> _Offload[Any, ..., R]:
    """``_Offload`` for a method taking ``**kwargs``, which mypy cannot match to
    ``Concatenate`` (its ``self`` could be passed by keyword): typed by its result alone."""
    return _Offload(method, pool)


class _Facade(Generic[Owner]):
    def __init__(self, sync: Owner, pools: _Pools) -> None:
        self.sync: Owner = sync
        self._pools = pools


class AsyncTable(_Facade[Table]):
    """A :class:`~omnivector.Table` whose operations are awaitable; see :mod:`omnivector.aio`.

    ``sync`` is the wrapped table. An index build started with ``background=True`` returns
    an :class:`~omnivector.IndexBuild`, itself awaitable.
    """

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    @property
    def name(self) -> str:
        return self.sync.name

    @property
    def dimension(self) -> int:
        return self.sync.dimension

    @property
    def metric(self) -> str:
        return self.sync.metric

    @property
    def fields(self) -> dict[str, str]:
        return self.sync.fields

    @property
    def read_only(self) -> bool:
        return self.sync.read_only

    # writes
    add = _Offload(Table.add, "write")
    upsert = _Offload(Table.upsert, "write")
    delete = _Offload(Table.delete, "write")
    # reads
    get = _Offload(Table.get, "read")
    count = _Offload(Table.count, "read")
    search = _Offload(Table.search, "read")
    to_arrow = _Offload(Table.to_arrow, "read")
    to_pandas = _Offload(Table.to_pandas, "read")
    to_polars = _Offload(Table.to_polars, "read")
    export = _Offload(Table.export, "read")
    load_resident = _Offload(Table.load_resident, "read")
    # indexes
    create_index = _offload_kwargs(Table.create_index, "write")
    create_scalar_index = _Offload(Table.create_scalar_index, "write")
    create_fts_index = _offload_kwargs(Table.create_fts_index, "write")
    indexes = _Offload(Table.indexes, "read")
    drop_index = _Offload(Table.drop_index, "write")
    auto_index = _Offload(Table.auto_index, "write")
    optimize_indexes = _Offload(Table.optimize_indexes, "write")
    # maintenance, versions, schema
    compact = _offload_kwargs(Table.compact, "write")
    cleanup = _Offload(Table.cleanup, "write")
    optimize = _Offload(Table.optimize, "write")
    stats = _Offload(Table.stats, "read")
    health = _Offload(Table.health, "read")
    versions = _Offload(Table.versions, "read")
    tags = _Offload(Table.tags, "read")
    tag = _Offload(Table.tag, "write")
    untag = _Offload(Table.untag, "write")
    restore = _Offload(Table.restore, "write")
    add_columns = _Offload(Table.add_columns, "write")
    alter_columns = _Offload(Table.alter_columns, "write")
    drop_columns = _Offload(Table.drop_columns, "write")

    async def version(self) -> int:
        """The table's current version (``Table.version``)."""
        return await _run(self._pools.read, lambda: self.sync.version)

    async def checkout(self, version: int | str) -> AsyncTable:
        """A read-only view of an older version or tag (``Table.checkout``)."""
        return AsyncTable(await _run(self._pools.read, self.sync.checkout, version), self._pools)

    async def iter_documents(self, **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Stream every (matching) document (``Table.iter_documents`` options), fetched
        in chunks on the read pool."""
        rows = self.sync.iter_documents(**options)
        while chunk := await _run(self._pools.read, _take, rows):
            for row in chunk:
                yield row


def _take(rows: Any) -> list[dict[str, Any]]:
    return list(itertools.islice(rows, _ITER_CHUNK))


class AsyncVectorStore(_Facade[VectorStore]):
    """A :class:`~omnivector.VectorStore` whose operations are awaitable.

    Made by :func:`connect_async`; ``sync`` is the wrapped store. ``close()`` (or leaving
    ``async with``) closes the store and the async store's thread pools.
    """

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    @property
    def path(self) -> str:
        return self.sync.path

    @property
    def closed(self) -> bool:
        return self.sync.closed

    async def create_table(self, name: str, **options: Any) -> AsyncTable:
        """Create a table (``VectorStore.create_table`` options)."""
        table = await _run(self._pools.write, self.sync.create_table, name, **options)
        return AsyncTable(table, self._pools)

    async def table(self, name: str) -> AsyncTable:
        """Open an existing table; ``TableNotFoundError`` if there is none."""
        return AsyncTable(await _run(self._pools.read, self.sync.table, name), self._pools)

    async def has_table(self, name: str) -> bool:
        """``name in store``."""
        return await _run(self._pools.read, self.sync.__contains__, name)

    table_names = _Offload(VectorStore.table_names, "read")
    drop_table = _Offload(VectorStore.drop_table, "write")
    create_index_background = _offload_kwargs(VectorStore.create_index_background, "write")
    await_pending_index_builds = _Offload(VectorStore.await_pending_index_builds, "write")
    wait_for_maintenance = _Offload(VectorStore.wait_for_maintenance, "write")
    import_file = _Offload(VectorStore.import_file, "write")

    def index_builds(self) -> list[IndexBuild]:
        """Every build this store started, newest last (no I/O)."""
        return self.sync.index_builds()

    def cache_info(self) -> CacheInfo:
        """The connection pool's counters (no I/O)."""
        return self.sync.cache_info()

    def resident_info(self) -> ResidentInfo | None:
        """What the in-memory graphs hold (no I/O)."""
        return self.sync.resident_info()

    async def close(self, *, cancel_builds: bool = False, timeout: float | None = None) -> None:
        """Close the store (``VectorStore.close``), then the thread pools."""
        if not self.sync.closed:
            # not on our pools: closing waits for them
            await asyncio.to_thread(self.sync.close, cancel_builds=cancel_builds, timeout=timeout)
        await asyncio.to_thread(self._pools.shutdown)

    async def __aenter__(self) -> AsyncVectorStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connect_async(
    path: str | os.PathLike[str],
    *,
    read_workers: int = DEFAULT_READ_WORKERS,
    write_workers: int = DEFAULT_WRITE_WORKERS,
    **options: Any,
) -> AsyncVectorStore:
    """Open (or create) a store for use from async code; ``options`` as for
    :class:`~omnivector.VectorStore`. ``read_workers`` / ``write_workers`` size the thread
    pools that reads and writes run on."""
    pools = _Pools(read_workers, write_workers)
    try:
        store = await _run(pools.write, VectorStore, path, **options)
    except BaseException:
        pools.shutdown()
        raise
    return AsyncVectorStore(store, pools)
