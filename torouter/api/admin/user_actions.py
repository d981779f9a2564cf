"""Admin actions on users (R12.7, R15.2): suspend, reactivate, reset two-factor.

A suspension ends the user's sessions and is in the gateway's snapshot before the answer:
their API keys get USER_INACTIVE from the very next request.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.accounts import admin as actions
from torouter.accounts import messages as m
from torouter.accounts import twofactor
from torouter.api.admin.users import UserRead
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import publish
from torouter.api.deps import ApiDeps, Deps
from torouter.api.fields import Id
from torouter.api.schemas import ErrorEnvelope, Responses
from torouter.errors import error
from torouter.storage.tables import users

__all__ = ["router"]

router = APIRouter(tags=["users"])
_ERRORS: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}


def _now(deps: ApiDeps) -> dt.datetime:
    return deps.accounts.clock.now() if deps.accounts is not None else dt.datetime.now(dt.UTC)


async def _read(conn: AsyncConnection, user_id: int) -> UserRead:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().one()
    return UserRead.from_row(row)


@router.post(
    "/users/{user_id}/suspend",
    response_model=UserRead,
    responses=_ERRORS,
    summary="Suspend a user",
    description="No sign-in, sessions end, API keys get `USER_INACTIVE` at once.",
)
async def suspend(deps: Deps, principal: Admin, user_id: Id) -> UserRead:
    if principal.user_id == user_id:
        raise error("CONFLICT", m.SELF_SUSPEND)
    async with deps.db.begin() as conn:
        ended = await actions.suspend(conn, user_id, _now(deps))
        await record_audit(
            conn,
            actor=principal.actor,
            action="user.suspend",
            target=f"user:{user_id}",
            detail={"sessions_ended": ended},
        )
        out = await _read(conn, user_id)
    await publish(deps)  # before answering: every node's next request sees it (R7.12)
    return out


@router.post(
    "/users/{user_id}/reactivate",
    response_model=UserRead,
    responses=_ERRORS,
    summary="Reactivate a suspended user",
    description="Back to `active`, or `unverified` if the email was never verified.",
)
async def reactivate(deps: Deps, principal: Admin, user_id: Id) -> UserRead:
    async with deps.db.begin() as conn:
        state = await actions.reactivate(conn, user_id, _now(deps))
        await record_audit(
            conn,
            actor=principal.actor,
            action="user.reactivate",
            target=f"user:{user_id}",
            detail={"state": state},
        )
        out = await _read(conn, user_id)
    await publish(deps)
    return out


@router.post(
    "/users/{user_id}/2fa/reset",
    response_model=UserRead,
    responses={404: {"model": ErrorEnvelope}},
    summary="Reset a user's two-factor authentication",
    description="Turns TOTP off and drops its secret and recovery codes; the user can sign "
    "in with the password alone and set it up again.",
)
async def reset_two_factor(deps: Deps, principal: Admin, user_id: Id) -> UserRead:
    async with deps.db.begin() as conn:
        if not await twofactor.reset(conn, user_id, _now(deps)):
            raise error("E19", m.USER_NOT_FOUND)
        await record_audit(
            conn, actor=principal.actor, action="user.2fa_reset", target=f"user:{user_id}"
        )
        return await _read(conn, user_id)
