"""The console's payment pages in-process on both databases (R14.2–R14.7, R15.1): top-up to
Stripe's checkout and back, the payment result (polling, then asking Stripe), open orders
with Resume and Cancel, the orders list, refund requests. The fake Stripe is a real HTTP
server the official SDK talks to; its webhooks come back over HTTP."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from sqlalchemy import select

from tests.console.conftest import PaySite, Site, csrf_of
from tests.console.test_pages import field_error
from torouter.app_payments import subscribe_paid_plan
from torouter.billing.payments.service import Payments
from torouter.config import PaymentsSettings
from torouter.crypto import keyring_for
from torouter.storage.repos.orders import insert_order
from torouter.storage.tables import orders

USD = 10**9


def alert(html: str) -> str:
    """The text of the page's alert (role="alert"), tags removed."""
    match = re.search(r'role="alert">(.*?)</div>', html, re.S)
    assert match, "no alert on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def form_action(r: httpx.Response) -> str:
    csp = r.headers["content-security-policy"]
    match = re.search(r"form-action ([^;]+)", csp)
    assert match
    return match.group(1)


async def open_order(ps: PaySite, c: httpx.AsyncClient, amount: str = "20.00") -> str:
    """A top-up through the page's preset button; the order's id."""
    r = await ps.site.form(c, "/purchase", "/purchase", {"preset_usd": amount})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"{ps.url}/c/pay/cs_")
    async with ps.site.db.connect() as conn:
        found = await conn.scalar(
            select(orders.c.id)
            .where(orders.c.stripe_session_url == r.headers["location"])
            .order_by(orders.c.created_at.desc())
        )
    assert found
    return str(found)


async def session_of(ps: PaySite, order_id: str) -> str:
    return str((await ps.order(order_id))["stripe_session_id"])


async def test_without_stripe_the_page_says_payments_are_not_configured(site: Site) -> None:
    """R14.7 in both languages, with no payments service and with one lacking the secrets;
    a post changes nothing."""
    c = await site.signed_in("nopay@example.com")
    r = await c.get("/purchase")
    assert r.status_code == 200 and "Payments are not configured on this instance" in r.text
    assert 'name="preset_usd"' not in r.text
    site.deps.payments = Payments(
        db=site.db,
        ledger=site.deps.ledger,
        snapshot=site.deps.snapshot,
        file_settings=PaymentsSettings(),
        keyring=keyring_for(site.deps.settings),
        base_url="http://console.test",
        subscribe=subscribe_paid_plan,
    )
    zh = await site.signed_in("nopay-zh@example.com", language="zh-CN")
    r = await zh.get("/billing/topup")  # the alias (R14.2)
    assert r.status_code == 200 and "本实例未配置支付" in r.text
    r = await site.form(c, "/purchase", "/purchase", {"amount_usd": "20"})
    assert r.status_code == 503
    assert "Payments are not configured on this instance" in r.text
    async with site.db.connect() as conn:
        assert await conn.scalar(select(orders.c.id)) is None


async def test_top_up_goes_to_stripe_and_the_result_shows_the_new_balance(
    pay_site: PaySite,
) -> None:
    """R14.2, R14.3: a preset creates an order and redirects to the checkout; the result page
    polls while pending and shows the credited balance once the webhook lands."""
    ps = pay_site
    c = await ps.site.signed_in("topup@example.com")
    uid = await ps.user_id("topup@example.com")
    r = await c.get("/purchase")
    assert r.status_code == 200
    for preset in ("10.00", "20.00", "50.00"):
        assert f'name="preset_usd" value="{preset}"' in r.text
    assert 'aria-label="Top up $20.00"' in r.text
    assert "From $5.00 to $500.00, with up to 2 decimals." in r.text
    # The checkout is on another origin: the page's forms may lead there (R18.5 otherwise).
    assert form_action(r) == f"'self' {ps.url}"
    assert 'href="/purchase"' in r.text and 'id="nav-balance"' in r.text  # navbar balance
    order_id = await open_order(ps, c)
    order = await ps.order(order_id)
    assert (order["status"], order["amount_nusd"], order["kind"]) == ("pending", 20 * USD, "topup")
    result = f"/payment/result?order={order_id}"
    r = await c.get(result)
    assert r.status_code == 200 and "Payment in progress" in r.text
    assert 'hx-get="/payment/result/status?order=' in r.text and 'hx-trigger="every 2s"' in r.text
    assert f'href="{result}&amp;since=' in r.text  # "Check again" without JavaScript
    ps.fake.account.pay(await session_of(ps, order_id))
    await ps.wait_status(order_id, "paid")
    since = re.search(r"since=(\d+)", r.text).group(1)  # type: ignore[union-attr]
    r = await c.get(f"/payment/result/status?order={order_id}&since={since}")
    assert r.status_code == 200 and "Payment received" in r.text
    assert "$20.00 was added to your balance." in r.text and "hx-trigger" not in r.text
    # The fragment brings the navbar's balance along, out of band.
    assert re.search(r'id="nav-balance"[^>]*hx-swap-oob="true"[^>]*>.*\$20\.00', r.text, re.S)
    assert await ps.balance(uid) == 20 * USD
    r = await c.get(result)
    assert "Your balance is now" in r.text and "$20.00" in r.text


