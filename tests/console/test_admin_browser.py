"""The operator side in a real browser (R15.2, R15.5, issue 17): Debian's chromium, controls
found by role and accessible name, at 1280 and 360 px. Every page visited passes the axe
check (no serious or critical violation), never scrolls sideways, breaks no CSP rule and
fetches nothing from another host. Each test makes what it needs, so tests share the
session's server (one per worker) in any order."""

from __future__ import annotations

import asyncio
import re
from contextlib import closing
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.console.browser import (
    WIDTHS,
    Demo,
    Guard,
    api_session,
    check_page,
    funded_user,
    login_admin,
    login_demo,
    open_context,
)
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.browser


def name(en: str, zh: str) -> re.Pattern[str]:
    return re.compile(f"^({re.escape(en)}|{re.escape(zh)})$")


def admin_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name=name("Administration", "管理"))


def admin_client(demo: Demo) -> httpx.Client:
    return api_session(demo, "admin@torouter.local", demo.admin_password)


async def notice(page: Page, text: str) -> None:
    await expect(page.get_by_role("status").filter(has_text=text).first).to_be_visible()


async def visit(page: Page, guard: Guard, url: str) -> None:
    await page.goto(url)
    await check_page(page, guard)


@pytest.mark.parametrize("width", WIDTHS)
async def test_an_account_managed_from_its_page(browser: Browser, demo: Demo, width: int) -> None:
    """Search, balance with a reason, state, role, grants, subscriptions, sessions."""
    address, password = f"acct-{width}@example.com", "acct password"
    await asyncio.to_thread(funded_user, demo, address, password)

    def prepare() -> None:
        with closing(admin_client(demo)) as api:
            vip = api.post(
                "/api/admin/groups", json={"name": f"vip-{width}", "visibility": "private"}
            )
            pro = api.post(
                "/api/admin/groups", json={"name": f"pro-{width}", "billing_type": "subscription"}
            )
            assert vip.status_code == 201 and pro.status_code == 201, (vip.text, pro.text)
            plan = api.post(
                "/api/admin/plans",
                json={"name": f"pro-plan-{width}", "group_id": pro.json()["id"], "price_usd": "3"},
            )
            assert plan.status_code == 201, plan.text

    await asyncio.to_thread(prepare)
    user_session = await asyncio.to_thread(api_session, demo, address, password)
    context, page, guard = await open_context(browser, width, "en")
    await login_admin(page, demo)
    await page.get_by_role("link", name="Admin").click()
    await expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("searchbox", name="Email contains").fill(f"acct-{width}")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_text("1 users found.")).to_be_visible()
    await page.get_by_role("link", name=address).click()
    await expect(page.get_by_role("heading", name=address)).to_be_visible()
    await check_page(page, guard)
    # Balance: a debit without a reason is refused next to the field; with one it is applied.
    await page.get_by_role("combobox", name="Change").select_option("debit")
    await page.get_by_role("textbox", name="Amount (USD)").fill("1.5")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_text("This field is required.")).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("combobox", name="Change").select_option("debit")
    await page.get_by_role("textbox", name="Amount (USD)").fill("1.5")
    await page.get_by_role("textbox", name="Reason").fill("browser correction")
    await page.get_by_role("button", name="Apply").click()
    await notice(page, "The balance was debited.")
    await expect(page.get_by_role("cell", name="browser correction")).to_be_visible()
    # State: suspended users cannot use the API; reactivated, they can again.
    await page.get_by_role("button", name="Suspend").click()
    await notice(page, "The account was suspended; its sessions ended.")
    r = await asyncio.to_thread(user_session.get, "/api/me/profile")
    assert r.status_code == 401
    await page.get_by_role("button", name="Reactivate").click()
    await notice(page, "The account was reactivated.")
    # Role.
    await page.get_by_role("combobox", name="Role").select_option("admin")
    await page.get_by_role("button", name="Save the role").click()
    await notice(page, "The role was saved.")
    await page.get_by_role("combobox", name="Role").select_option("user")
    await page.get_by_role("button", name="Save the role").click()
    # Private group grants.
    await page.get_by_role("button", name=f"Grant vip-{width}").click()
    await notice(page, "The group was granted.")
    await page.get_by_role("button", name=f"Revoke vip-{width}").click()
    await notice(page, "The grant was revoked.")
    # Subscriptions: assign, extend, pause, resume, cancel.
    await page.get_by_role("combobox", name="Plan").select_option(
        label=f"pro-plan-{width} (pro-{width}, 30 days, $3.00)"
    )
    await page.get_by_role("button", name="Assign").click()
    await notice(page, "The plan was assigned.")
    plan_name = f"pro-plan-{width}"
    await page.get_by_role("spinbutton", name=f"Days to extend {plan_name}").fill("7")
    await page.get_by_role("button", name=f"Extend {plan_name}").click()
    await notice(page, "The subscription was extended.")
    await page.get_by_role("button", name=f"Pause {plan_name}").click()
    await notice(page, "The subscription was paused.")
    await expect(page.get_by_text("Paused", exact=True)).to_be_visible()
    await page.get_by_role("button", name=f"Resume {plan_name}").click()
    await notice(page, "The subscription was resumed.")
    await page.get_by_role("button", name=f"Cancel {plan_name}").click()
    await notice(page, "The subscription was cancelled.")
    await check_page(page, guard)
    # The audit log has every action, with the admin as actor, reached from the account.
    await page.get_by_role("link", name="This account in the audit log").click()
    for action in ("user.admin_debit", "user.suspend", "user.reactivate", "user.role"):
        await expect(page.get_by_role("cell", name=action).first).to_be_visible()
    await check_page(page, guard)
    user_session.close()
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_price_edit_bills_the_next_request(
    browser: Browser, demo: Demo, width: int
) -> None:
    """A group, a model and a channel made in the console; a request through the gateway is
    billed at the model's price, the price is edited, the very next request at the new one."""
    w = width
    context, page, guard = await open_context(browser, width, "en")
    await login_admin(page, demo)
    # A model with its prices.
    await page.goto(demo.url + "/admin/models")
    await check_page(page, guard)
    await page.get_by_role("link", name="Create model").click()
    await page.get_by_role("textbox", name="Model id").fill(f"priced-{w}")
    await page.get_by_role("textbox", name="Input, per 1M tokens").fill("2")
    await page.get_by_role("textbox", name="Output, per 1M tokens").fill("4")
    await page.get_by_role("button", name="Create model").click()
    await notice(page, "The model was created.")
    await check_page(page, guard)
    # A public group offering it.
    await admin_nav(page).get_by_role("link", name="Groups").click()
    await page.get_by_role("link", name="Create group").click()
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Name").fill(f"billing-{w}")
    await page.get_by_role("textbox", name="Catalog").fill(f"priced-{w}")
    await page.get_by_role("button", name="Create group").click()
    await notice(page, "The group was created.")
    # A channel on the mock provider serving it in that group.
    await admin_nav(page).get_by_role("link", name="Channels").click()
    await page.get_by_role("link", name="Create channel").click()
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Name").fill(f"mock-{w}")
    await page.get_by_role("textbox", name="Base URL").fill(demo.url + "/mock/openai/v1")
    await page.get_by_label("API key or token").fill("sk-mock-browser")
    await page.get_by_role("textbox", name="Models", exact=True).fill(f"priced-{w}")
    await page.get_by_role("checkbox", name=f"billing-{w}").check()
    await page.get_by_role("button", name="Create channel").click()
    await notice(page, "The channel was created.")
    await expect(page.get_by_text("Set (write-only)")).to_be_visible()
    assert "sk-mock-browser" not in await page.content()
    # A user's key in that group, and a request billed at $2 / $4.
    address, password = f"buyer-{w}@example.com", "buyer password"
    await asyncio.to_thread(funded_user, demo, address, password)

    def make_key() -> str:
        with closing(api_session(demo, address, password)) as me:
            r = me.post("/api/me/keys", json={"name": "priced", "group": f"billing-{w}"})
            assert r.status_code == 201, r.text
            return str(r.json()["key"])

    key = await asyncio.to_thread(make_key)
    first = await asyncio.to_thread(billed, demo, key, f"priced-{w}")
    assert first["cost_nusd"] == cost(first, "2", "4")
    # The edit, then the very next request.
    await page.goto(demo.url + f"/admin/models/priced-{w}")
    await page.get_by_role("textbox", name="Input, per 1M tokens").fill("10")
    await page.get_by_role("textbox", name="Output, per 1M tokens").fill("30.5")
    await page.get_by_role("button", name="Save").click()
    await notice(page, "The model was saved; the next request is billed at these prices.")
    await check_page(page, guard)
    second = await asyncio.to_thread(billed, demo, key, f"priced-{w}")
    assert second["cost_nusd"] == cost(second, "10", "30.5") != first["cost_nusd"]
    await context.close()


