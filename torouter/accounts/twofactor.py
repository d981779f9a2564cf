"""Two-factor authentication with TOTP (R12.6).

    send_code   mail a 6-digit code (10 min, 5 tries; one a minute)
    start       password + mailed code → secret (stored encrypted), QR code, 10 recovery codes
    confirm     a live code → on
    disable     password + code or recovery code → off
    reset       (admins) off, without asking anything

The secret is stored with `crypto.encrypt` under the deployment keyring; recovery codes as
SHA-256 digests, each usable once. Accepted TOTP steps only move forward (`totp_last_step`,
advanced by a conditional UPDATE, so two requests cannot both spend one step).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter import crypto
from torouter.accounts import email_tokens as et
from torouter.accounts import messages as m
from torouter.accounts import totp
from torouter.accounts.emails import totp_code_mail
from torouter.accounts.guard import check_password, count_failure, rate_limited
from torouter.accounts.limits import RESEND_COOLDOWN_S
from torouter.accounts.service import Accounts
from torouter.accounts.tokens import digest, same_digest
from torouter.errors import error
from torouter.storage.tables import recovery_codes, users

__all__ = [
    "Enrollment",
    "confirm",
    "disable",
    "pending_enrollment",
    "recovery_codes_left",
    "reset",
    "send_code",
    "start",
    "verify_second_factor",
]


def _recovery_hash(user_id: int, code: str) -> str:
    return digest("recovery", str(user_id), totp.normalize_recovery_code(code))


async def recovery_codes_left(conn: AsyncConnection, user_id: int) -> int:
    stmt = select(func.count()).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
    )
    return int(await conn.scalar(stmt) or 0)


async def _use_recovery_code(
    conn: AsyncConnection, user_id: int, code: str, now: dt.datetime
) -> bool:
    wanted = _recovery_hash(user_id, code)
    stmt = select(recovery_codes.c.id, recovery_codes.c.code_hash).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
    )
    match = None
    for row in await conn.execute(stmt):  # every code compared: no early exit
        if same_digest(row.code_hash, wanted) and match is None:
            match = row.id
    if match is None:
        return False
    result = await conn.execute(
        update(recovery_codes)
        .where(recovery_codes.c.id == match, recovery_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


async def _use_step(conn: AsyncConnection, user_id: int, step: int) -> bool:
    result = await conn.execute(
        update(users)
        .where(
            users.c.id == user_id,
            or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


def _secret(acc: Accounts, user: RowMapping) -> str | None:
    enc = user["totp_secret_enc"]
    return crypto.decrypt(enc, acc.keyring) if enc else None


def pending_enrollment(acc: Accounts, user: RowMapping) -> tuple[str, str, str] | None:
    """A started, unconfirmed enrolment as (secret, otpauth URI, QR SVG), to show again
    while the user has not confirmed it (the recovery codes were shown once, at start)."""
    if user["totp_enabled"]:
        return None
    secret = _secret(acc, user)
    if secret is None:
        return None
    uri = totp.provisioning_uri(secret, user["email"])
    return secret, uri, totp.qr_svg(uri)


async def verify_second_factor(
    acc: Accounts,
    conn: AsyncConnection,
    user: RowMapping,
    *,
    code: str | None,
    recovery_code: str | None,
    now: dt.datetime,
) -> bool:
    """True when `code` is a live, unused TOTP step or `recovery_code` an unused recovery
    code of `user`; either is spent in `conn`'s transaction."""
    if code:
        secret = _secret(acc, user)
        if secret is None:
            return False
        step = totp.matching_step(secret, code, now, user["totp_last_step"])
        return step is not None and await _use_step(conn, user["id"], step)
    if recovery_code:
        return await _use_recovery_code(conn, user["id"], recovery_code, now)
    return False


