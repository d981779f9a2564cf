"""The console's pages in-process on both databases (R15.1, R12, §13): every page renders in
both languages, forms need their CSRF field, errors sit next to their fields, and every change
goes through the same services as the JSON API."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select, text, update

from tests.console.conftest import PASSWORD, Site, csrf_of
from torouter.accounts.display_settings import save_display
from torouter.console.security import CSP
from torouter.storage.tables import api_keys, users

SIGNED_IN_PAGES = ("/dashboard", "/keys", "/keys/new", "/models", "/profile", "/playground")
PUBLIC_PAGES = ("/login", "/signup", "/forgot", "/verify", "/reset", "/pricing")


def field_error(html: str, name: str) -> str:
    """The error text shown under field `name` (R15.3: next to the field)."""
    match = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', html)
    assert match, f"no error under {name}"
    return match.group(1)


async def test_every_page_renders_in_both_languages_with_security_headers(site: Site) -> None:
    """R15.1, R18.5: pages in English and Chinese; CSP without inline code, nosniff, DENY."""
    await site.catalog()
    for lang, word in (("en", "Sign in"), ("zh-CN", "登录")):
        anon = site.browser(**{"accept-language": lang})
        for path in PUBLIC_PAGES:
            r = await anon.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert f'<html lang="{lang}">' in r.text and word in r.text
            assert r.headers["content-security-policy"] == CSP
            assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert "style=" not in r.text and "<script>" not in r.text
        c = await site.signed_in(f"pages-{lang}@example.com", language=lang)
        for path in SIGNED_IN_PAGES:
            r = await c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert f'<html lang="{lang}">' in r.text
            assert r.headers["cache-control"] == "no-store"
            assert "style=" not in r.text


async def test_signed_out_visitors_are_sent_to_login_with_next(site: Site) -> None:
    c = site.browser()
    r = await c.get("/keys/new")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/keys/new"
    r = await c.get("/")
    assert r.headers["location"] == "/login"


async def test_forms_without_the_csrf_field_are_refused(site: Site) -> None:
    """R12.3: signed in or not, a post without the page's CSRF value does nothing."""
    await site.user("csrf@example.com")
    c = site.browser()
    await c.get("/login")
    r = await c.post("/login", data={"email": "csrf@example.com", "password": PASSWORD})
    assert r.status_code == 403 and "torouter_session" not in r.cookies
    fresh = site.browser()  # no cookie at all: a form from another site
    r = await fresh.post(
        "/login", data={"csrf_token": "x" * 43, "email": "csrf@example.com", "password": PASSWORD}
    )
    assert r.status_code == 403
    signed = await site.signed_in("csrf2@example.com")
    r = await signed.post("/keys", data={"name": "k", "csrf_token": "wrong"})
    assert r.status_code == 403
    async with site.db.connect() as conn:
        assert await conn.scalar(select(api_keys.c.id)) is None


