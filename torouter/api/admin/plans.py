"""`/api/admin/plans`: the offers of subscription groups (R7.7).

A plan's caps are copied into a subscription at each purchase, so editing a plan changes
later purchases only. Plans declared in the config file are read-only (409); a plan that
subscriptions or orders name is disabled rather than deleted (409).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import publish
from torouter.api.deps import Deps
from torouter.api.fields import Count, Id, Money, Name, nusd, sent_values
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope, InputModel, Responses
from torouter.api.subscription_service import PlanRead, plan_select
from torouter.errors import error
from torouter.storage.repos import plans as repo
from torouter.storage.repos.groups import get_group
from torouter.storage.tables import plans

__all__ = ["PlanCreate", "PlanUpdate", "router"]

router = APIRouter(tags=["plans"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}

Days = Annotated[int, Field(ge=1, le=36_500)]
_MONEY = {
    "price_usd": "price_nusd",
    "daily_cap_usd": "daily_cap_nusd",
    "weekly_cap_usd": "weekly_cap_nusd",
    "monthly_cap_usd": "monthly_cap_nusd",
}


class PlanCreate(InputModel):
    name: Name
    group_id: Id = Field(description="A group with `billing_type` subscription")
    price_usd: Money
    duration_days: Days = 30
    daily_cap_usd: Money = Field(Decimal(0), description="0 = none")
    weekly_cap_usd: Money = Field(Decimal(0), description="0 = none")
    monthly_cap_usd: Money = Field(Decimal(0), description="0 = none")
    max_per_user: Count = Field(0, description="Purchases per user; 0 = unlimited, 1 = a trial")
    enabled: bool = True


class PlanUpdate(InputModel):
    """Only the fields sent change (later purchases copy the new caps)."""

    name: Name | None = None
    group_id: Id | None = None
    price_usd: Money | None = None
    duration_days: Days | None = None
    daily_cap_usd: Money | None = None
    weekly_cap_usd: Money | None = None
    monthly_cap_usd: Money | None = None
    max_per_user: Count | None = None
    enabled: bool | None = None


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {_MONEY.get(k, k): nusd(v) if k in _MONEY else v for k, v in values.items()}


async def _check_group(conn: AsyncConnection, group_id: int) -> None:
    group = await get_group(conn, group_id=group_id)
    if group is None:
        raise error("E16", "group_id: no such group", param="group_id")
    if group["billing_type"] != "subscription":
        raise error("E16", "group_id: not a subscription group", param="group_id")


async def _check_name(conn: AsyncConnection, name: str, plan_id: int | None = None) -> None:
    row = await repo.get_plan_by_name(conn, name=name)
    if row is not None and row["id"] != plan_id:
        raise error("CONFLICT", f"A plan named {name!r} already exists")


async def _plan_or_404(conn: AsyncConnection, plan_id: int) -> RowMapping:
    row = await repo.get_plan(conn, plan_id=plan_id)
    if row is None:
        raise error("E19", "Plan not found")
    return row


async def _read(conn: AsyncConnection, plan_id: int) -> PlanRead:
    row = (await conn.execute(plan_select().where(plans.c.id == plan_id))).mappings().one()
    return PlanRead.from_row(row)


def _writable(row: RowMapping) -> None:
    if row["managed"]:
        raise error("CONFLICT", "This plan is declared in the config file and is read-only")


@router.get("/plans", response_model=Page[PlanRead], summary="List plans")
async def list_plans(
    deps: Deps, paging: Paging, group_id: Id | None = None, enabled: bool | None = None
) -> Page[PlanRead]:
    stmt = plan_select().order_by(plans.c.id)
    if group_id is not None:
        stmt = stmt.where(plans.c.group_id == group_id)
    if enabled is not None:
        stmt = stmt.where(plans.c.enabled == enabled)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, PlanRead.from_row)


@router.post(
    "/plans",
    status_code=201,
    response_model=PlanRead,
    responses={409: {"model": ErrorEnvelope}},
    summary="Create a plan",
)
async def create_plan(deps: Deps, principal: Admin, body: PlanCreate) -> PlanRead:
    columns = _columns(body.model_dump())
    async with deps.db.begin() as conn:
        await _check_group(conn, body.group_id)
        await _check_name(conn, body.name)
        plan_id = await repo.create_plan(conn, **columns)
        await record_audit(
            conn,
            actor=principal.actor,
            action="plan.create",
            target=f"plan:{plan_id}",
            detail={"name": body.name, "group_id": body.group_id},
        )
        out = await _read(conn, plan_id)
    await publish(deps)
    return out


@router.get(
    "/plans/{plan_id}",
    response_model=PlanRead,
    responses={404: {"model": ErrorEnvelope}},
    summary="Get a plan",
)
async def get_plan(deps: Deps, plan_id: Id) -> PlanRead:
    async with deps.db.connect() as conn:
        await _plan_or_404(conn, plan_id)
        return await _read(conn, plan_id)


@router.patch("/plans/{plan_id}", response_model=PlanRead, responses=_ONE, summary="Edit a plan")
async def patch_plan(deps: Deps, principal: Admin, plan_id: Id, body: PlanUpdate) -> PlanRead:
    columns = _columns(sent_values(body))
    async with deps.db.begin() as conn:
        _writable(await _plan_or_404(conn, plan_id))
        if "group_id" in columns:
            await _check_group(conn, columns["group_id"])
        if "name" in columns:
            await _check_name(conn, columns["name"], plan_id)
        await repo.update_plan(conn, plan_id=plan_id, values=columns)
        await record_audit(
            conn,
            actor=principal.actor,
            action="plan.update",
            target=f"plan:{plan_id}",
            detail=columns,
        )
        out = await _read(conn, plan_id)
    await publish(deps)
    return out


@router.delete(
    "/plans/{plan_id}",
    status_code=204,
    response_class=Response,
    responses=_ONE,
    summary="Delete a plan",
    description="Only a plan no subscription or order names (409 otherwise: disable it).",
)
async def delete_plan(deps: Deps, principal: Admin, plan_id: Id) -> Response:
    async with deps.db.begin() as conn:
        row = await _plan_or_404(conn, plan_id)
        _writable(row)
        refs = {k: v for k, v in (await repo.plan_references(conn, plan_id=plan_id)).items() if v}
        if refs:
            used = ", ".join(f"{n} {k}" for k, n in refs.items())
            raise error("CONFLICT", f"The plan is used by {used}; disable it instead")
        await repo.delete_plan(conn, plan_id=plan_id)
        await record_audit(
            conn,
            actor=principal.actor,
            action="plan.delete",
            target=f"plan:{plan_id}",
            detail={"name": row["name"]},
        )
    await publish(deps)
    return Response(status_code=204)
