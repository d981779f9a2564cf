"""Reservations (SPEC R7.11) on the in-process backend."""

import asyncio

from torouter.state.base import Hold
from torouter.state.memory import MemoryState


async def test_reserve_settle_release_and_idempotence() -> None:
    s = MemoryState()
    await s.seed("bal:1", -1000)  # balance 1000 nUSD
    holds = [Hold("key:1", 600), Hold("bal:1", 0)]
    assert await s.reserve("a", holds, 500) is None
    assert await s.reserve("b", holds, 200) == "key:1"  # 500 + 200 > 600
    assert await s.settle("a", 300) is True
    assert await s.settle("a", 300) is False  # once
    assert await s.used("key:1") == (300, 0)
    assert await s.used("bal:1") == (-700, 0)
    assert await s.reserve("c", holds, 250) is None
    assert await s.release("c") is True
    assert await s.release("c") is False
    assert await s.used("key:1") == (300, 0)


async def test_concurrent_reservations_never_exceed_the_balance() -> None:
    s = MemoryState()
    await s.seed("bal:7", -10_000)
    holds = [Hold("bal:7", 0)]
    results = await asyncio.gather(*(s.reserve(f"r{i}", holds, 100) for i in range(200)))
    assert sum(r is None for r in results) == 100
    assert await s.used("bal:7") == (-10_000, 10_000)
