"""`/api/admin/groups`: groups (R7.6) and the grants of private groups.

A group is what a key is bound to: billing type, price multiplier, the ordered catalog,
visibility, status and the default key limits that a key's null limit inherits. Groups
declared in the config file are read-only (409); grants stay editable on them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.catalog_reads import GroupRead, group_reads
from torouter.api.changes import publish
from torouter.api.deps import Deps
from torouter.api.fields import DecimalIn, Id, Name, sent_values
from torouter.api.key_schemas import KeyLimitsIn
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, ErrorEnvelope, InputModel, Responses
from torouter.errors import error
from torouter.records import BillingType, GroupStatus, Visibility
from torouter.storage.repos import groups as repo
from torouter.storage.tables import group_grants, groups, models, users

__all__ = ["GrantRead", "GroupCreate", "GroupUpdate", "router"]

router = APIRouter(tags=["groups"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}

Status = GroupStatus  # one list with the snapshot's records
Description = Annotated[str, StringConstraints(max_length=2000)]
ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class GroupCreate(InputModel):
    name: Name
    description: Description | None = None
    billing_type: BillingType = "balance"
    price_multiplier: DecimalIn = Field(Decimal(1), description="≥ 0; 0 = free")
    models: list[ModelId] = Field(default_factory=list, description="The catalog, in order")
    visibility: Visibility = Field("public", description="private: granted users only")
    status: Status = "enabled"
    default_key_limits: KeyLimitsIn = Field(default_factory=KeyLimitsIn)


class GroupUpdate(InputModel):
    """Only the fields sent change; `models` and `default_key_limits` are replaced whole."""

    name: Name | None = None
    description: Description | None = None
    billing_type: BillingType | None = None
    price_multiplier: DecimalIn | None = None
    models: list[ModelId] | None = None
    visibility: Visibility | None = None
    status: Status | None = None
    default_key_limits: KeyLimitsIn | None = None


class GrantRead(ApiModel):
    group_id: int
    user_id: int
    email: str


async def _group_or_404(conn: AsyncConnection, group_id: int) -> RowMapping:
    row = await repo.get_group(conn, group_id=group_id)
    if row is None:
        raise error("E19", "Group not found")
    return row


async def _read(conn: AsyncConnection, group_id: int) -> GroupRead:
    (read,) = await group_reads(conn, [await _group_or_404(conn, group_id)])
    return read


async def _check_name(conn: AsyncConnection, name: str, group_id: int | None = None) -> None:
    row = await repo.get_group_by_name(conn, name=name)
    if row is not None and row["id"] != group_id:
        raise error("CONFLICT", f"A group named {name!r} already exists")


async def _check_models(conn: AsyncConnection, ids: list[str]) -> None:
    known = set((await conn.execute(select(models.c.id).where(models.c.id.in_(ids)))).scalars())
    seen: set[str] = set()
    for i, model_id in enumerate(ids):
        if model_id not in known:
            raise error("E16", f"models[{i}]: no model {model_id!r}", param=f"models[{i}]")
        if model_id in seen:
            raise error("E16", f"models[{i}]: {model_id!r} is listed twice", param=f"models[{i}]")
        seen.add(model_id)


@router.get("/groups", response_model=Page[GroupRead], summary="List groups")
async def list_groups(
    deps: Deps,
    paging: Paging,
    billing_type: BillingType | None = None,
    visibility: Visibility | None = None,
    status: Status | None = None,
) -> Page[GroupRead]:
    stmt = select(groups).order_by(groups.c.id)
    for column, value in (
        ("billing_type", billing_type),
        ("visibility", visibility),
        ("status", status),
    ):
        if value is not None:
            stmt = stmt.where(groups.c[column] == value)
    async with deps.db.connect() as conn:
        page = await fetch_page(conn, stmt, paging, dict)
        data = await group_reads(conn, page.data)
    return Page[GroupRead](data=data, page=page.page, page_size=page.page_size, total=page.total)


@router.post(
    "/groups",
    status_code=201,
    response_model=GroupRead,
    responses={409: {"model": ErrorEnvelope}},
    summary="Create a group",
)
async def create_group(deps: Deps, principal: Admin, body: GroupCreate) -> GroupRead:
    async with deps.db.begin() as conn:
        await _check_name(conn, body.name)
        await _check_models(conn, body.models)
        group_id = await repo.create_group(
            conn,
            name=body.name,
            billing_type=body.billing_type,
            price_multiplier=body.price_multiplier,
            visibility=body.visibility,
            status=body.status,
            description=body.description,
            default_key_limits=body.default_key_limits.columns(),
        )
        await repo.set_group_models(conn, group_id=group_id, model_ids=body.models)
        await record_audit(
            conn,
            actor=principal.actor,
            action="group.create",
            target=f"group:{group_id}",
            detail={"name": body.name},
        )
        out = await _read(conn, group_id)
    await publish(deps)
    return out


@router.get(
    "/groups/{group_id}",
    response_model=GroupRead,
    responses={404: {"model": ErrorEnvelope}},
    summary="Get a group",
)
async def get_group(deps: Deps, group_id: Id) -> GroupRead:
    async with deps.db.connect() as conn:
        return await _read(conn, group_id)


@router.patch(
    "/groups/{group_id}", response_model=GroupRead, responses=_ONE, summary="Edit a group"
)
async def patch_group(deps: Deps, principal: Admin, group_id: Id, body: GroupUpdate) -> GroupRead:
    values = sent_values(body, nullable=frozenset({"description"}))
    catalog: list[str] | None = values.pop("models", None)
    if "default_key_limits" in values:
        limits = body.default_key_limits
        assert limits is not None  # sent_values refused a null: the field is not nullable
        values["default_key_limits"] = limits.columns()
    async with deps.db.begin() as conn:
        row = await _group_or_404(conn, group_id)
        if row["managed"]:
            raise error("CONFLICT", "This group is declared in the config file and is read-only")
        if "name" in values:
            await _check_name(conn, values["name"], group_id)
        await repo.update_group(conn, group_id=group_id, values=values)
        if catalog is not None:
            await _check_models(conn, catalog)
            await repo.set_group_models(conn, group_id=group_id, model_ids=catalog)
        await record_audit(
            conn,
            actor=principal.actor,
            action="group.update",
            target=f"group:{group_id}",
            detail=_jsonable({**values, **({"models": catalog} if catalog is not None else {})}),
        )
        out = await _read(conn, group_id)
    await publish(deps)
    return out


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: format(v, "f") if isinstance(v, Decimal) else v for k, v in values.items()}


@router.delete(
    "/groups/{group_id}",
    status_code=204,
    response_class=Response,
    responses=_ONE,
    summary="Delete a group",
    description="Only a group no key, plan or subscription refers to (409 otherwise: "
    "disable it instead). Its catalog, grants and channel links go with it.",
)
async def delete_group(deps: Deps, principal: Admin, group_id: Id) -> Response:
    async with deps.db.begin() as conn:
        row = await _group_or_404(conn, group_id)
        if row["managed"]:
            raise error("CONFLICT", "This group is declared in the config file and is read-only")
        refs = {
            k: v for k, v in (await repo.group_references(conn, group_id=group_id)).items() if v
        }
        if refs:
            used = ", ".join(f"{n} {k}" for k, n in refs.items())
            raise error("CONFLICT", f"The group is used by {used}; disable it instead")
        await repo.delete_group(conn, group_id=group_id)
        await record_audit(
            conn,
            actor=principal.actor,
            action="group.delete",
            target=f"group:{group_id}",
            detail={"name": row["name"]},
        )
    await publish(deps)
    return Response(status_code=204)


@router.get(
    "/groups/{group_id}/grants",
    response_model=Page[GrantRead],
    responses={404: {"model": ErrorEnvelope}},
    summary="Users granted a group",
)
async def list_grants(deps: Deps, group_id: Id, paging: Paging) -> Page[GrantRead]:
    stmt = (
        select(group_grants.c.group_id, group_grants.c.user_id, users.c.email)
        .join(users, users.c.id == group_grants.c.user_id)
        .where(group_grants.c.group_id == group_id)
        .order_by(group_grants.c.user_id)
    )
    async with deps.db.connect() as conn:
        await _group_or_404(conn, group_id)
        return await fetch_page(conn, stmt, paging, GrantRead.from_row)


async def _grant_target(conn: AsyncConnection, group_id: int, user_id: int) -> str:
    await _group_or_404(conn, group_id)
    email = await conn.scalar(select(users.c.email).where(users.c.id == user_id))
    if email is None:
        raise error("E19", "User not found")
    return str(email)


@router.post(
    "/groups/{group_id}/grants/{user_id}",
    status_code=201,
    response_model=GrantRead,
    responses={
        200: {"model": GrantRead, "description": "The user already had the grant"},
        404: {"model": ErrorEnvelope},
    },
    summary="Grant a (private) group to a user",
    description="201 with the grant; 200 when the user already had it.",
)
async def grant(
    deps: Deps, principal: Admin, group_id: Id, user_id: Id, response: Response
) -> GrantRead:
    async with deps.db.begin() as conn:
        email = await _grant_target(conn, group_id, user_id)
        if await repo.grant_group(conn, group_id=group_id, user_id=user_id):
            await record_audit(
                conn,
                actor=principal.actor,
                action="group.grant",
                target=f"group:{group_id}",
                detail={"user_id": user_id},
            )
        else:
            response.status_code = 200
    await publish(deps)
    return GrantRead(group_id=group_id, user_id=user_id, email=email)


@router.delete(
    "/groups/{group_id}/grants/{user_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorEnvelope}},
    summary="Take a group back from a user",
    description="Their keys bound to a private group get `group_not_allowed` (403) from the "
    "next request on.",
)
async def revoke(deps: Deps, principal: Admin, group_id: Id, user_id: Id) -> Response:
    async with deps.db.begin() as conn:
        await _grant_target(conn, group_id, user_id)
        if not await repo.revoke_grant(conn, group_id=group_id, user_id=user_id):
            raise error("E19", "The user has no grant for this group")
        await record_audit(
            conn,
            actor=principal.actor,
            action="group.revoke",
            target=f"group:{group_id}",
            detail={"user_id": user_id},
        )
    await publish(deps)
    return Response(status_code=204)
