"""`/api/admin/groups`: CRUD, catalog, default key limits and grants (R7.6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from torouter.storage.tables import audit_log, groups


async def _create(api: Api, **body: Any) -> Any:
    return await api.client.post("/api/admin/groups", json=body, headers=api.auth)


async def test_create_read_edit_delete(api: Api) -> None:
    await seed.model(api.db, id="m1")
    await seed.model(api.db, id="m2")
    r = await _create(
        api,
        name="pro",
        billing_type="subscription",
        price_multiplier="0.85",
        models=["m2", "m1"],
        visibility="private",
        default_key_limits={"rpm": 60, "quota_usd": "2.5", "budget_daily_usd": 1},
    )
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["name"] == "pro" and g["billing_type"] == "subscription"
    assert g["price_multiplier"] == "0.85" and g["models"] == ["m2", "m1"]
    assert (g["visibility"], g["status"], g["managed"]) == ("private", "enabled", False)
    limits = g["default_key_limits"]
    assert limits["rpm"] == 60 and limits["tpm"] is None
    assert (limits["quota_nusd"], limits["quota_usd"]) == (2_500_000_000, "2.500000000")
    assert limits["budget_daily_nusd"] == 1_000_000_000
    rec = api.snapshot.current.groups[g["id"]]
    assert rec.catalog == ("m2", "m1") and rec.multiplier == Decimal("0.85")

    path = f"/api/admin/groups/{g['id']}"
    assert (await api.client.get(path, headers=api.auth)).json() == g

    r = await api.client.patch(
        path,
        json={"status": "disabled", "models": ["m1"], "description": "x", "price_multiplier": 0},
        headers=api.auth,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["models"], out["description"]) == ("disabled", ["m1"], "x")
    assert out["price_multiplier"] == "0" and out["visibility"] == "private"
    assert api.snapshot.current.groups[g["id"]].status == "disabled"
    r = await api.client.patch(path, json={"description": None}, headers=api.auth)
    assert r.json()["description"] is None

    r = await api.client.get("/api/admin/groups?status=disabled", headers=api.auth)
    assert [x["id"] for x in r.json()["data"]] == [g["id"]]

    assert (await api.client.delete(path, headers=api.auth)).status_code == 204
    assert g["id"] not in api.snapshot.current.groups
    assert_error(await api.client.get(path, headers=api.auth), 404, "NOT_FOUND")
    async with api.db.connect() as conn:
        stmt = select(audit_log.c.action).order_by(audit_log.c.id)
        actions = list((await conn.execute(stmt)).scalars())
    assert actions == ["group.create", "group.update", "group.update", "group.delete"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"price_multiplier": "-1"}, "price_multiplier"),
        ({"price_multiplier": "abc"}, "price_multiplier"),
        ({"billing_type": "prepaid"}, "billing_type"),
        ({"visibility": "secret"}, "visibility"),
        ({"models": ["m1", "nope"]}, "models[1]"),
        ({"models": ["m1", "m1"]}, "models[1]"),
        ({"default_key_limits": {"rpm": -1}}, "default_key_limits.rpm"),
        ({"default_key_limits": {"quota_usd": "-3"}}, "default_key_limits.quota_usd"),
        ({"default_key_limits": {"bogus": 1}}, "default_key_limits.bogus"),
        ({"name": ""}, "name"),
    ],
)
async def test_validation(api: Api, body: dict[str, Any], param: str) -> None:
    await seed.model(api.db, id="m1")
    r = await _create(api, **{"name": "g", **body})
    assert_error(r, 400, "INVALID_REQUEST", param)


async def test_conflicts(api: Api) -> None:
    gid = await seed.group(api.db, name="default")
    assert_error(await _create(api, name="default"), 409, "CONFLICT")
    other = (await _create(api, name="other")).json()["id"]
    r = await api.client.patch(
        f"/api/admin/groups/{other}", json={"name": "default"}, headers=api.auth
    )
    assert_error(r, 409, "CONFLICT")
    r = await api.client.patch(f"/api/admin/groups/{other}", json={"name": None}, headers=api.auth)
    assert_error(r, 400, "INVALID_REQUEST", "name")

    uid = await seed.user(api.db, email="u@example.com")
    await seed.key(api.db, user_id=uid, group_id=gid, name="k")
    r = await api.client.delete(f"/api/admin/groups/{gid}", headers=api.auth)
    assert_error(r, 409, "CONFLICT")
    assert "1 keys" in r.json()["error"]["message"]

    async with api.db.begin() as conn:
        await conn.execute(update(groups).where(groups.c.id == other).values(managed=True))
    r = await api.client.patch(f"/api/admin/groups/{other}", json={"status": "disabled"})
    assert_error(r, 401, "AUTH_REQUIRED")
    for r in (
        await api.client.patch(
            f"/api/admin/groups/{other}", json={"status": "disabled"}, headers=api.auth
        ),
        await api.client.delete(f"/api/admin/groups/{other}", headers=api.auth),
    ):
        assert_error(r, 409, "CONFLICT")
    assert_error(
        await api.client.patch("/api/admin/groups/999", json={}, headers=api.auth),
        404,
        "NOT_FOUND",
    )


async def test_grants(api: Api) -> None:
    gid = (await _create(api, name="vip", visibility="private")).json()["id"]
    uid = await seed.user(api.db, email="u@example.com")
    path = f"/api/admin/groups/{gid}/grants/{uid}"

    r = await api.client.post(path, headers=api.auth)
    assert r.status_code == 201
    assert r.json() == {"group_id": gid, "user_id": uid, "email": "u@example.com"}
    assert api.snapshot.current.groups[gid].granted == {uid}
    assert (await api.client.post(path, headers=api.auth)).status_code == 200  # already

    r = await api.client.get(f"/api/admin/groups/{gid}/grants", headers=api.auth)
    assert r.json()["total"] == 1 and r.json()["data"][0]["user_id"] == uid

    # The user now sees and can use the private group.
    me = await api.signed_in(uid)
    assert [g["name"] for g in (await me.get("/api/me/groups")).json()["data"]] == ["vip"]

    assert (await api.client.delete(path, headers=api.auth)).status_code == 204
    assert api.snapshot.current.groups[gid].granted == frozenset()
    assert_error(await api.client.delete(path, headers=api.auth), 404, "NOT_FOUND")
    assert (await me.get("/api/me/groups")).json()["total"] == 0

    for bad in (f"/api/admin/groups/{gid}/grants/999", f"/api/admin/groups/999/grants/{uid}"):
        assert_error(await api.client.post(bad, headers=api.auth), 404, "NOT_FOUND")
