"""Sign-up settings fixed in the configuration (R12.1, R17.5): they win over the values an
admin stored in the database, show read-only, and cannot be changed through the API. Before,
`[signup] allowed_domains` in the file was dropped, so any domain could sign up."""

from __future__ import annotations

from tests.accounts.admin_helpers import make_admin
from tests.accounts.conftest import Stack
from tests.accounts.flows import assert_error, signup
from torouter.config import SignupSettings


async def test_configured_domains_win_over_the_database_and_are_read_only(stack: Stack) -> None:
    admin = await make_admin(stack)
    r = await admin.patch("/api/admin/settings", json={"signup": {"allowed_domains": ["db.org"]}})
    assert r.status_code == 200, r.text
    stack.settings.signup = SignupSettings(allowed_domains=["Corp.example"])

    err = assert_error(await signup(stack, "eve@db.org"), 400, "EMAIL_DOMAIN_NOT_ALLOWED")
    assert err["message"] == "Allowed email domains: corp.example"
    assert_error(await signup(stack, "eve@elsewhere.net"), 400, "EMAIL_DOMAIN_NOT_ALLOWED")
    assert (await signup(stack, "ann@CORP.example")).status_code == 201

    r = await stack.client.get("/api/admin/settings", headers=admin.bearer)
    assert r.json()["signup"] == {
        "enabled": True,
        "allowed_domains": ["corp.example"],
        "read_only": ["allowed_domains"],
    }
    r = await admin.patch("/api/admin/settings", json={"signup": {"allowed_domains": ["x.org"]}})
    err = assert_error(r, 409, "CONFLICT")
    assert err["message"] == (
        "signup.allowed_domains is set in the configuration file and is read-only"
    )
    # A form posting every field back, the configured one unchanged, still saves the others.
    body = {"signup": {"enabled": False, "allowed_domains": ["@corp.example"]}}
    r = await admin.patch("/api/admin/settings", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["signup"]["enabled"] is False
    assert_error(await signup(stack, "bob@corp.example"), 403, "FORBIDDEN")


async def test_configured_closed_signup_cannot_be_reopened_by_an_admin(stack: Stack) -> None:
    admin = await make_admin(stack)
    stack.settings.signup = SignupSettings(enabled=False)
    assert_error(await signup(stack, "eve@example.com"), 403, "FORBIDDEN")
    r = await admin.patch("/api/admin/settings", json={"signup": {"enabled": True}})
    assert_error(r, 409, "CONFLICT")
    r = await stack.client.get("/api/admin/settings", headers=admin.bearer)
    assert r.json()["signup"] == {"enabled": False, "allowed_domains": [], "read_only": ["enabled"]}


async def test_an_empty_configured_list_accepts_every_domain_whatever_the_database_says(
    stack: Stack,
) -> None:
    admin = await make_admin(stack)
    r = await admin.patch("/api/admin/settings", json={"signup": {"allowed_domains": ["db.org"]}})
    assert r.status_code == 200
    stack.settings.signup = SignupSettings(allowed_domains=[])
    assert (await signup(stack, "eve@anything.io")).status_code == 201
