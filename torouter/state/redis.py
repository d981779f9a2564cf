"""Redis state backend (scale-out): the same interface as `memory.py`, in Lua (SPEC R7.11).

One pipelined round trip to admit and one to settle (R20.3): admission is one script call for
the user's counters (plus, when `gateway.ip_rpm` is on, the per-IP script in the same
pipeline); settlement (or release) is one script call, plus the usage row's append to the
shared journal's stream in the same pipeline when one is given (`StreamAppend`). Scripts run
by EVALSHA in one write: redis-py's own pipelined scripts ask `SCRIPT EXISTS` first, a second
round trip on every call. Socket timeouts are short and retries off, so an unreachable Redis
becomes `StateUnavailable` (E20) within about a second, never a hang.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from torouter.state import lua
from torouter.state import windows as w
from torouter.state.base import (
    AdmitRequest,
    Hold,
    StateUnavailable,
    StreamAppend,
    Verdict,
    Window,
    WindowState,
)
from torouter.state.resp import RespConnection

__all__ = ["RedisState", "connect"]

# One script call of a pipeline: (script, keys, args).
Call = tuple[AsyncScript, list[Any], list[Any]]

log = logging.getLogger("torouter.state")


# Waiting for a free pooled connection is load, not an unreachable Redis: every command in
# flight ends within the socket timeout, so the queue moves. A burst larger than the pool on a
# busy machine waited more than 1 s and was refused as E20 (issue 12 point 17).
POOL_WAIT_S = 10.0


def connect(url: str, *, timeout_s: float = 1.0, max_connections: int = 64) -> aioredis.Redis:
    """A client whose commands fail after `timeout_s` on the wire (Redis gone: E20 within about
    a second) but wait up to `POOL_WAIT_S` for one of `max_connections` (a burst: a queue)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=max(POOL_WAIT_S, timeout_s),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=15,
    )
    client = aioredis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def res_key(scope: str) -> str:
    return f"{{u:{scope}}}:res"


