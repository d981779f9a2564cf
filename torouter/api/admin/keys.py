"""`/api/admin/keys`: every user's API keys (§13): list, read, create for a user, edit, delete.

Keys are masked everywhere but in the create answer. Keys declared in the config file are
read-only (409). Each change is audited and in the gateway's snapshot before the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api import key_service as keys
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import publish
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.key_schemas import (
    AdminKeyCreate,
    KeyCreated,
    KeyDetail,
    KeyRead,
    KeyUpdate,
)
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope, Responses
from torouter.errors import error
from torouter.storage.tables import api_keys

__all__ = ["KeyRead", "router"]

router = APIRouter(tags=["keys"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}


def _audit_detail(columns: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: times as text (no secret is ever among the columns)."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in columns.items()}


async def _key_or_404(
    conn: AsyncConnection, key_id: int, *, include_deleted: bool = False
) -> RowMapping:
    row = await keys.load_key(conn, key_id, include_deleted=include_deleted)
    if row is None:
        raise error("E19", "API key not found")
    return row


@router.get("/keys", response_model=Page[KeyRead], summary="List API keys (masked)")
async def list_keys(
    deps: Deps,
    paging: Paging,
    user_id: Id | None = None,
    group_id: Id | None = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
    include_deleted: bool = False,
) -> Page[KeyRead]:
    c = api_keys.c
    stmt = keys.key_select().order_by(c.id)
    for column, value in (("user_id", user_id), ("group_id", group_id), ("status", status)):
        if value is not None:
            stmt = stmt.where(c[column] == value)
    if not include_deleted:
        stmt = stmt.where(c.deleted_at.is_(None))
    async with deps.db.connect() as conn:
        return await keys.key_page(deps, conn, await fetch_page(conn, stmt, paging, dict))


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={409: {"model": ErrorEnvelope}},
    summary="Create an API key for a user",
    description="As `POST /api/me/keys`, for the account `user_id`; the answer's `key` is "
    "the only time the full key is shown.",
)
async def create_key(deps: Deps, principal: Admin, body: AdminKeyCreate) -> KeyCreated:
    async with deps.db.begin() as conn:
        key_id, key = await keys.create_key(deps, conn, user_id=body.user_id, body=body)
        await record_audit(
            conn,
            actor=principal.actor,
            action="key.create",
            target=f"key:{key_id}",
            detail={"user_id": body.user_id, "name": body.name},
        )
        (read,) = await keys.key_reads(deps, conn, [await keys.written_key(conn, key_id)])
    await publish(deps)
    return KeyCreated(**read.model_dump(), key=key)


@router.get(
    "/keys/{key_id}",
    response_model=KeyDetail,
    responses={404: {"model": ErrorEnvelope}},
    summary="Get an API key, with its window use",
)
async def get_key(deps: Deps, key_id: Id) -> KeyDetail:
    async with deps.db.connect() as conn:
        row: RowMapping = await _key_or_404(conn, key_id, include_deleted=True)
        return await keys.key_detail(deps, conn, row)


@router.patch(
    "/keys/{key_id}",
    response_model=KeyRead,
    responses=_ONE,
    summary="Edit an API key",
    description='Only the fields sent change (null or "" inherits the group default, 0 '
    "turns a limit off); `status` enables or disables the key.",
)
async def patch_key(deps: Deps, principal: Admin, key_id: Id, body: KeyUpdate) -> KeyRead:
    async with deps.db.begin() as conn:
        row = await _key_or_404(conn, key_id)
        columns = await keys.update_key(deps, conn, row, body)
        await record_audit(
            conn,
            actor=principal.actor,
            action="key.update",
            target=f"key:{key_id}",
            detail=_audit_detail(columns),
        )
        (read,) = await keys.key_reads(deps, conn, [await keys.written_key(conn, key_id)])
    await publish(deps)
    return read


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    response_class=Response,
    responses=_ONE,
    summary="Delete an API key",
    description="Immediate and final: later requests with it get `INVALID_API_KEY`.",
)
async def delete_key(deps: Deps, principal: Admin, key_id: Id) -> Response:
    async with deps.db.begin() as conn:
        row = await _key_or_404(conn, key_id)
        await keys.delete_key(conn, row)
        await record_audit(
            conn,
            actor=principal.actor,
            action="key.delete",
            target=f"key:{key_id}",
            detail={"user_id": row["user_id"]},
        )
    await publish(deps)
    return Response(status_code=204)
