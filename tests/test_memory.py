"""core.memory: freed heap pages go back to the system (glibc), a no-op elsewhere."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from core.memory import release_free_memory
from tests.conftest import ROOT

SCRIPT = """
import ctypes, sys
from core.memory import release_free_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) // 1024
libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MB from the heap, as after numpy frees a big array
base = rss()
blocks, guards = [], []
for _ in range(300):  # 1 MB temporaries, each followed by a block that stays
    block = libc.malloc(1 << 20)
    ctypes.memset(block, 1, 1 << 20)
    blocks.append(block)
    # 16 KB, not a few bytes: small requests may be served from free chunks elsewhere in the heap (how many
    # there are depends on e.g. the environment's size), and then nothing separates the 1 MB blocks.
    guards.append(libc.malloc(16 << 10))
for block in blocks:  # freed, but the live small blocks between them keep the heap from shrinking
    libc.free(block)
held = rss() - base
if sys.argv[1] == "trim":
    release_free_memory()
print(held, rss() - base)
"""


@pytest.mark.skipif(platform.system() != "Linux" or "glibc" not in " ".join(platform.libc_ver()), reason="glibc only")
def test_freed_memory_goes_back_to_the_system():
    assert release_free_memory() is True
    outcomes = {}
    for mode in ("keep", "trim"):
        done = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, timeout=120)
        outcomes[mode] = tuple(map(int, done.stdout.split()))
    (held, kept), (_, trimmed) = outcomes["keep"], outcomes["trim"]
    assert held > 200 and kept > 200  # without the trim the freed 300 MB stay resident
    assert trimmed < 50, outcomes


FAULTS_SCRIPT = """
import ctypes, resource, sys
from core.memory import keep_freed_memory_for_reuse
if sys.argv[1] == "keep":
    assert keep_freed_memory_for_reuse()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 20 << 20  # a 20 MB array's worth (glibc maps the first afresh, then serves that size from the heap)
libc.free(libc.malloc(size))
def touch_and_free(count):  # a photo's temporaries: several at once, then all freed
    blocks = [libc.malloc(size) for _ in range(count)]
    for block in blocks:
        ctypes.memset(block, 1, size)
    for block in blocks:
        libc.free(block)
touch_and_free(4)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch_and_free(4)  # the next photo
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or "glibc" not in " ".join(platform.libc_ver()), reason="glibc only")
def test_a_freed_block_is_reused_without_new_page_faults():
    faults = {}
    for mode in ("default", "keep"):
        done = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        faults[mode] = int(done.stdout)
    pages = 4 * (20 << 20) // 4096
    assert faults["default"] > pages // 2, faults  # glibc's own rule gave the freed 80 MB back: touched afresh
    assert faults["keep"] < pages // 20, faults  # kept: the next "photo" finds it resident
