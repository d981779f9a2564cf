"""Calendar windows in the deployment timezone (R7.7) and spend read from the usage log.

Windows are computed, never stored: the day starts at 00:00, the week on Monday, the month
on the 1st, all local to the `timezone` setting, returned as UTC instants. The sums here
come from `usage_logs`, i.e. settled requests already written by the recorder (it writes
every ~200 ms); reservations in flight are not included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import usage_logs

__all__ = [
    "CalendarWindows",
    "KeyStats",
    "calendar_windows",
    "key_stats",
    "key_window_requests",
    "subscription_use",
]


@dataclass(frozen=True, slots=True)
class CalendarWindows:
    day: dt.datetime
    week: dt.datetime
    month: dt.datetime


def calendar_windows(now: dt.datetime, zone: dt.tzinfo) -> CalendarWindows:
    local = now.astimezone(zone)
    midnight = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
    week = midnight - dt.timedelta(days=local.weekday())
    month = midnight.replace(day=1)
    return CalendarWindows(*(t.astimezone(dt.UTC) for t in (midnight, week, month)))


@dataclass(frozen=True, slots=True)
class KeyStats:
    spend_today_nusd: int = 0
    spend_30d_nusd: int = 0
    requests_today: int = 0


def _sum_since(since: dt.datetime) -> ColumnElement[Any]:
    return func.coalesce(
        func.sum(case((usage_logs.c.created_at >= since, usage_logs.c.cost_nusd), else_=0)), 0
    )


async def key_stats(
    conn: AsyncConnection, key_ids: Collection[int], *, day_start: dt.datetime, now: dt.datetime
) -> dict[int, KeyStats]:
    """Spend today and over 30 days, and today's requests, of many keys in one query.
    Refused requests count in no window and cost nothing (R7.1), so they are left out."""
    if not key_ids:
        return {}
    c = usage_logs.c
    month_ago = now - dt.timedelta(days=30)
    stmt = (
        select(
            c.key_id,
            _sum_since(day_start),
            _sum_since(month_ago),
            func.coalesce(func.sum(case((c.created_at >= day_start, 1), else_=0)), 0),
        )
        .where(
            c.key_id.in_(list(key_ids)),
            c.created_at >= min(day_start, month_ago),
            c.outcome != "refused",
        )
        .group_by(c.key_id)
    )
    return {
        int(kid): KeyStats(int(today), int(month), int(requests))
        for kid, today, month, requests in await conn.execute(stmt)
    }


async def key_window_requests(
    conn: AsyncConnection, key_id: int, *, now: dt.datetime
) -> dict[str, int]:
    """Requests admitted in the key's rolling 5 h, 1 d and 7 d windows (R7.5)."""
    c = usage_logs.c
    spans = {"requests_5h": 5, "requests_1d": 24, "requests_7d": 168}
    columns = [
        func.coalesce(func.sum(case((c.created_at >= now - dt.timedelta(hours=h), 1), else_=0)), 0)
        for h in spans.values()
    ]
    stmt = select(*columns).where(
        c.key_id == key_id,
        c.created_at >= now - dt.timedelta(hours=168),
        c.outcome != "refused",
    )
    row = (await conn.execute(stmt)).one()
    return {name: int(value) for name, value in zip(spans, row, strict=True)}


async def subscription_use(
    conn: AsyncConnection, pairs: Collection[tuple[int, int]], windows: CalendarWindows
) -> dict[tuple[int, int], tuple[int, int, int]]:
    """(user id, group id) → spend in the current day, week and month, in one query."""
    if not pairs:
        return {}
    c = usage_logs.c
    match = [and_(c.user_id == u, c.group_id == g) for u, g in set(pairs)]
    stmt = (
        select(
            c.user_id,
            c.group_id,
            _sum_since(windows.day),
            _sum_since(windows.week),
            _sum_since(windows.month),
        )
        .where(c.created_at >= min(windows.week, windows.month))
        .where(or_(*match))
        .group_by(c.user_id, c.group_id)
    )
    return {
        (int(u), int(g)): (int(day), int(week), int(month))
        for u, g, day, week, month in await conn.execute(stmt)
    }
