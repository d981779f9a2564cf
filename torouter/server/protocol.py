"""uvicorn's httptools protocol with a header-size limit and read timeouts (R18.5).

uvicorn bounds a request head only in its h11 protocol (`h11_max_incomplete_event_size`). Under
httptools, the parser `serve` runs, a header line is kept by the parser until it ends, however
long (300 connections holding 3 MB headers took the process from 151 MB to 1 GB), and a
connection that stops half-way through its request line, headers or body stays open for good.
This subclass counts a head's bytes as the parser receives them and answers 431 (and closes)
past `max_header_bytes`, and bounds each wait on the client:

    connection opened, or a request's first byte ──header_timeout_s──► its last header byte
    inside a request body                        ──body_timeout_s of silence──►
    a kept-alive connection between requests     ──idle_timeout_s──► closed (uvicorn's timer)

A head or body that stalls gets 408 and the connection is closed (a connection that never sent
a byte is just closed). Every answer the server makes itself (400, 408, 431) carries
`x-request-id` (R8.6).

Cost on the hot path: a request that arrives in one read — nearly all of them — pays a few
attribute writes in `on_message_begin`, one test per read and one sum in `on_headers_complete`;
timers are armed only for a new connection and a head or body split across reads. Counted with
callgrind through `bench/server_protocol.py`: about 4,600 instructions per request more than
uvicorn's protocol, some 0.3 % of a gateway request's ~1.5 million.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from torouter.server.limits import HeadBounds, HeadTooLarge, HttpLimits

__all__ = ["BoundedHttpToolsProtocol", "HttpLimits", "protocol_factory"]

log = logging.getLogger("torouter.server")


def protocol_factory(limits: HttpLimits) -> Any:
    """What to pass as uvicorn's `http=`: a picklable factory (workers are spawned)."""
    return functools.partial(BoundedHttpToolsProtocol, limits=limits)


# uvicorn's callbacks, called directly: `super()` in a parser callback costs a frame lookup and a
# bound-method object on every request (measured with callgrind: about 1,500 instructions each).
_on_message_begin = HttpToolsProtocol.on_message_begin
_on_headers_complete = HttpToolsProtocol.on_headers_complete
_on_message_complete = HttpToolsProtocol.on_message_complete


class BoundedHttpToolsProtocol(HttpToolsProtocol, HeadBounds):
    def __init__(self, *args: Any, limits: HttpLimits = HttpLimits(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._max_head = limits.max_header_bytes
        self._in_message = False  # between on_message_begin and on_message_complete
        self._head_open = False  # between on_message_begin and on_headers_complete
        self._head_new = False  # the head began in the read being parsed
        self._head_bytes = 0  # bytes of the open head received in earlier reads
        self._read_len = 0  # length of the read being parsed
        self._begins = 0  # messages begun in the read being parsed
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_seen = 0.0  # loop time of the latest body bytes

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # The first request line must come, whole with its headers, within the header timeout.
        self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, plus the accounting of a read that leaves a request incomplete.
        self._unset_keepalive_if_required()
        fresh = not self._in_message
        self._read_len = len(data)
        self._begins = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):  # raised by on_headers_complete
                self._refuse(431, "Request Header Fields Too Large")
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_message:  # rare: a head or body continues in a later read
            self._incomplete(fresh)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    # -- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = self._head_open = self._head_new = True
        self._head_bytes = 0
        self._begins += 1
        _on_message_begin(self)

    def on_headers_complete(self) -> None:
        self._head_closed()
        _on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._in_message = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        _on_message_complete(self)

    # -- the rare paths ----------------------------------------------------------------------

    def _read_paused(self) -> bool:
        return self.flow.read_paused

    def _lose_cycle(self) -> None:
        """As uvicorn's `connection_lost` does, before the transport closes."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
