"""A key's spend and window use (R7.5, R7.7, R11.3) read from the roll-ups equal a scan of the
usage log over the same windows, to the second at every boundary, in a half-hour timezone."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api import seed
from torouter.api.windows import (
    KeyStats,
    calendar_windows,
    key_stats,
    key_window_requests,
    subscription_use,
)
from torouter.storage.db import Database

pytestmark = pytest.mark.asyncio

ZONE = ZoneInfo("Asia/Kolkata")  # +05:30: local days and hours are not UTC ones


def _rows(now: dt.datetime) -> list[dict[str, Any]]:
    """Rows of keys 1 and 2 over 35 days, plus a pair one second either side of each window
    boundary (30 d, 7 d, 1 d, 5 h, local midnight, the hours and days next to them)."""
    rng = random.Random(5)
    day = calendar_windows(now, ZONE).day
    marks = [
        now - dt.timedelta(days=30),
        now - dt.timedelta(days=7),
        now - dt.timedelta(hours=24),
        now - dt.timedelta(hours=5),
        day,
    ]
    instants = [now - dt.timedelta(seconds=rng.randint(0, 35 * 86_400)) for _ in range(400)]
    for m in marks:
        local = m.astimezone(ZONE)
        hour = local.replace(minute=0, second=0, microsecond=0)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for edge in (m, hour + dt.timedelta(hours=1), midnight + dt.timedelta(days=1)):
            edge = edge.astimezone(dt.UTC)
            instants += [edge - dt.timedelta(seconds=1), edge, edge + dt.timedelta(seconds=1)]
    rows = []
    for n, at in enumerate(instants):
        if at > now:
            continue
        refused = rng.random() < 0.2
        rows.append(
            seed.usage_row(
                n,
                created_at=at,
                key_id=rng.choice([1, 1, 2]),
                outcome="refused" if refused else rng.choice(["success", "partial"]),
                cost_nusd=0 if refused else rng.randint(1, 10**6),
            )
        )
    return rows


def _scan(rows: list[dict[str, Any]], key: int, since: dt.datetime) -> tuple[int, int]:
    """(requests that were not refused, cost) of `key` from `since` on: the log's answer."""
    mine = [
        r
        for r in rows
        if r["key_id"] == key and r["created_at"] >= since and r["outcome"] != "refused"
    ]
    return len(mine), sum(r["cost_nusd"] for r in mine)


async def test_key_sums_from_rollups_equal_the_log(db: Database) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = _rows(now)
    await seed.usage(db, rows, zone=ZONE)
    day = calendar_windows(now, ZONE).day
    async with db.connect() as conn:
        stats = await key_stats(conn, [1, 2, 3], day_start=day, now=now, zone=ZONE)
        use = await key_window_requests(conn, 1, now=now, zone=ZONE)
    for key in (1, 2):
        today_n, today_cost = _scan(rows, key, day)
        assert stats[key] == KeyStats(
            spend_today_nusd=today_cost,
            spend_30d_nusd=_scan(rows, key, now - dt.timedelta(days=30))[1],
            requests_today=today_n,
        )
    assert 3 not in stats  # a key without requests has no entry (the caller shows zeros)
    assert use == {
        "requests_5h": _scan(rows, 1, now - dt.timedelta(hours=5))[0],
        "requests_1d": _scan(rows, 1, now - dt.timedelta(hours=24))[0],
        "requests_7d": _scan(rows, 1, now - dt.timedelta(days=7))[0],
    }
    assert use["requests_5h"] > 0 and stats[1].spend_30d_nusd > stats[1].spend_today_nusd > 0


async def test_rows_without_rollups_are_not_counted_twice(db: Database) -> None:
    """Only the part of a window before its first whole day or hour is read from the log: a
    row there counts once, and a key with no rows at all answers nothing."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    since = now - dt.timedelta(days=30)
    row = seed.usage_row(1, created_at=since + dt.timedelta(seconds=1), cost_nusd=7)
    await seed.usage(db, [row], zone=ZONE)
    day = calendar_windows(now, ZONE).day
    async with db.connect() as conn:
        stats = await key_stats(conn, [1], day_start=day, now=now, zone=ZONE)
        assert await key_stats(conn, [], day_start=day, now=now, zone=ZONE) == {}
    assert stats == {1: KeyStats(spend_today_nusd=0, spend_30d_nusd=7, requests_today=0)}


async def test_subscription_use_sums_each_pair_over_its_calendar_windows(db: Database) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    w = calendar_windows(now, ZONE)
    rng = random.Random(9)
    rows = [
        seed.usage_row(
            n,
            created_at=now - dt.timedelta(seconds=rng.randint(0, 40 * 86_400)),
            user_id=rng.choice([1, 2]),
            group_id=rng.choice([1, 2, 3]),
            cost_nusd=rng.randint(1, 1000),
        )
        for n in range(300)
    ]
    await seed.usage(db, rows, zone=ZONE)
    pairs = [(1, 1), (1, 2), (2, 3), (3, 1)]
    async with db.connect() as conn:
        use = await subscription_use(conn, pairs, w)
        assert await subscription_use(conn, [(1, 2)], w) == {(1, 2): use[(1, 2)]}
        assert await subscription_use(conn, [], w) == {}

    def spend(u: int, g: int, since: dt.datetime) -> int:
        mine = (r for r in rows if (r["user_id"], r["group_id"]) == (u, g))
        return sum(r["cost_nusd"] for r in mine if r["created_at"] >= since)

    assert use == {
        (u, g): (spend(u, g, w.day), spend(u, g, w.week), spend(u, g, w.month))
        for u, g in pairs[:3]  # user 3 made no request: no entry
        if spend(u, g, min(w.week, w.month))
    }