def lease_key(scope: str) -> str:
    return f"{{u:{scope}}}:lease"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisState:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._admit = client.register_script(lua.ADMIT)
        self._settle = client.register_script(lua.SETTLE)
        self._release = client.register_script(lua.RELEASE)
        self._undo = client.register_script(lua.UNDO)
        self._ip = client.register_script(lua.IP_WINDOW)
        self._seed = client.register_script(lua.SEED)
        self._add = client.register_script(lua.ADD)
        self._append = client.register_script(lua.STREAM_APPEND)
        # The hot path's round trips share one multiplexed connection (`resp.py`); the rest
        # (renewals, seeding, reads for the API) use redis-py's pool.
        self._resp = RespConnection.from_pool(client.connection_pool)

    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        """The scripts' replies (an error reply as its exception), from one pipelined round
        trip: EVALSHA each, in order, in one write on one pooled connection.

        Leaner than redis-py's pipeline, which costs the hot path most of a request's Redis
        CPU: commands are packed by hiredis (C), no pipeline object, no retry wrapper, and no
        `SCRIPT EXISTS` first. A script Redis does not know (it restarted, or SCRIPT FLUSH) is
        loaded and only the calls it refused run again, one by one: a refused call did
        nothing, so nothing is ever applied twice. A connection that fails or is interrupted
        mid-reply is closed by redis-py before it goes back to the pool.
        """
        packed = [hiredis.pack_command(("EVALSHA", s.sha, len(k), *k, *a)) for s, k, a in calls]
        if self._resp is not None:
            try:
                replies = await self._resp.execute(packed)
            except RedisConnectionError:
                # The shared connection was lost (Redis restarted or closed it) before every
                # reply was in: once more on a new one, as redis-py retries a stale pooled
                # connection. What may have run is idempotent by admission id, or (an
                # admission) a reservation the lease lapses.
                replies = await self._resp.execute(packed)
        else:
            replies = await self._pooled(packed)
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                script, keys, args = calls[i]
                replies[i] = await script(keys=keys, args=args)  # loads it, then runs it
        return replies

    async def _pooled(self, packed: list[bytes]) -> list[Any]:
        """The round trip on one of redis-py's pooled connections (TLS)."""
        pool = self.client.connection_pool
        # redis-py leaves `get_connection` unannotated.
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                replies = await _exchange(conn, packed)
            except RedisConnectionError:
                # A pooled connection Redis had closed (redis-py's own retry, once): nothing
                # was read, and what may have run is idempotent by admission id, or (an
                # admission) a reservation the lease lapses.
                await conn.disconnect()
                replies = await _exchange(conn, packed)
        finally:
            await pool.release(conn)
        return replies

    def _append_call(self, a: StreamAppend) -> Call:
        return self._append, [a.stream], [a.group, a.consumer, 1, a.payload, *a.acks]

    async def _call(self, call: Call, append: StreamAppend | None = None) -> Any:
        """`call`'s reply; `append` goes first in the same round trip (a row in the stream
        whose charge did not reach Redis is still written by the database; the reverse would
        lose it), its entry id set once it is in."""
        if append is None:
            reply = (await self._run([call]))[0]
        else:
            added, reply = await self._run([self._append_call(append), call])
            if not isinstance(added, Exception):
                append.entry_id = added[0]
            elif not isinstance(reply, Exception):
                raise added
        if isinstance(reply, Exception):
            raise reply
        return reply

    # -- admission -----------------------------------------------------------------------------

    async def admit(self, req: AdmitRequest) -> Verdict:
        keys, args = _admit_call(req)
        now_ms = _ms(req.now)
        try:
            if req.ip is None:
                raw = await self._call((self._admit, keys, args))
                ip_raw = None
            else:
                ipw = req.ip
                ip_call: Call = (
                    self._ip,
                    [ipw.counter],
                    [now_ms, ipw.limit, ipw.bucket_s * 1000, ipw.buckets, "take"],
                )
                ip_raw, raw = await self._run([ip_call, (self._admit, keys, args)])
                for reply in (ip_raw, raw):
                    if isinstance(reply, Exception):
                        raise reply
        except RedisError as exc:
            log.error("redis unreachable during admission: %s", exc)
            raise StateUnavailable(str(exc)) from exc
        verdict = _verdict(req, raw)
        if ip_raw is None:
            return verdict
        try:
            return await self._merge_ip(req, verdict, ip_raw)
        except RedisError as exc:
            log.error("redis unreachable during admission: %s", exc)
            raise StateUnavailable(str(exc)) from exc

    async def _merge_ip(self, req: AdmitRequest, v: Verdict, ip_raw: list[Any]) -> Verdict:
        ipw = req.ip
        assert ipw is not None
        now_ms = _ms(req.now)
        if int(ip_raw[0]) == 1:  # the IP is over its limit: undo the user side if it passed
            if v.ok:
                await self._undo(
                    keys=[
                        res_key(req.scope),
                        lease_key(req.scope),
                        *(x.counter for x in req.windows),
                    ],
                    args=[
                        now_ms,
                        req.admission_id,
                        *(w.bucket_index(req.now, x.bucket_s) for x in req.windows),
                    ],
                )
                v = Verdict(ok=False, rate=True)
            retry = int(ip_raw[1]) / 1000
            if v.rate:
                v.blocked.append(ipw.name)
                v.retry_after = max(v.retry_after, retry)
                return v
            return Verdict(ok=False, blocked=[ipw.name], retry_after=retry, rate=True)
        if not v.ok:  # refused by the user's limits: the IP window must not count it
            await self._ip(
                keys=[ipw.counter],
                args=[now_ms, ipw.limit, ipw.bucket_s * 1000, ipw.buckets, "undo"],
            )
            return v
        v.windows.append(WindowState(ipw.name, ipw.limit, int(ip_raw[1]), int(ip_raw[2]) / 1000))
        return v

    # -- settlement ----------------------------------------------------------------------------

    async def settle(
        self,
        admission_id: str,
        scope: str,
        counters: Sequence[Hold],
        actual: int,
        *,
        now: float,
        tokens: tuple[Window, int] | None = None,
        append: StreamAppend | None = None,
    ) -> bool:
        keys = [res_key(scope), lease_key(scope), *(h.counter for h in counters)]
        args: list[Any] = [
            _ms(now),
            admission_id,
            actual,
            len(counters),
            1 if tokens else 0,
            *(h.ttl_s(now) for h in counters),
        ]
        if tokens is not None:
            win, n = tokens
            keys.append(win.counter)
            args += [n, win.bucket_s * 1000, win.buckets]
        try:
            return bool(await self._call((self._settle, keys, args), append))
        except RedisError as exc:
            log.error("redis unreachable during settlement: %s", exc)
            raise StateUnavailable(str(exc)) from exc

    async def release(
        self, admission_id: str, scope: str, *, now: float, append: StreamAppend | None = None
    ) -> bool:
        keys = [res_key(scope), lease_key(scope)]
        args: list[Any] = [_ms(now), admission_id]
        try:
            return bool(await self._call((self._release, keys, args), append))
        except RedisError as exc:
            log.error("redis unreachable during release: %s", exc)
            raise StateUnavailable(str(exc)) from exc

    async def renew(self, leases: Sequence[tuple[str, str]], *, now: float, lease_s: float) -> None:
        if not leases:
            return
        by_scope: dict[str, list[str]] = defaultdict(list)
        for scope, aid in leases:
            by_scope[scope].append(aid)
        deadline = _ms(now + lease_s)
        pipe = self.client.pipeline(transaction=False)
        for scope, aids in by_scope.items():
            pipe.zadd(lease_key(scope), dict.fromkeys(aids, deadline), xx=True, gt=True)
        try:
            await pipe.execute()
        except RedisError as exc:
            raise StateUnavailable(str(exc)) from exc

    # -- counters ------------------------------------------------------------------------------

    async def seed(self, counter: str, used: int, ttl_s: int = 0) -> None:
        await self.seed_many([(counter, used, ttl_s)])

    async def seed_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        try:
            for i in range(0, len(items), 1000):
                pipe = self.client.pipeline(transaction=False)
                for counter, used, ttl in items[i : i + 1000]:
                    await self._seed(keys=[counter], args=[used, ttl], client=pipe)
                await pipe.execute()
        except RedisError as exc:
            raise StateUnavailable(str(exc)) from exc

    async def add(self, counter: str, amount: int) -> None:
        await self._add(keys=[counter], args=[amount])

    async def used(self, counter: str) -> tuple[int, int]:
        u, f = await self.client.hmget(counter, ["u", "f"])
        return int(u or 0), int(f or 0)

    async def window_use(self, windows: Sequence[Window], now: float) -> list[WindowState]:
        pipe = self.client.pipeline(transaction=False)
        for win in windows:
            pipe.hgetall(win.counter)
        out = []
        for win, raw in zip(windows, await pipe.execute(), strict=True):
            buckets = {int(k): int(v) for k, v in raw.items()}
            total = w.prune(buckets, w.bucket_index(now, win.bucket_s), win.buckets)
            reset = w.reset_after(buckets, win.buckets, win.bucket_s, now)
            out.append(WindowState(win.name, win.limit, total, reset))
        return out

    async def note_failed_lookup(self, ip: str, now: float) -> int:
        key = f"{{ip:{ip}}}:kf:{int(now // 60)}"
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        n, _ = await pipe.execute()
        return int(n)

    async def is_seeded(self, marker: str) -> bool:
        return bool(await self.client.exists(marker))

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._resp is not None:
            await self._resp.close()
        await self.client.aclose()


