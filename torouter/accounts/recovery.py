"""Password reset by email (R12.4).

`forgot` answers the same whatever the address: the caller learns nothing, a real account
(not deleted) gets a single-use link valid 1 h, unless the address or the client IP is over
its hourly limit. `reset` sets the new password and ends every session; keys, balance,
subscriptions and TOTP stay. An unverified account becomes active: the link proved the mailbox.
"""

from __future__ import annotations

from sqlalchemy import update

from torouter.accounts import email_tokens as et
from torouter.accounts.emails import link, reset_mail
from torouter.accounts.guard import forget_failures
from torouter.accounts.limits import RESET_EMAIL, RESET_IP
from torouter.accounts.passwords import hash_password_async
from torouter.accounts.service import Accounts
from torouter.accounts.sessions import revoke_sessions
from torouter.storage.repos.users import get_user, get_user_by_email, normalize_email, set_password
from torouter.storage.tables import users

__all__ = ["forgot", "reset"]


async def forgot(acc: Accounts, *, email: str, ip: str | None, lang: str) -> None:
    over_ip = await acc.limiter.hit(f"reset:ip:{ip or '-'}", RESET_IP)
    over_email = await acc.limiter.hit(f"reset:email:{normalize_email(email)}", RESET_EMAIL)
    now = acc.clock.now()
    async with acc.db.begin() as conn:
        user = await get_user_by_email(conn, email=email)
        if over_ip or over_email or user is None or user["state"] == "deleted":
            return
        token = await et.issue_token(conn, kind=et.RESET, user_id=user["id"], now=now)
    url = link(acc.base_url, "/reset", token)
    acc.postman.post(reset_mail(user["email"], url, user["language"] or lang))


async def reset(acc: Accounts, *, token: str, password: str) -> None:
    password_hash = await hash_password_async(password)
    now = acc.clock.now()
    async with acc.db.begin() as conn:
        user_id = await et.consume_link(conn, kind=et.RESET, token=token, now=now)
        await set_password(conn, user_id=user_id, password_hash=password_hash)
        await revoke_sessions(conn, user_id=user_id, now=now)
        for kind in (et.RESET, et.LOGIN):  # older links and half-done logins die with it
            await et.retire(conn, kind=kind, user_id=user_id, now=now)
        user = await get_user(conn, user_id=user_id)
        assert user is not None
        activated = user["state"] == "unverified"
        if activated:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(state="active", email_verified_at=user["email_verified_at"] or now)
            )
    await forget_failures(acc, user["email"])
    if activated:
        await acc.on_users_changed()
