"""Payment jobs (R14.3, R14.4, R14.10), each run by one node at a time.

Every `interval_s`: `payments:expiry` (pending orders past their checkout's expiry),
`payments:sync` (orders pending over 10 minutes, and refund attempts a dead process left
half-done). Every `reconcile_interval_s`: `payments:reconcile` over the last two periods,
logging each mismatch and repairing the one that is always safe to repair — money Stripe
received that was not credited — through the webhook's exactly-once path.

Each job holds the shared lock (`state/lock.py`: a Redis lock when scaled out) while it runs;
a node that finds it held skips that round. Runs log `job finished` with their start and end
times, skipped rounds `job skipped`, so a test can check that no two runs ever overlap. The
reconciliation's last run time is kept in the database, so N nodes still reconcile once per
period, not N times.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from torouter.billing.payments import refund_flow, upkeep
from torouter.billing.payments.service import Payments
from torouter.operations.jobs import JobLog
from torouter.state.lock import LockFactory, local_lock
from torouter.storage.repos._common import sync_row
from torouter.storage.tables import settings_kv

__all__ = ["JobRun", "PaymentJobs"]

log = logging.getLogger("torouter.jobs")

_LAST_RECONCILE = "jobs.payments_reconcile.last_run"


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    ran: bool  # False: another node held the lock, or payments are off
    result: Any = None


class PaymentJobs:
    def __init__(
        self,
        payments: Payments,
        *,
        lock: LockFactory = local_lock,
        interval_s: float = 60.0,
        reconcile_interval_s: float = 86400.0,
        node: str = "",
        clock: Callable[[], float] = time.time,
        job_log: JobLog | None = None,
    ) -> None:
        self.payments = payments
        self._job_log = job_log  # the operations page's list of jobs
        self._lock = lock
        self._interval = interval_s
        self._reconcile_interval = reconcile_interval_s
        self._node = node
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(self.run_frequent, self._interval), name="payment-jobs"),
            asyncio.create_task(
                self._loop(
                    self.run_reconcile, min(self._reconcile_interval, 3600.0), first_wait=True
                ),
                name="payment-reconcile",
            ),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(
        self, run: Callable[[], Awaitable[Any]], every: float, *, first_wait: bool = False
    ) -> None:
        if first_wait:  # not at start-up: nodes that restart together would all run it
            await asyncio.sleep(_jittered(every))
        while True:
            try:
                await run()
            except Exception:
                log.exception("payment job failed")
            await asyncio.sleep(_jittered(every))

    async def _configured(self) -> bool:
        return (await self.payments.config()).configured

    async def _run(self, job: str, ttl_s: float, body: Callable[[], Awaitable[Any]]) -> JobRun:
        async with self._lock(f"jobs:{job}", ttl_s) as held:
            if not held:
                log.info("job skipped", extra={"job": job, "node": self._node, "reason": "held"})
                return JobRun(job, False)
            started = self._clock()
            if self._job_log is None:
                result = await body()
            else:
                async with self._job_log.run(job) as run:
                    result = await body()
                    run.detail = _summary(result)
                    if result is None:
                        run.skip()  # another node ran it this period: keep the real run
            log.info(
                "job finished",
                extra={
                    "job": job,
                    "node": self._node,
                    "started": started,
                    "finished": self._clock(),
                },
            )
            return JobRun(job, True, result)

    async def run_frequent(self) -> list[JobRun]:
        """Expiry, then sync (each under its own lock)."""
        if not await self._configured():
            return []
        ttl = max(self._interval * 5, 60.0)
        return [
            await self._run("payments:expiry", ttl, lambda: upkeep.expire_due(self.payments)),
            await self._run("payments:sync", ttl, self._sync),
        ]

    async def _sync(self) -> upkeep.SyncReport:
        report = await upkeep.sync_pending(self.payments)
        await refund_flow.resolve_interrupted(self.payments)
        if report.credited or report.expired:
            log.info(
                "pending orders settled from Stripe",
                extra={"credited": report.credited, "expired": report.expired},
            )
        return report

    async def run_reconcile(self, *, force: bool = False) -> JobRun:
        if not await self._configured():
            return JobRun("payments:reconcile", False)
        return await self._run("payments:reconcile", 3600.0, lambda: self._reconcile(force=force))

    async def _reconcile(self, *, force: bool) -> Any:
        p = self.payments
        now = p.clock()
        period = dt.timedelta(seconds=self._reconcile_interval)
        async with p.db.connect() as conn:
            last = await conn.scalar(
                select(settings_kv.c.value).where(settings_kv.c.key == _LAST_RECONCILE)
            )
        if not force and last and now - dt.datetime.fromisoformat(str(last)) < period * 0.9:
            return None  # another node reconciled this period
        report = await upkeep.reconcile(p, now - 2 * period, now + dt.timedelta(seconds=1))
        repaired = []
        for m in report.mismatches:
            log.warning(
                "reconciliation mismatch",
                extra={
                    "mismatch": m.id,
                    "kind": m.kind,
                    "amount_nusd": m.amount_nusd,
                    "detail": m.detail,
                },
            )
            if m.kind == "paid_not_credited":
                result = await upkeep.repair(p, m.id, actor="system:reconcile")
                repaired.append(result)
        async with p.db.begin() as conn:
            await sync_row(
                conn,
                settings_kv,
                match={"key": _LAST_RECONCILE},
                values={"value": now.isoformat()},
                stamp="updated_at",
            )
        return report, repaired


def _jittered(every: float) -> float:
    """`every` ± 20 %: nodes on one period fall into step, and the one whose turn comes while
    another holds the lock would find it held every time; jitter gives every node turns (and
    spreads the load on Stripe)."""
    return every * random.uniform(0.8, 1.2)  # timing, not security


def _summary(result: Any) -> str:
    """One line for the operations page: what a run did."""
    if isinstance(result, tuple):  # reconcile: (report, repairs)
        report, repaired = result
        return (
            f"{len(report.mismatches)} mismatches in {report.orders_checked} orders, "
            f"{sum(r.repaired for r in repaired)} repaired"
        )
    if isinstance(result, upkeep.SyncReport):
        return (
            f"{result.checked} checked, {len(result.credited)} credited, "
            f"{len(result.expired)} expired, {result.errors} errors"
        )
    return ""
