"""The usage writer's bulk statements (SPEC R11.2): the same stored values as SQLAlchemy's own
insert on SQLite and PostgreSQL, column defaults included; inserts idempotent by a unique column;
bulk updates; large backlogs go in larger transactions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from torouter.storage import tables as t
from torouter.storage.bulk import BulkUpdate
from torouter.storage.db import Database
from torouter.usage import recorder
from torouter.usage.recorder import chunk_size

WHEN = dt.datetime(2026, 11, 24, 23, 59, 58, 123456, tzinfo=dt.UTC)
u = t.usage_logs.c


def row(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "admission_id": f"boot-{n}",
        "created_at": WHEN,
        "request_id": f"req_{n}",
        "model_requested": "m",
        "endpoint": "chat",
        "status": 200,
        "outcome": "success",
        "input_tokens": 10 + n,
        "cost_nusd": 10**15 + n,  # beyond 32 bits
        **extra,
    }


def stored(rows: list[Any]) -> list[dict[str, Any]]:
    return sorted(
        (
            {k: v for k, v in r._mapping.items() if k not in ("id", "admission_id", "request_id")}
            for r in rows
        ),
        key=lambda r: r["input_tokens"],
    )


async def test_bulk_insert_stores_what_sqlalchemy_stores(db: Database) -> None:
    full = {
        "stream": True,
        "attempt_chain": [{"channel": 1, "status": 200, "class": "success", "ms": 12}],
        "attempts": 1,
        "audio_seconds": 1.5,
        "estimated": True,
        "client_ip": "2001:db8::1",
        "user_agent": "ünïcode/1",
    }
    async with db.begin() as conn:
        await recorder._INSERT.run(conn, [row(1), row(2, **full)])
        for one in (row(101), row(102, **full)):  # one by one: executemany takes row 1's keys
            await conn.execute(t.usage_logs.insert(), one)
    async with db.connect() as conn:
        ours = await conn.execute(select(t.usage_logs).where(t.usage_logs.c.input_tokens < 100))
        theirs = await conn.execute(select(t.usage_logs).where(t.usage_logs.c.input_tokens > 100))
        ours_rows, theirs_rows = stored(list(ours)), stored(list(theirs))
    for a, b in zip(ours_rows, theirs_rows, strict=True):
        b = {**b, "input_tokens": b["input_tokens"] - 100, "cost_nusd": b["cost_nusd"] - 100}
        assert a == b
    assert ours_rows[1]["created_at"].replace(tzinfo=dt.UTC) == WHEN
    assert ours_rows[0]["attempt_chain"] == [] and ours_rows[0]["stream"] is False


async def test_write_rows_is_idempotent_across_chunk_sizes(db: Database) -> None:
    rows = [{**row(n), "created_at": WHEN.timestamp()} for n in range(450)]
    assert await recorder.write_rows(db, rows[:300]) == 300
    assert await recorder.write_rows(db, rows) == 150  # replayed ones are skipped
    async with db.connect() as conn:
        count = len(list(await conn.execute(select(t.usage_logs.c.id))))
    assert count == 450


@pytest.mark.parametrize(
    ("pending", "size"), [(1, 100), (150, 100), (400, 200), (3_000, 1_500), (50_000, 2_000)]
)
def test_chunks_grow_with_the_backlog(pending: int, size: int) -> None:
    assert chunk_size(pending) == size


async def test_run_new_inserts_only_the_values_not_stored_yet(db: Database) -> None:
    """The writer's idempotency by admission id (R11.2): one call inserts the unseen rows of a
    batch that also holds stored ones and says which went in (PostgreSQL: `ON CONFLICT DO
    NOTHING RETURNING`, in the same statement)."""
    first = [recorder._parse_time({**row(n), "created_at": WHEN.timestamp()}) for n in range(3)]
    mixed = [recorder._parse_time({**row(n), "created_at": WHEN.timestamp()}) for n in range(6)]
    mixed[1] = {**mixed[1], "input_tokens": 999}  # a replay never overwrites the stored row
    async with db.begin() as conn:
        assert await recorder._INSERT.run_new(conn, first, "admission_id") == {
            "boot-0",
            "boot-1",
            "boot-2",
        }
    async with db.begin() as conn:
        assert await recorder._INSERT.run_new(conn, mixed, "admission_id") == {
            "boot-3",
            "boot-4",
            "boot-5",
        }
        assert await recorder._INSERT.run_new(conn, mixed, "admission_id") == set()
        assert await recorder._INSERT.run_new(conn, [], "admission_id") == set()
    async with db.connect() as conn:
        got = dict((await conn.execute(select(u.admission_id, u.input_tokens))).tuples().all())
    assert got == {f"boot-{n}": 10 + n for n in range(6)}


async def test_bulk_insert_refuses_a_too_long_value_as_a_plain_insert_does(db: Database) -> None:
    """PostgreSQL rejects a value longer than its VARCHAR (the arrays are sent as `text[]`: a
    cast to `varchar(n)[]` would truncate silently); SQLite stores it, as its own insert does."""
    long = row(1, user_agent="x" * 201)
    if db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="too long"):
            async with db.begin() as conn:
                await recorder._INSERT.run(conn, [long])
        with pytest.raises(DBAPIError, match="too long"):
            async with db.begin() as conn:
                await conn.execute(t.usage_logs.insert(), long)
        return
    async with db.begin() as conn:
        await recorder._INSERT.run(conn, [long])
    async with db.connect() as conn:
        assert len((await conn.execute(select(u.user_agent))).scalar_one()) == 201


async def test_bulk_update_adds_assigns_and_skips_unknown_keys(db: Database) -> None:
    """`BulkUpdate`: relative columns added to, absolute ones set (through their bind
    processors: an aware datetime stored as the UTC text), rows of keys that match nothing
    skipped, on both databases."""
    async with db.begin() as conn:
        await conn.execute(
            t.users.insert(),
            [
                {"id": i, "email": f"{i}@x.test", "balance_nusd": 100 * i, "created_at": WHEN}
                for i in (1, 2, 3)
            ],
        )
    update = BulkUpdate(t.users, "id", add=["balance_nusd"], assign=["low_balance_notified_at"])
    later = WHEN + dt.timedelta(days=1)
    async with db.begin() as conn:
        await update.run(conn, [(3, -5 * 10**15, later), (1, 7, None), (42, 1, WHEN)])
        await update.run(conn, [])
    async with db.connect() as conn:
        q = select(t.users.c.id, t.users.c.balance_nusd, t.users.c.low_balance_notified_at)
        got = {r.id: (r.balance_nusd, r.low_balance_notified_at) for r in await conn.execute(q)}
    assert got == {1: (107, None), 2: (200, None), 3: (300 - 5 * 10**15, later)}
