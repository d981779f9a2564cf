"""ToRouter's own HTTP/1.1 server protocol, on httptools and uvloop (`server.protocol =
"native"`).

Why it exists: uvicorn's protocol and request cycle were about 130 k instructions of a gateway
request's ~830 k, and every one spent there is one the floor (stock uvicorn) does not pay over
us. This one speaks only what the gateway and its management apps use — HTTP/1.1 and 1.0,
keep-alive, pipelining, chunked and `Expect: 100-continue` request bodies, HEAD, flow control
both ways, ASGI `http` with `http.disconnect` — with R18.5's limits built in. It runs under
uvicorn's `Server` (sockets, workers, lifespan, signals, graceful drain): it keeps the interface
that server drives (`server_state.connections` / `tasks` / `default_headers`, `shutdown()`).
WebSocket upgrades and the access log are not served (`serve` turns both off).

Limits (R18.5), as `torouter/server/protocol.py` adds them to uvicorn's:

    connection opened, or a request's first byte ──header_timeout_s──► its last header byte
    inside a request body                        ──body_timeout_s of silence──►
    a kept-alive connection between requests     ──idle_timeout_s──► closed

A head over `max_header_bytes` gets 431, a stalled head or body 408, a malformed request 400,
each with `x-request-id` and the connection closed. A request that arrives in one read pays one
length test for them; timers are armed only for a new connection and a split request.

Counted with callgrind (`bench/server_protocol.py --instructions`): 95,979 instructions per
plain request against 126,613 for uvicorn's protocol with the limits (-24 %), 263,135 against
312,191 for a 20-event stream (-16 %); through the whole gateway 2.5-3.5 % of a request's
instructions and one `write` system call fewer (bench/README.md, "Sixth session").
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from typing import Any
from urllib.parse import unquote

import httptools

from torouter.server.cycle import App, Cycle, service_unavailable
from torouter.server.limits import HeadBounds, HeadTooLarge, HttpLimits

__all__ = ["NativeHttpProtocol", "native_factory"]

log = logging.getLogger("torouter.server")

_ASGI = {"version": "3.0", "spec_version": "2.3"}


def native_factory(limits: HttpLimits) -> Any:
    """What to pass as uvicorn's `http=`: a picklable factory (workers are spawned)."""
    return functools.partial(NativeHttpProtocol, limits=limits)


