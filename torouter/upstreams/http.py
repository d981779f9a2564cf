"""The one pooled aiohttp client per worker (`upstreams/transport.py`'s real transport), and the
one boundary where aiohttp's errors, `OSError` and timeouts become `UpstreamFailure`s.

Keep-alive connections race the upstream's idle timeout: the server may close a pooled
connection just as a request is handed to it, and a healthy upstream then looks failed (R9.4
counts a network failure and fails over: a 502 when the model has one channel). Three measures:

1. Pooled connections expire after `IDLE_EXPIRY_S` (4 s), below the 5 s idle timeout of the
   servers common behind self-hosted upstreams (uvicorn: vLLM, LiteLLM, the mock; Node;
   llama.cpp), so the pool closes first. Cloud APIs keep idle connections for minutes; the
   official SDKs (httpx) already expire theirs after 5 s, so a direct client pays the same.
2. A reused connection is checked twice for a close the event loop has not processed yet — when
   it leaves the pool (`UpstreamConnector`) and right before the request's first byte
   (`_GuardedBody`): an idle HTTP/1.1 connection has nothing to read unless the server closed
   it. Under load the server's FIN sits in the kernel while the busy loop runs other callbacks,
   and aiohttp would write the request into a dead connection.
3. A request on a pooled connection whose body never started to go out — the second check
   refused the write, or the connection failed before aiohttp's writer ran (aiohttp sends the
   request head together with the body's first bytes) — is sent again on another connection,
   at most `_RESENDS` times, without a channel failure. This cannot double-send: not one byte
   reached the upstream, and the fact is recorded by the body itself, not guessed from an
   exception. A failure after bytes were written (EOF or reset with no answer) is never re-sent
   here — the upstream may have read and processed the request (RFC 9112 §9.3.1 retries a POST
   only when it was never applied) — and stays a network failure for the relay to classify.

Measured with a uvicorn upstream on the same loop, the loop held 20 ms at a time and requests
sent right at the server's 5 s idle edge: 21 of 720 failed before (14 written into a closing
connection, 7 reset after the write); with measures 2 and 3 alone the written-into-a-dead-
connection ones are gone (13–30 caught per run) but 17–23 resets after the write remain; with
all three, none.
"""

from __future__ import annotations

import logging
import select
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.payload import BytesPayload, Payload