def billed(demo: Demo, key: str, model: str) -> dict[str, Any]:
    """Send one chat through the gateway; its usage row once the writer stored it."""
    r = httpx.post(
        demo.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "price me"}]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    rid = r.headers["x-request-id"]
    with closing(admin_client(demo)) as api:

        def row() -> dict[str, Any] | None:
            found = api.get("/api/admin/usage", params={"request_id": rid}).json()["data"]
            return found[0] if found else None

        return wait_until(row, timeout=20, what=f"usage row {rid}")  # type: ignore[no-any-return]


def cost(row: dict[str, Any], input_price: str, output_price: str) -> int:
    """R10.4 for a chat: tokens × USD per 1M, in nUSD, rounded half up once. The cache
    prices are unset, so they follow the input price (R10.3): the mock reports prompt cache
    reads for a repeated prompt."""
    price_in = Decimal(input_price)
    nusd = (
        row["input_tokens"] * price_in
        + row["cache_read_tokens"] * price_in
        + row["cache_write_5m_tokens"] * price_in * Decimal("1.25")
        + row["cache_write_1h_tokens"] * price_in * 2
        + row["output_tokens"] * Decimal(output_price)
    ) * 1000
    return int(nusd.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def _channel(demo: Demo, name_: str, models: list[str], directive: str | None = None) -> int:
    """A channel on the demo's mock provider (through the admin API), in group `default`."""
    body: dict[str, Any] = {
        "name": name_,
        "platform": "openai",
        "base_url": demo.url + "/mock/openai/v1",
        "credential": "sk-mock",
        "models": models,
        "groups": ["default"],
        "priority": 50,  # below the demo channels: the demo's own requests never land here
    }
    if directive:
        body["extra_headers"] = {"x-mock": directive}
    with closing(admin_client(demo)) as api:
        r = api.post("/api/admin/channels", json=body)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_channel_tested_edited_and_compared(
    browser: Browser, demo: Demo, width: int
) -> None:
    """R9.9 Test and health, priority and weight in the list, the write-only credential,
    disable and enable, every model tested with streaming, the upstream's list applied."""
    label = f"ops-{width}"
    cid = await asyncio.to_thread(_channel, demo, label, ["demo-gpt", "demo-embed", "stale-model"])
    context, page, guard = await open_context(browser, width, "en")
    await login_admin(page, demo)
    await page.goto(demo.url + "/admin/channels")
    await check_page(page, guard)
    await page.get_by_role("spinbutton", name=f"Priority of {label}").fill("40")
    await page.get_by_role("spinbutton", name=f"Weight of {label}").fill("7")
    await page.get_by_role("button", name=f"Save the priority and weight of {label}").click()
    await notice(page, "The priority and weight were saved.")
    await expect(page.get_by_role("spinbutton", name=f"Weight of {label}")).to_have_value("7")
    await page.get_by_role("button", name=f"Test {label}").click()
    await expect(page.get_by_role("heading", name="Test passed")).to_be_visible()
    await expect(page.get_by_text("Last probe or test")).to_be_visible()
    await check_page(page, guard)
    # The credential is write-only: never in the form, replaced when typed.
    await page.get_by_role("link", name="Edit").click()
    await check_page(page, guard)
    await expect(page.get_by_label("API key or token")).to_have_value("")
    await page.get_by_label("API key or token").fill("sk-rotated-browser")
    await page.get_by_role("button", name="Save").click()
    await notice(page, "The channel was saved.")
    assert "sk-rotated-browser" not in await page.content()
    await page.get_by_role("button", name="Disable").click()
    await notice(page, "The channel was disabled.")
    await expect(page.get_by_text("Disabled", exact=True).first).to_be_visible()
    await page.get_by_role("button", name="Enable").click()
    await notice(page, "The channel was enabled.")
    # Every model, streamed: a result per model, shown as they arrive (server-sent events).
    await page.get_by_role("link", name="Test every model").click()
    await check_page(page, guard)
    await page.get_by_role("checkbox", name="Streamed requests").check()
    await page.get_by_role("button", name="Start").click()
    results = page.get_by_role("listitem").filter(has=page.locator(".check-model"))
    await expect(results).to_have_count(3)
    await expect(
        page.get_by_text(re.compile(r"Done: \d passed, \d failed, of 3\."))
    ).to_be_visible()
    await expect(results.filter(has_text="first byte").first).to_be_visible()
    await check_page(page, guard)
    # The upstream's list: add one it offers, remove the one it does not list.
    await page.goto(demo.url + f"/admin/channels/{cid}")
    await page.get_by_role("link", name="Compare with upstream").click()
    await check_page(page, guard)
    await page.get_by_role("checkbox", name="gpt-4o", exact=True).check()
    await page.get_by_role("checkbox", name="stale-model").check()
    await page.get_by_role("button", name="Apply the ticked changes").click()
    await notice(page, "The channel's models were updated.")
    await expect(page.get_by_text("gpt-4o", exact=True)).to_be_visible()
    await expect(page.get_by_text("stale-model")).to_have_count(0)
    await context.close()


async def test_every_model_test_stops_mid_run(browser: Browser, demo: Demo) -> None:
    """Stop aborts the run: the results so far stay, no later one comes."""
    models = [f"slow-{i}" for i in range(8)]
    cid = await asyncio.to_thread(_channel, demo, "slow-js", models, "slow_first_byte=1500")
    context, page, guard = await open_context(browser, 360, "en")
    await login_admin(page, demo)
    await page.goto(demo.url + f"/admin/channels/{cid}/check")
    await page.get_by_role("button", name="Start").click()
    results = page.locator(".check-item")
    await expect(results.first).to_be_visible(timeout=20_000)
    await page.get_by_role("button", name="Stop").click()
    await expect(page.get_by_text(re.compile(r"Stopped after \d of 8\."))).to_be_visible()
    stopped_at = await results.count()
    assert 1 <= stopped_at < 8
    await expect(page.get_by_role("button", name="Start")).to_be_enabled()
    await check_page(page, guard)
    await context.close()


async def test_every_model_test_without_javascript(browser: Browser, demo: Demo) -> None:
    """The degraded way: the page grows while the checks run; leaving it stops the run."""
    models = [f"nojs-{i}" for i in range(4)]  # three at a time: the fourth comes later
    cid = await asyncio.to_thread(_channel, demo, "slow-nojs", models, "slow_first_byte=1500")
    context, page, guard = await open_context(browser, 1280, "en", javascript=False)
    await login_admin(page, demo)
    await page.goto(demo.url + f"/admin/channels/{cid}/check")
    await expect(page.get_by_role("button", name="Stop")).to_have_count(0)  # no fake button
    async with page.expect_navigation(wait_until="commit"):
        await page.get_by_role("button", name="Start").click()
    items = page.locator(".check-item")
    await expect(items.first).to_be_visible(timeout=20_000)
    # Progressive: results are on the page before the run is over.
    assert await page.get_by_text(re.compile(r"^Done:")).count() == 0
    await expect(page.get_by_text("Done: 4 passed, 0 failed, of 4.")).to_be_visible(timeout=20_000)
    await expect(items).to_have_count(4)
    await page.get_by_role("link", name="Stop").click()
    await expect(page.get_by_text("The run was stopped.")).to_be_visible()
    assert guard.outside == [] and guard.csp == []
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_settings_tokens_audit_and_operations(
    browser: Browser, demo: Demo, width: int
) -> None:
    context, page, guard = await open_context(browser, width, "en")
    await login_admin(page, demo)
    await page.goto(demo.url + "/admin/settings")
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Keep request rows for (days)").fill("120")
    await page.get_by_role("button", name="Save retention").click()
    await notice(page, "The settings were saved.")
    await expect(page.get_by_role("textbox", name="Keep request rows for (days)")).to_have_value(
        "120"
    )
    await page.get_by_role("textbox", name="Keep request rows for (days)").fill("-1")
    await page.get_by_role("button", name="Save retention").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("button", name="Send a test mail").click()
    await expect(page.get_by_text(re.compile("test mail to admin@torouter.local"))).to_be_visible()
    # An admin token: shown once, works, revoked.
    await admin_nav(page).get_by_role("link", name="Admin tokens").click()
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Name").fill(f"browser-{width}")
    await page.get_by_role("button", name="Create token").click()
    token = (
        await page.get_by_label(f"The admin token browser-{width}", exact=True).inner_text()
    ).strip()
    assert re.fullmatch(r"tra_[A-Za-z0-9_-]{40}", token)
    await check_page(page, guard)
    headers = {"authorization": f"Bearer {token}"}
    r = await asyncio.to_thread(httpx.get, demo.url + "/api/admin/users", headers=headers)
    assert r.status_code == 200
    await page.get_by_role("link", name="I have saved it").click()
    await expect(page.get_by_text(token)).to_have_count(0)
    await page.get_by_role("button", name=f"Revoke browser-{width}").click()
    await notice(page, "The token was revoked.")
    r = await asyncio.to_thread(httpx.get, demo.url + "/api/admin/users", headers=headers)
    assert r.status_code == 401
    # The audit log, filtered by action.
    await admin_nav(page).get_by_role("link", name="Audit log").click()
    await page.get_by_role("combobox", name="Action").select_option("admin_token.revoke")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("cell", name="admin_token.revoke").first).to_be_visible()
    await expect(page.get_by_role("cell", name="settings.update")).to_have_count(0)
    await check_page(page, guard)
    # Operations: this node, its heartbeat and version; the stores.
    await admin_nav(page).get_by_role("link", name="Operations").click()
    await expect(page.get_by_text("This node", exact=True)).to_be_visible()
    await expect(page.get_by_text("Answers").first).to_be_visible()
    await check_page(page, guard)
    await context.close()