async def _exchange(conn: AbstractConnection, packed: list[bytes]) -> list[Any]:
    """Send the packed commands in one write and read one reply each (an error reply as its
    exception: the connection stays in step). redis-py closes a connection that fails or is
    interrupted mid-reply, so it never goes back to the pool half read."""
    await conn.send_packed_command(packed, check_health=False)
    replies: list[Any] = []
    for _ in packed:
        try:
            replies.append(await conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
    return replies


def _admit_call(req: AdmitRequest) -> tuple[list[str], list[Any]]:
    wins = [*req.windows, *((req.tokens,) if req.tokens else ())]
    keys = [req.marker, res_key(req.scope), lease_key(req.scope)]
    keys += [x.counter for x in wins]
    args: list[Any] = [
        _ms(req.now),
        req.admission_id,
        req.amount,
        _ms(req.lease_s),
        len(req.windows),
        1 if req.tokens else 0,
        1 if req.concurrency else 0,
        len(req.holds),
    ]
    for x in wins:
        args += [x.limit, x.bucket_s * 1000, x.buckets]
    if req.concurrency is not None:
        keys.append(req.concurrency[0])
        args.append(req.concurrency[1])
    for h in req.holds:
        keys.append(h.counter)
        args += ["-" if h.limit is None else h.limit, h.ttl_s(req.now)]
    return keys, args


def _verdict(req: AdmitRequest, raw: list[Any]) -> Verdict:
    kind = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    if kind == "U":
        raise StateUnavailable("counters not seeded")
    if kind == "R":
        names = [x.name for x in req.windows]
        if req.tokens is not None:
            names.append(req.tokens.name)
        names.append("key_concurrency")
        return Verdict(
            ok=False,
            rate=True,
            retry_after=int(raw[1]) / 1000,
            blocked=[names[int(i) - 1] for i in raw[2:]],
        )
    if kind == "M":
        return Verdict(ok=False, blocked=[req.holds[int(i) - 1].counter for i in raw[1:]])
    v = Verdict(ok=True)
    vals = [int(x) for x in raw[1:]]
    for i, x in enumerate(req.windows):
        v.windows.append(WindowState(x.name, x.limit, vals[2 * i], vals[2 * i + 1] / 1000))
    if req.tokens is not None:
        n = len(req.windows)
        v.tokens = WindowState(
            req.tokens.name, req.tokens.limit, vals[2 * n], vals[2 * n + 1] / 1000
        )
    return v
