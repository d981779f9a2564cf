"""Subscription expiry and auto-renewal (SPEC R7.7), a background job.

Every `interval_s` one node (a Redis lock when scaled out) looks at subscriptions whose time is
up. An active one with `auto_renew` whose plan is still on sale is paid from the balance if it
suffices beside the reservations in flight (a `subscription_purchase` ledger entry) and extended
from `max(now, expires_at)` with the plan's current caps; any other flips to `expired` (a
paused one too: expiry runs on). The clock is injectable, so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from torouter.billing.ledger import Ledger, balance_counter
from torouter.operations.jobs import JobLog
from torouter.snapshot import SnapshotHolder
from torouter.state.lock import LockFactory, local_lock
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.repos.ledger import debit_if_covered
from torouter.storage.repos.plans import plan_caps

__all__ = ["JobReport", "SubscriptionJobs"]

log = logging.getLogger("torouter.jobs")


@dataclass(slots=True)
class JobReport:
    ran: bool = False  # False: another node holds the lock
    expired: list[int] = field(default_factory=list)
    renewed: list[int] = field(default_factory=list)


class SubscriptionJobs:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        snapshot: SnapshotHolder,
        *,
        lock: LockFactory = local_lock,
        clock: Callable[[], float] = time.time,
        interval_s: float = 60.0,
        job_log: JobLog | None = None,
    ) -> None:
        self._db = db
        self._job_log = job_log
        self._ledger = ledger
        self._snapshot = snapshot
        self._lock = lock
        self._clock = clock
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="subscription-jobs")

    async def _loop(self) -> None:
        while True:
            try:
                await self._recorded()
            except Exception:
                log.exception("subscription job failed")
            await asyncio.sleep(self._interval)

    async def _recorded(self) -> None:
        """One run, kept in the job log (operations page) unless another node held the lock."""
        if self._job_log is None:
            await self.run_once()
            return
        async with self._job_log.run("subscriptions") as run:
            report = await self.run_once()
            if not report.ran:
                run.skip()
            run.detail = f"{len(report.expired)} expired, {len(report.renewed)} renewed"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> JobReport:
        report = JobReport()
        async with self._lock("jobs:subscriptions", max(self._interval * 5, 60.0)) as held:
            if not held:
                return report
            report.ran = True
            now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
            s = t.subscriptions.c
            async with self._db.connect() as conn:
                due = (
                    await conn.execute(
                        select(t.subscriptions).where(
                            s.state.in_(("active", "paused")), s.expires_at <= now
                        )
                    )
                ).all()
            credits: list[tuple[int, int]] = []
            for sub in due:
                paid = await self._renew(sub, now) if sub.auto_renew else None
                if paid is not None:
                    report.renewed.append(sub.id)
                    if paid:
                        credits.append((sub.user_id, paid))
                    continue
                async with self._db.begin() as conn:
                    res = await conn.execute(
                        update(t.subscriptions)
                        .where(
                            s.id == sub.id, s.state.in_(("active", "paused")), s.expires_at <= now
                        )
                        .values(state="expired")
                    )
                if res.rowcount:
                    report.expired.append(sub.id)
        for uid, price in credits:
            await self._ledger.credit(uid, -price)
        if report.expired or report.renewed:
            await self._snapshot.invalidate()
            log.info(
                "subscriptions updated",
                extra={"expired": report.expired, "renewed": report.renewed},
            )
        return report

    async def _renew(self, sub: Any, now: dt.datetime) -> int | None:
        """Pay and extend; the price paid (0 for a free plan), or None to let it expire."""
        s = t.subscriptions.c
        sub_id, user_id = sub.id, sub.user_id
        expires_at: dt.datetime = sub.expires_at
        if sub.state != "active" or sub.plan_id is None:
            return None
        q = select(t.plans).where(t.plans.c.id == sub.plan_id)
        async with self._db.connect() as conn:
            plan = (await conn.execute(q)).mappings().first()
        if plan is None or not plan["enabled"] or plan["group_id"] != sub.group_id:
            return None
        price = int(plan["price_nusd"])
        _, in_flight = await self._ledger.state.used(balance_counter(user_id))
        try:
            async with self._db.begin() as conn:
                if price > 0:
                    entry = await debit_if_covered(
                        conn,
                        user_id=user_id,
                        amount_nusd=price,
                        reason="subscription_purchase",
                        reference=f"renew:{sub_id}:{int(expires_at.timestamp())}",
                        actor="system:auto-renew",
                        keep_nusd=max(in_flight, 0),
                    )
                    if entry is None:
                        return None  # the balance does not suffice: it expires
                start = max(now, expires_at)
                res = await conn.execute(
                    update(t.subscriptions)
                    .where(s.id == sub_id, s.expires_at == expires_at, s.state == "active")
                    .values(
                        expires_at=start + dt.timedelta(days=int(plan["duration_days"])),
                        purchases=s.purchases + 1,
                        **plan_caps(plan),
                    )
                )
                if not res.rowcount:
                    raise _Changed
        except (_Changed, IntegrityError):
            return None  # changed meanwhile (an edit, or another node): nothing charged
        return price


class _Changed(Exception):
    """The subscription changed between reading and renewing it: roll back."""
