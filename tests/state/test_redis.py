"""The Redis backend's own round trip (R7.11, R20.3): scripts by EVALSHA in one write on one
pooled connection. What redis-py's wrappers did for it must still hold: a script Redis lost is
loaded and run once, an error reply leaves the connection in step, a connection Redis closed
is replaced, and a stream append fails alone. Real Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import hiredis
import pytest
import redis.asyncio as aioredis

from tests.state.conftest import redis_url
from tests.state.test_backends import req, seeded, tag
from torouter.state.base import Hold, StateUnavailable, StreamAppend
from torouter.state.redis import RedisState, connect, res_key

pytestmark = pytest.mark.redis


@pytest.fixture
async def state() -> AsyncIterator[RedisState]:
    backend = RedisState(connect(redis_url(), max_connections=1))  # one connection: reused
    yield backend
    await backend.close()


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    c = connect(redis_url())
    yield c
    await c.aclose()


def scope() -> str:
    return str(secrets.randbelow(10**12) + 10**6)


async def test_scripts_lost_by_redis_are_loaded_and_applied_once(
    state: RedisState, admin: aioredis.Redis
) -> None:
    s = scope()
    await seeded(state, s, 1000)
    holds = (Hold(tag(s, "bal"), 0, "balance"),)
    await admin.script_flush()  # Redis restarted empty of scripts
    assert (await state.admit(req(s, "a", 500, holds=holds))).ok
    await admin.script_flush()
    stream = f"test:stream:{secrets.token_hex(4)}"
    append = StreamAppend(stream, "writers", "node", b"{}")
    assert await state.settle(f"{s}-a", s, holds, 300, now=1.8e9, append=append)
    assert await state.used(tag(s, "bal")) == (-1000 + 300, 0)  # charged once
    assert append.entry_id is not None and await admin.xlen(stream) == 1  # added once


async def test_an_error_reply_leaves_the_connection_in_step(
    state: RedisState, admin: aioredis.Redis
) -> None:
    s = scope()
    await seeded(state, s, 1000)
    holds = (Hold(tag(s, "bal"), 0, "balance"),)
    assert (await state.admit(req(s, "a", 100, holds=holds))).ok
    await admin.set(res_key(s), "not a hash")  # the settle script fails on it
    with pytest.raises(StateUnavailable):
        await state.settle(f"{s}-a", s, holds, 100, now=1.8e9)
    await admin.delete(res_key(s))
    # The same (only) connection answers the next calls with their own replies.
    assert (await state.admit(req(s, "b", 100, holds=holds))).ok
    assert await state.settle(f"{s}-b", s, holds, 100, now=1.8e9)
    assert not await state.settle(f"{s}-b", s, holds, 100, now=1.8e9)


async def test_a_failed_append_does_not_stop_the_charge(
    state: RedisState, admin: aioredis.Redis
) -> None:
    """The row goes first; if its append fails (here: the stream key holds a string) the
    charge still lands, and the row is left to the shared journal's outbox (no entry id)."""
    s = scope()
    await seeded(state, s, 1000)
    holds = (Hold(tag(s, "bal"), 0, "balance"),)
    assert (await state.admit(req(s, "a", 100, holds=holds))).ok
    stream = f"test:stream:{secrets.token_hex(4)}"
    await admin.set(stream, "not a stream")
    append = StreamAppend(stream, "writers", "node", b"{}")
    with pytest.raises(StateUnavailable):
        await state.settle(f"{s}-a", s, holds, 100, now=1.8e9, append=append)
    assert append.entry_id is None
    assert await state.used(tag(s, "bal")) == (-1000 + 100, 0)


async def test_a_connection_redis_closed_is_replaced(
    state: RedisState, admin: aioredis.Redis
) -> None:
    s = scope()
    await seeded(state, s, 1000)
    holds = (Hold(tag(s, "bal"), 0, "balance"),)
    assert (await state.admit(req(s, "a", 100, holds=holds))).ok
    assert state._resp is not None  # the hot path's shared connection (state/resp.py)
    (conn_id,) = await state._resp.execute([hiredis.pack_command(("CLIENT", "ID"))])
    await admin.client_kill_filter(_id=conn_id)
    assert (await state.admit(req(s, "b", 100, holds=holds))).ok
    (new_id,) = await state._resp.execute([hiredis.pack_command(("CLIENT", "ID"))])
    assert new_id != conn_id
