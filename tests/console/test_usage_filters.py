"""The usage and billing pages' filters read from the query string (R15.4): pure, a table of
inputs and what the pages pass to the JSON API's functions, with a message per bad field."""

from __future__ import annotations

import datetime as dt

import pytest

from torouter.console.usage_filters import ledger_filters, usage_filters


@pytest.mark.parametrize(
    ("query", "expected", "errors"),
    [
        ({}, {"start": None, "end": None, "model": None, "key_id": None, "outcome": None}, {}),
        (
            {"start": "2026-03-01", "end": "2026-03-10", "model": " m ", "key_id": "7"},
            {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 10), "model": "m", "key_id": 7},
            {},
        ),
        ({"start": "yesterday"}, {"start": None}, {"start": "usage.errors.date"}),
        ({"end": "9999-12-31"}, {"end": None}, {"end": "usage.errors.date"}),
        ({"start": "0001-01-01"}, {"start": None}, {"start": "usage.errors.date"}),
        (
            {"start": "2026-03-10", "end": "2026-03-01"},
            {"start": dt.date(2026, 3, 10), "end": None},
            {"end": "usage.errors.end_before_start"},
        ),
        ({"key_id": "-1"}, {"key_id": None}, {"key_id": "usage.errors.key"}),
        ({"key_id": str(2**63)}, {"key_id": None}, {"key_id": "usage.errors.key"}),
        ({"outcome": "test"}, {"outcome": None}, {"outcome": "usage.errors.outcome"}),
        ({"outcome": "refused"}, {"outcome": "refused"}, {}),
        ({"request_id": " r-1 "}, {"request_id": "r-1"}, {}),
        (
            {"request_id": "x" * 129},
            {"request_id": None},
            {"request_id": "usage.errors.request_id"},
        ),
        ({"model": "m" * 300}, {"model": "m" * 128}, {}),
    ],
)
def test_usage_filters(query: dict[str, str], expected: dict[str, object], errors: dict) -> None:
    f = usage_filters(query)
    for name, value in expected.items():
        assert getattr(f, name) == value, name
    assert f.errors == errors


def test_usage_filters_query_keeps_the_filters_for_pager_and_csv() -> None:
    f = usage_filters({"model": "m", "outcome": "failed", "cursor": "abc"})
    assert f.active and f.cursor == "abc"
    assert f.query() == {"model": "m", "outcome": "failed"}
    assert f.query(cursor="next") == {"model": "m", "outcome": "failed", "cursor": "next"}
    assert f.query(model=None) == {"outcome": "failed"}


@pytest.mark.parametrize(
    ("query", "reason", "days", "page", "errors"),
    [
        ({}, None, None, 1, {}),
        ({"reason": "usage", "days": "30", "page": "3"}, "usage", 30, 3, {}),
        ({"reason": "bribe"}, None, None, 1, {"reason": "billing.errors.reason"}),
        ({"days": "3"}, None, None, 1, {"days": "billing.errors.days"}),
        ({"page": "0"}, None, None, 1, {}),
        ({"page": "x"}, None, None, 1, {}),
    ],
)
def test_ledger_filters(
    query: dict[str, str], reason: str | None, days: int | None, page: int, errors: dict
) -> None:
    f = ledger_filters(query)
    assert (f.reason, f.days, f.page, f.errors) == (reason, days, page, errors)


def test_ledger_days_are_the_last_n_days_up_to_today() -> None:
    today = dt.date(2026, 3, 10)
    assert ledger_filters({"days": "7"}).start(today) == dt.date(2026, 3, 4)
    assert ledger_filters({}).start(today) is None
