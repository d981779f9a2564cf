"""Node heartbeats (operations page): a row per process, kept fresh, marked stopped on a clean
shutdown, shown gone when silent, forgotten after a week; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from torouter.operations.nodes import FORGET_AFTER, STALE_AFTER, Heartbeat, NodeIdentity, list_nodes
from torouter.storage.db import Database
from torouter.storage.tables import nodes

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


async def test_a_heartbeat_keeps_one_row_fresh_and_says_when_it_stopped(db: Database) -> None:
    clock = Clock()
    me = NodeIdentity.here("1.2.3", now=T0)
    depth = [7]
    beat = Heartbeat(db, me, depth=lambda: depth[0], info={"redis": True}, clock=clock)
    await beat.beat()
    clock.now += dt.timedelta(seconds=15)
    depth[0] = 3
    await beat.beat()
    async with db.connect() as conn:
        (row,) = await list_nodes(conn, clock.now)
    assert (row.id, row.version, row.state) == (me.id, "1.2.3", "up")
    assert row.started_at == T0 and row.last_seen_at == clock.now
    assert row.usage_queue_depth == 3 and row.info == {"redis": True}
    await beat.stop()
    async with db.connect() as conn:
        (row,) = await list_nodes(conn, clock.now)
    assert row.state == "stopped" and row.stopped_at == clock.now


async def test_a_silent_node_is_gone_and_an_old_one_forgotten(db: Database) -> None:
    clock = Clock()
    old = Heartbeat(db, NodeIdentity.here("1.0", now=T0), clock=clock)
    await old.beat()  # then killed: no more beats, no stop
    clock.now += STALE_AFTER + dt.timedelta(seconds=1)
    fresh = Heartbeat(db, NodeIdentity.here("1.1", now=clock.now), clock=clock)
    await fresh.beat()
    async with db.connect() as conn:
        listed = await list_nodes(conn, clock.now)
    assert [(n.version, n.state) for n in listed] == [("1.1", "up"), ("1.0", "gone")]
    clock.now += FORGET_AFTER
    await fresh.beat()
    async with db.connect() as conn:
        versions = list((await conn.execute(select(nodes.c.version))).scalars())
    assert versions == ["1.1"]


async def test_a_failed_write_is_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    gone = Database("sqlite+aiosqlite:////nonexistent-folder/torouter.db")
    beat = Heartbeat(gone, NodeIdentity.here("1.0", now=T0))
    await beat.beat()  # logs, does not raise
    await beat.stop()
    assert "node heartbeat failed" in caplog.text
    await gone.dispose()
