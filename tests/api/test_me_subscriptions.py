"""`/api/me/plans` and `/api/me/subscriptions`: buying from the balance (R7.7, R14.6)."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import func, insert, select, update

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_admin_plans import make_plan, sub_group, ts
from tests.api.test_me_catalog import HeldState
from tests.api.test_me_keys import assert_error
from torouter.billing.ledger import Ledger, balance_counter
from torouter.storage.tables import group_grants, groups, ledger, subscriptions, users

USD = 1_000_000_000


async def _rich_user(api: Api, balance_usd: int = 50) -> tuple[int, httpx.AsyncClient]:
    uid = await seed.user(api.db, email="u@example.com", balance_nusd=balance_usd * USD)
    await api.state.seed(balance_counter(uid), -balance_usd * USD)  # as the gateway seeds it
    return uid, await api.signed_in(uid)


async def _ledger_rows(api: Api, uid: int) -> list[tuple[int, str]]:
    async with api.db.connect() as conn:
        rows = await conn.execute(
            select(ledger.c.amount_nusd, ledger.c.reason)
            .where(ledger.c.user_id == uid)
            .order_by(ledger.c.id)
        )
        return [(a, r) for a, r in rows]


async def _balance(api: Api, uid: int) -> int:
    async with api.db.connect() as conn:
        return int(await conn.scalar(select(users.c.balance_nusd).where(users.c.id == uid)) or 0)


async def test_buy_then_renew_extends_from_the_expiry(api: Api) -> None:
    gid = await sub_group(api)
    plan = await make_plan(api, gid, price_usd="20", duration_days=30, daily_cap_usd=5)
    uid, me = await _rich_user(api, 50)

    r = await me.get("/api/me/plans")
    assert [p["id"] for p in r.json()["data"]] == [plan["id"]]

    r = await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["state"], sub["plan_id"], sub["daily_cap_nusd"]) == ("active", plan["id"], 5 * USD)
    first = ts(sub["expires_at"])
    assert first - ts(sub["starts_at"]) == dt.timedelta(days=30)
    assert await _ledger_rows(api, uid) == [(-20 * USD, "subscription_purchase")]
    assert await _balance(api, uid) == 30 * USD
    # The gateway's balance counter moved with it, and its snapshot has the subscription.
    assert await api.state.used(balance_counter(uid)) == (-30 * USD, 0)
    assert api.snapshot.current.subscriptions[(uid, gid)].plan_id == plan["id"]

    r = await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["id"] == sub["id"] and again["purchases"] == 2
    assert ts(again["expires_at"]) == first + dt.timedelta(days=30)
    assert ts(again["starts_at"]) == ts(sub["starts_at"])
    assert await _balance(api, uid) == 10 * USD
    assert [r for _, r in await _ledger_rows(api, uid)] == ["subscription_purchase"] * 2

    r = await me.get("/api/me/subscriptions")
    (listed,) = r.json()["data"]
    assert listed["group"] == "pro" and listed["plan"] == "monthly"
    assert listed["daily_used_nusd"] == 0 and listed["monthly_cap_usd"] == "0.000000000"


async def test_insufficient_balance_is_402_and_charges_nothing(api: Api) -> None:
    gid = await sub_group(api)
    plan = await make_plan(api, gid, price_usd="20")
    uid, me = await _rich_user(api, 19)
    r = await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})
    assert_error(r, 402, "INSUFFICIENT_BALANCE")
    assert await _ledger_rows(api, uid) == []
    assert await _balance(api, uid) == 19 * USD
    async with api.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(subscriptions)) == 0
    assert await api.state.used(balance_counter(uid)) == (-19 * USD, 0)

    # Requests in flight hold part of the balance: it does not pay for a plan either.
    async with api.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == uid).values(balance_nusd=20 * USD))
    api.rebuild(ledger=Ledger(HeldState(1)))
    me = await api.signed_in(uid)
    r = await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})
    assert_error(r, 402, "INSUFFICIENT_BALANCE")
    api.rebuild(ledger=Ledger(HeldState(0)))
    me = await api.signed_in(uid)
    r = await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})
    assert r.status_code == 201 and await _balance(api, uid) == 0  # exactly enough


async def test_conflicts_trials_and_free_plans(api: Api) -> None:
    gid = await sub_group(api)
    monthly = await make_plan(api, gid, price_usd="1")
    trial = await make_plan(api, gid, name="trial", price_usd="0", max_per_user=1, duration_days=3)
    uid, me = await _rich_user(api, 10)
    post = me.post

    r = await post("/api/me/subscriptions", json={"plan_id": trial["id"]})
    assert r.status_code == 201 and await _ledger_rows(api, uid) == []  # free: no entry
    r = await post("/api/me/subscriptions", json={"plan_id": monthly["id"]})
    assert_error(r, 409, "CONFLICT")  # another plan of the group while one is live
    r = await post("/api/me/subscriptions", json={"plan_id": trial["id"]})
    assert_error(r, 409, "CONFLICT")  # a trial once
    assert await _balance(api, uid) == 10 * USD

    # Once the trial has ended, the monthly plan starts afresh.
    async with api.db.begin() as conn:
        await conn.execute(update(subscriptions).values(state="expired"))
    r = await post("/api/me/subscriptions", json={"plan_id": monthly["id"]})
    assert r.status_code == 200 and r.json()["plan"] == "monthly"
    assert ts(r.json()["starts_at"]) > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


async def test_plans_on_offer_only(api: Api) -> None:
    gid = await sub_group(api)
    vip = await sub_group(api, "vip")
    hidden = await make_plan(api, gid, name="off", enabled=False)
    async with api.db.begin() as conn:
        await conn.execute(update(groups).where(groups.c.id == vip).values(visibility="private"))
    private = await make_plan(api, vip, name="vip")
    uid, me = await _rich_user(api)
    post = me.post
    for plan_id in (hidden["id"], private["id"], 999):
        r = await post("/api/me/subscriptions", json={"plan_id": plan_id})
        assert_error(r, 400, "INVALID_REQUEST", "plan_id")
    assert (await me.get("/api/me/plans")).json()["total"] == 0
    async with api.db.begin() as conn:
        await conn.execute(insert(group_grants).values(group_id=vip, user_id=uid))
    r = await post("/api/me/subscriptions", json={"plan_id": private["id"]})
    assert r.status_code == 201


async def test_auto_renew_and_ownership(api: Api) -> None:
    gid = await sub_group(api)
    plan = await make_plan(api, gid, price_usd="0")
    uid, me = await _rich_user(api)
    sub = (await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})).json()
    path = f"/api/me/subscriptions/{sub['id']}"
    r = await me.patch(path, json={"auto_renew": True})
    assert r.status_code == 200 and r.json()["auto_renew"] is True
    assert api.snapshot.current.subscriptions[(uid, gid)].auto_renew is True
    r = await me.patch(path, json={"auto_renew": None})
    assert_error(r, 400, "INVALID_REQUEST", "auto_renew")

    other = await seed.user(api.db, email="o@example.com")
    them = await api.signed_in(other)
    # Someone else's subscription answers exactly like a missing one (no id probing).
    theirs = await them.patch(path, json={"auto_renew": False})
    missing = await them.patch("/api/me/subscriptions/999", json={"auto_renew": False})
    assert_error(theirs, 404, "NOT_FOUND")
    assert theirs.content == missing.content
    assert (await them.get("/api/me/subscriptions")).json()["total"] == 0
    assert_error(
        await me.patch("/api/me/subscriptions/999", json={"auto_renew": True}),
        404,
        "NOT_FOUND",
    )
    async with api.db.begin() as conn:
        await conn.execute(update(subscriptions).values(managed=True))
    assert_error(await me.patch(path, json={"auto_renew": False}), 409, "CONFLICT")


async def test_unverified_users_cannot_buy(api: Api) -> None:
    gid = await sub_group(api)
    plan = await make_plan(api, gid, price_usd="0")
    uid = await seed.user(api.db, email="u@example.com", state="unverified")
    me = await api.signed_in(uid)
    r = await me.post("/api/me/subscriptions", json={"plan_id": plan["id"]})
    assert_error(r, 403, "EMAIL_NOT_VERIFIED")
    assert (await me.get("/api/me/subscriptions")).status_code == 200
