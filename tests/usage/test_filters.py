"""Day ranges of the usage views in the deployment timezone (R11.4, R11.5). Pure."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from torouter.usage.filters import UsageFilter, day_range

NOW = dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC)  # 04:00 on the 11th in Shanghai


def test_defaults_end_today_in_the_zone() -> None:
    r = day_range(None, None, zone=ZoneInfo("Asia/Shanghai"), now=NOW)
    assert (r.first_day, r.last_day) == ("2026-02-10", "2026-03-11")
    assert r.since == dt.datetime(2026, 2, 9, 16, tzinfo=dt.UTC)
    assert r.until == dt.datetime(2026, 3, 11, 16, tzinfo=dt.UTC)
    assert len(r.days()) == 30
    week = day_range(None, None, zone=dt.UTC, now=NOW, default_days=7)
    assert week.days()[0].isoformat() == "2026-03-04"


def test_one_end_given() -> None:
    start = dt.date(2026, 3, 1)
    r = day_range(start, None, zone=dt.UTC, now=NOW)
    assert (r.first_day, r.last_day) == ("2026-03-01", "2026-03-10")
    r = day_range(None, dt.date(2026, 1, 31), zone=dt.UTC, now=NOW, default_days=1)
    assert (r.first_day, r.last_day) == ("2026-01-31", "2026-01-31")
    future = day_range(dt.date(2026, 4, 1), None, zone=dt.UTC, now=NOW)
    assert (future.first_day, future.last_day) == ("2026-04-01", "2026-04-01")


def test_dst_days_are_23_and_25_hours() -> None:
    ny = ZoneInfo("America/New_York")
    r = day_range(dt.date(2026, 3, 8), dt.date(2026, 3, 8), zone=ny, now=NOW)
    assert r.until - r.since == dt.timedelta(hours=23)


def test_within_keeps_the_tighter_bounds() -> None:
    r = day_range(dt.date(2026, 3, 1), dt.date(2026, 3, 2), zone=dt.UTC, now=NOW)
    f = UsageFilter(since=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)).within(r)
    assert (f.since, f.until) == (dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), r.until)
    assert UsageFilter(outcome="failed").needs_log and not UsageFilter(model="m").needs_log
    assert len(UsageFilter(user_id=1, key_id=2, request_id="r").conditions()) == 3
