"""Calendar windows in the deployment timezone (SPEC R7.7): computed, never stored. Pure.

A day starts at 00:00, a week on Monday 00:00, a month on the 1st at 00:00, all in the
`timezone` setting; a period's counters are named by its start, so nothing has to be reset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["Period", "periods"]

DAY = "day"
WEEK = "week"
MONTH = "month"


@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # day | week | month
    start: float  # unix seconds
    end: float

    @property
    def tag(self) -> str:
        return str(int(self.start))

    def ttl_s(self, now: float) -> int:
        """How long its counters are worth keeping: the rest of the period and a day."""
        return int(self.end - now) + 86_400


def _midnight(d: dt.date, tz: ZoneInfo) -> float:
    return dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def periods(now: float, tz: ZoneInfo) -> tuple[Period, Period, Period]:
    """The day, week and month containing `now` (the last answer is reused within its day)."""
    hit = _last.get(tz)
    if hit is not None and hit[0].start <= now < hit[0].end:
        return hit
    found = _periods(now, tz)
    _last[tz] = found
    return found


# One remembered answer per timezone: every admission asks for the same day.
_last: dict[ZoneInfo, tuple[Period, Period, Period]] = {}


def _periods(now: float, tz: ZoneInfo) -> tuple[Period, Period, Period]:
    today = dt.datetime.fromtimestamp(now, tz).date()
    monday = today - dt.timedelta(days=today.weekday())
    first = today.replace(day=1)
    next_first = (first + dt.timedelta(days=32)).replace(day=1)
    return (
        Period(DAY, _midnight(today, tz), _midnight(today + dt.timedelta(days=1), tz)),
        Period(WEEK, _midnight(monday, tz), _midnight(monday + dt.timedelta(days=7), tz)),
        Period(MONTH, _midnight(first, tz), _midnight(next_first, tz)),
    )
