"""The shared usage journal (R11.2, issue 18 point 3) against a real Redis, on SQLite and
PostgreSQL: rows are pending under their node until committed, and the rows of a node that
stopped are written by another node exactly once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from tests.e2e.harness import free_port
from tests.state.conftest import redis_url
from tests.usage.test_recorder import add_user, make_rows
from tests.waiting import eventually
from torouter.state.redis import connect
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage.journal import Journal
from torouter.usage.recorder import UsageRecorder, write_rows
from torouter.usage.shared_journal import SharedJournal

pytestmark = pytest.mark.redis


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    c = connect(redis_url())
    yield c
    await c.aclose()


@pytest.fixture
def stream() -> str:
    """A stream no other test uses, so tests share one Redis."""
    return f"test:usage:{secrets.token_hex(6)}"


def node(client: aioredis.Redis, stream: str, db: Database, name: str, **kw: Any) -> SharedJournal:
    return SharedJournal(client, name, partial(write_rows, db), stream=stream, **kw)


async def pending(client: aioredis.Redis, stream: str) -> dict[str, int]:
    info = await client.xpending(stream, "writers")
    return {c["name"].decode(): c["pending"] for c in info["consumers"]}


async def stored(db: Database, user: int) -> tuple[list[str], int, int]:
    async with db.connect() as conn:
        ids = (await conn.execute(select(t.usage_logs.c.admission_id))).scalars().all()
        balance = (
            await conn.execute(select(t.users.c.balance_nusd).where(t.users.c.id == user))
        ).scalar_one()
        ledger = (
            await conn.execute(
                select(func.coalesce(func.sum(t.ledger.c.amount_nusd), 0)).where(
                    t.ledger.c.user_id == user
                )
            )
        ).scalar_one()
    return list(ids), int(balance), int(ledger)


def charge(rows: list[dict[str, Any]]) -> int:
    return sum(r["cost_nusd"] for r in rows if r.get("debit_balance", True))


async def test_rows_stay_pending_under_their_node_until_committed(
    db: Database, client: aioredis.Redis, stream: str
) -> None:
    user = await add_user(db)
    rows = make_rows(5, [user])
    a = node(client, stream, db, "node-a")
    for row in rows:
        a.publish(row)
    await a.push()  # one script call for the five rows
    assert await client.xlen(stream) == 5
    assert await pending(client, stream) == {"node-a": 5}
    a.done(rows[:3])
    await a.push()  # acknowledged and deleted
    assert await client.xlen(stream) == 2
    assert await pending(client, stream) == {"node-a": 2}
    # Young entries belong to a live node: a sweep leaves them alone.
    b = node(client, stream, db, "node-b", claim_idle_s=30)
    assert await b.recover() == 0
    assert await pending(client, stream) == {"node-a": 2}


async def test_a_stopped_nodes_rows_are_written_by_another_node_once(
    db: Database, client: aioredis.Redis, stream: str
) -> None:
    user = await add_user(db, balance=10**12)
    rows = make_rows(10, [user])
    a = node(client, stream, db, "node-a")
    for row in rows:
        a.publish(row)
    await a.push()
    # Node A committed four rows and was killed before acknowledging them.
    assert await write_rows(db, rows[:4]) == 4
    del a

    b = node(client, stream, db, "node-b", claim_idle_s=0.2)
    c = node(client, stream, db, "node-c", claim_idle_s=0.2)
    results = await eventually(
        lambda: _sweep_both(b, c), within=30, what="a sweep taking node A's rows"
    )
    assert sorted(results) == [0, 6]  # one sweeper took them; only the six new rows charged
    ids, balance, ledger = await stored(db, user)
    assert sorted(ids) == sorted(r["admission_id"] for r in rows)
    assert balance == 10**12 - charge(rows)
    assert ledger == -charge(rows)
    assert await client.xlen(stream) == 0  # acknowledged and deleted
    assert await pending(client, stream) == {}
    assert b.recovered + c.recovered == 6


async def _sweep_both(b: SharedJournal, c: SharedJournal) -> list[int] | None:
    """Both nodes sweep at once; a result once either took something."""
    got = list(await asyncio.gather(b.recover(), c.recover()))
    return got if any(got) else None


async def test_a_sweep_that_fails_to_write_leaves_the_rows_for_the_next(
    db: Database, client: aioredis.Redis, stream: str
) -> None:
    user = await add_user(db)
    rows = make_rows(3, [user])
    a = node(client, stream, db, "node-a")
    for row in rows:
        a.publish(row)
    await a.push()

    async def broken(_rows: list[dict[str, Any]]) -> int:
        raise OSError("database away")

    b = SharedJournal(client, "node-b", broken, stream=stream, claim_idle_s=0.05)

    async def fails() -> bool:
        try:
            await b.recover()  # nothing to take until the entries are 50 ms old
        except OSError:
            return True
        return False

    await eventually(fails, within=30, what="node B claiming the rows and failing to write")
    assert await pending(client, stream) == {"node-b": 3}  # claimed, never acknowledged
    c = node(client, stream, db, "node-c", claim_idle_s=0.05)
    await eventually(c.recover, within=30, what="node C taking the rows B could not write")
    ids, _, _ = await stored(db, user)
    assert sorted(ids) == sorted(r["admission_id"] for r in rows)
    assert await client.xlen(stream) == 0


async def test_rows_committed_before_or_while_they_are_sent(
    db: Database, client: aioredis.Redis, stream: str
) -> None:
    user = await add_user(db)
    first, second = make_rows(2, [user], seed=1), make_rows(2, [user], seed=2, start=10)
    a = node(client, stream, db, "node-a")
    for row in first:
        a.publish(row)
    a.done(first)  # the writer was quicker than the publisher: never sent at all
    assert a.backlog == 0
    for row in second:
        a.publish(row)
    sending = asyncio.create_task(a.push())
    await eventually(lambda: a._sending, within=10, what="the publish call in flight")
    a.done(second)  # committed while its publish is on the wire
    await sending
    await a.push()  # their acknowledgements
    assert await client.xlen(stream) == 0
    assert await pending(client, stream) == {}


async def test_redis_away_keeps_the_rows_for_later(db: Database, stream: str) -> None:
    user = await add_user(db)
    rows = make_rows(2, [user])
    away = connect(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    a = node(away, stream, db, "node-a")
    for row in rows:
        a.publish(row)  # never raises on the hot path
    with pytest.raises(RedisError):
        await a.push()
    assert a.backlog == 2  # kept for the next call (the local journal has them meanwhile)
    a.done(rows)  # the writer committed them anyway: nothing left to send
    assert a.backlog == 0
    await away.aclose()


async def test_the_recorder_publishes_and_acknowledges_and_leaves_cleanly(
    db: Database, client: aioredis.Redis, stream: str, tmp_path: Any
) -> None:
    user = await add_user(db)
    rows = make_rows(20, [user])
    shared = node(client, stream, db, "node-a")
    recorder = UsageRecorder(
        db, Journal(tmp_path / "journal"), flush_interval_s=0.05, shared=shared
    )
    recorder.start()
    for row in rows:
        recorder.record(row)
    await eventually(lambda: recorder.written == 20, within=30, what="the rows written")
    await eventually(
        lambda: _empty(client, stream), within=30, what="the entries acknowledged and deleted"
    )
    await recorder.close()
    consumers = await client.xinfo_consumers(stream, "writers")
    assert consumers == []  # a clean stop leaves no name behind


async def _empty(client: aioredis.Redis, stream: str) -> bool:
    return await client.xlen(stream) == 0