async def test_custom_amounts_follow_the_limits(pay_site: PaySite) -> None:
    """R14.2: 2 decimals, within the configured limits; errors sit under the field."""
    ps = pay_site
    c = await ps.site.signed_in("custom@example.com")
    for amount, message in (
        ("3", "Enter an amount from $5.00 to $500.00."),
        ("501", "Enter an amount from $5.00 to $500.00."),
        ("12.345", "Use at most 2 decimals."),
        ("", "Enter an amount in USD."),
    ):
        r = await ps.site.form(c, "/purchase", "/purchase", {"amount_usd": amount})
        assert r.status_code == 400, (amount, r.text[:300])
        assert field_error(r.text, "amount_usd") == message
        assert f'value="{amount}"' in r.text  # what was typed stays
    zh = await ps.site.signed_in("custom-zh@example.com", language="zh-CN")
    r = await ps.site.form(zh, "/purchase", "/purchase", {"amount_usd": "1"})
    assert field_error(r.text, "amount_usd") == "请输入 US$5.00 至 US$500.00 之间的金额。"
    r = await ps.site.form(c, "/purchase", "/purchase", {"amount_usd": "12.34"})
    assert r.status_code == 303
    (order,) = await ps.orders_of(await ps.user_id("custom@example.com"))
    assert order["amount_nusd"] == 12_340_000_000


