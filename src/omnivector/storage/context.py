"""What an operation on a table receives: :class:`TableContext`, never a ``Table``.

A store builds one :class:`StoreServices` (the seam's services, its pools and settings, and
two callbacks into the store) and hands each table operation a :class:`TableContext`: the
table's name and spec, those services, and the checked-out version when it is a read-only
view. Operations reach nothing else of the store or the table.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from omnivector.core.configs import IndexBuildConfig, MaintenanceConfig
from omnivector.core.errors import ReadOnlyError
from omnivector.core.schema import TableSpec
from omnivector.storage.datasets import Dataset, Datasets
from omnivector.storage.locks import TableLocks
from omnivector.storage.unique_ids import IdDigests

__all__ = ["StoreServices", "TableContext", "VersionPins"]


class VersionPins:
    """Versions that checked-out views still read: cleanup keeps them while a view lives."""

    def __init__(self) -> None:
        self._pins: dict[str, list[weakref.ref[Dataset]]] = {}
        self._lock = threading.Lock()

    def pin(self, name: str, dataset: Dataset) -> None:
        with self._lock:
            self._pins.setdefault(name, []).append(weakref.ref(dataset))

    def versions(self, name: str) -> list[int]:
        with self._lock:
            alive = [ref() for ref in self._pins.get(name, [])]
            kept = [d for d in alive if d is not None]
            self._pins[name] = [weakref.ref(d) for d in kept]
            return [int(d.version) for d in kept]

    def forget(self, name: str) -> None:
        with self._lock:
            self._pins.pop(name, None)


@dataclass(frozen=True, slots=True)
class StoreServices:
    """What the operations on one store's tables share."""

    datasets: Datasets
    locks: TableLocks
    digests: IdDigests
    pins: VersionPins
    query_pool: Executor
    write_pool: Executor
    maintenance: MaintenanceConfig
    index_builds: IndexBuildConfig
    #: raises ``StoreClosedError`` once the store is closed
    check_open: Callable[[], None]
    #: told the table's name after each committed document write (auto-maintenance)
    after_write: Callable[[str], None]
    #: told a table's name and the columns a text search found without a full-text index
    #: (auto-maintenance builds them in the background)
    want_text_indexes: Callable[[str, Sequence[str]], None]


@dataclass(slots=True)
class TableContext:
    """One table as an operation sees it (``spec`` changes with schema evolution, and when
    another process drops the table and creates it again)."""

    name: str
    spec: TableSpec
    services: StoreServices
    view: Dataset | None = field(default=None)
    #: the identity the table recorded when it was created (None: created before them)
    identity: str | None = None

    @property
    def read_only(self) -> bool:
        return self.view is not None

    @property
    def uri(self) -> str:
        return self.services.datasets.location.table_uri(self.name)

    def dataset(self) -> Dataset:
        """The current handle (a checked-out view stays at its version)."""
        if self.view is not None:
            return self.view
        self.services.check_open()  # the name was checked when the context was made
        dataset, identity = self.services.datasets.current(self.name)
        if identity != self.identity:  # dropped and created again, by another process
            self.spec = TableSpec.from_schema(dataset.schema)
            self.identity = identity
        return dataset

    def writable_dataset(self) -> Dataset:
        """A private, up-to-date handle for an operation that commits through it."""
        self.check_writable()
        return self.services.datasets.open_private(self.name)

    def publish(self, dataset: Dataset) -> None:
        """Make a handle just committed through the table's shared handle."""
        self.services.datasets.put(self.name, dataset)

    def check_writable(self) -> None:
        if self.view is not None:
            raise ReadOnlyError(
                f"table {self.name!r} is checked out at version {self.view.version} "
                "(read-only); use store.table(name) to write, or restore() this version"
            )
        self.services.check_open()
