"""`/api/me/orders`: top-ups and subscription purchases, their lifecycle and refunds
(R14.2–R14.6, R14.9).

Creating, resuming, cancelling and syncing talk to Stripe (503 `PAYMENTS_NOT_CONFIGURED`
without it, 502 when it fails); a subscription bought from the balance does not. Another
user's order is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from torouter.api import order_service
from torouter.api.auth import SessionUser, VerifiedUser
from torouter.api.deps import Deps
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
from torouter.api.order_service import my_orders, read_order
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope
from torouter.billing.payments import refund_flow

__all__ = ["router"]

router = APIRouter(tags=["orders"])
_ERR = ORDER_ERRORS


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
    assert principal.user_id is not None
    row = await order_service.create_order(
        deps, p, user_id=principal.user_id, actor=principal.actor, body=body
    )
    return await read_order(p, row)


@router.get("/orders", response_model=Page[OrderRead], summary="My orders, newest first")
async def list_orders(
    deps: Deps,
    p: PaymentsDep,
    principal: SessionUser,
    paging: Paging,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this state")] = None,
) -> Page[OrderRead]:
    assert principal.user_id is not None
    stmt = my_orders(principal.user_id, status)
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
    return await read_order(p, await p.order(order_id, user_id=principal.user_id))


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
    return await read_order(p, await p.cancel(order_id, user_id=principal.user_id))


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
        return await read_order(p, order)
    return await read_order(p, await p.sync(order_id, user_id=principal.user_id))


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
