"""The Redis run-once-at-a-time lock (see `lock.py`): SET NX PX, released only by its holder."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from torouter.state.lock import LockFactory

__all__ = ["redis_lock_factory"]

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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
