"""The usage writer keeps the roll-ups (R11.3) in the transaction of the rows, exactly.

Each test writes rows through `write_rows` (the writer's own path) and compares every roll-up
with what the stored log adds up to, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage.recorder import write_rows
from torouter.usage.rollups import local_day, local_hour

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime.now(dt.UTC)
OUTCOMES = ["success"] * 6 + ["upstream_error", "partial", "refused", "client_cancelled"]


async def add_user(db: Database, balance: int = 10**12) -> int:
    async with db.begin() as conn:
        res = await conn.execute(
            insert(t.users).values(
                email=f"u{random.random()}@example.com",
                balance_nusd=balance,
                created_at=NOW,
            )
        )
        return int(res.inserted_primary_key[0])


def make_rows(n: int, users: list[int], *, seed: int = 1, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    now = dt.datetime.now(dt.UTC)  # the writer keeps hours from its own now, not import time
    for i in range(start, start + n):
        outcome = rng.choice(OUTCOMES)
        ok = outcome not in ("refused", "upstream_error")
        ago = rng.uniform(0, 96)
        if 46 <= ago <= 50:  # none near the 48-hour edge, which moves with the clock
            ago += 5
        at = now - dt.timedelta(hours=ago)
        rows.append(
            {
                "admission_id": f"w-{i}",
                "created_at": at.timestamp(),
                "request_id": f"r{i}",
                "user_id": rng.choice(users),
                "key_id": rng.randint(1, 3),
                "model_requested": rng.choice(["gpt", "claude"]),
                "channel_id": rng.choice([1, 2]) if outcome != "refused" else None,
                "endpoint": "chat",
                "status": 200 if ok else rng.choice([429, 502]),
                "outcome": outcome,
                "input_tokens": rng.randint(0, 5000) if ok else 0,
                "cache_read_tokens": rng.randint(0, 100),
                "output_tokens": rng.randint(0, 900) if ok else 0,
                "reasoning_tokens": rng.randint(0, 50),
                "cost_nusd": rng.randint(1, 10**7) if ok else 0,
                "latency_ms": rng.randint(50, 20_000),
                "ttft_ms": rng.randint(20, 3000) if rng.random() < 0.8 else None,
            }
        )
    return rows


async def expected(db: Database) -> tuple[dict[Any, dict[str, int]], dict[Any, dict[str, int]]]:
    """Daily and hourly roll-ups recomputed from the stored log."""
    daily: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hourly: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hourly_from = local_hour(dt.datetime.now(dt.UTC) - dt.timedelta(hours=48), ZONE)
    async with db.connect() as conn:
        for r in (await conn.execute(select(t.usage_logs))).mappings():
            at = r["created_at"]
            key = (r["user_id"], r["key_id"], r["model_requested"])
            targets = [daily[(local_day(at, ZONE), *key)]]
            if local_hour(at, ZONE) >= hourly_from:
                targets.append(hourly[(local_hour(at, ZONE), *key)])
            for acc in targets:
                acc["requests"] += 1
                acc["successes"] += r["outcome"] == "success"
                acc["refused"] += r["outcome"] == "refused"
                acc["failures"] += r["outcome"] in ("upstream_error", "partial", "failed")
                for col in ("cost_nusd", "input_tokens", "output_tokens", "cache_read_tokens"):
                    acc[col] += r[col]
                ok = r["outcome"] == "success"
                acc["latency_n"] += ok
                acc["ttft_n"] += ok and r["ttft_ms"] is not None
    return daily, hourly


async def stored(db: Database, table: Any, first: str) -> dict[Any, dict[str, int]]:
    out = {}
    lat = [c for c in table.c if c.name.startswith("latency_b")]
    ttft = [c for c in table.c if c.name.startswith("ttft_b")]
    async with db.connect() as conn:
        for r in (await conn.execute(select(table))).mappings():
            out[(r[first], r["user_id"], r["key_id"], r["model"])] = {
                "requests": r["requests"],
                "successes": r["successes"],
                "refused": r["refused"],
                "failures": r["failures"],
                "cost_nusd": r["cost_nusd"],
                "input_tokens": r["input_tokens"],
                "output_tokens": r["output_tokens"],
                "cache_read_tokens": r["cache_read_tokens"],
                "latency_n": sum(r[c.name] for c in lat),
                "ttft_n": sum(r[c.name] for c in ttft),
            }
    return out


def plain(d: dict[Any, dict[str, int]]) -> dict[Any, dict[str, int]]:
    return {k: dict(v) for k, v in d.items()}


async def test_rollups_equal_the_log_and_survive_replays(db: Database) -> None:
    users = [await add_user(db), await add_user(db)]
    rows = make_rows(700, users)
    assert await write_rows(db, rows[:400], zone=ZONE) == 400
    # A replay of everything (the journal after a crash) adds only the 300 new rows.
    assert await write_rows(db, rows, zone=ZONE) == 300
    daily, hourly = await expected(db)
    assert await stored(db, t.usage_daily, "day") == plain(daily)
    assert await stored(db, t.usage_hourly, "hour") == plain(hourly)
    assert len(daily) > 20 and len(hourly) > 50  # the rows spread over days and hours
    async with db.connect() as conn:
        total = sum(r.requests for r in await conn.execute(select(t.usage_daily_channel)))
    assert total == 700


async def test_concurrent_writers_never_lose_an_increment(db: Database) -> None:
    users = [await add_user(db)]
    a = make_rows(300, users, seed=2, start=0)
    b = make_rows(300, users, seed=3, start=1000)
    await asyncio.gather(write_rows(db, a, zone=ZONE), write_rows(db, b, zone=ZONE))
    daily, _ = await expected(db)
    assert await stored(db, t.usage_daily, "day") == plain(daily)


async def test_a_failed_batch_leaves_no_rollup(db: Database) -> None:
    users = [await add_user(db)]
    rows = make_rows(10, users)
    rows[5]["status"] = None  # NOT NULL: the whole transaction fails
    try:
        await write_rows(db, rows, zone=ZONE)
    except Exception:
        pass
    else:
        raise AssertionError("the batch should have failed")
    async with db.connect() as conn:
        assert (await conn.execute(select(t.usage_daily))).first() is None
        assert (await conn.execute(select(t.usage_logs))).first() is None
    rows[5]["status"] = 200
    assert await write_rows(db, rows, zone=ZONE) == 10
    daily, _ = await expected(db)
    assert await stored(db, t.usage_daily, "day") == plain(daily)
