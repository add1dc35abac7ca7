"""The Lance seam: every way a store's data goes into or out of Lance starts here.

:class:`Datasets` opens tables through the pool (one shared session, bounded), creates them,
writes data files and commits them; the functions below open a dataset by URI (index-build
workers, Ray tasks) and commit prepared operations. Operations elsewhere receive a
:data:`Dataset` handle and call its query and maintenance methods; they never import Lance.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, cast

import lance
import pyarrow as pa
from lance.fragment import write_fragments
from lance.optimize import CompactionOptions

from omnivector.core.configs import DatasetCacheConfig
from omnivector.core.errors import OmnivectorError, TableNotFoundError, lance_errors
from omnivector.core.layout import StorageVersion
from omnivector.storage.locations import (
    StoreLocation,
    data_files,
    deletion_read_version,
    fragment_files,
)
from omnivector.storage.pool import CacheInfo, DatasetCache, new_session

__all__ = [
    "CompactionOptions",
    "Dataset",
    "Datasets",
    "Transaction",
    "always_true",
    "commit_append",
    "commit_update",
    "open_uri",
]

log = logging.getLogger(__name__)

#: A Lance dataset handle (``lance.LanceDataset``).
Dataset: TypeAlias = lance.LanceDataset
#: Data files written but not committed yet (``lance.Transaction``).
Transaction: TypeAlias = lance.Transaction


class Datasets:
    """The datasets of one store: pooled handles, creation, written files and commits."""

    def __init__(
        self,
        location: StoreLocation,
        config: DatasetCacheConfig,
        storage_options: Mapping[str, str],
        *,
        on_replaced: Callable[[str], None] = lambda name: None,
    ) -> None:
        """``on_replaced(name)`` hears that table ``name`` was found dropped and created
        again (by another process): state kept about the old table can go."""
        self.location = location
        self.storage_options = dict(storage_options)
        self._pool = DatasetCache(
            config,
            self._open,
            local=location.is_local,
            identify=location.identity,
            is_identity=location.has_identity,
            on_replaced=on_replaced,
        )

    # -- pooled handles ---------------------------------------------------------------------

    def get(self, name: str) -> Dataset:
        """The shared, up-to-date handle of ``name`` (read only: never commit through it)."""
        return self._pool.get(name)

    def current(self, name: str) -> tuple[Dataset, str | None]:
        """The shared handle of ``name`` and the identity its table recorded when it was
        created (None for tables created before identities were recorded)."""
        return self._pool.current(name)

    def open_private(self, name: str) -> Dataset:
        """A private, up-to-date handle for an operation that commits through it (Lance
        mutates a handle in place when committing, which readers of the shared one must
        never see)."""
        return self._pool.open_private(name)

    def apart(self, dataset: Dataset) -> Dataset:
        """``dataset``'s table and version in a Lance session of its own (bounded as the
        pool's): what queries through it cache leaves memory with the handle."""
        with lance_errors("opening a table"):
            return lance.dataset(
                dataset.uri,
                version=dataset.version,
                session=new_session(self._pool.config),
                storage_options=self.storage_options or None,
            )

    def put(self, name: str, dataset: Dataset) -> None:
        """Make ``dataset`` (just committed) the shared handle of ``name``."""
        self._pool.put(name, dataset)

    def evict(self, name: str) -> bool:
        return self._pool.evict(name)

    def clear(self) -> None:
        self._pool.clear()

    def info(self) -> CacheInfo:
        return self._pool.info()

    def _open(self, name: str, session: Any) -> Dataset:
        if not self.location.exists(name):
            raise TableNotFoundError(
                f"table {name!r} does not exist in {self.location.root}; create it with "
                "store.create_table(...)"
            )
        with lance_errors(f"opening table {name!r}"):
            return lance.dataset(
                self.location.table_uri(name),
                session=session,
                storage_options=self.storage_options or None,
            )

    # -- creating and writing ---------------------------------------------------------------

    def create(
        self, name: str, schema: pa.Schema, *, storage_version: StorageVersion
    ) -> tuple[Dataset, str]:
        """Create the empty table ``name`` (raises if it exists), record its identity and
        pool its handle; return both."""
        with lance_errors(f"creating table {name!r}"):
            dataset = lance.write_dataset(
                schema.empty_table(),
                self.location.table_uri(name),
                mode="create",
                data_storage_version=storage_version,
                session=self._pool.session,
                storage_options=self.storage_options or None,
            )
        identity = self.location.record_identity(name)
        self._pool.put(name, dataset, identity=identity)
        return dataset, identity

    def write_files(self, data: pa.Table, dataset: Dataset) -> Transaction:
        """Write ``data`` as new data files of ``dataset``: an append, not committed yet."""
        transaction: Transaction = write_fragments(_reader(data), dataset, return_transaction=True)
        return transaction

    def commit(
        self, name: str, dataset: Dataset, transaction: Transaction, *, action: str | None = None
    ) -> Dataset:
        """Commit written files onto ``dataset`` and pool the new version.

        A commit that fails (a full disk, a conflict) leaves files no version uses: they are
        removed, unless the latest version uses them (the commit landed after all: that
        version is returned).
        """
        try:
            with lance_errors(action or f"adding to {name!r}"):
                # the new handle shares the dataset's session, the store's
                written = lance.LanceDataset.commit(dataset, transaction)
        except OmnivectorError:
            landed = self._clean_failed_commit(name, dataset, transaction)
            if landed is None:
                raise
            written = landed
        self._pool.put(name, written)
        return written

    def _clean_failed_commit(
        self, name: str, dataset: Dataset, transaction: Transaction
    ) -> Dataset | None:
        """The latest version if it holds the transaction's files; else remove the files
        (those the dataset read does not use) and return None."""
        read = fragment_files(f.metadata for f in dataset.get_fragments())
        written = fragment_files(_operation_fragments(transaction.operation)) - read
        latest = self._latest(name)
        if latest is None:  # whether it landed is unknown: keep the files
            return None
        stored = fragment_files(f.metadata for f in latest.get_fragments())
        if written and written <= stored:
            return latest
        self.location.remove_files(name, sorted(written - stored))
        return None

    def drop_failed_deletions(self, name: str, read_version: int) -> None:
        """Remove the deletion files of a write that read ``read_version`` and failed: Lance
        writes them before committing, named after the version read, and only writes
        holding the table's write lock (the caller) make them."""
        latest = self._latest(name)
        if latest is None:
            return
        stored = fragment_files(f.metadata for f in latest.get_fragments())
        try:
            found = self.location.list_files(name, "_deletions")
        except OSError as exc:
            log.debug("could not list the deletion files of %s: %s", name, exc)
            return
        stale = [p for p in found if deletion_read_version(p) == read_version and p not in stored]
        self.location.remove_files(name, stale)

    def _latest(self, name: str) -> Dataset | None:
        """A fresh handle on the latest version, or None if it cannot be opened."""
        try:
            return self.open_private(name)
        except OmnivectorError as exc:
            log.debug("could not open %s to clean up a failed write: %s", name, exc)
            return None

    def drop_written(self, name: str, transaction: Transaction) -> None:
        """Remove the data files of an append that will not be committed."""
        appended = cast(lance.LanceOperation.Append, transaction.operation)
        self.location.remove_files(name, data_files(appended.fragments))


