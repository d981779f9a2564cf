"""R18.5's limits on what a client may make the server hold, and the answer that refuses it.

Shared by both HTTP protocols `serve` can run (`server.protocol`): the native one
(`torouter/server/native.py`) and uvicorn's with the limits added (`torouter/server/protocol.py`),
so that both refuse with the same bytes.
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any

from torouter.config import ServerSettings
from torouter.ids import request_id_for

__all__ = ["HeadBounds", "HeadTooLarge", "HttpLimits", "refusal", "status_line"]

log = logging.getLogger("torouter.server")

# The request line's bytes beyond the target: method, two spaces, "HTTP/1.1", CRLF; and the
# blank line. Each header line adds ": " and CRLF to its name and value.
_LINE_OVERHEAD = 16
_FIELD_OVERHEAD = 4


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 30.0
    body_timeout_s: float = 60.0

    @classmethod
    def of(cls, server: ServerSettings) -> HttpLimits:
        return cls(server.max_header_bytes, server.header_timeout_s, server.body_timeout_s)


def status_line(status: int) -> bytes:
    """`HTTP/1.1 <status> <phrase>` and CRLF (an unknown status has an empty phrase)."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


def refusal(
    status: int, text: str, default_headers: list[tuple[bytes, bytes]], request_id: str
) -> bytes:
    """The whole answer the server makes itself before closing: plain text, `connection:
    close` and the request's id (R8.6)."""
    body = text.encode("ascii")
    head = [status_line(status)]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head += [
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: ",
        str(len(body)).encode("ascii"),
        b"\r\nconnection: close\r\nx-request-id: ",
        request_id.encode("ascii"),
        b"\r\n\r\n",
        body,
    ]
    return b"".join(head)


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limit."""


class HeadBounds:
    """The bounds both protocols keep the same way (R18.5): how many bytes a head has taken,
    the 431 past `max_header_bytes`, the timers a split request arms, the 408 of a stalled
    head or body, and the refusal itself.

    A mixin: the protocol holds the parser's `url` and `headers`, the transport, the request
    being served (`cycle`), the per-read counters and the timers, and says whether the
    application has paused reading (`_read_paused`) and how a request learns its client is
    gone (`_lose_cycle`).
    """

    url: bytes
    headers: list[tuple[bytes, bytes]]
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    cycle: Any  # the request being served: `response_started`, `response_complete`, …
    server_state: Any  # uvicorn's: `default_headers`
    _limits: HttpLimits
    _max_head: int
    _in_message: bool
    _head_open: bool
    _head_new: bool
    _head_bytes: int
    _read_len: int
    _begins: int
    _body_seen: float
    _head_timer: asyncio.TimerHandle | None
    _body_timer: asyncio.TimerHandle | None

    def _read_paused(self) -> bool:
        """Whether reading is paused because the application has not asked for more."""
        raise NotImplementedError

    def _lose_cycle(self) -> None:
        """Tell a request still being served that its client is gone: it must not answer."""
        raise NotImplementedError

    def _head_closed(self) -> None:
        """The head is complete: its timer stops, and one over the limit stops the parser."""
        self._head_open = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        # Received since the head began: at most what came before plus this read.
        limit = self._max_head
        if self._head_bytes + self._read_len > limit and self._head_size() > limit:
            raise HeadTooLarge

    def _head_size(self) -> int:
        """The bytes of the head the parser has handed over: request target and whole fields."""
        size = len(self.url) + _LINE_OVERHEAD
        for name, value in self.headers:
            size += len(name) + len(value) + _FIELD_OVERHEAD
        return size

    def _incomplete(self, fresh: bool) -> None:
        if self._head_open:
            if not self._head_new:
                self._head_bytes += self._read_len  # the whole read belongs to the head
            elif fresh and self._begins == 1:
                self._head_bytes = self._read_len  # the read started with this head
            else:
                # Another message ended in this read first: count what the parser has handed
                # over; the line it holds is counted with the next read.
                self._head_bytes = self._head_size()
            self._head_new = False
            if self._head_bytes > self._max_head:
                self._refuse(431, "Request Header Fields Too Large")
            elif self._head_timer is None:
                self._head_timer = self.loop.call_later(
                    self._limits.header_timeout_s, self._head_late
                )
            return
        self._body_seen = self.loop.time()
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(self._limits.body_timeout_s, self._body_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_message and self._head_open:
            self._refuse(408, "Request Timeout")
        elif not self._in_message:
            self.transport.close()  # not a byte of a request yet

    def _body_late(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or not self._in_message or self._head_open or cycle is None:
            return
        now = self.loop.time()
        if self._read_paused() or cycle.waiting_for_100_continue:
            # The application has not asked for more yet: the client is not the one waiting.
            self._body_seen = now
        left = self._body_seen + self._limits.body_timeout_s - now
        if left > 0:
            self._body_timer = self.loop.call_later(left, self._body_late)
        elif cycle.response_started:  # answered already (early): no second answer, just close
            log.warning("request body stalled; connection closed", extra=self._peer())
            self._lose_cycle()
            self.transport.close()
        else:
            self._refuse(408, "Request Timeout", own_cycle=True)

    def _refuse(self, status: int, text: str, *, own_cycle: bool = False) -> None:
        """Answer `status` with a short text and close the connection.

        `own_cycle`: the request being served, not answered yet, is the one refused (a
        stalled body). Otherwise the refused request is a later one, and while an earlier
        answer is unfinished nothing is written, so a pipelining client never takes ours for
        the earlier request's.
        """
        rid = request_id_for(self._incoming_request_id())
        log.warning(
            "%d %s; connection closed",
            status,
            http.HTTPStatus(status).phrase,
            extra={**self._peer(), "request_id": rid},
        )
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        self._lose_cycle()
        if not (busy and not own_cycle):
            self.transport.write(refusal(status, text, self.server_state.default_headers, rid))
        self.transport.close()

    def _incoming_request_id(self) -> bytes | None:
        for name, value in self.headers or ():
            if name == b"x-request-id":
                return value
        return None

    def _peer(self) -> dict[str, Any]:
        return {"client": self.client[0]} if self.client else {}
