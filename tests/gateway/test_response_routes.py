"""`previous_response_id` routing (SPEC R3.3): ids kept in memory and written in batches off the
hot path; a follow-up goes to its response's channel (E22 if it cannot), openai only (E16)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from torouter.errors import GatewayError
from torouter.gateway.response_routes import TTL_S, ResponseRoutes
from torouter.snapshot import ChannelRec
from torouter.storage import tables as t
from torouter.storage.db import Database


def ch(cid: int, platform: str = "openai") -> ChannelRec:
    return ChannelRec(
        id=cid,
        name=f"c{cid}",
        platform=platform,
        base_url="http://x",
        credential="k",
        models=frozenset({"m"}),
        model_mapping={},
        priority=0,
        weight=1,
        connect_timeout=1,
        first_byte_timeout=1,
        stream_idle_timeout=1,
        status="enabled",
        max_concurrency=0,
        options={},
    )


async def test_route_in_memory() -> None:
    routes = ResponseRoutes(None)
    cands = [ch(1), ch(2), ch(3, "anthropic")]
    assert await routes.route("resp_new", cands) == [ch(1), ch(2)]  # unknown: openai only
    routes.remember("resp_a", 2)
    assert await routes.route("resp_a", cands) == [ch(2)]
    routes.remember("resp_gone", 9)
    with pytest.raises(GatewayError) as info:
        await routes.route("resp_gone", cands)
    assert info.value.status == 503
    with pytest.raises(GatewayError) as info:
        await routes.route("resp_a", [ch(3, "anthropic"), ch(4, "openrouter")])
    assert info.value.code == "INVALID_REQUEST" and info.value.param == "previous_response_id"


async def test_memory_is_bounded_and_expires() -> None:
    now = [1000.0]
    routes = ResponseRoutes(None, max_entries=2, ttl_s=10, clock=lambda: now[0])
    for i in range(3):
        routes.remember(f"r{i}", i)
    assert await routes.lookup("r0") is None and await routes.lookup("r2") == 2
    now[0] += 11
    assert await routes.lookup("r2") is None


async def test_written_in_batches_and_found_after_restart(db: Database) -> None:
    routes = ResponseRoutes(db, flush_delay_s=0.01)
    for i in range(5):
        routes.remember(f"resp_{i}", 7)
    routes.remember("resp_0", 7)  # a repeat is ignored by the database
    await routes.close()
    async with db.connect() as conn:
        rows = (await conn.execute(select(t.response_routes.c.response_id))).all()
    assert sorted(r[0] for r in rows) == [f"resp_{i}" for i in range(5)]
    fresh = ResponseRoutes(db)  # another process, or after a restart
    assert await fresh.lookup("resp_3") == 7
    assert await fresh.lookup("resp_none") is None


async def test_old_rows_are_neither_used_nor_kept(db: Database) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=TTL_S + 60)
    async with db.begin() as conn:
        await conn.execute(
            insert(t.response_routes).values(response_id="resp_old", channel_id=1, created_at=old)
        )
    routes = ResponseRoutes(db, flush_delay_s=0)
    assert await routes.lookup("resp_old") is None
    routes.remember("resp_now", 2)
    await routes.close()  # flushes what is pending
    async with db.connect() as conn:
        ids = {r[0] for r in (await conn.execute(select(t.response_routes.c.response_id))).all()}
    assert ids == {"resp_now"}  # pruned at the first flush
