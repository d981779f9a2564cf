"""Sign-up and email verification (R12.1, R12.2).

A new account is `unverified`: it may sign in (to a verification banner) but its API keys get
USER_INACTIVE and it cannot create keys. The mailed link (single use, 24 h) makes it `active`.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from torouter.accounts import email_tokens as et
from torouter.accounts import messages as m
from torouter.accounts.emails import link, verify_mail
from torouter.accounts.guard import rate_limited
from torouter.accounts.limits import RESEND_COOLDOWN_S, RESET_EMAIL, RESET_IP, SIGNUP_IP
from torouter.accounts.passwords import hash_password_async
from torouter.accounts.service import Accounts
from torouter.accounts.site_settings import domain_allowed, load_signup
from torouter.errors import error
from torouter.storage.repos.users import create_user, get_user, get_user_by_email, normalize_email
from torouter.storage.tables import users

__all__ = ["register", "resend", "resend_by_email", "verify"]


async def register(
    acc: Accounts, *, email: str, password: str, ip: str | None, lang: str
) -> RowMapping:
    """Create an unverified account and mail its verification link; returns the user row."""
    async with acc.db.connect() as conn:
        rules = await load_signup(conn, acc.settings.signup)
    if not rules.enabled:
        raise error("FORBIDDEN", m.SIGNUP_CLOSED)
    # Every attempt counts, taken addresses included: 10 an hour cannot sweep addresses.
    wait = await acc.limiter.hit(f"signup:ip:{ip or '-'}", SIGNUP_IP)
    if wait:
        raise rate_limited(wait)
    if not domain_allowed(rules, email):
        raise error("EMAIL_DOMAIN_NOT_ALLOWED", m.allowed_domains(rules.allowed_domains))
    password_hash = await hash_password_async(password)
    now = acc.clock.now()
    try:
        async with acc.db.begin() as conn:
            if await get_user_by_email(conn, email=email) is not None:
                raise error("EMAIL_TAKEN", m.EMAIL_TAKEN, param="email")
            user_id = await create_user(conn, email=email, password_hash=password_hash)
            token = await et.issue_token(conn, kind=et.VERIFY, user_id=user_id, now=now)
            user = await get_user(conn, user_id=user_id)
    except IntegrityError:  # a concurrent sign-up with the same address won
        raise error("EMAIL_TAKEN", m.EMAIL_TAKEN, param="email") from None
    assert user is not None
    acc.postman.post(verify_mail(user["email"], link(acc.base_url, "/verify", token), lang))
    return user


async def verify(acc: Accounts, *, token: str) -> RowMapping:
    """Use a verification link; the account becomes active. Returns the user row."""
    now = acc.clock.now()
    async with acc.db.begin() as conn:
        user_id = await et.consume_link(conn, kind=et.VERIFY, token=token, now=now)
        user = await get_user(conn, user_id=user_id)
        assert user is not None  # tokens go with their user (ON DELETE CASCADE)
        values: dict[str, object] = {}
        if user["email_verified_at"] is None:
            values["email_verified_at"] = now
        if user["state"] == "unverified":
            values["state"] = "active"
        if values:
            values["updated_at"] = now
            await conn.execute(update(users).where(users.c.id == user_id).values(**values))
        await et.retire(conn, kind=et.VERIFY, user_id=user_id, now=now)
        user = await get_user(conn, user_id=user_id)
    await acc.on_users_changed()  # the user's keys work from the next request on
    assert user is not None
    return user


async def _cooldown_left(acc: Accounts, user_id: int) -> float:
    async with acc.db.connect() as conn:
        last = await et.latest_issued(conn, kind=et.VERIFY, user_id=user_id)
    if last is None:
        return 0.0
    return max(RESEND_COOLDOWN_S - (acc.clock.now() - last).total_seconds(), 0.0)


async def _send(acc: Accounts, user: RowMapping, lang: str) -> None:
    async with acc.db.begin() as conn:
        token = await et.issue_token(conn, kind=et.VERIFY, user_id=user["id"], now=acc.clock.now())
    url = link(acc.base_url, "/verify", token)
    acc.postman.post(verify_mail(user["email"], url, user["language"] or lang))


async def resend(acc: Accounts, *, user_id: int, lang: str) -> None:
    """A new link for a signed-in unverified user: 409 when verified, E14 within 60 s."""
    async with acc.db.connect() as conn:
        user = await get_user(conn, user_id=user_id)
    if user is None or user["state"] != "unverified":
        raise error("CONFLICT", m.ALREADY_VERIFIED)
    wait = await _cooldown_left(acc, user_id)
    if wait:
        raise rate_limited(wait, "account")
    await _send(acc, user, lang)


async def resend_by_email(acc: Accounts, *, email: str, ip: str | None, lang: str) -> None:
    """A new link by address, without a session: the caller always gets the same answer;
    a mail goes only to an unverified account past its cooldown and within the limits."""
    over_ip = await acc.limiter.hit(f"resend:ip:{ip or '-'}", RESET_IP)
    over_email = await acc.limiter.hit(f"resend:email:{normalize_email(email)}", RESET_EMAIL)
    async with acc.db.connect() as conn:
        user = await get_user_by_email(conn, email=email)
    if over_ip or over_email or user is None or user["state"] != "unverified":
        return
    if await _cooldown_left(acc, user["id"]):
        return
    await _send(acc, user, lang)
