"""The brute-force guard shared by every step that checks a password (R12.3).

Failures are counted per client IP (30 in 15 min → E14 on login) and per email string (5 in
15 min lock it for 15 min → ACCOUNT_LOCKED). The email string is counted whether or not an
account has it, so a lock never tells that an address exists.
"""

from __future__ import annotations

from torouter.accounts.limits import LOCK_S, LOGIN_ACCOUNT, LOGIN_IP
from torouter.accounts.passwords import verify_password_async
from torouter.accounts.service import Accounts
from torouter.errors import GatewayError, error
from torouter.storage.repos.users import normalize_email

__all__ = [
    "account_locked",
    "check_password",
    "count_failure",
    "forget_failures",
    "ip_blocked",
    "rate_limited",
]


def rate_limited(wait: float, limit: str = "ip") -> GatewayError:
    """E14 with `Retry-After` and `x-torouter-limit` naming what blocked."""
    return error("E14", retry_after=wait, headers=[("x-torouter-limit", limit)])


def account_locked(wait: float) -> GatewayError:
    return error("ACCOUNT_LOCKED", retry_after=wait)


def _acct_key(email: str) -> str:
    return f"login:acct:{normalize_email(email)}"


def _ip_key(ip: str | None) -> str:
    return f"login:ip:{ip or '-'}"


async def ip_blocked(acc: Accounts, ip: str | None) -> None:
    """E14 when this IP used up its login failures."""
    wait = await acc.limiter.check(_ip_key(ip), LOGIN_IP)
    if wait:
        raise rate_limited(wait)


async def count_failure(acc: Accounts, email: str, ip: str | None) -> None:
    await acc.limiter.hit(_ip_key(ip), LOGIN_IP)
    key = _acct_key(email)
    await acc.limiter.hit(key, LOGIN_ACCOUNT)
    if await acc.limiter.check(key, LOGIN_ACCOUNT):  # the window is full: lock
        await acc.limiter.block(key, LOCK_S)


async def forget_failures(acc: Accounts, email: str) -> None:
    await acc.limiter.reset(_acct_key(email))


async def check_password(
    acc: Accounts, *, email: str, password: str, password_hash: str | None, ip: str | None
) -> bool:
    """Verify a password under the lock: ACCOUNT_LOCKED while locked; a wrong one counts."""
    wait = await acc.limiter.blocked(_acct_key(email))
    if wait:
        raise account_locked(wait)
    if await verify_password_async(password, password_hash):
        return True
    await count_failure(acc, email, ip)
    return False
