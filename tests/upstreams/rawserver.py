"""A raw asyncio HTTP/1.1 server for the upstream client's seam tests: each connection runs a
scripted handler that may answer correctly or misbehave on purpose (cut a body, reset, stall,
half-close, send huge heads). It counts connections and requests, so keep-alive reuse and "never
sent twice" are proven server-side."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Conn", "RawServer", "Request", "read_request"]


@dataclass
class Request:
    line: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    raw_head: bytes


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: RawServer
    requests: list[Request] = field(default_factory=list)

    async def request(self) -> Request | None:
        """The next request on this connection, None at EOF."""
        req = await read_request(self.reader)
        if req is not None:
            self.requests.append(req)
            self.server.requests.append(req)
        return req

    async def answer(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), as a crashed upstream's kernel would."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Conn], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(lines[0], headers, body, head)


class RawServer:
    """`async with RawServer(handler) as srv:` — one handler task per connection."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", ssl: object = None) -> None:
        self.handler = handler
        self.host = host
        self.ssl = ssl
        self.connections: list[Conn] = []
        self.requests: list[Request] = []
        self.closed_connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.ssl)  # type: ignore[arg-type]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for c in self.connections:
            c.writer.transport.abort()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str = "/v1/chat/completions") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer, self)
        self.connections.append(conn)
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            self.closed_connections += 1


def ok(body: bytes = b"{}", extra: bytes = b"") -> bytes:
    """A complete keep-alive answer with a content-length."""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


async def keep_alive(conn: Conn) -> None:
    """The well-behaved handler: answer every request with its body echoed."""
    while (req := await conn.request()) is not None:
        await conn.answer(ok(req.body or b"{}"))
