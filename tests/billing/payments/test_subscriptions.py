"""Subscription purchase through orders (SPEC R14.6, R14.9): from the balance (paid at once or
402) or through Stripe (kind `subscription`), applied exactly once when paid."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from tests.api.test_me_keys import assert_error
from tests.billing.payments.shop import USD, Shop
from torouter.storage.tables import groups, orders, subscriptions


async def make_plan(
    shop: Shop, price_usd: str = "20", group: str = "pro", name: str | None = None
) -> int:
    async with shop.db.begin() as conn:
        gid = await conn.scalar(select(groups.c.id).where(groups.c.name == group))
        if gid is None:
            gid = (
                await conn.execute(
                    insert(groups).values(
                        name=group,
                        billing_type="subscription",
                        default_key_limits={},
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
            ).inserted_primary_key[0]
    body = {
        "name": name or f"{group}-{price_usd}",
        "group_id": gid,
        "price_usd": price_usd,
        "duration_days": 30,
    }
    r = await shop.admin.post("/api/admin/plans", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def subs_of(shop: Shop, uid: int) -> list[tuple[int | None, str, int]]:
    async with shop.db.connect() as conn:
        rows = await conn.execute(select(subscriptions).where(subscriptions.c.user_id == uid))
        return [(r.plan_id, r.state, r.purchases) for r in rows]


async def test_buying_from_the_balance_is_paid_at_once(shop: Shop) -> None:
    plan = await make_plan(shop)
    uid = await shop.user(balance_usd=50)
    me = await shop.browser(uid)
    r = await me.post(
        "/api/me/orders", json={"kind": "subscription", "plan_id": plan, "method": "balance"}
    )
    assert r.status_code == 201, r.text
    o = r.json()
    assert (o["status"], o["method"], o["amount_nusd"], o["checkout_url"]) == (
        "paid",
        "balance",
        20 * USD,
        None,
    )
    assert o["subscription_id"] is not None
    assert await subs_of(shop, uid) == [(plan, "active", 1)]
    assert ("subscription_purchase", -20 * USD, o["id"]) in await shop.entries(uid)
    assert await shop.counter(uid) == 30 * USD
    assert (uid, o["subscription_id"]) in {
        (k[0], v.id) for k, v in shop.snapshot.current.subscriptions.items()
    }
    assert shop.fake.requests == []  # Stripe plays no part


async def test_short_balance_is_402_and_charges_nothing(shop: Shop) -> None:
    plan = await make_plan(shop)
    uid = await shop.user(balance_usd=19)
    me = await shop.browser(uid)
    r = await me.post(
        "/api/me/orders", json={"kind": "subscription", "plan_id": plan, "method": "balance"}
    )
    assert_error(r, 402, "INSUFFICIENT_BALANCE")
    assert await subs_of(shop, uid) == [] and await shop.balance(uid) == 19 * USD
    async with shop.db.connect() as conn:
        assert (await conn.execute(select(orders))).all() == []


async def test_buying_through_stripe_applies_the_plan_once_paid(shop: Shop) -> None:
    plan = await make_plan(shop, "9.99")
    uid = await shop.user()
    me = await shop.browser(uid)
    r = await me.post("/api/me/orders", json={"kind": "subscription", "plan_id": plan})
    assert r.status_code == 201, r.text
    o = r.json()
    assert (o["kind"], o["status"], o["plan_id"], o["amount_nusd"]) == (
        "subscription",
        "pending",
        plan,
        9_990_000_000,
    )
    session = shop.fake.account.sessions[await shop.session_id(o["id"])]
    assert (session["amount_total"], session["metadata"]["kind"]) == (999, "subscription")
    assert await subs_of(shop, uid) == []

    shop.fake.webhooks.configure(duplicate=3)
    await shop.pay(o["id"])
    await shop.fake.webhooks.idle()
    assert await subs_of(shop, uid) == [(plan, "active", 1)]  # once, despite 3 deliveries
    row = await shop.order_row(o["id"])
    assert row["subscription_id"] is not None
    assert await shop.entries(uid) == []  # the card paid it: the balance never moved
    assert any(k[0] == uid for k in shop.snapshot.current.subscriptions)


async def test_another_live_plan_of_the_group_is_409_before_paying(shop: Shop) -> None:
    first = await make_plan(shop, "5", name="basic")
    second = await make_plan(shop, "10", name="plus")
    uid = await shop.user(balance_usd=10)
    me = await shop.browser(uid)
    r = await me.post(
        "/api/me/orders", json={"kind": "subscription", "plan_id": first, "method": "balance"}
    )
    assert r.status_code == 201
    r = await me.post("/api/me/orders", json={"kind": "subscription", "plan_id": second})
    assert_error(r, 409, "CONFLICT")
    assert shop.fake.account.sessions == {}


async def test_a_paid_plan_that_can_no_longer_be_applied_is_credited_to_the_balance(
    shop: Shop,
) -> None:
    """Paid by card while another plan of the group became live: the money is not lost."""
    first = await make_plan(shop, "5", name="basic")
    second = await make_plan(shop, "10", name="plus")
    uid = await shop.user(balance_usd=5)
    me = await shop.browser(uid)
    r = await me.post("/api/me/orders", json={"kind": "subscription", "plan_id": second})
    card = r.json()
    r = await me.post(
        "/api/me/orders", json={"kind": "subscription", "plan_id": first, "method": "balance"}
    )
    assert r.status_code == 201
    await shop.pay(card["id"])
    row = await shop.order_row(card["id"])
    assert row["subscription_id"] is None and "credited to the balance" in row["note"]
    assert ("topup", 10 * USD, card["id"]) in await shop.entries(uid)
    assert await shop.counter(uid) == 10 * USD


async def test_a_free_plan_is_not_sold_by_card(shop: Shop) -> None:
    plan = await make_plan(shop, "0")
    uid = await shop.user()
    me = await shop.browser(uid)
    r = await me.post("/api/me/orders", json={"kind": "subscription", "plan_id": plan})
    assert_error(r, 400, "INVALID_REQUEST", "method")
    r = await me.post(
        "/api/me/orders", json={"kind": "subscription", "plan_id": plan, "method": "balance"}
    )
    assert r.status_code == 201 and r.json()["status"] == "paid"
