"""The upstream client's keep-alive pool against a server that closes idle connections (issue 12
point 17; SPEC R9.4): a connection the server closed is never handed a request, a request whose
connection closed before it was written is re-sent once, and one that was written is never
re-sent (the upstream may have processed it).

The server is a plain blocking socket server in threads, so it can close a connection while the
test's event loop is held: the FIN is then in the kernel before the loop has seen it — what a
busy gateway loop experiences under load.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import uvicorn

from tests.waiting import eventually
from torouter.upstreams.http import IDLE_EXPIRY_S, UpstreamHttp, upstream_errors
from torouter.upstreams.transport import UpstreamTimeout, UpstreamUnavailable

BODY = b'{"model":"m","messages":[]}'
HEADERS = {"content-type": "application/json"}


class KeepAliveServer:
    """HTTP/1.1 with keep-alive; counts connections and complete requests. `drop_next` makes it
    read the next request whole and close without answering (a crash after reading)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.drop_next = False
        self._idle: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._idle.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    with self._lock:
                        self._idle.discard(conn)
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[length:]
                with self._lock:
                    self.requests += 1
                    drop, self.drop_next = self.drop_next, False
                if drop:
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                with self._lock:  # idle from the moment the answer can reach the client
                    self._idle.add(conn)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: 2\r\n\r\n{}"
                )

    def close_idle(self) -> int:
        """Close every idle connection now, as an idle timeout would (blocking: the FIN is on
        its way when this returns)."""
        with self._lock:
            idle, self._idle = self._idle, set()
        for conn in idle:
            with contextlib.suppress(OSError):  # its thread may have closed it meanwhile
                conn.shutdown(socket.SHUT_RDWR)
        return len(idle)

    def close(self) -> None:
        self.listener.close()
        self.close_idle()


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer()
    yield srv
    srv.close()


async def post(http: UpstreamHttp, url: str, data: Any = BODY) -> int:
    resp = await http.send("POST", url, body=data, headers=HEADERS, connect_s=5, read_s=30)
    await resp.read()
    resp.close()
    return resp.status


async def test_a_pooled_connection_the_server_closed_is_dropped_before_reuse(
    server: KeepAliveServer,
) -> None:
    http = UpstreamHttp(idle_expiry_s=30)
    await http.start()
    try:
        assert await post(http, server.url) == 200
        assert server.close_idle() == 1  # the loop does not run: aiohttp still thinks it alive
        assert await post(http, server.url) == 200
    finally:
        await http.close()
    assert http.connector is not None and http.connector.dropped == 1
    assert http.resent == 0  # nothing was sent on the dead connection
    assert (server.connections, server.requests) == (2, 2)


def closer(server: KeepAliveServer, http: list[UpstreamHttp], *, loop_sees_it: bool) -> Any:
    """A trace hook run between the connection's checkout and the request's first byte: the
    server closes the idle connection then (once). With `loop_sees_it` the hook also waits until
    the event loop has processed the EOF; without, the FIN is only in the kernel."""
    armed = [True]

    async def on_headers(_s: Any, _ctx: Any, _params: Any) -> None:
        if not (armed[0] and server.requests):
            return
        armed[0] = False
        assert server.close_idle() == 1
        if loop_sees_it:
            connector = http[0].connector
            assert connector is not None
            out = list(connector._seen)
            await eventually(
                lambda: not any(p.is_connected() for p in out), within=10, what="the EOF seen"
            )

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers)
    return trace


@pytest.mark.parametrize("loop_sees_it", [False, True], ids=["fin-in-kernel", "eof-processed"])
async def test_a_request_whose_connection_closed_before_the_write_is_sent_again(
    server: KeepAliveServer, loop_sees_it: bool
) -> None:
    """The server closes between the checkout and the write: the body refuses to go out on the
    dead connection, so not a byte left, and the request goes out on another connection."""
    box: list[UpstreamHttp] = []
    http = UpstreamHttp(
        idle_expiry_s=30, trace_configs=[closer(server, box, loop_sees_it=loop_sees_it)]
    )
    box.append(http)
    await http.start()
    try:
        assert await post(http, server.url) == 200
        assert await post(http, server.url) == 200
    finally:
        await http.close()
    assert http.resent == 1
    assert (server.connections, server.requests) == (2, 2)  # the closed one carried nothing


