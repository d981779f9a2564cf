"""The usage writer's bulk insert (SPEC R11.2): the same stored values as SQLAlchemy's own insert
on SQLite and PostgreSQL, column defaults included; large backlogs go in larger transactions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage import recorder
from torouter.usage.recorder import chunk_size

WHEN = dt.datetime(2026, 11, 24, 23, 59, 58, 123456, tzinfo=dt.UTC)


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
