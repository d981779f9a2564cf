"""The filters of the usage views (SPEC R11.4) and their date ranges, in one value.

A `UsageFilter` is what every view reads: the log list, the request search, the summary, the
daily series and the CSV export. Users get theirs with `user_id` fixed to themselves; admins may
also filter by user, channel, status and outcome. Dates are days of the deployment timezone;
`since`/`until` are exact instants for the log and the export (the roll-ups have days only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement

from torouter.storage.tables import usage_logs

__all__ = ["DayRange", "UsageFilter", "day_range"]


@dataclass(frozen=True, slots=True)
class DayRange:
    """Days `first`..`last` (inclusive) of `zone`, and the UTC instants that bound them."""

    first: dt.date
    last: dt.date
    since: dt.datetime  # `first` 00:00 local, in UTC
    until: dt.datetime  # the day after `last`, 00:00 local, in UTC

    @property
    def first_day(self) -> str:
        return self.first.isoformat()

    @property
    def last_day(self) -> str:
        return self.last.isoformat()

    @classmethod
    def of(cls, first: dt.date, last: dt.date, zone: dt.tzinfo) -> DayRange:
        return cls(first, last, _midnight(first, zone), _midnight(last + dt.timedelta(1), zone))

    def days(self) -> list[dt.date]:
        n = (self.last - self.first).days + 1
        return [self.first + dt.timedelta(days=i) for i in range(n)]


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def day_range(
    start: dt.date | None,
    end: dt.date | None,
    *,
    zone: dt.tzinfo,
    now: dt.datetime,
    default_days: int = 30,
) -> DayRange:
    """The range a view covers: `start`..`end`, each defaulting so that the range ends today
    and spans `default_days` days. `end` before `start` is the caller's E16."""
    today = now.astimezone(zone).date()
    last = end or (today if start is None else max(today, start))
    first = start or last - dt.timedelta(days=default_days - 1)
    return DayRange.of(first, last, zone)


@dataclass(frozen=True, slots=True)
class UsageFilter:
    user_id: int | None = None
    key_id: int | None = None
    model: str | None = None  # the requested (public) model id
    channel_id: int | None = None  # admins only
    status: int | None = None  # admins only
    outcome: str | None = None
    request_id: str | None = None
    since: dt.datetime | None = None  # inclusive, aware
    until: dt.datetime | None = None  # exclusive, aware

    def within(self, days: DayRange) -> UsageFilter:
        """Also bounded by `days` (the tighter bound wins)."""
        since = days.since if self.since is None else max(self.since, days.since)
        until = days.until if self.until is None else min(self.until, days.until)
        return replace(self, since=since, until=until)

    @property
    def needs_log(self) -> bool:
        """Filters that no per-user roll-up has as a dimension."""
        return any(v is not None for v in (self.channel_id, self.status, self.outcome))

    def conditions(self) -> list[ColumnElement[bool]]:
        c = usage_logs.c
        equal: dict[str, Any] = {
            "user_id": self.user_id,
            "key_id": self.key_id,
            "model_requested": self.model,
            "channel_id": self.channel_id,
            "status": self.status,
            "outcome": self.outcome,
            "request_id": self.request_id,
        }
        out: list[ColumnElement[bool]] = [c[k] == v for k, v in equal.items() if v is not None]
        if self.since is not None:
            out.append(c.created_at >= self.since)
        if self.until is not None:
            out.append(c.created_at < self.until)
        return out
