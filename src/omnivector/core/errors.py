"""The exception tree: every failure a caller can cause is an ``OmnivectorError``.

Each class also inherits the matching builtin where natural, so ``except LookupError``
keeps working for callers that do not know omnivector's names.
"""

from __future__ import annotations

import errno
import re
from types import TracebackType
from typing import Literal

import pyarrow as pa

__all__ = [
    "CommitConflictError",
    "DimensionMismatchError",
    "DuplicateIdError",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "ForkedProcessError",
    "IndexBuildCancelledError",
    "IndexBuildError",
    "IndexNotFoundError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidNameError",
    "MissingDependencyError",
    "OmnivectorError",
    "ReadOnlyError",
    "SchemaError",
    "StoreClosedError",
    "StorageError",
    "TableExistsError",
    "TableNotFoundError",
    "UnsafeOperationError",
    "VersionNotFoundError",
    "is_commit_conflict",
    "lance_errors",
    "lance_message",
    "storage_error",
]


class OmnivectorError(Exception):
    """Base class of every error omnivector raises on purpose."""


class InvalidInputError(OmnivectorError, ValueError):
    """A document, vector, option or argument is malformed."""


class InvalidNameError(InvalidInputError):
    """A table, column, index or tag name is not allowed."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the table's dimension."""


class DuplicateIdError(InvalidInputError):
    """``add`` was given ids that are repeated or already stored."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class InvalidFilterError(InvalidInputError):
    """A ``where`` filter cannot be compiled."""


class UnsafeOperationError(InvalidInputError):
    """A bulk operation would change every row without the caller saying so
    (``delete(where={})``): pass ``all=True`` to mean it."""


class SchemaError(InvalidInputError):
    """A schema change is not allowed (reserved column, unknown column, bad type)."""


class TableNotFoundError(OmnivectorError, LookupError):
    """The named table does not exist in the store."""


class TableExistsError(OmnivectorError):
    """A table with that name already exists."""


class IndexNotFoundError(OmnivectorError, LookupError):
    """The named index does not exist on the table."""


class VersionNotFoundError(OmnivectorError, LookupError):
    """The requested table version or tag does not exist."""


class ReadOnlyError(OmnivectorError):
    """A write was attempted on something read-only: a checked-out version, or a store on
    read-only storage."""


class StoreClosedError(OmnivectorError):
    """The store was closed; open a new ``VectorStore``."""


class ForkedProcessError(OmnivectorError, RuntimeError):
    """This process was forked after Lance ran in its parent; Lance is not fork-safe here.

    Use multiprocessing's "spawn" or "forkserver" start method (stores and tables pickle
    as their path and options), or fork before the parent opens a store.
    """


class IndexBuildError(OmnivectorError):
    """An index build failed; the table is unchanged."""


class IndexBuildCancelledError(IndexBuildError):
    """The index build was cancelled before it committed; the table is unchanged."""


class CommitConflictError(OmnivectorError):
    """Another writer kept committing first; the write was not applied. Retry it."""


class MissingDependencyError(OmnivectorError, ImportError):
    """An optional feature needs a package that is not installed.

    ``extra`` names the optional-dependency group that installs it; the message ends with
    the command (``pip install 'omni-vector[ray]'``). It is None only for packages no extra
    can install (they need PyTorch): the message then says what to install.
    """

    def __init__(self, message: str, *, extra: str | None) -> None:
        self.extra = extra
        super().__init__(
            message if extra is None else f"{message}: pip install 'omni-vector[{extra}]'"
        )


class EmbeddingError(OmnivectorError, RuntimeError):
    """An embedding function failed (a server error or timeout); nothing was written."""


class EmbeddingUnavailableError(EmbeddingError):
    """The table's embedding function cannot be rebuilt in this process (a package is
    missing, or it was a Python callable); pass it: ``store.table(name, embedding=fn)``."""


class StorageError(OmnivectorError, OSError):
    """The underlying storage failed (I/O, permissions, corrupt files)."""


_CONFLICT_MARKERS = ("commit conflict", "conflict", "retryable")


def is_commit_conflict(exc: BaseException) -> bool:
    """Whether a Lance exception reports a concurrent commit that a retry can resolve."""
    text = str(exc).lower()
    return any(marker in text for marker in _CONFLICT_MARKERS)


# Lance's messages end with the Rust source location of its build ("..., /home/runner/work/
# lance/lance/rust/lance-file/src/writer/structural.rs:254:9"): noise to a user
_RUST_LOCATION = re.compile(r",?\s*(?:[A-Za-z]:)?[^\s,]*\.rs:\d+(?::\d+)?")
_OS_ERROR = re.compile(r"os error (\d+)")


def lance_message(exc: BaseException) -> str:
    """The text of a Lance exception without the Rust source locations it carries."""
    return _RUST_LOCATION.sub("", str(exc)).strip()


def storage_error(action: str, exc: BaseException) -> OmnivectorError:
    """The omnivector error for a failed storage operation, naming the cause: a full disk
    or a read-only file system (``ReadOnlyError``) are said in plain words."""
    text = lance_message(exc)
    code = exc.errno if isinstance(exc, OSError) and exc.errno else None
    if code is None and (found := _OS_ERROR.search(text)) is not None:
        code = int(found.group(1))
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(
            f"{action} failed: no space left on the device (or quota) holding the store; "
            f"free some space and retry ({text})"
        )
    if code == errno.EROFS:
        return ReadOnlyError(
            f"{action} refused: the store is on read-only storage; it can be read, not "
            f"written ({text})"
        )
    if code in (errno.EACCES, errno.EPERM):
        return StorageError(f"{action} failed: permission denied ({text})")
    return StorageError(f"{action} failed: {text}")


def lance_errors(action: str, *, user_sql: bool = False) -> LanceErrors:
    """Translate Lance/Arrow exceptions raised inside the block into omnivector errors.

    ``user_sql``: the block runs SQL the caller wrote (``where_sql``); Lance's "invalid
    input" errors are then the caller's filter, reported as ``InvalidFilterError``.
    """
    return LanceErrors(action, user_sql)


class LanceErrors:
    """The context manager :func:`lance_errors` returns (a class: entered on every query,
    it costs a tenth of a generator-based one)."""

    __slots__ = ("action", "user_sql")

    def __init__(self, action: str, user_sql: bool) -> None:
        self.action = action
        self.user_sql = user_sql

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or isinstance(exc, OmnivectorError):
            return False
        if "KeyboardInterrupt" in str(exc):
            # Ctrl-C reached Python while Lance was reading our data: it stays an interrupt
            raise KeyboardInterrupt from exc
        action, user_sql = self.action, self.user_sql
        if isinstance(exc, (ValueError, TypeError)):
            if user_sql:
                raise InvalidFilterError(
                    f"{action}: the SQL filter was rejected: {lance_message(exc)}"
                ) from exc
            raise storage_error(action, exc) from exc
        if isinstance(exc, (OSError, RuntimeError, pa.ArrowException)):
            if user_sql and "invalid user input" in str(exc).lower():
                raise InvalidFilterError(
                    f"{action}: the SQL filter was rejected: {lance_message(exc)}"
                ) from exc
            if is_commit_conflict(exc):
                raise CommitConflictError(
                    f"{action}: {lance_message(exc)}. Retry the operation"
                ) from exc
            raise storage_error(action, exc) from exc
        return False
