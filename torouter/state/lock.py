"""Run-once-at-a-time locks: a Redis lock when scaled out, a no-op in one process.

Used for reseeding the counters (R7.11) and for background jobs that one node at a time
must run (R7.7 expiry and renewal). A lock expires by itself, so a crashed holder never
blocks the others for longer than its time to live. The Redis one is in `redis_lock.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

__all__ = ["LockFactory", "local_lock"]

LockFactory = Callable[[str, float], contextlib.AbstractAsyncContextManager[bool]]


@contextlib.asynccontextmanager
async def local_lock(name: str, ttl_s: float) -> AsyncIterator[bool]:
    yield True
