"""The native upstream client: an `UpstreamTransport` on asyncio protocols and httptools, with a
keep-alive pool per origin (`upstream.client = "native"`).

Why hand-written: the relay needs a small slice of an HTTP client — one request, no redirects,
no cookies, no decompression, the body as it arrives — and aiohttp's general machinery (request
and response objects, a payload writer task, trace hooks, a stream reader per answer) was about
a fifth of the gateway's CPU per request (issue 20). Here a request is one `transport.write` of
its head and body, and an answer is the parser's callbacks filling one small object.

The keep-alive measures of `upstreams/http.py` hold here too:

1. An idle connection older than `IDLE_EXPIRY_S` is never handed out (and a timer closes it),
   so the pool lets go before the common 5 s server idle timeout.
2. A pooled connection is polled for a close the loop has not processed yet when it leaves the
   pool — which is also right before the first byte: the head is written in the same callback,
   with no `await` in between (the two checks of `http.py` collapse into one).
3. A connection found closed there is dropped and the next one (or a new one) taken, so no
   request is ever written into a dead pooled connection, and nothing is ever sent twice: once a
   byte went out, any failure is the caller's to classify (RFC 9112 §9.3.1).

Answers are relayed as sent: no `Accept-Encoding` offer beyond the caller's (the default is
`identity`) and no decompression, as `http.py` runs aiohttp (`auto_decompress=False`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable, Mapping

from torouter.upstreams.native_conn import Connection, NativeResponse
from torouter.upstreams.native_target import InvalidTarget, Target, target_of
from torouter.upstreams.transport import (
    StreamedBody,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["IDLE_EXPIRY_S", "NativeHttp", "request_head"]

log = logging.getLogger("torouter.upstreams")

IDLE_EXPIRY_S = 4.0
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers; more is a broken upstream
HIGH_WATER = 256 * 1024  # unread body bytes before the socket stops being read
_ONE_WRITE = 256 * 1024  # a bytes body up to this size goes out in the head's write
_TARGETS_CACHED = 4096
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def request_head(
    method: str,
    target: Target,
    headers: Mapping[str, str],
    length: int | None,
    content_type: str | None = None,
) -> bytes:
    """The request line and header section (RFC 9112 §3, §5). The caller's fields go as given,
    except the framing ones (`Content-Length`, `Transfer-Encoding`): the body is framed here.
    `Host`, `Accept`, `Accept-Encoding`, a streamed body's `Content-Type` and a URL's Basic
    credentials are added only when the caller did not send them."""
    fields = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
    n = len(headers)
    if fields.count("\n") != n or fields.count("\r") != n:
        raise ValueError("a newline or carriage return in an upstream request header")
    low = "\r\n" + fields.lower()
    if "\r\ncontent-length:" in low or "\r\ntransfer-encoding:" in low:
        fields = "".join(
            [
                f"{k}: {v}\r\n"
                for k, v in headers.items()
                if k.lower() not in ("content-length", "transfer-encoding")
            ]
        )
    extra = ""
    if "\r\nhost:" not in low:
        extra = f"Host: {target.host_header}\r\n"
    if "\r\naccept:" not in low:
        extra += "Accept: */*\r\n"
    if "\r\naccept-encoding:" not in low:
        extra += "Accept-Encoding: identity\r\n"
    if content_type is not None and "\r\ncontent-type:" not in low:
        extra += f"Content-Type: {content_type}\r\n"
    if target.authorization is not None and "\r\nauthorization:" not in low:
        extra += f"Authorization: {target.authorization}\r\n"
    if length is not None:
        fields += f"Content-Length: {length}\r\n"
    return f"{method} {target.path} HTTP/1.1\r\n{extra}{fields}\r\n".encode()


class NativeHttp:
    """The pooled native client: one per worker, like `UpstreamHttp` (`start`, `send`,
    `close`). `limit_per_host` caps a origin's open connections (0: no cap, as today's aiohttp
    connector); resolved addresses are kept `dns_ttl_s` (aiohttp's `ttl_dns_cache`)."""

    def __init__(
        self,
        *,
        limit_per_host: int = 0,
        idle_expiry_s: float = IDLE_EXPIRY_S,
        ssl_context: ssl.SSLContext | None = None,
        max_head_bytes: int = MAX_HEAD_BYTES,
        high_water: int = HIGH_WATER,
        dns_ttl_s: float = 300.0,
    ) -> None:
        self._limit = limit_per_host
        self._expiry = idle_expiry_s
        self._ssl = ssl_context
        self._head_limit = max_head_bytes
        self._high_water = high_water
        self._dns_ttl = dns_ttl_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._targets: dict[str, Target] = {}
        self._idle: dict[tuple[bool, str, int], list[Connection]] = {}
        self._open: dict[tuple[bool, str, int], int] = {}  # per origin: connections, any state
        self._waiters: dict[tuple[bool, str, int], deque[asyncio.Future[None]]] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[tuple[int, str]]]] = {}
        self._all: set[Connection] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._closing = False
        self.opened = 0  # connections made
        self.dropped = 0  # pooled connections found closed when leaving the pool

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._closing = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._all):
            conn.abandon()
        self._idle.clear()

    # -- one request ---------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | StreamedBody | None = None,
        connect_s: float | None = None,
        read_s: float | None = None,
        total_s: float | None = None,
    ) -> NativeResponse:
        """One request, no redirects; the answer once its head arrived."""
        loop = self._loop
        assert loop is not None, "NativeHttp.start() was not awaited"
        target = self._targets.get(url)
        if target is None:
            target = self._target(url)
        streamed: StreamedBody | None = None
        if body is None:
            head = request_head(method, target, headers, None if method in _BODYLESS else 0)
        elif isinstance(body, bytes):
            head = request_head(method, target, headers, len(body))
        else:
            streamed = body
            head = request_head(method, target, headers, body.size, body.content_type)
        deadline = None if total_s is None else loop.time() + total_s
        conn = self._pooled(target.origin)
        if conn is None:
            conn = await self._connect(target, connect_s, deadline)
        resp = NativeResponse(loop, read_s)
        conn.attach(resp, method == "HEAD")
        if deadline is not None:
            resp._total = loop.call_at(deadline, resp._deadline, None, "total")
        transport = conn.transport
        assert transport is not None
        try:
            if isinstance(body, bytes) and body:
                if len(body) <= _ONE_WRITE:
                    transport.write(head + body)
                else:
                    transport.writelines((head, body))
            else:
                transport.write(head)
                if streamed is not None:
                    await self._send_blocks(conn, streamed)
            await resp.await_head()
        except BaseException:
            resp.close()  # cancelled or failed: this connection carries nothing more
            raise
        return resp

    async def _send_blocks(self, conn: Connection, body: StreamedBody) -> None:
        transport = conn.transport
        assert transport is not None
        left = body.size
        async for block in body.chunks():
            if left <= 0:
                break
            transport.write(block[:left])
            left -= len(block)
            await conn.drain()

    def _target(self, url: str) -> Target:
        try:
            target = target_of(url)
        except InvalidTarget as exc:
            raise UpstreamUnavailable(str(exc)) from exc
        if len(self._targets) >= _TARGETS_CACHED:
            self._targets.clear()
        self._targets[url] = target
        return target

    # -- the pool ------------------------------------------------------------------------

    def _pooled(self, origin: tuple[bool, str, int]) -> Connection | None:
        """The most recently used live idle connection, if any (measures 1 and 2)."""
        idle = self._idle.get(origin)
        if not idle:
            return None
        assert self._loop is not None
        now = self._loop.time()
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.idle_since >= self._expiry:
                conn.abandon()
                continue
            if conn.peer_closed():
                self.dropped += 1
                conn.abandon()
                continue
            return conn
        return None

    def release(self, conn: Connection) -> None:
        """A connection whose answer was read to its end, back to the idle list."""
        loop = self._loop
        assert loop is not None
        if self._closing:
            conn.abandon()
            return
        conn.idle_since = loop.time()
        idle = self._idle.get(conn.origin)
        if idle is None:
            idle = self._idle[conn.origin] = []
        idle.append(conn)
        if self._sweep is None:
            self._sweep = loop.call_at(conn.idle_since + self._expiry, self._sweep_idle)
        if self._limit:
            self._wake_one(conn.origin)

    def lost(self, conn: Connection) -> None:
        """The socket closed (either side): it no longer counts against its origin's cap."""
        self._all.discard(conn)
        if conn.counted:
            conn.counted = False
            self._open[conn.origin] -= 1
            if self._limit:
                self._wake_one(conn.origin)

    def _wake_one(self, origin: tuple[bool, str, int]) -> None:
        waiters = self._waiters.get(origin)
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _sweep_idle(self) -> None:
        """Close idle connections past their expiry; come back at the next one's."""
        self._sweep = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        earliest: float | None = None
        for idle in self._idle.values():
            keep = []
            for conn in idle:
                if conn.closed or now - conn.idle_since >= self._expiry:
                    conn.abandon()
                else:
                    keep.append(conn)
                    if earliest is None or conn.idle_since < earliest:
                        earliest = conn.idle_since
            idle[:] = keep
        if earliest is not None:
            self._sweep = loop.call_at(earliest + self._expiry, self._sweep_idle)

    # -- new connections -----------------------------------------------------------------

    async def _connect(
        self, target: Target, connect_s: float | None, deadline: float | None
    ) -> Connection:
        """A new connection, within `connect_s` and what is left of the total deadline (a
        wait for a free slot under `limit_per_host` counts against both)."""
        loop = self._loop
        assert loop is not None
        origin = target.origin
        budget = connect_s
        total_first = False
        if deadline is not None:
            left = deadline - loop.time()
            if budget is None or left < budget:
                budget, total_first = left, True
        try:
            async with asyncio.timeout(budget):
                if self._limit:
                    conn = await self._slot(origin)
                    if conn is not None:
                        return conn
                self._open[origin] = self._open.get(origin, 0) + 1
                try:
                    conn = await self._open_connection(target)
                except BaseException:
                    self._open[origin] -= 1
                    if self._limit:
                        self._wake_one(origin)
                    raise
        except TimeoutError as exc:
            raise UpstreamTimeout("total timeout" if total_first else "connect timeout") from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS (`SSLError` is an OSError)
            raise UpstreamUnavailable(type(exc).__name__) from exc
        return conn

    async def _slot(self, origin: tuple[bool, str, int]) -> Connection | None:
        """Under a per-origin cap: wait until a connection is idle (returned) or one closed."""
        assert self._loop is not None
        while self._open.get(origin, 0) >= self._limit:
            fut = self._loop.create_future()
            self._waiters.setdefault(origin, deque()).append(fut)
            try:
                await fut
            except BaseException:  # a deadline or a cancel: pass on a wake-up already given
                if fut.done() and not fut.cancelled():
                    self._wake_one(origin)
                fut.cancel()
                raise
            conn = self._pooled(origin)
            if conn is not None:
                return conn
        return None

    async def _open_connection(self, target: Target) -> Connection:
        loop = self._loop
        assert loop is not None
        tls: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()  # verified, with SNI
            tls = self._ssl
        if target.literal:
            addrs = [(0, target.host)]
        else:
            addrs = await self._resolve(target.host, target.port)
        error: OSError | None = None
        for family, host in addrs:  # each resolved address in turn, as aiohttp does
            try:
                _, conn = await loop.create_connection(
                    self._factory(target),
                    host,
                    target.port,
                    family=family,
                    ssl=tls,
                    server_hostname=target.host if tls is not None else None,
                )
            except OSError as exc:
                error = exc
                continue
            if conn.closed:  # lost before it could be used
                error = ConnectionResetError("connection closed as it opened")
                continue
            conn.counted = True
            self._all.add(conn)
            self.opened += 1
            return conn
        assert error is not None
        raise error

    def _factory(self, target: Target) -> Callable[[], Connection]:
        origin, head_limit, high_water = target.origin, self._head_limit, self._high_water
        return lambda: Connection(self, origin, head_limit, high_water)

    async def _resolve(self, host: str, port: int) -> list[tuple[int, str]]:
        loop = self._loop
        assert loop is not None
        key = (host, port)
        hit = self._dns.get(key)
        now = loop.time()
        if hit is not None and hit[0] > now:
            return hit[1]
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addrs: list[tuple[int, str]] = []
        for family, _, _, _, sockaddr in infos:
            entry = (int(family), str(sockaddr[0]))
            if entry not in addrs:
                addrs.append(entry)
        if not addrs:
            raise socket.gaierror(f"no address for {host}")
        self._dns[key] = (now + self._dns_ttl, addrs)
        return addrs
