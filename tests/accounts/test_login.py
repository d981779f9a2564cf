"""Login sessions, CSRF, logout, session lists and brute-force locks over HTTP (R12.3)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.accounts.admin_helpers import make_admin
from tests.accounts.conftest import PASSWORD, Stack
from tests.accounts.flows import assert_error, csrf, login, signed_in, verified_user
from torouter.storage.tables import sessions

DAY = 86400


def _cookie_attrs(set_cookie: list[str], name: str) -> str:
    (line,) = [c for c in set_cookie if c.startswith(f"{name}=")]
    return line.lower()


async def test_login_sets_httponly_lax_cookies_and_stores_only_a_digest(stack: Stack) -> None:
    await verified_user(stack, "ann@example.com")
    r = await login(stack.client, "ann@example.com")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["email"] == "ann@example.com"
    set_cookie = r.headers.get_list("set-cookie")
    session = _cookie_attrs(set_cookie, "torouter_session")
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "max-age=2592000" in session and "secure" not in session
    csrf_cookie = _cookie_attrs(set_cookie, "torouter_csrf")
    assert "httponly" not in csrf_cookie and "samesite=lax" in csrf_cookie
    assert body["csrf_token"] == stack.client.cookies["torouter_csrf"]
    token = stack.client.cookies["torouter_session"]
    async with stack.db.connect() as conn:
        row = (await conn.execute(select(sessions))).mappings().one()
    assert token not in str(dict(row)) and len(row["token_hash"]) == 64
    assert row["ip"] == "127.0.0.1"


async def test_cookies_are_secure_under_https(stack: Stack) -> None:
    await verified_user(stack, "sec@example.com")
    stack.accounts.base_url = "https://console.example.com"
    r = await login(stack.client, "sec@example.com")
    for name in ("torouter_session", "torouter_csrf"):
        assert "secure" in _cookie_attrs(r.headers.get_list("set-cookie"), name)


async def test_login_never_tells_whether_an_address_exists(stack: Stack) -> None:
    await verified_user(stack, "real@example.com")
    wrong = await login(stack.client, "real@example.com", "not-the-password")
    unknown = await login(stack.client, "ghost@example.com", "not-the-password")
    assert_error(wrong, 401, "INVALID_CREDENTIALS")
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


async def test_session_authenticates_me_routes(stack: Stack) -> None:
    assert_error(await stack.client.get("/api/me/profile"), 401, "AUTH_REQUIRED")
    await signed_in(stack, "me@example.com")
    r = await stack.client.get("/api/me/profile")
    assert r.status_code == 200 and r.json()["email"] == "me@example.com"


async def test_csrf_is_required_on_unsafe_methods(stack: Stack) -> None:
    await signed_in(stack, "c@example.com")
    good = stack.client.cookies["torouter_csrf"]
    body = {"username": "cee"}
    assert_error(await stack.client.patch("/api/me/profile", json=body), 403, "CSRF_FAILED")
    r = await stack.client.patch("/api/me/profile", json=body, headers={"x-csrf-token": "nope"})
    assert_error(r, 403, "CSRF_FAILED")
    # Another session's token is no good here.
    other = stack.browser()
    await signed_in(stack, "d@example.com", client=other)
    r = await stack.client.patch(
        "/api/me/profile", json=body, headers={"x-csrf-token": other.cookies["torouter_csrf"]}
    )
    assert_error(r, 403, "CSRF_FAILED")
    # The header alone, without the cookie to match (double submit): refused.
    session = stack.client.cookies["torouter_session"]
    bare = stack.browser()
    r = await bare.patch(
        "/api/me/profile",
        json=body,
        headers={"x-csrf-token": good, "cookie": f"torouter_session={session}"},
    )
    assert_error(r, 403, "CSRF_FAILED")
    r = await stack.client.patch("/api/me/profile", json=body, headers=csrf(stack.client))
    assert r.status_code == 200 and r.json()["username"] == "cee"
    # Safe methods need none.
    assert (await stack.client.get("/api/me/sessions")).status_code == 200


async def test_csrf_token_may_come_as_a_form_field(stack: Stack) -> None:
    await signed_in(stack, "form@example.com")
    token = stack.client.cookies["torouter_csrf"]
    r = await stack.client.post("/api/auth/logout", data={"csrf_token": "wrong"})
    assert_error(r, 403, "CSRF_FAILED")
    r = await stack.client.post("/api/auth/logout", data={"csrf_token": token})
    assert r.status_code == 204


async def test_logout_ends_the_session_and_clears_cookies(stack: Stack) -> None:
    await signed_in(stack, "out@example.com")
    token = stack.client.cookies["torouter_session"]
    assert_error(await stack.client.post("/api/auth/logout"), 403, "CSRF_FAILED")
    r = await stack.client.post("/api/auth/logout", headers=csrf(stack.client))
    assert r.status_code == 204
    assert "torouter_session" not in stack.client.cookies
    replay = stack.browser()
    r = await replay.get("/api/me/profile", headers={"cookie": f"torouter_session={token}"})
    assert_error(r, 401, "AUTH_REQUIRED")


async def test_list_and_revoke_sessions(stack: Stack) -> None:
    await signed_in(stack, "many@example.com")
    laptop = stack.browser()
    assert (await login(laptop, "many@example.com")).status_code == 200
    r = await stack.client.get("/api/me/sessions")
    page = r.json()
    assert page["total"] == 2 and page["page"] == 1
    current = [s for s in page["data"] if s["current"]]
    others = [s for s in page["data"] if not s["current"]]
    assert len(current) == 1 and len(others) == 1
    assert set(current[0]) == {"id", "created_at", "last_seen_at", "ip", "user_agent", "current"}

    r = await stack.client.delete(f"/api/me/sessions/{others[0]['id']}")
    assert_error(r, 403, "CSRF_FAILED")
    r = await stack.client.delete(f"/api/me/sessions/{others[0]['id']}", headers=csrf(stack.client))
    assert r.status_code == 204
    assert_error(await laptop.get("/api/me/profile"), 401, "AUTH_REQUIRED")
    r = await stack.client.delete(f"/api/me/sessions/{others[0]['id']}", headers=csrf(stack.client))
    assert_error(r, 404, "NOT_FOUND")

    # Someone else's session is not found either.
    stranger = stack.browser()
    await signed_in(stack, "stranger@example.com", client=stranger)
    theirs = (await stranger.get("/api/me/sessions")).json()["data"][0]["id"]
    r = await stack.client.delete(f"/api/me/sessions/{theirs}", headers=csrf(stack.client))
    assert_error(r, 404, "NOT_FOUND")
    assert (await stranger.get("/api/me/profile")).status_code == 200

    r = await stack.client.delete(
        f"/api/me/sessions/{current[0]['id']}", headers=csrf(stack.client)
    )
    assert r.status_code == 204 and "torouter_session" not in stack.client.cookies


async def test_sessions_expire_after_7_idle_days(stack: Stack) -> None:
    await signed_in(stack, "idle@example.com")
    stack.clock.advance(days=6, hours=23)
    assert (await stack.client.get("/api/me/profile")).status_code == 200  # touches it
    stack.clock.advance(days=6, hours=23)
    assert (await stack.client.get("/api/me/profile")).status_code == 200
    stack.clock.advance(days=7, seconds=1)
    assert_error(await stack.client.get("/api/me/profile"), 401, "AUTH_REQUIRED")


async def test_sessions_end_30_days_after_login_however_active(stack: Stack) -> None:
    await signed_in(stack, "busy@example.com")
    for _ in range(4):
        stack.clock.advance(days=7, seconds=-60)
        assert (await stack.client.get("/api/me/profile")).status_code == 200
    stack.clock.advance(days=2, seconds=300)  # 30 days and a bit after the login
    assert_error(await stack.client.get("/api/me/profile"), 401, "AUTH_REQUIRED")


@pytest.mark.parametrize("exists", [True, False])
async def test_five_failures_lock_the_email_for_15_minutes(stack: Stack, exists: bool) -> None:
    if exists:
        await verified_user(stack, "lock@example.com")
    for _ in range(5):
        r = await login(stack.client, "lock@example.com", "wrong-password")
        assert_error(r, 401, "INVALID_CREDENTIALS")
    # Locked: even the right password is refused; another spelling is the same account.
    r = await login(stack.client, "LOCK@example.com", PASSWORD)
    assert_error(r, 429, "ACCOUNT_LOCKED")
    assert int(r.headers["retry-after"]) == 900
    assert r.json()["error"]["message"] == "Account temporarily locked"
    zh = await stack.client.post(
        "/api/auth/login",
        json={"email": "lock@example.com", "password": PASSWORD},
        headers={"accept-language": "zh-CN"},
    )
    assert zh.json()["error"]["message"] == "账户已临时锁定"
    stack.clock.advance(minutes=10)
    assert int((await login(stack.client, "lock@example.com")).headers["retry-after"]) == 300
    stack.clock.advance(minutes=5)
    r = await login(stack.client, "lock@example.com")
    if exists:
        assert r.status_code == 200, r.text
    else:
        assert_error(r, 401, "INVALID_CREDENTIALS")


async def test_failures_spread_over_time_do_not_lock(stack: Stack) -> None:
    await verified_user(stack, "spread@example.com")
    for _ in range(8):
        assert_error(
            await login(stack.client, "spread@example.com", "bad"), 401, "INVALID_CREDENTIALS"
        )
        stack.clock.advance(minutes=4)
    assert (await login(stack.client, "spread@example.com")).status_code == 200


async def test_thirty_failures_per_ip_give_e14(stack: Stack) -> None:
    await verified_user(stack, "victim@example.com")
    attacker = stack.browser(ip="203.0.113.9")
    for i in range(30):
        r = await login(attacker, f"guess{i // 5}@example.com", "bad")
        assert_error(r, 401, "INVALID_CREDENTIALS")
    r = await login(attacker, "victim@example.com")
    assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
    assert r.headers["x-torouter-limit"] == "ip" and int(r.headers["retry-after"]) == 900
    # Others are not affected.
    assert (await login(stack.browser(ip="203.0.113.10"), "victim@example.com")).status_code == 200
    stack.clock.advance(minutes=15)
    assert (await login(attacker, "victim@example.com")).status_code == 200


async def test_suspended_users_cannot_sign_in(stack: Stack) -> None:
    user_id = await verified_user(stack, "sus@example.com")
    admin = await make_admin(stack)
    assert (await admin.post(f"/api/admin/users/{user_id}/suspend")).status_code == 200
    r = await login(stack.client, "sus@example.com")
    assert_error(r, 403, "FORBIDDEN")
    assert_error(await login(stack.client, "sus@example.com", "bad"), 401, "INVALID_CREDENTIALS")


async def test_admin_session_reaches_admin_routes_with_csrf(stack: Stack) -> None:
    admin = await make_admin(stack)
    assert (await admin.browser.get("/api/admin/users")).status_code == 200
    user_id = await verified_user(stack, "target@example.com")
    r = await admin.browser.post(f"/api/admin/users/{user_id}/suspend")
    assert_error(r, 403, "CSRF_FAILED")
    # A plain user's session is not an admin.
    await login(stack.client, "target@example.com")
    assert_error(await stack.client.get("/api/admin/users"), 403, "FORBIDDEN")


async def test_admin_tokens_do_not_act_as_a_user(stack: Stack) -> None:
    admin = await make_admin(stack)
    fresh = stack.browser()
    assert_error(await fresh.get("/api/me/profile", headers=admin.bearer), 403, "FORBIDDEN")
