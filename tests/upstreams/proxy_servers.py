"""Egress proxies for the tests (SPEC R9.1 `proxy`): an HTTP forward/CONNECT proxy and a SOCKS5
server, asyncio, on 127.0.0.1, each counting what passed through it and optionally asking for
a user name and password. Small on purpose: enough of each protocol for aiohttp and
aiohttp-socks, with every step observable.

`ProxyThread` runs them on a loop of their own, for tests whose gateway is another process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HttpProxy", "ProxyThread", "SocksProxy", "closed_port"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


@dataclass
class _Server:
    user: str | None = None
    password: str | None = None
    port: int = 0
    connections: int = 0
    refused_auth: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: serve the proxy itself over TLS (an `https://` proxy)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            await self.serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class HttpProxy(_Server):
    """Absolute-form requests are forwarded one per connection (`Connection: close` both ways);
    CONNECT opens a tunnel. `requests` lists (method, target) of everything accepted."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def _authorized(self, head: list[bytes]) -> bool:
        if self.user is None:
            return True
        want = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        for line in head[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "proxy-authorization":
                return value.strip() == f"Basic {want}"
        return False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n"))[:-4].split(b"\r\n")
        method, target, _ = head[0].decode("latin-1").split(" ", 2)
        if not self._authorized(head):
            self.refused_auth += 1
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="tests"\r\n'
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        self.requests.append((method, target))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice((reader, writer), upstream)
            return
        rest = target.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        host, _, port = authority.rpartition(":")
        upstream = await asyncio.open_connection(host, int(port or 80))
        lines = [f"{method} /{path} HTTP/1.1".encode()]
        length = 0
        for line in head[1:]:
            name = line.split(b":", 1)[0].strip().lower()
            if name in (b"proxy-authorization", b"proxy-connection", b"connection"):
                continue
            if name == b"content-length":
                length = int(line.split(b":", 1)[1])
            lines.append(line)
        lines.append(b"Connection: close")
        body = await reader.readexactly(length)
        upstream[1].write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await upstream[1].drain()
        status = await upstream[0].readuntil(b"\r\n")
        writer.write(status + b"Connection: close\r\n")  # one request per connection
        await _pipe(upstream[0], writer)
        upstream[1].close()


@dataclass
class SocksProxy(_Server):
    """RFC 1928 CONNECT with no auth or RFC 1929 user/password. `targets` lists (address
    type, host, port): 3 is a name the client left to the proxy (socks5h), 1 an IPv4 address."""

    targets: list[tuple[int, str, int]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        assert version == 5
        if self.user is not None:
            if 2 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x02")
            _, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            if (user, password) != (self.user, self.password):
                self.refused_auth += 1
                writer.write(b"\x01\x01")
                await writer.drain()
                return
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        _, command, _, atyp = await reader.readexactly(4)
        assert command == 1  # CONNECT, the only command aiohttp-socks sends
        if atyp == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        elif atyp == 3:
            (n,) = await reader.readexactly(1)
            host = (await reader.readexactly(n)).decode()
        else:
            raw = await reader.readexactly(16)
            host = ":".join(raw[i : i + 2].hex() for i in range(0, 16, 2))
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.targets.append((atyp, host, port))
        try:
            upstream = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")  # connection refused
            return
        writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        await writer.drain()
        await _splice((reader, writer), upstream)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProxyThread:
    """An event loop in a daemon thread, for proxies serving a gateway in another process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any] | Awaitable[Any], timeout: float = 30) -> Any:
        async def wrapped() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def call(self, fn: Callable[[], Any]) -> Any:
        async def wrapped() -> Any:
            return fn()

        return self.run(wrapped())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
