"""`/api/admin/subscriptions`: list, assign, extend, pause, resume, cancel (R7.7, R14.6).

Assigning is a purchase without payment: the same one-per-(user, group) rules, caps copied
from the plan, `max_per_user` not enforced. Pausing is an admin hold (the gateway refuses
with SUBSCRIPTION_INVALID; expiry runs on); cancelling ends it. Managed rows are read-only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api import subscription_service as subs
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import now, publish
from torouter.api.deps import ApiDeps, Deps
from torouter.api.fields import Id
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.principal import Principal
from torouter.api.schemas import ErrorEnvelope, InputModel, Responses
from torouter.api.subscription_service import SubscriptionRead
from torouter.errors import error
from torouter.storage.repos import plans as repo
from torouter.storage.repos.users import get_user
from torouter.storage.tables import subscriptions

__all__ = ["Extension", "SubscriptionAssign", "router"]

router = APIRouter(tags=["subscriptions"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}

State = Literal["active", "paused", "cancelled", "expired"]


class SubscriptionAssign(InputModel):
    user_id: Id
    plan_id: Id
    auto_renew: bool | None = Field(None, description="Set the auto-renew flag too")


class Extension(InputModel):
    days: Annotated[int, Field(ge=1, le=36_500)]


async def _sub_or_404(conn: AsyncConnection, sub_id: int) -> RowMapping:
    row = await subs.load_sub(conn, sub_id)
    if row is None:
        raise error("E19", "Subscription not found")
    return row


async def _read(deps: ApiDeps, conn: AsyncConnection, sub_id: int) -> SubscriptionRead:
    (read,) = await subs.sub_reads(deps, conn, [await _sub_or_404(conn, sub_id)])
    return read


@router.get("/subscriptions", response_model=Page[SubscriptionRead], summary="List subscriptions")
async def list_subscriptions(
    deps: Deps,
    paging: Paging,
    user_id: Id | None = None,
    group_id: Id | None = None,
    plan_id: Id | None = None,
    state: State | None = None,
) -> Page[SubscriptionRead]:
    c = subscriptions.c
    stmt = subs.sub_select().order_by(c.id)
    for column, value in (("user_id", user_id), ("group_id", group_id), ("plan_id", plan_id)):
        if value is not None:
            stmt = stmt.where(c[column] == value)
    if state is not None:
        stmt = stmt.where(subs.state_filter(state, now(deps)))
    async with deps.db.connect() as conn:
        return await subs.sub_page(deps, conn, await fetch_page(conn, stmt, paging, dict))


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionRead,
    responses={
        200: {"model": SubscriptionRead, "description": "Extended or restarted"},
        409: {"model": ErrorEnvelope},
    },
    summary="Assign a plan to a user",
    description="201 with a new subscription; 200 when it extended or restarted the user's "
    "subscription to that group. 409 while another plan of the group is live.",
)
async def assign(
    deps: Deps, principal: Admin, body: SubscriptionAssign, response: Response
) -> SubscriptionRead:
    at = now(deps)
    async with deps.db.begin() as conn:
        user = await get_user(conn, user_id=body.user_id)
        if user is None or user["state"] == "deleted":
            raise error("E16", "user_id: no such user", param="user_id")
        plan = await repo.get_plan(conn, plan_id=body.plan_id)
        if plan is None:
            raise error("E16", "plan_id: no such plan", param="plan_id")
        sub_id, created = await subs.subscribe(
            conn, user_id=body.user_id, plan=plan, at=at, enforce_max=False
        )
        if body.auto_renew is not None:
            await repo.update_subscription(
                conn, sub_id=sub_id, values={"auto_renew": body.auto_renew}
            )
        await record_audit(
            conn,
            actor=principal.actor,
            action="subscription.assign",
            target=f"subscription:{sub_id}",
            detail={"user_id": body.user_id, "plan_id": body.plan_id, "created": created},
        )
        out = await _read(deps, conn, sub_id)
    if not created:
        response.status_code = 200
    await publish(deps)
    return out


@router.get(
    "/subscriptions/{sub_id}",
    response_model=SubscriptionRead,
    responses={404: {"model": ErrorEnvelope}},
    summary="Get a subscription",
)
async def get_subscription(deps: Deps, sub_id: Id) -> SubscriptionRead:
    async with deps.db.connect() as conn:
        return await _read(deps, conn, sub_id)


Change = Callable[[RowMapping, dt.datetime], dict[str, Any]]


async def _act(
    deps: ApiDeps, principal: Principal, sub_id: int, action: str, change: Change
) -> SubscriptionRead:
    at = now(deps)
    async with deps.db.begin() as conn:
        row = await _sub_or_404(conn, sub_id)
        subs.writable(row)
        values = change(row, at)
        await repo.update_subscription(conn, sub_id=sub_id, values=values)
        await record_audit(
            conn,
            actor=principal.actor,
            action=f"subscription.{action}",
            target=f"subscription:{sub_id}",
            detail={
                k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()
            },
        )
        out = await _read(deps, conn, sub_id)
    await publish(deps)
    return out


def _conflict(row: RowMapping, at: dt.datetime, action: str) -> Exception:
    state = subs.effective_state(row, at)
    return error("CONFLICT", f"A {state} subscription cannot be {action}")


@router.post(
    "/subscriptions/{sub_id}/extend",
    response_model=SubscriptionRead,
    responses=_ONE,
    summary="Extend a subscription by some days",
    description="From max(now, expires_at); an expired subscription becomes active again. "
    "A cancelled one cannot be extended (assign the plan again instead).",
)
async def extend(deps: Deps, principal: Admin, sub_id: Id, body: Extension) -> SubscriptionRead:
    def change(row: RowMapping, at: dt.datetime) -> dict[str, Any]:
        if row["state"] == "cancelled":
            raise _conflict(row, at, "extended")
        values: dict[str, Any] = {
            "expires_at": max(at, row["expires_at"]) + dt.timedelta(days=body.days)
        }
        if row["state"] == "expired":
            values["state"] = "active"
        return values

    return await _act(deps, principal, sub_id, "extend", change)


def _transition(source: str, target: str, verb: str) -> Change:
    def change(row: RowMapping, at: dt.datetime) -> dict[str, Any]:
        if subs.effective_state(row, at) != source:
            raise _conflict(row, at, verb)
        return {"state": target}

    return change


@router.post(
    "/subscriptions/{sub_id}/pause",
    response_model=SubscriptionRead,
    responses=_ONE,
    summary="Pause an active subscription",
)
async def pause(deps: Deps, principal: Admin, sub_id: Id) -> SubscriptionRead:
    return await _act(deps, principal, sub_id, "pause", _transition("active", "paused", "paused"))


@router.post(
    "/subscriptions/{sub_id}/resume",
    response_model=SubscriptionRead,
    responses=_ONE,
    summary="Resume a paused subscription",
)
async def resume(deps: Deps, principal: Admin, sub_id: Id) -> SubscriptionRead:
    change = _transition("paused", "active", "resumed")
    return await _act(deps, principal, sub_id, "resume", change)


@router.post(
    "/subscriptions/{sub_id}/cancel",
    response_model=SubscriptionRead,
    responses=_ONE,
    summary="Cancel a subscription",
    description="Ends an active or paused subscription at once (no refund).",
)
async def cancel(deps: Deps, principal: Admin, sub_id: Id) -> SubscriptionRead:
    def change(row: RowMapping, at: dt.datetime) -> dict[str, Any]:
        if row["state"] == "cancelled":
            raise _conflict(row, at, "cancelled")
        return {"state": "cancelled"}

    return await _act(deps, principal, sub_id, "cancel", change)
