"""Admin actions on accounts (R12.7, R15.2): suspend, reactivate, verify, change the role.

Each runs in the caller's transaction (so the audit row commits with it); the caller then
awaits `Accounts.on_users_changed()` before answering, so a suspended user's keys get
USER_INACTIVE on the very next request.

A managed account (declared in the config file, R17.10) keeps the role and state the file
gives it: changing them here would be undone by the next `apply`, so they are refused (409).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.accounts import email_tokens as et
from torouter.accounts import messages as m
from torouter.accounts.sessions import revoke_sessions
from torouter.errors import error
from torouter.storage.repos.users import get_user
from torouter.storage.tables import users

__all__ = ["reactivate", "set_role", "suspend", "verify"]


async def _user(conn: AsyncConnection, user_id: int) -> RowMapping:
    user = await get_user(conn, user_id=user_id)
    if user is None:
        raise error("E19", m.USER_NOT_FOUND)
    if user["state"] == "deleted":
        raise error("CONFLICT", m.USER_DELETED)
    if user["managed"]:
        raise error("CONFLICT", m.MANAGED_USER)
    return user


async def suspend(conn: AsyncConnection, user_id: int, now: dt.datetime) -> int:
    """Suspend (idempotent) and end every session; returns how many sessions ended."""
    await _user(conn, user_id)
    await conn.execute(
        update(users).where(users.c.id == user_id).values(state="suspended", updated_at=now)
    )
    await et.retire(conn, kind=et.LOGIN, user_id=user_id, now=now)
    return await revoke_sessions(conn, user_id=user_id, now=now)


async def reactivate(conn: AsyncConnection, user_id: int, now: dt.datetime) -> str:
    """Back to `active`, or `unverified` if the email never was; returns the new state."""
    user = await _user(conn, user_id)
    if user["state"] != "suspended":
        raise error("CONFLICT", m.NOT_SUSPENDED)
    state = "active" if user["email_verified_at"] is not None else "unverified"
    await conn.execute(
        update(users).where(users.c.id == user_id).values(state=state, updated_at=now)
    )
    return state


async def verify(conn: AsyncConnection, user_id: int, now: dt.datetime) -> None:
    """Mark an unverified email as verified (the admin vouches for it): the account becomes
    `active` and its pending verification links stop working."""
    user = await _user(conn, user_id)
    if user["state"] != "unverified":
        raise error("CONFLICT", m.NOT_UNVERIFIED)
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(state="active", email_verified_at=now, updated_at=now)
    )
    await et.retire(conn, kind=et.VERIFY, user_id=user_id, now=now)


async def set_role(
    conn: AsyncConnection, user_id: int, role: str, now: dt.datetime, *, by_user: int | None
) -> str:
    """Give the account `role` (`user` or `admin`); returns the previous role. An admin
    cannot change their own role, so no one demotes the last admin by accident."""
    if by_user == user_id:
        raise error("CONFLICT", m.SELF_ROLE)
    user = await _user(conn, user_id)
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role, updated_at=now))
    return str(user["role"])
