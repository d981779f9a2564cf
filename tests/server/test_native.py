"""The HTTP/1.1 the gateway needs, at the server seam (issue 20 points 1 and 4): framing, chunked
bodies, keep-alive reuse and its idle timeout, pipelining, HTTP/1.0, HEAD, `Expect:
100-continue`, half-closed sockets, flow control with a slow reader, `http.disconnect` during a
stream (R4.9) and the graceful drain. Every test runs against both protocols `serve` can run
(`server.protocol`: the native one and uvicorn's), over raw sockets and a real uvloop server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.harness import wait_until
from tests.server.raw_http import parse_closing, parse_head, read_all, read_response
from tests.server.running import BOUND_S, PROTOCOLS, Running, run_server
from torouter.server.limits import HttpLimits

KiB = 1024
MiB = 1024 * KiB
LIMITS = HttpLimits(max_header_bytes=64 * KiB, header_timeout_s=60.0, body_timeout_s=60.0)
IDLE_S = 1.0  # the kept-alive idle timeout of these servers
BIG_PART = b"z" * (64 * KiB)
BIG_PARTS = 1024  # 64 MiB: far more than the kernel's socket buffers hold


@dataclass
class Scripted:
    """An ASGI app whose path picks what it does; it records what a test needs to see."""

    disconnects: list[str] = field(default_factory=list)
    big_sent: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    holding: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/stream":
            await self._stream(receive, send)
            return
        if path == "/big":
            await self._big(send)
            return
        if path == "/early":  # answers without reading the body
            headers = [(b"content-length", b"2")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"no"})
            return
        if path == "/hold":
            self.holding += 1
            await asyncio.to_thread(self.release.wait, 60)
        body = b""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                self.disconnects.append(path)
                return
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        answer = b"%s %s?%s %d %s" % (
            scope["method"].encode(),
            scope["raw_path"],
            scope["query_string"],
            len(body),
            body[:32],
        )
        if path == "/chunked":  # no content-length: the server frames it
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one ", b"two ", answer):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/split":  # a header value that would split the answer
            headers = [(b"x-evil", b"a\r\nx-injected: 1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _stream(self, receive: Any, send: Any) -> None:
        """One event, then wait for the client to go away (the gateway's disconnect watch)."""
        await receive()
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnects.append("/stream")

    async def _big(self, send: Any) -> None:
        size = len(BIG_PART) * BIG_PARTS
        headers = [(b"content-length", b"%d" % size)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(BIG_PARTS):
            await send({"type": "http.response.body", "body": BIG_PART, "more_body": True})
            self.big_sent = i + 1
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def server(request: pytest.FixtureRequest) -> Iterator[Running]:
    yield from run_server(LIMITS, request.param, Scripted(), timeout_keep_alive=IDLE_S)


@pytest.fixture(scope="module")
def native() -> Iterator[Running]:
    """The native protocol alone: for where it differs from uvicorn's on purpose."""
    yield from run_server(LIMITS, "native", Scripted(), timeout_keep_alive=IDLE_S)


def app(server: Running) -> Scripted:
    assert isinstance(server.app, Scripted)
    return server.app


def get(path: str, extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def read_chunked(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One chunked answer, decoded, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    body = b""
    while True:
        while b"\r\n" not in rest:
            rest += sock.recv(65536)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        body, rest = body + rest[:size], rest[size + 2 :]
        if size == 0:
            return status, headers, body


# -- framing ---------------------------------------------------------------------------------


def test_an_answer_with_a_content_length_is_framed_by_it(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(get("/echo?a=1&b=%20"))
        status, headers, body = read_response(sock)
    assert status == 200
    assert body == b"GET /echo?a=1&b=%20 0 "
    assert headers["content-type"] == "text/plain"
    assert "date" in headers and "transfer-encoding" not in headers


def test_an_answer_without_a_length_is_sent_chunked(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(get("/chunked"))
        status, headers, body = read_chunked(sock)
        assert headers["transfer-encoding"] == "chunked"
        sock.sendall(get("/echo"))  # the connection is still usable after the last chunk
        assert read_response(sock)[2] == b"GET /echo? 0 "
    assert (status, body) == (200, b"one two GET /chunked? 0 ")


def test_a_chunked_request_body_reaches_the_app_whole(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"5\r\nhello\r\n")
        sock.sendall(b"6\r\n world\r\n0\r\n\r\n")
        assert read_response(sock)[2] == b"POST /echo? 11 hello world"


def test_a_header_value_holding_crlf_never_splits_the_answer(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(get("/split"))
        data = read_all(sock)  # a 500 or a closed connection, by protocol: never the header
    assert b"x-injected" not in data


# -- connections -----------------------------------------------------------------------------


def test_a_kept_alive_connection_serves_many_requests_then_closes_when_idle(
    server: Running,
) -> None:
    with server.connect() as sock:
        for i in range(5):
            body = b"n=%d" % i
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            assert read_response(sock)[2] == b"POST /echo? %d %s" % (len(body), body)
        started = time.monotonic()
        assert read_all(sock) == b""  # the server closes the idle connection
    assert 0.9 * IDLE_S <= time.monotonic() - started < BOUND_S


def test_pipelined_requests_are_answered_in_order(server: Running) -> None:
    requests = get("/hold") + get("/echo?2") + get("/echo?3", b"Connection: close\r\n")
    holding = app(server).holding
    app(server).release.clear()
    try:
        with server.connect() as sock:
            sock.sendall(requests)
            wait_until(lambda: app(server).holding > holding, what="the first request held")
            app(server).release.set()
            answers = read_all(sock)
    finally:
        app(server).release.set()
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in answers.split(b"HTTP/1.1 200 OK")[1:]]
    assert [b[: b.index(b"?") + 2] for b in bodies] == [
        b"GET /hold? ",
        b"GET /echo?2",
        b"GET /echo?3",
    ]


def test_http_1_0_is_answered_and_closed(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
        status, headers, body = parse_closing(read_all(sock))  # returns: the server closed
    assert (status, body) == (200, b"GET /echo? 0 ")
    assert headers["connection"] == "close"


def test_http_1_0_gets_an_answer_of_unknown_length_unchunked_and_closed(native: Running) -> None:
    """An HTTP/1.0 client cannot read chunks: the body ends with the connection (native only;
    uvicorn's protocol sends chunks)."""
    with native.connect() as sock:
        sock.sendall(b"GET /chunked HTTP/1.0\r\n\r\n")
        status, headers, body = parse_closing(read_all(sock))
    assert (status, body) == (200, b"one two GET /chunked? 0 ")
    assert "transfer-encoding" not in headers and headers["connection"] == "close"


def test_an_answer_before_a_continued_body_closes_the_connection(native: Running) -> None:
    """The client still waits for our 100 for a body we never asked for: its next bytes could
    be that body or a request, so the connection ends with the answer (native only; uvicorn's
    protocol keeps such a connection open)."""
    with native.connect() as sock:
        sock.sendall(
            b"POST /early HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        data = read_all(sock)  # returns: the server closed the connection
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in data
    assert data.endswith(b"\r\n\r\nno") and b"100 Continue" not in data


def test_head_gets_the_head_only(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.sendall(get("/echo?after"))  # the next answer follows the head at once
        data = b""
        while data.count(b"\r\n\r\n") < 2 or not data.endswith(b"after 0 "):
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert parse_head(head)[1]["content-length"] == str(len(b"HEAD /echo? 0 "))
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")  # no body bytes in between


def test_expect_100_continue_is_answered_when_the_app_reads(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"body")
        assert read_response(sock)[2] == b"POST /echo? 4 body"


def test_a_client_half_closing_after_its_answer_is_closed(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(get("/echo"))
        assert read_response(sock)[0] == 200
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b""  # the server closes too, without waiting for the idle


def test_a_client_going_away_mid_stream_is_a_disconnect_for_the_app(server: Running) -> None:
    before = app(server).disconnects.count("/stream")
    with server.connect() as sock:
        sock.sendall(get("/stream"))
        status, _, body = read_chunked_first(sock)
        assert (status, body) == (200, b"data: 1\n\n")
        sock.shutdown(socket.SHUT_WR)  # as a client that stops reading and leaves
    wait_until(
        lambda: app(server).disconnects.count("/stream") == before + 1,
        timeout=BOUND_S,
        what="the app saw http.disconnect",
    )


def read_chunked_first(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The head and the first chunk of a chunked answer still under way."""
    data = b""
    while True:
        data += sock.recv(65536)
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep and rest.count(b"\r\n") >= 2:
            size, _, rest = rest.partition(b"\r\n")
            status, headers = parse_head(head)
            return status, headers, rest[: int(size, 16)]


def test_a_slow_reader_holds_the_app_back_instead_of_filling_memory(server: Running) -> None:
    """Flow control: the app's `send` waits while the client does not read, so a 64 MiB answer
    is not buffered whole in the server; once the client reads, all of it arrives."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
    sock.settimeout(BOUND_S)
    with sock:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(get("/big"))
        wait_until(lambda: app(server).big_sent > 0, timeout=BOUND_S, what="the answer begun")
        # A negative claim: a loaded machine only makes the app get less far, never further.
        time.sleep(1.0)
        assert app(server).big_sent < BIG_PARTS // 2
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        _, _, got = head.partition(b"\r\n\r\n")
        received = len(got)
        while received < len(BIG_PART) * BIG_PARTS:
            chunk = sock.recv(1024 * KiB)
            assert chunk
            received += len(chunk)
    assert app(server).big_sent == BIG_PARTS


def test_the_drain_finishes_an_answer_under_way_then_closes(server: Running) -> None:
    """Graceful shutdown (uvicorn's server calls the protocol's `shutdown`): the held request
    is answered with `connection: close`, and no new request is taken."""
    scripted = Scripted()
    scripted.release.clear()
    running = run_server(LIMITS, server.kind, scripted, timeout_graceful_shutdown=30)
    own = next(running)
    try:
        with own.connect() as sock:
            sock.sendall(get("/hold"))
            wait_until(lambda: scripted.holding == 1, what="the request held")
            own.server.should_exit = True
            wait_until(
                lambda: not own.server.servers or not own.server.servers[0].is_serving(),
                timeout=BOUND_S,
                what="the listener closed",
            )
            scripted.release.set()
            status, headers, body = parse_closing(read_all(sock))
        assert (status, body) == (200, b"GET /hold? 0 ")
        assert headers["connection"] == "close"
    finally:
        scripted.release.set()
        running.close()
