"""The one exactly-once path from "Stripe says this session is paid" to money (R14.3).

Webhooks, the `/payment/result` sync, the pending-order job and reconciliation repairs all
come through `settle_paid`, inside the caller's transaction. A session credits its order only
if everything agrees: our order id (client reference and metadata), the session id we stored,
the user, the amount and the currency. Then three guards make the credit happen once:

1. the caller's stored event id (webhooks: a duplicate delivery stops before this);
2. the conditional status change `pending | expired | cancelled | failed → paid` — of any
   number of concurrent settlements of one order, on any node, exactly one changes the row;
3. the ledger's unique (`topup`, order id) key, should anything get past the first two.

Money received on an expired or cancelled order is still credited (guard 2 accepts those
states). A mismatch credits nothing and is logged with the fields that differ.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.billing.payments.amounts import NUSD_PER_CENT
from torouter.billing.payments.provider import CheckoutSession
from torouter.errors import GatewayError
from torouter.records import Row
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.repos.orders import get_order, move_order
from torouter.storage.tables import orders, plans

__all__ = [
    "PAID_STATES",
    "SETTLEABLE",
    "Outcome",
    "SettleResult",
    "Subscribe",
    "mismatches",
    "settle_paid",
    "settle_unpaid",
]

log = logging.getLogger("torouter.payments")

# States a payment can still land in, and states that mean it has landed.
SETTLEABLE = ("pending", "expired", "cancelled", "failed")
PAID_STATES = ("paid", "refund_requested", "refunded", "refund_rejected")

# Applies a plan to a user in the caller's transaction — (conn, user id, plan row, at,
# enforce max_per_user) — returning the subscription's id, or raising a GatewayError
# (CONFLICT) when it cannot be applied. Passed in from the API layer.
Subscribe = Callable[[AsyncConnection, int, Row, dt.datetime, bool], Awaitable[int]]


# What applying a session or a webhook event did; stored as the webhook event's outcome.
# `duplicate`: the event was seen before; `refund_failed`: a refund Stripe reported failed.
SettleResult = Literal[
    "credited",
    "already",
    "mismatch",
    "unknown_order",
    "pending",
    "expired",
    "failed",
    "ignored",
    "duplicate",
    "refund_failed",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    result: SettleResult
    order_id: str | None = None
    user_id: int | None = None
    credited_nusd: int = 0  # added to the balance (moves the gateway's counter)
    subscription_changed: bool = False
    detail: tuple[str, ...] = ()


def order_reference(session: CheckoutSession) -> str | None:
    return session.client_reference_id or session.metadata.get("order_id")


def mismatches(order: Row, session: CheckoutSession) -> list[str]:
    """The fields on which a session and our order disagree (empty: it is this order's)."""
    bad = []
    if session.client_reference_id != order["id"]:
        bad.append("client_reference_id")
    if session.metadata.get("order_id") != order["id"]:
        bad.append("metadata.order_id")
    if order["stripe_session_id"] != session.id:
        bad.append("session_id")
    if session.metadata.get("user_id") != str(order["user_id"]):
        bad.append("user")
    if session.amount_total is None or session.amount_total * NUSD_PER_CENT != order["amount_nusd"]:
        bad.append("amount")
    if (session.currency or "").lower() != order["currency"]:
        bad.append("currency")
    if order["method"] != "stripe":
        bad.append("method")
    return bad


async def _checked(
    conn: AsyncConnection, session: CheckoutSession, source: str
) -> tuple[Row | None, Outcome | None]:
    ref = order_reference(session)
    order = await get_order(conn, ref) if ref else None
    if order is None:
        log.warning(
            "stripe session for no order of ours; nothing credited",
            extra={"session_id": session.id, "order_id": ref, "source": source},
        )
        return None, Outcome("unknown_order", ref)
    bad = mismatches(order, session)
    if bad:
        log.warning(
            "stripe session does not match its order; nothing credited",
            extra={
                "session_id": session.id,
                "order_id": order["id"],
                "fields": bad,
                "session_amount": session.amount_total,
                "session_currency": session.currency,
                "source": source,
            },
        )
        return order, Outcome("mismatch", order["id"], order["user_id"], detail=tuple(bad))
    return order, None


async def settle_paid(
    conn: AsyncConnection,
    session: CheckoutSession,
    *,
    now: dt.datetime,
    subscribe: Subscribe,
    source: str,
) -> Outcome:
    """Credit the order `session` paid for, exactly once (see the module docstring)."""
    if not session.paid:  # e.g. `completed` while a delayed payment method still runs
        return Outcome("pending", order_reference(session))
    order, refused = await _checked(conn, session, source)
    if refused is not None or order is None:
        return refused or Outcome("unknown_order")
    prior = order["status"]
    note = None if prior == "pending" else f"paid after the order was {prior}"
    won = await move_order(
        conn,
        order["id"],
        from_status=SETTLEABLE,
        values={
            "status": "paid",
            "paid_at": now,
            "stripe_payment_intent": session.payment_intent,
            "updated_at": now,
            **({"note": note} if note else {}),
        },
        # The checks again, in the statement that wins: nothing read earlier is trusted.
        where={
            "stripe_session_id": session.id,
            "user_id": order["user_id"],
            "amount_nusd": order["amount_nusd"],
            "currency": order["currency"],
        },
    )
    uid, oid, amount = int(order["user_id"]), str(order["id"]), int(order["amount_nusd"])
    if not won:
        return Outcome("already", oid, uid)
    if order["kind"] == "subscription":
        applied = await _apply_plan(conn, order, now, subscribe)
        if applied is not None:
            log.info("subscription order paid", extra={"order_id": oid, "source": source})
            return Outcome("credited", oid, uid, subscription_changed=True)
        note = "the subscription could not be applied; the payment was credited to the balance"
        await move_order(conn, oid, from_status=("paid",), values={"note": note})
    entry = await add_ledger_entry(
        conn,
        user_id=uid,
        amount_nusd=amount,
        reason="topup",
        reference=oid,
        actor="stripe",
        note=note,
    )
    if entry.duplicate:  # guard 3 caught what guards 1 and 2 should have
        log.error("top-up already in the ledger; not credited again", extra={"order_id": oid})
        return Outcome("already", oid, uid)
    log.info(
        "order paid and credited", extra={"order_id": oid, "amount_nusd": amount, "source": source}
    )
    return Outcome("credited", oid, uid, credited_nusd=amount)


async def _apply_plan(
    conn: AsyncConnection, order: Row, now: dt.datetime, subscribe: Subscribe
) -> int | None:
    plan = (
        (await conn.execute(select(plans).where(plans.c.id == order["plan_id"]))).mappings().first()
    )
    if plan is None:
        return None
    try:
        sub_id = await subscribe(conn, int(order["user_id"]), plan, now, False)
    except GatewayError as exc:  # e.g. another plan of the group became live meanwhile
        log.warning(
            "paid subscription could not be applied; crediting the balance instead",
            extra={"order_id": order["id"], "reason": exc.message or exc.code},
        )
        return None
    await move_order(conn, order["id"], from_status=("paid",), values={"subscription_id": sub_id})
    return sub_id


async def settle_unpaid(
    conn: AsyncConnection,
    session: CheckoutSession,
    status: Literal["expired", "failed"],
    *,
    now: dt.datetime,
    source: str,
) -> Outcome:
    """A session that will not be paid: its pending order becomes `expired` or `failed`."""
    ref = order_reference(session)
    order = await get_order(conn, ref) if ref else None
    if order is None or order["stripe_session_id"] != session.id:
        log.warning(
            "stripe session end for no order of ours; ignored",
            extra={"session_id": session.id, "order_id": ref, "status": status, "source": source},
        )
        return Outcome("unknown_order" if order is None else "mismatch", ref)
    won = await move_order(
        conn,
        order["id"],
        from_status=("pending",),
        values={"status": status, "updated_at": now},
        where={"stripe_session_id": session.id},
    )
    return Outcome(status if won else "already", order["id"], order["user_id"])


async def store_receipt(conn: AsyncConnection, order_id: str, receipt_url: str) -> None:
    await conn.execute(
        orders.update().where(orders.c.id == order_id).values(receipt_url=receipt_url)
    )
