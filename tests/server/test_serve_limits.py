"""`torouter serve` runs the bounded protocol (R18.5): the real gateway process refuses big
heads with 431, closes stalled connections, and many connections holding big headers do not
grow it (the issue's probe: 300 connections with 3 MB headers took it from 151 MB to 1 GB)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import GatewayProcess
from tests.server.raw_http import big_headers, parse_closing, read_all

CONFIG = """
data_dir = "{dir}/data"
[server]
header_timeout_s = 1
body_timeout_s = 1
[demo]
enabled = false
"""

MB = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("serve-limits"), CONFIG).start()
    try:
        yield gw
    finally:
        gw.stop()


def connect(gw: GatewayProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    sock.settimeout(30)
    return sock


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_serve_answers_431_to_a_big_head(gateway: GatewayProcess) -> None:
    with connect(gateway) as sock:
        sock.sendall(big_headers(65 * 1024, request_id="serve-431"))
        status, headers, _ = parse_closing(read_all(sock))
    assert status == 431 and headers["x-request-id"] == "serve-431"


def test_serve_answers_a_malformed_request_with_400_and_a_request_id(
    gateway: GatewayProcess,
) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")
        status, headers, _ = parse_closing(read_all(sock))
    assert status == 400 and headers["x-request-id"].startswith("req_")


def test_serve_closes_a_stalled_head(gateway: GatewayProcess) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        status, headers, _ = parse_closing(read_all(sock))
    assert status == 408 and headers["x-request-id"].startswith("req_")


async def hold_big_header(port: int, size: int) -> bytes:
    """Send an endless header line of up to `size` bytes, then wait (60 s at most) for the
    server to close the connection; returns what it answered (usually nothing: closing a
    socket with unread bytes resets it, and the reset overtakes the 431)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: ")
        piece = b"a" * (64 * 1024)
        for _ in range(size // len(piece)):
            writer.write(piece)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    try:
        return await asyncio.wait_for(reader.read(), 60)  # until the server closes
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


async def test_many_connections_holding_big_headers_do_not_grow_the_process(
    gateway: GatewayProcess,
) -> None:
    assert gateway.proc is not None
    pid = gateway.proc.pid
    before = rss_kb(pid, "VmRSS")
    # Without the limit the server keeps every line it reads: 200 × 2 MB.
    answers = await asyncio.gather(*(hold_big_header(gateway.port, 2 * MB) for _ in range(200)))
    grown_mb = (rss_kb(pid, "VmHWM") - before) / 1024
    assert grown_mb < 64, f"the process grew by {grown_mb:.0f} MB under 200 big-header holders"
    # Every connection was closed by the server (else `hold_big_header` times out).
    assert all(a == b"" or a.startswith(b"HTTP/1.1 431 ") for a in answers)
    with connect(gateway) as sock:  # and it still serves
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200")
