"""The C heap under Lance: glibc's mmap threshold and its number of arenas.

glibc maps every block above its mmap threshold (128 KiB at start) with ``mmap`` and unmaps
it on ``free``; the first time it frees such a block of up to 32 MiB, it raises the threshold
to that block's size and the heap's trim threshold to twice as much. Lance's writer allocates
and frees buffers of several MiB per batch (encoded pages, compression buffers). Until the
threshold has risen past them, each batch maps fresh pages and faults them in again: appends
of 5,000 rows of 384-d vectors with zstd text ran at about half speed (docs/storage.md).

Importing omnivector frees one 16 MiB block, so glibc makes that adjustment at once rather
than maybe never. The heap then keeps up to 32 MiB of freed memory per arena for reuse
instead of returning it to the system, and glibc gives each thread that allocates an arena
of its own, up to eight per processor: Lance's and ScaNN's thread pools made sixteen on two
processors, and after a resident load of 1,000,000 x 384-d rows they kept 170-280 MiB
(docs/storage.md). Importing omnivector therefore also caps the arenas at one per processor
the process may run on (at least two), which keeps the threads that run at once from waiting
on each other's arena; arenas of threads that allocated earlier stay.

A threshold set explicitly (``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES`` or ``mallopt``)
turns glibc's adjustment off, so it stays as set; an arena count set in the environment
(``MALLOC_ARENA_MAX``, ``glibc.malloc.arena_max``) is left as set too. Other C libraries are
left alone.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["arena_cap", "release_freed_memory"]

# glibc adjusts the threshold for blocks up to 32 MiB; 16 MiB covers a batch's buffers
_BLOCK_BYTES = 16 << 20
# mallopt's parameter for the most arenas glibc creates
_M_ARENA_MAX = -8


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # not a GNU system
        return False


def arena_cap() -> int:
    """The most arenas glibc is given: one per processor this process may run on, at least
    two."""
    try:
        processors = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity (not Linux)
        processors = os.cpu_count() or 1
    return max(2, processors)


def _arenas_set_by_user() -> bool:
    return "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get(
        "GLIBC_TUNABLES", ""
    )


def _tune_allocator() -> None:
    """Let glibc serve blocks up to 16 MiB from the heap, and give it at most
    :func:`arena_cap` arenas (glibc only)."""
    if not _is_glibc():
        return
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(_BLOCK_BYTES))
    if not _arenas_set_by_user():
        libc.mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(arena_cap()))


def release_freed_memory() -> None:
    """Return the free pages of every malloc arena to the system (glibc only): the heap
    keeps freed memory for reuse, and a resident load frees gigabytes of it."""
    if _is_glibc():
        ctypes.CDLL(None).malloc_trim(0)


# once per process, on import: omnivector's package imports this module before anything
# that starts threads
_tune_allocator()
