"""The payment pages in a real browser (R14, R15.5): Debian's chromium, controls found by role
and accessible name, at 1280 and 360 px, in English and Chinese, against the demo server with
its built-in fake Stripe (served on the same 127.0.0.1 address). Top-up through the fake's
hosted page (its Pay, Fail and Cancel buttons) back to the console; resume and cancel;
refund requests; plans bought from the balance (and refused for want of it) and by card.
Every console page visited passes the axe check, never scrolls sideways, breaks no CSP rule
and fetches nothing from another host."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.console.browser import (
    WIDTHS,
    Demo,
    Guard,
    check_page,
    funded_user,
    open_context,
    sign_in,
)

pytestmark = pytest.mark.browser

BOTH = [(1280, "en"), (360, "zh-CN")]
PAY_PAGE = "**/mock/stripe/c/pay/**"


def name(en: str, zh: str) -> re.Pattern[str]:
    return re.compile(f"^({re.escape(en)}|{re.escape(zh)})$")


def starts(en: str, zh: str) -> re.Pattern[str]:
    return re.compile(f"^({re.escape(en)}|{re.escape(zh)})")


@pytest.fixture(scope="module")
def plans(demo: Demo) -> Iterator[None]:
    """Plans to buy: `lite` ($3, group `pay-lite`) and `max` ($50, group `pay-max`), made
    through the admin API as an operator would."""
    with httpx.Client(base_url=demo.url, timeout=30) as c:
        r = c.post(
            "/api/auth/login",
            json={"email": "admin@torouter.local", "password": demo.admin_password},
        )
        assert r.status_code == 200, r.text
        c.headers["x-csrf-token"] = r.json()["csrf_token"]
        for group, plan, price in (("pay-lite", "lite", "3"), ("pay-max", "max", "50")):
            r = c.post("/api/admin/groups", json={"name": group, "billing_type": "subscription"})
            if r.status_code == 409:  # made by an earlier module of this session
                continue
            assert r.status_code == 201, r.text
            body = {
                "name": plan,
                "group_id": r.json()["id"],
                "price_usd": price,
                "duration_days": 30,
                "daily_cap_usd": "2",
            }
            r = c.post("/api/admin/plans", json=body)
            assert r.status_code == 201, r.text
    yield


async def signed_in_user(
    browser: Browser, demo: Demo, address: str, width: int, lang: str, **kw: bool
) -> tuple[BrowserContext, Page, Guard]:
    password = "payments password"
    await asyncio.to_thread(funded_user, demo, address, password)
    context, page, guard = await open_context(browser, width, lang, **kw)
    await page.goto(demo.url + "/login")
    await sign_in(page, demo, address, password)
    await page.wait_for_url("**/dashboard")
    return context, page, guard


async def to_checkout(page: Page, en: str, zh: str) -> None:
    """From /purchase, a preset amount to the fake Stripe's hosted page."""
    await page.get_by_role("button", name=name(f"Top up {en}", f"充值 {zh}")).click()
    await page.wait_for_url(PAY_PAGE)


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_top_up_through_the_fake_stripe(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    """R14.2, R14.3: the navbar balance leads to /purchase; a preset goes to Stripe's page;
    Pay comes back to /payment/result, which shows the credit and the new balance."""
    context, page, guard = await signed_in_user(
        browser, demo, f"topup-{width}@example.com", width, lang
    )
    balance = page.get_by_role("link", name=starts("Balance:", "余额:"))
    await expect(balance).to_have_text(re.compile(r"\$5\.00"))
    await balance.click()
    await page.wait_for_url("**/purchase")
    await expect(page.get_by_role("heading", name=name("Top up", "充值"), level=1)).to_be_visible()
    await check_page(page, guard)
    await to_checkout(page, "$20.00", "US$20.00")
    await page.get_by_role("button", name="Pay").click()
    await page.wait_for_url("**/payment/result?order=*")
    await expect(
        page.get_by_role("heading", name=name("Payment received", "付款成功"))
    ).to_be_visible(timeout=20_000)
    await expect(page.get_by_text(re.compile(r"\$25\.00")).first).to_be_visible()
    await expect(balance).to_have_text(re.compile(r"\$25\.00"))
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_failed_payment_says_so_and_offers_another_try(
    browser: Browser, demo: Demo, width: int
) -> None:
    context, page, guard = await signed_in_user(
        browser, demo, f"fail-{width}@example.com", width, "en"
    )
    await page.goto(demo.url + "/purchase")
    await to_checkout(page, "$10.00", "US$10.00")
    await page.get_by_role("button", name="Fail").click()
    await page.wait_for_url("**/payment/result?order=*")
    await expect(page.get_by_role("heading", name="The payment failed")).to_be_visible(
        timeout=20_000
    )
    await check_page(page, guard)
    await page.get_by_role("link", name="Try again").click()
    await page.wait_for_url("**/purchase")
    await expect(page.get_by_role("link", name=starts("Balance:", "余额:"))).to_have_text(
        re.compile(r"\$5\.00")
    )
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_cancel_on_the_pay_page_then_resume_and_cancel_the_order(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    """R14.2 cancel URL, R14.4: back on /purchase the open order offers Resume (to the same
    checkout) and Cancel (the order is cancelled, the checkout closed)."""
    context, page, guard = await signed_in_user(
        browser, demo, f"resume-{width}@example.com", width, lang
    )
    await page.goto(demo.url + "/purchase")
    await to_checkout(page, "$50.00", "US$50.00")
    checkout = page.url
    await page.get_by_role("button", name="Cancel").click()
    await page.wait_for_url("**/purchase")
    await expect(
        page.get_by_role("heading", name=name("Unfinished payments", "未完成的支付"))
    ).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("button", name=starts("Resume order", "继续支付订单")).click()
    await page.wait_for_url(checkout)
    await page.goto(demo.url + "/purchase")
    await page.get_by_role("button", name=starts("Cancel order", "取消订单")).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        name("The order was cancelled; nothing was charged.", "订单已取消，未产生任何扣款。")
    )
    resume = page.get_by_role("button", name=starts("Resume order", "继续支付订单"))
    await expect(resume).to_have_count(0)
    await check_page(page, guard)
    await page.goto(checkout)  # the checkout was closed at Stripe before the order was
    await expect(page.get_by_text("This session has expired.")).to_be_visible()
    await page.goto(demo.url + "/orders")
    await expect(page.get_by_role("cell", name=re.compile("(Cancelled|已取消)$"))).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_request_a_refund(browser: Browser, demo: Demo, width: int, lang: str) -> None:
    """R14.5: from the orders list to the order, the refundable amount, a reason, sent."""
    context, page, guard = await signed_in_user(
        browser, demo, f"refund-{width}@example.com", width, lang
    )
    await page.goto(demo.url + "/purchase")
    await to_checkout(page, "$10.00", "US$10.00")
    await page.get_by_role("button", name="Pay").click()
    await expect(
        page.get_by_role("heading", name=name("Payment received", "付款成功"))
    ).to_be_visible(timeout=20_000)
    await page.get_by_role("link", name=name("Orders", "订单")).first.click()
    await check_page(page, guard)
    await page.get_by_role("link", name=starts("Request refund for order", "为订单")).click()
    await expect(
        page.get_by_text(
            name(
                "Up to $10.00 of this $10.00 top-up can be refunded.",
                "这笔 US$10.00 的充值中，最多可退 US$10.00。",
            )
        )
    ).to_be_visible()
    await check_page(page, guard)
    form = page.get_by_role("region", name=name("Refund", "退款"))
    await form.get_by_role("button", name=name("Request refund", "申请退款")).click()
    await expect(page.get_by_text(name("This field is required.", "此项必填。"))).to_be_visible()
    await check_page(page, guard)
    await form.get_by_role("textbox", name=name("Reason", "原因")).fill("Changed my mind")
    await form.get_by_role("button", name=name("Request refund", "申请退款")).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        starts("Your refund request was sent.", "退款申请已提交")
    )
    await expect(page.get_by_text("Changed my mind")).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_subscriptions_from_the_balance_402_and_by_card(
    browser: Browser, demo: Demo, plans: None, width: int, lang: str
) -> None:
    """R14.6: a plan from the balance; one the balance does not cover is refused (402) with a
    Top up link; the same plan by card through Stripe's page, active on the result page."""
    context, page, guard = await signed_in_user(
        browser, demo, f"plans-{width}@example.com", width, lang
    )
    await page.get_by_role("link", name=name("Subscriptions", "订阅")).first.click()
    await check_page(page, guard)
    lite = name("Buy from balance: lite", "用余额购买：lite")
    await page.get_by_role("button", name=lite).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        starts("Done: the plan was paid", "已用余额支付")
    )
    await expect(page.get_by_role("heading", name=re.compile("pay-lite · lite"))).to_be_visible()
    await expect(
        page.get_by_role("meter", name=starts("Today: $0.00 of $2.00", "今天：已用 US$0.00"))
    ).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("button", name=name("Buy from balance: max", "用余额购买：max")).click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(re.compile(r"\$2\.00.*\$50\.00"))
    await check_page(page, guard)
    await alert.get_by_role("link", name=name("Top up", "充值")).click()
    await page.wait_for_url("**/purchase")
    await page.goto(demo.url + "/subscriptions")
    await page.get_by_role("button", name=name("Pay by card: max", "银行卡支付：max")).click()
    await page.wait_for_url(PAY_PAGE)
    await page.get_by_role("button", name="Pay").click()
    await page.wait_for_url("**/payment/result?order=*")
    await expect(
        page.get_by_role("heading", name=name("Payment received", "付款成功"))
    ).to_be_visible(timeout=20_000)
    active = starts("Your plan max is active until", "你的套餐 max 有效期至")
    await expect(page.get_by_text(active)).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("link", name=name("Subscriptions", "订阅")).last.click()
    await expect(page.get_by_role("heading", name=re.compile("pay-max · max"))).to_be_visible()
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_payment_result_without_javascript(browser: Browser, demo: Demo, width: int) -> None:
    """R15.5: without JavaScript the result page offers "Check again" (no meta refresh), and
    the top-up works end to end."""
    context, page, guard = await signed_in_user(
        browser, demo, f"nojs-{width}@example.com", width, "en", javascript=False
    )
    await page.goto(demo.url + "/purchase")
    await page.get_by_role("textbox", name="Amount (USD)").fill("7.25")
    await page.get_by_role("button", name="Continue to payment").click()
    await page.wait_for_url(PAY_PAGE)
    await page.get_by_role("button", name="Pay").click()
    await page.wait_for_url("**/payment/result?order=*")
    assert await page.locator("meta[http-equiv]").count() == 0
    for _ in range(20):
        if await page.get_by_role("heading", name="Payment received").count():
            break
        await page.get_by_role("link", name="Check again").click()
        await page.wait_for_load_state("load")
    await expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    await expect(page.get_by_text("$7.25 was added to your balance.")).to_be_visible()
    assert guard.outside == []
    await context.close()


