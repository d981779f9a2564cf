"""Calendar windows (SPEC R7.7): day, week (Monday) and month starts in the deployment timezone,
including across DST changes; the remembered answer never outlives its day."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from torouter.access import calendar
from torouter.access.calendar import periods

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")


def at(tz: ZoneInfo, *parts: int) -> float:
    return dt.datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("tz", "when", "day", "week", "month"),
    [
        (UTC, (2026, 11, 24, 23, 59), (2026, 11, 24), (2026, 11, 23), (2026, 11, 1)),
        (UTC, (2026, 11, 25, 0, 0), (2026, 11, 25), (2026, 11, 23), (2026, 11, 1)),
        (UTC, (2026, 12, 31, 12, 0), (2026, 12, 31), (2026, 12, 28), (2026, 12, 1)),
        (UTC, (2027, 1, 1, 0, 0), (2027, 1, 1), (2026, 12, 28), (2027, 1, 1)),
        # 29 March 2026 is 23 hours long in Berlin; the week began on Monday the 23rd.
        (BERLIN, (2026, 3, 29, 12, 0), (2026, 3, 29), (2026, 3, 23), (2026, 3, 1)),
        (BERLIN, (2026, 3, 30, 0, 30), (2026, 3, 30), (2026, 3, 30), (2026, 3, 1)),
    ],
)
def test_period_starts(
    tz: ZoneInfo,
    when: tuple[int, ...],
    day: tuple[int, int, int],
    week: tuple[int, int, int],
    month: tuple[int, int, int],
) -> None:
    d, w, m = periods(at(tz, *when), tz)
    assert (d.kind, w.kind, m.kind) == ("day", "week", "month")
    assert d.start == at(tz, *day) and w.start == at(tz, *week) and m.start == at(tz, *month)
    assert d.start <= at(tz, *when) < d.end


def test_dst_day_is_23_hours() -> None:
    d, _, _ = periods(at(BERLIN, 2026, 3, 29, 12, 0), BERLIN)
    assert d.end - d.start == 23 * 3600


def test_remembered_answer_matches_fresh_one_forwards_and_backwards() -> None:
    base = at(BERLIN, 2026, 3, 27, 0, 0)
    times = [base + h * 1800 for h in range(0, 24 * 2 * 6)]
    for now in [*times, *reversed(times), times[5], times[-5], times[100]]:
        assert periods(now, BERLIN) == calendar._periods(now, BERLIN)
