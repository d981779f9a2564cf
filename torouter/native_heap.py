"""The C heap under the serving process: glibc's malloc, tuned for a long-lived gateway (R20.1).

Two levers, each a no-op where the C library is not glibc (musl, macOS):

- `limit_arenas(n)`: glibc gives each thread that allocates its own arena (up to 8 per core),
  and an arena's freed memory stays with it. The gateway's threads (the usage writer,
  aiosqlite's one per database connection, the resolver's executor) each kept 0.25-3 MB that
  the others could have reused. Called before any thread starts; `mallopt` only holds for this
  process, so the environment variable `MALLOC_ARENA_MAX` is set too, for the workers it
  starts as new processes.
- `trim()`: after start-up (migrations checked, snapshot built, provisioning applied) the
  freed temporary memory stays in the heap's free lists; `malloc_trim(0)` hands whole free
  pages back to the kernel, so the resident set after start is what the process keeps.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

__all__ = ["ARENAS", "limit_arenas", "trim"]

ARENAS = 2  # the main thread's arena, and one shared by every other thread
_M_ARENA_MAX = -8  # <malloc.h>


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        # The symbols the interpreter already links (its C library's among them): no search
        # for the library file, which `ctypes.util.find_library` does by running `ldconfig`.
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 (glibc only: musl and others lack it)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process and for processes it starts; False where it
    cannot (not glibc). An explicit `MALLOC_ARENA_MAX` in the environment is left alone."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _libc()
    if libc is None:
        return False
    os.environ["MALLOC_ARENA_MAX"] = str(arenas)
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return the heap's free pages to the kernel; True when some were released."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
