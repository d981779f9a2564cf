"""The in-process limiter behind the brute-force rules (R12.3)."""

from __future__ import annotations

from tests.accounts.conftest import FakeClock
from torouter.accounts.limits import (
    LOGIN_ACCOUNT,
    LOGIN_IP,
    RESET_EMAIL,
    RESET_IP,
    SIGNUP_IP,
    MemoryLimiter,
    Rule,
)


def test_rules_match_the_spec() -> None:
    assert (LOGIN_ACCOUNT.limit, LOGIN_ACCOUNT.window_s) == (5, 900)
    assert (LOGIN_IP.limit, LOGIN_IP.window_s) == (30, 900)
    assert (RESET_EMAIL.limit, RESET_IP.limit, RESET_EMAIL.window_s) == (5, 20, 3600)
    assert (SIGNUP_IP.limit, SIGNUP_IP.window_s) == (10, 3600)


async def test_sliding_window() -> None:
    clock = FakeClock()
    lim = MemoryLimiter(clock)
    rule = Rule(3, 60)
    assert [await lim.hit("k", rule) for _ in range(3)] == [0, 0, 0]
    assert await lim.check("k", rule) == 60
    assert await lim.hit("k", rule) == 60  # refused, not recorded
    clock.advance(seconds=20)
    assert await lim.hit("k", rule) == 40
    assert await lim.hit("other", rule) == 0  # keys are independent
    clock.advance(seconds=40)
    assert await lim.check("k", rule) == 0
    assert await lim.hit("k", rule) == 0
    await lim.reset("k")
    assert await lim.check("k", rule) == 0


async def test_blocks() -> None:
    clock = FakeClock()
    lim = MemoryLimiter(clock)
    assert await lim.blocked("k") == 0
    await lim.block("k", 900)
    clock.advance(seconds=100)
    assert await lim.blocked("k") == 800
    clock.advance(seconds=800)
    assert await lim.blocked("k") == 0


async def test_memory_is_swept() -> None:
    clock = FakeClock()
    lim = MemoryLimiter(clock)
    rule = Rule(5, 60)
    for i in range(lim.SWEEP_EVERY - 1):
        await lim.hit(f"email-{i}", rule)
    await lim.block("old", 10)
    clock.advance(seconds=61)
    await lim.hit("fresh", rule)  # the sweeping hit
    assert set(lim._events) == {"fresh"} and lim._blocks == {}
