"""The upstream seam (`upstreams/transport.py`) held by both clients — the native one
(`upstreams/native.py`) and aiohttp's (`upstreams/http.py`) — against raw local servers that
answer well or misbehave on purpose (issue 20 point 4; SPEC R9.4 failures, R20.2 bounded
streams). What only the native client has (its pool counters, flow control, TLS context) is
tested on it alone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.upstreams.rawserver import Conn, RawServer, keep_alive, ok
from tests.waiting import eventually
from torouter.upstreams.choice import UpstreamClient, upstream_client
from torouter.upstreams.native import NativeHttp
from torouter.upstreams.transport import UpstreamTimeout, UpstreamUnavailable

HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
BODY = b'{"model":"m"}'


@pytest.fixture(params=["native", "aiohttp"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[UpstreamClient]:
    c = upstream_client(request.param)
    await c.start()
    yield c
    await c.close()


@pytest.fixture
async def native() -> AsyncIterator[NativeHttp]:
    c = NativeHttp()
    await c.start()
    yield c
    await c.close()


async def post(client: Any, url: str, body: Any = BODY, **kw: Any) -> tuple[int, bytes]:
    kw.setdefault("read_s", 10)
    resp = await client.send("POST", url, headers=HEADERS, body=body, connect_s=10, **kw)
    try:
        return resp.status, await resp.read()
    finally:
        resp.close()


def answering(*answers: bytes, close: bool = False) -> Any:
    """A handler that answers its connection's requests with `answers` in turn."""

    async def handler(conn: Conn) -> None:
        for data in answers:
            if await conn.request() is None:
                return
            await conn.answer(data)
        if not close:
            await conn.request()  # hold the connection open until the client closes it

    return handler


# -- framing -------------------------------------------------------------------------------


async def test_content_length_body_and_keep_alive_reuse_on_one_socket(client: Any) -> None:
    async with RawServer(keep_alive) as srv:
        for i in range(3):
            assert await post(client, srv.url(), b'{"n":%d}' % i) == (200, b'{"n":%d}' % i)
        assert len(srv.connections) == 1 and len(srv.requests) == 3


async def test_chunked_body_with_extensions_and_trailers_then_reuse(client: Any) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n"
    )
    async with RawServer(answering(chunked, ok(b"again"))) as srv:
        assert await post(client, srv.url()) == (200, b"hello world")
        assert await post(client, srv.url()) == (200, b"again")
        assert len(srv.connections) == 1


async def test_a_body_without_length_reads_until_close_and_is_not_reused(client: Any) -> None:
    async with RawServer(answering(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close=True)) as srv:
        assert await post(client, srv.url()) == (200, b"until the end")
        assert await post(client, srv.url()) == (200, b"until the end")
        assert len(srv.connections) == 2


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n"),
        ("POST", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("POST", b"HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n"),
    ],
)
async def test_answers_that_have_no_body(client: Any, method: str, answer: bytes) -> None:
    async def handler(conn: Conn) -> None:
        while await conn.request() is not None:  # the first request overall gets `answer`
            await conn.answer(answer if len(conn.server.requests) == 1 else ok(b"next"))

    async with RawServer(handler) as srv:
        resp = await client.send(method, srv.url(), headers=HEADERS, read_s=10)
        assert await resp.read() == b""
        resp.close()
        assert await post(client, srv.url()) == (200, b"next")  # nothing mistaken for a body


async def test_an_interim_1xx_answer_is_skipped(client: Any) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n" + ok(b"final")
    async with RawServer(answering(early)) as srv:
        assert await post(client, srv.url()) == (200, b"final")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    ],
)
async def test_a_connection_the_answer_closes_is_not_reused(client: Any, answer: bytes) -> None:
    async with RawServer(answering(answer, answer)) as srv:
        assert await post(client, srv.url()) == (200, b"{}")
        assert await post(client, srv.url()) == (200, b"{}")
        assert len(srv.connections) == 2


async def test_headers_are_case_insensitive_and_keep_repeats(client: Any) -> None:
    answer = ok(extra=b"X-Request-Id: abc\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n")
    async with RawServer(answering(answer)) as srv:
        resp = await client.send("POST", srv.url(), headers=HEADERS, body=BODY)
        assert resp.headers["x-request-id"] == resp.headers.get("X-REQUEST-ID") == "abc"
        assert resp.headers.getall("set-cookie") == ["a=1", "b=2"]
        assert "application/json" in dict(resp.headers).values()
        await resp.read()
        resp.close()


