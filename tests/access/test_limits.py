"""Steps 10–11 as data: calendar periods, client IP, refusal order, headers (R7.3–R7.10)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from torouter.access import limits
from torouter.access.calendar import periods
from torouter.access.client_ip import client_ip, parse_networks
from torouter.records import KeyLimits, KeyRec, SubscriptionRec
from torouter.state.base import AdmitRequest, Verdict, WindowState

SHANGHAI = ZoneInfo("Asia/Shanghai")


def ts(*a: int, tz: ZoneInfo = SHANGHAI) -> float:
    return dt.datetime(*a, tzinfo=tz).timestamp()


def test_calendar_periods_in_the_deployment_timezone() -> None:
    # Wednesday 2026-01-14 08:30 in Shanghai is 00:30 UTC.
    day, week, month = periods(ts(2026, 1, 14, 8, 30), SHANGHAI)
    assert (day.start, day.end) == (ts(2026, 1, 14), ts(2026, 1, 15))
    assert (week.start, week.end) == (ts(2026, 1, 12), ts(2026, 1, 19))  # from Monday
    assert (month.start, month.end) == (ts(2026, 1, 1), ts(2026, 2, 1))
    # December rolls into the next year.
    assert periods(ts(2026, 12, 31, 23, 59), SHANGHAI)[2].end == ts(2027, 1, 1)


def test_calendar_day_across_a_dst_change() -> None:
    ny = ZoneInfo("America/New_York")
    day, _, _ = periods(ts(2026, 3, 8, 12, tz=ny), ny)
    assert day.end - day.start == 23 * 3600


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "expected"),
    [
        ("198.51.100.7", "1.2.3.4", [], "198.51.100.7"),  # no trusted proxies
        ("198.51.100.7", "1.2.3.4", ["10.0.0.0/8"], "198.51.100.7"),  # peer not trusted
        ("10.0.0.2", "1.2.3.4, 5.6.7.8, 10.0.0.9", ["10.0.0.0/8"], "5.6.7.8"),  # right-most
        ("10.0.0.2", "10.1.1.1, 10.0.0.9", ["10.0.0.0/8"], "10.1.1.1"),  # all trusted
        ("10.0.0.2", None, ["10.0.0.0/8"], "10.0.0.2"),
        ("::ffff:10.0.0.2", "2001:db8::1", ["10.0.0.0/8"], "2001:db8::1"),
    ],
)
def test_client_ip(peer: str, xff: str | None, trusted: list[str], expected: str) -> None:
    assert client_ip(peer, xff, parse_networks(trusted)) == expected


def key(**lim: int) -> KeyRec:
    return KeyRec(
        id=3,
        user_id=7,
        group_id=1,
        name="k",
        mask="sk-…",
        status="active",
        expires_at=None,
        quota_nusd=lim.get("quota_nusd") or None,
        model_whitelist=None,
        ip_whitelist=(),
        ip_blacklist=(),
        spend_nusd=0,
        limits=KeyLimits(**lim),
    )


def sub() -> SubscriptionRec:
    return SubscriptionRec(9, 7, 1, 1, 10, 20, 30, 0.0, 2e9, False, "active")


NOW = ts(2026, 1, 14, 8, 30)


def admit(k: KeyRec, s: SubscriptionRec | None = None, **kw: object) -> AdmitRequest:
    return limits.admit_request(
        "a1",
        k,
        s,
        balance=s is None,
        estimate=kw.pop("estimate", 5),  # type: ignore[arg-type]
        now=NOW,
        tz=SHANGHAI,
        lease_s=120,
        client_ip="1.2.3.4",
        ip_rpm=kw.pop("ip_rpm", 0),  # type: ignore[arg-type]
    )


def test_holds_in_r7_10_order_and_hash_tag() -> None:
    r = admit(key(quota_nusd=100, budget_daily_nusd=50, requests_5h=10, rpm=2, tpm=9), sub())
    assert [h.label for h in r.holds] == [
        "key",
        "sub_day",
        "sub_week",
        "sub_month",
        "key_budget_day",
        "key_budget_week",
        "key_budget_month",
    ]
    assert all(h.counter.startswith("{u:7}:") for h in r.holds)
    assert [w.name for w in r.windows] == ["key_5h", "key_rpm"]
    assert r.tokens is not None and r.ip is None
    r = admit(key(), None, ip_rpm=60)
    assert (
        r.holds[-1].label == "balance" and r.ip is not None and r.ip.counter == "{ip:1.2.3.4}:rpm"
    )
    assert admit(key(), None, estimate=0).holds[-1].limit == -1  # R7.8: balance > 0


def test_refusal_order_and_headers() -> None:
    r = admit(key(quota_nusd=100, budget_weekly_nusd=50), sub())
    by = {h.label: h.counter for h in r.holds}
    err = limits.refusal(r, Verdict(ok=False, blocked=[by["sub_day"], by["key"]]))
    assert err.code == "API_KEY_QUOTA_EXHAUSTED" and err.retry_after is None
    err = limits.refusal(r, Verdict(ok=False, blocked=[by["sub_week"], by["sub_day"]]))
    week_end = periods(NOW, SHANGHAI)[1].end
    assert err.code == "USAGE_LIMIT_EXCEEDED" and err.retry_after == pytest.approx(week_end - NOW)
    err = limits.refusal(r, Verdict(ok=False, blocked=[by["key_budget_week"]]))
    assert err.code == "API_KEY_QUOTA_EXHAUSTED"
    assert err.headers == [("x-torouter-limit", "key_budget_week")]
    assert err.retry_after == pytest.approx(week_end - NOW)
    b = admit(key(), None)
    err = limits.refusal(b, Verdict(ok=False, blocked=[b.holds[-1].counter]))
    assert err.code == "INSUFFICIENT_BALANCE"
    err = limits.refusal(b, Verdict(ok=False, rate=True, blocked=["key_1d"], retry_after=12.2))
    assert err.code == "RATE_LIMIT_EXCEEDED" and err.retry_after == 12.2
    assert err.headers == [("x-torouter-limit", "key_1d")]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (1, "1s"), (59.2, "1m0s"), (60, "1m0s"), (3723, "1h2m3s"), (18000, "5h0m0s")],
)
def test_duration(seconds: float, text: str) -> None:
    assert limits.duration(seconds) == text


def test_rate_headers_pick_the_window_with_least_room() -> None:
    v = Verdict(
        ok=True,
        windows=[WindowState("key_5h", 100, 10, 3600), WindowState("key_rpm", 5, 4, 30.5)],
        tokens=WindowState("key_tpm", 1000, 1200, 12),
    )
    assert dict(limits.rate_headers(v)) == {
        b"x-ratelimit-limit-requests": b"5",
        b"x-ratelimit-remaining-requests": b"1",
        b"x-ratelimit-reset-requests": b"31s",
        b"x-ratelimit-limit-tokens": b"1000",
        b"x-ratelimit-remaining-tokens": b"0",
        b"x-ratelimit-reset-tokens": b"12s",
    }
    assert limits.rate_headers(Verdict(ok=True)) == []


def test_key_holds_names_follow_the_day_key_and_timezone() -> None:
    """The remembered counter names (per key and current periods) are those computed afresh:
    a new day, another key of the same user, another timezone each get their own."""

    def fresh(k: KeyRec, now: float, tz: ZoneInfo) -> list[str]:
        return [limits.key_counter(k.user_id, k.id)] + [
            limits.key_period_counter(k.user_id, k.id, p) for p in periods(now, tz)
        ]

    k1, k2 = key(), dataclasses.replace(key(), id=4)
    later = NOW + 86_400  # the next day, same week and month
    next_month = ts(2026, 2, 1, 0, 0, 1)
    for k, now, tz in (
        (k1, NOW, SHANGHAI),
        (k1, NOW, SHANGHAI),  # remembered
        (k2, NOW, SHANGHAI),
        (k1, later, SHANGHAI),
        (k1, next_month, SHANGHAI),
        (k1, NOW, ZoneInfo("America/New_York")),
        (k1, NOW, SHANGHAI),
    ):
        holds = limits.key_holds(k, now, tz)
        assert [h.counter for h in holds] == fresh(k, now, tz)
        assert [h.ttl_s(now) for h in holds[1:]] == [p.ttl_s(now) for p in periods(now, tz)]
    day1 = limits.key_holds(k1, NOW, SHANGHAI)[1].counter
    assert day1 != limits.key_holds(k1, later, SHANGHAI)[1].counter
    assert (
        limits.key_holds(k1, NOW, SHANGHAI)[2].counter
        == limits.key_holds(k1, later, SHANGHAI)[2].counter
    )  # the same week


def test_an_edited_key_or_subscription_is_admitted_by_its_new_limits() -> None:
    """What admission asks of a key (holds, windows, concurrency) is remembered per key record
    and day (R7.2, R7.7): the same record reuses it, and the record a snapshot reload makes
    after an edit, even with the same id, is read afresh."""
    k = key(quota_nusd=100, rpm=5, budget_daily_nusd=7)
    first = admit(k)
    assert admit(k).holds is first.holds  # remembered, not rebuilt
    edited = dataclasses.replace(k, limits=KeyLimits(quota_nusd=50, rpm=9, max_concurrency=2))
    req = admit(edited)
    assert [h.limit for h in req.holds[:2]] == [50, None]
    assert [(w.name, w.limit) for w in req.windows] == [("key_rpm", 9)]
    assert req.concurrency == ("{u:7}:conc:3", 2)
    assert [h.limit for h in admit(k).holds[:2]] == [100, 7]

    s1 = sub()
    caps = [h.limit for h in admit(k, s1).holds[1:4]]
    s2 = dataclasses.replace(s1, daily_cap_nusd=11)
    assert [h.limit for h in admit(k, s2).holds[1:4]] == [11, *caps[1:]]


def test_a_calendar_hold_is_kept_for_the_rest_of_its_period_and_a_day() -> None:
    day = limits.key_holds(key(), NOW, SHANGHAI)[1]
    assert day.ttl_s(NOW) == int(ts(2026, 1, 15) - NOW) + 86_400
    assert day.ttl_s(NOW + 3600) == day.ttl_s(NOW) - 3600  # the same hold, later in the day
    assert limits.key_holds(key(), NOW, SHANGHAI)[0].ttl_s(NOW) == 0  # the key cap: for good
