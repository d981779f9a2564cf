"""The console in a real browser (R15.5): Debian's chromium, controls found by role and
accessible name, at 1280 and 360 px, in English and Chinese. Every page visited passes the
axe check with no serious or critical violation, never scrolls sideways, breaks no CSP rule
and fetches nothing from another host."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pyotp
import pytest
from playwright.async_api import Browser, expect

from tests.console.browser import (
    WIDTHS,
    Demo,
    check_page,
    funded_user,
    login_demo,
    mail_text,
    open_context,
    sign_in,
)

pytestmark = pytest.mark.browser

BOTH = [(1280, "en"), (360, "zh-CN")]


async def chat(url: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as c:
        return await c.post(url, **kw)  # type: ignore[arg-type]


def name(en: str, zh: str) -> re.Pattern[str]:
    return re.compile(f"^({re.escape(en)}|{re.escape(zh)})$")


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_signup_verify_login_with_totp(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    """R12.1–R12.3, R12.6: sign up, follow the mailed link, sign in, turn TOTP on, sign in
    again through the TOTP step."""
    context, page, guard = await open_context(browser, width, lang)
    address = f"new-{width}@example.com"
    password = "correct horse 1"
    await page.goto(demo.url + "/signup")
    await check_page(page, guard)
    await page.get_by_role("textbox", name=name("Email", "邮箱")).fill(address)
    await page.get_by_label(name("Password", "密码")).fill(password)
    await page.get_by_label(name("Password again", "再次输入密码")).fill("not the same")
    await page.get_by_role("button", name=name("Create account", "注册")).click()
    await expect(
        page.get_by_text(name("The passwords do not match", "两次输入的密码不一致"))
    ).to_be_visible()
    await check_page(page, guard)
    await page.get_by_label(name("Password", "密码")).fill(password)
    await page.get_by_label(name("Password again", "再次输入密码")).fill(password)
    await page.get_by_role("button", name=name("Create account", "注册")).click()
    await page.wait_for_url("**/verify?notice=signup_sent")
    await check_page(page, guard)
    link = re.search(
        r"http://\S+/verify\?token=\S+", mail_text(await asyncio.to_thread(demo.mail_to, address))
    )
    assert link
    await page.goto(link.group(0))
    await page.get_by_role("button", name=name("Confirm my email address", "确认我的邮箱")).click()
    await page.wait_for_url("**/login?notice=verified")
    await sign_in(page, demo, address, password)
    await page.wait_for_url("**/dashboard")
    await check_page(page, guard)
    # Two-factor on: the emailed code and the password, then a live code from the app.
    await page.goto(demo.url + "/profile")
    await check_page(page, guard)
    mails = demo.mails_to(address)
    await page.get_by_role("button", name=name("Email me a code", "发送邮箱验证码")).click()
    code = re.search(
        r"\b(\d{6})\b", mail_text(await asyncio.to_thread(demo.mail_to, address, mails))
    )
    assert code
    totp = page.get_by_role("region", name=name("Two-factor authentication", "两步验证"))
    await totp.get_by_label(name("Password", "密码")).fill(password)
    await totp.get_by_role("textbox", name=name("Code from the email", "邮件中的验证码")).fill(
        code.group(1)
    )
    await totp.get_by_role("button", name=name("Show the QR code", "显示二维码")).click()
    await expect(
        page.get_by_role(
            "img", name=name("QR code for your authenticator app", "验证器应用的二维码")
        )
    ).to_be_visible()
    await check_page(page, guard)
    label = name("The two-factor secret", "两步验证密钥")
    secret = (await page.get_by_label(label, exact=True).inner_text()).strip()
    await page.get_by_role("textbox", name=name("Code from the app", "应用中的动态码")).fill(
        pyotp.TOTP(secret).now()
    )
    await page.get_by_role("button", name=name("Turn on two-factor", "开启两步验证")).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        name("Two-factor authentication is on.", "两步验证已开启。")
    )
    await page.get_by_role("button", name=name("Sign out", "退出登录")).first.click()
    await page.wait_for_url("**/login?notice=signed_out")
    await sign_in(page, demo, address, password)
    await expect(
        page.get_by_role("heading", name=name("Two-factor authentication", "两步验证"))
    ).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("textbox", name=name("Authenticator code", "验证器动态码")).fill(
        pyotp.TOTP(secret).at(int(time.time()) + 30)  # the next step: the last one is spent
    )
    await page.get_by_role("button", name=name("Verify", "验证")).click()
    await page.wait_for_url("**/dashboard")
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_create_key_use_it_then_edit_disable_delete(
    browser: Browser, demo: Demo, width: int
) -> None:
    """§13 and R15.4: the key shown once with the client settings; used against the gateway,
    the onboarding checklist ticks off the first request by itself."""
    address, password = f"keys-{width}@example.com", "keys password"
    await asyncio.to_thread(funded_user, demo, address, password)
    context, page, guard = await open_context(browser, width, "en")
    await page.goto(demo.url + "/login")
    await sign_in(page, demo, address, password)
    await page.wait_for_url("**/dashboard")
    await expect(page.get_by_text("0 of 3 done")).to_be_visible()
    await page.get_by_role("link", name="API keys").click()
    await check_page(page, guard)
    await page.get_by_role("link", name="Create key").click()
    await check_page(page, guard)
    key_name = f"browser {width}"
    await page.get_by_role("textbox", name="Name").fill(key_name)
    await page.get_by_role("spinbutton", name="Requests per minute").fill("100")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("heading", name="Your new API key")).to_be_visible()
    await check_page(page, guard)
    secret = (await page.get_by_label("The new API key", exact=True).inner_text()).strip()
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{48}", secret)
    # The snippets: tabs, each with the deployment's base URL.
    await page.get_by_role("tab", name="Claude Code").click()
    await expect(page.get_by_role("tabpanel")).to_contain_text(f"ANTHROPIC_BASE_URL={demo.url}")
    # Use it: the first request is seen and the dashboard's checklist flips (htmx polling).
    await page.get_by_role("link", name="Dashboard").first.click()
    r = await chat(
        demo.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "demo-gpt", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    await expect(page.get_by_text("All set: your first request went through.")).to_be_visible(
        timeout=20_000
    )
    await check_page(page, guard)
    # Edit, disable, delete (with its confirmation page).
    await page.goto(demo.url + "/keys")
    await page.get_by_role("link", name=f"Edit {key_name}").click()
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Name").fill(key_name + " renamed")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", name=key_name + " renamed")).to_be_visible()
    await check_page(page, guard)
    await page.goto(demo.url + "/keys")
    await page.get_by_role("button", name=f"Disable {key_name} renamed").click()
    await expect(page.get_by_text("The key was disabled.")).to_be_visible()
    r = await chat(
        demo.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "demo-gpt", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_DISABLED"
    await page.get_by_role("link", name=f"Delete {key_name} renamed").click()
    await check_page(page, guard)
    await page.get_by_role("button", name="Delete the key").click()
    await expect(page.get_by_text("The key was deleted.")).to_be_visible()
    await expect(page.get_by_role("link", name=f"Edit {key_name} renamed")).to_have_count(0)
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_models_filter_and_detail(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    context, page, guard = await open_context(browser, width, lang)
    await login_demo(page, demo)
    await page.get_by_role("link", name=name("Models", "模型")).first.click()
    await check_page(page, guard)
    await page.get_by_role("combobox", name=name("Modality", "模态")).select_option("embedding")
    await page.get_by_role("button", name=name("Filter", "筛选")).click()
    await expect(page.get_by_role("link", name="demo-embed")).to_be_visible()
    await expect(page.get_by_role("link", name="demo-claude")).to_have_count(0)
    await check_page(page, guard)
    await page.goto(demo.url + "/models")
    await page.get_by_role("link", name="demo-claude").click()
    await expect(page.get_by_text("demo-claude-thinking", exact=True)).to_be_visible()
    await expect(page.get_by_text("anthropic/demo-claude", exact=True)).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_profile_and_language_switch(browser: Browser, demo: Demo, width: int) -> None:
    context, page, guard = await open_context(browser, width, "en")
    await login_demo(page, demo)
    await page.get_by_role("link", name="Profile").click()
    await check_page(page, guard)
    await page.get_by_role("textbox", name="Display name").fill(f"Demo {width}")
    await page.get_by_role("button", name="Save").first.click()
    await expect(page.get_by_text("Your profile was saved.")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Display name")).to_have_value(f"Demo {width}")
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("heading", name="个人设置", exact=True)).to_be_visible()
    await check_page(page, guard)
    await page.get_by_role("link", name="概览").click()
    await expect(page.get_by_role("heading", name="概览")).to_be_visible()
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_playground_streams_a_reply(
    browser: Browser, demo: Demo, width: int, lang: str
) -> None:
    """R15.1: the session plus one of the user's keys, through the gateway, streamed."""
    context, page, guard = await open_context(browser, width, lang)
    await login_demo(page, demo)
    await page.get_by_role("link", name=name("Playground", "试用")).click()
    await check_page(page, guard)
    await page.get_by_role("combobox", name=name("Model", "模型")).select_option("demo-claude")
    await page.get_by_role("textbox", name=name("Message", "消息")).fill("Say something")
    await page.get_by_role("button", name=name("Send", "发送")).click()
    log = page.get_by_role("region", name=name("Conversation", "对话"))
    await expect(log.get_by_text("Say something", exact=True)).to_be_visible()
    reply = log.locator(".msg.assistant .text")
    await expect(reply).not_to_be_empty(timeout=20_000)
    await expect(page.get_by_role("button", name=name("Send", "发送"))).to_be_enabled(
        timeout=20_000
    )
    assert "failed" not in (await log.locator(".msg.assistant").get_attribute("class") or "")
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize(("width", "lang"), BOTH)
async def test_public_pricing(browser: Browser, demo: Demo, width: int, lang: str) -> None:
    context, page, guard = await open_context(browser, width, lang)
    await page.goto(demo.url + "/pricing")
    await expect(
        page.get_by_role("heading", name=name("Pricing", "价格"), exact=True)
    ).to_be_visible()
    await expect(page.get_by_role("rowheader", name=re.compile("demo-gpt"))).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize(
    ("width", "lang", "scheme"),
    [
        *((w, lang, "light") for w in WIDTHS for lang in ("en", "zh-CN")),
        (1280, "en", "dark"),  # the dark colours pass the contrast rules too
    ],
)
async def test_every_page_passes_the_checks(
    browser: Browser, demo: Demo, width: int, lang: str, scheme: str
) -> None:
    """axe, no sideways scroll, no CSP violation, nothing off the host: every page, both
    widths, both languages, including error states."""
    context, page, guard = await open_context(browser, width, lang, scheme=scheme)
    for path in (
        "/login",
        "/signup",
        "/forgot",
        "/verify",
        "/verify?token=x",
        "/reset?token=x",
        "/pricing",
    ):
        await page.goto(demo.url + path)
        await check_page(page, guard)
    await page.goto(demo.url + "/login")
    await sign_in(page, demo, "demo@torouter.local", "wrong password")
    await expect(page.get_by_role("alert")).to_be_visible()
    await check_page(page, guard)
    await login_demo(page, demo)
    for path in (
        "/dashboard",
        "/keys",
        "/keys/new",
        "/keys/1",
        "/keys/1/edit",
        "/keys/1/use",
        "/keys/1/delete",
        "/models",
        "/models/demo-gpt",
        "/profile",
        "/playground",
        "/keys/9999",
    ):
        await page.goto(demo.url + path)
        await check_page(page, guard)
    await page.goto(demo.url + "/keys/new")
    await page.get_by_role("button", name=name("Create key", "创建密钥")).click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await check_page(page, guard)
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_works_without_javascript(browser: Browser, demo: Demo, width: int) -> None:
    """R15.5: with JavaScript off every snippet is on the page (no tabs), no Copy button
    pretends to work, and the playground answers through a plain form post."""
    context, page, guard = await open_context(browser, width, "en", javascript=False)
    await login_demo(page, demo)
    await page.goto(demo.url + "/keys/1/use")
    for client in ("curl", "OpenAI SDK", "Claude Code", "Codex CLI", "Gemini CLI"):
        await expect(page.get_by_role("heading", name=client, exact=True)).to_be_visible()
    await expect(page.get_by_role("tab")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("^Copy"))).to_have_count(0)
    await page.goto(demo.url + "/playground")
    await page.get_by_role("combobox", name="Model").select_option("demo-gpt")
    await page.get_by_role("textbox", name="Message").fill("No script here")
    await page.get_by_role("button", name="Send").click()
    log = page.get_by_role("region", name="Conversation")
    await expect(log.get_by_text("No script here", exact=True)).to_be_visible()
    await expect(log.locator(".msg.assistant .text")).not_to_be_empty()
    await expect(log.get_by_text(re.compile(r"input tokens"))).to_be_visible()
    assert guard.outside == []
    await context.close()
