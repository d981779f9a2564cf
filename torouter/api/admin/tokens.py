"""`/api/admin/tokens`: admin tokens (R16.2); the token itself appears only in the create answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import StringConstraints
from sqlalchemy import select

from torouter.api.admin_tokens import insert_admin_token, revoke_admin_token
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, ErrorEnvelope, InputModel, Timestamp
from torouter.errors import error
from torouter.storage.tables import admin_tokens, users

__all__ = ["TokenCreate", "TokenCreated", "TokenRead", "router"]

router = APIRouter(tags=["tokens"])


class TokenRead(ApiModel):
    id: int
    name: str
    mask: str
    user_id: int | None
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class TokenCreated(TokenRead):
    token: str  # shown once


class TokenCreate(InputModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    user_id: Id | None = None  # the admin account it acts for; None: no account


@router.get("/tokens", response_model=Page[TokenRead], summary="List admin tokens")
async def list_tokens(deps: Deps, paging: Paging) -> Page[TokenRead]:
    stmt = select(admin_tokens).order_by(admin_tokens.c.id)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, TokenRead.from_row)


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    summary="Create an admin token",
    description="The response's `token` is the only time the token is shown.",
)
async def create_token(deps: Deps, principal: Admin, body: TokenCreate) -> TokenCreated:
    async with deps.db.begin() as conn:
        if body.user_id is not None:
            role = await conn.scalar(select(users.c.role).where(users.c.id == body.user_id))
            if role is None:
                raise error("E16", "user_id: no such user", param="user_id")
            if role != "admin":
                raise error("E16", "user_id: the user is not an admin", param="user_id")
        token_id, token = await insert_admin_token(conn, name=body.name, user_id=body.user_id)
        await record_audit(
            conn, actor=principal.actor, action="admin_token.create", target=f"token:{token_id}"
        )
        row = (
            (await conn.execute(select(admin_tokens).where(admin_tokens.c.id == token_id)))
            .mappings()
            .one()
        )
    return TokenCreated.from_row(row, token=token)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorEnvelope}},
    summary="Revoke an admin token",
)
async def revoke_token(deps: Deps, principal: Admin, token_id: Id) -> Response:
    async with deps.db.begin() as conn:
        revoked = await revoke_admin_token(conn, token_id=token_id)
        if revoked is None:
            raise error("E19", "Token not found")
        if revoked:
            await record_audit(
                conn, actor=principal.actor, action="admin_token.revoke", target=f"token:{token_id}"
            )
    return Response(status_code=204)
