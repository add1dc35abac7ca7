"""Memory a resident load frees goes back to the system (glibc's heap keeps it otherwise)."""

from __future__ import annotations

import ctypes
import ctypes.util

import psutil
import pytest

from omnivector.storage.allocator import release_freed_memory

BLOCK = 4096
BLOCKS = 50_000  # ~200 MB in blocks too small for mmap: they live in the heap


def _libc() -> ctypes.CDLL:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "malloc_trim"):
        pytest.skip("the C library is not glibc: freed heap pages are the allocator's business")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def test_freed_heap_pages_go_back_to_the_system() -> None:
    libc = _libc()
    process = psutil.Process()
    before = process.memory_info().rss
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    for block in blocks:
        ctypes.memset(block, 1, BLOCK)
    top = libc.malloc(BLOCK)  # still in use above the freed blocks: the heap cannot shrink
    for block in blocks:
        libc.free(block)
    kept = process.memory_info().rss
    assert kept - before > BLOCK * BLOCKS // 2  # freed, but still the process's
    release_freed_memory()
    assert kept - process.memory_info().rss > BLOCK * BLOCKS // 2
    libc.free(top)
