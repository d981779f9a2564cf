"""Password login, the TOTP step and brute-force locks (R12.3).

    login(email, password)
      ├─ IP over 30 failures / 15 min      → 429 RATE_LIMIT_EXCEEDED (E14)
      ├─ email string locked               → 429 ACCOUNT_LOCKED + Retry-After
      ├─ wrong password or no such account → 401 INVALID_CREDENTIALS (counted; the 5th
      │                                      failure in 15 min locks the string 15 min)
      ├─ suspended                         → 403 FORBIDDEN
      ├─ TOTP on                           → TotpChallenge (a login ticket: 5 min, 5 tries)
      └─ else                              → LoginOk (a new session)

Unknown addresses are verified against a dummy hash and counted like real ones, so neither
the answer, its timing nor the lock reveals whether an address exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import RowMapping

from torouter.accounts import email_tokens as et
from torouter.accounts import messages as m
from torouter.accounts.guard import check_password, forget_failures, ip_blocked
from torouter.accounts.passwords import hash_password_async, needs_rehash
from torouter.accounts.service import Accounts
from torouter.accounts.sessions import NewSession, create_session
from torouter.accounts.twofactor import verify_second_factor
from torouter.errors import GatewayError, error
from torouter.storage.repos.users import get_user, get_user_by_email, set_password

__all__ = ["LoginOk", "TotpChallenge", "login", "login_totp"]

_LIVE = ("active", "unverified")


@dataclass(frozen=True, slots=True)
class LoginOk:
    user: RowMapping
    session: NewSession


@dataclass(frozen=True, slots=True)
class TotpChallenge:
    user_id: int
    ticket: str


async def login(
    acc: Accounts, *, email: str, password: str, ip: str | None, user_agent: str | None
) -> LoginOk | TotpChallenge:
    await ip_blocked(acc, ip)
    async with acc.db.connect() as conn:
        user = await get_user_by_email(conn, email=email)
    known = user is not None and user["state"] != "deleted"
    stored = user["password_hash"] if user is not None and known else None
    ok = await check_password(acc, email=email, password=password, password_hash=stored, ip=ip)
    if not ok or user is None or not known:
        raise error("INVALID_CREDENTIALS")
    if user["state"] not in _LIVE:
        raise error("FORBIDDEN", m.SUSPENDED)
    await forget_failures(acc, email)
    now = acc.clock.now()
    new_hash = await hash_password_async(password) if needs_rehash(stored or "") else None
    async with acc.db.begin() as conn:
        if new_hash is not None:
            await set_password(conn, user_id=user["id"], password_hash=new_hash)
        if user["totp_enabled"]:
            ticket = await et.issue_token(conn, kind=et.LOGIN, user_id=user["id"], now=now)
            return TotpChallenge(int(user["id"]), ticket)
        session = await create_session(acc, conn, user_id=user["id"], ip=ip, user_agent=user_agent)
    return LoginOk(user, session)


async def login_totp(
    acc: Accounts,
    *,
    ticket: str,
    code: str | None,
    recovery_code: str | None,
    ip: str | None,
    user_agent: str | None,
) -> LoginOk:
    """The second step: a live TOTP code or an unused recovery code for the ticket's user.

    Five wrong codes use the ticket up: the login starts over from the password.
    """
    now = acc.clock.now()
    failure: GatewayError | None = None
    async with acc.db.begin() as conn:
        t = await et.ticket(conn, token=ticket, now=now)
        user = await get_user(conn, user_id=t.user_id)
        if user is None or user["state"] not in _LIVE or not user["totp_enabled"]:
            failure = error("AUTH_REQUIRED", m.TICKET_DEAD, param="login_ticket")
            await et.use_ticket(conn, t, now)
        elif await verify_second_factor(
            acc, conn, user, code=code, recovery_code=recovery_code, now=now
        ):
            await et.use_ticket(conn, t, now)
            session = await create_session(
                acc, conn, user_id=t.user_id, ip=ip, user_agent=user_agent
            )
        else:
            left = await et.wrong_try(conn, row_id=t.id, now=now)
            if left:
                param = "code" if code else "recovery_code"
                failure = error("INVALID_CREDENTIALS", m.TOTP_WRONG, param=param)
            else:
                failure = error("AUTH_REQUIRED", m.TICKET_TRIES, param="login_ticket")
    if failure is not None:  # raised after the commit: the counted try must stay counted
        raise failure
    assert user is not None  # no failure: the ticket's user is live and passed
    return LoginOk(user, session)
