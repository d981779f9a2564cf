"""`/api/admin/orders`: every order, refund decisions and a sync with Stripe (R14.5, R14.9)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Select, select

from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import deployment_zone
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.me.usage import End, Start
from torouter.api.money import usd_to_nusd
from torouter.api.order_schemas import (
    ORDER_ERRORS,
    AdminOrderRead,
    OrderStatus,
    PaymentsDep,
    RefundApproval,
    RefundRejection,
    admin_order_read,
)
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.billing.payments import refund_flow
from torouter.billing.payments.refunds import refundable_now
from torouter.billing.payments.service import Payments
from torouter.errors import error
from torouter.storage.tables import orders, users
from torouter.usage.filters import DayRange

__all__ = ["router"]

router = APIRouter(tags=["orders"])
_ERR = ORDER_ERRORS


def _select() -> Select[Any]:
    return select(orders, users.c.email.label("user_email")).join(
        users, users.c.id == orders.c.user_id
    )


async def _read(p: Payments, order_id: str) -> AdminOrderRead:
    async with p.db.connect() as conn:
        row = (await conn.execute(_select().where(orders.c.id == order_id))).mappings().first()
        if row is None:
            await p.order(order_id)  # raises the 404
        assert row is not None
        refundable = None
        if row["kind"] == "topup" and row["status"] in ("paid", "refund_requested"):
            refundable = await refundable_now(conn, row)
    return admin_order_read(row, p.clock(), refundable)


async def _audit(deps: Deps, principal: Admin, action: str, order: AdminOrderRead) -> None:
    async with deps.db.begin() as conn:
        await record_audit(conn, actor=principal.actor, action=action, target=f"order:{order.id}")


@router.get("/orders", response_model=Page[AdminOrderRead], summary="List orders, newest first")
async def list_orders(
    deps: Deps,
    p: PaymentsDep,
    paging: Paging,
    status: Annotated[OrderStatus | None, Query()] = None,
    user_id: Annotated[Id | None, Query()] = None,
    kind: Annotated[str | None, Query(pattern="^(topup|subscription)$")] = None,
    start: Start = None,
    end: End = None,
) -> Page[AdminOrderRead]:
    stmt = _select().order_by(orders.c.created_at.desc(), orders.c.id.desc())
    if start is not None or end is not None:  # days of the deployment's timezone
        if start is not None and end is not None and end < start:
            raise error("E16", "end: must not be before start", param="end")
        first, last = start or end, end or start
        assert first is not None and last is not None  # one end is set: it bounds both
        days = DayRange.of(first, last, deployment_zone(deps))
        if start is not None:
            stmt = stmt.where(orders.c.created_at >= days.since)
        if end is not None:
            stmt = stmt.where(orders.c.created_at < days.until)
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    if user_id is not None:
        stmt = stmt.where(orders.c.user_id == user_id)
    if kind is not None:
        stmt = stmt.where(orders.c.kind == kind)
    now = p.clock()
    async with deps.db.connect() as conn:
        page: Page[Any] = await fetch_page(conn, stmt, paging, dict)
        data = []
        for r in page.data:  # refund requests show what is refundable (a handful at a time)
            refundable = (
                await refundable_now(conn, r) if r["status"] == "refund_requested" else None
            )
            data.append(admin_order_read(r, now, refundable))
    return Page[AdminOrderRead](
        data=data, page=page.page, page_size=page.page_size, total=page.total
    )


@router.get(
    "/orders/{order_id}", response_model=AdminOrderRead, responses=_ERR, summary="Get an order"
)
async def get_order(p: PaymentsDep, order_id: str) -> AdminOrderRead:
    return await _read(p, order_id)


@router.post(
    "/orders/{order_id}/refund/approve",
    response_model=AdminOrderRead,
    responses=_ERR,
    summary="Approve a refund request",
    description="Debits the balance (`refund`), then refunds at Stripe with idempotency key "
    "`refund-<order id>`. If Stripe fails, a `refund_reversal` restores the balance, the "
    "order stays `refund_requested` with `refund_error` and the answer is 502; approving "
    "again retries. `amount_usd` defaults to everything refundable (whole cents).",
)
async def approve(
    deps: Deps, p: PaymentsDep, principal: Admin, order_id: str, body: RefundApproval
) -> AdminOrderRead:
    amount = None if body.amount_usd is None else usd_to_nusd(body.amount_usd)
    await refund_flow.approve(
        p, order_id, amount_nusd=amount, note=body.note, actor=principal.actor
    )
    out = await _read(p, order_id)
    await _audit(deps, principal, "order.refund_approve", out)
    return out


@router.post(
    "/orders/{order_id}/refund/reject",
    response_model=AdminOrderRead,
    responses=_ERR,
    summary="Reject a refund request",
)
async def reject(
    deps: Deps, p: PaymentsDep, principal: Admin, order_id: str, body: RefundRejection
) -> AdminOrderRead:
    await refund_flow.reject(p, order_id, note=body.note)
    out = await _read(p, order_id)
    await _audit(deps, principal, "order.refund_reject", out)
    return out


@router.post(
    "/orders/{order_id}/sync",
    response_model=AdminOrderRead,
    responses=_ERR,
    summary="Fetch the order's session from Stripe now",
    description="Applies what Stripe says through the webhook's exactly-once path.",
)
async def sync(deps: Deps, p: PaymentsDep, principal: Admin, order_id: str) -> AdminOrderRead:
    await p.sync(order_id)
    out = await _read(p, order_id)
    await _audit(deps, principal, "order.sync", out)
    return out
