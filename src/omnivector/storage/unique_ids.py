"""Unique ids: the checks of ``add()`` that no id repeats in a batch or is stored already.

Ids are compared by 64-bit hashes first (:func:`id_hashes`), and by value only where hashes
are equal.

Checking that new ids are not stored yet reads the table's whole id column. While one process
keeps adding to a table, it can instead keep 64-bit hashes of the stored ids for the version
it last wrote, extend them with each batch it commits, and read only the ids whose hash
matches (true repeats, or a collision: about one in 2**64 per pair).

A digest may hold ids that were deleted since (a match is always checked against the table),
never miss one: it is used only for the exact version, and commit timestamp, it was made for.
Memory is 8 bytes per id; :class:`IdDigests` keeps at most ``max_ids`` in all, dropping the
least recently used tables' digests.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnivector.core.errors import DuplicateIdError, lance_errors
from omnivector.core.filters import ids_filter
from omnivector.storage.datasets import Dataset

__all__ = [
    "DEFAULT_MAX_IDS",
    "IdCheck",
    "IdDigest",
    "IdDigests",
    "SortedIdHashes",
    "check_batch_ids",
    "check_new_ids",
    "existing_ids",
    "id_hashes",
    "record_append",
    "stored_rows",
]

#: ids kept across all tables (8 bytes each: 32 MiB)
DEFAULT_MAX_IDS = 4 << 20
# sorted runs kept before they are merged into one
_MAX_RUNS = 8
# ids per filtered scan, and the table size (in batches) past which scans beat a full read
_ID_CHECK_CHUNK = 4096
_ID_READ_ALL_RATIO = 32

VersionKey = tuple[int, object]


def version_key(dataset: Dataset) -> VersionKey:
    """What identifies a dataset's state: its version and that version's commit time (a table
    dropped and created again reaches the same version numbers)."""
    return int(dataset.version), dataset.get_version()["timestamp"]


@dataclass(frozen=True, slots=True)
class IdDigest:
    """The hashes of every id stored at one table version, in sorted runs."""

    key: VersionKey
    runs: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, key: VersionKey, hashes: np.ndarray) -> IdDigest:
        return cls(key, (np.sort(hashes),))

    @property
    def size(self) -> int:
        return sum(len(run) for run in self.runs)

    def matches(self, sorted_hashes: np.ndarray) -> np.ndarray:
        """A mask of the ascending ``sorted_hashes`` found in the digest (the ids that may be
        stored); sorted lookups walk each run in order: far fewer cache misses."""
        found = np.zeros(len(sorted_hashes), bool)
        for run in self.runs:
            if len(run):
                at = np.minimum(np.searchsorted(run, sorted_hashes), len(run) - 1)
                found |= run[at] == sorted_hashes
        return found

    def extended(self, key: VersionKey, sorted_hashes: np.ndarray) -> IdDigest:
        """The digest of ``key``: this one plus the ascending ``sorted_hashes`` a commit
        added."""
        runs = (*self.runs, sorted_hashes)
        if len(runs) > _MAX_RUNS:
            # timsort ("stable") merges the sorted runs instead of sorting from scratch: 4x faster
            runs = (np.sort(np.concatenate(runs), kind="stable"),)
        return IdDigest(key, runs)


class IdDigests:
    """The digests of recently written tables, bounded to ``max_ids`` ids in all."""

    def __init__(self, max_ids: int = DEFAULT_MAX_IDS) -> None:
        self.max_ids = max_ids
        self._digests: OrderedDict[str, IdDigest] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, name: str, key: VersionKey) -> IdDigest | None:
        """The digest of table ``name`` if it was made for exactly ``key``."""
        with self._lock:
            digest = self._digests.get(name)
            if digest is None or digest.key != key:
                return None
            self._digests.move_to_end(name)
            return digest

    def install(self, name: str, digest: IdDigest) -> None:
        with self._lock:
            self._digests.pop(name, None)
            if digest.size > self.max_ids:
                return
            self._digests[name] = digest
            total = sum(d.size for d in self._digests.values())
            while total > self.max_ids:
                _, dropped = self._digests.popitem(last=False)
                total -= dropped.size

    def discard(self, name: str) -> None:
        with self._lock:
            self._digests.pop(name, None)


@dataclass(frozen=True, slots=True)
class IdCheck:
    """A batch's ids checked against one table version: those already ``taken``, and what
    :func:`record_append` needs to extend the digest once the batch is committed."""

    taken: set[str]
    sorted_hashes: np.ndarray
    digest: IdDigest | None


def check_new_ids(
    digests: IdDigests,
    name: str,
    dataset: Dataset,
    ids: pa.ChunkedArray,
    hashes: SortedIdHashes,
) -> IdCheck:
    """Which of ``ids`` (hashed to ``hashes``) table ``name`` stores at ``dataset``'s version,
    through its digest when current; a full read of the id column also makes the digest."""
    key = version_key(dataset)
    digest = digests.current(name, key)
    if digest is not None:
        maybe = ids.take(hashes.order[digest.matches(hashes.values)])
        taken = existing_ids(dataset, maybe, table=name) if len(maybe) else set()
        return IdCheck(taken, hashes.values, digest)
    stored_count = dataset.count_rows()
    if stored_count > min(digests.max_ids, _ID_READ_ALL_RATIO * len(ids)):
        # no digest to extend: the batch's hashes are not needed
        return IdCheck(existing_ids(dataset, ids, table=name), np.empty(0, np.int64), None)
    if stored_count == 0:
        return IdCheck(set(), hashes.values, IdDigest(key, ()))
    with lance_errors(f"checking ids in {name!r}"):
        stored = dataset.to_table(columns=["id"]).column("id").combine_chunks()
    taken = set(ids.filter(pc.is_in(ids, value_set=stored)).to_pylist())
    return IdCheck(taken, hashes.values, IdDigest.of(key, id_hashes(stored)))


def record_append(digests: IdDigests, name: str, check: IdCheck, written: Dataset) -> None:
    """Extend the digest with a committed batch, if ``written`` is the version right after the
    one checked (else another commit came between, and the digest is dropped)."""
    if check.digest is not None and int(written.version) == check.digest.key[0] + 1:
        digests.install(name, check.digest.extended(version_key(written), check.sorted_hashes))
    else:
        digests.discard(name)


def existing_ids(dataset: Dataset, ids: pa.ChunkedArray, *, table: str) -> set[str]:
    """The ``ids`` already stored in ``dataset``, read from the table."""
    return set(stored_rows(dataset, ids, table=table).column("id").to_pylist())


def stored_rows(
    dataset: Dataset,
    ids: pa.ChunkedArray | pa.Array,
    *,
    table: str,
    with_address: bool = False,
) -> pa.Table:
    """The stored rows whose id is one of ``ids``: their ``id`` (and ``_rowaddr``)."""
    stored_count = dataset.count_rows()
    if stored_count == 0:
        return pa.table({"id": pa.array([], pa.string())})
    with lance_errors(f"checking ids in {table!r}"):
        # Each filtered scan reads the whole id column, so scan once per large chunk,
        # and read the column outright while the table is small next to the batch.
        if stored_count > _ID_READ_ALL_RATIO * len(ids):
            values = ids.to_pylist()
            parts = [
                dataset.to_table(
                    columns=["id"],
                    filter=ids_filter(values[start : start + _ID_CHECK_CHUNK]),
                    with_row_address=with_address,
                )
                for start in range(0, len(values), _ID_CHECK_CHUNK)
            ]
            return pa.concat_tables(parts)
        stored = dataset.to_table(columns=["id"], with_row_address=with_address)
        wanted = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        return stored.filter(pc.is_in(stored.column("id"), value_set=wanted))


# -- hashes of ids ---------------------------------------------------------------------------


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of string ``ids``, computed over their UTF-8 bytes with numpy alone.

    Each id's bytes ``b0 b1 ...`` hash to ``sum(b_j * P**j)`` modulo 2**64 (wrapping uint64
    arithmetic; ``P`` is odd, so its powers can be divided out), mixed with the length and
    finished by SplitMix64. Equal hashes only make an id a candidate that is then looked up,
    so collisions cost time, never correctness.
    """
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
    ids = ids.cast(pa.large_string())
    parts = [
        _hash_chunk(ids.slice(start, _HASH_CHUNK)) for start in range(0, len(ids), _HASH_CHUNK)
    ]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