async def test_open_orders_offer_resume_and_cancel(pay_site: PaySite) -> None:
    """R14.4: the page remembers open checkouts (server-side, no script): Resume returns to
    the checkout, Cancel expires the Stripe session first; an expired one cannot resume."""
    ps = pay_site
    c = await ps.site.signed_in("open@example.com")
    first = await open_order(ps, c, "10.00")
    second = await open_order(ps, c, "20.00")
    r = await c.get("/purchase")
    assert "Unfinished payments" in r.text
    for order_id in (first, second):
        ref = order_id[-8:]
        assert f'aria-label="Resume order {ref}"' in r.text
        assert f'aria-label="Cancel order {ref}"' in r.text
    r = await c.post(
        f"/orders/{first}/resume", data={"csrf_token": csrf_of(r.text), "next": "/purchase"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == (await ps.order(first))["stripe_session_url"]
    r = await ps.site.form(c, "/purchase", f"/orders/{first}/cancel", {"next": "/purchase"})
    assert r.status_code == 303 and r.headers["location"] == "/purchase?notice=order_cancelled"
    assert (await ps.order(first))["status"] == "cancelled"
    assert ps.fake.account.sessions[await session_of(ps, first)]["status"] == "expired"
    r = await c.get("/purchase?notice=order_cancelled")
    assert "The order was cancelled; nothing was charged." in r.text
    assert f"Resume order {first[-8:]}" not in r.text
    # A cancelled order cannot be resumed: the reason, in words, and the way back.
    r = await ps.site.form(c, "/orders", f"/orders/{first}/resume", {"next": "/purchase"})
    assert r.status_code == 409 and "the order is Cancelled" in alert(r.text)
    assert 'href="/purchase"' in r.text
    # Past the checkout's expiry, Resume marks the order expired (R14.4).
    ps.site.clock.advance(minutes=31)
    r = await c.get("/purchase")
    assert "Unfinished payments" not in r.text
    r = await ps.site.form(c, "/orders", f"/orders/{second}/resume", {"next": "/orders"})
    assert r.status_code == 409 and "This checkout has expired. Start a new one." in alert(r.text)
    assert (await ps.order(second))["status"] == "expired"


async def test_too_many_open_orders_is_said_in_words(pay_site: PaySite) -> None:
    """R14.8 `max_pending_orders` (3): the fourth is refused (409) with the reason."""
    ps = pay_site
    c = await ps.site.signed_in("many@example.com")
    for _ in range(3):
        await open_order(ps, c)
    r = await ps.site.form(c, "/purchase", "/purchase", {"preset_usd": "10.00"})
    assert r.status_code == 409
    assert "You have 3 unpaid orders open. Pay or cancel one of them first." in alert(r.text)


async def test_the_result_page_asks_stripe_after_a_minute(pay_site: PaySite) -> None:
    """R14.3: a lost webhook; after 60 s of polling the page asks Stripe itself (the sync
    path) and shows the credit; polling stops."""
    ps = pay_site
    await ps.fake.control("POST", "/webhooks", {"mode": "drop"})
    c = await ps.site.signed_in("lost@example.com")
    uid = await ps.user_id("lost@example.com")
    order_id = await open_order(ps, c, "50.00")
    since = int(ps.site.clock.now().timestamp())
    ps.fake.account.pay(await session_of(ps, order_id))
    status = f"/payment/result/status?order={order_id}&since={since}"
    r = await c.get(status)
    assert "Payment in progress" in r.text and "hx-trigger" in r.text  # still polling
    assert (await ps.order(order_id))["status"] == "pending"
    ps.site.clock.advance(seconds=61)
    r = await c.get(status)
    assert "Payment received" in r.text and "hx-trigger" not in r.text
    assert (await ps.order(order_id))["status"] == "paid"
    assert await ps.balance(uid) == 50 * USD
    assert re.search(r'hx-swap-oob="true"[^>]*>.*\$50\.00', r.text, re.S)


async def test_a_minute_without_news_stops_polling_and_offers_to_check_again(
    pay_site: PaySite,
) -> None:
    """Not paid after a minute: Stripe is asked, nothing changes, the page says so and keeps a
    "Check again" link and the order's Resume and Cancel."""
    ps = pay_site
    c = await ps.site.signed_in("slow@example.com")
    order_id = await open_order(ps, c)
    since = int(ps.site.clock.now().timestamp())
    ps.site.clock.advance(seconds=90)
    r = await c.get(f"/payment/result?order={order_id}&since={since}")
    assert "Stripe has not confirmed the payment yet." in r.text
    assert "hx-trigger" not in r.text and "Check again" in r.text
    assert f"Resume order {order_id[-8:]}" in r.text
    # A forged `since` from long ago is clamped to an hour: still only "ask Stripe now".
    r = await c.get(f"/payment/result?order={order_id}&since=1")
    assert r.status_code == 200


async def test_failed_expired_and_cancelled_say_what_next(pay_site: PaySite) -> None:
    ps = pay_site
    c = await ps.site.signed_in("fail@example.com")
    failed = await open_order(ps, c)
    ps.fake.account.fail(await session_of(ps, failed))
    await ps.wait_status(failed, "failed")
    r = await c.get(f"/payment/result?order={failed}")
    assert "The payment failed" in r.text and "nothing was charged" in r.text
    assert '<a class="btn primary" href="/purchase">Try again</a>' in r.text
    cancelled = await open_order(ps, c)
    await ps.site.form(c, "/purchase", f"/orders/{cancelled}/cancel", {"next": "/purchase"})
    r = await c.get(f"/payment/result?order={cancelled}")
    assert "Order cancelled" in r.text
    zh = await ps.site.signed_in("fail-zh@example.com", language="zh-CN")
    mine = await open_order(ps, zh)
    ps.fake.account.expire_session(await session_of(ps, mine))
    await ps.wait_status(mine, "expired")
    r = await zh.get(f"/payment/result?order={mine}")
    assert "支付已过期" in r.text and "重试" in r.text


async def test_someone_elses_order_is_not_found(pay_site: PaySite) -> None:
    ps = pay_site
    owner = await ps.site.signed_in("owner@example.com")
    order_id = await open_order(ps, owner)
    other = await ps.site.signed_in("other@example.com")
    for path in (f"/orders/{order_id}", f"/payment/result?order={order_id}", "/payment/result"):
        assert (await other.get(path)).status_code == 404, path
    r = await ps.site.form(other, "/orders", f"/orders/{order_id}/cancel", {"next": "/orders"})
    assert r.status_code == 404 and "There is no such order." in alert(r.text)
    assert (await ps.order(order_id))["status"] == "pending"


async def test_orders_list_pages_by_twenty_and_filters_by_state(pay_site: PaySite) -> None:
    """R15.1: 20 a page, a status filter, states in words (both languages)."""
    ps = pay_site
    c = await ps.site.signed_in("list@example.com", language="zh-CN")
    uid = await ps.user_id("list@example.com")
    r = await c.get("/orders")
    assert "暂无订单" in r.text
    now = ps.site.clock.now()
    async with ps.site.db.begin() as conn:
        for i in range(25):
            status = "paid" if i % 5 else "failed"
            await insert_order(
                conn,
                {
                    "id": f"ord_TEST{i:022d}",
                    "user_id": uid,
                    "kind": "topup",
                    "amount_nusd": (i + 1) * USD,
                    "currency": "usd",
                    "method": "stripe",
                    "status": status,
                    "created_at": now - dt.timedelta(minutes=i),
                    "updated_at": now,
                    "paid_at": now if status == "paid" else None,
                },
            )
    r = await c.get("/orders")
    assert r.text.count('<td class="actions-cell">') == 20
    assert "第 1 页，共 2 页" in r.text and 'href="/orders?page=2"' in r.text
    assert "已支付" in r.text and "支付失败" in r.text
    assert "ord_TEST0000000000000000000000" in r.text  # newest first
    r = await c.get("/orders?page=2")
    assert r.text.count('<td class="actions-cell">') == 5
    r = await c.get("/orders?status=failed")
    assert r.text.count('<td class="actions-cell">') == 5 and "共 5 个订单" in r.text
    assert '<option value="failed" selected>' in r.text
    r = await c.get("/orders?status=refunded")
    assert "没有状态为“已退款”的订单。" in r.text
    r = await c.get("/orders?status=nonsense&page=x")
    assert r.status_code == 200 and r.text.count('<td class="actions-cell">') == 20


async def test_refund_request_shows_what_is_refundable(pay_site: PaySite) -> None:
    """R14.5: a paid top-up within the window, with a reason; spent money is not refundable;
    once asked, the order waits for an administrator."""
    ps = pay_site
    c = await ps.site.signed_in("refund@example.com")
    uid = await ps.user_id("refund@example.com")
    order_id = await open_order(ps, c, "20.00")
    ps.fake.account.pay(await session_of(ps, order_id))
    await ps.wait_status(order_id, "paid")
    await ps.fake.webhooks.idle()
    r = await c.get("/orders")
    assert f'aria-label="Request refund for order {order_id[-8:]}"' in r.text
    assert f'href="/orders/{order_id}#refund"' in r.text
    await ps.credit(uid, -5)  # spending eats this top-up: $15 of it is left
    r = await c.get(f"/orders/{order_id}")
    assert "Up to $15.00 of this $20.00 top-up can be refunded." in r.text
    r = await c.post(
        f"/orders/{order_id}/refund", data={"csrf_token": csrf_of(r.text), "reason": "  "}
    )
    assert r.status_code == 400 and field_error(r.text, "reason") == "This field is required."
    r = await c.post(
        f"/orders/{order_id}/refund",
        data={"csrf_token": csrf_of(r.text), "reason": "Bought too much"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/orders/{order_id}?notice=refund_requested"
    order = await ps.order(order_id)
    assert (order["status"], order["refund_reason"]) == ("refund_requested", "Bought too much")
    r = await c.get(r.headers["location"])
    assert "Your refund request was sent." in r.text and "Bought too much" in r.text
    assert "Refund requested" in r.text and "Request refund for order" not in r.text
    r = await c.post(
        f"/orders/{order_id}/refund", data={"csrf_token": csrf_of(r.text), "reason": "again"}
    )
    assert r.status_code == 409
    assert "A refund needs a paid order; this one is Refund requested." in alert(r.text)


async def test_a_checkout_on_an_unknown_domain_gets_a_link_not_a_redirect(
    pay_site: PaySite,
) -> None:
    """A checkout URL whose origin the page could not name in its form-action (a custom
    checkout domain) would be blocked by the browser after the post: a page links to it."""
    ps = pay_site
    ps.fake.account.public_url = ps.url.replace("127.0.0.1", "localhost")
    c = await ps.site.signed_in("elsewhere@example.com")
    r = await ps.site.form(c, "/purchase", "/purchase", {"preset_usd": "10.00"})
    assert r.status_code == 200 and "Continue to payment" in r.text
    link = re.search(r'<a class="btn primary wide" href="([^"]+)"[^>]*data-follow', r.text)
    assert link and link.group(1).startswith(ps.url.replace("127.0.0.1", "localhost") + "/c/pay/")
    assert form_action(r) == "'self'"


async def test_pages_render_in_both_languages(pay_site: PaySite) -> None:
    ps = pay_site
    for lang in ("en", "zh-CN"):
        c = await ps.site.signed_in(f"render-{lang}@example.com", language=lang)
        order_id = await open_order(ps, c)
        for path in (
            "/purchase",
            "/billing/topup",
            "/orders",
            f"/orders/{order_id}",
            f"/payment/result?order={order_id}",
            "/subscriptions",
            "/dashboard",
        ):
            r = await c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert f'<html lang="{lang}">' in r.text and "style=" not in r.text
            assert r.headers["cache-control"] == "no-store"
        r = await c.get("/dashboard")
        assert 'href="/purchase">' + ("Top up" if lang == "en" else "充值") in r.text
