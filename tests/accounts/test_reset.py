"""Password reset by email over HTTP (R12.3, R12.4)."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from tests.accounts.conftest import BASE, PASSWORD, Stack
from tests.accounts.flows import assert_error, csrf, login, signed_in, signup, verified_user
from tests.accounts.keys_helper import admit, key_for
from torouter.storage.tables import users

NEW = "brand-new-pw"


async def forgot(stack: Stack, email: str, ip: str | None = None) -> dict[str, str]:
    client = stack.browser(ip=ip) if ip else stack.client
    r = await client.post("/api/auth/password/forgot", json={"email": email})
    assert r.status_code == 202, r.text
    return dict(r.json())


async def reset(stack: Stack, token: str, password: str = NEW) -> httpx.Response:
    body = {"token": token, "password": password, "password_confirm": password}
    return await stack.client.post("/api/auth/password/reset", json=body)


async def test_same_answer_whether_or_not_the_address_exists(stack: Stack) -> None:
    await verified_user(stack, "real@example.com")
    known = await forgot(stack, "real@example.com")
    unknown = await forgot(stack, "ghost@example.com")
    assert known == unknown
    mail = await stack.last_mail("real@example.com")
    assert mail.message["Subject"] == "Reset your ToRouter password"
    assert mail.link.startswith(f"{BASE}/reset?token=")
    assert await stack.mails("ghost@example.com") == []


async def test_reset_ends_every_session_and_keeps_keys_balance_and_totp(stack: Stack) -> None:
    user_id = await signed_in(stack, "r@example.com")
    phone = stack.browser()
    assert (await login(phone, "r@example.com")).status_code == 200
    key = await key_for(stack, user_id)
    async with stack.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(balance_nusd=7))
    await forgot(stack, "r@example.com")
    token = (await stack.last_mail("r@example.com")).token

    body = {"token": token, "password": NEW, "password_confirm": NEW + "x"}
    r = await stack.client.post("/api/auth/password/reset", json=body)
    assert_error(r, 400, "INVALID_REQUEST")
    r = await reset(stack, token)
    assert r.status_code == 200, r.text

    for browser in (stack.client, phone):
        assert_error(await browser.get("/api/me/profile"), 401, "AUTH_REQUIRED")
    assert_error(await login(stack.client, "r@example.com", PASSWORD), 401, "INVALID_CREDENTIALS")
    assert (await login(stack.client, "r@example.com", NEW)).status_code == 200
    assert admit(stack, key) is None
    async with stack.db.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().one()
    assert row["balance_nusd"] == 7 and row["state"] == "active"

    r = await reset(stack, token, "another-pw")
    assert_error(r, 400, "INVALID_REQUEST")
    assert r.json()["error"]["message"] == "This link has already been used"


async def test_reset_links_expire_after_an_hour_and_older_ones_die(stack: Stack) -> None:
    await verified_user(stack, "x@example.com")
    await forgot(stack, "x@example.com")
    stack.clock.advance(minutes=30)
    await forgot(stack, "x@example.com")
    older, newer = [m.token for m in await stack.mails("x@example.com")][-2:]
    stack.clock.advance(minutes=30, seconds=1)
    err = assert_error(await reset(stack, older), 400, "INVALID_REQUEST")
    assert err["message"] == "This link has expired; request a new one"
    assert (await reset(stack, newer)).status_code == 200
    await forgot(stack, "x@example.com")
    stack.clock.advance(hours=1, seconds=1)
    token = (await stack.last_mail("x@example.com")).token
    assert_error(await reset(stack, token), 400, "INVALID_REQUEST")


async def test_reset_ends_a_lock(stack: Stack) -> None:
    await verified_user(stack, "locked@example.com")
    for _ in range(5):
        await login(stack.client, "locked@example.com", "bad")
    assert_error(await login(stack.client, "locked@example.com"), 429, "ACCOUNT_LOCKED")
    await forgot(stack, "locked@example.com")
    await reset(stack, (await stack.last_mail("locked@example.com")).token)
    assert (await login(stack.client, "locked@example.com", NEW)).status_code == 200


async def test_reset_of_an_unverified_account_verifies_it(stack: Stack) -> None:
    user_id = (await signup(stack, "u@example.com")).json()["id"]
    key = await key_for(stack, user_id)
    assert admit(stack, key) == "USER_INACTIVE"
    await forgot(stack, "u@example.com")
    mails = await stack.mails("u@example.com")
    assert [m.message["Subject"] for m in mails][-1] == "Reset your ToRouter password"
    await reset(stack, mails[-1].token)
    r = await login(stack.client, "u@example.com", NEW)
    assert r.json()["user"]["state"] == "active"
    assert admit(stack, key) is None


async def test_five_per_address_per_hour_then_silence(stack: Stack) -> None:
    await verified_user(stack, "many@example.com")
    before = len(await stack.mails("many@example.com"))
    answers = [await forgot(stack, "many@example.com") for _ in range(7)]
    assert all(a == answers[0] for a in answers)
    assert len(await stack.mails("many@example.com")) - before == 5
    stack.clock.advance(hours=1)
    await forgot(stack, "many@example.com")
    assert len(await stack.mails("many@example.com")) - before == 6


async def test_twenty_per_ip_per_hour_then_silence(stack: Stack) -> None:
    await verified_user(stack, "target@example.com")
    for i in range(20):
        await forgot(stack, f"nobody{i}@example.com", ip="192.0.2.5")
    await forgot(stack, "target@example.com", ip="192.0.2.5")  # the 21st: 202, no mail
    subjects = [m.message["Subject"] for m in await stack.mails("target@example.com")]
    assert "Reset your ToRouter password" not in subjects
    await forgot(stack, "target@example.com", ip="192.0.2.6")
    subjects = [m.message["Subject"] for m in await stack.mails("target@example.com")]
    assert subjects.count("Reset your ToRouter password") == 1


async def test_reset_mail_follows_the_users_language(stack: Stack) -> None:
    await signed_in(stack, "zh@example.com")
    r = await stack.client.patch(
        "/api/me/profile", json={"language": "zh-CN"}, headers=csrf(stack.client)
    )
    assert r.status_code == 200
    await forgot(stack, "zh@example.com")
    mail = await stack.last_mail("zh@example.com")
    assert mail.message["Subject"] == "重置你的 ToRouter 密码"
    assert mail.link in mail.text
