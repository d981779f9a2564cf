"""`/api/admin/keys`: create for a user, read, edit, delete — audited (§13, R16.5)."""

from __future__ import annotations

from sqlalchemy import select

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from torouter.access.keys import hash_key
from torouter.storage.tables import audit_log


async def _audit(api: Api) -> list[tuple[str, str | None]]:
    async with api.db.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.action, audit_log.c.target).order_by(audit_log.c.id)
        )
        return [(a, t) for a, t in rows]


async def test_create_for_a_user_edit_and_delete(api: Api) -> None:
    gid = await seed.group(api.db)
    uid = await seed.user(api.db, email="k@example.com", state="unverified")
    body = {"user_id": uid, "name": "ops", "group_id": gid, "rpm": 5}
    r = await api.client.post("/api/admin/keys", json=body, headers=api.auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["user_id"] == uid and created["rpm"] == 5 and created["group"] == "default"
    key = created["key"]
    assert hash_key(key) in api.snapshot.current.keys

    r = await api.client.get(f"/api/admin/keys?user_id={uid}", headers=api.auth)
    (listed,) = r.json()["data"]
    assert "key" not in listed and key not in r.text
    assert listed["spend_today_nusd"] == 0 and listed["requests_today"] == 0

    r = await api.client.patch(
        f"/api/admin/keys/{created['id']}", json={"status": "disabled"}, headers=api.auth
    )
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    assert api.snapshot.current.keys[hash_key(key)].status == "disabled"

    r = await api.client.get(f"/api/admin/keys/{created['id']}", headers=api.auth)
    assert r.status_code == 200 and r.json()["window_use"]["requests_1d"] == 0

    r = await api.client.delete(f"/api/admin/keys/{created['id']}", headers=api.auth)
    assert r.status_code == 204
    assert hash_key(key) not in api.snapshot.current.keys
    # Deleted keys stay readable by admins, never editable.
    r = await api.client.get(f"/api/admin/keys/{created['id']}", headers=api.auth)
    assert r.status_code == 200 and r.json()["deleted_at"] is not None
    r = await api.client.patch(
        f"/api/admin/keys/{created['id']}", json={"rpm": 1}, headers=api.auth
    )
    assert_error(r, 404, "NOT_FOUND")
    target = f"key:{created['id']}"
    assert await _audit(api) == [
        ("key.create", target),
        ("key.update", target),
        ("key.delete", target),
    ]


async def test_errors(api: Api) -> None:
    gid = await seed.group(api.db)
    uid = await seed.user(api.db, email="k@example.com")
    managed = await seed.key(api.db, user_id=uid, group_id=gid, name="ci", managed=True)
    h = api.auth
    r = await api.client.post(
        "/api/admin/keys", json={"user_id": 999, "name": "x", "group_id": gid}, headers=h
    )
    assert_error(r, 400, "INVALID_REQUEST", "user_id")
    r = await api.client.post("/api/admin/keys", json={"name": "x", "group_id": gid}, headers=h)
    assert_error(r, 400, "INVALID_REQUEST", "user_id")
    r = await api.client.patch(f"/api/admin/keys/{managed}", json={"rpm": 1}, headers=h)
    assert_error(r, 409, "CONFLICT")
    assert_error(await api.client.delete(f"/api/admin/keys/{managed}", headers=h), 409, "CONFLICT")
    assert_error(await api.client.get("/api/admin/keys/999", headers=h), 404, "NOT_FOUND")
    assert_error(await api.client.delete("/api/admin/keys/999", headers=h), 404, "NOT_FOUND")
    assert await _audit(api) == []

    user = await api.signed_in(uid)  # a user session is not an admin
    assert_error(await user.get("/api/admin/keys"), 403, "FORBIDDEN")
