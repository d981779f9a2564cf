"""Calendar windows in the deployment timezone (R7.7) and the spend and requests of keys and
subscriptions over them.

Windows are computed, never stored: the day starts at 00:00, the week on Monday, the month
on the 1st, all local to the `timezone` setting, returned as UTC instants. Sums count settled
requests already written by the recorder (it writes every ~200 ms); reservations in flight are
not included.

A key's sums read the roll-ups (R11.3) that the writer keeps in the transaction of the rows
they count, so a key page costs the same with ten rows or ten million: whole local days from
`usage_daily`, whole local hours from `usage_hourly` (the last 48 h), and only the part of the
window before the first whole day or hour from `usage_logs`, through an index that covers it
(`ix_usage_logs_key_created_id`: key, time, id, outcome, cost). The result equals a scan of
the log over the same window: a roll-up row of a day or hour that starts at or after the
boundary holds exactly the log rows from that start on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import usage_daily, usage_hourly, usage_logs

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


def _next_local_day(at: dt.datetime, zone: dt.tzinfo) -> tuple[str, dt.datetime]:
    """The local day (`YYYY-MM-DD`) of `at` and the UTC instant the next local day starts."""
    day = at.astimezone(zone).date()
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return day.isoformat(), start.astimezone(dt.UTC)


def _next_local_hour(at: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The UTC instant the local hour after the one containing `at` starts (as usage_hourly
    stores hours)."""
    local = at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    return local.astimezone(dt.UTC) + dt.timedelta(hours=1)


async def _log_part(
    conn: AsyncConnection, key_ids: Collection[int], since: dt.datetime, until: dt.datetime
) -> dict[int, tuple[int, int]]:
    """key → (requests that were not refused, cost) of the log rows in [since, until): at most
    one local day, read from the covering key index alone."""
    c = usage_logs.c
    stmt = (
        select(c.key_id, func.count(), func.coalesce(func.sum(c.cost_nusd), 0))
        .where(
            c.key_id.in_(list(key_ids)),
            c.created_at >= since,
            c.created_at < until,
            c.outcome != "refused",
        )
        .group_by(c.key_id)
    )
    return {int(k): (int(n), int(cost)) for k, n, cost in await conn.execute(stmt)}


async def key_stats(
    conn: AsyncConnection,
    key_ids: Collection[int],
    *,
    day_start: dt.datetime,
    now: dt.datetime,
    zone: dt.tzinfo,
) -> dict[int, KeyStats]:
    """Spend today and over the last 30 days (from `now`), and today's requests, of many keys
    in two queries. `day_start` is today's local midnight in `zone` (`calendar_windows`).
    Refused requests count in no window and cost nothing (R7.1), so they are left out."""
    if not key_ids:
        return {}
    today = day_start.astimezone(zone).date().isoformat()
    first_day, whole_from = _next_local_day(now - dt.timedelta(days=30), zone)
    d = usage_daily.c
    is_today = d.day == today
    stmt = (
        select(
            d.key_id,
            func.coalesce(func.sum(case((is_today, d.cost_nusd), else_=0)), 0),
            func.coalesce(func.sum(d.cost_nusd), 0),
            func.coalesce(func.sum(case((is_today, d.requests - d.refused), else_=0)), 0),
        )
        .where(d.key_id.in_(list(key_ids)), d.day > first_day)
        .group_by(d.key_id)
    )
    sums = {int(k): [int(a), int(b), int(n)] for k, a, b, n in await conn.execute(stmt)}
    part = await _log_part(conn, key_ids, now - dt.timedelta(days=30), whole_from)
    for k, (_, cost) in part.items():
        sums.setdefault(k, [0, 0, 0])[1] += cost
    return {
        k: KeyStats(today_cost, month, requests)
        for k, (today_cost, month, requests) in sums.items()
    }


async def key_window_requests(
    conn: AsyncConnection, key_id: int, *, now: dt.datetime, zone: dt.tzinfo
) -> dict[str, int]:
    """Requests admitted in the key's rolling 5 h, 1 d and 7 d windows (R7.5): whole local
    hours (5 h, 1 d) or days (7 d) from the roll-ups, the part before them from the log."""
    out: dict[str, int] = {}
    h = usage_hourly.c
    for name, hours in (("requests_5h", 5), ("requests_1d", 24)):
        since = now - dt.timedelta(hours=hours)
        whole_from = _next_local_hour(since, zone)
        rolled = await conn.scalar(
            select(func.coalesce(func.sum(h.requests - h.refused), 0)).where(
                h.key_id == key_id, h.hour >= whole_from
            )
        )
        part = await _log_part(conn, [key_id], since, whole_from)
        out[name] = int(rolled or 0) + part.get(key_id, (0, 0))[0]
    d = usage_daily.c
    first_day, whole_from = _next_local_day(now - dt.timedelta(days=7), zone)
    rolled = await conn.scalar(
        select(func.coalesce(func.sum(d.requests - d.refused), 0)).where(
            d.key_id == key_id, d.day > first_day
        )
    )
    part = await _log_part(conn, [key_id], now - dt.timedelta(days=7), whole_from)
    out["requests_7d"] = int(rolled or 0) + part.get(key_id, (0, 0))[0]
    return out


async def subscription_use(
    conn: AsyncConnection, pairs: Collection[tuple[int, int]], windows: CalendarWindows
) -> dict[tuple[int, int], tuple[int, int, int]]:
    """(user id, group id) → spend in the current day, week and month, in one query.

    One branch per pair (`UNION ALL`), each an exact range of the covering index
    `ix_usage_logs_user_group_created`: an `OR` of the pairs would let SQLite match on the
    user alone and read every group's rows of the month."""
    if not pairs:
        return {}
    c = usage_logs.c
    since = min(windows.week, windows.month)
    branches = [
        select(
            c.user_id,
            c.group_id,
            _sum_since(windows.day),
            _sum_since(windows.week),
            _sum_since(windows.month),
        )
        .where(c.user_id == u, c.group_id == g, c.created_at >= since)
        .group_by(c.user_id, c.group_id)
        for u, g in sorted(set(pairs))
    ]
    stmt = branches[0] if len(branches) == 1 else union_all(*branches)
    return {
        (int(u), int(g)): (int(day), int(week), int(month))
        for u, g, day, week, month in await conn.execute(stmt)
    }
