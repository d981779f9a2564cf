"""Windows, reservations and leases (SPEC R7.5, R7.11): the same tests on both backends."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from tests.state.conftest import redis_url
from torouter.state.base import AdmitRequest, Hold, StateUnavailable, Window

T0 = 1_800_000_000.0  # a fixed clock: windows are bucketed on it


def tag(scope: str, name: str) -> str:
    return f"{{u:{scope}}}:{name}"


def req(scope: str, aid: str, amount: int, *, now: float = T0, **kw: object) -> AdmitRequest:
    return AdmitRequest(
        admission_id=f"{scope}-{aid}",
        scope=scope,
        marker=tag(scope, "bal"),
        now=now,
        amount=amount,
        lease_s=kw.pop("lease_s", 120.0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def seeded(state, scope: str, balance: int) -> None:
    await state.seed_many([(tag(scope, "bal"), -balance, 0)])


async def test_reserve_settle_release_once(state, scope: str) -> None:
    await seeded(state, scope, 1000)
    holds = (Hold(tag(scope, "key"), 600, "key"), Hold(tag(scope, "bal"), 0, "balance"))
    assert (await state.admit(req(scope, "a", 500, holds=holds))).ok
    v = await state.admit(req(scope, "b", 200, holds=holds))
    assert not v.ok and not v.rate and v.blocked == [tag(scope, "key")]
    assert await state.settle(f"{scope}-a", scope, holds, 300, now=T0) is True
    assert await state.settle(f"{scope}-a", scope, holds, 300, now=T0) is False  # once
    assert await state.used(tag(scope, "key")) == (300, 0)
    assert await state.used(tag(scope, "bal")) == (-700, 0)
    assert (await state.admit(req(scope, "c", 250, holds=holds))).ok
    assert await state.release(f"{scope}-c", scope, now=T0) is True
    assert await state.release(f"{scope}-c", scope, now=T0) is False
    assert await state.settle(f"{scope}-c", scope, holds, 99, now=T0) is False
    assert await state.used(tag(scope, "key")) == (300, 0)


async def test_concurrent_reservations_never_exceed_the_balance(state, scope: str) -> None:
    await seeded(state, scope, 10_000)
    holds = (Hold(tag(scope, "bal"), 0, "balance"),)
    results = await asyncio.gather(
        *(state.admit(req(scope, f"r{i}", 100, holds=holds)) for i in range(200))
    )
    assert sum(v.ok for v in results) == 100
    assert await state.used(tag(scope, "bal")) == (-10_000, 10_000)


async def test_unseeded_scope_fails_closed(state, scope: str) -> None:
    with pytest.raises(StateUnavailable):
        await state.admit(req(scope, "a", 1))
    assert not await state.is_seeded(tag(scope, "bal"))
    await seeded(state, scope, 5)
    assert await state.is_seeded(tag(scope, "bal"))


async def test_rpm_window_blocks_and_rolls(state, scope: str) -> None:
    await seeded(state, scope, 10**9)
    rpm = Window("key_rpm", tag(scope, "wrpm:1"), 3, 1)
    for i in range(3):
        v = await state.admit(req(scope, f"r{i}", 1, now=T0 + i * 10, windows=(rpm,)))
        assert v.ok and v.windows[0].used == i + 1
    v = await state.admit(req(scope, "r3", 1, now=T0 + 30, windows=(rpm,)))
    assert not v.ok and v.rate and v.blocked == ["key_rpm"]
    assert v.retry_after == pytest.approx(30, abs=0.01)  # the first request leaves at T0+60
    v = await state.admit(req(scope, "r4", 1, now=T0 + 60, windows=(rpm,)))
    assert v.ok and v.windows[0].used == 3


async def test_retry_after_waits_for_every_blocking_window(state, scope: str) -> None:
    await seeded(state, scope, 10**9)
    rpm = Window("key_rpm", tag(scope, "wrpm:1"), 1, 1)
    five = Window("key_5h", tag(scope, "w5h:1"), 1, 300)
    assert (await state.admit(req(scope, "a", 1, windows=(five, rpm)))).ok
    v = await state.admit(req(scope, "b", 1, now=T0 + 1, windows=(five, rpm)))
    assert set(v.blocked) == {"key_5h", "key_rpm"}
    # The 5h window rolls in 5-minute buckets: its bucket leaves 60 buckets after its start.
    bucket_start = (T0 // 300) * 300
    assert v.retry_after == pytest.approx(bucket_start + 5 * 3600 - (T0 + 1), abs=0.01)


async def test_money_refusal_counts_in_no_window(state, scope: str) -> None:
    await seeded(state, scope, 50)
    rpm = Window("key_rpm", tag(scope, "wrpm:1"), 1, 1)
    holds = (Hold(tag(scope, "bal"), 0, "balance"),)
    v = await state.admit(req(scope, "a", 100, windows=(rpm,), holds=holds))
    assert not v.ok and not v.rate
    assert (await state.admit(req(scope, "b", 10, windows=(rpm,), holds=holds))).ok


async def test_tpm_is_fed_at_settlement(state, scope: str) -> None:
    await seeded(state, scope, 10**9)
    tpm = Window("key_tpm", tag(scope, "wtpm:1"), 1000, 1)
    v = await state.admit(req(scope, "a", 1, tokens=tpm))
    assert v.ok and v.tokens is not None and v.tokens.used == 0
    await state.settle(f"{scope}-a", scope, (), 1, now=T0 + 1, tokens=(tpm, 1200))
    v = await state.admit(req(scope, "b", 1, now=T0 + 2, tokens=tpm))
    assert not v.ok and v.blocked == ["key_tpm"]
    assert v.retry_after == pytest.approx(59, abs=0.01)
    assert (await state.admit(req(scope, "c", 1, now=T0 + 61, tokens=tpm))).ok


async def test_concurrency_slots(state, scope: str) -> None:
    await seeded(state, scope, 10**9)
    conc = (tag(scope, "conc:1"), 2)
    assert (await state.admit(req(scope, "a", 1, concurrency=conc))).ok
    assert (await state.admit(req(scope, "b", 1, concurrency=conc))).ok
    v = await state.admit(req(scope, "c", 1, concurrency=conc))
    assert not v.ok and v.blocked == ["key_concurrency"] and v.retry_after >= 1
    await state.settle(f"{scope}-a", scope, (), 1, now=T0)
    assert (await state.admit(req(scope, "d", 1, concurrency=conc))).ok


async def test_lapsed_lease_is_released_and_still_charged(state, scope: str) -> None:
    await seeded(state, scope, 1000)
    holds = (Hold(tag(scope, "bal"), 0, "balance"),)
    conc = (tag(scope, "conc:1"), 1)
    assert (await state.admit(req(scope, "a", 800, holds=holds, concurrency=conc))).ok
    assert not (await state.admit(req(scope, "b", 800, now=T0 + 60, holds=holds))).ok
    # Nobody renewed "a" (its process died): the next admission after the lease frees it.
    v = await state.admit(req(scope, "c", 800, now=T0 + 121, holds=holds, concurrency=conc))
    assert v.ok
    assert await state.used(tag(scope, "bal")) == (-1000, 800)
    # A late settlement of "a" still charges, once; its slot was already freed.
    assert await state.settle(f"{scope}-a", scope, holds, 300, now=T0 + 122) is True
    assert await state.settle(f"{scope}-a", scope, holds, 300, now=T0 + 123) is False
    assert await state.used(tag(scope, "bal")) == (-700, 800)


async def test_renewed_lease_does_not_lapse(state, scope: str) -> None:
    await seeded(state, scope, 1000)
    holds = (Hold(tag(scope, "bal"), 0, "balance"),)
    assert (await state.admit(req(scope, "a", 800, holds=holds))).ok
    await state.renew([(scope, f"{scope}-a")], now=T0 + 100, lease_s=120)
    assert not (await state.admit(req(scope, "b", 800, now=T0 + 150, holds=holds))).ok
    assert (await state.admit(req(scope, "c", 800, now=T0 + 221, holds=holds))).ok


async def test_ip_window_spans_users_and_ignores_refused(state, scope: str) -> None:
    other = str(int(scope) + 1)
    ip = Window("ip", f"{{ip:{scope}}}:rpm", 2, 1)
    await seeded(state, scope, 10**9)
    await seeded(state, other, 0)
    holds_other = (Hold(tag(other, "bal"), 0, "balance"),)
    assert not (await state.admit(req(other, "x", 5, ip=ip, holds=holds_other))).ok  # refused
    assert (await state.admit(req(scope, "a", 1, ip=ip))).ok
    assert (await state.admit(req(other, "b", 0, ip=ip, holds=(Hold(tag(other, "x"), None),)))).ok
    v = await state.admit(req(scope, "c", 1, ip=ip))
    assert not v.ok and v.rate and v.blocked == ["ip"]
    # The refused admission took nothing: its user's windows did not count it.
    rpm = Window("key_rpm", tag(scope, "wrpm:9"), 1, 1)
    v = await state.admit(req(scope, "d", 1, now=T0 + 1, ip=ip, windows=(rpm,)))
    assert not v.ok and "ip" in v.blocked
    assert (await state.window_use([rpm], T0 + 1))[0].used == 0


async def test_seed_keeps_known_values_and_add_needs_a_known_counter(state, scope: str) -> None:
    c = tag(scope, "key:1")
    await state.seed_many([(c, 10, 0)])
    await state.seed_many([(c, 99, 0)])
    assert await state.used(c) == (10, 0)
    await state.add(c, 5)
    await state.add(tag(scope, "unknown"), 5)
    assert await state.used(c) == (15, 0)
    assert await state.used(tag(scope, "unknown")) == (0, 0)


async def test_failed_lookups_per_minute(state, scope: str) -> None:
    ip = f"203.0.113.{int(scope) % 250}-{scope}"
    counts = [await state.note_failed_lookup(ip, T0) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert await state.note_failed_lookup(ip, T0 + 60) == 1


@pytest.mark.redis
async def test_unreachable_redis_is_unavailable_quickly() -> None:
    from torouter.state.redis import RedisState, connect

    backend = RedisState(connect("redis://127.0.0.1:1/0", timeout_s=0.5))
    started = time.monotonic()
    with pytest.raises(StateUnavailable):
        await backend.admit(req("1", "a", 1))
    assert time.monotonic() - started < 3
    await backend.close()


@pytest.mark.redis
async def test_a_burst_larger_than_the_pool_queues_instead_of_failing() -> None:
    """Issue 12 point 17: commands beyond the pool wait for a connection; only the socket
    timeout means Redis is gone. Two connections, six 0.6 s commands: the last two wait ~1.2 s
    for a slot, longer than the 1 s socket timeout each command stays within."""
    from torouter.state.redis import connect

    client = connect(redis_url(), timeout_s=1.0, max_connections=2)
    key = "pool-burst-" + secrets.token_hex(6)
    try:
        done = await asyncio.gather(*(client.blpop([key], timeout=0.6) for _ in range(6)))
    finally:
        await client.aclose()
    assert done == [None] * 6