# ids hashed per numpy pass: bounds the per-byte temporaries
_HASH_CHUNK = 16_384
_HASH_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
# powers of _HASH_BASE and of its inverse, grown on demand; one tuple, replaced whole, so a
# thread never sees the two arrays at different lengths
_base_powers_cache = (np.ones(1, np.uint64), np.ones(1, np.uint64))


def _hash_chunk(ids: pa.Array) -> np.ndarray:
    _, offsets_buffer, data_buffer = ids.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[ids.offset : ids.offset + len(ids) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(data_buffer, np.uint8)[first:last] if data_buffer else np.empty(0, np.uint8)
    )
    starts, ends = offsets[:-1] - first, offsets[1:] - first
    powers, inverse = _base_powers(len(data) + 1)
    prefix = np.zeros(len(data) + 1, np.uint64)
    np.cumsum(data.astype(np.uint64) * powers[: len(data)], out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * inverse[starts]
    hashes ^= (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    hashes ^= hashes >> np.uint64(30)
    hashes *= np.uint64(0xBF58476D1CE4E5B9)
    hashes ^= hashes >> np.uint64(27)
    hashes *= np.uint64(0x94D049BB133111EB)
    hashes ^= hashes >> np.uint64(31)
    return hashes.view(np.int64)


def _base_powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` powers of the hash base and of its inverse modulo 2**64."""
    global _base_powers_cache
    cached = _base_powers_cache
    if len(cached[0]) < count:
        size = max(count, 2 * len(cached[0]))
        powers = np.full(size, _HASH_BASE, np.uint64)
        powers[0] = 1
        inverse = np.full(size, pow(_HASH_BASE, -1, 1 << 64), np.uint64)
        inverse[0] = 1
        cached = _base_powers_cache = (np.cumprod(powers), np.cumprod(inverse))
    return cached


@dataclass(frozen=True, slots=True)
class SortedIdHashes:
    """A batch's id hashes in ascending order (``values``), and the position in the batch of
    each one (``order``): sorted once, they serve the check for ids repeated in the batch,
    the digest lookup and the digest's extension."""

    values: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, ids: pa.Array | pa.ChunkedArray) -> SortedIdHashes:
        hashes = id_hashes(ids)
        order = np.argsort(hashes)
        return cls(hashes[order], order)

    def may_repeat(self) -> bool:
        """Whether two ids hash alike: the same id twice, or (rarely) a collision."""
        return bool((self.values[1:] == self.values[:-1]).any())


def check_batch_ids(ids: pa.ChunkedArray, hashes: SortedIdHashes | None = None) -> None:
    """Raise ``DuplicateIdError`` if an id appears more than once in ``ids`` (hashed to
    ``hashes``); the ids themselves are compared only if two hashes are equal."""
    if not (hashes or SortedIdHashes.of(ids)).may_repeat():
        return
    counts = pc.value_counts(ids)
    if len(counts) != len(ids):
        repeated = [c["values"] for c in counts.to_pylist() if c["counts"] > 1]
        raise DuplicateIdError(
            f"{len(repeated)} id(s) appear more than once in the batch, e.g. {repeated[:5]}; "
            "each id must be unique (use upsert to replace documents)",
            repeated,
        )