async def send_code(acc: Accounts, user: RowMapping, lang: str) -> None:
    if user["totp_enabled"]:
        raise error("CONFLICT", m.TOTP_ON)
    now = acc.clock.now()
    async with acc.db.begin() as conn:
        last = await et.latest_issued(conn, kind=et.TOTP_ENABLE, user_id=user["id"])
        if last is not None and (wait := RESEND_COOLDOWN_S - (now - last).total_seconds()) > 0:
            raise rate_limited(wait, "account")
        code = await et.issue_code(conn, user_id=user["id"], now=now)
    acc.postman.post(totp_code_mail(user["email"], code, user["language"] or lang))


@dataclass(frozen=True, slots=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    qr_svg: str
    recovery_codes: list[str]


async def _password_ok(acc: Accounts, user: RowMapping, password: str, ip: str | None) -> None:
    ok = await check_password(
        acc, email=user["email"], password=password, password_hash=user["password_hash"], ip=ip
    )
    if not ok:
        raise error("E16", m.WRONG_PASSWORD, param="password")


async def start(
    acc: Accounts, user: RowMapping, *, password: str, email_code: str, ip: str | None
) -> Enrollment:
    if user["totp_enabled"]:
        raise error("CONFLICT", m.TOTP_ON)
    await _password_ok(acc, user, password, ip)
    now = acc.clock.now()
    secret = totp.new_secret()
    codes = totp.new_recovery_codes()
    async with acc.db.begin() as conn:
        failure = await et.check_code(conn, user_id=user["id"], code=email_code, now=now)
        if failure is None:
            await conn.execute(
                update(users)
                .where(users.c.id == user["id"])
                .values(
                    totp_secret_enc=crypto.encrypt(secret, acc.keyring),
                    totp_enabled=False,
                    totp_last_step=None,
                    updated_at=now,
                )
            )
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user["id"]))
            await conn.execute(
                recovery_codes.insert(),
                [
                    {"user_id": user["id"], "code_hash": _recovery_hash(user["id"], c)}
                    for c in codes
                ],
            )
    if failure is not None:  # after the commit, which keeps the counted try
        raise failure
    uri = totp.provisioning_uri(secret, user["email"])
    return Enrollment(secret, uri, totp.qr_svg(uri), codes)


async def confirm(acc: Accounts, user: RowMapping, *, code: str) -> None:
    if user["totp_enabled"]:
        raise error("CONFLICT", m.TOTP_ON)
    secret = _secret(acc, user)
    if secret is None:
        raise error("CONFLICT", m.TOTP_NOT_STARTED)
    step = totp.matching_step(secret, code, acc.clock.now(), user["totp_last_step"])
    if step is None:
        raise error("E16", m.TOTP_WRONG, param="code")
    async with acc.db.begin() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == user["id"], users.c.totp_enabled.is_(False))
            .values(totp_enabled=True, totp_last_step=step, updated_at=acc.clock.now())
        )


async def disable(
    acc: Accounts,
    user: RowMapping,
    *,
    password: str,
    code: str | None,
    recovery_code: str | None,
    ip: str | None,
) -> None:
    if not user["totp_enabled"]:
        raise error("CONFLICT", m.TOTP_OFF)
    if not code and not recovery_code:
        raise error("E16", m.NEED_FACTOR, param="code")
    await _password_ok(acc, user, password, ip)
    now = acc.clock.now()
    async with acc.db.begin() as conn:
        ok = await verify_second_factor(
            acc, conn, user, code=code, recovery_code=recovery_code, now=now
        )
        if ok:
            await reset(conn, user["id"], now)
    if not ok:
        await count_failure(acc, user["email"], ip)
        raise error("E16", m.TOTP_WRONG, param="code" if code else "recovery_code")


async def reset(conn: AsyncConnection, user_id: int, now: dt.datetime) -> bool:
    """Turn TOTP off and forget its secret and recovery codes; False if the user is unknown."""
    result = await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(totp_enabled=False, totp_secret_enc=None, totp_last_step=None, updated_at=now)
    )
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await et.retire(conn, kind=et.LOGIN, user_id=user_id, now=now)
    return result.rowcount == 1
