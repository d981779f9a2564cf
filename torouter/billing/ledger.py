"""Steps 10–11 of admission and the money that follows (SPEC R7.5, R7.10, R7.11, R10.5).

`admit` counts the request in the key's windows and reserves the estimate against the key cap,
subscription windows, key budgets and balance — one atomic call of the state backend (one Lua
script round trip with Redis). Settlement swaps the estimate for the actual cost and feeds the
TPM window; failure releases; each admission settles once. Every live reservation is a lease
renewed in one batched call every `renew_every_s`; a process that dies stops renewing, so its
reservations lapse and are released by the next admission of the same user.

Subscription usage spends the subscription windows and the key cap, never the balance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from torouter.access import limits
from torouter.access.admission import Admission
from torouter.access.limits import Ticket
from torouter.billing.seed import committed_values
from torouter.errors import error
from torouter.records import Snapshot, SubscriptionRec
from torouter.state.base import StateBackend, StateUnavailable, StreamAppend, Verdict
from torouter.state.lock import LockFactory
from torouter.storage.db import Database

__all__ = ["Ledger", "balance_counter", "key_counter"]

log = logging.getLogger("torouter.ledger")

balance_counter = limits.balance_counter


def key_counter(user_id: int, key_id: int) -> str:
    return limits.key_counter(user_id, key_id)


class Ledger:
    def __init__(
        self,
        state: StateBackend,
        *,
        db: Database | None = None,
        tz: ZoneInfo | None = None,
        lease_s: float = 120.0,
        renew_every_s: float = 30.0,
        ip_rpm: int = 0,
        clock: Callable[[], float] = time.time,
        lock: LockFactory | None = None,
    ) -> None:
        self.state = state
        self._db = db
        self.tz = tz or ZoneInfo("UTC")
        self.lease_s = lease_s
        self._renew_every = renew_every_s
        self._ip_rpm = ip_rpm
        self.clock = clock
        self._lock = lock
        self._live: dict[str, str] = {}  # admission id → scope, renewed until settled
        self._seen_users: set[int] = set()
        self._snap: Snapshot | None = None
        self._reseeding: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- admission -----------------------------------------------------------------------------

    async def admit(
        self,
        admission_id: str,
        adm: Admission,
        sub: SubscriptionRec | None,
        estimate: int,
        *,
        client_ip: str | None = None,
        now: float | None = None,
    ) -> tuple[Ticket, Verdict]:
        """Steps 10–11; raises the §8 error of the first refusal (R7.10 order)."""
        now = self.clock() if now is None else now
        req = limits.admit_request(
            admission_id,
            adm.key,
            sub,
            balance=adm.group.billing_type != "subscription",
            estimate=estimate,
            now=now,
            tz=self.tz,
            lease_s=self.lease_s,
            client_ip=client_ip,
            ip_rpm=self._ip_rpm,
        )
        try:
            verdict = await self.state.admit(req)
        except StateUnavailable as exc:
            log.error("admission failed closed: %s", exc, extra={"admission_id": admission_id})
            if "seeded" in str(exc):
                self._start_reseed()
            raise error("E20") from exc
        if not verdict.ok:
            raise limits.refusal(req, verdict)
        self._live[admission_id] = req.scope
        return Ticket(admission_id, req.scope, req.holds, req.tokens), verdict

    async def settle(
        self, ticket: Ticket, cost: int, tokens: int = 0, append: StreamAppend | None = None
    ) -> bool:
        """Charge `cost` (even if the lease lapsed); the TPM window gets `tokens` (R10.5).
        `append` (the usage row, scaled out) goes to its stream in the same round trip."""
        self._live.pop(ticket.admission_id, None)
        tok = (ticket.tokens, tokens) if ticket.tokens is not None and tokens > 0 else None
        return await self.state.settle(
            ticket.admission_id,
            ticket.scope,
            ticket.holds,
            cost,
            now=self.clock(),
            tokens=tok,
            append=append,
        )

    async def release(self, ticket: Ticket, append: StreamAppend | None = None) -> bool:
        self._live.pop(ticket.admission_id, None)
        return await self.state.release(
            ticket.admission_id, ticket.scope, now=self.clock(), append=append
        )

    # -- leases --------------------------------------------------------------------------------

    async def renew(self) -> None:
        """One batched call for every live reservation of this process (R7.11)."""
        await self.state.renew(list(self._live.items()), now=self.clock(), lease_s=self.lease_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_loop(), name="lease-renewal")

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                await self.renew()
            except Exception:
                log.exception("lease renewal failed")

    async def close(self) -> None:
        for task in (self._task, self._reseeding):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    @property
    def live(self) -> int:
        return len(self._live)

    # -- seeding -------------------------------------------------------------------------------

    async def on_snapshot(self, snap: Snapshot) -> None:
        """Seed the counters of users this process has not seen yet (start-up: everyone)."""
        self._snap = snap
        new = set(snap.users) - self._seen_users
        if not new:
            return
        users = None if not self._seen_users else new
        seeds = await committed_values(self._db, snap, now=self.clock(), tz=self.tz, users=users)
        try:
            await self.state.seed_many(seeds)
        except StateUnavailable:
            if not self._seen_users:
                raise  # start-up: nothing is seeded, the node cannot serve
            # Later reloads must still apply edits; these users are seeded on the next one.
            log.error("seeding new users' counters failed; retried on the next reload")
            return
        self._seen_users |= new

    async def reseed(self) -> bool:
        """Seed every counter again (Redis came back empty), one node at a time."""
        snap = self._snap
        if snap is None:
            return False
        if self._lock is None:
            seeds = await committed_values(self._db, snap, now=self.clock(), tz=self.tz)
            await self.state.seed_many(seeds)
            return True
        async with self._lock("reseed", 60.0) as held:
            if not held:
                return False
            seeds = await committed_values(self._db, snap, now=self.clock(), tz=self.tz)
            await self.state.seed_many(seeds)
            log.warning("state counters reseeded from the database", extra={"seeds": len(seeds)})
            return True

    def _start_reseed(self) -> None:
        if self._reseeding is not None and not self._reseeding.done():
            return

        async def run() -> None:
            try:
                await self.reseed()
            except Exception:
                log.exception("reseeding the state counters failed")

        self._reseeding = asyncio.create_task(run(), name="reseed")

    async def credit(self, user_id: int, amount_nusd: int) -> None:
        """A balance change made elsewhere (top-up, admin credit): mirror it in the counters."""
        await self.state.add(balance_counter(user_id), -amount_nusd)

    async def note_failed_lookup(self, ip: str) -> int:
        try:
            return await self.state.note_failed_lookup(ip, self.clock())
        except Exception:  # a throttle, never a reason to fail a request
            return 0
