"""The last run of each background job (ToRouter extension): what ran, where, when, and how.

    jobs = JobLog(db, node_id)
    async with jobs.run("subscriptions") as run:   # records start, end, ok or the error
        report = await work()
        run.detail = f"{len(report.expired)} expired"

A job that did nothing because another node held its lock says so (`run.skip()`): the row
keeps the last real run. Recording never raises into the job: a failed write is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.db import Database
from torouter.storage.tables import job_runs

__all__ = ["JobLog", "JobRow", "Run", "list_jobs"]

log = logging.getLogger("torouter.operations")


@dataclass(slots=True)
class Run:
    detail: str = ""
    skipped: bool = False

    def skip(self) -> None:
        self.skipped = True


@dataclass(frozen=True, slots=True)
class JobRow:
    name: str
    node: str
    started_at: dt.datetime
    finished_at: dt.datetime
    ok: bool
    detail: str | None
    runs: int
    failures: int
    last_failure_at: dt.datetime | None


class JobLog:
    def __init__(
        self,
        db: Database,
        node_id: str,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._db = db
        self._node = node_id
        self._clock = clock

    @asynccontextmanager
    async def run(self, name: str) -> AsyncIterator[Run]:
        started = self._clock()
        run = Run()
        try:
            yield run
        except Exception as exc:
            await self.record(name, started, ok=False, detail=f"{type(exc).__name__}: {exc}")
            raise
        if not run.skipped:
            await self.record(name, started, ok=True, detail=run.detail)

    async def record(self, name: str, started: dt.datetime, *, ok: bool, detail: str) -> None:
        finished = self._clock()
        values = {
            "node": self._node,
            "started_at": started,
            "finished_at": finished,
            "ok": ok,
            "detail": detail[:500] or None,
        }
        counts = {"runs": job_runs.c.runs + 1, "failures": job_runs.c.failures + (0 if ok else 1)}
        if not ok:
            values["last_failure_at"] = finished
        try:
            for _ in range(2):  # a first run on two nodes at once: one insert wins
                async with self._db.begin() as conn:
                    stmt = update(job_runs).where(job_runs.c.name == name)
                    if (await conn.execute(stmt.values(**values, **counts))).rowcount:
                        return
                    try:
                        await conn.execute(
                            insert(job_runs).values(
                                name=name, runs=1, failures=0 if ok else 1, **values
                            )
                        )
                        return
                    except IntegrityError:
                        continue
        except Exception:
            log.exception("could not record a job run", extra={"job": name})


async def list_jobs(conn: AsyncConnection) -> list[JobRow]:
    rows = (await conn.execute(select(job_runs).order_by(job_runs.c.name))).mappings()
    return [JobRow(**{k: r[k] for k in job_runs.c.keys()}) for r in rows]
