"""Admin tokens: the CLI's `create_admin_token` and `/api/admin/tokens`."""

from __future__ import annotations

from sqlalchemy import select

from tests.api import seed
from tests.api.conftest import Api
from torouter.access.keys import ADMIN_TOKEN_RE, hash_token
from torouter.api.admin_tokens import create_admin_token
from torouter.storage.tables import admin_tokens


async def test_create_admin_token_stores_only_hash_and_mask(api: Api) -> None:
    token = await create_admin_token(api.db, name="ci", user_id=None)
    assert ADMIN_TOKEN_RE.match(token)
    async with api.db.connect() as conn:
        row = (
            (await conn.execute(select(admin_tokens).where(admin_tokens.c.name == "ci")))
            .mappings()
            .one()
        )
    assert row["token_hash"] == hash_token(token)
    assert token not in row.values()
    assert row["mask"].startswith("tra_") and token[4:8] in row["mask"]
    assert row["user_id"] is None


async def test_create_list_revoke(api: Api) -> None:
    r = await api.client.post(
        "/api/admin/tokens", headers=api.auth, json={"name": " deploy ", "user_id": api.admin_id}
    )
    assert r.status_code == 201, r.text
    created = r.json()
    token = created["token"]
    assert ADMIN_TOKEN_RE.match(token)
    assert created["name"] == "deploy"
    assert created["user_id"] == api.admin_id
    assert created["revoked_at"] is None

    r = await api.client.get("/api/admin/tokens", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200
    listed = r.json()
    assert listed["total"] == 2
    assert token not in r.text
    assert "token_hash" not in r.text
    assert all(set(t) == set(created) - {"token"} for t in listed["data"])

    r = await api.client.delete(f"/api/admin/tokens/{created['id']}", headers=api.auth)
    assert r.status_code == 204
    assert r.content == b""
    r = await api.client.get("/api/admin/tokens", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401
    r = await api.client.delete(f"/api/admin/tokens/{created['id']}", headers=api.auth)
    assert r.status_code == 204  # already revoked: still gone
    r = await api.client.delete("/api/admin/tokens/999", headers=api.auth)
    assert r.status_code == 404
    r = await api.client.get("/api/admin/audit", headers=api.auth)
    actions = [e["action"] for e in r.json()["data"]]
    assert actions == ["admin_token.revoke", "admin_token.create"]


async def test_create_validation(api: Api) -> None:
    plain = await seed.user(api.db, email="plain@example.com")
    for body, param in (
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "x", "user_id": 999}, "user_id"),
        ({"name": "x", "user_id": plain}, "user_id"),
        ({"name": "x", "token": "tra_" + "a" * 40}, "token"),
    ):
        r = await api.client.post("/api/admin/tokens", headers=api.auth, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param
