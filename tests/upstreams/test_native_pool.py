"""The native client's own machinery (`upstreams/native.py`, `native_conn.py`): the keep-alive
measures against a server closing idle connections (issue 12 point 17, SPEC R9.4), idle
expiry, the per-origin cap, bounded buffering of a body nobody reads yet (R20.2), TLS with SNI
and verification, IPv6 literals, and uvloop (the loop it runs on in production)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from tests.upstreams.certs import self_signed
from tests.upstreams.rawserver import Conn, RawServer, keep_alive, ok
from tests.upstreams.test_http import BODY, HEADERS, KeepAliveServer
from tests.waiting import eventually
from torouter.upstreams.native import IDLE_EXPIRY_S, NativeHttp
from torouter.upstreams.transport import UpstreamTimeout, UpstreamUnavailable


async def started(**kw: Any) -> NativeHttp:
    c = NativeHttp(**kw)
    await c.start()
    return c


async def post(http: NativeHttp, url: str) -> int:
    resp = await http.send("POST", url, body=BODY, headers=HEADERS, connect_s=5, read_s=30)
    await resp.read()
    resp.close()
    return resp.status


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer()
    yield srv
    srv.close()


async def test_a_pooled_connection_the_server_closed_is_dropped_before_the_write(
    server: KeepAliveServer,
) -> None:
    """Measures 2 and 3: the server closes the idle connection while the loop is held (the
    FIN is in the kernel, unseen); the next request takes a new connection, and the server
    reads every request exactly once."""
    http = await started(idle_expiry_s=30)
    try:
        assert await post(http, server.url) == 200
        assert server.close_idle() == 1  # blocking: no loop turn in between
        assert await post(http, server.url) == 200
        assert (http.dropped, server.connections, server.requests) == (1, 2, 2)
    finally:
        await http.close()


async def test_a_request_written_before_the_close_is_never_sent_again(
    server: KeepAliveServer,
) -> None:
    http = await started(idle_expiry_s=30)
    try:
        assert await post(http, server.url) == 200
        server.drop_next = True  # reads the next request whole, closes without answering
        with pytest.raises(UpstreamUnavailable):
            await post(http, server.url)
        assert (server.requests, http.dropped) == (2, 0)
    finally:
        await http.close()


async def test_idle_connections_expire_before_common_servers_close_them() -> None:
    """Measure 1, and the sweeper: an idle connection is closed client-side after the expiry,
    and a request after it opens a new one rather than racing the server's idle timeout."""
    assert IDLE_EXPIRY_S < 5.0  # uvicorn, Node, llama.cpp: 5 s
    http = await started(idle_expiry_s=0.2)
    try:
        async with RawServer(keep_alive) as srv:
            assert await post(http, srv.url()) == 200
            await eventually(lambda: srv.closed_connections == 1, within=10, what="expiry")
            assert await post(http, srv.url()) == 200
            assert len(srv.connections) == 2 and http.dropped == 0
    finally:
        await http.close()


async def test_the_per_origin_cap_queues_requests_on_the_open_connections() -> None:
    http = await started(limit_per_host=2)
    try:
        async with RawServer(keep_alive) as srv:
            statuses = await asyncio.gather(*(post(http, srv.url()) for _ in range(20)))
            assert statuses == [200] * 20
            assert len(srv.connections) <= 2 and len(srv.requests) == 20
    finally:
        await http.close()


async def test_a_body_nobody_reads_is_buffered_up_to_the_bound_then_relayed_whole() -> None:
    """R20.2: the socket stops being read once `high_water` bytes wait; reading resumes it."""
    size = 32 * 1024 * 1024  # beyond what the kernel buffers on loopback
    high = 64 * 1024
    sent = asyncio.Event()

    async def big(conn: Conn) -> None:
        await conn.request()
        conn.writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        conn.writer.write(b"x" * size)
        await conn.writer.drain()
        sent.set()

    http = await started(high_water=high)
    try:
        async with RawServer(big) as srv:
            resp = await http.send("POST", srv.url(), headers=HEADERS, body=BODY, read_s=30)
            conn = resp._conn
            assert conn is not None
            await eventually(lambda: conn.paused, within=10, what="reading paused")
            buffered = resp._size
            assert high < buffered <= high + 512 * 1024  # the bound, plus one socket read
            assert not sent.is_set()  # the rest waits in the kernel and the server
            got = 0
            while chunk := await resp.read_chunk():
                got += len(chunk)
                assert resp._size <= high + 512 * 1024
            assert got == size
            resp.close()
    finally:
        await http.close()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[RawServer, Path, list[str]]]:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    names: list[str] = []  # what clients asked for through SNI
    server_ctx.sni_callback = lambda _obj, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    async with RawServer(keep_alive, ssl=server_ctx) as srv:
        yield srv, cert, names


