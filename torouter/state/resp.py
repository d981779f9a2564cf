"""The hot path's Redis connection: one multiplexed RESP connection per process (R20.3).

Admission and settlement are one pipelined round trip each. Through redis-py every round trip
also paid for its pool (an `asyncio.Condition`), a connection health check, an
`asyncio.timeout` block per reply, and its observability hooks: about 150 Python calls per
round trip, more than the gateway's own work on a request. Redis answers the commands of one
connection in the order they came, so the callers of a process can share one connection: a
call writes its packed commands (hiredis packs them in C) and waits on a future; replies are
parsed by hiredis's reader as they arrive and handed out in order.

What the pool gave is kept:
- A call fails after `timeout_s` without a reply (Redis stopped answering): one timer per
  connection checks the oldest call in flight; when it is late the connection is closed and
  every call in flight fails with `TimeoutError`.
- A connection Redis closed (restart, `CLIENT KILL`, idle timeout) fails its calls in flight
  with `ConnectionError` and is replaced by the next call. Whether to run a call again is the
  caller's decision (`RedisState._run` does, once: its scripts are idempotent by admission id).
- A cancelled caller does not desynchronise the connection: its replies are read and dropped.
- AUTH and SELECT go first on every new connection, from the same URL redis-py uses.

Only plain TCP and Unix sockets; `rediss://` (TLS) keeps redis-py's pooled connections
(`RespConnection.from_pool` returns None).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import hiredis
from redis.asyncio.connection import Connection, ConnectionPool, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RespConnection"]


def _reply_error(message: str) -> ResponseError:
    """An error reply as the exception redis-py would give (`NOSCRIPT` its own class)."""
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _Call:
    """One caller's commands in flight: how many replies it waits for, and when it was sent."""

    __slots__ = ("future", "left", "replies", "sent_at")

    def __init__(self, future: asyncio.Future[list[Any]], n: int, sent_at: float) -> None:
        self.future = future
        self.left = n
        self.replies: list[Any] = []
        self.sent_at = sent_at


class _Protocol(asyncio.Protocol):
    """One socket to Redis: writes whole calls, reads replies into the calls in order."""

    def __init__(self, owner: RespConnection) -> None:
        self.owner = owner
        self.reader = hiredis.Reader(replyError=_reply_error)
        self.calls: collections.deque[_Call] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's is not an `asyncio.Transport` subclass.
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: list[bytes], future: asyncio.Future[list[Any]], now: float) -> None:
        assert self.transport is not None
        self.calls.append(_Call(future, len(packed), now))
        self.transport.write(b"".join(packed) if len(packed) > 1 else packed[0])
        if self.timer is None:
            self.timer = self.owner.loop.call_at(now + self.owner.timeout_s, self._check)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        calls = self.calls
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:  # not RESP: nothing after it can be trusted
                self._fail(RedisConnectionError(f"redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not calls:  # a reply nobody asked for: out of step
                self._fail(RedisConnectionError("redis sent a reply nobody asked for"))
                return
            call = calls[0]
            call.replies.append(reply)
            call.left -= 1
            if call.left == 0:
                calls.popleft()
                if not call.future.done():  # a cancelled caller's replies are dropped
                    call.future.set_result(call.replies)

    def _check(self) -> None:
        """The oldest call in flight is late: Redis stopped answering this connection."""
        self.timer = None
        if not self.calls or self.closed:
            return
        deadline = self.calls[0].sent_at + self.owner.timeout_s
        if self.owner.loop.time() >= deadline:
            self._fail(RedisTimeoutError(f"no reply from redis in {self.owner.timeout_s:g}s"))
        else:
            self.timer = self.owner.loop.call_at(deadline, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"redis closed the connection: {exc or 'EOF'}"))

    def _fail(self, exc: Exception) -> None:
        """Close for good: every call in flight gets `exc`; the owner connects anew next time."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.closed = True
        if self.owner.protocol is self:
            self.owner.protocol = None
        while self.calls:
            call = self.calls.popleft()
            if not call.future.done():
                call.future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class RespConnection:
    """Pipelined calls over one shared connection, made on first use and after a loss."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 1.0,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.db, self.username, self.password = db, username, password
        self.timeout_s = timeout_s
        self.protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_pool(cls, pool: ConnectionPool) -> RespConnection | None:
        """The connection redis-py's `pool` would open (address, database, credentials,
        `socket_timeout`), or None where only redis-py can open it (TLS, custom classes)."""
        kw = pool.connection_kwargs
        if pool.connection_class not in (Connection, UnixDomainSocketConnection):
            return None
        return cls(
            host=kw.get("host", "127.0.0.1"),
            port=int(kw.get("port", 6379)),
            path=kw.get("path"),
            db=int(kw.get("db", 0) or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            timeout_s=float(kw.get("socket_timeout") or 1.0),
        )

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    async def execute(self, packed: list[bytes]) -> list[Any]:
        """One reply per packed command, in order; an error reply is its exception object
        (the connection stays in step). Raises `ConnectionError` or `TimeoutError` (redis-py's
        classes, both `RedisError`) when the connection fails before every reply is in."""
        protocol = self.protocol
        if protocol is None:
            protocol = await self._connect()
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        protocol.send(packed, future, self.loop.time())
        return await future

    async def _connect(self) -> _Protocol:
        """The shared connection; concurrent callers wait for the same attempt."""
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = self._loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            protocol = await asyncio.wait_for(self._open(loop), self.timeout_s)
        except BaseException as exc:
            failed = exc if isinstance(exc, Exception) else RedisConnectionError("cancelled")
            if isinstance(exc, (OSError, asyncio.TimeoutError)):
                failed = RedisConnectionError(f"cannot connect to redis: {exc or 'timeout'}")
            self._connecting.set_exception(failed)
            self._connecting.exception()  # retrieved: waiters may be none
            self._connecting = None
            if failed is not exc:
                raise failed from exc
            raise
        self.protocol = protocol
        self._connecting.set_result(protocol)
        self._connecting = None
        return protocol

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        if self.path is not None:
            _, protocol = await loop.create_unix_connection(lambda: _Protocol(self), self.path)
        else:
            _, protocol = await loop.create_connection(
                lambda: _Protocol(self), self.host, self.port
            )
        commands: list[tuple[Any, ...]] = []
        if self.password is not None:
            auth = (self.username, self.password) if self.username else (self.password,)
            commands.append(("AUTH", *auth))
        if self.db:
            commands.append(("SELECT", self.db))
        hello = [hiredis.pack_command(c) for c in commands]
        if hello:
            future: asyncio.Future[list[Any]] = loop.create_future()
            protocol.send(hello, future, loop.time())
            for reply in await future:
                if isinstance(reply, Exception):
                    protocol._fail(RedisConnectionError(f"redis refused the connection: {reply}"))
                    raise reply
        return protocol

    async def close(self) -> None:
        if self.protocol is not None:
            self.protocol._fail(RedisConnectionError("closed"))
            self.protocol = None
