"""Subscription expiry and auto-renewal (SPEC R7.7) with an injectable clock, on both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from torouter.billing.ledger import Ledger, balance_counter
from torouter.jobs.subscriptions import SubscriptionJobs
from torouter.snapshot import SnapshotHolder
from torouter.state.memory import MemoryState
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.repos.groups import create_group
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.repos.plans import create_plan, create_subscription
from torouter.storage.repos.users import create_user

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
USD = 1_000_000_000


async def setup(db: Database, balances: list[int], *, auto_renew: bool = True) -> list[int]:
    async with db.begin() as conn:
        gid = await create_group(conn, name="subs", billing_type="subscription")
        pid = await create_plan(
            conn,
            name="monthly",
            group_id=gid,
            price_nusd=3 * USD,
            duration_days=30,
            daily_cap_nusd=USD,
        )
        plan = (await conn.execute(select(t.plans).where(t.plans.c.id == pid))).mappings().one()
        subs = []
        for i, bal in enumerate(balances):
            uid = await create_user(conn, email=f"u{i}@example.com", state="active")
            if bal:
                await add_ledger_entry(
                    conn, user_id=uid, amount_nusd=bal, reason="admin_credit", reference=f"s{i}"
                )
            subs.append(
                await create_subscription(
                    conn, user_id=uid, plan=plan, starts_at=START, auto_renew=auto_renew
                )
            )
        # A paused one expires too; a cancelled one is left alone.
        uid = await create_user(conn, email="paused@example.com", state="active")
        subs.append(
            await create_subscription(conn, user_id=uid, plan=plan, starts_at=START, state="paused")
        )
    return subs


async def rows(db: Database) -> dict[int, tuple[str, dt.datetime, int]]:
    async with db.connect() as conn:
        res = await conn.execute(select(t.subscriptions))
        return {r.id: (r.state, r.expires_at, r.purchases) for r in res}


async def test_expiry_and_auto_renewal(db: Database) -> None:
    rich, broke, paused = await setup(db, [10 * USD, 2 * USD])
    clock = [START.timestamp() + 10 * 86400]
    state = MemoryState()
    ledger = Ledger(state, db=db, clock=lambda: clock[0])
    snapshot = SnapshotHolder(db, lambda s: s, on_load=ledger.on_snapshot)
    await snapshot.reload()
    jobs = SubscriptionJobs(db, ledger, snapshot, clock=lambda: clock[0])
    report = await jobs.run_once()
    assert report.ran and report.expired == [] and report.renewed == []
    assert snapshot.current.subscriptions[(1, 1)].state == "active"

    clock[0] = (START + dt.timedelta(days=30, hours=1)).timestamp()  # all three are due
    report = await jobs.run_once()
    assert report.renewed == [rich] and sorted(report.expired) == [broke, paused]
    after = await rows(db)
    assert after[rich][0] == "active" and after[rich][2] == 2
    # Extended from max(now, expires_at): now, an hour after it expired.
    assert after[rich][1] == dt.datetime.fromtimestamp(clock[0], dt.UTC) + dt.timedelta(days=30)
    assert after[broke][0] == "expired" and after[paused][0] == "expired"
    async with db.connect() as conn:
        entry = (
            await conn.execute(select(t.ledger).where(t.ledger.c.reason == "subscription_purchase"))
        ).one()
        balance = (
            await conn.execute(select(t.users.c.balance_nusd).where(t.users.c.id == 1))
        ).scalar_one()
    assert entry.amount_nusd == -3 * USD and entry.user_id == 1 and balance == 7 * USD
    # The counters follow the ledger, and the snapshot sees the new states.
    assert await state.used(balance_counter(1)) == (-7 * USD, 0)
    assert snapshot.current.subscriptions[(2, 1)].state == "expired"
    # Running again changes nothing (idempotent).
    report = await jobs.run_once()
    assert report.renewed == [] and report.expired == []


async def test_renewal_keeps_in_flight_reservations_covered(db: Database) -> None:
    (sub,) = (await setup(db, [3 * USD]))[:1]
    clock = [(START + dt.timedelta(days=31)).timestamp()]
    state = MemoryState()
    ledger = Ledger(state, db=db, clock=lambda: clock[0])
    snapshot = SnapshotHolder(db, lambda s: s, on_load=ledger.on_snapshot)
    await snapshot.reload()
    # Half a dollar is reserved by a request in flight: 3 USD no longer suffices.
    from torouter.state.base import AdmitRequest, Hold

    bal = balance_counter(1)
    v = await state.admit(
        AdmitRequest("a", "1", bal, clock[0], USD // 2, 120, holds=(Hold(bal, 0, "balance"),))
    )
    assert v.ok
    report = await SubscriptionJobs(db, ledger, snapshot, clock=lambda: clock[0]).run_once()
    assert report.expired[0] == sub and report.renewed == []


async def test_one_node_at_a_time(db: Database) -> None:
    import contextlib

    await setup(db, [])

    @contextlib.asynccontextmanager
    async def taken(name: str, ttl: float):  # another node holds the lock
        yield False

    ledger = Ledger(MemoryState(), db=db)
    snapshot = SnapshotHolder(db, lambda s: s, on_load=ledger.on_snapshot)
    await snapshot.reload()
    report = await SubscriptionJobs(db, ledger, snapshot, lock=taken, clock=lambda: 4e9).run_once()
    assert not report.ran and (await rows(db))[1][0] == "paused"  # not expired by this node
