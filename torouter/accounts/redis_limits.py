"""The account flows' brute-force limits in Redis, shared by every worker and node (R12.1).

With in-process windows (`limits.MemoryLimiter`) each worker counted its own login failures,
so N workers allowed N times five guesses before an account locked (issue 13). Here a
window is a sorted set of event times per key and a lock is a key holding its end time; each
call is one script, so two workers cannot both take the last free slot.

Times come from the accounts clock (tests move it), not Redis's: the set's scores and the
lock's end are compared with the clock's now. Keys expire on their own a little after their
window or lock, so Redis holds only recent activity.

An unreachable Redis is E20 (500, retryable) within the client's socket timeout: a login is
refused rather than let through without its limit.
"""

from __future__ import annotations

import logging
import math

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from torouter.accounts.clock import Clock
from torouter.accounts.limits import Rule
from torouter.errors import error

__all__ = ["RedisLimiter"]

log = logging.getLogger("torouter.accounts")

PREFIX = "torouter:limit:"

# KEYS[1] the window; ARGV: now (s), window (s), limit, record (1/0), member.
# Returns the seconds to wait as a string (0: fits; when `record`, the event was recorded).
_WINDOW = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + window - now
  if wait < 0.001 then wait = 0.001 end
  return tostring(wait)
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
end
return '0'
"""


class RedisLimiter:
    """`limits.Limiter` over Redis: the same four calls as `MemoryLimiter`."""

    def __init__(self, client: aioredis.Redis, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._window = client.register_script(_WINDOW)
        self._seq = 0

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def _run(self, key: str, rule: Rule, record: bool) -> float:
        self._seq += 1
        now = self._now()
        member = f"{now!r}:{id(self)}:{self._seq}"  # unique: two events may share a time
        try:
            raw = await self._window(
                keys=[PREFIX + key],
                args=[repr(now), repr(float(rule.window_s)), rule.limit, int(record), member],
            )
        except RedisError as exc:
            log.error("redis unreachable for the account limits: %s", exc)
            raise error("E20") from exc
        return float(raw)

    async def check(self, key: str, rule: Rule) -> float:
        return await self._run(key, rule, record=False)

    async def hit(self, key: str, rule: Rule) -> float:
        return await self._run(key, rule, record=True)

    async def block(self, key: str, seconds: float) -> None:
        until = self._now() + seconds
        try:
            await self._client.set(
                PREFIX + "block:" + key, repr(until), px=max(math.ceil(seconds * 1000), 1) + 1000
            )
        except RedisError as exc:
            log.error("redis unreachable for the account limits: %s", exc)
            raise error("E20") from exc

    async def blocked(self, key: str) -> float:
        try:
            raw = await self._client.get(PREFIX + "block:" + key)
        except RedisError as exc:
            log.error("redis unreachable for the account limits: %s", exc)
            raise error("E20") from exc
        if raw is None:
            return 0.0
        return max(float(raw) - self._now(), 0.0)

    async def reset(self, key: str) -> None:
        try:
            await self._client.delete(PREFIX + key, PREFIX + "block:" + key)
        except RedisError as exc:
            log.error("redis unreachable for the account limits: %s", exc)
            raise error("E20") from exc