async def test_login_errors_show_on_the_form_and_success_redirects(site: Site) -> None:
    await site.user("login@example.com")
    c = site.browser()
    r = await site.form(c, "/login", "/login", {"email": "login@example.com", "password": "nope"})
    assert r.status_code == 400 and "Invalid email or password" in r.text
    r = await site.form(
        c,
        "/login?next=/models",
        "/login",
        {"email": "login@example.com", "password": PASSWORD, "next": "/models"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/models"
    assert "torouter_session" in c.cookies
    fresh = site.browser()
    r = await site.form(
        fresh,
        "/login",
        "/login",
        {"email": "login@example.com", "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert r.headers["location"] == "/dashboard"  # never an open redirect


async def test_signup_verify_and_login_with_totp_step(site: Site) -> None:
    """R12.1–R12.3, R12.6: sign-up → mailed link → confirm → login → TOTP step."""
    c = site.browser(**{"accept-language": "zh-CN"})
    r = await site.form(
        c,
        "/signup",
        "/signup",
        {"email": "new@example.com", "password": "abc", "password_confirm": "abc"},
    )
    assert r.status_code == 400
    assert field_error(r.text, "password") == "至少 6 个字符。"
    r = await site.form(
        c,
        "/signup",
        "/signup",
        {"email": "new@example.com", "password": PASSWORD, "password_confirm": "other1"},
    )
    assert field_error(r.text, "password_confirm") == "两次输入的密码不一致"
    r = await site.form(
        c,
        "/signup",
        "/signup",
        {"email": "new@example.com", "password": PASSWORD, "password_confirm": PASSWORD},
    )
    assert r.status_code == 303 and r.headers["location"] == "/verify?notice=signup_sent"
    (mail,) = await site.mails("new@example.com")
    assert mail.link.startswith("http://console.test/verify?token=")
    r = await c.get(f"/verify?token={mail.token}")
    assert "确认我的邮箱" in r.text  # a button: the GET itself spends nothing
    r = await c.post("/verify", data={"csrf_token": csrf_of(r.text), "token": mail.token})
    assert r.status_code == 303 and r.headers["location"] == "/login?notice=verified"
    r = await site.form(c, "/verify", "/verify", {"token": mail.token})
    assert r.status_code == 400 and "已被使用" in r.text  # single use
    # Turn TOTP on through the profile, then sign in again with the second step.
    r = await site.form(c, "/login", "/login", {"email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 303
    r = await site.form(c, "/profile", "/profile/2fa/code", {})
    assert r.status_code == 303
    code = (await site.mails("new@example.com"))[-1].code
    r = await site.form(
        c, "/profile", "/profile/2fa/start", {"password": PASSWORD, "email_code": code}
    )
    assert r.status_code == 200 and "<svg" in r.text
    secret = re.search(r'id="totp-secret"[^>]*><code>([A-Z2-7]+)</code>', r.text).group(1)
    recovery = re.search(r'id="recovery-codes"[^>]*><code>([^<]+)</code>', r.text).group(1)
    r = await c.post(
        "/profile/2fa/confirm",
        data={"csrf_token": csrf_of(r.text), "code": pyotp.TOTP(secret).at(site.clock.now())},
    )
    assert r.status_code == 303 and "totp_on" in r.headers["location"]
    other = site.browser()
    r = await site.form(
        other, "/login", "/login", {"email": "new@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200 and 'name="ticket"' in r.text
    ticket = re.search(r'name="ticket" value="([^"]+)"', r.text).group(1)
    r = await other.post(
        "/login/totp",
        data={"csrf_token": csrf_of(r.text), "ticket": ticket, "code": "000000"},
    )
    assert r.status_code == 400 and field_error(r.text, "code")
    site.clock.advance(seconds=31)
    r = await other.post(
        "/login/totp",
        data={
            "csrf_token": csrf_of(r.text),
            "ticket": ticket,
            "recovery_code": recovery.split()[0],
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"


async def test_unverified_users_see_the_banner_and_cannot_create_keys(site: Site) -> None:
    """R12.2."""
    c = await site.signed_in("unv@example.com", state="unverified")
    r = await c.get("/dashboard")
    assert r.status_code == 200 and "Please verify unv@example.com" in r.text
    r = await c.get("/keys/new")
    assert r.status_code == 403 and "Verify your email first" in r.text


async def test_key_create_shown_once_edit_disable_delete(site: Site) -> None:
    """§13: all fields on the form, the key once, edits through the API's own models."""
    await site.catalog()
    c = await site.signed_in("keys@example.com")
    r = await site.form(
        c,
        "/keys/new",
        "/keys",
        {"name": "", "group_id": "1", "ip_whitelist": "10.0.0.0/8\nnot-an-ip", "rpm": "-1"},
    )
    assert r.status_code == 400
    assert field_error(r.text, "name") == "This field is required."
    assert field_error(r.text, "ip_whitelist") == "“not-an-ip” is not an IP address or CIDR range."
    assert "10.0.0.0/8\nnot-an-ip" in r.text  # what was typed stays
    r = await site.form(
        c,
        "/keys/new",
        "/keys",
        {
            "name": "ci",
            "group_id": "1",
            "quota_usd": "12.5",
            "expires_in_days": "30",
            "rpm": "60",
            "ip_whitelist": "10.0.0.0/8",
            "model_whitelist": "m-chat",
        },
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    key = re.search(r"sk-[A-Za-z0-9_-]{48}", r.text).group(0)
    assert "ANTHROPIC_BASE_URL=http://console.test" in r.text
    async with site.db.connect() as conn:
        row = (await conn.execute(select(api_keys))).mappings().one()
    assert row["quota_nusd"] == 12_500_000_000 and row["rpm"] == 60
    assert row["model_whitelist"] == "m-chat" and row["expires_at"] is not None
    assert site.deps.snapshot.current.keys[row["key_hash"]].id == row["id"]
    listing = (await c.get("/keys")).text
    assert key not in listing and row["mask"] in listing
    # Edit: blank limits inherit, a blank expiry keeps the current one.
    r = await site.form(
        c,
        f"/keys/{row['id']}/edit",
        f"/keys/{row['id']}/edit",
        {"name": "ci-2", "group_id": "1", "rpm": "", "quota_usd": "0", "expires_in_days": ""},
    )
    assert r.status_code == 303
    async with site.db.connect() as conn:
        edited = (await conn.execute(select(api_keys))).mappings().one()
    assert edited["name"] == "ci-2" and edited["rpm"] is None and edited["quota_nusd"] == 0
    assert edited["expires_at"] == row["expires_at"]
    r = await site.form(c, "/keys", f"/keys/{row['id']}/toggle", {})
    assert r.headers["location"] == "/keys?notice=key_disabled"
    assert site.deps.snapshot.current.keys[row["key_hash"]].status == "disabled"
    r = await c.get(f"/keys/{row['id']}/delete")
    assert "cannot be undone" in r.text
    r = await c.post(f"/keys/{row['id']}/delete", data={"csrf_token": csrf_of(r.text)})
    assert r.headers["location"] == "/keys?notice=key_deleted"
    assert row["key_hash"] not in site.deps.snapshot.current.keys
    assert (await c.get(f"/keys/{row['id']}")).status_code == 404


async def test_someone_elses_key_is_not_found(site: Site) -> None:
    await site.catalog()
    owner = await site.signed_in("owner@example.com")
    await site.form(owner, "/keys/new", "/keys", {"name": "mine", "group_id": "1"})
    other = await site.signed_in("other@example.com")
    for path in ("/keys/1", "/keys/1/edit", "/keys/1/use", "/keys/1/delete"):
        assert (await other.get(path)).status_code == 404
    r = await site.form(other, "/keys", "/keys/1/delete", {})
    assert r.status_code == 404
    async with site.db.connect() as conn:
        assert await conn.scalar(select(api_keys.c.deleted_at)) is None


async def test_onboarding_checklist_flips_with_the_first_request(site: Site) -> None:
    """R15.4: create key → copy a snippet → first request seen; the fragment htmx polls."""
    await site.catalog()
    c = await site.signed_in("onboard@example.com")
    r = await c.get("/dashboard")
    assert 'href="/keys/new">Create an API key' in r.text and "hx-get" not in r.text
    await site.form(c, "/keys/new", "/keys", {"name": "first", "group_id": "1"})
    r = await c.get("/dashboard/onboarding")
    assert 'hx-get="/dashboard/onboarding"' in r.text and "1 of 3 done" in r.text
    r = await site.form(c, "/keys/1/use", "/onboarding/copied", {"next": "/dashboard"})
    assert r.status_code == 303
    assert "2 of 3 done" in (await c.get("/dashboard/onboarding")).text
    async with site.db.begin() as conn:  # what the usage writer does with the first request
        await conn.execute(update(api_keys).values(last_used_at=site.clock.now()))
    r = await c.get("/dashboard/onboarding")
    assert "All set" in r.text and "hx-get" not in r.text


async def test_models_filter_detail_and_pricing_switch(site: Site) -> None:
    """R15.1 models page; R15.4 public /pricing with the admin switch."""
    await site.catalog()
    c = await site.signed_in("models@example.com")
    r = await c.get("/models?modality=embedding")
    assert "m-embed" in r.text and "m-chat" not in r.text
    r = await c.get("/models/m-chat")
    assert "m-chat-thinking" in r.text and "anthropic/m-chat" in r.text
    assert "$3.00" in r.text and "$15.00" in r.text
    anon = site.browser()
    r = await anon.get("/pricing")
    assert r.status_code == 200 and "m-chat" in r.text
    async with site.db.begin() as conn:
        await save_display(conn, public_pricing=False)
    assert (await anon.get("/pricing")).status_code == 404


async def test_language_switch_is_kept_for_visitors_and_users(site: Site) -> None:
    anon = site.browser()
    r = await site.form(anon, "/login", "/language", {"lang": "zh-CN", "next": "/login"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "登录" in (await anon.get("/login")).text
    c = await site.signed_in("lang@example.com")
    await site.form(c, "/profile", "/language", {"lang": "zh-CN", "next": "/profile"})
    async with site.db.connect() as conn:
        assert (
            await conn.scalar(select(users.c.language).where(users.c.email == "lang@example.com"))
            == "zh-CN"
        )


async def test_profile_password_change_keeps_this_session(site: Site) -> None:
    c = await site.signed_in("pw@example.com")
    other = site.browser()
    await site.form(other, "/login", "/login", {"email": "pw@example.com", "password": PASSWORD})
    r = await site.form(
        c,
        "/profile",
        "/profile/password",
        {"current_password": "bad", "password": "newpass1", "password_confirm": "newpass1"},
    )
    assert r.status_code == 400
    assert field_error(r.text, "current_password") == "The current password is wrong"
    r = await site.form(
        c,
        "/profile",
        "/profile/password",
        {"current_password": PASSWORD, "password": "newpass1", "password_confirm": "newpass1"},
    )
    assert r.status_code == 303
    assert (await c.get("/profile")).status_code == 200
    assert (await other.get("/profile")).status_code == 303  # signed out


@pytest.mark.parametrize("path", ["/static/console.css", "/static/nope.js"])
async def test_static_files_only_by_hashed_name(site: Site, path: str) -> None:
    assert (await site.browser().get(path)).status_code == 404


async def test_an_unexpected_failure_is_a_page_with_the_request_id(site: Site) -> None:
    """Never a traceback (R8.5): the 500 page names the request id the log has."""
    await site.catalog()
    c = await site.signed_in("broken@example.com")
    async with site.db.begin() as conn:
        await conn.execute(text("DROP TABLE group_models"))
    r = await c.get("/models")
    assert r.status_code == 500 and "Something went wrong" in r.text
    assert r.headers["x-request-id"] in r.text
    assert "Traceback" not in r.text and "group_models" not in r.text


async def test_oversized_forms_and_wrong_methods_are_pages(site: Site) -> None:
    c = site.browser()
    page = await c.get("/login")
    r = await c.post(
        "/login", data={"csrf_token": csrf_of(page.text), "email": "x" * 300_000, "password": "p"}
    )
    assert r.status_code == 413 and "The form is too large." in r.text
    r = await c.delete("/login")
    assert r.status_code == 405 and "does not accept" in r.text
