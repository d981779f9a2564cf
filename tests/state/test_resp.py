"""The hot path's shared Redis connection at its seam (R20.3, R7.11; issue 20 point 4: a
hand-written replacement of a library tested for framing, pipelining, timeouts and lost
connections). Real Redis, plus tiny fake servers for what Redis never does (stay silent, send
garbage)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import hiredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.state.conftest import redis_url
from tests.waiting import eventually
from torouter.state.redis import connect
from torouter.state.resp import RespConnection

pytestmark = pytest.mark.redis

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def cmd(*args: str | int | bytes) -> bytes:
    return hiredis.pack_command(args)


@pytest.fixture
async def resp() -> AsyncIterator[RespConnection]:
    client = connect(redis_url())
    conn = RespConnection.from_pool(client.connection_pool)
    assert conn is not None
    yield conn
    await conn.close()
    await client.aclose()


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    c = connect(redis_url())
    yield c
    await c.aclose()


async def fake_server(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_concurrent_callers_share_one_connection_and_get_their_own_replies(
    resp: RespConnection, admin: aioredis.Redis
) -> None:
    prefix = f"test:resp:{secrets.token_hex(4)}"

    async def one(i: int) -> list[object]:
        return await resp.execute([cmd("SET", f"{prefix}:{i}", i), cmd("GET", f"{prefix}:{i}")])

    replies = await asyncio.gather(*(one(i) for i in range(200)))
    assert replies == [[b"OK", str(i).encode()] for i in range(200)]
    clients = (await admin.execute_command("CLIENT", "LIST")).decode().splitlines()
    (conn_id,) = await resp.execute([cmd("CLIENT", "ID")])
    assert sum(f"id={conn_id} " in line for line in clients) == 1
    assert resp.protocol is not None and not resp.protocol.calls  # nothing left in flight
    await admin.delete(*(f"{prefix}:{i}" for i in range(200)))


async def test_error_replies_are_values_and_the_connection_stays_in_step(
    resp: RespConnection,
) -> None:
    bad, nosha, ok = await resp.execute(
        [cmd("INCR", "test:resp:not-a-number", "x"), cmd("EVALSHA", "0" * 40, 0), cmd("PING")]
    )
    assert isinstance(bad, ResponseError)
    assert isinstance(nosha, NoScriptError)  # what RedisState loads and runs again
    assert ok == b"PONG"
    assert await resp.execute([cmd("ECHO", "next")]) == [b"next"]


async def test_a_cancelled_caller_does_not_shift_the_replies(resp: RespConnection) -> None:
    await resp.execute([cmd("PING")])  # connected
    doomed = asyncio.create_task(resp.execute([cmd("ECHO", "doomed")]))
    await asyncio.sleep(0)  # written, not yet answered
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await resp.execute([cmd("ECHO", "mine")]) == [b"mine"]


async def test_a_connection_redis_closed_is_replaced_by_the_next_call(
    resp: RespConnection, admin: aioredis.Redis
) -> None:
    (first,) = await resp.execute([cmd("CLIENT", "ID")])
    await admin.client_kill_filter(_id=first)
    # The loss is seen as soon as the loop reads the EOF.
    await eventually(lambda: resp.protocol is None, within=5, what="the connection dropped")
    (second,) = await resp.execute([cmd("CLIENT", "ID")])
    assert second != first


async def test_calls_in_flight_fail_when_the_connection_is_lost(
    resp: RespConnection, admin: aioredis.Redis
) -> None:
    (conn_id,) = await resp.execute([cmd("CLIENT", "ID")])
    key = f"test:resp:list:{secrets.token_hex(4)}"
    waiting = asyncio.create_task(resp.execute([cmd("BLPOP", key, 30)]))

    async def blocked() -> bool:
        return b"blpop" in await admin.execute_command("CLIENT", "LIST", "ID", conn_id)

    await eventually(blocked, within=5, what="the BLPOP in flight")
    await admin.client_kill_filter(_id=conn_id)
    with pytest.raises(RedisConnectionError):
        await waiting


async def test_the_database_and_credentials_of_the_url_are_used(admin: aioredis.Redis) -> None:
    user, password = f"torouter-test-{secrets.token_hex(4)}", secrets.token_hex(8)
    await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    base = redis_url().rsplit("/", 1)[0].replace("redis://", f"redis://{user}:{password}@")
    client = connect(f"{base}/7")
    conn = RespConnection.from_pool(client.connection_pool)
    assert conn is not None
    key = f"test:resp:db:{secrets.token_hex(4)}"
    try:
        assert await conn.execute([cmd("SET", key, "x"), cmd("ACL", "WHOAMI")]) == [
            b"OK",
            user.encode(),
        ]
        other = aioredis.Redis.from_url(redis_url().rsplit("/", 1)[0] + "/7")
        assert await other.get(key) == b"x"
        await other.delete(key)
        await other.aclose()
    finally:
        await conn.close()
        await client.aclose()
        await admin.execute_command("ACL", "DELUSER", user)


async def test_wrong_credentials_fail_as_a_redis_error(admin: aioredis.Redis) -> None:
    base = redis_url().rsplit("/", 1)[0].replace("redis://", "redis://nobody:wrong@")
    client = connect(f"{base}/0")
    conn = RespConnection.from_pool(client.connection_pool)
    assert conn is not None
    with pytest.raises(RedisError):
        await conn.execute([cmd("PING")])
    assert conn.protocol is None
    await client.aclose()


async def test_redis_not_listening_fails_fast() -> None:
    conn = RespConnection(port=1, timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(RedisConnectionError):
        await conn.execute([cmd("PING")])
    assert time.monotonic() - t0 < 5


async def test_a_silent_server_times_out_every_call_in_flight() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        await asyncio.Event().wait()  # never answers

    server, port = await fake_server(silent)
    conn = RespConnection(port=port, timeout_s=0.3)
    try:
        results = await asyncio.gather(
            conn.execute([cmd("PING")]), conn.execute([cmd("PING")]), return_exceptions=True
        )
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert conn.protocol is None  # closed: its late replies can never be misread
    finally:
        await conn.close()
        server.close()


async def test_garbage_from_the_server_closes_the_connection() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await asyncio.Event().wait()

    server, port = await fake_server(garbage)
    conn = RespConnection(port=port, timeout_s=2)
    try:
        with pytest.raises(RedisConnectionError):
            await conn.execute([cmd("PING")])
        assert conn.protocol is None
    finally:
        await conn.close()
        server.close()


async def test_a_reply_split_across_reads_is_put_together() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        for byte in b"*2\r\n$5\r\nhello\r\n:42\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
        await asyncio.Event().wait()

    server, port = await fake_server(slow)
    conn = RespConnection(port=port, timeout_s=5)
    try:
        assert await conn.execute([cmd("ANY")]) == [[b"hello", 42]]
    finally:
        await conn.close()
        server.close()


def test_tls_urls_stay_on_redis_py() -> None:
    client = connect("rediss://127.0.0.1:6380/0")
    assert RespConnection.from_pool(client.connection_pool) is None
    plain = RespConnection.from_pool(connect("unix:///tmp/redis.sock?db=3").connection_pool)
    assert plain is not None and plain.path == "/tmp/redis.sock" and plain.db == 3


def test_on_uvloop_as_the_server_runs_it(admin: aioredis.Redis) -> None:
    """`serve` runs on uvloop, whose transports are not `asyncio.Transport` subclasses."""
    import uvloop

    async def body() -> None:
        client = connect(redis_url())
        conn = RespConnection.from_pool(client.connection_pool)
        assert conn is not None
        try:
            replies = await asyncio.gather(
                *(conn.execute([cmd("ECHO", str(i))]) for i in range(50))
            )
            assert replies == [[str(i).encode()] for i in range(50)]
        finally:
            await conn.close()
            await client.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(body())
