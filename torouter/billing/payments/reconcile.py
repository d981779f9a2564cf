"""Reconciliation (R14.10): orders, the ledger and Stripe, compared; every mismatch listed.

For the Stripe orders of a period (and every Checkout Session Stripe created in it) the facts
are gathered — the order, its `topup` credit, what its refunds took from the balance, the
session, the refunds Stripe holds — and `check` (pure) names what disagrees:

- `paid_not_credited`: Stripe has the money, the order was not credited. Repair: the
  webhook's settlement path (exactly once).
- `credited_not_paid`: credited, but Stripe's session is not paid. Repair: an `admin_debit` of
  the credit, the order `failed`.
- `credited_twice`: credited more than Stripe received. Repair: an `admin_debit` of the excess.
- `refunded_not_debited`: Stripe refunded more than the ledger took back. Repair: Stripe's
  refunds recorded (refund entries, the order `refunded`).
- `debited_not_refunded`: the ledger took back more than Stripe refunded. Repair: a
  `refund_reversal` of the difference, the order back to `refund_requested`.
- `paid_unknown_order`: a paid session names an order we do not have. Listed for a person.

A mismatch's id (`<kind>:<order id>`) is its repair handle; a repair gathers the facts again
and acts only if the mismatch is still there, through references that are unique in the
ledger, so repairing twice (or on two nodes) changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.billing.payments.amounts import NUSD_PER_CENT
from torouter.billing.payments.provider import CheckoutSession, ProviderRefund
from torouter.billing.payments.settle import PAID_STATES, mismatches, order_reference
from torouter.records import Row
from torouter.storage.repos.orders import refund_entries_total
from torouter.storage.tables import ledger, orders

__all__ = ["KINDS", "Mismatch", "OrderFacts", "Report", "check", "gather", "order_facts"]

KINDS = (
    "paid_not_credited",
    "credited_not_paid",
    "credited_twice",
    "refunded_not_debited",
    "debited_not_refunded",
    "paid_unknown_order",
)


@dataclass(frozen=True, slots=True)
class Mismatch:
    id: str
    kind: str
    order_id: str | None
    user_id: int | None
    amount_nusd: int  # the money in question
    stripe_id: str | None  # the session or refund at Stripe
    detail: str
    repairable: bool = True


@dataclass(frozen=True, slots=True)
class OrderFacts:
    order: Row
    credited_nusd: int  # its `topup` entry less reconciliation's corrections (0: none)
    ledger_refunded_nusd: int  # what its refund entries took from the balance (≥ 0)
    session: CheckoutSession | None  # None: no session at Stripe
    stripe_refunds: tuple[ProviderRefund, ...] | None = None  # None: not looked up


@dataclass(slots=True)
class Report:
    start: dt.datetime
    end: dt.datetime
    sessions_checked: int = 0
    orders_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)


def _m(kind: str, facts: OrderFacts, amount: int, stripe_id: str | None, detail: str) -> Mismatch:
    o = facts.order
    return Mismatch(
        f"{kind}:{o['id']}", kind, o["id"], int(o["user_id"]), amount, stripe_id, detail
    )


def check(facts: OrderFacts) -> list[Mismatch]:
    """The mismatches of one order (pure)."""
    o, s = facts.order, facts.session
    out: list[Mismatch] = []
    ours = s is not None and not mismatches(o, s)
    paid_at_stripe = ours and s is not None and s.paid
    applied = o["kind"] == "subscription" and o["status"] in PAID_STATES and o["subscription_id"]
    credited = facts.credited_nusd > 0 or bool(applied)
    received = (s.amount_total or 0) * NUSD_PER_CENT if paid_at_stripe and s else 0
    if paid_at_stripe and not credited:
        out.append(
            _m(
                "paid_not_credited",
                facts,
                int(o["amount_nusd"]),
                s.id if s else None,
                f"Stripe session {s.id if s else '?'} is paid; the order is {o['status']} and "
                "was not credited",
            )
        )
    if credited and not paid_at_stripe:
        why = (
            "has no session at Stripe" if s is None else f"session is {s.status}/{s.payment_status}"
        )
        out.append(
            _m(
                "credited_not_paid",
                facts,
                facts.credited_nusd,
                s.id if s else None,
                f"credited, but its {why}",
            )
        )
    if paid_at_stripe and facts.credited_nusd > received:
        out.append(
            _m(
                "credited_twice",
                facts,
                facts.credited_nusd - received,
                s.id if s else None,
                f"credited {facts.credited_nusd} nUSD for a payment of {received} nUSD",
            )
        )
    if facts.stripe_refunds is not None:
        live = [r for r in facts.stripe_refunds if r.live]
        at_stripe = sum(r.amount for r in live) * NUSD_PER_CENT
        taken = facts.ledger_refunded_nusd
        if at_stripe > taken:
            out.append(
                _m(
                    "refunded_not_debited",
                    facts,
                    at_stripe - taken,
                    live[-1].id,
                    f"Stripe refunded {at_stripe} nUSD; the ledger took back {taken}",
                )
            )
        elif taken > at_stripe and o["refund_started_at"] is None:
            out.append(
                _m(
                    "debited_not_refunded",
                    facts,
                    taken - at_stripe,
                    None,
                    f"the ledger took back {taken} nUSD; Stripe refunded {at_stripe}",
                )
            )
    return out


async def order_facts(
    conn: AsyncConnection,
    order: Row,
    session: CheckoutSession | None,
    stripe_refunds: Sequence[ProviderRefund] | None,
) -> OrderFacts:
    # Its `topup` entry, less what reconciliation took back of it before.
    credited = await conn.scalar(
        select(func.coalesce(func.sum(ledger.c.amount_nusd), 0)).where(
            or_(
                (ledger.c.reason == "topup") & (ledger.c.reference == order["id"]),
                (ledger.c.reason == "admin_debit")
                & ledger.c.reference.like(f"reconcile:{_like(order['id'])}:%", escape="\\"),
            )
        )
    )
    taken = -await refund_entries_total(conn, order_id=order["id"])
    return OrderFacts(
        order,
        int(credited or 0),
        taken,
        session,
        None if stripe_refunds is None else tuple(stripe_refunds),
    )


def needs_refund_lookup(order: Row, ledger_refunded: int) -> bool:
    return bool(order["stripe_payment_intent"]) and (
        ledger_refunded != 0 or order["status"] in ("refund_requested", "refunded")
    )


async def gather(
    conn: AsyncConnection,
    sessions: Sequence[CheckoutSession],
    refunds: Sequence[ProviderRefund],
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[list[Row], dict[str, CheckoutSession], set[str], list[Mismatch]]:
    """The orders to check: Stripe orders made in [start, end), those the sessions and refunds
    of the period name. Returns them, the sessions by order id, the orders whose refunds
    must be looked up, and the paid sessions that name no order of ours."""
    by_order = {ref: s for s in sessions if (ref := order_reference(s))}
    refund_orders = {r.metadata["order_id"] for r in refunds if r.metadata.get("order_id")}
    # A refund made in Stripe's dashboard names no order: its payment does.
    refund_intents = {r.payment_intent for r in refunds if r.payment_intent}
    c = orders.c
    named = list(set(by_order) | refund_orders)
    rows = (
        (
            await conn.execute(
                select(orders).where(
                    c.method == "stripe",
                    or_(
                        (c.created_at >= start) & (c.created_at < end),
                        c.id.in_(named) if named else false(),
                        c.stripe_payment_intent.in_(refund_intents) if refund_intents else false(),
                    ),
                )
            )
        )
        .mappings()
        .all()
    )
    refunded = {
        r["id"]
        for r in rows
        if r["id"] in refund_orders or r["stripe_payment_intent"] in refund_intents
    }
    known = {r["id"] for r in rows}
    strangers = [
        Mismatch(
            f"paid_unknown_order:{s.id}",
            "paid_unknown_order",
            ref,
            None,
            (s.amount_total or 0) * NUSD_PER_CENT,
            s.id,
            f"paid Stripe session {s.id} names order {ref}, which does not exist",
            repairable=False,
        )
        for ref, s in by_order.items()
        if ref not in known and s.paid and ref.startswith("ord_")
    ]
    return list(rows), by_order, refunded, strangers


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
