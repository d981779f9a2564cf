"""What the payment jobs do (R14.3, R14.4, R14.10), one node at a time (`jobs/payments.py`).

- `expire_due`: pending orders past their session's expiry: asked at Stripe first (a payment
  whose webhook was lost is credited, not expired), then expired (at Stripe too, if the
  session is somehow still open).
- `sync_pending`: orders pending for more than 10 minutes are fetched from Stripe and settled
  through the webhook's exactly-once path (a lost or late webhook).
- `reconcile` / `repair`: see `reconcile.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from torouter.billing.payments import reconcile as rc
from torouter.billing.payments import refunds as rf
from torouter.billing.payments.provider import CheckoutSession, PaymentProvider, ProviderError
from torouter.billing.payments.refund_flow import stripe_refunds_of
from torouter.billing.payments.service import Payments
from torouter.billing.payments.settle import SETTLEABLE, Outcome, settle_paid
from torouter.errors import error
from torouter.records import Row
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.repos.orders import get_order, move_order, refund_entries_total
from torouter.storage.tables import orders

__all__ = ["RepairResult", "SyncReport", "expire_due", "reconcile", "repair", "sync_pending"]

log = logging.getLogger("torouter.payments")

SYNC_AFTER = dt.timedelta(minutes=10)  # R14.3: pending this long → ask Stripe
HORIZON = dt.timedelta(days=14)  # delayed payment methods settle within days


@dataclass(slots=True)
class SyncReport:
    checked: int = 0
    credited: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: int = 0


async def _pending(p: Payments, *, due_before: dt.datetime, expiry: bool) -> list[Row]:
    now = p.clock()
    c = orders.c
    cond = [c.status == "pending", c.method == "stripe", c.created_at >= now - HORIZON]
    cond.append(c.session_expires_at <= now if expiry else c.created_at <= due_before)
    async with p.db.connect() as conn:
        return list((await conn.execute(select(orders).where(*cond))).mappings().all())


async def _settle_one(
    p: Payments,
    provider: PaymentProvider,
    order: Row,
    report: SyncReport,
    *,
    expire: bool,
) -> None:
    if not order["stripe_session_id"]:  # the checkout was never created (a crash between)
        async with p.db.begin() as conn:
            await move_order(
                conn,
                order["id"],
                from_status=("pending",),
                values={"status": "failed", "note": "the checkout could not be created"},
            )
        report.failed.append(order["id"])
        return
    try:
        session = await provider.retrieve_session(order["stripe_session_id"])
        if expire and session.status == "open":
            session = await provider.expire_session(session.id)
    except ProviderError:
        report.errors += 1
        return
    outcome = await p.apply_session(session, source="job")
    if outcome.result == "credited":
        report.credited.append(order["id"])
    elif outcome.result == "expired":
        report.expired.append(order["id"])


async def sync_pending(p: Payments) -> SyncReport:
    """Orders pending for more than 10 minutes, settled from what Stripe says."""
    report = SyncReport()
    due = await _pending(p, due_before=p.clock() - SYNC_AFTER, expiry=False)
    if not due:
        return report  # the common case: no Stripe client is even built
    _, provider = await p.provider()
    for order in due:
        report.checked += 1
        await _settle_one(p, provider, order, report, expire=False)
    return report


async def expire_due(p: Payments) -> SyncReport:
    """Orders past their session's expiry: paid → credited, else expired."""
    report = SyncReport()
    due = await _pending(p, due_before=p.clock(), expiry=True)
    if not due:
        return report
    _, provider = await p.provider()
    for order in due:
        report.checked += 1
        await _settle_one(p, provider, order, report, expire=True)
    return report


# -- reconciliation ------------------------------------------------------------------------------


async def _session_of(provider: PaymentProvider, order: Row) -> CheckoutSession | None:
    if not order["stripe_session_id"]:
        return None
    try:
        return await provider.retrieve_session(order["stripe_session_id"])
    except ProviderError as exc:
        if exc.status == 404:
            return None
        raise


async def _facts(
    p: Payments,
    provider: PaymentProvider,
    order: Row,
    session: CheckoutSession | None,
    *,
    refunds_named: bool,
) -> rc.OrderFacts:
    async with p.db.connect() as conn:
        taken = -await refund_entries_total(conn, order_id=order["id"])
    stripe_refunds = None
    if order["stripe_payment_intent"] and (refunds_named or rc.needs_refund_lookup(order, taken)):
        stripe_refunds = await stripe_refunds_of(
            provider, order["id"], order["stripe_payment_intent"]
        )
    async with p.db.connect() as conn:
        return await rc.order_facts(conn, order, session, stripe_refunds)