async def test_the_request_is_framed_with_host_and_length(client: Any) -> None:
    async with RawServer(keep_alive) as srv:
        await post(client, srv.url("/v1/x?a=1"), b"12345")
        req = srv.requests[0]
        assert req.line == "POST /v1/x?a=1 HTTP/1.1"
        assert req.headers["host"] == f"127.0.0.1:{srv.port}"
        assert req.headers["content-length"] == "5" and req.body == b"12345"
        assert req.headers["accept-encoding"] == "identity"  # relayed as sent, never decoded


class Streamed:
    """A `StreamedBody` of three blocks."""

    content_type = "multipart/form-data; boundary=x"

    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    async def chunks(self) -> AsyncIterator[bytes]:
        third = len(self.data) // 3
        yield self.data[:third]
        yield self.data[third : 2 * third]
        yield self.data[2 * third :]


async def test_a_streamed_body_goes_out_with_its_length_and_type(client: Any) -> None:
    data = bytes(range(256)) * 2000
    async with RawServer(keep_alive) as srv:
        resp = await client.send("PUT", srv.url(), headers={}, body=Streamed(data), read_s=10)
        status, echoed = resp.status, await resp.read()
        resp.close()
        req = srv.requests[0]
        assert status == 200 and echoed == data == req.body
        assert req.headers["content-type"] == "multipart/form-data; boundary=x"
        assert req.headers["content-length"] == str(len(data))


async def test_read_with_a_limit_leaves_the_rest(client: Any) -> None:
    async with RawServer(keep_alive) as srv:
        resp = await client.send("POST", srv.url(), headers=HEADERS, body=b"0123456789")
        assert await resp.read(4) == b"0123"
        assert await resp.read(3) == b"456"
        resp.close()
        assert await post(client, srv.url()) == (200, BODY)


async def test_an_answer_left_unread_never_reaches_the_next_request(native: NativeHttp) -> None:
    """The seam's `close()`: a body not read to its end drops the socket (aiohttp keeps one whose
    bytes all arrived; the native client is stricter)."""
    async with RawServer(keep_alive) as srv:
        resp = await native.send("POST", srv.url(), headers=HEADERS, body=b"0123456789")
        assert await resp.read(4) == b"0123"
        resp.close()
        assert await post(native, srv.url()) == (200, BODY)
        assert len(srv.connections) == 2


# -- failures ------------------------------------------------------------------------------


async def test_a_reset_mid_body_fails_the_read(client: Any) -> None:
    async def cut(conn: Conn) -> None:
        await conn.request()
        await conn.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await asyncio.sleep(0)  # let the bytes leave before the reset
        conn.reset()

    async with RawServer(cut) as srv:
        resp = await client.send("POST", srv.url(), headers=HEADERS, body=BODY, read_s=10)
        with pytest.raises(UpstreamUnavailable):
            await resp.read()
        resp.close()
        assert len(srv.requests) == 1


async def test_a_server_that_half_closes_without_answering_is_unavailable_once(
    client: Any,
) -> None:
    async def half_close(conn: Conn) -> None:
        await conn.request()
        conn.writer.write_eof()  # FIN, still reading
        await conn.reader.read()

    async with RawServer(half_close) as srv:
        with pytest.raises(UpstreamUnavailable):
            await post(client, srv.url())
        assert len(srv.requests) == 1  # written once, never re-sent


async def test_an_answer_then_a_half_close_is_read_and_the_socket_not_reused(
    client: Any,
) -> None:
    async def answer_then_half_close(conn: Conn) -> None:
        await conn.request()
        await conn.answer(ok(b"done"))
        conn.writer.write_eof()
        await conn.reader.read()

    async with RawServer(answer_then_half_close) as srv:
        assert await post(client, srv.url()) == (200, b"done")
        await eventually(lambda: srv.closed_connections == 1, within=10, what="the close")
        assert await post(client, srv.url()) == (200, b"done")
        assert len(srv.connections) == 2 and len(srv.requests) == 2


async def silent(conn: Conn) -> None:
    while await conn.request() is not None:
        pass


