"""Refunds of paid top-ups (R14.5), as transaction steps; `service.py` calls Stripe between them.

    paid ──request──► refund_requested ──approve──► refunded
                          │    ▲  │
                   reject │    │  └─ Stripe fails: `refund_reversal`, stays requested with
                          ▼    │     the error, can be approved again
                   refund_rejected

An approval is an *attempt* n: claim the order (`refund_started_at`, so two admins cannot both
send it), write the `refund` debit `<order id>:<n>`, commit, then call Stripe with the
idempotency key `refund-<order id>` (`refund-<order id>-<n>` for a retry: Stripe replays a
failed result under its key for 24 hours, so a retry needs a fresh one — and before sending
one, a retry adopts a refund Stripe already holds for the order, so nothing is refunded
twice). Success records the Stripe refund; failure writes the `refund_reversal`
`<order id>:<n>`.

The ledger stays the truth: the refunds of an order have taken exactly the sum of its
`refund`/`refund_reversal` entries; `complete_refund` tops that up (or gives back) to what
Stripe actually refunded, so a recorded refund always matches the money that left.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.billing.payments.amounts import (
    NUSD_PER_CENT,
    Credit,
    refundable,
    round_down_to_cents,
)
from torouter.billing.payments.provider import ProviderRefund
from torouter.errors import error
from torouter.records import Row
from torouter.storage.repos.ledger import add_ledger_entry, debit_if_covered
from torouter.storage.repos.orders import (
    claim_refund,
    get_order,
    move_order,
    refund_entries_total,
)
from torouter.storage.tables import ledger, users

__all__ = [
    "CLAIM_S",
    "Attempt",
    "begin_refund",
    "complete_refund",
    "fail_refund",
    "refund_failed_later",
    "refund_refusal",
    "refundable_now",
    "reject_refund",
    "request_refund",
]

log = logging.getLogger("torouter.payments")

CLAIM_S = 600  # an attempt older than this was interrupted (its process died)


async def _topup_entry(conn: AsyncConnection, order_id: str) -> Row | None:
    q = select(ledger).where(ledger.c.reason == "topup", ledger.c.reference == order_id)
    return (await conn.execute(q)).mappings().first()


async def _later_credits(conn: AsyncConnection, user_id: int, after_id: int) -> list[Credit]:
    """Credits newer than ledger entry `after_id`: top-ups and admin credits, and the refund
    entries of top-ups newer than it (what was refunded of a later top-up is no longer in the
    balance, so it no longer shields this one)."""
    rows = (
        await conn.execute(
            select(ledger.c.amount_nusd, ledger.c.reason, ledger.c.reference).where(
                ledger.c.user_id == user_id,
                ledger.c.id > after_id,
                ledger.c.reason.in_(("topup", "admin_credit", "refund", "refund_reversal")),
            )
        )
    ).all()
    credits = [Credit(r.amount_nusd) for r in rows if r.reason in ("topup", "admin_credit")]
    refunded = [r for r in rows if r.reason in ("refund", "refund_reversal")]
    orders = {str(r.reference).partition(":")[0] for r in refunded}
    if orders:
        newer = {
            r.reference
            for r in await conn.execute(
                select(ledger.c.reference).where(
                    ledger.c.reason == "topup",
                    ledger.c.reference.in_(orders),
                    ledger.c.id > after_id,
                )
            )
        }
        credits += [
            Credit(r.amount_nusd) for r in refunded if str(r.reference).partition(":")[0] in newer
        ]
    return credits


async def refundable_now(conn: AsyncConnection, order: Row) -> int:
    """What of this top-up is still in the balance (R14.5), in nUSD."""
    if order["kind"] != "topup":
        return 0
    entry = await _topup_entry(conn, order["id"])
    if entry is None:
        return 0
    balance = await conn.scalar(select(users.c.balance_nusd).where(users.c.id == order["user_id"]))
    later = await _later_credits(conn, int(order["user_id"]), int(entry["id"]))
    return refundable(int(balance or 0), int(order["amount_nusd"]), later)


def refund_refusal(order: Row, *, now: dt.datetime, window_days: int) -> str | None:
    """Why the user cannot ask for a refund of this order, before looking at what is left of
    it; None when they can (a paid Stripe top-up within the window). Pages use it to offer
    the button only where the request can succeed."""
    if order["kind"] != "topup" or order["method"] != "stripe":
        return "Only top-ups paid through Stripe can be refunded"
    if order["status"] != "paid":
        return f"This order is {order['status']}; a refund needs a paid order"
    paid_at = order["paid_at"]
    if paid_at is None or paid_at < now - dt.timedelta(days=window_days):
        return f"Refunds are possible within {window_days} days of payment"
    return None


async def request_refund(
    conn: AsyncConnection,
    order: Row,
    *,
    reason: str,
    now: dt.datetime,
    window_days: int,
) -> int:
    """paid → refund_requested; returns the refundable amount. 409 CONFLICT when the order
    cannot be refunded (not a paid top-up, asked before, too old, nothing left)."""
    refusal = refund_refusal(order, now=now, window_days=window_days)
    if refusal is not None:
        raise error("CONFLICT", refusal)
    amount = await refundable_now(conn, order)
    if amount <= 0:
        raise error("CONFLICT", "Nothing of this top-up is left to refund: it has been spent")
    moved = await move_order(
        conn,
        order["id"],
        from_status=("paid",),
        values={
            "status": "refund_requested",
            "refund_reason": reason,
            "refund_requested_at": now,
            "updated_at": now,
        },
    )
    if not moved:
        raise error("CONFLICT", "This order changed meanwhile; reload it")
    return amount


class Attempt:
    """A claimed refund attempt whose debit is written (the Stripe call comes next)."""

    __slots__ = ("amount_nusd", "number", "order_id", "payment_intent", "user_id")

    def __init__(
        self, order_id: str, user_id: int, number: int, amount_nusd: int, payment_intent: str
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.number = number
        self.amount_nusd = amount_nusd
        self.payment_intent = payment_intent

    @property
    def idempotency_key(self) -> str:
        base = f"refund-{self.order_id}"
        return base if self.number == 1 else f"{base}-{self.number}"

    @property
    def reference(self) -> str:
        return f"{self.order_id}:{self.number}"


async def begin_refund(
    conn: AsyncConnection,
    order_id: str,
    *,
    amount_nusd: int | None,
    note: str | None,
    actor: str,
    now: dt.datetime,
) -> Attempt:
    """Claim the order and write the `refund` debit of attempt n, in one transaction.

    `amount_nusd` None: all that is refundable, rounded down to cents. Raises E16 (param
    `amount_usd`) for an amount above the refundable or not in whole cents, 409 when the order
    is not awaiting a refund or another approval is running, 404 for no such order.
    """
    claimed = await claim_refund(
        conn, order_id, now=now, stale_before=now - dt.timedelta(seconds=CLAIM_S)
    )
    order = await get_order(conn, order_id)
    if order is None:
        raise error("E19", "Order not found")
    if not claimed:
        if order["status"] == "refund_requested":
            raise error("CONFLICT", "A refund of this order is being sent to Stripe right now")
        raise error("CONFLICT", f"This order is {order['status']}, not awaiting a refund")
    if not order["stripe_payment_intent"]:
        raise error("CONFLICT", "This order has no Stripe payment to refund")
    can = await refundable_now(conn, order)
    amount = round_down_to_cents(can) if amount_nusd is None else amount_nusd
    if amount_nusd is not None and amount_nusd % NUSD_PER_CENT:
        raise error("E16", "amount_usd: must have at most 2 decimals", param="amount_usd")
    if amount_nusd is None and amount <= 0:
        raise error("CONFLICT", "Nothing of this top-up is left to refund: it has been spent")
    if amount <= 0 or amount > can:
        most = round_down_to_cents(can) // NUSD_PER_CENT
        raise error(
            "E16",
            f"amount_usd: must be more than 0 and at most {most // 100}.{most % 100:02d} USD "
            "(what is left of this top-up)",
            param="amount_usd",
        )
    number = int(order["refund_attempts"])
    entry = await debit_if_covered(
        conn,
        user_id=int(order["user_id"]),
        amount_nusd=amount,
        reason="refund",
        reference=f"{order_id}:{number}",
        actor=actor,
        note=note,
    )
    if entry is None:
        raise error("CONFLICT", "The balance no longer covers this refund")
    await move_order(
        conn,
        order_id,
        from_status=("refund_requested",),
        values={"refund_amount_nusd": amount, "refund_note": note, "refund_error": None},
    )
    return Attempt(order_id, int(order["user_id"]), number, amount, order["stripe_payment_intent"])


async def complete_refund(
    conn: AsyncConnection,
    order_id: str,
    refunds: list[ProviderRefund],
    *,
    now: dt.datetime,
    actor: str,
) -> int:
    """Record the refunds Stripe holds for the order (live ones, newest last): the order
    becomes `refunded` and its refund entries are made to add up to exactly what was
    refunded. Returns the balance change this made (0 in the usual case, where the attempt's
    debit already matches)."""
    order = await get_order(conn, order_id)
    if order is None:
        raise error("E19", "Order not found")
    live = [r for r in refunds if r.live]
    if not live:
        raise ValueError("no live refund to record")
    refund = live[-1]
    refunded = sum(r.amount for r in live) * NUSD_PER_CENT
    delta = -refunded - await refund_entries_total(conn, order_id=order_id)
    if delta:
        await add_ledger_entry(
            conn,
            user_id=int(order["user_id"]),
            amount_nusd=delta,
            reason="refund" if delta < 0 else "refund_reversal",
            reference=f"{order_id}:{refund.id}",
            actor=actor,
            note="aligned with the refund recorded at Stripe",
        )
    await move_order(
        conn,
        order_id,
        from_status=("paid", "refund_requested", "refund_rejected"),
        values={
            "status": "refunded",
            "stripe_refund_id": refund.id,
            "refund_amount_nusd": refunded,
            "refunded_at": now,
            "refund_started_at": None,
            "refund_error": None,
            "updated_at": now,
        },
    )
    return delta


async def fail_refund(
    conn: AsyncConnection, attempt: Attempt, *, message: str, now: dt.datetime, actor: str
) -> int:
    """Stripe did not refund: give the attempt's debit back (`refund_reversal`), keep the order
    `refund_requested` with the error. Returns the balance change."""
    entry = await add_ledger_entry(
        conn,
        user_id=attempt.user_id,
        amount_nusd=attempt.amount_nusd,
        reason="refund_reversal",
        reference=attempt.reference,
        actor=actor,
        note=f"the refund failed at Stripe: {message}"[:500],
    )
    await move_order(
        conn,
        attempt.order_id,
        from_status=("refund_requested",),
        values={"refund_error": message[:1000], "refund_started_at": None, "updated_at": now},
    )
    return 0 if entry.duplicate else attempt.amount_nusd


async def reject_refund(
    conn: AsyncConnection, order_id: str, *, note: str, now: dt.datetime, stale_before: dt.datetime
) -> None:
    order = await get_order(conn, order_id)
    if order is None:
        raise error("E19", "Order not found")
    running = order["refund_started_at"] is not None and order["refund_started_at"] >= stale_before
    if order["status"] != "refund_requested" or running:
        raise error("CONFLICT", f"This order is {order['status']}, not awaiting a decision")
    moved = await move_order(
        conn,
        order_id,
        from_status=("refund_requested",),
        values={"status": "refund_rejected", "refund_note": note, "updated_at": now},
        where={"refund_started_at": order["refund_started_at"]},
    )
    if not moved:
        raise error("CONFLICT", "This order changed meanwhile; reload it")


async def refund_failed_later(
    conn: AsyncConnection, refund: ProviderRefund, *, now: dt.datetime
) -> tuple[str | None, int, int]:
    """A refund Stripe had accepted failed afterwards (`refund.failed`): the money is back
    in the balance and the order awaits a decision again. (order id, user id, balance
    change); no order id when the refund is not one we recorded."""
    order_id = refund.metadata.get("order_id")
    order = await get_order(conn, order_id) if order_id else None
    if order is None or order["stripe_refund_id"] != refund.id:
        return None, 0, 0
    moved = await move_order(
        conn,
        order["id"],
        from_status=("refunded",),
        values={
            "status": "refund_requested",
            "refund_error": f"the refund failed at Stripe ({refund.failure_reason or 'unknown'})",
            "stripe_refund_id": None,
            "refunded_at": None,
            "updated_at": now,
        },
        where={"stripe_refund_id": refund.id},
    )
    if not moved:
        return order["id"], int(order["user_id"]), 0
    back = -await refund_entries_total(conn, order_id=order["id"])
    if back > 0:
        await add_ledger_entry(
            conn,
            user_id=int(order["user_id"]),
            amount_nusd=back,
            reason="refund_reversal",
            reference=f"{order['id']}:{refund.id}:failed",
            actor="stripe",
            note="the refund failed at Stripe",
        )
    log.warning("a refund failed at Stripe", extra={"order_id": order["id"], "refund": refund.id})
    return order["id"], int(order["user_id"]), back