class NativeHttpProtocol(asyncio.Protocol, HeadBounds):
    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits = HttpLimits(),
    ) -> None:
        if not config.loaded:
            config.load()
        self.app: App = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.parser = httptools.HttpRequestParser(self)
        # Answer the first of pipelined requests that end in `connection: close` (as uvicorn).
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.root_path: str = config.root_path
        self.limit_concurrency: int | None = config.limit_concurrency
        self.idle_timeout_s: float = config.timeout_keep_alive
        self.app_state = app_state
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self._limits = limits
        self._max_head = limits.max_header_bytes
        # The pre-joined constant header lines (`date`, configured ones), per `default_headers`
        # list: uvicorn's server replaces that list once a second.
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._default_head = b""
        self.constant_lines = 0

        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.cycle: Cycle | None = None  # the newest request (the one being parsed, if any)
        self.pipeline: deque[Cycle] = deque()  # requests waiting for the current answer
        self.read_paused = False
        self.write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_seen = 0.0
        self._idle_since = 0.0  # loop time of the latest answer that left the connection idle

        # The request being parsed.
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self._expect_100 = False
        self._in_message = False  # between on_message_begin and on_message_complete
        self._head_open = False  # between on_message_begin and on_headers_complete
        self._head_new = False  # the head began in the read being parsed
        self._head_bytes = 0  # bytes of the open head received in earlier reads
        self._read_len = 0
        self._begins = 0  # messages begun in the read being parsed

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connections.add(self)
        self.transport = transport  # type: ignore[assignment]
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        if transport.get_extra_info("sslcontext"):
            self.scheme = "https"
        # The first request line must come, whole with its headers, within the header timeout.
        self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        for timer in (self._head_timer, self._body_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._idle_timer = None
        cycle = self.cycle
        if cycle is not None:
            cycle.lost()
        for waiting in self.pipeline:
            waiting.lost()
        self.pipeline.clear()
        self.resume_writing()  # a sender waiting to drain finds the client gone
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        """The client closed its side: the connection closes (returning None), and a request
        still being served sees `http.disconnect` (the gateway stops its upstream call)."""

    def data_received(self, data: bytes) -> None:
        fresh = not self._in_message
        self._read_len = len(data)
        self._begins = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            log.warning("an upgrade request was served as plain HTTP (no upgrades here)")
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):  # raised by on_headers_complete
                self._refuse(431, "Request Header Fields Too Large")
            else:
                self._refuse(400, "Invalid HTTP request received.")
            return
        if self._in_message:  # rare: a head or body continues in a later read
            self._incomplete(fresh)

    def shutdown(self) -> None:
        """uvicorn's server draining: close when idle, else after the answer under way."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.close()
        else:
            cycle.keep_alive = False

    # -- flow control ------------------------------------------------------------------------

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drained = self._drained
        if drained is not None:
            self._drained = None
            if not drained.done():
                drained.set_result(None)

    async def drain(self) -> None:
        if self._drained is None:
            self._drained = self.loop.create_future()
        await self._drained

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def want_more(self) -> None:
        """A request's body is awaited: read again, unless pipelined requests already wait."""
        if self.read_paused and not self.pipeline:
            self.read_paused = False
            self.transport.resume_reading()

    # -- the cycle's side --------------------------------------------------------------------

    def constant_head(self) -> bytes:
        defaults = self.server_state.default_headers
        if defaults is not self._defaults:
            self._defaults = defaults
            self._default_head = b"".join(b"%b: %b\r\n" % pair for pair in defaults)
            self.constant_lines = len(defaults)
        return self._default_head

    def answered(self, cycle: Cycle) -> None:
        """An answer completed: start the next pipelined request, or wait idle for one."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.pipeline:
            self._start(self.pipeline.popleft())
            return
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if not self._in_message:  # no next request begun: the connection is idle
            # One timer per connection, not one per answer: it is left armed while requests
            # come and, when it fires, closes only a connection idle for the whole timeout.
            self._idle_since = self.loop.time()
            if self._idle_timer is None:
                self._idle_timer = self.loop.call_later(self.idle_timeout_s, self._idle_late)

    def _start(self, cycle: Cycle) -> None:
        # uvicorn's server waits for (and at the drain's end cancels) `tasks`; the cycle takes
        # its task out itself as it ends, cheaper than a done-callback's extra loop turn.
        task = cycle.task = self.loop.create_task(cycle.run_asgi())
        self.tasks.add(task)

    # -- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = self._head_open = self._head_new = True
        self._head_bytes = 0
        self._begins += 1
        self.url = b""
        self.headers = []
        self._expect_100 = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_100 = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_closed()
        parser = self.parser
        version = parser.get_http_version()
        url = self.url
        if url[:1] == b"/" and b"#" not in url:
            raw_path, _, query = url.partition(b"?")
        else:  # absolute form, or a fragment: the parser's own splitting
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path, parsed.query or b""
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        root = self.root_path
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": root,
            "path": root + path if root else path,
            "raw_path": root.encode("ascii") + raw_path if root else raw_path,
            "query_string": query,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        app = self.app
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency
            or len(self.tasks) >= self.limit_concurrency
        ):
            log.warning("over the concurrency limit: 503")
            app = service_unavailable
        previous = self.cycle
        cycle = self.cycle = Cycle(self, scope, keep_alive, self._expect_100, app)
        if previous is None or previous.response_complete:
            self._start(cycle)
        else:  # pipelined: waits for the answer under way
            self.pause_reading()
            self.pipeline.append(cycle)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.feed(body):
            self.pause_reading()

    def on_message_complete(self) -> None:
        self._in_message = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        cycle = self.cycle
        if cycle is not None:
            cycle.more_body = False
            cycle.wake()

    # -- the rare paths ----------------------------------------------------------------------

    def _read_paused(self) -> bool:
        return self.read_paused

    def _lose_cycle(self) -> None:
        if self.cycle is not None:
            self.cycle.lost()

    def _idle_late(self) -> None:
        self._idle_timer = None
        if self.transport.is_closing() or self._in_message:
            return  # a request under way: `answered` arms the timer again after it
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return
        left = self._idle_since + self.idle_timeout_s - self.loop.time()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._idle_late)
        else:
            self.transport.close()


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None