from torouter.upstreams.transport import (
    StreamedBody,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["IDLE_EXPIRY_S", "UpstreamConnector", "UpstreamHttp", "upstream_errors"]

log = logging.getLogger("torouter.upstreams")

IDLE_EXPIRY_S = 4.0
_RESENDS = 2  # each only after a write was refused, so nothing was sent


class UpstreamConnector(aiohttp.TCPConnector):
    """A `TCPConnector` that never hands out a pooled connection the server has closed, and
    tells a guarded body whether its connection came from the pool."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()  # protocols handed out before
        self.dropped = 0  # pooled connections found closed when leaving the pool

    async def connect(
        self,
        req: Any,
        traces: Any,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Any:
        while True:
            conn = await super().connect(req, traces, timeout)
            proto = conn.protocol
            reused = proto is not None and proto in self._seen
            if reused and proto is not None and closed_by_peer(proto.transport):
                self.dropped += 1
                conn.close()
                continue
            if proto is not None:
                self._seen.add(proto)
            body = getattr(req, "body", None)
            if isinstance(body, _GuardedBody):
                body.reused = reused
            return conn


def closed_by_peer(transport: Any) -> bool:
    """True when an idle connection's socket has something to read — EOF, a reset, or bytes no
    request asked for — or is gone. Either way it must not carry the next request. One poll
    syscall, no wait."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or transport.is_closing():
        return True
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class _GuardedBody(BytesPayload):
    """A bytes body that knows whether any of the request left: aiohttp holds the request head
    back and sends it with the body's first bytes, so until `started` nothing was written.
    Right before that, it checks a pooled connection once more and refuses a dead one."""

    def __init__(self, value: bytes) -> None:
        super().__init__(value)
        self.reused = False  # set by `UpstreamConnector.connect`
        self.started = False

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        proto = getattr(writer, "protocol", None)
        # A fresh connection is not polled: TLS session tickets may be waiting to be read.
        if proto is not None and (
            not proto.is_connected() or (self.reused and closed_by_peer(proto.transport))
        ):
            proto.close()  # the response waiter fails at once, and it never goes back
            raise ClientConnectionResetError("connection closed before the request")
        self.started = True
        await super().write_with_length(writer, content_length)

    @property
    def unsent(self) -> bool:
        """Nothing of the request left, on a connection from the pool: safe to send again."""
        return self.reused and not self.started


# What the boundary maps; anything else escaping an upstream call is a bug of ours (E20).
_FOREIGN = (TimeoutError, aiohttp.ClientError, OSError)


def _mapped(exc: BaseException) -> UpstreamFailure:
    """The project's error for one of `_FOREIGN`. aiohttp's read and connect timeouts are
    `TimeoutError`s too (and `ClientError`s), so the timeout test comes first."""
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(type(exc).__name__)
    return UpstreamUnavailable(type(exc).__name__)


class _Boundary:
    """The error boundary as a reusable context manager: no generator, no allocation per use.
    The calls below inline the same `try` instead: on this project's interpreter a `with`
    costs about 1.2 µs against 0.02 µs for a `try` that does not raise (a `contextmanager`
    generator, 7 µs), and they run once or more per request."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and isinstance(exc, _FOREIGN):
            raise _mapped(exc) from exc


_BOUNDARY = _Boundary()


def upstream_errors() -> _Boundary:
    """`with upstream_errors():` — aiohttp errors, `OSError` and timeouts leave as
    `UpstreamFailure`, `raise … from exc`; anything else passes untouched. The per-chunk read
    inlines the same `try` and maps through the same `_mapped`."""
    return _BOUNDARY


class _Response:
    """An `UpstreamResponse` over aiohttp's: nothing copied, reads mapped at the boundary."""

    __slots__ = ("_content", "_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self._content = resp.content
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read_chunk(self) -> bytes:
        try:
            return await self._content.readany()
        except _FOREIGN as exc:
            raise _mapped(exc) from exc

    async def read(self, limit: int | None = None) -> bytes:
        try:
            if limit is None:
                return await self._content.read()
            parts: list[bytes] = []
            size = 0
            while size < limit:  # `read(n)` answers what is buffered, up to n
                part = await self._content.read(limit - size)
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except _FOREIGN as exc:
            raise _mapped(exc) from exc
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        # aiohttp's `release()` keeps the connection only when the protocol has nothing left
        # unread; a body abandoned part-way is closed outright, as the relay always did.
        if self._content.at_eof():
            self._resp.release()
        else:
            self._resp.close()


class _StreamedPayload(Payload):
    """An aiohttp body written from a `StreamedBody`'s blocks, with its exact length."""

    _autoclose = True  # the body's owner closes its storage after the request

    def __init__(self, body: StreamedBody) -> None:
        super().__init__(body, content_type=body.content_type)
        self._body = body
        self._size = body.size
        self._length = body.size  # aiohttp types `_size` as optional; this one is always known

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed body is not text")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        left = content_length if content_length is not None else self._length
        async for block in self._body.chunks():
            if left <= 0:
                return
            await writer.write(block[:left])
            left -= len(block)


class UpstreamHttp:
    """Owns the `ClientSession`: keep-alive pool, no decompression (usage is read as sent)."""

    def __init__(
        self,
        *,
        limit: int = 0,
        limit_per_host: int = 0,
        idle_expiry_s: float = IDLE_EXPIRY_S,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        proxy: str | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
        connector: Callable[..., UpstreamConnector] = UpstreamConnector,
    ) -> None:
        """`proxy`/`proxy_auth`: an http(s) egress proxy for every request; `connector`: the
        pool's class (a SOCKS one, `upstreams/egress_socks.py`). Both from `egress.py`."""
        self._proxy = proxy
        self._proxy_auth = proxy_auth
        self._connector = connector
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._idle_expiry = idle_expiry_s
        self._trace_configs = trace_configs
        self.session: aiohttp.ClientSession | None = None
        self.connector: UpstreamConnector | None = None
        self.resent = 0  # requests sent again because their connection was dead before the write
        # One `ClientTimeout` per distinct deadlines: channels share a few, built once.
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        self.connector = self._connector(
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            ttl_dns_cache=300,
            keepalive_timeout=self._idle_expiry,
            enable_cleanup_closed=True,
        )
        self.session = aiohttp.ClientSession(
            connector=self.connector,
            auto_decompress=False,
            # Upstream cookies must not travel from one caller's request to another's.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=None),
            trace_configs=self._trace_configs,
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
        )

    def _timeout(
        self, connect: float | None, read: float | None, total: float | None
    ) -> aiohttp.ClientTimeout:
        key = (connect, read, total)
        t = self._timeouts.get(key)
        if t is None:
            t = self._timeouts[key] = aiohttp.ClientTimeout(
                total=total, sock_connect=connect, sock_read=read
            )
        return t

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
    ) -> _Response:
        """One request, no redirects. A bytes body whose pooled connection failed before its
        first byte left is sent again on another connection (module docstring, measure 3); a
        streamed body (a multipart spool) goes out once."""
        session = self.session
        assert session is not None
        timeout = self._timeout(connect_s, read_s, total_s)
        try:
            if not isinstance(body, bytes):
                data = _StreamedPayload(body) if body is not None else None
                resp = await session.request(
                    method, url, data=data, headers=headers, timeout=timeout, allow_redirects=False
                )
                return _Response(resp)
            resends = 0
            while True:
                guarded = _GuardedBody(body)
                try:
                    resp = await session.request(
                        method,
                        url,
                        data=guarded,
                        headers=headers,
                        timeout=timeout,
                        allow_redirects=False,
                    )
                    return _Response(resp)
                except aiohttp.ClientError:
                    if not guarded.unsent or resends == _RESENDS:
                        raise
                resends += 1
                self.resent += 1
                log.info("upstream connection closed before the request was written; sent again")
        except _FOREIGN as exc:
            raise _mapped(exc) from exc

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