ADMIN_PAGES = (
    "/admin/users",
    "/admin/users?q=nobody",
    "/admin/users/2",
    "/admin/groups",
    "/admin/groups/1",
    "/admin/groups/new",
    "/admin/plans",
    "/admin/plans/new",
    "/admin/models",
    "/admin/models/new",
    "/admin/models/demo-claude",
    "/admin/channels",
    "/admin/channels/new",
    "/admin/channels/1",
    "/admin/channels/1/edit",
    "/admin/channels/1/check",
    "/admin/channels/1/models",
    "/admin/channels/1/delete",
    "/admin/operations",
    "/admin/orders",
    "/admin/orders?status=refund_requested",
    "/admin/payments/reconcile",
    "/admin/usage",
    "/admin/settings",
    "/admin/tokens",
    "/admin/audit",
    "/admin/users/99999",
)


@pytest.mark.parametrize(
    ("width", "lang", "scheme"),
    [
        *((w, lang, "light") for w in WIDTHS for lang in ("en", "zh-CN")),
        (1280, "en", "dark"),
    ],
)
async def test_every_admin_page_passes_the_checks(
    browser: Browser, demo: Demo, width: int, lang: str, scheme: str
) -> None:
    """axe, no sideways scroll, no CSP violation, nothing off the host: every admin page,
    both widths, both languages, with its error states."""
    context, page, guard = await open_context(browser, width, lang, scheme=scheme)
    await login_admin(page, demo)
    for path in ADMIN_PAGES:
        await visit(page, guard, demo.url + path)
    # Error states: a refused balance change, a refused price.
    await page.goto(demo.url + "/admin/users/2")
    await page.get_by_role("button", name=name("Apply", "执行")).click()
    await expect(page.get_by_role("alert").first).to_be_visible()
    await check_page(page, guard)
    await page.goto(demo.url + "/admin/models/new")
    await page.get_by_role("button", name=name("Create model", "创建模型")).click()
    await expect(page.get_by_role("alert").first).to_be_visible()
    await check_page(page, guard)
    await context.close()


