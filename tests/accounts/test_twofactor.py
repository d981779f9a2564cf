"""TOTP two-factor authentication over HTTP (R12.6): enable, sign in, recover, disable."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pyotp
from sqlalchemy import select

from tests.accounts.admin_helpers import make_admin
from tests.accounts.conftest import PASSWORD, Stack
from tests.accounts.flows import assert_error, csrf, login, signed_in
from torouter import crypto
from torouter.storage.tables import recovery_codes, users


@dataclass
class Enrolled:
    user_id: int
    secret: str
    recovery_codes: list[str]


def code(stack: Stack, secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(stack.clock.now(), counter_offset=steps)


async def email_code(stack: Stack, client: httpx.AsyncClient, email: str) -> str:
    r = await client.post("/api/me/2fa/email-code", headers=csrf(client))
    assert r.status_code == 202, r.text
    return (await stack.last_mail(email)).code


async def enroll(stack: Stack, email: str, client: httpx.AsyncClient | None = None) -> Enrolled:
    """A signed-in user with TOTP on; the session stays signed in."""
    c = client or stack.client
    user_id = await signed_in(stack, email, client=c)
    mailed = await email_code(stack, c, email)
    body = {"password": PASSWORD, "email_code": mailed}
    r = await c.post("/api/me/2fa/enable/start", json=body, headers=csrf(c))
    assert r.status_code == 200, r.text
    e = Enrolled(user_id, r.json()["secret"], r.json()["recovery_codes"])
    r = await c.post(
        "/api/me/2fa/enable/confirm", json={"code": code(stack, e.secret)}, headers=csrf(c)
    )
    assert r.status_code == 200 and r.json()["enabled"] is True, r.text
    stack.clock.advance(seconds=30)  # the confirming step is spent
    return e


async def ticket_for(client: httpx.AsyncClient, email: str) -> str:
    r = await login(client, email)
    err = assert_error(r, 401, "TOTP_REQUIRED")
    assert err["message"] == "Two-factor code required"
    assert "set-cookie" not in r.headers
    return str(r.json()["login_ticket"])


async def test_enable_returns_qr_secret_and_recovery_codes_stored_safely(stack: Stack) -> None:
    await signed_in(stack, "t@example.com")
    r = await stack.client.get("/api/me/2fa")
    assert r.json() == {"enabled": False, "pending": False, "recovery_codes_left": 0}
    mailed = await email_code(stack, stack.client, "t@example.com")
    assert len(mailed) == 6

    h = csrf(stack.client)
    r = await stack.client.post(
        "/api/me/2fa/enable/start", json={"password": "wrong", "email_code": mailed}, headers=h
    )
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == "password"
    r = await stack.client.post(
        "/api/me/2fa/enable/start", json={"password": PASSWORD, "email_code": mailed}, headers=h
    )
    assert r.status_code == 200, r.text
    e = r.json()
    secret = e["secret"]
    assert len(secret) == 32 and pyotp.TOTP(secret).byte_secret()
    assert e["otpauth_uri"].startswith("otpauth://totp/ToRouter:t%40example.com?secret=")
    assert "issuer=ToRouter" in e["otpauth_uri"]
    assert e["qr_svg"].startswith("<svg") and "<path" in e["qr_svg"]
    assert "http" not in e["qr_svg"].replace("http://www.w3.org/2000/svg", "")
    assert len(e["recovery_codes"]) == 10 and len(set(e["recovery_codes"])) == 10

    async with stack.db.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.email == "t@example.com"))).one()
        hashes = (await conn.execute(select(recovery_codes.c.code_hash))).scalars().all()
    assert row.totp_secret_enc != secret and secret not in row.totp_secret_enc
    assert crypto.decrypt(row.totp_secret_enc, stack.accounts.keyring) == secret
    assert row.totp_enabled is False
    assert len(hashes) == 10 and not set(hashes) & set(e["recovery_codes"])
    assert (await stack.client.get("/api/me/2fa")).json()["pending"] is True

    r = await stack.client.post("/api/me/2fa/enable/confirm", json={"code": "000000"}, headers=h)
    assert assert_error(r, 400, "INVALID_REQUEST")["message"] == "Wrong two-factor code"
    r = await stack.client.post(
        "/api/me/2fa/enable/confirm", json={"code": code(stack, secret)}, headers=h
    )
    assert r.json() == {"enabled": True, "pending": False, "recovery_codes_left": 10}
    assert (await stack.client.get("/api/me/profile")).json()["totp_enabled"] is True
    r = await stack.client.post("/api/me/2fa/email-code", headers=h)
    assert_error(r, 409, "CONFLICT")


async def test_mailed_code_allows_five_tries_and_ten_minutes(stack: Stack) -> None:
    await signed_in(stack, "m@example.com")
    h = csrf(stack.client)
    mailed = await email_code(stack, stack.client, "m@example.com")
    wrong = "000000" if mailed != "000000" else "111111"
    for i in range(5):
        body = {"password": PASSWORD, "email_code": wrong}
        r = await stack.client.post("/api/me/2fa/enable/start", json=body, headers=h)
        err = assert_error(r, 400, "INVALID_REQUEST")
        assert err["param"] == "email_code"
        assert err["message"] == (
            "Wrong code" if i < 4 else "The code has expired or was used up; request a new one"
        )
    body = {"password": PASSWORD, "email_code": mailed}
    r = await stack.client.post("/api/me/2fa/enable/start", json=body, headers=h)
    assert_error(r, 400, "INVALID_REQUEST")  # used up by the wrong tries

    r = await stack.client.post("/api/me/2fa/email-code", headers=h)
    assert_error(r, 429, "RATE_LIMIT_EXCEEDED")  # one a minute
    stack.clock.advance(seconds=60)
    mailed = await email_code(stack, stack.client, "m@example.com")
    stack.clock.advance(minutes=10, seconds=1)
    body = {"password": PASSWORD, "email_code": mailed}
    r = await stack.client.post("/api/me/2fa/enable/start", json=body, headers=h)
    assert_error(r, 400, "INVALID_REQUEST")  # expired


async def test_login_with_totp_and_no_step_reused(stack: Stack) -> None:
    e = await enroll(stack, "two@example.com")
    phone = stack.browser()
    ticket = await ticket_for(phone, "two@example.com")
    assert_error(await phone.get("/api/me/profile"), 401, "AUTH_REQUIRED")
    now_code = code(stack, e.secret)
    r = await phone.post("/api/auth/login/totp", json={"login_ticket": ticket, "code": now_code})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["totp_enabled"] is True
    assert (await phone.get("/api/me/profile")).status_code == 200
    # The ticket is single use.
    r = await phone.post("/api/auth/login/totp", json={"login_ticket": ticket, "code": now_code})
    assert_error(r, 401, "AUTH_REQUIRED")

    # The same code (same step) again, on a fresh ticket: refused.
    laptop = stack.browser()
    ticket = await ticket_for(laptop, "two@example.com")
    r = await laptop.post("/api/auth/login/totp", json={"login_ticket": ticket, "code": now_code})
    err = assert_error(r, 401, "INVALID_CREDENTIALS")
    assert err["message"] == "Wrong two-factor code" and err["param"] == "code"
    # The previous step is older than the one used: refused too. The next one works.
    r = await laptop.post(
        "/api/auth/login/totp", json={"login_ticket": ticket, "code": code(stack, e.secret, -1)}
    )
    assert_error(r, 401, "INVALID_CREDENTIALS")
    stack.clock.advance(seconds=30)
    r = await laptop.post(
        "/api/auth/login/totp", json={"login_ticket": ticket, "code": code(stack, e.secret)}
    )
    assert r.status_code == 200, r.text


async def test_codes_one_step_off_are_accepted_two_are_not(stack: Stack) -> None:
    e = await enroll(stack, "drift@example.com")
    stack.clock.advance(minutes=5)
    c = stack.browser()
    ticket = await ticket_for(c, "drift@example.com")
    for steps in (-2, 2):
        r = await c.post(
            "/api/auth/login/totp",
            json={"login_ticket": ticket, "code": code(stack, e.secret, steps)},
        )
        assert_error(r, 401, "INVALID_CREDENTIALS")
    r = await c.post(
        "/api/auth/login/totp", json={"login_ticket": ticket, "code": code(stack, e.secret, 1)}
    )
    assert r.status_code == 200, r.text


async def test_five_wrong_codes_end_the_ticket(stack: Stack) -> None:
    e = await enroll(stack, "five@example.com")
    c = stack.browser()
    ticket = await ticket_for(c, "five@example.com")
    good = code(stack, e.secret)
    bad = "000000" if good != "000000" else "111111"
    for i in range(5):
        r = await c.post("/api/auth/login/totp", json={"login_ticket": ticket, "code": bad})
        if i < 4:
            assert_error(r, 401, "INVALID_CREDENTIALS")
        else:
            err = assert_error(r, 401, "AUTH_REQUIRED")
            assert err["message"] == "Too many wrong codes; sign in again"
    r = await c.post("/api/auth/login/totp", json={"login_ticket": ticket, "code": good})
    err = assert_error(r, 401, "AUTH_REQUIRED")
    assert err["message"] == "The login has expired; sign in again"
    ticket = await ticket_for(c, "five@example.com")  # start over
    r = await c.post("/api/auth/login/totp", json={"login_ticket": ticket, "code": good})
    assert r.status_code == 200, r.text


async def test_tickets_expire_after_five_minutes(stack: Stack) -> None:
    e = await enroll(stack, "slow@example.com")
    c = stack.browser()
    ticket = await ticket_for(c, "slow@example.com")
    stack.clock.advance(minutes=5, seconds=1)
    r = await c.post(
        "/api/auth/login/totp", json={"login_ticket": ticket, "code": code(stack, e.secret)}
    )
    assert_error(r, 401, "AUTH_REQUIRED")


async def test_recovery_codes_work_once(stack: Stack) -> None:
    e = await enroll(stack, "rc@example.com")
    c = stack.browser()
    first = e.recovery_codes[0]
    ticket = await ticket_for(c, "rc@example.com")
    typed = first.upper().replace("-", " ")  # retyped loosely
    r = await c.post("/api/auth/login/totp", json={"login_ticket": ticket, "recovery_code": typed})
    assert r.status_code == 200, r.text
    assert (await c.get("/api/me/2fa")).json()["recovery_codes_left"] == 9
    ticket = await ticket_for(stack.browser(), "rc@example.com")
    r = await c.post("/api/auth/login/totp", json={"login_ticket": ticket, "recovery_code": first})
    err = assert_error(r, 401, "INVALID_CREDENTIALS")
    assert err["param"] == "recovery_code"
    both = {"login_ticket": ticket, "code": "123456", "recovery_code": first}
    assert_error(await c.post("/api/auth/login/totp", json=both), 400, "INVALID_REQUEST")


async def test_disable_needs_password_and_a_second_factor(stack: Stack) -> None:
    e = await enroll(stack, "off@example.com")
    h = csrf(stack.client)
    url = "/api/me/2fa/disable"
    r = await stack.client.post(url, json={"password": PASSWORD}, headers=h)
    assert_error(r, 400, "INVALID_REQUEST")
    r = await stack.client.post(
        url, json={"password": "wrong", "code": code(stack, e.secret)}, headers=h
    )
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == "password"
    r = await stack.client.post(url, json={"password": PASSWORD, "code": "000000"}, headers=h)
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == "code"
    r = await stack.client.post(
        url, json={"password": PASSWORD, "recovery_code": e.recovery_codes[3]}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"enabled": False, "pending": False, "recovery_codes_left": 0}
    async with stack.db.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == e.user_id))).one()
        left = (await conn.execute(select(recovery_codes))).all()
    assert row.totp_secret_enc is None and left == []
    r = await login(stack.browser(), "off@example.com")
    assert r.status_code == 200
    r = await stack.client.post(url, json={"password": PASSWORD, "code": "123456"}, headers=h)
    assert_error(r, 409, "CONFLICT")


async def test_admin_can_reset_a_users_totp(stack: Stack) -> None:
    e = await enroll(stack, "lost@example.com")
    admin = await make_admin(stack)
    r = await admin.post(f"/api/admin/users/{e.user_id}/2fa/reset")
    assert r.status_code == 200, r.text
    assert r.json()["totp_enabled"] is False
    r = await login(stack.browser(), "lost@example.com")
    assert r.status_code == 200, r.text
    r = await stack.client.post("/api/admin/users/999/2fa/reset", headers=admin.bearer)
    assert_error(r, 404, "NOT_FOUND")
    r = await stack.client.get("/api/admin/audit", headers=admin.bearer)
    assert any(a["action"] == "user.2fa_reset" for a in r.json()["data"])
