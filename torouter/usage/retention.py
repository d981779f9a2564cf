"""Usage retention (SPEC R11.3), a daily background job.

Rows older than `usage.retention_days` (0 = forever) are deleted in bounded batches, each its
own short transaction, so the writer and the views never wait long behind it; the daily
roll-ups are kept (charts and summaries outlive the rows) and hourly roll-ups older than 48
hours are pruned. Every node wakes up hourly, but only one at a time holds the lock (a Redis
lock when scaled out) and the day it last ran is recorded in `daily_jobs`, so the work happens
once a day per deployment. The clock is injectable: tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.jobs import periodic
from torouter.operations.jobs import JobLog
from torouter.state.lock import LockFactory, local_lock
from torouter.storage.db import Database
from torouter.storage.tables import daily_jobs, usage_hourly, usage_logs
from torouter.usage.rollups import HOURLY_KEEP

__all__ = ["JOB_NAME", "RetentionReport", "UsageRetention"]

log = logging.getLogger("torouter.jobs")

JOB_NAME = "usage-retention"


@dataclass(slots=True)
class RetentionReport:
    ran: bool = False  # False: another node holds the lock, or it already ran today
    day: str | None = None
    deleted_rows: int = 0
    deleted_hours: int = 0
    batches: int = 0


class UsageRetention:
    def __init__(
        self,
        db: Database,
        *,
        retention_days: int,
        zone: dt.tzinfo = dt.UTC,
        lock: LockFactory = local_lock,
        clock: Callable[[], float] = time.time,
        interval_s: float = 3600.0,
        batch_size: int = 5_000,
        job_log: JobLog | None = None,
    ) -> None:
        self._job_log = job_log  # the operations page's list of jobs
        self._db = db
        self._days = retention_days
        self._zone = zone
        self._lock = lock
        self._clock = clock
        self._interval = interval_s
        self._batch = batch_size
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = periodic.every(self._interval, self.run_once, name=JOB_NAME, log=log)

    async def close(self) -> None:
        await periodic.stop(self._task)

    async def run_once(self) -> RetentionReport:
        """One wake-up; recorded on the operations page when it did the day's work (or
        failed), not when another node or an earlier run today had done it."""
        if self._job_log is None:
            return await self._run_once()
        async with self._job_log.run(JOB_NAME) as run:
            report = await self._run_once()
            if not report.ran:
                run.skip()
            run.detail = (
                f"{report.deleted_rows} rows and {report.deleted_hours} hourly totals deleted"
            )
        return report

    async def _run_once(self) -> RetentionReport:
        report = RetentionReport()
        # The lock outlives a long first run (millions of rows) on a slow disk.
        async with self._lock(f"jobs:{JOB_NAME}", 900.0) as held:
            if not held:
                return report
            now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
            today = now.astimezone(self._zone).date().isoformat()
            async with self._db.connect() as conn:
                last = await conn.scalar(
                    select(daily_jobs.c.last_day).where(daily_jobs.c.name == JOB_NAME)
                )
            if last == today:
                return report
            report.ran, report.day = True, today
            if self._days > 0:
                await self._delete_rows(now - dt.timedelta(days=self._days), report)
            async with self._db.begin() as conn:
                res = await conn.execute(
                    delete(usage_hourly).where(usage_hourly.c.hour < now - HOURLY_KEEP)
                )
                report.deleted_hours = res.rowcount or 0
                await _mark(conn, today, now, exists=last is not None)
        log.info(
            "usage retention",
            extra={"rows": report.deleted_rows, "hours": report.deleted_hours, "day": today},
        )
        return report

    async def _delete_rows(self, cutoff: dt.datetime, report: RetentionReport) -> None:
        c = usage_logs.c
        oldest = select(c.id).where(c.created_at < cutoff).order_by(c.created_at).limit(self._batch)
        while True:
            async with self._db.begin() as conn:
                ids = [r[0] for r in await conn.execute(oldest)]
                if ids:
                    await conn.execute(delete(usage_logs).where(c.id.in_(ids)))
            report.deleted_rows += len(ids)
            report.batches += bool(ids)
            if len(ids) < self._batch:
                return
            await asyncio.sleep(0)  # let requests and the writer in between batches


async def _mark(conn: AsyncConnection, day: str, now: dt.datetime, *, exists: bool) -> None:
    values = {"last_day": day, "last_run_at": now}
    if exists:
        await conn.execute(update(daily_jobs).where(daily_jobs.c.name == JOB_NAME).values(**values))
    else:
        await conn.execute(insert(daily_jobs).values(name=JOB_NAME, **values))