async def test_a_user_gets_403_in_the_browser(browser: Browser, demo: Demo) -> None:
    context, page, guard = await open_context(browser, 360, "zh-CN")
    await login_demo(page, demo)
    await expect(page.get_by_role("link", name=name("Admin", "管理"))).to_have_count(0)
    for path in ("/admin", "/admin/users", "/admin/channels/1"):
        response = await page.goto(demo.url + path)
        assert response is not None and response.status == 403
        await expect(page.get_by_role("heading", name="仅限管理员")).to_be_visible()
    await check_page(page, guard)
    await context.close()


# -- orders, refunds, reconciliation, the usage log ----------------------------------------------


def _paid_order(demo: Demo, address: str, *, refund: str | None, deliver: bool = True) -> str:
    """A user's $10 top-up paid at the demo's fake Stripe (its webhooks delivered or
    dropped), optionally with a refund request; the order id."""
    password = "orders password"
    funded_user(demo, address, password)
    fake = f"{demo.url}/mock/stripe/_fake"
    with closing(api_session(demo, address, password)) as me:
        r = me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "10.00"})
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]
        session = r.json()["checkout_url"].rstrip("/").rsplit("/", 1)[-1]
        if not deliver:
            assert httpx.post(f"{fake}/webhooks", json={"mode": "drop"}).status_code == 200
        try:
            assert httpx.post(f"{fake}/sessions/{session}/pay", json={}).status_code == 200
        finally:
            httpx.post(f"{fake}/webhooks", json={"mode": "deliver"})
        if deliver:

            def paid() -> bool:
                return bool(me.get(f"/api/me/orders/{order_id}").json()["status"] == "paid")

            wait_until(paid, timeout=20, what=f"order {order_id} paid")
        if refund is not None:
            r = me.post(f"/api/me/orders/{order_id}/refund", json={"reason": refund})
            assert r.status_code == 200, r.text
    return str(order_id)


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_refund_approved_in_part(browser: Browser, demo: Demo, width: int) -> None:
    """R14.5 end to end against the demo's fake Stripe: the request in the orders list
    (filtered by status), the order's Stripe facts, more than the refundable refused next
    to the field, part of it approved, the ledger entry and the audit row."""
    address = f"refund-ok-{width}@example.com"
    order_id = await asyncio.to_thread(_paid_order, demo, address, refund="wrong amount")
    context, page, guard = await open_context(browser, width, "en")
    await login_admin(page, demo)
    await page.goto(demo.url + "/admin/users")
    await admin_nav(page).get_by_role("link", name="Orders").click()
    await expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    await page.get_by_role("combobox", name="Status").select_option("refund_requested")
    await page.get_by_role("textbox", name="User").fill(address)
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("1 orders.")).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("link", name=order_id).click()
    await expect(page.get_by_role("heading", name=f"Order {order_id}")).to_be_visible()
    await expect(page.get_by_text("wrong amount")).to_be_visible()
    await expect(page.get_by_text(re.compile(r"^cs_"))).to_be_visible()  # Checkout Session
    await check_page(page, guard)
    amount = page.get_by_role("textbox", name="Amount to refund (USD)")
    await expect(amount).to_have_value("10.00")
    await amount.fill("10.01")
    await page.get_by_role("button", name="Approve the refund").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_text(re.compile("at most 10.00 USD"))).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Amount to refund (USD)").fill("4")
    await page.get_by_role("textbox", name="Note to the user (optional)").fill("part of it")
    await page.get_by_role("button", name="Approve the refund").click()
    await notice(page, "The refund was approved and sent to Stripe.")
    await expect(page.get_by_text("Refunded", exact=True).first).to_be_visible()
    ledger = page.get_by_role("table", name="Ledger entries")
    await expect(ledger.get_by_role("cell", name=re.compile("Refund$"))).to_be_visible()
    await expect(ledger.get_by_role("cell", name="-$4.00")).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("link", name="This order in the audit log").click()
    await expect(page.get_by_role("cell", name="order.refund_approve")).to_be_visible()
    await context.close()


