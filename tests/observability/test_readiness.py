"""The readiness checks behind `/readyz` (R17.3), with scripted stores; the real ones (a Redis
stopped and restarted, a database cut off) are in tests/test_app.py."""

from __future__ import annotations

import asyncio

from torouter.observability.readiness import Readiness


class Store:
    def __init__(self) -> None:
        self.up = True
        self.calls = 0
        self.hang = asyncio.Event()  # set: answer; clear: never answer
        self.hang.set()

    async def ping(self) -> bool:
        self.calls += 1
        await self.hang.wait()
        return self.up


async def test_ready_when_every_store_answers_and_names_the_ones_that_do_not() -> None:
    db, redis = Store(), Store()
    readiness = Readiness({"database": db.ping, "redis": redis.ping})
    assert await readiness.failing() == []
    redis.up = False
    assert await readiness.failing() == ["redis"]
    db.up = False
    assert await readiness.failing() == ["database", "redis"]
    db.up = redis.up = True
    assert await readiness.failing() == []  # recovery needs no restart


async def test_a_store_that_does_not_answer_in_time_is_not_ready() -> None:
    db = Store()
    db.hang.clear()
    readiness = Readiness({"database": db.ping}, timeout_s=0.05)
    assert await readiness.failing() == ["database"]


async def test_a_check_that_raises_is_not_ready_and_never_an_error() -> None:
    async def broken() -> bool:
        raise RuntimeError("boom")

    assert await Readiness({"database": broken}).failing() == ["database"]


async def test_probes_arriving_together_share_one_round() -> None:
    db = Store()
    db.hang.clear()
    readiness = Readiness({"database": db.ping})
    probes = [asyncio.create_task(readiness.failing()) for _ in range(50)]
    await asyncio.sleep(0)
    probes[0].cancel()  # a probe that goes away does not cancel the others' round
    db.hang.set()
    answers = await asyncio.gather(*probes[1:])
    assert answers == [[]] * 49 and db.calls == 1
    assert await readiness.failing() == [] and db.calls == 2  # the next probe asks again
