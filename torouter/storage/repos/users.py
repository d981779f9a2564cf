"""Accounts (R12): create and look up users."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import users

__all__ = [
    "ROLES",
    "STATES",
    "count_users",
    "create_user",
    "ensure_admin",
    "get_user",
    "get_user_by_email",
    "lock_user",
    "normalize_email",
    "set_password",
]

ROLES = ("user", "admin")
STATES = ("unverified", "active", "suspended", "deleted")


def normalize_email(email: str) -> str:
    """Emails are matched case-insensitively: stored trimmed and lower-cased."""
    return email.strip().lower()


async def create_user(
    conn: AsyncConnection,
    *,
    email: str,
    password_hash: str | None = None,
    role: str = "user",
    state: str = "unverified",
    verified_at: dt.datetime | None = None,
    username: str | None = None,
    managed: bool = False,
) -> int:
    user_id: int = await insert_row(
        conn,
        users,
        {
            "email": normalize_email(email),
            "password_hash": password_hash,
            "role": role,
            "state": state,
            "email_verified_at": verified_at,
            "username": username,
            "managed": managed,
            "created_at": now(),
        },
    )
    return user_id


async def get_user(conn: AsyncConnection, *, user_id: int) -> RowMapping | None:
    return await select_one(conn, users, {"id": user_id})


async def get_user_by_email(conn: AsyncConnection, *, email: str) -> RowMapping | None:
    return await select_one(conn, users, {"email": normalize_email(email)})


async def lock_user(conn: AsyncConnection, *, user_id: int) -> bool:
    """Take the user's row lock (PostgreSQL) or the write lock (SQLite) for the rest of the
    transaction, so that check-then-write steps on one user (key count, purchases)
    serialise; False when there is no such user."""
    result = await conn.execute(update(users).where(users.c.id == user_id).values(id=users.c.id))
    return bool(result.rowcount)


async def count_users(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(users)) or 0)


async def set_password(conn: AsyncConnection, *, user_id: int, password_hash: str) -> None:
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, updated_at=now())
    )


async def ensure_admin(
    conn: AsyncConnection, *, email: str, password_hash: str
) -> tuple[int, bool]:
    """`create-admin`: a verified, active admin with this password; (user id, created)."""
    row = await get_user_by_email(conn, email=email)
    if row is None:
        user_id = await create_user(
            conn,
            email=email,
            password_hash=password_hash,
            role="admin",
            state="active",
            verified_at=now(),
        )
        return user_id, True
    await conn.execute(
        update(users)
        .where(users.c.id == row["id"])
        .values(
            role="admin",
            state="active",
            password_hash=password_hash,
            email_verified_at=row["email_verified_at"] or now(),
            updated_at=now(),
        )
    )
    return int(row["id"]), False
