"""`/api/me/orders`: top-ups and subscription purchases, their lifecycle and refunds
(R14.2–R14.6, R14.9).

Creating, resuming, cancelling and syncing talk to Stripe (503 `PAYMENTS_NOT_CONFIGURED`
without it, 502 when it fails); a subscription bought from the balance does not. Another
user's order is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from torouter.api import subscription_service as subs
from torouter.api.auth import SessionUser, VerifiedUser
from torouter.api.deps import Deps
from torouter.api.me.catalog import visible_groups
from torouter.api.money import usd_to_nusd
from torouter.api.order_schemas import (
    ORDER_ERRORS,
    CheckoutUrl,
    OrderCreate,
    OrderRead,
    OrderStatus,
    PaymentsDep,
    RefundRequest,
    order_read,
)
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope
from torouter.billing.payments import refund_flow
from torouter.billing.payments.amounts import topup_amount_error
from torouter.billing.payments.refunds import refundable_now
from torouter.billing.payments.service import Payments
from torouter.errors import error
from torouter.storage.tables import orders, plans, users

__all__ = ["router"]

router = APIRouter(tags=["orders"])
_ERR = ORDER_ERRORS


async def read(p: Payments, row: RowMapping) -> OrderRead:
    """An order as its owner sees it, with `refundable_nusd` where a refund is possible."""
    refundable = None
    if row["kind"] == "topup" and row["status"] in ("paid", "refund_requested"):
        async with p.db.connect() as conn:
            refundable = await refundable_now(conn, row)
    return order_read(row, p.clock(), refundable)


async def _plan(deps: Deps, user_id: int, plan_id: int) -> RowMapping:
    q = subs.plan_select().where(plans.c.enabled, visible_groups(user_id), plans.c.id == plan_id)
    async with deps.db.connect() as conn:
        plan = (await conn.execute(q)).mappings().first()
    if plan is None:
        raise error("E16", "plan_id: no such plan on offer to you", param="plan_id")
    return plan


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderRead,
    responses={402: {"model": ErrorEnvelope}, **_ERR},
    summary="Top up, or buy a subscription",
    description="A top-up (or a subscription paid by card) is a pending order with a Stripe "
    "`checkout_url` to pay at; a subscription paid from the balance is `paid` at once, or 402 "
    "`INSUFFICIENT_BALANCE` with nothing charged. 409 `CONFLICT` beyond the open-order limit.",
)
async def create_order(
    deps: Deps, p: PaymentsDep, principal: VerifiedUser, body: OrderCreate
) -> OrderRead:
    uid = principal.user_id
    assert uid is not None
    if body.kind == "topup":
        if body.method != "stripe":
            raise error("E16", "method: top-ups are paid through Stripe", param="method")
        if body.amount_usd is None:
            raise error("E16", "amount_usd: required for a top-up", param="amount_usd")
        cfg = await p.config()
        if not cfg.configured:
            raise error("PAYMENTS_NOT_CONFIGURED")
        why = topup_amount_error(body.amount_usd, cfg.topup_min_usd, cfg.topup_max_usd)
        if why:
            raise error("E16", f"amount_usd: {why}", param="amount_usd")
        row = await p.create_checkout(
            user_id=uid,
            email=await _email(deps, uid),
            kind="topup",
            amount_nusd=usd_to_nusd(body.amount_usd),
            product="ToRouter balance top-up",
        )
        return await read(p, row)
    if body.plan_id is None:
        raise error("E16", "plan_id: required for a subscription", param="plan_id")
    plan = await _plan(deps, uid, body.plan_id)
    if body.method == "balance":
        return await read(
            p, await p.buy_plan_from_balance(user_id=uid, plan=plan, actor=principal.actor)
        )
    if int(plan["price_nusd"]) <= 0:
        raise error("E16", "method: a free plan is bought with method balance", param="method")
    await _check_subscribable(deps, uid, plan, p)
    row = await p.create_checkout(
        user_id=uid,
        email=await _email(deps, uid),
        kind="subscription",
        amount_nusd=int(plan["price_nusd"]),
        product=f"ToRouter subscription: {plan['name']}",
        plan_id=int(plan["id"]),
    )
    return await read(p, row)


async def _email(deps: Deps, uid: int) -> str | None:
    async with deps.db.connect() as conn:
        email: str | None = await conn.scalar(select(users.c.email).where(users.c.id == uid))
    return email


async def _check_subscribable(deps: Deps, uid: int, plan: RowMapping, p: Payments) -> None:
    """Refuse up front (409) what the paid order could not apply: the same rules as buying,
    tried in a transaction that is then rolled back."""
    async with deps.db.connect() as conn:
        trans = await conn.begin()
        try:
            await subs.subscribe(conn, user_id=uid, plan=plan, at=p.clock(), enforce_max=True)
        finally:
            await trans.rollback()


@router.get("/orders", response_model=Page[OrderRead], summary="My orders, newest first")
async def list_orders(
    deps: Deps,
    p: PaymentsDep,
    principal: SessionUser,
    paging: Paging,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this state")] = None,
) -> Page[OrderRead]:
    stmt = (
        select(orders)
        .where(orders.c.user_id == principal.user_id)
        .order_by(orders.c.created_at.desc(), orders.c.id.desc())
    )
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    now = p.clock()
    async with deps.db.connect() as conn:
        page: Page[Any] = await fetch_page(conn, stmt, paging, dict)
    return Page[OrderRead](
        data=[order_read(r, now) for r in page.data],
        page=page.page,
        page_size=page.page_size,
        total=page.total,
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderRead,
    responses={404: {"model": ErrorEnvelope}},
    summary="One of my orders",
    description="The `/payment/result` page polls this until the order is no longer pending.",
)
async def get_order(p: PaymentsDep, principal: SessionUser, order_id: str) -> OrderRead:
    assert principal.user_id is not None
    return await read(p, await p.order(order_id, user_id=principal.user_id))


@router.post(
    "/orders/{order_id}/resume",
    response_model=CheckoutUrl,
    responses=_ERR,
    summary="Continue paying a pending order",
    description="The checkout URL while the session can be paid; else 409 `CONFLICT` and the "
    "order is now `expired`.",
)
async def resume(p: PaymentsDep, principal: SessionUser, order_id: str) -> CheckoutUrl:
    assert principal.user_id is not None
    return CheckoutUrl(checkout_url=await p.resume(order_id, user_id=principal.user_id))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderRead,
    responses=_ERR,
    summary="Cancel a pending order",
    description="The Stripe session is expired first, so the order cannot be paid afterwards.",
)
async def cancel(p: PaymentsDep, principal: SessionUser, order_id: str) -> OrderRead:
    assert principal.user_id is not None
    return await read(p, await p.cancel(order_id, user_id=principal.user_id))


@router.post(
    "/orders/{order_id}/sync",
    response_model=OrderRead,
    responses=_ERR,
    summary="Ask Stripe about this order now",
    description="What `/payment/result` does after 60 s without news: the session of a pending "
    "order is fetched from Stripe and applied through the same exactly-once path as the "
    "webhook. A settled order is answered as it is.",
)
async def sync(p: PaymentsDep, principal: SessionUser, order_id: str) -> OrderRead:
    assert principal.user_id is not None
    order = await p.order(order_id, user_id=principal.user_id)
    if order["status"] != "pending":  # settled: nothing to ask Stripe (no call per click)
        return await read(p, order)
    return await read(p, await p.sync(order_id, user_id=principal.user_id))


@router.post(
    "/orders/{order_id}/refund",
    response_model=OrderRead,
    responses=_ERR,
    summary="Ask for a refund of a top-up",
    description="Paid top-ups within the refund window, once per order. What has been spent "
    "is not refundable (spending eats the oldest top-ups first); `refundable_nusd` says what "
    "is. An admin approves or rejects the request.",
)
async def request_refund(
    p: PaymentsDep, principal: SessionUser, order_id: str, body: RefundRequest
) -> OrderRead:
    assert principal.user_id is not None
    row, refundable = await refund_flow.request(
        p, order_id, user_id=principal.user_id, reason=body.reason
    )
    return order_read(row, p.clock(), refundable)
