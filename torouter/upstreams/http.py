"""The one pooled aiohttp client per worker, and the boundary where its errors are mapped.

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
from typing import Any

import aiohttp
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.payload import BytesPayload

__all__ = ["IDLE_EXPIRY_S", "UpstreamConnector", "UpstreamHttp"]

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
            if reused and closed_by_peer(proto.transport):
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


class UpstreamHttp:
    """Owns the `ClientSession`: keep-alive pool, no decompression (usage is read as sent)."""

    def __init__(
        self,
        *,
        limit: int = 0,
        limit_per_host: int = 0,
        idle_expiry_s: float = IDLE_EXPIRY_S,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._idle_expiry = idle_expiry_s
        self._trace_configs = trace_configs
        self.session: aiohttp.ClientSession | None = None
        self.connector: UpstreamConnector | None = None
        self.resent = 0  # requests sent again because their connection was dead before the write
        self._timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        self.connector = UpstreamConnector(
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
        )

    def timeout(self, connect: float, idle: float) -> aiohttp.ClientTimeout:
        key = (connect, idle)
        t = self._timeouts.get(key)
        if t is None:
            t = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=connect, sock_read=idle
            )
        return t

    async def post(
        self, url: str, *, data: Any, headers: dict[str, str], limits: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """POST without redirects. A bytes body whose pooled connection failed before its first
        byte left is sent again on another connection (module docstring, measure 3); other
        bodies (multipart spools) go out once."""
        session = self.session
        assert session is not None
        if not isinstance(data, bytes):
            return await session.post(
                url, data=data, headers=headers, timeout=limits, allow_redirects=False
            )
        resends = 0
        while True:
            body = _GuardedBody(data)
            try:
                return await session.post(
                    url, data=body, headers=headers, timeout=limits, allow_redirects=False
                )
            except aiohttp.ClientError:
                if not body.unsent or resends == _RESENDS:
                    raise
            resends += 1
            self.resent += 1
            log.info("upstream connection closed before the request was written; sent again")

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
