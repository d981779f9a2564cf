"""The usage, request detail, billing and dashboard pages in a real browser (R11.4–R11.6,
R14.1, R15.3–R15.5): Debian's chromium, controls found by role and accessible name, at 1280
and 360 px, in English and Chinese, against the demo server. Rows come from real requests
through the gateway (its usage writer). Usage filters, the request-id search to the detail,
the CSV download (file name and header line), the billing filter, the dashboard's runway
and charts (a canvas drawn from the table), the table without JavaScript. Every page passes
axe, never scrolls sideways, breaks no CSP rule and fetches nothing from another host."""

from __future__ import annotations

import asyncio
import re
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.console.browser import (
    WIDTHS,
    Demo,
    Guard,
    api_session,
    check_page,
    funded_user,
    open_context,
    sign_in,
)
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.browser

BOTH = [(1280, "en"), (360, "zh-CN")]
PASSWORD = "usage password"
CSV_HEADER = (
    "time,request_id,key_name,model,model_upstream,endpoint,status,outcome,input_tokens,"
    "cache_read_tokens,cache_write_5m_tokens,cache_write_1h_tokens,output_tokens,"
    "reasoning_tokens,cost_usd,estimated,latency_ms,ttft_ms"
)


def name(en: str, zh: str) -> re.Pattern[str]:
    return re.compile(f"^({re.escape(en)}|{re.escape(zh)})$")


@dataclass
class Traffic:
    address: str
    request_ids: list[str]  # newest last


def make_traffic(demo: Demo, address: str) -> Traffic:
    """A funded user with a key and four requests through the gateway (three `demo-gpt`, one
    `demo-claude`), once the usage writer has stored them."""
    funded_user(demo, address, PASSWORD)
    with closing(api_session(demo, address, PASSWORD)) as me:
        r = me.post("/api/me/keys", json={"name": "usage key", "group": "default"})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        ids = []
        for n, model in enumerate(("demo-gpt", "demo-claude", "demo-gpt", "demo-gpt")):
            r = httpx.post(
                demo.url + "/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": model, "messages": [{"role": "user", "content": f"hi {n}"}]},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-request-id"])
        wait_until(
            lambda: len(me.get("/api/me/usage/logs").json()["data"]) >= len(ids),
            timeout=30,
            what="the usage writer storing the requests",
        )
    return Traffic(address, ids)


