"""R15.2, issue 17: every admin page and action is authorised server-side. The list of routes
is the console's own, so a page added later is covered without editing this test: a signed-in
user who is not an administrator gets the 403 page for every one of them, with a valid CSRF
field, and nothing is read out or written; a visitor is sent to sign in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from starlette.routing import Route

from tests.console.admin.conftest import World
from tests.console.conftest import csrf_of
from torouter.console.admin import routes as admin_routes
from torouter.storage.tables import orders, settings_kv, users

# What a malicious form would carry: every field any admin action reads, with damage done if
# it were obeyed.
DAMAGE = {
    "amount_usd": "1000",
    "direction": "credit",
    "reason": "free money",
    "role": "admin",
    "group_id": "1",
    "grant": "grant",
    "plan_id": "1",
    "subscription_id": "1",
    "change": "cancel",
    "days": "30",
    "session_id": "1",
    "name": "pwned",
    "priority": "-5",
    "weight": "1000",
    "credential": "attacker-key",
    "base_url": "https://attacker.example/v1",
    "platform": "openai",
    "models": "m-chat",
    "usage.retention_days": "1",
    "smtp.host": "attacker.example",
    "signup.enabled": "on",
    "as_me": "on",
    "stream": "on",
    "add:evil": "on",
    "grant_email": "alice@example.com",
    "note": "refund it all",
    "id": "paid_not_credited:ord_x",
    "from": "2020-01-01",
    "to": "2030-01-01",
    "stripe_secret_key": "sk_test_attacker",
    "stripe_webhook_secret": "whsec_attacker",
    "stripe_api_base": "https://attacker.example",
    "refund_window_days": "3650",
}


def _requests(world: World) -> list[tuple[str, str]]:
    ids = {
        "user_id": world.user_id,
        "group_id": world.private_id,
        "plan_id": world.plan_id,
        "channel_id": world.channel_id,
        "token_id": world.token_id,
        "model_id": world.model_id,
        "order_id": world.order_id,
        "request_id": world.request_id,
    }
    out = []
    for route in admin_routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(ids[m.group(1)]), route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            out.append((method, path))
    return out


async def _state(world: World) -> Any:
    """A fingerprint of what an admin action could change."""
    async with world.site.db.connect() as conn:
        user = (
            await conn.execute(
                select(users.c.state, users.c.role, users.c.balance_nusd).where(
                    users.c.id == world.user_id
                )
            )
        ).one()
    async with world.site.db.connect() as conn:
        order = (await conn.execute(select(orders).where(orders.c.id == world.order_id))).one()
        stored = (await conn.execute(select(settings_kv))).all()
    return (
        tuple(user),
        tuple(order),
        sorted(map(tuple, stored)),
        await world.audit_count(),
        world.site.deps.settings.usage.retention_days,
    )


async def test_a_user_session_gets_403_on_every_admin_page_and_action(world: World) -> None:
    requests = _requests(world)
    assert len(requests) > 40, requests  # the whole operator side
    plain = await world.site.signed_in("mallory@example.com")
    csrf = csrf_of((await plain.get("/dashboard")).text)
    before = await _state(world)
    for method, path in requests:
        if method == "GET":
            r = await plain.get(path)
        else:
            r = await plain.post(path, data={"csrf_token": csrf, **DAMAGE})
        assert r.status_code == 403, (method, path, r.status_code)
        assert "Administrators only" in r.text, (method, path)
        assert "alice@example.com" not in r.text and "mock-openai" not in r.text
    assert await _state(world) == before


async def test_the_admin_gets_every_page(world: World) -> None:
    for method, path in _requests(world):
        if method == "GET":
            r = await world.admin.get(path, follow_redirects=True)
            assert r.status_code == 200, (path, r.status_code, r.text[-500:])


async def test_visitors_are_sent_to_sign_in_and_unverified_admins_refused(world: World) -> None:
    anon = world.site.browser()
    for method, path in _requests(world):
        r = await (anon.get(path) if method == "GET" else anon.post(path, data=DAMAGE))
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/admin")
    # An administrator whose email is not verified is refused like a user.
    async with world.site.db.begin() as conn:
        await conn.execute(
            users.update().where(users.c.email == "root@example.com").values(state="unverified")
        )
    r = await world.admin.get("/admin/users")
    assert r.status_code == 403


@pytest.mark.parametrize(
    "path", ["/admin/users/999999", "/admin/channels/abc", "/admin/models/nope"]
)
async def test_unknown_objects_are_404_pages(world: World, path: str) -> None:
    r = await world.admin.get(path)
    assert r.status_code == 404 and "Page not found" in r.text


async def test_admin_forms_need_the_csrf_field(world: World) -> None:
    before = await _state(world)
    r = await world.admin.post(
        f"/admin/users/{world.user_id}/balance",
        data={"amount_usd": "5", "direction": "credit", "reason": "x", "csrf_token": "forged"},
    )
    assert r.status_code == 403
    assert await _state(world) == before