# How Lance's plan shows a filter its optimizer reduced to a constant true.
_TRUE_FILTER = re.compile(r"\bfull_filter=Boolean\(true\)")


def always_true(dataset: Dataset, sql: str) -> bool:
    """Whether Lance's planner simplifies the filter ``sql`` to ``true`` (``1=1``,
    ``x > 0 OR true``): true for every row whatever it holds. Planning reads no data."""
    plan = dataset.scanner(filter=sql, columns=["id"]).explain_plan()
    return bool(_TRUE_FILTER.search(plan))


def open_uri(
    uri: str, *, version: int | None = None, storage_options: Mapping[str, str] | None = None
) -> Dataset:
    """Open a dataset by URI outside any store's pool (worker processes, Ray tasks)."""
    return lance.dataset(
        uri, version=version, storage_options=dict(storage_options) if storage_options else None
    )


def commit_append(
    uri: str, fragments: list[Any], *, read_version: int, storage_options: Mapping[str, str]
) -> Dataset:
    """Commit fragments written elsewhere (Ray tasks) as one append."""
    return lance.LanceDataset.commit(
        uri,
        lance.LanceOperation.Append(fragments),
        read_version=read_version,
        storage_options=dict(storage_options) if storage_options else None,
    )


def commit_update(
    uri: str,
    *,
    removed_fragment_ids: list[int],
    updated_fragments: list[Any],
    new_fragments: list[Any],
    read_version: int,
    storage_options: Mapping[str, str],
) -> Dataset:
    """Commit new fragments and the deletions they replace as one update."""
    return lance.LanceDataset.commit(
        uri,
        lance.LanceOperation.Update(
            removed_fragment_ids=removed_fragment_ids,
            updated_fragments=updated_fragments,
            new_fragments=new_fragments,
        ),
        read_version=read_version,
        storage_options=dict(storage_options) if storage_options else None,
    )


def _operation_fragments(operation: Any) -> list[Any]:
    """The fragments a Lance operation adds or changes (an append's, an update's)."""
    names = ("fragments", "new_fragments", "updated_fragments")
    return [fragment for name in names for fragment in getattr(operation, name, None) or []]


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
