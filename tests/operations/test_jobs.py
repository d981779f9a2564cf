"""The background jobs' run log (operations page): last run, where, result, counts."""

from __future__ import annotations

import datetime as dt

import pytest

from torouter.operations.jobs import JobLog, list_jobs
from torouter.storage.db import Database

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


async def test_runs_failures_and_skips(db: Database) -> None:
    log = JobLog(db, "node-a", clock=Clock())
    async with log.run("subscriptions") as run:
        run.detail = "2 expired"
    with pytest.raises(RuntimeError):
        async with log.run("subscriptions"):
            raise RuntimeError("database is locked")
    async with log.run("subscriptions") as run:
        run.skip()  # another node held the lock: the last real run stays
    async with log.run("snapshot-reload"):
        pass
    async with db.connect() as conn:
        jobs = {j.name: j for j in await list_jobs(conn)}
    sub = jobs["subscriptions"]
    assert (sub.runs, sub.failures, sub.ok) == (2, 1, False)
    assert sub.detail == "RuntimeError: database is locked"
    assert sub.last_failure_at == sub.finished_at and sub.node == "node-a"
    assert jobs["snapshot-reload"].ok and jobs["snapshot-reload"].runs == 1


async def test_two_nodes_recording_the_same_job(db: Database) -> None:
    a, b = JobLog(db, "node-a"), JobLog(db, "node-b")
    await a.record("probes", T0, ok=True, detail="1 probed")
    await b.record("probes", T0, ok=True, detail="2 probed")
    async with db.connect() as conn:
        (job,) = await list_jobs(conn)
    assert (job.node, job.runs, job.detail) == ("node-b", 2, "2 probed")
