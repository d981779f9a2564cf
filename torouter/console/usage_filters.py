"""The filters of the usage and billing pages, read from the page's query string (R15.4).

Pure: a query string in, the values the JSON API's functions take out, plus a message per
field that could not be read (shown on the filter form; the page then lists without that
filter rather than failing). The pages keep their filters in the URL, so a filtered view can
be bookmarked and shared, and the CSV links carry the same filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from torouter.api.ledger_views import Reason
from torouter.api.me.usage import Outcome

__all__ = [
    "LEDGER_DAYS",
    "OUTCOMES",
    "REASONS",
    "LedgerFilters",
    "UsageFilters",
    "ledger_filters",
    "usage_filters",
]

OUTCOMES: tuple[Outcome, ...] = tuple(o for o in get_args(Outcome) if o != "test")
REASONS: tuple[str, ...] = get_args(Reason)
LEDGER_DAYS = (7, 30, 90, 365)
_MAX_ID = 2**63 - 1
_MAX_TEXT = 128  # the API's bound on a request id and a model id


@dataclass(slots=True)
class UsageFilters:
    start: dt.date | None = None
    end: dt.date | None = None
    model: str | None = None
    key_id: int | None = None
    outcome: Outcome | None = None
    cursor: str | None = None
    request_id: str | None = None
    errors: dict[str, str] = field(default_factory=dict)  # field → message key

    @property
    def active(self) -> bool:
        return any((self.start, self.end, self.model, self.key_id, self.outcome))

    def query(self, **changes: object) -> dict[str, str]:
        """The filters as query parameters (for the pager and the CSV link)."""
        values: dict[str, object] = {
            "start": self.start,
            "end": self.end,
            "model": self.model,
            "key_id": self.key_id,
            "outcome": self.outcome,
            **changes,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


# Days a range may name: the far ends of the calendar would overflow the day arithmetic.
_FIRST_DAY = dt.date(1970, 1, 1)
_LAST_DAY = dt.date(2999, 12, 31)


def _date(raw: str | None) -> dt.date | None:
    if not raw:
        return None
    day = dt.date.fromisoformat(raw)
    if not _FIRST_DAY <= day <= _LAST_DAY:
        raise ValueError(raw)
    return day


def usage_filters(q: Mapping[str, str]) -> UsageFilters:
    f = UsageFilters()
    for name in ("start", "end"):
        try:
            setattr(f, name, _date((q.get(name) or "").strip() or None))
        except ValueError:
            f.errors[name] = "usage.errors.date"
    if f.start and f.end and f.end < f.start:
        f.errors["end"] = "usage.errors.end_before_start"
        f.end = None
    model = (q.get("model") or "").strip()
    f.model = model[:_MAX_TEXT] or None
    key = (q.get("key_id") or "").strip()
    if key:
        if key.isdigit() and 0 < int(key) <= _MAX_ID:
            f.key_id = int(key)
        else:
            f.errors["key_id"] = "usage.errors.key"
    raw = q.get("outcome") or None
    f.outcome = next((o for o in OUTCOMES if o == raw), None)  # the list's own Literal
    if raw is not None and f.outcome is None:
        f.errors["outcome"] = "usage.errors.outcome"
    f.cursor = (q.get("cursor") or "").strip()[:100] or None
    rid = (q.get("request_id") or "").strip()
    if len(rid) > _MAX_TEXT:
        f.errors["request_id"] = "usage.errors.request_id"
    else:
        f.request_id = rid or None
    return f


@dataclass(slots=True)
class LedgerFilters:
    reason: str | None = None
    days: int | None = None  # the last N days up to today; None: every entry
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: object) -> dict[str, str]:
        values: dict[str, object] = {"reason": self.reason, "days": self.days, **changes}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def start(self, today: dt.date) -> dt.date | None:
        return None if self.days is None else today - dt.timedelta(days=self.days - 1)


def ledger_filters(q: Mapping[str, str]) -> LedgerFilters:
    f = LedgerFilters()
    reason = q.get("reason") or None
    if reason is not None and reason not in REASONS:
        f.errors["reason"] = "billing.errors.reason"
        reason = None
    f.reason = reason
    days = q.get("days") or ""
    if days:
        if days.isdigit() and int(days) in LEDGER_DAYS:
            f.days = int(days)
        else:
            f.errors["days"] = "billing.errors.days"
    page = q.get("page") or "1"
    f.page = min(max(int(page), 1), 100_000) if page.isdigit() else 1
    return f
