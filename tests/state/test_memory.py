"""The in-process backend's memory: what a settled admission leaves behind (R20.1 peak RSS)."""

from __future__ import annotations

import gc
import tracemalloc

from torouter.state.base import AdmitRequest, Hold
from torouter.state.memory import TOMBSTONE_MAX, MemoryState

T0 = 1_800_000_000.0


async def test_a_settled_admission_keeps_only_its_id() -> None:
    """The gateway settles thousands of admissions a second and remembers the last
    TOMBSTONE_MAX ids (a second settlement must be refused): a gateway-shaped id is kept in
    preallocated arrays (`tombstones.py`), so remembering it allocates nothing that outlives the
    request (~500 bytes per id in the fourth session, ~200 in the fifth)."""
    state = MemoryState(clock=lambda: T0)
    await state.seed_many([("{u:7}:bal", -(10**15), 0)])
    n = 4000

    async def one(i: int) -> None:
        scope = str(int("7"))  # fresh strings per request, as the gateway's admission makes
        holds = (
            Hold(f"{{u:{scope}}}:key:{i % 3}:day", None, "key"),
            Hold(f"{{u:{scope}}}:bal", 0, "balance"),
        )
        aid = f"01JBOOT0000000000000000000-{i}"
        request = AdmitRequest(
            aid, scope, "{u:7}:bal", now=T0, amount=5, lease_s=120.0, holds=holds
        )
        assert (await state.admit(request)).ok
        assert await state.settle(aid, scope, holds, 3, now=T0) is True

    for i in range(200):  # the tables' first growth and the counters, outside the measure
        await one(i)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(200, 200 + n):
            await one(i)
        gc.collect()
        per_admission = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert n + 200 < TOMBSTONE_MAX  # every one is still remembered
    assert per_admission < 16, per_admission
    # …and still refused a second time, and a release after it is a no-op.
    holds = (Hold("{u:7}:bal", 0, "balance"),)
    assert await state.settle(f"01JBOOT0000000000000000000-{n}", "7", holds, 3, now=T0) is False
    assert await state.release(f"01JBOOT0000000000000000000-{n}", "7", now=T0) is False