@pytest.mark.parametrize(("width", "lang"), [(1280, "zh-CN"), (360, "en")])
async def test_a_refund_rejected_with_a_note(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    address = f"refund-no-{width}@example.com"
    order_id = await asyncio.to_thread(_paid_order, demo, address, refund="changed my mind")
    context, page, guard = await open_context(browser, width, lang)
    await login_admin(page, demo)
    await page.goto(f"{demo.url}/admin/orders/{order_id}")
    reject = page.get_by_role("button", name=name("Reject the refund", "拒绝退款"))
    await reject.click()
    await expect(page.get_by_text(name("This field is required.", "此项必填。"))).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("textbox", name=name("Reason for rejecting", "拒绝理由")).fill(
        "Credits were used"
    )
    await page.get_by_role("button", name=name("Reject the refund", "拒绝退款")).click()
    await notice(page, "The refund request was rejected." if lang == "en" else "退款申请已拒绝。")
    await expect(page.get_by_text("Credits were used")).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_reconciliation_finding_repaired(browser: Browser, demo: Demo, width: int) -> None:
    """R14.10: a payment whose webhook never came is listed as paid-not-credited; one click
    credits it, once; the page says so and the mismatch is gone."""
    address = f"lost-{width}@example.com"
    order_id = await asyncio.to_thread(_paid_order, demo, address, refund=None, deliver=False)
    context, page, guard = await open_context(browser, width, "en")
    await login_admin(page, demo)
    await page.goto(demo.url + "/admin/orders")
    await admin_nav(page).get_by_role("link", name="Reconciliation").click()
    await expect(page.get_by_role("heading", name="Payment reconciliation")).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("button", name="Reconcile").click()
    mismatch = f"paid_not_credited:{order_id}"
    repair = page.get_by_role("button", name=f"Repair {mismatch}")
    await expect(repair).to_be_visible()
    await check_page(page, guard)
    await repair.click()
    await expect(page.get_by_role("status").filter(has_text=mismatch)).to_contain_text("Repaired")
    await expect(page.get_by_role("button", name=f"Repair {mismatch}")).to_have_count(0)
    await check_page(page, guard)
    with closing(admin_client(demo)) as api:
        users = api.get("/api/admin/users", params={"q": address}).json()["data"]
        assert users[0]["balance_usd"].startswith("15.")  # $5 to start, $10 credited once
    await context.close()


@pytest.mark.parametrize(("width", "lang"), [(1280, "en"), (360, "zh-CN")])
async def test_the_usage_log_filtered_and_a_request_opened(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    """R11.4, R15.2: the demo user's request found by user and model, its row with channel
    and attempts, its detail with every attempt and its channel, the CSV link."""
    row = await asyncio.to_thread(billed, demo, demo.key, "demo-gpt")
    context, page, guard = await open_context(browser, width, lang)
    await login_admin(page, demo)
    await page.goto(demo.url + "/admin/usage")
    heading = page.get_by_role("heading", name=name("Usage log", "使用日志"), level=1)
    await expect(heading).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("textbox", name=name("User", "用户")).fill("demo@torouter.local")
    await page.get_by_role("textbox", name=name("Model", "模型")).fill("demo-gpt")
    await page.get_by_role("combobox", name=name("Outcome", "结果")).select_option("success")
    await page.get_by_role("button", name=name("Filter", "筛选")).click()
    rid = row["request_id"]
    link = page.get_by_role("link", name=re.compile(f"· (Request|请求) {rid}$"))
    await expect(link).to_be_visible()
    csv = page.get_by_role("link", name=name("Download CSV", "下载 CSV"))
    await expect(csv).to_have_attribute("href", re.compile("user=demo%40torouter.local"))
    await check_page(page, guard)
    await link.click()
    await expect(page.get_by_role("heading", name=name("Request", "请求"), level=1)).to_be_visible()
    attempts = page.get_by_role("table", name=re.compile(r"^(Upstream attempts|上游尝试)"))
    await expect(attempts.get_by_role("row")).to_have_count(1 + row["attempts"])
    await expect(attempts.get_by_role("link").first).to_be_visible()  # the channel
    await check_page(page, guard)
    await context.close()
