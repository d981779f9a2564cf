"""Profile and password change over HTTP (R12.5)."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import PASSWORD, Stack
from tests.accounts.flows import assert_error, csrf, login, signed_in
from tests.accounts.keys_helper import admit, key_for


async def test_profile_read_and_partial_update(stack: Stack) -> None:
    await signed_in(stack, "p@example.com")
    r = await stack.client.get("/api/me/profile")
    assert r.status_code == 200
    profile = r.json()
    assert set(profile) == {
        "id", "email", "username", "role", "state", "email_verified_at", "language",
        "display_currency", "totp_enabled", "created_at",
        "low_balance_threshold_nusd", "low_balance_threshold_usd",  # R15.4
    }  # fmt: skip
    assert profile["role"] == "user" and profile["totp_enabled"] is False

    h = csrf(stack.client)
    r = await stack.client.patch("/api/me/profile", json={"username": " Pat "}, headers=h)
    assert r.json()["username"] == "Pat"
    body = {"language": "zh-CN", "display_currency": "CNY"}
    r = await stack.client.patch("/api/me/profile", json=body, headers=h)
    assert r.json()["username"] == "Pat"  # untouched: only the fields sent change
    assert (r.json()["language"], r.json()["display_currency"]) == ("zh-CN", "CNY")
    r = await stack.client.patch("/api/me/profile", json={"username": None}, headers=h)
    assert r.json()["username"] is None and r.json()["language"] == "zh-CN"
    assert (await stack.client.get("/api/me/profile")).json() == r.json()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"language": "fr"}, "language"),
        ({"display_currency": "EUR"}, "display_currency"),
        ({"username": "x" * 101}, "username"),
        ({"role": "admin"}, "role"),
        ({"state": "active"}, "state"),
    ],
)
async def test_profile_validation(stack: Stack, body: dict[str, object], param: str) -> None:
    await signed_in(stack, "v@example.com")
    r = await stack.client.patch("/api/me/profile", json=body, headers=csrf(stack.client))
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == param


async def test_the_email_cannot_be_changed(stack: Stack) -> None:
    await signed_in(stack, "fixed@example.com")
    h = csrf(stack.client)
    r = await stack.client.patch("/api/me/profile", json={"email": "new@example.com"}, headers=h)
    err = assert_error(r, 400, "INVALID_REQUEST")
    assert err["param"] == "email"
    assert err["message"] == "email: The email cannot be changed; ask an administrator"
    r = await stack.client.patch(
        "/api/me/profile", json={"email": None}, headers={**h, "accept-language": "zh"}
    )
    assert r.json()["error"]["message"] == "email: 邮箱不能修改，请联系管理员"
    assert (await stack.client.get("/api/me/profile")).json()["email"] == "fixed@example.com"


async def test_change_password_keeps_this_session_and_keys_ends_the_others(stack: Stack) -> None:
    user_id = await signed_in(stack, "pw@example.com")
    tablet = stack.browser()
    assert (await login(tablet, "pw@example.com")).status_code == 200
    key = await key_for(stack, user_id)
    h = csrf(stack.client)

    body = {"current_password": "wrong", "password": "next-pw", "password_confirm": "next-pw"}
    r = await stack.client.post("/api/me/password", json=body, headers=h)
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == "current_password"
    body = {"current_password": PASSWORD, "password": "next-pw", "password_confirm": "other"}
    r = await stack.client.post("/api/me/password", json=body, headers=h)
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == "password_confirm"
    body = {"current_password": PASSWORD, "password": "short", "password_confirm": "short"}
    r = await stack.client.post("/api/me/password", json=body, headers=h)
    assert assert_error(r, 400, "INVALID_REQUEST")["param"] == "password"
    assert (await tablet.get("/api/me/profile")).status_code == 200  # nothing changed yet

    body = {"current_password": PASSWORD, "password": "next-pw", "password_confirm": "next-pw"}
    r = await stack.client.post("/api/me/password", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"other_sessions_ended": 1}
    assert (await stack.client.get("/api/me/profile")).status_code == 200
    assert_error(await tablet.get("/api/me/profile"), 401, "AUTH_REQUIRED")
    assert admit(stack, key) is None
    assert_error(await login(tablet, "pw@example.com", PASSWORD), 401, "INVALID_CREDENTIALS")
    assert (await login(tablet, "pw@example.com", "next-pw")).status_code == 200


async def test_wrong_current_passwords_count_towards_the_lock(stack: Stack) -> None:
    await signed_in(stack, "guess@example.com")
    h = csrf(stack.client)
    body = {"current_password": "bad", "password": "next-pw", "password_confirm": "next-pw"}
    for _ in range(5):
        r = await stack.client.post("/api/me/password", json=body, headers=h)
        assert_error(r, 400, "INVALID_REQUEST")
    body["current_password"] = PASSWORD
    r = await stack.client.post("/api/me/password", json=body, headers=h)
    assert_error(r, 429, "ACCOUNT_LOCKED")
    assert int(r.headers["retry-after"]) == 900
