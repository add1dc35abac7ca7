"""glibc's mmap threshold and arenas once omnivector is imported, observed in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from omnivector.storage.allocator import _is_glibc, arena_cap

pytestmark = pytest.mark.skipif(not _is_glibc(), reason="glibc only")

# the probes import omnivector when their first argument is "import"
_LIBC = """
import ctypes, sys
if sys.argv[1] == "import":
    import omnivector

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
"""

# prints whether glibc maps a 4 MiB block with mmap of its own (1) or serves it from the heap
# (0) (the first mapped block freed raises the threshold, so a process can only probe once)
_THRESHOLD_PROBE = (
    _LIBC
    + """
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc.mallinfo2.restype = MallInfo2
block = libc.malloc(4 << 20)
count = libc.mallinfo2().hblks
libc.free(block)
print(count - libc.mallinfo2().hblks)
"""
)

# prints how many arenas glibc has after threads (the second argument) allocated at the same
# time: each thread that allocates gets an arena of its own while there are fewer than the cap
_ARENAS_PROBE = (
    _LIBC
    + """
import tempfile, threading

libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
threads = int(sys.argv[2])
together = threading.Barrier(threads)

def allocate():
    together.wait()
    for _ in range(1000):
        libc.free(libc.malloc(1024))
    together.wait()

running = [threading.Thread(target=allocate) for _ in range(threads)]
for thread in running:
    thread.start()
for thread in running:
    thread.join()
with tempfile.NamedTemporaryFile("r") as report:
    out = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    print(report.read().count("<heap nr="))
"""
)


def _run(probe: str, imported: bool, *args: str, **env: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", probe, "import" if imported else "bare", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )
    return int(done.stdout)


def _arenas(imported: bool, **env: str) -> tuple[int, int]:
    """The cap on arenas, and the arenas after four threads more than it allocated."""
    cap = arena_cap()
    return cap, _run(_ARENAS_PROBE, imported, str(cap + 4), **env)


def test_importing_omnivector_serves_4_mib_blocks_from_the_heap() -> None:
    # a 4 MiB block is mapped on its own until the threshold rises, then comes from the heap
    assert _run(_THRESHOLD_PROBE, False) == 1
    assert _run(_THRESHOLD_PROBE, True) == 0


def test_an_explicit_threshold_is_left_as_set() -> None:
    assert _run(_THRESHOLD_PROBE, True, MALLOC_MMAP_THRESHOLD_="131072") == 1


def test_importing_omnivector_caps_the_arenas_at_one_per_processor() -> None:
    cap, arenas = _arenas(False)
    assert arenas > cap  # every thread that allocated has an arena of its own
    cap, arenas = _arenas(True)
    assert arenas <= cap


def test_an_arena_count_set_in_the_environment_is_left_as_set() -> None:
    cap, arenas = _arenas(True, MALLOC_ARENA_MAX="100")
    assert arenas > cap
