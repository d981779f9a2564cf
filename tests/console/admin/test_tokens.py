"""`/admin/tokens` (R16.2): a token is shown once, works on the admin API, and stops working
when revoked; the list never shows it again."""

from __future__ import annotations

import re

from tests.console.admin.conftest import World


async def test_create_use_revoke(world: World) -> None:
    r = await world.post("/admin/tokens", "/admin/tokens", {"name": "deploy", "as_me": "on"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = re.search(r"\btra_[A-Za-z0-9_-]{40}\b", r.text)
    assert token and "Copy it now" in r.text
    api = world.site.browser(authorization=f"Bearer {token.group(0)}")
    assert (await api.get("/api/admin/users")).status_code == 200
    listing = (await world.admin.get("/admin/tokens")).text
    assert "deploy" in listing and token.group(0) not in listing
    token_id = re.search(
        r'action="/admin/tokens/(\d+)/revoke"[^<]*>[^<]*<input[^>]*><button[^>]*"Revoke deploy"',
        listing,
    )
    assert token_id
    r = await world.post("/admin/tokens", f"/admin/tokens/{token_id.group(1)}/revoke", {})
    assert r.status_code == 303
    assert (await api.get("/api/admin/users")).status_code == 401
    assert "Revoked" in (await world.admin.get("/admin/tokens")).text
    assert [a["action"] for a in await world.audit()][-2:] == [
        "admin_token.create",
        "admin_token.revoke",
    ]
    r = await world.post("/admin/tokens", "/admin/tokens", {"name": "  "})
    assert r.status_code == 400 and 'id="name-error"' in r.text
    r = await world.post("/admin/tokens", "/admin/tokens/99999/revoke", {})
    assert r.status_code == 404 and "Token not found" in r.text
