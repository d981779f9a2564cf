"""Sign-up and email verification over HTTP (R12.1, R12.2), mails read from a real SMTP server."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from fastapi import Depends
from sqlalchemy import select

from tests.accounts.admin_helpers import make_admin
from tests.accounts.conftest import BASE, PASSWORD, Stack
from tests.accounts.flows import assert_error, csrf, login, signup, verify_from_mail
from tests.accounts.keys_helper import admit, key_for
from torouter.api.auth import require_verified
from torouter.storage.tables import email_tokens


async def test_signup_mails_a_single_use_link_that_activates_the_account(stack: Stack) -> None:
    r = await signup(stack, "Alice@Example.com")
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == "alice@example.com"
    assert user["state"] == "unverified" and user["email_verified_at"] is None

    mail = await stack.last_mail("alice@example.com")
    assert mail.message["Subject"] == "Verify your ToRouter email"
    assert mail.link.startswith(f"{BASE}/verify?token=")
    async with stack.db.connect() as conn:
        stored = (await conn.execute(select(email_tokens))).mappings().one()
    assert stored["kind"] == "verify"
    assert mail.token not in str(dict(stored))  # only the digest is kept
    assert stored["token_hash"] == hashlib.sha256(f"verify:{mail.token}".encode()).hexdigest()
    assert stored["expires_at"] - stored["created_at"] == dt.timedelta(hours=24)

    # Unverified users may sign in (to the verification banner).
    r = await login(stack.client, "alice@example.com")
    assert r.status_code == 200 and r.json()["user"]["state"] == "unverified"

    r = await stack.client.post("/api/auth/verify", json={"token": mail.token})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active" and r.json()["email_verified_at"]
    r = await stack.client.get("/api/me/profile")
    assert r.json()["state"] == "active"

    r = await stack.client.post("/api/auth/verify", json={"token": mail.token})
    err = assert_error(r, 400, "INVALID_REQUEST")
    assert err["message"] == "This link has already been used" and err["param"] == "token"


async def test_expired_and_unknown_links(stack: Stack) -> None:
    await signup(stack, "late@example.com")
    mail = await stack.last_mail("late@example.com")
    stack.clock.advance(hours=24, seconds=1)
    r = await stack.client.post("/api/auth/verify", json={"token": mail.token})
    err = assert_error(r, 400, "INVALID_REQUEST")
    assert err["message"] == "This link has expired; request a new one"
    r = await stack.client.post("/api/auth/verify", json={"token": "x" * 43})
    assert assert_error(r, 400, "INVALID_REQUEST")["message"] == "This link is invalid"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"email": "a@example.com", "password": "abcdef", "password_confirm": "abcdeg"},
            "password_confirm",
        ),
        ({"email": "a@example.com", "password": "abcde", "password_confirm": "abcde"}, "password"),
        ({"email": "not-an-email", "password": "abcdef", "password_confirm": "abcdef"}, "email"),
        ({"email": "a@example.com", "password": "abcdef"}, "password_confirm"),
        (
            {
                "email": "a@example.com",
                "password": "abcdef",
                "password_confirm": "abcdef",
                "role": "admin",
            },
            "role",
        ),
    ],
)
async def test_signup_validation(stack: Stack, body: dict[str, str], param: str) -> None:
    r = await stack.client.post("/api/auth/signup", json=body)
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == param
    assert await stack.mails() == []


async def test_password_mismatch_message_in_chinese(stack: Stack) -> None:
    body = {"email": "a@example.com", "password": "abcdef", "password_confirm": "abcdeg"}
    r = await stack.client.post("/api/auth/signup", json=body, headers={"accept-language": "zh-CN"})
    assert r.json()["error"]["message"] == "password_confirm: 两次输入的密码不一致"


async def test_email_taken_is_409_whatever_the_case(stack: Stack) -> None:
    assert (await signup(stack, "bob@example.com")).status_code == 201
    r = await signup(stack, "  BOB@example.COM ")
    err = assert_error(r, 409, "EMAIL_TAKEN")
    assert "reset the password" in err["message"]
    assert len(await stack.mails("bob@example.com")) == 1


async def test_allowed_domains_and_closing_signup(stack: Stack) -> None:
    admin = await make_admin(stack)
    r = await stack.client.get("/api/admin/settings", headers=admin.bearer)
    assert r.json()["signup"] == {"enabled": True, "allowed_domains": [], "read_only": []}
    body = {"signup": {"allowed_domains": ["Example.com", "@company.org", "example.com"]}}
    r = await admin.patch("/api/admin/settings", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["signup"]["allowed_domains"] == ["example.com", "company.org"]

    r = await signup(stack, "eve@elsewhere.net")
    err = assert_error(r, 400, "EMAIL_DOMAIN_NOT_ALLOWED")
    assert err["message"] == "Allowed email domains: example.com, company.org"
    r = await signup(stack, "eve@sub.example.com")  # exact domains only
    assert_error(r, 400, "EMAIL_DOMAIN_NOT_ALLOWED")
    r = await stack.client.post(
        "/api/auth/signup",
        json={"email": "eve@x.net", "password": PASSWORD, "password_confirm": PASSWORD},
        headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"},
    )
    assert r.json()["error"]["message"] == "允许的邮箱域名：example.com, company.org"
    assert (await signup(stack, "eve@COMPANY.org")).status_code == 201

    r = await admin.patch("/api/admin/settings", json={"signup": {"enabled": False}})
    assert r.json()["signup"] == {
        "enabled": False,
        "allowed_domains": ["example.com", "company.org"],
        "read_only": [],
    }
    err = assert_error(await signup(stack, "late@example.com"), 403, "FORBIDDEN")
    assert err["message"] == "Sign-up is closed on this instance"
    r = await admin.patch(
        "/api/admin/settings", json={"signup": {"enabled": True, "allowed_domains": []}}
    )
    assert r.status_code == 200
    assert (await signup(stack, "late@anything.io")).status_code == 201


async def test_signup_is_limited_to_ten_per_ip_per_hour(stack: Stack) -> None:
    client = stack.browser(ip="198.51.100.7")
    for i in range(9):
        assert (await signup(stack, f"u{i}@example.com", client=client)).status_code == 201
    # Failed attempts count too: a taken address cannot be swept past the limit.
    assert (await signup(stack, "u0@example.com", client=client)).status_code == 409
    r = await signup(stack, "u10@example.com", client=client)
    assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
    assert int(r.headers["retry-after"]) == 3600
    assert r.headers["x-torouter-limit"] == "ip"
    other = stack.browser(ip="198.51.100.8")
    assert (await signup(stack, "u10@example.com", client=other)).status_code == 201
    stack.clock.advance(hours=1)
    assert (await signup(stack, "u11@example.com", client=client)).status_code == 201


async def test_resend_needs_a_minute_between_mails(stack: Stack) -> None:
    await signup(stack, "slow@example.com")
    assert (await login(stack.client, "slow@example.com")).status_code == 200
    r = await stack.client.post("/api/auth/verify/resend")  # no CSRF header
    assert_error(r, 403, "CSRF_FAILED")
    r = await stack.client.post("/api/auth/verify/resend", headers=csrf(stack.client))
    err = assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert err["message"] == "rate limit exceeded"
    stack.clock.advance(seconds=61)
    r = await stack.client.post("/api/auth/verify/resend", headers=csrf(stack.client))
    assert r.status_code == 202, r.text
    first, second = await stack.mails("slow@example.com")
    assert first.token != second.token
    r = await stack.client.post("/api/auth/verify", json={"token": second.token})
    assert r.status_code == 200
    stack.clock.advance(seconds=61)
    r = await stack.client.post("/api/auth/verify/resend", headers=csrf(stack.client))
    assert_error(r, 409, "CONFLICT")


async def test_resend_by_address_never_tells_whether_it_exists(stack: Stack) -> None:
    await signup(stack, "known@example.com")
    stack.clock.advance(seconds=61)
    anon = stack.browser()
    r1 = await anon.post("/api/auth/verify/resend", json={"email": "known@example.com"})
    r2 = await anon.post("/api/auth/verify/resend", json={"email": "nobody@example.com"})
    assert r1.status_code == r2.status_code == 202
    assert r1.json() == r2.json()
    assert len(await stack.mails("known@example.com")) == 2
    assert await stack.mails("nobody@example.com") == []
    # Within the cooldown: the same answer, no mail.
    r3 = await anon.post("/api/auth/verify/resend", json={"email": "known@example.com"})
    assert r3.status_code == 202 and len(await stack.mails("known@example.com")) == 2
    assert_error(await anon.post("/api/auth/verify/resend"), 401, "AUTH_REQUIRED")


async def test_keys_of_unverified_users_are_inactive_until_verified(stack: Stack) -> None:
    user_id = (await signup(stack, "keys@example.com")).json()["id"]
    key = await key_for(stack, user_id)
    assert admit(stack, key) == "USER_INACTIVE"
    assert (await verify_from_mail(stack, "keys@example.com")).status_code == 200
    assert admit(stack, key) is None  # the snapshot was reloaded before the answer


async def test_unverified_users_cannot_do_what_needs_verification(stack: Stack) -> None:
    """`require_verified` guards key creation (R12.2): 403 EMAIL_NOT_VERIFIED until verified."""

    async def create_key() -> dict[str, bool]:
        return {"created": True}

    stack.app.add_api_route(
        "/api/me/keys-probe", create_key, methods=["POST"], dependencies=[Depends(require_verified)]
    )
    await signup(stack, "new@example.com")
    await login(stack.client, "new@example.com")
    r = await stack.client.post("/api/me/keys-probe", headers=csrf(stack.client))
    assert_error(r, 403, "EMAIL_NOT_VERIFIED")
    await verify_from_mail(stack, "new@example.com")
    r = await stack.client.post("/api/me/keys-probe", headers=csrf(stack.client))
    assert r.status_code == 200, r.text
