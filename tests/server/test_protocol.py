"""The HTTP server's own limits (R18.5) and request ids (R8.6), on a real uvicorn with uvloop and
each protocol `serve` can run (`server.protocol`: native and uvicorn), driven by raw sockets so
that every byte and stall is the test's."""

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
from tests.server.raw_http import (
    big_headers,
    parse_closing,
    read_all,
    read_response,
    send_until_refused,
)
from tests.server.running import BOUND_S, PROTOCOLS, Running, run_server
from torouter.server.limits import HttpLimits

KiB = 1024
# Stall tests run against short timeouts; the size tests against long ones, so that a machine
# too loaded to read a request within a second cannot fail them.
# More than loopback's socket buffers can hold (autotuned up to ~6 MiB received plus ~4 MiB
# sent): a server that stopped reading shows as a send that fails, however late it closes.
ENDLESS = 32 * 1024 * KiB
LIMITS = HttpLimits(max_header_bytes=64 * KiB, header_timeout_s=1.0, body_timeout_s=1.0)
PATIENT = HttpLimits(max_header_bytes=64 * KiB, header_timeout_s=60.0, body_timeout_s=60.0)


@dataclass
class Echo:
    """An ASGI app that reads the whole body and answers its length; it records disconnects
    and can be held before reading (`gate`)."""

    gate: threading.Event = field(default_factory=threading.Event)
    disconnects: int = 0
    served: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if not self.gate.is_set():
            await asyncio.to_thread(self.gate.wait, 60)
        size = 0
        while scope["path"] != "/early":  # /early answers without reading the body
            msg = await receive()
            if msg["type"] == "http.disconnect":
                self.disconnects += 1
                return
            size += len(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        body = f"ok {size}".encode()
        self.served += 1
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def server(request: pytest.FixtureRequest) -> Iterator[Running]:
    yield from run_server(LIMITS, request.param, Echo())


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def patient(request: pytest.FixtureRequest) -> Iterator[Running]:
    yield from run_server(PATIENT, request.param, Echo())


# -- header size ----------------------------------------------------------------------------


def test_a_head_over_64_kib_gets_431_with_the_request_id_and_the_connection_closes(
    patient: Running,
) -> None:
    with patient.connect() as sock:
        sock.sendall(big_headers(70 * KiB, request_id="probe-431"))
        status, headers, body = parse_closing(read_all(sock))  # read_all: the server closed
    assert status == 431
    assert headers["connection"] == "close"
    assert headers["x-request-id"] == "probe-431"
    assert body == b"Request Header Fields Too Large"


def test_a_head_just_under_the_limit_is_served(patient: Running) -> None:
    with patient.connect() as sock:
        sock.sendall(big_headers(60 * KiB))
        status, _, body = read_response(sock)
    assert (status, body) == (200, b"ok 0")


def test_one_endless_header_line_is_cut_off_near_the_limit(patient: Running) -> None:
    """The line the parser holds until it ends is what grew the process: it is refused once the
    head passes the limit, not when (if ever) the line ends."""
    endless = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * ENDLESS
    with patient.connect() as sock:
        sent = send_until_refused(sock, endless)
        status, headers, _ = parse_closing(read_all(sock))
    assert status == 431 and headers["x-request-id"].startswith("req_")
    assert sent < len(endless)  # the server stopped reading long before the end


def test_a_head_trickled_in_small_pieces_is_counted_across_reads(patient: Running) -> None:
    with patient.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        send_until_refused(sock, big_headers(100 * KiB), piece=512)
        status, _, _ = parse_closing(read_all(sock))
    assert status == 431


def test_pipelined_requests_are_not_mistaken_for_one_big_head(patient: Running) -> None:
    one = big_headers(40 * KiB)
    last = one.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    with patient.connect() as sock:
        sock.sendall(one + last)  # 80 KiB in one write: two heads of 40 KiB
        answers = read_all(sock)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2, answers


def test_a_big_head_behind_a_pipelined_request_is_still_cut_off(patient: Running) -> None:
    """The big head begins in a read that also held another request: it is counted too."""
    first = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    endless = first + b"GET /b HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * ENDLESS
    with patient.connect() as sock:
        sent = send_until_refused(sock, endless)
        answers = read_all(sock)  # returns: the server closed the connection
    assert sent < len(endless)
    # The first request may be answered before the refusal; nothing else is.
    assert not answers or answers.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 431 "))


def test_a_big_body_after_a_small_head_is_not_a_big_head(patient: Running) -> None:
    body = b"x" * (300 * KiB)
    head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    with patient.connect() as sock:
        sock.sendall(head + body)
        assert read_response(sock)[2] == b"ok %d" % len(body)


# -- stalls ---------------------------------------------------------------------------------


def closed_after(sock: socket.socket) -> tuple[float, bytes]:
    started = time.monotonic()
    data = read_all(sock)
    return time.monotonic() - started, data


def test_a_connection_that_never_sends_a_byte_is_closed(server: Running) -> None:
    with server.connect() as sock:
        waited, data = closed_after(sock)
    assert data == b""
    assert 0.9 * LIMITS.header_timeout_s <= waited < BOUND_S


@pytest.mark.parametrize(
    "partial",
    [b"GET /slow HT", b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Half: abc"],
    ids=["request-line", "headers"],
)
def test_a_stalled_request_line_or_head_gets_408_and_is_closed(
    server: Running, partial: bytes
) -> None:
    with server.connect() as sock:
        sock.sendall(partial)
        waited, data = closed_after(sock)
    status, headers, _ = parse_closing(data)
    assert status == 408 and headers["x-request-id"].startswith("req_")
    assert 0.9 * LIMITS.header_timeout_s <= waited < BOUND_S


def test_a_stalled_body_gets_408_and_the_application_sees_the_disconnect(server: Running) -> None:
    before = server.app.disconnects
    with server.connect() as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nX-Request-Id: stalled-body\r\n")
        sock.sendall(b"Content-Length: 100\r\n\r\n" + b"x" * 10)
        waited, data = closed_after(sock)
    status, headers, _ = parse_closing(data)
    assert status == 408 and headers["x-request-id"] == "stalled-body"
    assert 0.9 * LIMITS.body_timeout_s <= waited < BOUND_S
    wait_until(lambda: server.app.disconnects == before + 1, what="the app saw the disconnect")


def test_a_body_stalled_after_an_early_answer_closes_without_a_second_answer(
    server: Running,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        waited, data = closed_after(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nok 0")
    assert waited < BOUND_S


def test_the_next_request_on_a_kept_alive_connection_has_the_same_bound(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
        sock.sendall(b"GET /next HTTP/1.1\r\nHo")
        waited, data = closed_after(sock)
    assert parse_closing(data)[0] == 408
    assert waited < BOUND_S


def test_a_body_the_application_has_not_asked_for_yet_is_not_a_stall(server: Running) -> None:
    """Flow control pauses reading above 64 KiB until the app reads: the client is waiting on
    us then, and must not be cut off."""
    server.app.gate.clear()
    body = b"y" * (512 * KiB)
    try:
        with server.connect() as sock:
            sock.sendall(
                b"POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            sender = threading.Thread(target=send_until_refused, args=(sock, body))
            sender.start()
            time.sleep(3 * LIMITS.body_timeout_s)  # the app holds its read past the timeout
            server.app.gate.set()
            sender.join(BOUND_S)
            status, _, answer = read_response(sock)
    finally:
        server.app.gate.set()
    assert (status, answer) == (200, b"ok %d" % len(body))


# -- the server's own 400 -------------------------------------------------------------------


def test_a_malformed_request_gets_400_with_a_request_id(server: Running) -> None:
    with server.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, _ = parse_closing(read_all(sock))
    assert status == 400
    assert headers["x-request-id"].startswith("req_") and len(headers["x-request-id"]) == 30
