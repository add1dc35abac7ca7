"""64-bit hashes of ids: the uniqueness checks of new rows compare hashes first and look
at the ids themselves only where hashes are equal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["SortedIdHashes", "id_hashes"]


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
