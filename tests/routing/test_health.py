"""Cooldowns, streaks and auto-disable (SPEC R9.4–R9.6), with a frozen clock."""

from __future__ import annotations

import dataclasses

from tests.routing.test_selector import ch
from torouter.routing.classify import Outcome, classify_status
from torouter.routing.health import HealthBook


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def book() -> tuple[HealthBook, Clock]:
    clock = Clock()
    return HealthBook(clock), clock


def test_429_cools_model_until_reset_then_backoff_doubles() -> None:
    h, clock = book()
    c = ch(1)
    h.failure(c, "m", Outcome.RATE_LIMITED, status=429, headers={"retry-after": "12"})
    assert not h.available(c, "m") and h.available(c, "other")  # per (channel, model)
    clock.now += 12
    assert h.available(c, "m")
    cd1 = h.failure(c, "m", Outcome.RATE_LIMITED, status=429)  # no hint: 30 s × 2^(streak-1)
    assert cd1 is not None and cd1.until - clock.now == 60
    h.success(c, "m", 10, None)
    cd2 = h.failure(c, "m", Outcome.RATE_LIMITED, status=429)
    assert cd2 is not None and cd2.until - clock.now == 30


def test_three_server_failures_within_a_minute_cool_the_channel() -> None:
    h, clock = book()
    c = ch(1)
    assert h.failure(c, "m", Outcome.SERVER, status=500) is None
    clock.now += 61  # the first one leaves the window
    assert h.failure(c, "m", Outcome.SERVER, status=502) is None
    assert h.failure(c, "m", Outcome.TIMEOUT) is None
    cd = h.failure(c, "m", Outcome.NETWORK)
    assert cd is not None and cd.model is None and cd.until - clock.now == 30
    assert not h.available(c, "any-model")
    clock.now += 31
    for _ in range(3):
        cd = h.failure(c, "m", Outcome.SERVER, status=500)
    assert cd is not None and cd.until - clock.now == 60  # doubles on repeat


def test_success_resets_the_streak() -> None:
    h, _ = book()
    c = ch(1)
    h.failure(c, "m", Outcome.SERVER, status=500)
    h.failure(c, "m", Outcome.SERVER, status=500)
    h.success(c, "m", 5, None)
    assert h.failure(c, "m", Outcome.SERVER, status=500) is None


def test_529_cools_at_once() -> None:
    h, clock = book()
    cd = h.failure(ch(1), "m", Outcome.SERVER, status=529)
    assert cd is not None and cd.until - clock.now == 30


def test_auth_failures_disable_after_three_or_one_billing() -> None:
    disabled: list[int] = []
    h = HealthBook(Clock(), on_change=lambda cd, cid, reason: disabled.append(cid) if cid else None)
    c = ch(1)
    for _ in range(2):
        h.failure(c, "m", Outcome.AUTH, status=401)
    assert 1 not in h.auto_disabled
    h.failure(c, "m", Outcome.AUTH, status=401)
    assert h.auto_disabled[1] == "auth" and disabled == [1]
    d = ch(2)
    h.failure(
        d,
        "m",
        Outcome.AUTH,
        status=400,
        body=b'{"error":{"message":"Your credit balance is too low"}}',
    )
    assert h.auto_disabled[2] == "billing"
    no_auto = dataclasses.replace(ch(3), auto_disable=False)
    for _ in range(5):
        h.failure(no_auto, "m", Outcome.AUTH, status=403)
    assert 3 not in h.auto_disabled
    h.enable(1)
    assert h.available(c, "m")


def test_max_concurrency_is_a_full_channel() -> None:
    h, _ = book()
    c = dataclasses.replace(ch(1), max_concurrency=2)
    h.acquire(1)
    h.acquire(1)
    assert not h.available(c, "m")
    h.release(1)
    assert h.available(c, "m")


def test_classification_precedence() -> None:
    assert classify_status(429, b'{"error":{"code":"insufficient_quota"}}') is Outcome.AUTH
    assert classify_status(429, b"You exceeded your current quota") is Outcome.RATE_LIMITED
    assert classify_status(400, b"API key not valid. Please pass a valid API key.") is Outcome.AUTH
    assert classify_status(400, b"bad") is Outcome.TERMINAL
    for status in (404, 413, 422):
        assert classify_status(status) is Outcome.TERMINAL
    assert classify_status(408) is Outcome.TIMEOUT
    assert classify_status(503) is Outcome.SERVER
    assert classify_status(402) is Outcome.AUTH


def test_the_health_view_shows_the_last_probe_or_test() -> None:
    """R9.9: last error and probe; a probe or an admin Test moves no counter."""
    h, clock = book()
    c = ch(1)
    assert h.view(c)["last_probe"] is None
    h.failure(c, "m", Outcome.SERVER, status=500)
    h.probed(1, False, 503, "upstream says no " * 30)
    view = h.view(c)
    assert view["last_probe"] == {
        "at": clock.now,
        "ok": False,
        "status": 503,
        "detail": ("upstream says no " * 30)[:200],
    }
    assert view["consecutive_failures"] == 1 and view["last_error"] == "server 500"
    clock.now += 5
    h.probed(1, True, 200, "pong")
    assert h.view(c)["last_probe"]["ok"] is True  # type: ignore[index]
    assert h.view(c)["consecutive_failures"] == 1


def test_cooldowns_reach_the_listener_given_at_construction() -> None:
    seen: list[tuple[object, object]] = []
    h = HealthBook(Clock(), on_change=lambda cd, cid, reason: seen.append((cd, cid)))
    cd = h.failure(ch(1), "m", Outcome.RATE_LIMITED, status=429, headers={"retry-after": "12"})
    assert cd is not None and seen == [(cd, None)]
