"""The composition root's own answers: request ids on every response of the dispatcher (R8.6)
and `/readyz` following the real database and Redis as they go away and come back (R17.3)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import drop_pg_database, make_pg_database
from tests.e2e.harness import free_port, wait_until
from tests.waiting import eventually
from torouter.app import ToRouterApp, build_app
from torouter.config import Settings
from torouter.crypto import generate_key
from torouter.storage.db import Database
from torouter.storage.migrate import upgrade

REQUEST_ID = re.compile(r"req_[0-9A-HJKMNP-TV-Z]{26}")


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[ToRouterApp, httpx.AsyncClient]]:
    app = build_app(settings)
    await app.startup()
    try:
        transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield app, c
    finally:
        await app.shutdown()


# -- x-request-id on the dispatcher's own answers --------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/", 303),  # the console: sign in first
        ("HEAD", "/", 303),
        ("GET", "/models/x", 303),
        ("GET", "/nowhere", 404),
        ("GET", "/v1/nowhere", 404),
        ("GET", "/static/nope.css", 404),
        ("POST", "/nowhere", 404),
    ],
)
async def test_every_answer_of_the_dispatcher_carries_a_request_id(
    tmp_path: Path, method: str, path: str, status: int
) -> None:
    async with running(Settings(data_dir=tmp_path, demo={"enabled": False})) as (_, c):
        r = await c.request(method, path)
        assert r.status_code == status
        assert REQUEST_ID.fullmatch(r.headers["x-request-id"])
        r = await c.request(method, path, headers={"X-Request-Id": "trace.42:a-b"})
        assert r.headers["x-request-id"] == "trace.42:a-b"
        r = await c.request(method, path, headers={"X-Request-Id": "bad id!"})
        assert REQUEST_ID.fullmatch(r.headers["x-request-id"])


async def test_a_refused_metrics_scrape_carries_a_request_id(tmp_path: Path) -> None:
    app = build_app(Settings(data_dir=tmp_path, demo={"enabled": False}))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app, client=("93.184.216.34", 4000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            r = await c.get("/metrics")
        assert r.status_code == 403 and REQUEST_ID.fullmatch(r.headers["x-request-id"])
    finally:
        await app.shutdown()


# -- /readyz against real stores ------------------------------------------------------------


class RedisServer:
    """A redis-server of this test's own, on a free port, that the test stops and restarts."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=30, what="redis-server answering")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class TcpProxy:
    """A TCP relay to PostgreSQL that the test cuts (listener and live connections) and
    restores on the same port: the database becomes unreachable and comes back."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.fixture
async def pg_through_proxy() -> AsyncIterator[tuple[str, TcpProxy]]:
    """A migrated PostgreSQL database, and its URL through a proxy the test controls."""
    url = await make_pg_database()
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.up()
    try:
        yield parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        if proxy._server is not None:
            await proxy.down()
        await drop_pg_database(url)


async def readyz(c: httpx.AsyncClient) -> tuple[int, str]:
    r = await c.get("/readyz")
    return r.status_code, r.text


@pytest.mark.postgres
@pytest.mark.redis
async def test_readyz_is_503_while_redis_or_the_database_is_away_and_200_when_back(
    tmp_path: Path, own_redis: RedisServer, pg_through_proxy: tuple[str, TcpProxy]
) -> None:
    url, proxy = pg_through_proxy
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": url},
        redis={"url": own_redis.url},
        encryption_key=generate_key(),
        demo={"enabled": False},
        jobs={"enabled": False},
    )
    async with running(settings) as (_, c):
        assert await readyz(c) == (200, "ready")

        own_redis.stop()
        started = time.monotonic()
        assert await readyz(c) == (503, "not ready: redis")
        assert time.monotonic() - started < 10  # a refused connection is known at once
        own_redis.start()  # an empty Redis on the same port, no restart of the app

        async def back() -> bool:
            return await readyz(c) == (200, "ready")

        await eventually(back, within=60, what="ready again after Redis came back")

        await proxy.down()
        assert await readyz(c) == (503, "not ready: database")
        await proxy.up()
        await eventually(back, within=60, what="ready again after the database came back")


async def test_readyz_is_503_while_draining(tmp_path: Path) -> None:
    async with running(Settings(data_dir=tmp_path, demo={"enabled": False})) as (app, c):
        assert await readyz(c) == (200, "ready")
        app.draining = True
        assert await readyz(c) == (503, "not ready: draining")
        app.draining = False
