"""`/api/me/keys`: the signed-in user's API keys (§13). Verified accounts only (R12.2).

The full key is in the create answer alone; lists and details show the mask. Every change
is in the gateway's snapshot before the answer, so the next request already sees it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from torouter.api import key_service as keys
from torouter.api.auth import VerifiedUser
from torouter.api.changes import publish
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.key_schemas import KeyCreate, KeyCreated, KeyDetail, KeyRead, KeyUpdate
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope, Responses
from torouter.storage.tables import api_keys

__all__ = ["router"]

router = APIRouter(tags=["me"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={409: {"model": ErrorEnvelope}},
    summary="Create an API key",
    description="The answer's `key` is the only time the full key is shown. The group must be "
    "public or granted to you (403 otherwise); 409 `CONFLICT` past `keys.max_per_user` keys. "
    "IP lists take one address or CIDR per line (or a list); a bad line is 400 with `param` "
    "naming it, e.g. `ip_whitelist[2]`.",
)
async def create_key(deps: Deps, principal: VerifiedUser, body: KeyCreate) -> KeyCreated:
    assert principal.user_id is not None
    async with deps.db.begin() as conn:
        key_id, key = await keys.create_key(deps, conn, user_id=principal.user_id, body=body)
        (read,) = await keys.key_reads(deps, conn, [await keys.written_key(conn, key_id)])
    await publish(deps)
    return KeyCreated(**read.model_dump(), key=key)


@router.get("/keys", response_model=Page[KeyRead], summary="My API keys (masked)")
async def list_keys(
    deps: Deps,
    principal: VerifiedUser,
    paging: Paging,
    status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
) -> Page[KeyRead]:
    c = api_keys.c
    stmt = (
        keys.key_select()
        .where(c.user_id == principal.user_id, c.deleted_at.is_(None))
        .order_by(c.id)
    )
    if status is not None:
        stmt = stmt.where(c.status == status)
    async with deps.db.connect() as conn:
        return await keys.key_page(deps, conn, await fetch_page(conn, stmt, paging, dict))


@router.get(
    "/keys/{key_id}",
    response_model=KeyDetail,
    responses=_ONE,
    summary="One of my API keys, with its window use",
)
async def get_key(deps: Deps, principal: VerifiedUser, key_id: Id) -> KeyDetail:
    async with deps.db.connect() as conn:
        row = await keys.owned_key(conn, key_id, principal)
        return await keys.key_detail(deps, conn, row)


@router.patch(
    "/keys/{key_id}",
    response_model=KeyRead,
    responses=_ONE,
    summary="Edit one of my API keys",
    description='Only the fields sent change: a limit sent as null or "" inherits the '
    "group's default, 0 turns it off; `status` enables or disables the key. Keys declared "
    "in the config file are read-only (409).",
)
async def patch_key(deps: Deps, principal: VerifiedUser, key_id: Id, body: KeyUpdate) -> KeyRead:
    async with deps.db.begin() as conn:
        row = await keys.owned_key(conn, key_id, principal)
        await keys.update_key(deps, conn, row, body)
        (read,) = await keys.key_reads(deps, conn, [await keys.written_key(conn, key_id)])
    await publish(deps)
    return read


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    response_class=Response,
    responses=_ONE,
    summary="Delete one of my API keys",
    description="Immediate and final: requests in flight finish, later ones get "
    "`INVALID_API_KEY`. To rotate, create a new key, switch, then delete the old one.",
)
async def delete_key(deps: Deps, principal: VerifiedUser, key_id: Id) -> Response:
    async with deps.db.begin() as conn:
        row = await keys.owned_key(conn, key_id, principal)
        await keys.delete_key(conn, row)
    await publish(deps)
    return Response(status_code=204)
