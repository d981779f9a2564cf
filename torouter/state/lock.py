"""Run-once-at-a-time locks: a Redis lock when scaled out, a no-op in one process.

Used for reseeding the counters (R7.11) and for background jobs that one node at a time
must run (R7.7 expiry and renewal). A lock expires by itself, so a crashed holder never
blocks the others for longer than its time to live.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["LockFactory", "local_lock", "redis_lock_factory"]

LockFactory = Callable[[str, float], contextlib.AbstractAsyncContextManager[bool]]

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@contextlib.asynccontextmanager
async def local_lock(name: str, ttl_s: float) -> AsyncIterator[bool]:
    yield True


def redis_lock_factory(client: aioredis.Redis, prefix: str = "torouter:lock:") -> LockFactory:
    release = client.register_script(_RELEASE)

    @contextlib.asynccontextmanager
    async def hold(name: str, ttl_s: float) -> AsyncIterator[bool]:
        token = secrets.token_hex(8)
        key = prefix + name
        try:
            acquired = bool(await client.set(key, token, nx=True, px=int(ttl_s * 1000)))
        except RedisError:
            acquired = False
        try:
            yield acquired
        finally:
            if acquired:
                with contextlib.suppress(RedisError):
                    await release(keys=[key], args=[token])

    return hold