@pytest.mark.parametrize(("width", "lang"), [(w, lang) for w in WIDTHS for lang in ("en", "zh-CN")])
async def test_every_payment_page_passes_the_checks(
    browser: Browser, demo: Demo, plans: None, width: int, lang: str
) -> None:
    """axe, no sideways scroll, no CSP violation, nothing off the host: the payment pages in
    their states, empty ones included."""
    context, page, guard = await signed_in_user(
        browser, demo, f"checks-{width}-{lang.lower()}@example.com", width, lang
    )
    for path in ("/purchase", "/billing/topup", "/orders", "/subscriptions", "/orders?status=paid"):
        await page.goto(demo.url + path)
        await check_page(page, guard)
    await page.goto(demo.url + "/purchase")
    await page.get_by_role("textbox", name=name("Amount (USD)", "金额（美元）")).fill("0.1")
    await page.get_by_role("button", name=name("Continue to payment", "前往支付")).click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await check_page(page, guard)
    await to_checkout(page, "$20.00", "US$20.00")
    await page.get_by_role("button", name="Cancel").click()
    await page.wait_for_url("**/purchase")
    await check_page(page, guard)  # with the unfinished payment
    await page.goto(demo.url + "/orders")
    await check_page(page, guard)
    await page.get_by_role("link", name=re.compile(r"^(Top-up, order|充值，订单) ")).first.click()
    await check_page(page, guard)  # a pending order's page
    order_id = page.url.rsplit("/", 1)[1]
    await page.goto(f"{demo.url}/payment/result?order={order_id}")
    await check_page(page, guard)  # pending, polling
    await page.goto(f"{demo.url}/orders/nope")
    await check_page(page, guard)  # not found
    # A stale Resume button (the order was cancelled meanwhile): the problem page.
    await page.goto(demo.url + "/purchase")
    csrf = await page.locator("input[name=csrf_token]").first.input_value()
    r = await page.request.post(
        f"{demo.url}/api/me/orders/{order_id}/cancel", headers={"x-csrf-token": csrf}
    )
    assert r.status == 200, await r.text()
    await page.get_by_role("button", name=starts("Resume order", "继续支付订单")).click()
    await expect(page.get_by_role("alert")).to_contain_text(
        re.compile("the order is Cancelled|订单状态为“已取消”")
    )
    await check_page(page, guard)
    await page.goto(f"{demo.url}/payment/result?order={order_id}")
    await check_page(page, guard)  # cancelled
    await context.close()
