"""The C heap under Lance: when glibc serves large blocks from the heap instead of mmap.

glibc maps every block above its mmap threshold (128 KiB at start) with ``mmap`` and unmaps
it on ``free``; the first time it frees such a block of up to 32 MiB, it raises the threshold
to that block's size and the heap's trim threshold to twice as much. Lance's writer allocates
and frees buffers of several MiB per batch (encoded pages, compression buffers). Until the
threshold has risen past them, each batch maps fresh pages and faults them in again: appends
of 5,000 rows of 384-d vectors with zstd text ran at about half speed (docs/storage.md).

Opening a store frees one 16 MiB block, so glibc makes that adjustment at once rather than
maybe never. The heap then keeps up to 32 MiB of freed memory per arena for reuse instead of
returning it to the system. A threshold set explicitly (``MALLOC_MMAP_THRESHOLD_``,
``GLIBC_TUNABLES`` or ``mallopt``) turns glibc's adjustment off, so it stays as set; other C
libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os
import threading

__all__ = ["raise_mmap_threshold", "release_freed_memory"]

# glibc adjusts the threshold for blocks up to 32 MiB; 16 MiB covers a batch's buffers
_BLOCK_BYTES = 16 << 20

_lock = threading.Lock()
_done = False


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # not a GNU system
        return False


def raise_mmap_threshold() -> None:
    """Let glibc serve blocks up to 16 MiB from the heap (once per process; glibc only)."""
    global _done
    with _lock:
        if _done:
            return
        _done = True
        if not _is_glibc():
            return
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        libc.free(libc.malloc(_BLOCK_BYTES))


def release_freed_memory() -> None:
    """Return the free pages of every malloc arena to the system (glibc only): the heap
    keeps freed memory for reuse, and a resident load frees gigabytes of it."""
    if _is_glibc():
        ctypes.CDLL(None).malloc_trim(0)
