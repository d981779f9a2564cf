"""Usage retention (R11.3): old rows go in bounded batches once a day, one node at a time; the
daily roll-ups stay, hourly ones older than 48 hours go."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage.recorder import write_rows
from torouter.usage.retention import UsageRetention

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


def rows(ages_days: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "admission_id": f"ret-{i}",
            "created_at": (NOW - age * DAY).timestamp(),
            "request_id": f"r{i}",
            "user_id": 1,
            "key_id": 1,
            "model_requested": "m",
            "status": 200,
            "outcome": "success",
            "cost_nusd": 10,
        }
        for i, age in enumerate(ages_days)
    ]


async def count(db: Database, table: Any, column: str = "requests") -> tuple[int, int]:
    async with db.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(table))
        total = (
            await conn.scalar(select(func.coalesce(func.sum(table.c[column]), 0)))
            if column in table.c
            else 0
        )
    return int(n or 0), int(total or 0)


class Clock:
    def __init__(self) -> None:
        self.t = NOW.timestamp()

    def __call__(self) -> float:
        return self.t


async def test_deletes_old_rows_in_batches_and_keeps_daily_rollups(db: Database) -> None:
    await write_rows(db, rows([0, 0.5, 1.5, 3, 10, 11, 12, 40, 41]))
    daily_before = await count(db, t.usage_daily)
    clock = Clock()
    job = UsageRetention(db, retention_days=7, clock=clock, batch_size=2)
    report = await job.run_once()
    assert report.ran and report.deleted_rows == 5 and report.batches == 3
    assert await count(db, t.usage_logs, "cost_nusd") == (4, 40)
    assert await count(db, t.usage_daily) == daily_before  # roll-ups outlive the rows
    assert (await count(db, t.usage_daily))[1] == 9

    # Once a day: a second run the same day does nothing, the next day it runs again.
    assert not (await job.run_once()).ran
    clock.t += 86_400
    report = await job.run_once()
    assert report.ran and report.deleted_rows == 0
    # Two days later, hourly roll-ups older than 48 hours are gone.
    clock.t += 2 * 86_400
    report = await job.run_once()
    assert report.deleted_hours > 0
    async with db.connect() as conn:
        oldest = await conn.scalar(select(func.min(t.usage_hourly.c.hour)))
    cutoff = dt.datetime.fromtimestamp(clock.t, dt.UTC) - dt.timedelta(hours=48)
    assert oldest is None or oldest >= cutoff
    # Three days on, the 3-day-old row is 6 days old: kept; a day later it goes.
    assert (await count(db, t.usage_logs))[0] == 4
    clock.t += 1.5 * 86_400
    assert (await job.run_once()).deleted_rows == 1


async def test_zero_keeps_everything(db: Database) -> None:
    await write_rows(db, rows([0, 100, 1000]))
    report = await UsageRetention(db, retention_days=0).run_once()
    assert report.ran and report.deleted_rows == 0
    assert (await count(db, t.usage_logs))[0] == 3


async def test_one_node_at_a_time(db: Database) -> None:
    await write_rows(db, rows([100]))

    @contextlib.asynccontextmanager
    async def taken(name: str, ttl_s: float) -> AsyncIterator[bool]:
        assert name == "jobs:usage-retention" and ttl_s > 60
        yield False  # another node holds it

    assert not (await UsageRetention(db, retention_days=1, lock=taken).run_once()).ran
    assert (await count(db, t.usage_logs))[0] == 1
