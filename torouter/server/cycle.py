"""One request and its answer on the native HTTP/1.1 protocol: the ASGI `receive` and `send`.

Built directly by `torouter/server/native.py` (never a class swapped onto another's instance:
that de-specialises every attribute access, bench/README.md "Fifth session"), with slots. What it
saves against uvicorn's cycle, per request:
- no `asyncio.Event`: `receive` returns a body that is already there without waiting; a future
  is made only when it must wait (a body still arriving, or the watch for a disconnect);
- the head is formatted in one pass: the per-second `date` (and any configured headers) comes
  pre-joined from the protocol; each header is lowered once; no regular expression runs on
  it. What a regular expression guarded, a header that splits the answer, is checked once on
  the joined head at C speed: it must hold exactly one CR and one LF per line;
- an answer's head goes out with its first body part, in one write (a whole answer with a
  `content-length`: one write; a stream: its head with its first event). An app that starts an
  answer and then waits on the client (`receive`) has the head written then, so a client never
  waits for a head the app considers sent while the app waits for the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from torouter.server.limits import status_line

if TYPE_CHECKING:
    from torouter.server.native import NativeHttpProtocol

__all__ = ["STATUS_LINES", "Cycle", "service_unavailable"]

log = logging.getLogger("torouter.server")

STATUS_LINES = {status: status_line(status) for status in range(100, 600)}
HIGH_WATER = 64 * 1024  # request-body bytes buffered before reading pauses (as uvicorn)
_DISCONNECT = {"type": "http.disconnect"}  # copied per call: an app may keep what it gets
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUS = frozenset({204, 304})

Scope = dict[str, Any]
Message = dict[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Any]


class Cycle:
    __slots__ = (
        "_chunked",
        "_close_delimited",
        "_ended",
        "_head",
        "_left",
        "_proto",
        "_size",
        "_waiters",
        "app",
        "chunks",
        "disconnected",
        "head_request",
        "keep_alive",
        "more_body",
        "response_complete",
        "response_started",
        "scope",
        "task",
        "waiting_for_100_continue",
    )

    def __init__(
        self,
        proto: NativeHttpProtocol,
        scope: Scope,
        keep_alive: bool,
        expect_100: bool,
        app: App,
    ) -> None:
        self._proto = proto
        self.app = app
        self.scope = scope
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100
        self.head_request = scope["method"] == "HEAD"
        self.chunks: list[bytes] = []  # request body received, not yet handed to the app
        self._size = 0
        self.more_body = True  # the request body has not ended
        self._ended = False  # the app was handed the body's end
        # One future per `receive` waiting (an app may wait in two tasks; a cancelled one must
        # not take another's wake-up with it).
        self._waiters: list[asyncio.Future[None]] | None = None
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self._chunked = False
        self._close_delimited = False  # an HTTP/1.0 answer of unknown length: ends at close
        self._left = 0  # answer-body bytes still due under its content-length
        self._head: bytes | None = None  # a formatted head held for the first body part
        self.task: asyncio.Task[None] | None = None  # the one running `run_asgi`

    # -- the protocol's side -----------------------------------------------------------------

    def feed(self, body: bytes) -> bool:
        """A piece of the request body; True when so much is buffered that reading must pause."""
        self.chunks.append(body)
        self._size += len(body)
        self.wake()
        return self._size > HIGH_WATER

    def wake(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def lost(self) -> None:
        """The client is gone: every later `receive` says so, every `send` is dropped."""
        if not self.response_complete:
            self.disconnected = True
        self.wake()

    # -- ASGI ------------------------------------------------------------------------------

    async def run_asgi(self) -> None:
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            log.error("exception in the ASGI application", exc_info=exc)
            if not self.response_started and not self.disconnected:
                await self._send_500()
            else:
                self._proto.transport.close()
        else:
            if result is not None:
                log.error("the ASGI application returned %r instead of None", result)
                self._proto.transport.close()
            elif not self.response_started and not self.disconnected:
                log.error("the ASGI application returned without starting an answer")
                await self._send_500()
            elif not self.response_complete and not self.disconnected:
                log.error("the ASGI application returned without completing its answer")
                self._proto.transport.close()
        finally:
            self._proto.tasks.discard(self.task)

    async def receive(self) -> Message:
        if self.waiting_for_100_continue:
            self.waiting_for_100_continue = False
            if not self._proto.transport.is_closing():
                self._proto.transport.write(_CONTINUE)
        while True:
            if self.disconnected or self.response_complete:
                return dict(_DISCONNECT)
            chunks = self.chunks
            if chunks or (not self.more_body and not self._ended):
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._size = 0
                more = self.more_body
                self._ended = not more
                return {"type": "http.request", "body": body, "more_body": more}
            # Nothing to hand over: the body is still coming, or only the end remains to see.
            if self._head is not None:  # the app waits on the client: its head goes out now
                self._proto.transport.write(self._head)
                self._head = None
            self._proto.want_more()
            waiter = self._proto.loop.create_future()
            if self._waiters is None:
                self._waiters = [waiter]
            else:
                self._waiters.append(waiter)
            await waiter

    async def send(self, message: Message) -> None:
        proto = self._proto
        if proto.write_paused and not self.disconnected:
            await proto.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            self._start(message["status"], message.get("headers", ()))
        elif not self.response_complete:
            if kind != "http.response.body":
                raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if more and self._chunked and self._head is None:
                # A stream's event in the middle: the one path per event, kept inline.
                if body:
                    proto.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
                return
            self._body(body, more)
        else:
            raise RuntimeError(f"{kind!r} sent after the answer completed")

    # -- the answer ------------------------------------------------------------------------

    def _start(self, status: int, headers: Any) -> None:
        proto = self._proto
        parts = [STATUS_LINES[status], proto.constant_head()]
        length: int | None = None
        chunked = False
        close = False
        lines = 2  # the status line and the blank line
        for name, value in headers:
            name = name.lower()
            if name == b"content-length":
                if length is None:
                    length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            elif name == b"connection" and b"close" in value.lower():
                close = True
            parts += (name, b": ", value, b"\r\n")
            lines += 1
        lines += proto.constant_lines
        # Decided in locals and kept only once the head is valid: a refused head leaves the
        # cycle as it was, for the 500 that follows.
        keep_alive = self.keep_alive and not close
        if keep_alive and self.waiting_for_100_continue and self.more_body:
            # The client waits for our 100 before sending a body we will now never ask for:
            # its next bytes cannot be told apart from a next request.
            keep_alive = False
        left = 0
        framed_by_chunks = close_delimited = False
        if length is not None and not chunked:
            left = length
        elif not self.head_request and status not in _NO_BODY_STATUS:
            if self.scope["http_version"] == "1.0" and not chunked:
                # An HTTP/1.0 client cannot read chunks: the body ends with the connection.
                close_delimited = True
                keep_alive = False
            else:
                framed_by_chunks = True
                if not chunked:
                    parts.append(b"transfer-encoding: chunked\r\n")
                    lines += 1
        if not keep_alive and not close:
            parts.append(b"connection: close\r\n")
            lines += 1
        parts.append(b"\r\n")
        head = b"".join(parts)
        # One scan each, in C: an app's header holding a CR or LF would split the answer.
        if head.count(b"\n") != lines or head.count(b"\r") != lines:
            raise RuntimeError("invalid HTTP header: a name or value holds CR or LF")
        self.response_started = True
        self.waiting_for_100_continue = False
        self.keep_alive = keep_alive
        self._left = left
        self._chunked = framed_by_chunks
        self._close_delimited = close_delimited
        if (left or framed_by_chunks) and not self.head_request:
            self._head = head  # written with the first body part (or before `receive` waits)
        else:
            proto.transport.write(head)

    def _body(self, body: bytes, more: bool) -> None:
        transport = self._proto.transport
        head = self._head
        if self.head_request:
            body = b""  # the head only; what the app sends is dropped
            self._left = 0
        elif self._chunked:
            out = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more:
                out += b"0\r\n\r\n"
            if head is not None:
                self._head = None
                out = head + out
            if out:
                transport.write(out)
        else:
            if not self._close_delimited:
                left = self._left - len(body)
                if left < 0:
                    raise RuntimeError("answer body longer than its content-length")
                self._left = left
            if head is not None:
                self._head = None
                if len(body) < HIGH_WATER:
                    transport.write(head + body)
                else:
                    transport.writelines((head, body))
            elif body:
                transport.write(body)
        if more:
            return
        if self._left:
            raise RuntimeError("answer body shorter than its content-length")
        self.response_complete = True
        self.wake()
        if not self.keep_alive:
            transport.close()
        self._proto.answered(self)

    async def _send_500(self) -> None:
        await _plain_answer(self.send, 500, b"Internal Server Error")


async def service_unavailable(scope: Scope, receive: Any, send: Any) -> None:
    """The answer past uvicorn's `limit_concurrency` (not set by `serve`)."""
    await _plain_answer(send, 503, b"Service Unavailable")


async def _plain_answer(send: Any, status: int, text: bytes) -> None:
    """A short plain-text answer the server makes itself; the connection closes after it."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
