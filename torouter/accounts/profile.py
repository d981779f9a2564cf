"""The signed-in user's profile and password (R12.5).

The email is fixed for the user (admins may change it). A password change needs the current
password (counted by the brute-force guard), keeps this session, ends the others and leaves
API keys working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping

from torouter.accounts import messages as m
from torouter.accounts.guard import check_password, forget_failures
from torouter.accounts.passwords import hash_password_async
from torouter.accounts.service import Accounts
from torouter.accounts.sessions import revoke_sessions
from torouter.errors import error
from torouter.storage.repos.users import get_user, set_password
from torouter.storage.tables import users
from torouter.usage.low_balance import initial_notified

__all__ = [
    "EDITABLE",
    "change_password",
    "load_user",
    "set_low_balance_threshold",
    "update_profile",
]

EDITABLE = frozenset({"username", "language", "display_currency"})


async def load_user(acc: Accounts, user_id: int) -> RowMapping:
    async with acc.db.connect() as conn:
        user = await get_user(conn, user_id=user_id)
    if user is None:
        raise error("AUTH_REQUIRED")
    return user


async def update_profile(acc: Accounts, user_id: int, fields: Mapping[str, Any]) -> RowMapping:
    """Write only the fields given (PATCH); returns the updated row."""
    values = {k: v for k, v in fields.items() if k in EDITABLE}
    async with acc.db.begin() as conn:
        if values:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(**values, updated_at=acc.clock.now())
            )
        user = await get_user(conn, user_id=user_id)
    if user is None:
        raise error("AUTH_REQUIRED")
    return user


async def set_low_balance_threshold(
    acc: Accounts, user_id: int, threshold_nusd: int | None
) -> None:
    """Set (or with None, turn off) the low-balance notice (R15.4). A threshold the balance is
    already under starts as notified: the user sees the balance as they set it, and the mail
    comes on the next dip after the balance has been back above."""
    async with acc.db.begin() as conn:
        balance = await conn.scalar(select(users.c.balance_nusd).where(users.c.id == user_id))
        if balance is None:
            raise error("AUTH_REQUIRED")
        below = initial_notified(int(balance), threshold_nusd)
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(
                low_balance_threshold_nusd=threshold_nusd,
                low_balance_notified_at=acc.clock.now() if below else None,
                updated_at=acc.clock.now(),
            )
        )


async def change_password(
    acc: Accounts,
    *,
    user_id: int,
    session_id: int | None,
    current: str,
    new: str,
    ip: str | None,
) -> int:
    """Set a new password; returns how many other sessions ended."""
    user = await load_user(acc, user_id)
    ok = await check_password(
        acc, email=user["email"], password=current, password_hash=user["password_hash"], ip=ip
    )
    if not ok:
        raise error("E16", m.WRONG_PASSWORD, param="current_password")
    password_hash = await hash_password_async(new)
    async with acc.db.begin() as conn:
        await set_password(conn, user_id=user_id, password_hash=password_hash)
        ended = await revoke_sessions(conn, user_id=user_id, now=acc.clock.now(), keep=session_id)
    await forget_failures(acc, user["email"])
    return ended