async def test_tls_with_a_trusted_context_verifies_sends_sni_and_reuses(
    tls_server: tuple[RawServer, Path, list[str]],
) -> None:
    srv, cert, names = tls_server
    http = await started(ssl_context=ssl.create_default_context(cafile=str(cert)))
    try:
        url = f"https://localhost:{srv.port}/v1/x"
        assert [await post(http, url) for _ in range(3)] == [200] * 3
        assert len(srv.connections) == 1 and names == ["localhost"]
        assert srv.requests[0].headers["host"] == f"localhost:{srv.port}"
    finally:
        await http.close()


async def test_tls_with_the_default_context_refuses_an_unknown_certificate(
    tls_server: tuple[RawServer, Path, list[str]],
) -> None:
    srv, _, _ = tls_server
    http = await started()  # the system's trust store: a self-signed certificate fails
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            await post(http, f"https://localhost:{srv.port}/v1/x")
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert srv.requests == []
    finally:
        await http.close()


async def test_an_ipv6_literal_upstream() -> None:
    http = await started()
    try:
        async with RawServer(keep_alive, host="::1") as srv:
            assert await post(http, srv.url()) == 200
            assert srv.requests[0].headers["host"] == f"[::1]:{srv.port}"
    finally:
        await http.close()


def test_on_uvloop_the_loop_it_runs_on_in_production() -> None:
    async def main() -> list[int]:
        http = await started()
        try:
            async with RawServer(keep_alive) as srv:
                out = [await post(http, srv.url()) for _ in range(3)]
                assert len(srv.connections) == 1
                stream = await http.send("POST", srv.url(), headers=HEADERS, body=b"abc")
                assert await stream.read_chunk() == b"abc" and await stream.read_chunk() == b""
                stream.close()
                return out
        finally:
            await http.close()

    assert uvloop.run(main()) == [200] * 3


async def test_unsolicited_bytes_on_an_idle_connection_drop_it() -> None:
    async def chatty(conn: Conn) -> None:
        await conn.request()
        await conn.answer(ok() + b"HTTP/1.1 200 OK\r\n")  # more than one answer
        await conn.request()  # hold the connection: the client must be the one to close it

    http = await started(idle_expiry_s=30)
    try:
        async with RawServer(chatty) as srv:
            assert await post(http, srv.url()) == 200
            await eventually(lambda: srv.closed_connections == 1, within=10, what="the drop")
            assert await post(http, srv.url()) == 200  # on a new connection
            assert len(srv.connections) == 2
    finally:
        await http.close()


async def test_the_total_deadline_bounds_the_connect_too() -> None:
    """A listener that never accepts, its backlog full: `total_s` ends the connect first."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    http = await started()
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        with pytest.raises(UpstreamTimeout, match="total"):
            await http.send(
                "POST",
                f"http://127.0.0.1:{port}/",
                headers=HEADERS,
                body=BODY,
                connect_s=30,
                total_s=0.3,
            )
    finally:
        await http.close()
        for s in fillers:
            s.close()
        listener.close()


async def test_a_name_is_resolved_once_within_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    asked: list[str] = []

    async def counting(host: str, *args: Any, **kw: Any) -> Any:
        asked.append(host)
        return await real(host, *args, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    http = await started()
    try:
        async with RawServer(keep_alive) as srv:
            url = f"http://localhost:{srv.port}/v1/x"
            for _ in range(3):  # each on a new connection: the answer is left unread
                resp = await http.send("POST", url, headers=HEADERS, body=BODY, read_s=30)
                resp.close()
            assert asked == ["localhost"] and http.opened == 3
    finally:
        await http.close()
