"""`/admin/settings` (R15.2, R17.5): sign-up and domains, SMTP (with a test mail), timezone
and language, retention, display. Values the configuration sets are shown read-only and
refused; SMTP and retention apply at once, timezone and language after a restart."""

from __future__ import annotations

from sqlalchemy import select

from tests.console.admin.conftest import World
from torouter.accounts.display_settings import load_display
from torouter.accounts.site_settings import load_signup
from torouter.storage.tables import settings_kv


async def test_file_values_are_read_only(world: World) -> None:
    """The test site's configuration sets SMTP host, port and sender."""
    page = (await world.admin.get("/admin/settings")).text
    assert "win over what is saved here" in page
    assert 'name="smtp.host"' not in page and "127.0.0.1" in page
    assert page.count("Set in the configuration file") == 3  # host, port, sender
    assert 'name="smtp.username"' in page and 'name="timezone"' in page
    r = await world.post("/admin/settings", "/admin/settings/smtp", {"smtp.host": "evil.example"})
    assert r.status_code == 303  # fixed fields are not read from the form
    assert world.site.deps.settings.smtp.host == "127.0.0.1"


async def test_signup_and_display_through_the_api_rules(world: World) -> None:
    form = {"signup.allowed_domains": "Example.com\ncorp.example"}  # sign-up box unticked
    r = await world.post("/admin/settings", "/admin/settings/signup", form)
    assert r.status_code == 303
    async with world.site.db.connect() as conn:
        rules = await load_signup(conn, world.site.deps.settings.signup)
    assert not rules.enabled and rules.allowed_domains == ("example.com", "corp.example")
    r = await world.post(
        "/admin/settings", "/admin/settings/signup", {"signup.allowed_domains": "not a domain"}
    )
    assert r.status_code == 400 and 'id="signup.allowed_domains-error"' in r.text
    r = await world.post(
        "/admin/settings",
        "/admin/settings/display",
        {"display.public_pricing": "on", "display.cny_rate": "7.25"},
    )
    assert r.status_code == 303
    async with world.site.db.connect() as conn:
        display = await load_display(conn)
    assert display.public_pricing and str(display.cny_rate) == "7.25"
    r = await world.post("/admin/settings", "/admin/settings/display", {"display.cny_rate": "-1"})
    assert r.status_code == 400 and 'id="display.cny_rate-error"' in r.text
    targets = [(a["action"], a["target"]) for a in await world.audit()]
    assert ("settings.update", "signup") in targets and ("settings.update", "display") in targets


async def test_smtp_retention_and_regional(world: World) -> None:
    settings = world.site.deps.settings
    r = await world.post(
        "/admin/settings",
        "/admin/settings/smtp",
        {"smtp.username": "mailer", "smtp.password": "s3cret", "smtp.starttls": "on"},
    )
    assert r.status_code == 303
    assert settings.smtp.username == "mailer" and settings.smtp.password == "s3cret"
    assert settings.smtp.starttls  # in force at once: the next mail uses it
    page = (await world.admin.get("/admin/settings")).text
    assert "s3cret" not in page and "A password is stored" in page
    audit = (await world.audit())[-1]
    assert audit["target"] == "smtp" and audit["detail"]["smtp.password"] == "(changed)"  # type: ignore[index]
    async with world.site.db.connect() as conn:
        stored = await conn.scalar(
            select(settings_kv.c.value).where(settings_kv.c.key == "smtp.password")
        )
    assert "s3cret" not in str(stored)
    # Blank keeps the password; the box removes it.
    await world.post("/admin/settings", "/admin/settings/smtp", {"smtp.username": "mailer"})
    assert settings.smtp.password == "s3cret"
    await world.post(
        "/admin/settings",
        "/admin/settings/smtp",
        {"smtp.username": "mailer", "clear_smtp_password": "on"},
    )
    assert settings.smtp.password is None
    r = await world.post(
        "/admin/settings", "/admin/settings/retention", {"usage.retention_days": "30"}
    )
    assert r.status_code == 303 and settings.usage.retention_days == 30
    r = await world.post(
        "/admin/settings", "/admin/settings/retention", {"usage.retention_days": "-3"}
    )
    assert r.status_code == 400 and 'id="usage.retention_days-error"' in r.text
    r = await world.post(
        "/admin/settings",
        "/admin/settings/regional",
        {"timezone": "Asia/Shanghai", "default_language": "zh-CN"},
    )
    assert r.status_code == 303
    assert settings.timezone == "UTC"  # copied by the gateway at start: after a restart
    page = (await world.admin.get("/admin/settings")).text
    assert "applies after a restart. In force now: UTC, en." in page
    r = await world.post(
        "/admin/settings",
        "/admin/settings/regional",
        {"timezone": "Mars/Base", "default_language": "en"},
    )
    assert r.status_code == 400 and 'id="timezone-error"' in r.text


async def test_a_test_mail_reaches_the_smtp_server(world: World) -> None:
    r = await world.post("/admin/settings", "/admin/settings/smtp/test", {})
    assert r.status_code == 200 and "A test mail was sent to root@example.com." in r.text
    mails = await world.site.mails("root@example.com")
    assert any(m.message["Subject"] == "ToRouter test mail" for m in mails)
    assert (await world.audit())[-1]["action"] == "settings.test_mail"
