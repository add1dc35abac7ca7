"""glibc's mmap threshold after a store opens, observed in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnivector.storage.allocator import _is_glibc

pytestmark = pytest.mark.skipif(not _is_glibc(), reason="glibc only")

# prints whether glibc maps a 4 MiB block with mmap of its own (1) or serves it from the heap
# (0), after opening a store when asked (the first mapped block freed raises the threshold, so a
# process can only probe once)
_PROBE = """
import ctypes, sys
import omnivector as ov

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc.mallinfo2.restype = MallInfo2

def mapped_blocks_while_holding_4_mib():
    block = libc.malloc(4 << 20)
    count = libc.mallinfo2().hblks
    libc.free(block)
    return count

if len(sys.argv) > 1:
    ov.VectorStore(sys.argv[1]).close()
print(mapped_blocks_while_holding_4_mib() - libc.mallinfo2().hblks)
"""


def _mapped(store: Path | None, **env: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *([str(store)] if store else [])],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )
    return int(done.stdout)


def test_opening_a_store_serves_4_mib_blocks_from_the_heap(tmp_path: Path) -> None:
    # a 4 MiB block is mapped on its own until the threshold rises, then comes from the heap
    assert _mapped(None) == 1
    assert _mapped(tmp_path / "store") == 0


def test_an_explicit_threshold_is_left_as_set(tmp_path: Path) -> None:
    assert _mapped(tmp_path / "store", MALLOC_MMAP_THRESHOLD_="131072") == 1
