"""One upstream connection of the native client (`upstreams/native.py`): an `asyncio.Protocol`
that feeds httptools' response parser, and the answer it fills (`NativeResponse`).

The protocol holds what lives as long as the socket (transport, parser, whether it may carry
another request); the response holds what lives for one exchange (head, unread body, the error
that ended it, the deadlines). Reads never copy more than a join of what arrived since the last
read, and the socket stops being read while more than `high_water` bytes sit unread, so a slow
client relays a long stream with bounded memory (R20.2).

Framing is httptools' (llhttp): content-length and chunked bodies (extensions and trailers
parsed and dropped) end at `on_message_complete`; a body with neither ends when the server
closes (RFC 9112 §6.3 rule 8), which `eof_received` / `connection_lost` recognise, since
httptools has no `finish()`. Interim 1xx answers are skipped. An answer to `HEAD` has no body
whatever its headers say: it ends at its head, and the connection is not reused (the parser
cannot be told to expect no body).
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from httptools import HttpParserError, HttpResponseParser
from multidict import CIMultiDict

from torouter.upstreams.transport import UpstreamFailure, UpstreamTimeout, UpstreamUnavailable

if TYPE_CHECKING:
    from torouter.upstreams.native import NativeHttp

__all__ = ["Connection", "NativeResponse"]


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


def _failure(cls: type[UpstreamFailure], why: str, cause: BaseException | None) -> UpstreamFailure:
    """A seam error chained to its cause, as `raise … from exc` would (it is raised later, by
    whichever read is waiting, not where the cause was seen)."""
    err = cls(why)
    err.__cause__ = cause
    return err


class NativeResponse:
    """An `UpstreamResponse`: the head, then the body as the connection delivers it."""

    __slots__ = (
        "_chunks",
        "_closed",
        "_conn",
        "_eof",
        "_exc",
        "_loop",
        "_read_s",
        "_size",
        "_total",
        "_waiter",
        "headers",
        "status",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, read_s: float | None) -> None:
        self.status = 0  # 0 until the head arrived
        self.headers: Mapping[str, str] = _NO_HEADERS  # a `CIMultiDict` once the head arrived
        self._loop = loop
        self._read_s = read_s
        self._conn: Connection | None = None
        self._chunks: list[bytes] = []
        self._size = 0  # bytes in `_chunks`
        self._eof = False  # the body ended (framing says so, or the head needs no body)
        self._exc: UpstreamFailure | None = None  # what ended the exchange early
        self._waiter: asyncio.Future[None] | None = None  # the one pending read
        self._total: asyncio.TimerHandle | None = None  # the `total_s` deadline
        self._closed = False

    # -- reading -------------------------------------------------------------------------

    async def read_chunk(self) -> bytes:
        while True:
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._size = 0
                conn = self._conn
                if conn is not None and conn.paused:
                    conn.resume()
                return data
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return b""
            await self._wait()

    async def read(self, limit: int | None = None) -> bytes:
        if limit is None and self._eof and self._exc is None:  # the whole body is here
            return await self.read_chunk()
        parts: list[bytes] = []
        size = 0
        while limit is None or size < limit:
            chunk = await self.read_chunk()
            if not chunk:
                break
            if limit is not None and size + len(chunk) > limit:
                keep = limit - size
                self._chunks.insert(0, chunk[keep:])  # left unread, for a later read
                self._size += len(chunk) - keep
                chunk = chunk[:keep]
            parts.append(chunk)
            size += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _wait(self) -> None:
        """Until the connection delivers something (data, the end, an error), at most `read_s`."""
        fut = self._loop.create_future()
        self._waiter = fut
        timer = None
        if self._read_s is not None:
            timer = self._loop.call_later(self._read_s, self._deadline, fut, "read")
        try:
            await fut
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def await_head(self) -> None:
        while not self.status:
            if self._exc is not None:
                raise self._exc
            await self._wait()

    # -- ending --------------------------------------------------------------------------

    def _deadline(self, fut: asyncio.Future[None] | None, phase: str) -> None:
        """A timer fired: `read` (silence while a read waited) or `total` (the whole call)."""
        if self._closed or (fut is not None and fut is not self._waiter):
            return
        if phase == "total" and self._eof:
            return  # the body is all here: reading it needs no more time
        self.fail(UpstreamTimeout(f"{phase} timeout"))

    def fail(self, err: UpstreamFailure) -> None:
        """End the exchange with `err` (the first error wins) and drop the connection."""
        if self._exc is None and not self._eof:
            self._exc = err
        _wake(self._waiter)
        if self._conn is not None:
            self._conn.abandon()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._total is not None:
            self._total.cancel()
        conn = self._conn
        if conn is None:
            return
        if self._eof and not self._chunks and self._exc is None and conn.reusable:
            conn.release()
            return
        if self._exc is None:
            self._exc = UpstreamUnavailable("response closed")  # a pending read fails
        self._eof = False
        _wake(self._waiter)
        conn.abandon()


_NO_HEADERS: CIMultiDict[str] = CIMultiDict()


class Connection(asyncio.Protocol):
    """One socket to an upstream origin, carrying one exchange at a time."""

    def __init__(self, pool: NativeHttp, origin: Any, head_limit: int, high_water: int) -> None:
        self.pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        self.parser = HttpResponseParser(self)
        self.response: NativeResponse | None = None  # the exchange in progress, if any
        self.closed = False  # the socket is gone (or going)
        self.reusable = True  # may carry another request after this one
        self.paused = False  # reading paused: the response holds `high_water` unread bytes
        self.idle_since = 0.0
        self.head_request = False  # the exchange is a HEAD: its answer has no body
        self.counted = False  # counted in the pool's per-origin total
        self._head_limit = head_limit
        self._high_water = high_water
        self._head_seen = 0  # bytes received before the head completed
        self._head_done = False
        self._until_close = False
        self._raw: list[tuple[bytes, bytes]] = []
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    # -- the pool's side -----------------------------------------------------------------

    def attach(self, resp: NativeResponse, head_request: bool) -> None:
        self.response = resp
        resp._conn = self
        self.head_request = head_request

    def peer_closed(self) -> bool:
        """An idle HTTP/1.1 connection has nothing to read unless the server closed it (or sent
        what nobody asked for): either way it must not carry a request. One poll, no wait."""
        if self.closed or self.fd < 0:
            return True
        try:
            poller = select.poll()
            poller.register(self.fd, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def release(self) -> None:
        """The exchange ended cleanly: back to the pool for the next request."""
        self.response = None
        self._head_done = False
        self._head_seen = 0
        self.pool.release(self)

    def abandon(self) -> None:
        """Drop the socket now (an exchange ended early, or the pool lets it go)."""
        self.reusable = False
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.abort()

    def resume(self) -> None:
        self.paused = False
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Wait while the socket's write buffer is over its high-water mark (a streamed body)."""
        if self._write_paused and not self.closed:
            fut = asyncio.get_running_loop().create_future()
            self._drain = fut
            try:
                await fut
            finally:
                self._drain = None
        if self.closed:
            resp = self.response
            raise (resp._exc if resp is not None and resp._exc else None) or UpstreamUnavailable(
                "connection lost while sending the body"
            )

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport: TCP or TLS
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # bytes nobody asked for: the connection cannot be trusted
            self.abandon()
            return
        if not self._head_done:
            self._head_seen += len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserError as exc:
            self._broken(_failure(UpstreamUnavailable, f"malformed answer: {exc}", exc))
            return
        if not self._head_done and self._head_seen > self._head_limit:
            self._broken(UpstreamUnavailable(f"answer head over {self._head_limit} bytes"))

    def eof_received(self) -> bool:
        self._ended(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        _wake(self._drain)
        self._ended(exc)
        self.pool.lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        _wake(self._drain)

    def _ended(self, exc: Exception | None) -> None:
        """The server closed: the end of a read-until-close body, else a failure."""
        self.reusable = False
        resp = self.response
        if resp is None or resp._eof or resp._exc is not None:
            return
        if self._head_done and self._until_close and exc is None:
            resp._eof = True
            _wake(resp._waiter)
            return
        why = type(exc).__name__ if exc is not None else "ServerDisconnected"
        resp.fail(_failure(UpstreamUnavailable, why, exc))

    def _broken(self, err: UpstreamFailure) -> None:
        resp = self.response
        if resp is not None:
            resp.fail(err)  # a no-op on a finished answer, but the connection goes
        self.abandon()

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._head_done:  # bytes after this exchange's answer: nobody asked for them
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        raw, self._raw = self._raw, []
        resp = self.response
        if status < 200:  # an interim answer (103 Early Hints): the real one follows
            if status == 101:  # nothing asked to switch protocols
                self._broken(UpstreamUnavailable("unexpected 101 Switching Protocols"))
            return
        if resp is None or self._head_done:  # a second answer to one request
            self._broken(UpstreamUnavailable("answer nobody asked for"))
            return
        self._head_done = True
        headers = CIMultiDict([(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw])
        resp.headers = headers
        resp.status = status
        if self.head_request:
            resp._eof = True
            self.reusable = False  # the parser would take the next answer's bytes for a body
        elif status != 204 and status != 304:
            self._until_close = "content-length" not in headers and (
                "transfer-encoding" not in headers
            )
        _wake(resp._waiter)

    def on_body(self, body: bytes) -> None:
        resp = self.response
        if resp is None or resp._eof:
            return
        resp._chunks.append(body)
        resp._size += len(body)
        if resp._size > self._high_water and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        _wake(resp._waiter)

    def on_message_complete(self) -> None:
        if not self._head_done:  # the end of an interim 1xx answer
            return
        if not self.parser.should_keep_alive():  # `connection: close`, HTTP/1.0
            self.reusable = False
        resp = self.response
        if resp is not None and not resp._eof:
            resp._eof = True
            _wake(resp._waiter)