async def reconcile(p: Payments, start: dt.datetime, end: dt.datetime) -> rc.Report:
    """Every mismatch of the period (R14.10). Raises 502 when Stripe cannot be read."""
    _, provider = await p.provider()
    report = rc.Report(start, end)
    try:
        sessions = await provider.list_sessions(
            created_gte=int(start.timestamp()), created_lt=int(end.timestamp())
        )
        refunds = await provider.list_refunds(
            created_gte=int(start.timestamp()), created_lt=int(end.timestamp())
        )
        async with p.db.connect() as conn:
            rows, by_order, named, strangers = await rc.gather(conn, sessions, refunds, start, end)
        report.sessions_checked = len(sessions)
        report.mismatches += strangers
        for order in rows:
            report.orders_checked += 1
            session = by_order.get(order["id"]) or await _session_of(provider, order)
            facts = await _facts(p, provider, order, session, refunds_named=order["id"] in named)
            report.mismatches += rc.check(facts)
    except ProviderError as exc:
        from torouter.billing.payments.service import unavailable

        raise unavailable(exc, "reconcile") from exc
    return report


@dataclass(frozen=True, slots=True)
class RepairResult:
    id: str
    repaired: bool
    detail: str
    balance_change_nusd: int = 0


async def repair(p: Payments, mismatch_id: str, *, actor: str) -> RepairResult:
    """Repair one mismatch if it is still there (see `reconcile.py` for what each does)."""
    kind, _, order_id = mismatch_id.partition(":")
    if kind not in rc.KINDS or not order_id:
        raise error("E16", "id: not a mismatch id", param="id")
    if kind == "paid_unknown_order":
        raise error(
            "CONFLICT", "A payment for an unknown order needs a person: refund it at Stripe"
        )
    _, provider = await p.provider()
    order = await p.order(order_id)
    try:
        session = await _session_of(provider, order)
        facts = await _facts(p, provider, order, session, refunds_named=True)
    except ProviderError as exc:
        from torouter.billing.payments.service import unavailable

        raise unavailable(exc, "repair") from exc
    found = next((m for m in rc.check(facts) if m.id == mismatch_id), None)
    if found is None:
        return RepairResult(mismatch_id, False, "nothing to repair: the mismatch is gone")
    uid = int(order["user_id"])
    now = p.clock()
    change = 0
    async with p.db.begin() as conn:
        fresh = await get_order(conn, order_id)
        assert fresh is not None
        if kind == "paid_not_credited":
            assert session is not None
            if fresh["status"] in SETTLEABLE:
                outcome = await settle_paid(
                    conn, session, now=now, subscribe=p.subscribe, source="reconcile"
                )
            else:  # marked paid, but its credit is missing: the ledger key still guards it
                entry = await add_ledger_entry(
                    conn,
                    user_id=uid,
                    amount_nusd=int(order["amount_nusd"]),
                    reason="topup",
                    reference=order_id,
                    actor=actor,
                    note="credited by reconciliation",
                )
                outcome = Outcome(
                    "credited" if not entry.duplicate else "already",
                    order_id,
                    uid,
                    credited_nusd=0 if entry.duplicate else int(order["amount_nusd"]),
                )
            change = outcome.credited_nusd
            subscription = outcome.subscription_changed
        else:
            subscription = False
            if kind == "credited_not_paid":
                if order["kind"] != "topup":
                    raise error("CONFLICT", "A subscription cannot be taken back here; cancel it")
                change = await _debit(
                    conn,
                    uid,
                    found.amount_nusd,
                    f"reconcile:{order_id}:unpaid",
                    actor,
                    found.detail,
                )
                await move_order(
                    conn,
                    order_id,
                    from_status=(*SETTLEABLE, "paid"),
                    values={"status": "failed", "note": "credited without a payment; reversed"},
                )
            elif kind == "credited_twice":
                ref = f"reconcile:{order_id}:excess:{facts.credited_nusd}"
                change = await _debit(conn, uid, found.amount_nusd, ref, actor, found.detail)
            elif kind == "refunded_not_debited":
                live = [r for r in facts.stripe_refunds or () if r.live]
                change = await rf.complete_refund(conn, order_id, live, now=now, actor=actor)
            elif kind == "debited_not_refunded":
                taken = facts.ledger_refunded_nusd
                entry = await add_ledger_entry(
                    conn,
                    user_id=uid,
                    amount_nusd=found.amount_nusd,
                    reason="refund_reversal",
                    reference=f"{order_id}:restore:{taken}",
                    actor=actor,
                    note=found.detail,
                )
                change = 0 if entry.duplicate else found.amount_nusd
                await move_order(
                    conn,
                    order_id,
                    from_status=("refunded",),
                    values={
                        "status": "refund_requested",
                        "stripe_refund_id": None,
                        "refund_error": "Stripe holds no refund for this order",
                    },
                )
    if change:
        await p.ledger.credit(uid, change)
    if subscription:
        await p.snapshot.invalidate()
    log.info(
        "reconciliation repair",
        extra={"mismatch": mismatch_id, "balance_change_nusd": change, "actor": actor},
    )
    return RepairResult(mismatch_id, True, f"repaired: {found.detail}", change)


async def _debit(conn: Any, uid: int, amount: int, ref: str, actor: str, note: str) -> int:
    entry = await add_ledger_entry(
        conn,
        user_id=uid,
        amount_nusd=-amount,
        reason="admin_debit",
        reference=ref,
        actor=actor,
        note=f"reconciliation: {note}"[:500],
    )
    return 0 if entry.duplicate else -amount