async def test_a_slow_head_is_a_read_timeout(client: Any) -> None:
    async with RawServer(silent) as srv:
        with pytest.raises(UpstreamTimeout):
            await post(client, srv.url(), read_s=0.2)


async def test_silence_between_chunks_is_a_read_timeout(client: Any) -> None:
    async def stall(conn: Conn) -> None:
        await conn.request()
        await conn.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234")
        await conn.request()

    async with RawServer(stall) as srv:
        resp = await client.send("POST", srv.url(), headers=HEADERS, body=BODY, read_s=1.0)
        assert await resp.read_chunk() == b"01234"
        with pytest.raises(UpstreamTimeout):
            await resp.read_chunk()
        resp.close()


async def test_the_total_deadline_covers_a_body_that_keeps_trickling(client: Any) -> None:
    async def trickle(conn: Conn) -> None:
        await conn.request()
        await conn.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
        while True:
            await conn.answer(b"x")
            await asyncio.sleep(0.02)  # the server's pace, not a test wait

    async with RawServer(trickle) as srv:
        with pytest.raises(UpstreamTimeout):
            await post(client, srv.url(), read_s=5, total_s=0.5)


async def test_a_connect_that_never_completes_is_a_connect_timeout(client: Any) -> None:
    """A listener that never accepts, its backlog full: the kernel drops further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        with pytest.raises(UpstreamTimeout):
            await client.send(
                "POST", f"http://127.0.0.1:{port}/", headers=HEADERS, body=BODY, connect_s=0.3
            )
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_a_refused_connection_and_a_bad_url_are_unavailable(client: Any) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    for url in (f"http://127.0.0.1:{port}/", "ftp://127.0.0.1/", "http:///nohost"):
        with pytest.raises(UpstreamUnavailable) as info:
            await client.send("POST", url, headers=HEADERS, body=BODY, connect_s=5)
        assert info.value.__cause__ is not None


async def test_a_huge_answer_head_is_refused(client: Any) -> None:
    huge = b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 200_000 + b"\r\ncontent-length: 2\r\n\r\n{}"
    async with RawServer(answering(huge)) as srv:
        with pytest.raises(UpstreamUnavailable):
            await post(client, srv.url())


async def test_a_malformed_answer_is_unavailable(client: Any) -> None:
    async with RawServer(answering(b"HTTP/1.1 abc nonsense\r\n\r\n")) as srv:
        with pytest.raises(UpstreamUnavailable):
            await post(client, srv.url())


# -- concurrency, cancellation, close --------------------------------------------------------


async def test_many_concurrent_requests(client: Any) -> None:
    async with RawServer(keep_alive) as srv:
        results = await asyncio.gather(
            *(post(client, srv.url(), b'{"i":%d}' % i) for i in range(200))
        )
        assert results == [(200, b'{"i":%d}' % i) for i in range(200)]
        assert len(srv.requests) == 200 and len(srv.connections) <= 200
        before = len(srv.connections)
        await asyncio.gather(*(post(client, srv.url()) for _ in range(50)))
        assert len(srv.connections) == before  # all served by pooled connections


async def test_a_read_cancelled_midway_drops_the_connection(client: Any) -> None:
    async def stall(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234")
            await conn.request()

    async with RawServer(stall) as srv:
        resp = await client.send("POST", srv.url(), headers=HEADERS, body=BODY, read_s=30)
        assert await resp.read_chunk() == b"01234"
        task = asyncio.ensure_future(resp.read_chunk())
        await asyncio.sleep(0)  # the read is pending
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        resp.close()
        await eventually(lambda: srv.closed_connections == 1, within=10, what="the drop")


async def test_close_from_another_task_fails_the_pending_read(client: Any) -> None:
    async with RawServer(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0")) as srv:
        resp = await client.send("POST", srv.url(), headers=HEADERS, body=BODY, read_s=30)
        assert await resp.read_chunk() == b"0"
        reading = asyncio.ensure_future(resp.read_chunk())
        await asyncio.sleep(0)  # the read is pending
        resp.close()
        resp.close()  # idempotent
        with pytest.raises((UpstreamUnavailable, asyncio.CancelledError)):
            await asyncio.wait_for(reading, 10)
        await eventually(lambda: srv.closed_connections == 1, within=10, what="the drop")
