"""`/api/me/plans` and `/api/me/subscriptions`: offers, buying from the balance, auto-renew
(R7.7, R14.6).

A purchase is one transaction: the subscription row and its `subscription_purchase` ledger
debit commit together, or neither does (402 INSUFFICIENT_BALANCE when the balance, less
what requests in flight hold, is short). After the commit the gateway's balance counter is
moved by the same amount and the snapshot refreshed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from torouter.api import subscription_service as subs
from torouter.api.auth import SessionUser, VerifiedUser
from torouter.api.changes import now, publish
from torouter.api.deps import ApiDeps, Deps
from torouter.api.fields import Id
from torouter.api.me.catalog import visible_groups
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.principal import Principal
from torouter.api.schemas import ErrorEnvelope, InputModel, Responses
from torouter.api.subscription_service import PlanRead, SubscriptionRead
from torouter.billing.ledger import balance_counter
from torouter.errors import error
from torouter.storage.repos import plans as repo
from torouter.storage.repos.ledger import debit_if_covered
from torouter.storage.repos.users import lock_user
from torouter.storage.tables import groups, plans, subscriptions

__all__ = ["Purchase", "SubscriptionUpdate", "my_plans", "router", "set_auto_renew"]

router = APIRouter(tags=["me"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}


class Purchase(InputModel):
    plan_id: Id


class SubscriptionUpdate(InputModel):
    auto_renew: bool


def my_plans(user_id: int) -> Select[Any]:
    """The plans on offer to the user: enabled, of enabled groups open to them."""
    return subs.plan_select().where(plans.c.enabled, visible_groups(user_id))


@router.get(
    "/plans",
    response_model=Page[PlanRead],
    summary="Plans I can buy",
    description="Enabled plans of the subscription groups open to me.",
)
async def list_plans(deps: Deps, principal: SessionUser, paging: Paging) -> Page[PlanRead]:
    assert principal.user_id is not None
    stmt = my_plans(principal.user_id).order_by(groups.c.id, plans.c.price_nusd, plans.c.id)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, PlanRead.from_row)


@router.get(
    "/subscriptions",
    response_model=Page[SubscriptionRead],
    summary="My subscriptions",
    description="State, expiry, caps and the current day/week/month use against them.",
)
async def list_subscriptions(
    deps: Deps, principal: SessionUser, paging: Paging
) -> Page[SubscriptionRead]:
    c = subscriptions.c
    stmt = subs.sub_select().where(c.user_id == principal.user_id).order_by(c.id)
    async with deps.db.connect() as conn:
        return await subs.sub_page(deps, conn, await fetch_page(conn, stmt, paging, dict))


async def _read(deps: Deps, conn: AsyncConnection, sub_id: int) -> SubscriptionRead:
    row = await subs.load_sub(conn, sub_id)
    assert row is not None
    (read,) = await subs.sub_reads(deps, conn, [row])
    return read


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionRead,
    responses={
        200: {"model": SubscriptionRead, "description": "Extended or restarted"},
        402: {"model": ErrorEnvelope},
        409: {"model": ErrorEnvelope},
    },
    summary="Buy or renew a plan from my balance",
    description="201 with a new subscription, 200 when it extended (same plan: from "
    "max(now, expires_at)) or restarted my subscription to the group. 402 "
    "`INSUFFICIENT_BALANCE` when the balance is short (nothing is charged); 409 `CONFLICT` "
    "while another plan of the group is live, or past the plan's `max_per_user`.",
)
async def buy(
    deps: Deps, principal: VerifiedUser, body: Purchase, response: Response
) -> SubscriptionRead:
    user_id = principal.user_id
    assert user_id is not None
    _, in_flight = await deps.ledger.state.used(balance_counter(user_id))
    async with deps.db.begin() as conn:
        await lock_user(conn, user_id=user_id)  # one purchase at a time per user
        plan = (
            (await conn.execute(my_plans(user_id).where(plans.c.id == body.plan_id)))
            .mappings()
            .first()
        )
        if plan is None:
            raise error("E16", "plan_id: no such plan on offer to you", param="plan_id")
        sub_id, created = await subs.subscribe(
            conn, user_id=user_id, plan=plan, at=now(deps), enforce_max=True
        )
        price = int(plan["price_nusd"])
        if price > 0:
            entry = await debit_if_covered(
                conn,
                user_id=user_id,
                amount_nusd=price,
                reason="subscription_purchase",
                reference=f"sub:{sub_id}:{ULID()}",
                actor=principal.actor,
                note=f"plan {plan['name']}",
                keep_nusd=max(int(in_flight), 0),
            )
            if entry is None:  # the transaction rolls back: no subscription change either
                raise error("E11")
        out = await _read(deps, conn, sub_id)
    if price > 0:
        await deps.ledger.credit(user_id, -price)  # after the commit, like every balance move
    await publish(deps)
    if not created:
        response.status_code = 200
    return out


async def _owned(conn: AsyncConnection, sub_id: int, principal: Principal) -> None:
    """Someone else's subscription is 404 like a missing one: ids cannot be probed."""
    row = await repo.get_subscription_by_id(conn, sub_id=sub_id)
    if row is None or row["user_id"] != principal.user_id:
        raise error("E19", "Subscription not found")
    subs.writable(row)


@router.patch(
    "/subscriptions/{sub_id}",
    response_model=SubscriptionRead,
    responses=_ONE,
    summary="Turn auto-renew on or off",
    description="Auto-renew pays the next period from the balance at expiry if it suffices.",
)
async def patch_subscription(
    deps: Deps, principal: SessionUser, sub_id: Id, body: SubscriptionUpdate
) -> SubscriptionRead:
    return await set_auto_renew(deps, principal, sub_id, body.auto_renew)


async def set_auto_renew(
    deps: ApiDeps, principal: Principal, sub_id: int, auto_renew: bool
) -> SubscriptionRead:
    """The user's own, unmanaged subscription: 404 for none, 403 for another's, 409 for a
    managed one (also the console's toggle)."""
    async with deps.db.begin() as conn:
        await _owned(conn, sub_id, principal)
        await repo.update_subscription(conn, sub_id=sub_id, values={"auto_renew": auto_renew})
        out = await _read(deps, conn, sub_id)
    await publish(deps)
    return out