async def test_a_written_request_is_never_sent_twice(server: KeepAliveServer) -> None:
    """The server read the whole request, then closed without a byte of answer: it may have
    processed it, so the failure goes to the relay (a network failure), not into a re-send."""
    http = UpstreamHttp(idle_expiry_s=30)
    await http.start()
    try:
        assert await post(http, server.url) == 200
        server.drop_next = True
        with pytest.raises(UpstreamUnavailable) as info:
            await post(http, server.url)
        assert isinstance(info.value.__cause__, aiohttp.ClientError)  # raise … from exc
    finally:
        await http.close()
    assert http.resent == 0
    assert server.requests == 2


async def test_a_streamed_body_goes_out_once(server: KeepAliveServer) -> None:
    """Only a body sent in one write is guarded; a multipart spool is not re-sent."""
    box: list[UpstreamHttp] = []
    http = UpstreamHttp(idle_expiry_s=30, trace_configs=[closer(server, box, loop_sees_it=True)])
    box.append(http)
    await http.start()
    try:
        assert await post(http, server.url) == 200
        with pytest.raises(UpstreamUnavailable):
            await post(http, server.url, data=Streamed(BODY))
    finally:
        await http.close()
    assert http.resent == 0
    assert server.requests == 1


class Streamed:
    """A `StreamedBody` of two blocks."""

    content_type = "application/json"

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.data[:5]
        yield self.data[5:]


def test_pool_expires_idle_connections_before_common_servers_do() -> None:
    """Measure 1: the pool closes an idle connection before uvicorn's (vLLM, LiteLLM, the mock
    mounted on the gateway) 5 s idle timeout would, so the two never race."""
    assert IDLE_EXPIRY_S < uvicorn.Config(app=None).timeout_keep_alive


@pytest.mark.parametrize(
    ("raised", "mapped"),
    [
        (aiohttp.ServerTimeoutError("read"), UpstreamTimeout),  # a ClientError and a timeout
        (aiohttp.ConnectionTimeoutError("connect"), UpstreamTimeout),
        (TimeoutError(), UpstreamTimeout),
        (aiohttp.ClientPayloadError("cut"), UpstreamUnavailable),
        (aiohttp.ServerDisconnectedError(), UpstreamUnavailable),
        (ConnectionResetError(104, "reset"), UpstreamUnavailable),
    ],
)
def test_the_boundary_maps_foreign_errors_to_the_most_specific(
    raised: BaseException, mapped: type[Exception]
) -> None:
    with pytest.raises(mapped) as info, upstream_errors():
        raise raised
    assert info.value.__cause__ is raised and str(info.value) == type(raised).__name__


@pytest.mark.parametrize("bug", [KeyError("k"), TypeError("t"), AttributeError("a")])
def test_the_boundary_lets_our_own_bugs_through(bug: Exception) -> None:
    with pytest.raises(type(bug)) as info, upstream_errors():
        raise bug
    assert info.value is bug


async def test_a_refused_connection_is_unavailable_and_the_response_reads_through_the_seam(
    server: KeepAliveServer,
) -> None:
    http = UpstreamHttp()
    await http.start()
    try:
        closed = socket.create_server(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        with pytest.raises(UpstreamUnavailable) as info:
            await http.send("POST", f"http://127.0.0.1:{port}/", body=BODY, headers=HEADERS)
        assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
        resp = await http.send("POST", server.url, body=BODY, headers=HEADERS)
        assert (resp.status, resp.headers["Content-Type"]) == (200, "application/json")
        assert await resp.read(1) == b"{" and await resp.read() == b"}"
        assert await resp.read_chunk() == b""
        resp.close()
        resp.close()  # idempotent
    finally:
        await http.close()
