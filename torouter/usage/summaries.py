"""Summaries from the roll-ups (SPEC R11.3, R11.4, R15.4): never a scan of the usage log.

- `summary`: the stat cards and the per-model table (with its totals row) of a day range.
  With a user or key, `usage_daily` answers; with neither (admins), the small
  `usage_daily_channel`, which also has the admin filters channel, status and outcome. Those
  filters combined with a user or key are summed from the log itself, through its
  (user|key, created_at) index: one user's rows, bounded.
- `daily`: spend and requests per day, zero-filled.
- `model_health`: per-model success rate and p50/p95 latency and TTFT from `usage_hourly`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import usage_daily, usage_daily_channel, usage_hourly, usage_logs
from torouter.usage.filters import DayRange, UsageFilter
from torouter.usage.histogram import BUCKETS, quantile

__all__ = [
    "DayPoint",
    "ModelHealth",
    "Summary",
    "Totals",
    "daily",
    "model_health",
    "overview",
    "summary",
]

SUMS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "cost_nusd",
)


@dataclass(slots=True)
class Totals:
    model: str | None = None  # None: the totals row
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nusd: int = 0

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def add(self, other: Totals) -> None:
        for name in SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class Summary:
    days: DayRange
    totals: Totals
    models: list[Totals] = field(default_factory=list)  # by cost, then requests, descending
    source: str = "rollups"  # or "log": the filters needed the rows themselves


def _rollup_where(table: Table, f: UsageFilter, days: DayRange) -> list[ColumnElement[bool]]:
    c = table.c
    out = [c.day >= days.first_day, c.day <= days.last_day]
    if f.model is not None:
        out.append(c.model == f.model)
    if table is usage_daily:
        if f.user_id is not None:
            out.append(c.user_id == f.user_id)
        if f.key_id is not None:
            out.append(c.key_id == f.key_id)
    else:
        if f.channel_id is not None:
            out.append(c.channel_id == f.channel_id)
        if f.status is not None:
            out.append(c.status == f.status)
        if f.outcome is not None:
            out.append(c.outcome == f.outcome)
    return out


def _sums(table: Any) -> list[Any]:
    return [func.coalesce(func.sum(table.c[name]), 0).label(name) for name in SUMS]


def _log_sums() -> list[Any]:
    c = usage_logs.c
    out: list[Any] = [func.count().label("requests")]
    out += [func.coalesce(func.sum(c[name]), 0).label(name) for name in SUMS[1:]]
    return out


def _per_user(f: UsageFilter) -> bool:
    return f.user_id is not None or f.key_id is not None


async def summary(conn: AsyncConnection, f: UsageFilter, days: DayRange) -> Summary:
    if f.needs_log and _per_user(f):
        c = usage_logs.c
        stmt = (
            select(c.model_requested.label("model"), *_log_sums())
            .where(*f.within(days).conditions())
            .group_by(c.model_requested)
        )
        source = "log"
    else:
        # Without a user or key, the small per-channel roll-up answers (a few rows a day).
        table = usage_daily if _per_user(f) else usage_daily_channel
        stmt = (
            select(table.c.model, *_sums(table))
            .where(*_rollup_where(table, f, days))
            .group_by(table.c.model)
        )
        source = "rollups"
    models = [
        Totals(r.model or "", *(int(r[i + 1]) for i in range(len(SUMS))))
        for r in await conn.execute(stmt)
    ]
    models.sort(key=lambda m: (-m.cost_nusd, -m.requests, m.model or ""))
    total = Totals()
    for m in models:
        total.add(m)
    return Summary(days, total, models, source)


@dataclass(frozen=True, slots=True)
class DayPoint:
    date: dt.date
    requests: int
    cost_nusd: int


async def daily(conn: AsyncConnection, f: UsageFilter, days: DayRange) -> list[DayPoint]:
    """One point per day of `days`, zero-filled, oldest first."""
    table = usage_daily if _per_user(f) else usage_daily_channel
    c = table.c
    stmt = (
        select(c.day, func.sum(c.requests), func.sum(c.cost_nusd))
        .where(*_rollup_where(table, f, days))
        .group_by(c.day)
    )
    got = {r[0]: (int(r[1]), int(r[2])) for r in await conn.execute(stmt)}
    return _points(days, got)


def _points(days: DayRange, got: dict[str, tuple[int, int]]) -> list[DayPoint]:
    return [DayPoint(d, *got.get(d.isoformat(), (0, 0))) for d in days.days()]


async def overview(
    conn: AsyncConnection, f: UsageFilter, days: DayRange
) -> tuple[Summary, list[DayPoint]]:
    """`summary` and `daily` of the roll-ups at once (one query by day and model): the
    dashboard's chart and top models."""
    table = usage_daily if _per_user(f) else usage_daily_channel
    c = table.c
    stmt = (
        select(c.day, c.model, *_sums(table))
        .where(*_rollup_where(table, f, days))
        .group_by(c.day, c.model)
    )
    per_model: dict[str, Totals] = {}
    per_day: dict[str, tuple[int, int]] = {}
    for r in await conn.execute(stmt):
        t = Totals(r.model or "", *(int(r[i + 2]) for i in range(len(SUMS))))
        acc = per_model.setdefault(t.model or "", Totals(t.model))
        acc.add(t)
        requests, cost = per_day.get(r.day, (0, 0))
        per_day[r.day] = (requests + t.requests, cost + t.cost_nusd)
    models = sorted(per_model.values(), key=lambda m: (-m.cost_nusd, -m.requests, m.model or ""))
    total = Totals()
    for m in models:
        total.add(m)
    return Summary(days, total, models), _points(days, per_day)


@dataclass(frozen=True, slots=True)
class ModelHealth:
    model: str
    requests: int
    successes: int
    failures: int
    success_rate: float | None  # successes / (successes + failures); None when neither
    p50_latency_ms: int | None
    p95_latency_ms: int | None
    p50_ttft_ms: int | None
    p95_ttft_ms: int | None


async def model_health(
    conn: AsyncConnection, *, since: dt.datetime, user_id: int | None = None
) -> list[ModelHealth]:
    """Per model since `since` (hour granularity), from the hourly roll-ups; the most used first.
    Refusals and client cancellations count in `requests` but not in the success rate."""
    c = usage_hourly.c
    lat = [f"latency_b{i:02d}" for i in range(BUCKETS)]
    ttft = [f"ttft_b{i:02d}" for i in range(BUCKETS)]
    cols = ["requests", "successes", "failures", *lat, *ttft]
    stmt = select(c.model, *(func.sum(c[n]) for n in cols)).where(c.hour >= since)
    if user_id is not None:
        stmt = stmt.where(c.user_id == user_id)
    stmt = stmt.group_by(c.model)
    out = []
    for r in await conn.execute(stmt):
        v = [int(x or 0) for x in r[1:]]
        requests, ok, bad = v[0], v[1], v[2]
        lat_counts, ttft_counts = v[3 : 3 + BUCKETS], v[3 + BUCKETS :]
        judged = ok + bad
        out.append(
            ModelHealth(
                model=r.model,
                requests=requests,
                successes=ok,
                failures=bad,
                success_rate=round(ok / judged, 4) if judged else None,
                p50_latency_ms=quantile(lat_counts, 0.5),
                p95_latency_ms=quantile(lat_counts, 0.95),
                p50_ttft_ms=quantile(ttft_counts, 0.5),
                p95_ttft_ms=quantile(ttft_counts, 0.95),
            )
        )
    out.sort(key=lambda m: (-m.requests, m.model))
    return out
