"""Versions and tags of a table: list, tag, check out (read-only views) and restore."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from omnivector.core.errors import (
    InvalidInputError,
    StorageError,
    VersionNotFoundError,
    lance_errors,
)
from omnivector.core.results import WriteResult
from omnivector.core.validation import is_integer
from omnivector.storage.context import TableContext
from omnivector.storage.datasets import Dataset

__all__ = ["VersionInfo", "checkout_dataset", "restore", "tag", "tags", "untag", "versions"]


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version of a table; ``timestamp`` is its commit time, timezone-aware (UTC)."""

    version: int
    timestamp: datetime
    operation: str | None
    rows: int
    tags: list[str] = field(default_factory=list)


def versions(ctx: TableContext) -> list[VersionInfo]:
    """The table's versions, oldest first. A version removed by a concurrent cleanup between
    Lance's listing and its read makes the listing start again."""
    for attempt in range(_LISTING_ATTEMPTS):
        # read_transaction borrows the handle mutably: a reader on the shared handle would fail
        private = not ctx.read_only
        dataset = ctx.services.datasets.open_private(ctx.name) if private else ctx.dataset()
        try:
            with lance_errors(f"listing versions of {ctx.name!r}"):
                return _versions(dataset)
        except StorageError as exc:
            if attempt == _LISTING_ATTEMPTS - 1 or not _removed_meanwhile(exc.__cause__):
                raise
    raise AssertionError("unreachable")


_LISTING_ATTEMPTS = 5


def _removed_meanwhile(exc: BaseException | None) -> bool:
    """Whether Lance failed on a version manifest that was there when it listed them."""
    text = str(exc)
    return "not found" in text.lower() and ".manifest" in text


def _versions(dataset: Dataset) -> list[VersionInfo]:
    tags_by_version: dict[int, list[str]] = {}
    for name, info in dataset.tags.list().items():
        tags_by_version.setdefault(int(info["version"]), []).append(name)
    result = []
    for item in dataset.versions():
        meta = item.get("metadata", {})
        number = int(item["version"])
        result.append(
            VersionInfo(
                version=number,
                timestamp=_as_datetime(item["timestamp"]),
                operation=_operation(dataset, number),
                rows=int(meta.get("total_rows", 0)),
                tags=sorted(tags_by_version.get(number, [])),
            )
        )
    return result


def _as_datetime(value: datetime | int) -> datetime:
    """A version's commit time, timezone-aware in UTC (pylance gives naive local time)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def _operation(dataset: Dataset, version: int) -> str | None:
    try:
        transaction = dataset.read_transaction(version)
    except Exception:
        return None
    if transaction is None:
        return None
    operation = getattr(transaction, "operation", None)
    return type(operation).__name__ if operation is not None else None


def tags(ctx: TableContext) -> dict[str, int]:
    with lance_errors(f"listing tags of {ctx.name!r}"):
        return {
            name: int(info["version"]) for name, info in sorted(ctx.dataset().tags.list().items())
        }


def tag(ctx: TableContext, name: str, version: int | None) -> None:
    if (
        not isinstance(name, str)
        or not name
        or not all(c.isalnum() or c in "-_." for c in name)
        or len(name) > 128
    ):
        raise InvalidInputError(f"invalid tag {name!r}: use letters, digits, '-', '_' or '.'")
    dataset = ctx.services.datasets.open_private(ctx.name)
    target = int(dataset.version) if version is None else _resolve(dataset, version)
    with lance_errors(f"tagging {ctx.name!r}"):
        if name in dataset.tags.list():
            dataset.tags.update(name, target)
        else:
            dataset.tags.create(name, target)


def untag(ctx: TableContext, name: str) -> None:
    dataset = ctx.services.datasets.open_private(ctx.name)
    if name not in dataset.tags.list():
        raise VersionNotFoundError(f"table {ctx.name!r} has no tag {name!r}")
    with lance_errors(f"removing tag {name!r}"):
        dataset.tags.delete(name)


def _resolve(dataset: Dataset, version: int | str) -> int:
    if isinstance(version, str):
        known = dataset.tags.list()
        if version not in known:
            raise VersionNotFoundError(f"no tag {version!r}; known tags: {sorted(known)}")
        return int(known[version]["version"])
    if not is_integer(version):
        raise InvalidInputError(f"version must be a number or a tag name, got {version!r}")
    numbers = {int(v["version"]) for v in dataset.versions()}
    if version not in numbers:
        raise VersionNotFoundError(
            f"version {version} does not exist (or was cleaned up); available: "
            f"{sorted(numbers)[-10:]}"
        )
    return version


def checkout_dataset(ctx: TableContext, version: int | str) -> Dataset:
    dataset = ctx.dataset()
    number = _resolve(dataset, version)
    with lance_errors(f"checking out version {version} of {ctx.name!r}"):
        view = dataset.checkout_version(number)
    ctx.services.pins.pin(ctx.name, view)
    return view


def restore(ctx: TableContext, version: int | str) -> WriteResult:
    view = checkout_dataset(ctx, version)
    with lance_errors(f"restoring {ctx.name!r}"):
        view.restore()  # type: ignore[no-untyped-call]
    latest = ctx.dataset()
    return WriteResult(version=int(latest.version))
