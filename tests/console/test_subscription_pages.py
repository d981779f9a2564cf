"""`/subscriptions` in-process on both databases (R14.6, R15.1): plans per group with price,
duration and caps; buying or renewing from the balance (402 in words, with a Top up link) or
by card through Stripe; the auto-renew switch; the user's subscriptions with their use."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from tests.console.conftest import PaySite, csrf_of
from tests.console.test_payment_pages import alert, session_of
from torouter.storage.repos.groups import create_group
from torouter.storage.repos.plans import create_plan
from torouter.storage.tables import subscriptions

USD = 10**9


async def plans(ps: PaySite) -> tuple[int, int, int]:
    """Group `pro` with plans `pro-monthly` ($20, 30 days, $5 a day) and `pro-max` ($50), and
    a free trial in group `trial`."""
    async with ps.site.db.begin() as conn:
        pro = await create_group(conn, name="pro", billing_type="subscription")
        monthly = await create_plan(
            conn,
            name="pro-monthly",
            group_id=pro,
            price_nusd=20 * USD,
            duration_days=30,
            daily_cap_nusd=5 * USD,
            monthly_cap_nusd=100 * USD,
        )
        big = await create_plan(conn, name="pro-max", group_id=pro, price_nusd=50 * USD)
        trial_group = await create_group(conn, name="trial", billing_type="subscription")
        trial = await create_plan(
            conn, name="trial-week", group_id=trial_group, duration_days=7, max_per_user=1
        )
    await ps.site.deps.snapshot.reload()
    return monthly, big, trial


async def buy(ps: PaySite, c: httpx.AsyncClient, plan_id: int, method: str) -> httpx.Response:
    return await ps.site.form(
        c,
        "/subscriptions",
        "/subscriptions/buy",
        {"plan_id": str(plan_id), "method": method},
    )


async def test_plans_per_group_with_price_duration_and_caps(pay_site: PaySite) -> None:
    ps = pay_site
    await plans(ps)
    c = await ps.site.signed_in("plans@example.com")
    r = await c.get("/subscriptions")
    assert r.status_code == 200
    text = r.text
    assert "Group pro" in text and "Group trial" in text
    assert text.index("pro-monthly") < text.index("pro-max")  # cheapest first
    assert "$20.00" in text and "for 30 days" in text and "$5.00" in text and "$100.00" in text
    assert "No cap" in text and "Free" in text and "At most 1 per account" in text
    assert 'aria-label="Buy from balance: pro-monthly"' in text
    assert 'aria-label="Pay by card: pro-monthly"' in text
    assert 'aria-label="Pay by card: trial-week"' not in text  # free: the balance path only
    zh = await ps.site.signed_in("plans-zh@example.com", language="zh-CN")
    r = await zh.get("/subscriptions")
    assert "分组 pro" in r.text and "用余额购买" in r.text and "30 天" in r.text


async def test_short_balance_is_402_with_a_top_up_link(pay_site: PaySite) -> None:
    """R14.6: 402 INSUFFICIENT_BALANCE, said with the price and the balance; nothing bought."""
    ps = pay_site
    monthly, _, _ = await plans(ps)
    c = await ps.site.signed_in("short@example.com")
    uid = await ps.user_id("short@example.com")
    await ps.credit(uid, 3)
    r = await buy(ps, c, monthly, "balance")
    assert r.status_code == 402
    message = alert(r.text)
    assert "Your available balance ($3.00) does not cover pro-monthly ($20.00)." in message
    assert '<a class="btn primary small" href="/purchase">Top up</a>' in r.text
    async with ps.site.db.connect() as conn:
        assert await conn.scalar(select(subscriptions.c.id)) is None
    assert await ps.balance(uid) == 3 * USD


async def test_buy_and_renew_from_the_balance_then_auto_renew(pay_site: PaySite) -> None:
    ps = pay_site
    monthly, big, _ = await plans(ps)
    c = await ps.site.signed_in("buyer@example.com")
    uid = await ps.user_id("buyer@example.com")
    await ps.credit(uid, 50)
    r = await buy(ps, c, monthly, "balance")
    assert r.status_code == 303
    assert r.headers["location"] == "/subscriptions?notice=plan_bought"
    assert await ps.balance(uid) == 30 * USD
    (order,) = await ps.orders_of(uid)
    assert (order["kind"], order["method"], order["status"]) == ("subscription", "balance", "paid")
    r = await c.get("/subscriptions?notice=plan_bought")
    text = r.text
    assert "the plan was paid from your balance" in text
    assert "Your subscriptions" in text and "pro · pro-monthly" in text and "Active" in text
    assert "Today" in text and "This month" in text and "<meter" in text
    assert 'aria-label="Renew from balance: pro-monthly"' in text  # the same plan: renew
    assert "You have another plan of this group (pro-monthly)" in text  # pro-max is blocked
    assert 'aria-label="Buy from balance: pro-max"' not in text
    async with ps.site.db.connect() as conn:
        first = (await conn.execute(select(subscriptions))).mappings().one()
    r = await buy(ps, c, monthly, "balance")  # renew: one more period after the current one
    assert r.status_code == 303
    async with ps.site.db.connect() as conn:
        renewed = (await conn.execute(select(subscriptions))).mappings().one()
    assert (renewed["expires_at"] - first["expires_at"]).days == 30
    # Another plan of the group while one is live: refused, in words.
    r = await buy(ps, c, big, "balance")
    assert r.status_code == 409
    assert "You have another plan of this group" in alert(r.text)
    # Auto-renew on and off.
    sub_id = renewed["id"]
    r = await c.get("/subscriptions")
    assert 'aria-label="Turn auto-renew on: pro"' in r.text
    r = await c.post(
        f"/subscriptions/{sub_id}/auto-renew",
        data={"csrf_token": csrf_of(r.text), "auto_renew": "on"},
    )
    assert r.headers["location"] == "/subscriptions?notice=auto_renew_on"
    async with ps.site.db.connect() as conn:
        assert await conn.scalar(select(subscriptions.c.auto_renew)) is True
    r = await c.get(r.headers["location"])
    assert "Auto-renew is on." in r.text and 'aria-label="Turn auto-renew off: pro"' in r.text
    # Someone else cannot switch it.
    other = await ps.site.signed_in("intruder@example.com")
    r = await ps.site.form(
        other, "/subscriptions", f"/subscriptions/{sub_id}/auto-renew", {"auto_renew": "off"}
    )
    assert r.status_code == 404
    async with ps.site.db.connect() as conn:
        assert await conn.scalar(select(subscriptions.c.auto_renew)) is True


async def test_buy_by_card_through_stripe(pay_site: PaySite) -> None:
    """R14.6: kind `subscription` through Stripe Checkout; back on the result page, the plan
    is active."""
    ps = pay_site
    monthly, _, _ = await plans(ps)
    c = await ps.site.signed_in("card@example.com")
    uid = await ps.user_id("card@example.com")
    r = await c.get("/subscriptions")
    assert f"form-action 'self' {ps.url}" in r.headers["content-security-policy"]
    r = await buy(ps, c, monthly, "stripe")
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{ps.url}/c/pay/")
    (order,) = await ps.orders_of(uid)
    assert (order["kind"], order["method"]) == ("subscription", "stripe")
    assert order["status"] == "pending"
    ps.fake.account.pay(await session_of(ps, order["id"]))
    await ps.wait_status(order["id"], "paid")
    r = await c.get(f"/payment/result?order={order['id']}")
    assert "Payment received" in r.text
    assert re.search(r"Your plan pro-monthly is active until [^<]+\d", r.text)
    assert 'href="/subscriptions"' in r.text
    assert await ps.balance(uid) == 0  # the card paid, not the balance


async def test_the_free_trial_once(pay_site: PaySite) -> None:
    ps = pay_site
    _, _, trial = await plans(ps)
    c = await ps.site.signed_in("trial@example.com")
    r = await buy(ps, c, trial, "balance")
    assert r.status_code == 303
    r = await buy(ps, c, trial, "balance")
    assert r.status_code == 409
    assert "This plan can be bought at most 1 times per account." in alert(r.text)
