"""The limiters behind the brute-force rules (R12.1, R12.3): in-process, and in Redis shared by
every worker and node (issue 13 point 5)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.accounts.conftest import FakeClock
from tests.state.conftest import redis_url
from torouter.accounts.limits import (
    LOGIN_ACCOUNT,
    LOGIN_IP,
    RESET_EMAIL,
    RESET_IP,
    SIGNUP_IP,
    MemoryLimiter,
    Rule,
)
from torouter.accounts.redis_limits import RedisLimiter
from torouter.errors import GatewayError
from torouter.state.redis import connect


def test_rules_match_the_spec() -> None:
    assert (LOGIN_ACCOUNT.limit, LOGIN_ACCOUNT.window_s) == (5, 900)
    assert (LOGIN_IP.limit, LOGIN_IP.window_s) == (30, 900)
    assert (RESET_EMAIL.limit, RESET_IP.limit, RESET_EMAIL.window_s) == (5, 20, 3600)
    assert (SIGNUP_IP.limit, SIGNUP_IP.window_s) == (10, 3600)


Make = Callable[[FakeClock], Any]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Limiters of one backend; the Redis ones of a test share one client and a key prefix
    no other test uses, like the workers of one deployment."""
    if request.param == "memory":
        yield MemoryLimiter
        return
    client = connect(redis_url())
    prefix = secrets.token_hex(6) + ":"

    class Prefixed(RedisLimiter):
        async def _run(self, key: str, rule: Rule, record: bool) -> float:
            return await super()._run(prefix + key, rule, record)

        async def block(self, key: str, seconds: float) -> None:
            await super().block(prefix + key, seconds)

        async def blocked(self, key: str) -> float:
            return await super().blocked(prefix + key)

        async def reset(self, key: str) -> None:
            await super().reset(prefix + key)

    yield lambda clock: Prefixed(client, clock)
    await client.aclose()


async def test_sliding_window(make: Make) -> None:
    clock = FakeClock()
    lim = make(clock)
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


async def test_blocks(make: Make) -> None:
    clock = FakeClock()
    lim = make(clock)
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


@pytest.mark.parametrize("make", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
async def test_workers_share_one_window_in_redis(make: Make) -> None:
    """Five login failures lock an account however many workers saw them (per-process windows
    allowed five per worker)."""
    clock = FakeClock()
    workers = [make(clock) for _ in range(3)]
    results = [
        await workers[i % 3].hit("login:acct:a@example.com", LOGIN_ACCOUNT) for i in range(7)
    ]
    assert results[:5] == [0, 0, 0, 0, 0] and all(r > 0 for r in results[5:])
    await workers[0].block("login:acct:a@example.com", 900)
    assert await workers[2].blocked("login:acct:a@example.com") == 900
    await workers[1].reset("login:acct:a@example.com")
    assert await workers[2].blocked("login:acct:a@example.com") == 0
    assert await workers[0].check("login:acct:a@example.com", LOGIN_ACCOUNT) == 0


async def test_an_unreachable_redis_is_e20_not_a_pass() -> None:
    client = connect("redis://127.0.0.1:1/0", timeout_s=0.2)
    lim = RedisLimiter(client, FakeClock())
    try:
        for call in (
            lim.hit("k", LOGIN_IP),
            lim.check("k", LOGIN_IP),
            lim.blocked("k"),
            lim.block("k", 1),
            lim.reset("k"),
        ):
            with pytest.raises(GatewayError) as caught:
                await call
            assert caught.value.spec.code == "INTERNAL_ERROR"
    finally:
        await client.aclose()
