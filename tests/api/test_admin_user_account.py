"""`/api/admin/users/{id}/verify`, `/role`, `/sessions` (R12.7, R15.2): the rules the admin
console's account page uses, audited, managed accounts refused (R17.10)."""

from __future__ import annotations

from sqlalchemy import select, update

from tests.api import seed
from tests.api.conftest import Api
from torouter.storage.tables import audit_log, sessions, users


async def _audit(api: Api) -> list[tuple[str, str | None, object]]:
    async with api.db.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.action, audit_log.c.target, audit_log.c.detail).order_by(
                audit_log.c.id
            )
        )
        return [tuple(r) for r in rows]


async def test_verify_an_unverified_email(api: Api) -> None:
    uid = await seed.user(api.db, email="new@example.com", state="unverified")
    r = await api.client.post(f"/api/admin/users/{uid}/verify", headers=api.auth)
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert r.json()["email_verified_at"] is not None
    assert api.snapshot.current.users[uid].state == "active"  # the keys work from now on
    r = await api.client.post(f"/api/admin/users/{uid}/verify", headers=api.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    assert (
        "user.verify",
        f"user:{uid}",
        {"state": {"from": "unverified", "to": "active"}},
    ) in await _audit(api)


async def test_change_a_role_but_never_ones_own(api: Api) -> None:
    uid = await seed.user(api.db, email="ops@example.com")
    r = await api.client.post(
        f"/api/admin/users/{uid}/role", headers=api.auth, json={"role": "admin"}
    )
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await api.client.post(
        f"/api/admin/users/{uid}/role", headers=api.auth, json={"role": "admin"}
    )
    assert r.status_code == 200  # unchanged: no second audit row
    roles = [a for a in await _audit(api) if a[0] == "user.role"]
    assert roles == [("user.role", f"user:{uid}", {"role": {"from": "user", "to": "admin"}})]
    r = await api.client.post(
        f"/api/admin/users/{api.admin_id}/role", headers=api.auth, json={"role": "user"}
    )
    assert r.status_code == 409
    r = await api.client.post(
        f"/api/admin/users/{uid}/role", headers=api.auth, json={"role": "god"}
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "role"
    r = await api.client.post("/api/admin/users/999/role", headers=api.auth, json={"role": "user"})
    assert r.status_code == 404


async def test_managed_accounts_keep_role_and_state(api: Api) -> None:
    uid = await seed.user(api.db, email="declared@example.com")
    async with api.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == uid).values(managed=True))
    for path, body in (("role", {"role": "admin"}), ("suspend", None), ("verify", None)):
        r = await api.client.post(f"/api/admin/users/{uid}/{path}", headers=api.auth, json=body)
        assert r.status_code == 409 and "config file" in r.json()["error"]["message"], path


async def test_list_and_end_sessions(api: Api) -> None:
    uid = await seed.user(api.db, email="s@example.com")
    browsers = [await api.signed_in(uid) for _ in range(3)]
    r = await api.client.get(f"/api/admin/users/{uid}/sessions", headers=api.auth)
    data = r.json()["data"]
    assert r.status_code == 200 and len(data) == 3 and data[0]["id"] > data[-1]["id"]
    assert set(data[0]) == {"id", "created_at", "last_seen_at", "ip", "user_agent"}
    r = await api.client.delete(
        f"/api/admin/users/{uid}/sessions/{data[0]['id']}", headers=api.auth
    )
    assert r.status_code == 204
    assert (await browsers[2].get("/api/me/profile")).status_code == 401
    r = await api.client.delete(
        f"/api/admin/users/{uid}/sessions/{data[0]['id']}", headers=api.auth
    )
    assert r.status_code == 404
    other = await seed.user(api.db, email="o@example.com")
    r = await api.client.delete(
        f"/api/admin/users/{other}/sessions/{data[1]['id']}", headers=api.auth
    )
    assert r.status_code == 404  # not this user's session
    r = await api.client.delete(f"/api/admin/users/{uid}/sessions", headers=api.auth)
    assert r.status_code == 200 and r.json() == {"ended": 2}
    assert (await browsers[0].get("/api/me/profile")).status_code == 401
    async with api.db.connect() as conn:
        live = await conn.scalar(select(sessions.c.id).where(sessions.c.revoked_at.is_(None)))
    assert live is None
    actions = [a[0] for a in await _audit(api)]
    assert actions == ["user.session_end", "user.sessions_end"]


async def test_users_cannot_call_them(api: Api) -> None:
    uid = await seed.user(api.db, email="u@example.com")
    me = await api.signed_in(uid)
    for method, path in (
        ("post", f"/api/admin/users/{uid}/verify"),
        ("post", f"/api/admin/users/{uid}/role"),
        ("get", f"/api/admin/users/{uid}/sessions"),
        ("delete", f"/api/admin/users/{uid}/sessions"),
    ):
        r = await getattr(me, method)(path)
        assert r.status_code == 403, path
