"""What the orders API (`api/me/orders.py`) and the console's payment pages share: creating an
order with its rules (R14.2, R14.6, R14.9), reading one as its owner sees it, and the query of
a user's orders. One copy of the rules, two front ends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import RowMapping

from torouter.api import subscription_service as subs
from torouter.api.deps import ApiDeps
from torouter.api.me.catalog import visible_groups
from torouter.api.money import usd_to_nusd
from torouter.api.order_schemas import OrderCreate, OrderRead, order_read
from torouter.billing.payments.amounts import topup_amount_error
from torouter.billing.payments.refunds import refundable_now
from torouter.billing.payments.service import Payments
from torouter.errors import error
from torouter.storage.tables import orders, plans, users

__all__ = ["create_order", "my_orders", "offered_plan", "read_order"]


async def read_order(p: Payments, row: RowMapping) -> OrderRead:
    """An order as its owner sees it, with `refundable_nusd` where a refund is possible."""
    refundable = None
    if row["kind"] == "topup" and row["status"] in ("paid", "refund_requested"):
        async with p.db.connect() as conn:
            refundable = await refundable_now(conn, row)
    return order_read(row, p.clock(), refundable)


def my_orders(user_id: int, status: str | None = None) -> Select[Any]:
    """The user's orders, newest first, optionally in one state."""
    stmt = (
        select(orders)
        .where(orders.c.user_id == user_id)
        .order_by(orders.c.created_at.desc(), orders.c.id.desc())
    )
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    return stmt


async def offered_plan(deps: ApiDeps, user_id: int, plan_id: int) -> RowMapping:
    """An enabled plan of a group open to the user; E16 (`plan_id`) otherwise."""
    q = subs.plan_select().where(plans.c.enabled, visible_groups(user_id), plans.c.id == plan_id)
    async with deps.db.connect() as conn:
        plan: RowMapping | None = (await conn.execute(q)).mappings().first()
    if plan is None:
        raise error("E16", "plan_id: no such plan on offer to you", param="plan_id")
    return plan


async def create_order(
    deps: ApiDeps, p: Payments, *, user_id: int, actor: str, body: OrderCreate
) -> RowMapping:
    """A top-up (or a subscription paid by card): a pending order with a Stripe checkout; a
    subscription paid from the balance: `paid` at once, or 402 `INSUFFICIENT_BALANCE` with
    nothing charged. 503 without payments, 409 beyond the open-order limit."""
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
        return await p.create_checkout(
            user_id=user_id,
            email=await _email(deps, user_id),
            kind="topup",
            amount_nusd=usd_to_nusd(body.amount_usd),
            product="ToRouter balance top-up",
        )
    if body.plan_id is None:
        raise error("E16", "plan_id: required for a subscription", param="plan_id")
    plan = await offered_plan(deps, user_id, body.plan_id)
    if body.method == "balance":
        return await p.buy_plan_from_balance(user_id=user_id, plan=plan, actor=actor)
    if int(plan["price_nusd"]) <= 0:
        raise error("E16", "method: a free plan is bought with method balance", param="method")
    await _check_subscribable(deps, user_id, plan, p)
    return await p.create_checkout(
        user_id=user_id,
        email=await _email(deps, user_id),
        kind="subscription",
        amount_nusd=int(plan["price_nusd"]),
        product=f"ToRouter subscription: {plan['name']}",
        plan_id=int(plan["id"]),
    )


async def _email(deps: ApiDeps, uid: int) -> str | None:
    async with deps.db.connect() as conn:
        email: str | None = await conn.scalar(select(users.c.email).where(users.c.id == uid))
    return email


async def _check_subscribable(deps: ApiDeps, uid: int, plan: RowMapping, p: Payments) -> None:
    """Refuse up front (409) what the paid order could not apply: the same rules as buying,
    tried in a transaction that is then rolled back."""
    async with deps.db.connect() as conn:
        trans = await conn.begin()
        try:
            await subs.subscribe(conn, user_id=uid, plan=plan, at=p.clock(), enforce_max=True)
        finally:
            await trans.rollback()
