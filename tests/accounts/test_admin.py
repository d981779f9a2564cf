"""Admin actions on users over HTTP (R12.7, R15.2): suspend, reactivate, settings."""

from __future__ import annotations

import pytest

from tests.accounts.admin_helpers import make_admin
from tests.accounts.conftest import Stack
from tests.accounts.flows import assert_error, login, signed_in, signup
from tests.accounts.keys_helper import admit, key_for


async def test_suspension_stops_keys_at_once_and_ends_sessions(stack: Stack) -> None:
    user_id = await signed_in(stack, "s@example.com")
    key = await key_for(stack, user_id)
    assert admit(stack, key) is None
    admin = await make_admin(stack)

    r = await stack.client.post(f"/api/admin/users/{user_id}/suspend", headers=admin.bearer)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "suspended"
    assert admit(stack, key) == "USER_INACTIVE"  # no waiting for a periodic reload
    assert_error(await stack.client.get("/api/me/profile"), 401, "AUTH_REQUIRED")
    assert_error(await login(stack.browser(), "s@example.com"), 403, "FORBIDDEN")

    r = await admin.post(f"/api/admin/users/{user_id}/reactivate")
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert admit(stack, key) is None
    assert (await login(stack.browser(), "s@example.com")).status_code == 200
    assert_error(await admin.post(f"/api/admin/users/{user_id}/reactivate"), 409, "CONFLICT")

    r = await stack.client.get("/api/admin/audit", headers=admin.bearer)
    actions = [(a["action"], a["target"]) for a in r.json()["data"]]
    assert ("user.suspend", f"user:{user_id}") in actions
    assert ("user.reactivate", f"user:{user_id}") in actions


async def test_reactivating_an_unverified_user_keeps_it_unverified(stack: Stack) -> None:
    user_id = (await signup(stack, "new@example.com")).json()["id"]
    admin = await make_admin(stack)
    assert (await admin.post(f"/api/admin/users/{user_id}/suspend")).json()["state"] == "suspended"
    r = await admin.post(f"/api/admin/users/{user_id}/reactivate")
    assert r.json()["state"] == "unverified"


async def test_suspend_refusals(stack: Stack) -> None:
    admin = await make_admin(stack)
    assert_error(await admin.post(f"/api/admin/users/{admin.id}/suspend"), 409, "CONFLICT")
    assert_error(await admin.post("/api/admin/users/4242/suspend"), 404, "NOT_FOUND")
    assert_error(await admin.post("/api/admin/users/4242/reactivate"), 404, "NOT_FOUND")
    await signed_in(stack, "plain@example.com")
    r = await stack.client.post(
        f"/api/admin/users/{admin.id}/suspend",
        headers={"x-csrf-token": stack.client.cookies["torouter_csrf"]},
    )
    assert_error(r, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "body",
    [
        {"signup": {"allowed_domains": ["not a domain"]}},
        {"signup": {"enabled": "maybe"}},
        {"signup": {"smtp": True}},
        {"other": {}},
    ],
)
async def test_settings_validation(stack: Stack, body: dict[str, object]) -> None:
    admin = await make_admin(stack)
    assert_error(await admin.patch("/api/admin/settings", json=body), 400, "INVALID_REQUEST")


async def test_settings_need_an_admin(stack: Stack) -> None:
    await signed_in(stack, "user@example.com")
    assert_error(await stack.client.get("/api/admin/settings"), 403, "FORBIDDEN")
    assert_error(await stack.browser().get("/api/admin/settings"), 401, "AUTH_REQUIRED")


async def test_display_settings_switch_pricing_and_set_the_cny_rate(stack: Stack) -> None:
    """R15.4 (the admin switch of the public /pricing page) and the CNY rate (§0)."""
    admin = await make_admin(stack)
    r = await admin.browser.get("/api/admin/settings")
    assert r.json()["display"] == {"public_pricing": True, "cny_rate": None}
    r = await admin.patch(
        "/api/admin/settings", json={"display": {"public_pricing": False, "cny_rate": "7.2"}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["display"] == {"public_pricing": False, "cny_rate": "7.2"}
    r = await admin.patch("/api/admin/settings", json={"display": {"cny_rate": None}})
    assert r.json()["display"] == {"public_pricing": False, "cny_rate": None}
    r = await admin.patch("/api/admin/settings", json={"display": {"cny_rate": "-1"}})
    assert_error(r, 400, "INVALID_REQUEST")
    assert r.json()["error"]["param"] == "display.cny_rate"
