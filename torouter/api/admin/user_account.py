"""Admin actions on an account's access (R12.7, R15.2, ToRouter extension): verify its email,
change its role, list and end its sessions.

A new role or an ended session applies from the account's very next request: sessions and
admin tokens read the role from the database each time.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.accounts import admin as actions
from torouter.accounts import messages as m
from torouter.accounts.sessions import active_sessions, revoke_session, revoke_sessions
from torouter.api.admin.users import UserRead
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import now, publish
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, ErrorEnvelope, InputModel, Responses, Timestamp
from torouter.errors import error
from torouter.storage.tables import users

__all__ = ["RoleChange", "UserSessionRead", "router"]

router = APIRouter(tags=["users"])
_ERRORS: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}


class RoleChange(InputModel):
    role: Literal["user", "admin"]


class UserSessionRead(ApiModel):
    id: int
    created_at: Timestamp
    last_seen_at: Timestamp
    ip: str | None
    user_agent: str | None


async def _read(conn: AsyncConnection, user_id: int) -> UserRead:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    if row is None:
        raise error("E19", m.USER_NOT_FOUND)
    return UserRead.from_row(row)


@router.post(
    "/users/{user_id}/verify",
    response_model=UserRead,
    responses=_ERRORS,
    summary="Verify a user's email",
    description="The account becomes `active` at once; its verification links stop working.",
)
async def verify(deps: Deps, principal: Admin, user_id: Id) -> UserRead:
    async with deps.db.begin() as conn:
        await actions.verify(conn, user_id, now(deps))
        await record_audit(
            conn,
            actor=principal.actor,
            action="user.verify",
            target=f"user:{user_id}",
            detail={"state": {"from": "unverified", "to": "active"}},
        )
        out = await _read(conn, user_id)
    await publish(deps)  # the user's keys stop getting USER_INACTIVE
    return out


@router.post(
    "/users/{user_id}/role",
    response_model=UserRead,
    responses=_ERRORS,
    summary="Change a user's role",
    description="`user` or `admin`. An admin cannot change their own role (409).",
)
async def change_role(deps: Deps, principal: Admin, user_id: Id, body: RoleChange) -> UserRead:
    async with deps.db.begin() as conn:
        before = await actions.set_role(
            conn, user_id, body.role, now(deps), by_user=principal.user_id
        )
        if before != body.role:
            await record_audit(
                conn,
                actor=principal.actor,
                action="user.role",
                target=f"user:{user_id}",
                detail={"role": {"from": before, "to": body.role}},
            )
        out = await _read(conn, user_id)
    await publish(deps)
    return out


@router.get(
    "/users/{user_id}/sessions",
    response_model=Page[UserSessionRead],
    responses={404: {"model": ErrorEnvelope}},
    summary="A user's signed-in sessions, newest first",
)
async def list_sessions(deps: Deps, user_id: Id, paging: Paging) -> Page[UserSessionRead]:
    async with deps.db.connect() as conn:
        await _read(conn, user_id)
        return await fetch_page(
            conn, active_sessions(user_id, now(deps)), paging, UserSessionRead.from_row
        )


@router.delete(
    "/users/{user_id}/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorEnvelope}},
    summary="End one of a user's sessions",
)
async def end_session(deps: Deps, principal: Admin, user_id: Id, session_id: Id) -> Response:
    async with deps.db.begin() as conn:
        await _read(conn, user_id)
        if not await revoke_session(conn, session_id=session_id, user_id=user_id, now=now(deps)):
            raise error("E19", m.SESSION_NOT_FOUND)
        await record_audit(
            conn,
            actor=principal.actor,
            action="user.session_end",
            target=f"user:{user_id}",
            detail={"session_id": session_id},
        )
    return Response(status_code=204)


@router.delete(
    "/users/{user_id}/sessions",
    response_model=dict[str, int],
    responses={404: {"model": ErrorEnvelope}},
    summary="End every session of a user",
    description='Returns `{"ended": n}`. Their API keys keep working.',
)
async def end_all_sessions(deps: Deps, principal: Admin, user_id: Id) -> dict[str, int]:
    async with deps.db.begin() as conn:
        await _read(conn, user_id)
        ended = await revoke_sessions(conn, user_id=user_id, now=now(deps))
        await record_audit(
            conn,
            actor=principal.actor,
            action="user.sessions_end",
            target=f"user:{user_id}",
            detail={"sessions_ended": ended},
        )
    return {"ended": ended}
