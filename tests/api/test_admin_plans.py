"""`/api/admin/plans` and `/api/admin/subscriptions` (R7.7, R14.6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, update

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from torouter.storage.tables import groups, plans, subscriptions


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def sub_group(api: Api, name: str = "pro") -> int:
    async with api.db.begin() as conn:
        result = await conn.execute(
            insert(groups).values(
                name=name, billing_type="subscription", default_key_limits={}, created_at=seed.T0
            )
        )
        return int(result.inserted_primary_key[0])


async def make_plan(api: Api, group_id: int, **body: Any) -> dict[str, Any]:
    payload = {"name": "monthly", "group_id": group_id, "price_usd": "20", **body}
    r = await api.client.post("/api/admin/plans", json=payload, headers=api.auth)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_plan_crud(api: Api) -> None:
    gid = await sub_group(api)
    p = await make_plan(api, gid, daily_cap_usd=5, duration_days=7, max_per_user=1)
    assert (p["price_nusd"], p["price_usd"]) == (20_000_000_000, "20.000000000")
    assert (p["daily_cap_usd"], p["weekly_cap_nusd"]) == ("5.000000000", 0)
    assert (p["group"], p["duration_days"], p["max_per_user"]) == ("pro", 7, 1)
    assert api.snapshot.current.plans[p["id"]].price_nusd == 20_000_000_000

    path = f"/api/admin/plans/{p['id']}"
    r = await api.client.patch(path, json={"enabled": False, "price_usd": "0"}, headers=api.auth)
    assert r.status_code == 200 and (r.json()["enabled"], r.json()["price_nusd"]) == (False, 0)
    assert (await api.client.get(path, headers=api.auth)).json()["enabled"] is False
    r = await api.client.get(f"/api/admin/plans?group_id={gid}&enabled=false", headers=api.auth)
    assert r.json()["total"] == 1
    assert (await api.client.delete(path, headers=api.auth)).status_code == 204
    assert_error(await api.client.get(path, headers=api.auth), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"price_usd": "-1"}, "price_usd"),
        ({"duration_days": 0}, "duration_days"),
        ({"daily_cap_usd": "1.0000000001"}, "daily_cap_usd"),
        ({"max_per_user": -1}, "max_per_user"),
        ({"group_id": 999}, "group_id"),
    ],
)
async def test_plan_validation(api: Api, body: dict[str, Any], param: str) -> None:
    gid = await sub_group(api)
    payload = {"name": "p", "group_id": gid, "price_usd": 1, **body}
    r = await api.client.post("/api/admin/plans", json=payload, headers=api.auth)
    assert_error(r, 400, "INVALID_REQUEST", param)


async def test_plan_conflicts(api: Api) -> None:
    balance_group = await seed.group(api.db)
    r = await api.client.post(
        "/api/admin/plans",
        json={"name": "p", "group_id": balance_group, "price_usd": 1},
        headers=api.auth,
    )
    assert_error(r, 400, "INVALID_REQUEST", "group_id")  # a balance group has no plans
    gid = await sub_group(api)
    p = await make_plan(api, gid)
    r = await api.client.post(
        "/api/admin/plans",
        json={"name": "monthly", "group_id": gid, "price_usd": 1},
        headers=api.auth,
    )
    assert_error(r, 409, "CONFLICT")
    uid = await seed.user(api.db, email="u@example.com")
    body = {"user_id": uid, "plan_id": p["id"]}
    assert (
        await api.client.post("/api/admin/subscriptions", json=body, headers=api.auth)
    ).status_code == 201
    r = await api.client.delete(f"/api/admin/plans/{p['id']}", headers=api.auth)
    assert_error(r, 409, "CONFLICT")
    async with api.db.begin() as conn:
        await conn.execute(update(plans).where(plans.c.id == p["id"]).values(managed=True))
    r = await api.client.patch(
        f"/api/admin/plans/{p['id']}", json={"enabled": False}, headers=api.auth
    )
    assert_error(r, 409, "CONFLICT")


async def test_assign_extend_pause_resume_cancel(api: Api) -> None:
    gid = await sub_group(api)
    monthly = await make_plan(api, gid, duration_days=30, daily_cap_usd=5)
    weekly = await make_plan(api, gid, name="weekly", duration_days=7)
    uid = await seed.user(api.db, email="u@example.com")
    h = api.auth

    r = await api.client.post(
        "/api/admin/subscriptions",
        json={"user_id": uid, "plan_id": monthly["id"], "auto_renew": True},
        headers=h,
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["state"], sub["plan"], sub["group"], sub["auto_renew"]) == (
        "active",
        "monthly",
        "pro",
        True,
    )
    assert sub["daily_cap_nusd"] == 5_000_000_000  # copied from the plan
    assert sub["daily_used_nusd"] == 0 and sub["daily_used_usd"] == "0.000000000"
    first_expiry = ts(sub["expires_at"])
    assert first_expiry - ts(sub["starts_at"]) == dt.timedelta(days=30)
    assert api.snapshot.current.subscriptions[(uid, gid)].state == "active"

    # The same plan again extends from the current expiry; another plan is a conflict.
    r = await api.client.post(
        "/api/admin/subscriptions", json={"user_id": uid, "plan_id": monthly["id"]}, headers=h
    )
    assert r.status_code == 200
    assert ts(r.json()["expires_at"]) == first_expiry + dt.timedelta(days=30)
    r = await api.client.post(
        "/api/admin/subscriptions", json={"user_id": uid, "plan_id": weekly["id"]}, headers=h
    )
    assert_error(r, 409, "CONFLICT")

    base = f"/api/admin/subscriptions/{sub['id']}"
    r = await api.client.post(f"{base}/extend", json={"days": 3}, headers=h)
    assert ts(r.json()["expires_at"]) == first_expiry + dt.timedelta(days=33)
    assert_error(await api.client.post(f"{base}/resume", headers=h), 409, "CONFLICT")
    r = await api.client.post(f"{base}/pause", headers=h)
    assert r.json()["state"] == "paused"
    assert api.snapshot.current.subscriptions[(uid, gid)].state == "paused"
    assert_error(await api.client.post(f"{base}/pause", headers=h), 409, "CONFLICT")
    r = await api.client.get("/api/admin/subscriptions?state=paused", headers=h)
    assert [s["id"] for s in r.json()["data"]] == [sub["id"]]
    assert (await api.client.post(f"{base}/resume", headers=h)).json()["state"] == "active"
    assert (await api.client.post(f"{base}/cancel", headers=h)).json()["state"] == "cancelled"
    assert_error(await api.client.post(f"{base}/cancel", headers=h), 409, "CONFLICT")
    r = await api.client.post(f"{base}/extend", json={"days": 1}, headers=h)
    assert_error(r, 409, "CONFLICT")

    # After cancellation another plan of the group starts afresh.
    r = await api.client.post(
        "/api/admin/subscriptions", json={"user_id": uid, "plan_id": weekly["id"]}, headers=h
    )
    assert r.status_code == 200
    assert (r.json()["plan"], r.json()["state"], r.json()["purchases"]) == ("weekly", "active", 1)
    assert ts(r.json()["expires_at"]) - ts(r.json()["starts_at"]) == dt.timedelta(days=7)
    r = await api.client.get(f"/api/admin/subscriptions?user_id={uid}&state=active", headers=h)
    assert r.json()["total"] == 1


async def test_expired_reads_as_expired_and_extend_revives(api: Api) -> None:
    gid = await sub_group(api)
    plan = await make_plan(api, gid)
    uid = await seed.user(api.db, email="u@example.com")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    async with api.db.begin() as conn:
        result = await conn.execute(
            insert(subscriptions).values(
                user_id=uid,
                group_id=gid,
                plan_id=plan["id"],
                starts_at=past - dt.timedelta(days=30),
                expires_at=past,
                state="active",
                created_at=past,
            )
        )
        sid = int(result.inserted_primary_key[0])
    h = api.auth
    r = await api.client.get(f"/api/admin/subscriptions/{sid}", headers=h)
    assert r.json()["state"] == "expired"
    r = await api.client.get("/api/admin/subscriptions?state=expired", headers=h)
    assert r.json()["total"] == 1
    assert (await api.client.get("/api/admin/subscriptions?state=active", headers=h)).json()[
        "total"
    ] == 0
    assert_error(
        await api.client.post(f"/api/admin/subscriptions/{sid}/pause", headers=h), 409, "CONFLICT"
    )
    r = await api.client.post(f"/api/admin/subscriptions/{sid}/extend", json={"days": 2}, headers=h)
    assert r.json()["state"] == "active"
    expiry = ts(r.json()["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=1, hours=23) < expiry <= dt.timedelta(days=2)


async def test_subscription_errors(api: Api) -> None:
    gid = await sub_group(api)
    plan = await make_plan(api, gid)
    uid = await seed.user(api.db, email="u@example.com")
    h = api.auth
    for body, param in (
        ({"user_id": 999, "plan_id": plan["id"]}, "user_id"),
        ({"user_id": uid, "plan_id": 999}, "plan_id"),
    ):
        r = await api.client.post("/api/admin/subscriptions", json=body, headers=h)
        assert_error(r, 400, "INVALID_REQUEST", param)
    for path in ("/api/admin/subscriptions/999", "/api/admin/subscriptions/999/pause"):
        method = "GET" if path.endswith("999") else "POST"
        assert_error(await api.client.request(method, path, headers=h), 404, "NOT_FOUND")
    r = await api.client.post(
        "/api/admin/subscriptions", json={"user_id": uid, "plan_id": plan["id"]}, headers=h
    )
    sid = r.json()["id"]
    r = await api.client.post(f"/api/admin/subscriptions/{sid}/extend", json={"days": 0}, headers=h)
    assert_error(r, 400, "INVALID_REQUEST", "days")
    async with api.db.begin() as conn:
        await conn.execute(
            update(subscriptions).where(subscriptions.c.id == sid).values(managed=True)
        )
    assert_error(
        await api.client.post(f"/api/admin/subscriptions/{sid}/pause", headers=h), 409, "CONFLICT"
    )
    r = await api.client.post(
        "/api/admin/subscriptions", json={"user_id": uid, "plan_id": plan["id"]}, headers=h
    )
    assert_error(r, 409, "CONFLICT")
