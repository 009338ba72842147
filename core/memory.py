"""Giving freed memory back to the operating system.

Processing a large photo allocates many medium-sized arrays (tiles, bands, temporaries) that glibc's
allocator keeps in its per-thread heaps after numpy frees them: three dashboard sessions with 95 MP photos
left the server at 5.2 GB while idle, though only 0.9 GB was still referenced; `malloc_trim(0)` brings
it back to what is in use (bench/results/memory.md). Other C libraries (macOS, Windows, musl) have no such
call and manage this their own way: there this is a no-op.

Giving back too eagerly costs time instead: a server that runs each request in a new thread (Streamlit
starts one per script run) gets one of glibc's per-thread heaps, which hand whole 64 MB regions back as
soon as they are free, and big arrays above glibc's adaptive threshold are fresh `mmap`s, so every run
touches its ~100 MB of temporaries for the first time. On this machine's virtual CPUs a page fault costs
10-15 µs: 20 000 faults, 0.2-0.4 s of a 2 MP photo's run (README, "Benchmarks"). With ALLOCATOR_ENVIRONMENT
(`python app.py` sets it) a run reuses what the previous one freed; `release_free_memory`, called when the
server is idle, still gives it all back. The command line, one thread, needs only the thresholds
(`keep_freed_memory_for_reuse`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


#: Blocks up to this size come from the heap, where the next photo reuses them (glibc's largest allowed value).
HEAP_BLOCK_MAX = 32 << 20
#: glibc hands the heap's free top back by itself only beyond this; `release_free_memory` does the rest.
AUTO_TRIM_BEYOND = 256 << 20
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)

#: The same, and one heap for every thread, as the environment variables glibc reads when a process starts: what
#: a server whose every script run is a new thread needs (the per-thread heaps give whole 64 MB regions back as
#: soon as they are free). `mallopt` cannot limit the heaps later: the limit is fixed when the first thread first
#: allocates, which Streamlit's threads do before any of our code. Other C libraries ignore these variables.
ALLOCATOR_ENVIRONMENT = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_THRESHOLD_": str(HEAP_BLOCK_MAX),
    "MALLOC_TRIM_THRESHOLD_": str(AUTO_TRIM_BEYOND),
}


@functools.lru_cache(maxsize=None)
def _libc_function(name: str):
    """A glibc function by name, or None where the C library has none."""
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name) if library else None
    except (OSError, AttributeError):
        return None


def keep_freed_memory_for_reuse() -> bool:
    """Blocks up to HEAP_BLOCK_MAX from the heap and no automatic trimming below AUTO_TRIM_BEYOND, for the whole
    process from now on: the next photo reuses what the last one freed (in a heap that is not handed back with
    its thread: the command line's main thread). True where the C library took the settings (glibc)."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return all([mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK_MAX) == 1, mallopt(M_TRIM_THRESHOLD, AUTO_TRIM_BEYOND) == 1])


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system; True where the C library could (glibc)."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True
