"""glibc's malloc tuned for the serving process (R20.1 peak RSS): arenas capped, heap trimmed.

Each case runs in a fresh interpreter: the arena cap only holds for threads started after it,
and the environment variable it sets must not leak into the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from torouter import native_heap

pytestmark = pytest.mark.skipif(
    native_heap._libc() is None, reason="glibc's malloc only (mallopt, malloc_trim)"
)

# Threads that each allocate (and keep) C-heap blocks of Python objects over 512 bytes; then
# the process counts glibc's thread arenas: heaps of 64 MB reserved at 64 MB boundaries.
_THREADS = """
import os, sys, threading
from torouter import native_heap

{before}
barrier = threading.Barrier(6)
kept = []

def work():
    barrier.wait()  # all alive at once: none can inherit a finished thread's arena
    kept.append([bytes(2048) for _ in range(200)])
    barrier.wait()

threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
heaps = 0
for line in open("/proc/self/maps"):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if lo % (64 << 20) == 0 and line.split()[1] == "rw-p" and hi - lo < (64 << 20):
        heaps += 1
print(heaps, os.environ.get("MALLOC_ARENA_MAX"))
"""


def _run(before: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _THREADS.format(before=textwrap.dedent(before))],
        capture_output=True,
        text=True,
        check=True,
        env=clean | (env or {}),
    ).stdout.split()
    return int(out[0]), out[1]


def test_capped_arenas_are_shared_by_every_thread() -> None:
    uncapped, _ = _run("")
    capped, variable = _run("assert native_heap.limit_arenas() is True")
    assert uncapped >= 4  # glibc's default: an arena per thread (up to 8 per core)
    assert capped <= native_heap.ARENAS - 1  # the main arena is the brk heap, not counted
    assert variable == str(native_heap.ARENAS)  # inherited by the workers `serve` starts


def test_an_explicit_malloc_arena_max_is_left_alone() -> None:
    heaps, variable = _run(
        "assert native_heap.limit_arenas() is False", env={"MALLOC_ARENA_MAX": "16"}
    )
    assert variable == "16"
    assert heaps >= 4  # the operator's choice (here: glibc's default on 2 cores) holds


def test_trim_returns_freed_heap_pages_to_the_kernel() -> None:
    code = """
import ctypes, ctypes.util
from torouter import native_heap

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(4096) for _ in range(20000)]  # ~80 MB below the mmap threshold
for b in blocks[:-1]:
    libc.free(b)  # the last one pins the top of the heap: only a trim can release the rest

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

before = rss()
released = native_heap.trim()
print(released, (before - rss()) >> 20)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "True"
    assert int(out[1]) >= 50  # MB handed back


def test_serve_caps_the_arenas_of_its_process(tmp_path) -> None:
    """`run_single` caps them before it binds (and before uvicorn starts any thread)."""
    code = """
import os
from types import SimpleNamespace
from unittest import mock
from torouter import serving

settings = SimpleNamespace(server=SimpleNamespace(host="127.0.0.1", port=0))
with mock.patch.object(serving, "bind", side_effect=serving.ServeFailed("stop here", 1)):
    try:
        serving.run_single(settings, {})
    except serving.ServeFailed:
        pass
print(os.environ.get("MALLOC_ARENA_MAX"))
"""
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean
    ).stdout.strip()
    assert out == str(native_heap.ARENAS)
