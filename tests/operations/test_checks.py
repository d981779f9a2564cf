"""Store checks of the operations page: timed, bounded, never raising."""

from __future__ import annotations

import asyncio

from torouter.operations.checks import check_stores


async def test_every_outcome_is_a_result() -> None:
    async def up() -> bool:
        return True

    async def no() -> bool:
        return False

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    async def broken() -> bool:
        raise ConnectionRefusedError("no")

    got = {
        c.name: c
        for c in await check_stores(
            {"up": up, "no": no, "hangs": hangs, "broken": broken}, timeout_s=0.2
        )
    }
    assert got["up"].ok and got["up"].latency_ms is not None
    assert not got["no"].ok and got["no"].detail == "no answer"
    assert not got["hangs"].ok and "0.2 s" in got["hangs"].detail
    assert not got["broken"].ok and got["broken"].detail == "ConnectionRefusedError"