async def signed_in(
    browser: Browser, demo: Demo, address: str, width: int, lang: str, **kw: bool
) -> tuple[BrowserContext, Page, Guard]:
    context, page, guard = await open_context(browser, width, lang, **kw)
    await page.goto(demo.url + "/login")
    await sign_in(page, demo, address, PASSWORD)
    await page.wait_for_url("**/dashboard")
    return context, page, guard


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_usage_filters_search_detail_and_csv(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    traffic = await asyncio.to_thread(make_traffic, demo, f"usage-{width}@example.com")
    context, page, guard = await signed_in(browser, demo, traffic.address, width, lang)
    await page.get_by_role("link", name=name("Usage", "用量")).first.click()
    await expect(page.get_by_role("heading", name=name("Usage", "用量"), level=1)).to_be_visible()
    log = page.get_by_role("table", name=name("Requests", "请求"))
    await expect(log.get_by_role("rowheader")).to_have_count(4)
    # The chart is drawn from the page's own table; the table folds away.
    await expect(page.locator("[data-chart-plot] canvas")).to_have_count(1)
    await check_page(page, guard)
    # Filter by model: the one demo-claude request.
    await page.get_by_role("combobox", name=name("Model", "模型")).select_option("demo-claude")
    await page.get_by_role("button", name=name("Apply", "应用")).click()
    await expect(page).to_have_url(re.compile(r"model=demo-claude"))
    await expect(log.get_by_role("rowheader")).to_have_count(1)
    await check_page(page, guard)
    await page.get_by_role("combobox", name=name("Outcome", "结果")).select_option("refused")
    await page.get_by_role("button", name=name("Apply", "应用")).click()
    await expect(
        page.get_by_text(name("No requests match these filters.", "没有符合筛选条件的请求。"))
    ).to_be_visible()
    await check_page(page, guard)
    # A date range that cannot be: the error sits next to its field.
    await page.goto(demo.url + "/usage?start=2026-12-31&end=2026-01-01")
    await expect(
        page.get_by_text(
            name("The end date must not be before the start date.", "结束日期不能早于开始日期。")
        )
    ).to_be_visible()
    await check_page(page, guard)
    # The CSV download: the API's export, its name and header line.
    await page.goto(demo.url + "/usage")
    async with page.expect_download() as info:
        await page.get_by_role("link", name=name("Download CSV", "下载 CSV")).click()
    download = await info.value
    assert re.fullmatch(r"usage-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    body = (await download.path()).read_text(encoding="utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0] == CSV_HEADER and len(lines) == 5
    assert all(rid in body for rid in traffic.request_ids)
    # Request-id search to the detail page: every attempt, the billing, the timings.
    rid = traffic.request_ids[1]
    await page.get_by_role("searchbox", name=name("Request ID", "请求 ID")).fill(rid)
    await page.get_by_role("button", name=name("Find", "查找")).click()
    await expect(page).to_have_url(re.compile(f"/usage/{rid}$"))
    await expect(
        page.get_by_role("heading", name=name("Request detail", "请求详情"))
    ).to_be_visible()
    attempts = page.get_by_role("table", name=name("Upstream attempts", "上游尝试"))
    await expect(attempts.get_by_role("rowheader")).to_have_count(1)
    await expect(page.get_by_text("demo-claude").first).to_be_visible()
    await expect(page.get_by_role("heading", name=name("Billing", "计费"))).to_be_visible()
    await check_page(page, guard)
    # Another user's request id is the 404 page.
    other = await asyncio.to_thread(make_traffic, demo, f"usage-other-{width}@example.com")
    await page.goto(demo.url + f"/usage/{other.request_ids[0]}")
    await expect(
        page.get_by_role("heading", name=name("Page not found", "页面不存在"))
    ).to_be_visible()
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_billing_timeline_filter(browser: Browser, demo: Demo, width: int, lang: str) -> None:
    traffic = await asyncio.to_thread(make_traffic, demo, f"billing-{width}@example.com")
    context, page, guard = await signed_in(browser, demo, traffic.address, width, lang)
    await page.get_by_role("link", name=name("Billing", "账单")).first.click()
    table = page.get_by_role("table", name=name("Billing", "账单"))
    credit = name("Credit by an administrator", "管理员加款")
    await expect(table.get_by_role("rowheader", name=credit)).to_have_count(1)
    await check_page(page, guard)
    await page.get_by_role("combobox", name=name("Kind", "类型")).select_option("usage")
    await page.get_by_role("combobox", name=name("Period", "时间范围")).select_option("7")
    await page.get_by_role("button", name=name("Apply", "应用")).click()
    await expect(page).to_have_url(re.compile(r"reason=usage&days=7"))
    await expect(table.get_by_role("rowheader", name=credit)).to_have_count(0)
    await expect(
        table.get_by_role("rowheader", name=name("Usage", "用量扣费")).first
    ).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("combobox", name=name("Kind", "类型")).select_option("refund")
    await page.get_by_role("button", name=name("Apply", "应用")).click()
    await expect(
        page.get_by_text(
            name("No balance changes match these filters.", "没有符合筛选条件的余额变动。")
        )
    ).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_dashboard_runway_and_charts(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    traffic = await asyncio.to_thread(make_traffic, demo, f"dash-{width}@example.com")
    context, page, guard = await signed_in(browser, demo, traffic.address, width, lang)
    runway = page.get_by_role("region", name=name("Runway", "余额可用天数"))
    await expect(
        runway.get_by_text(re.compile(r"^(About .+ days|Over a year|约 .+ 天|超过一年)$"))
    ).to_be_visible()
    await expect(page.locator("#spend-chart [data-chart-plot] canvas")).to_have_count(1)
    await expect(page.get_by_role("link", name="demo-gpt").first).to_be_visible()  # top models
    health = page.get_by_role(
        "table", name=name("Model health (24 hours)", "模型健康度（24 小时）")
    )
    await expect(health.get_by_role("rowheader", name="demo-claude")).to_be_visible()
    recent = page.get_by_role("table", name=name("Recent activity", "最近活动"))
    await expect(recent.get_by_role("rowheader")).to_have_count(4)
    await check_page(page, guard)
    await page.get_by_role("link", name=name("7 days", "7 天")).click()
    await expect(page).to_have_url(re.compile(r"days=7"))
    await expect(page.locator("#spend-chart [data-chart-plot] canvas")).to_have_count(1)
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_tables_without_javascript(browser: Browser, demo: Demo, width: int) -> None:
    """R15.3, R15.5: without JavaScript no chart is drawn and its table is open on the page."""
    traffic = await asyncio.to_thread(make_traffic, demo, f"usage-nojs-{width}@example.com")
    context, page, guard = await signed_in(
        browser, demo, traffic.address, width, "en", javascript=False
    )
    for path, caption in (("/dashboard", "Spend and requests, last 30 days"), ("/usage", None)):
        await page.goto(demo.url + path)
        await expect(page.locator("canvas")).to_have_count(0)
        table = page.locator("[data-chart-table]")
        await expect(table).to_be_visible()
        await expect(table.get_by_role("columnheader", name="Spend")).to_be_visible()
        if caption:
            await expect(page.get_by_role("table", name=caption)).to_be_visible()
    await page.goto(demo.url + "/usage")
    await page.get_by_role("searchbox", name="Request ID").fill(traffic.request_ids[0])
    await page.get_by_role("button", name="Find").click()
    await expect(page.get_by_role("heading", name="Request detail")).to_be_visible()
    assert guard.outside == []
    await context.close()


@pytest.mark.parametrize(("width", "lang"), [(w, lang) for w in WIDTHS for lang in ("en", "zh-CN")])
async def test_new_pages_pass_the_checks(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    """axe, no sideways scroll at 360, no CSP violation, nothing off the host: each new page
    and its error and empty states."""
    traffic = await asyncio.to_thread(
        make_traffic, demo, f"usage-checks-{width}-{lang.lower()}@example.com"
    )
    context, page, guard = await signed_in(browser, demo, traffic.address, width, lang)
    for path in (
        "/dashboard",
        "/dashboard?days=7",
        "/usage",
        "/usage?model=demo-gpt&outcome=success",
        "/usage?start=bad",
        f"/usage/{traffic.request_ids[0]}",
        "/usage/not-a-request",
        "/billing",
        "/billing?reason=refund",
        "/profile",
    ):
        await page.goto(demo.url + path)
        await check_page(page, guard)
    await context.close()
