"""Refunds end to end (R14.5): the transaction steps of `refunds.py` around the Stripe call,
with the gateway's balance counter moved after each commit."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from torouter.billing.payments import refunds as rf
from torouter.billing.payments.provider import PaymentProvider, ProviderError, ProviderRefund
from torouter.billing.payments.service import Payments
from torouter.errors import error
from torouter.storage.repos.orders import get_order
from torouter.storage.tables import ledger, orders

__all__ = ["approve", "reject", "request", "resolve_interrupted", "stripe_refunds_of"]

log = logging.getLogger("torouter.payments")


async def request(
    p: Payments, order_id: str, *, user_id: int, reason: str
) -> tuple[RowMapping, int]:
    """The user asks for a refund: (the order now `refund_requested`, what is refundable)."""
    cfg = await p.config()
    order = await p.order(order_id, user_id=user_id)
    async with p.db.begin() as conn:
        amount = await rf.request_refund(
            conn, order, reason=reason, now=p.clock(), window_days=cfg.refund_window_days
        )
    return await p.order(order_id), amount


async def stripe_refunds_of(
    provider: PaymentProvider, order_id: str, payment_intent: str
) -> list[ProviderRefund]:
    """The refunds Stripe holds for this order's payment, oldest first (a refund made in
    Stripe's dashboard has no order id, but is on the same payment)."""
    found = await provider.list_refunds(payment_intent=payment_intent)
    mine = [r for r in found if r.metadata.get("order_id", order_id) == order_id]
    return sorted(mine, key=lambda r: r.created)


async def approve(
    p: Payments, order_id: str, *, amount_nusd: int | None, note: str | None, actor: str
) -> RowMapping:
    """Debit, refund at Stripe, record — or give the debit back and keep the error."""
    _, provider = await p.provider()
    now = p.clock()
    async with p.db.begin() as conn:
        attempt = await rf.begin_refund(
            conn, order_id, amount_nusd=amount_nusd, note=note, actor=actor, now=now
        )
    await p.ledger.credit(attempt.user_id, -attempt.amount_nusd)
    try:
        live: list[ProviderRefund] = []
        if attempt.number > 1:  # a retry: adopt what an earlier attempt may have done
            live = [
                r
                for r in await stripe_refunds_of(provider, order_id, attempt.payment_intent)
                if r.live
            ]
        if not live:
            refund = await provider.create_refund(
                payment_intent=attempt.payment_intent,
                amount_minor=attempt.amount_nusd // 10_000_000,
                order_id=order_id,
                idempotency_key=attempt.idempotency_key,
            )
            if not refund.live:
                raise ProviderError(f"the refund is {refund.status}", code=refund.failure_reason)
            live = [refund]
    except ProviderError as exc:
        async with p.db.begin() as conn:
            back = await rf.fail_refund(
                conn, attempt, message=exc.message, now=p.clock(), actor=actor
            )
        await p.ledger.credit(attempt.user_id, back)
        log.warning(
            "refund failed at Stripe; balance restored",
            extra={"order_id": order_id, "attempt": attempt.number, "code": exc.code},
        )
        raise error(
            "E21",
            f"The refund failed at Stripe ({exc.message}). The balance was restored; the "
            "order still awaits a refund and can be approved again.",
        ) from exc
    async with p.db.begin() as conn:
        delta = await rf.complete_refund(conn, order_id, live, now=p.clock(), actor=actor)
    if delta:
        await p.ledger.credit(attempt.user_id, delta)
    log.info("order refunded", extra={"order_id": order_id, "amount_nusd": attempt.amount_nusd})
    return await p.order(order_id)


async def reject(p: Payments, order_id: str, *, note: str) -> RowMapping:
    now = p.clock()
    async with p.db.begin() as conn:
        await rf.reject_refund(
            conn,
            order_id,
            note=note,
            now=now,
            stale_before=now - dt.timedelta(seconds=rf.CLAIM_S),
        )
    return await p.order(order_id)


async def resolve_interrupted(p: Payments) -> int:
    """Attempts whose process died between the debit and the answer (a job): adopt the
    refund Stripe holds for the order, else give the debit back. Returns how many."""
    now = p.clock()
    stale = now - dt.timedelta(seconds=rf.CLAIM_S)
    async with p.db.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(orders).where(
                        orders.c.status == "refund_requested",
                        orders.c.refund_started_at < stale,
                    )
                )
            )
            .mappings()
            .all()
        )
    if not rows:
        return 0
    _, provider = await p.provider()
    done = 0
    for order in rows:
        try:
            live = [
                r
                for r in await stripe_refunds_of(
                    provider, order["id"], order["stripe_payment_intent"]
                )
                if r.live
            ]
        except ProviderError:
            continue
        async with p.db.begin() as conn:
            fresh = await get_order(conn, order["id"])
            if fresh is None or fresh["refund_started_at"] != order["refund_started_at"]:
                continue  # someone else resolved it meanwhile
            if live:
                delta = await rf.complete_refund(conn, order["id"], live, now=now, actor="system")
            else:
                number = int(order["refund_attempts"])
                debit = await conn.scalar(
                    select(ledger.c.amount_nusd).where(
                        ledger.c.reason == "refund", ledger.c.reference == f"{order['id']}:{number}"
                    )
                )
                attempt = rf.Attempt(
                    order["id"],
                    int(order["user_id"]),
                    number,
                    -int(debit or 0),
                    order["stripe_payment_intent"],
                )
                delta = 0
                if attempt.amount_nusd > 0:
                    delta = await rf.fail_refund(
                        conn,
                        attempt,
                        message="interrupted; not sent to Stripe",
                        now=now,
                        actor="system",
                    )
                else:
                    await conn.execute(
                        orders.update()
                        .where(orders.c.id == order["id"])
                        .values(refund_started_at=None)
                    )
        if delta:
            await p.ledger.credit(int(order["user_id"]), delta)
        done += 1
    return done
