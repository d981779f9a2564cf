"""What the browser tests share: Debian's chromium driven by Playwright (never a downloaded
browser), a server with demo data, a guard that no request leaves the host, and the page
checks every test runs (axe-core, no sideways scroll, no CSP violation)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Route

from tests.e2e.harness import GatewayProcess, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
WIDTHS = (1280, 360)
# Loopback is a trusted proxy, so that `funded_user` can sign each user up from an address of
# its own (`X-Forwarded-For`): sign-up allows 10 an hour per address (R12.1), and the browser
# tests of one session make more users than that. Browsers send no such header.
CONFIG = 'data_dir = "{dir}/data"\ntrusted_proxies = ["127.0.0.1/32"]\n[server]\nport = {port}\n'


def need_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is missing: scripts/setup.sh --test installs it")
        pytest.skip("Debian's chromium is not installed")


@dataclass
class Demo:
    """The server with its first-run demo data (R17.9)."""

    gw: GatewayProcess
    user_password: str
    admin_password: str
    key: str

    @property
    def url(self) -> str:
        return self.gw.url

    def mail_to(self, address: str, after: int = 0) -> email.message.EmailMessage:
        """The newest mail of the outbox to `address` (the embedded default has no SMTP)."""
        outbox = self.gw.workdir / "data" / "outbox"

        def newest() -> email.message.EmailMessage | None:
            found = []
            for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address in str(msg["To"]):
                    found.append(msg)
            return found[-1] if len(found) > after else None  # type: ignore[return-value]

        return wait_until(newest, timeout=20, what=f"mail to {address}")  # type: ignore[no-any-return]

    def mails_to(self, address: str) -> int:
        outbox = self.gw.workdir / "data" / "outbox"
        if not outbox.exists():
            return 0
        return sum(
            address in path.read_text(errors="replace").split("\n\n", 1)[0]
            for path in outbox.glob("*.eml")
        )


def mail_text(msg: email.message.EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def start_demo(workdir: Path) -> Demo:
    gw = GatewayProcess(workdir, CONFIG).start(timeout=60)
    demo = (workdir / "data" / "demo.txt").read_text()
    password = re.search(r"demo@torouter\.local\s+password: (\S+)", demo)
    admin = re.search(r"admin@torouter\.local\s+password: (\S+)", demo)
    key = re.search(r"API key:\s+(sk-\S+)", demo)
    assert password and admin and key, demo
    return Demo(gw, password.group(1), admin.group(1), key.group(1))


def funded_user(demo: Demo, address: str, password: str, usd: str = "5") -> None:
    """A verified user with a balance, made through the JSON API as a person and an admin
    would (sign up, the mailed link, an admin credit)."""
    digest = hashlib.sha256(address.encode()).digest()
    sender = {"x-forwarded-for": f"198.18.{digest[0]}.{digest[1]}"}  # a test network (RFC 2544)
    with httpx.Client(base_url=demo.url, timeout=30, headers=sender) as c:
        r = c.post(
            "/api/auth/signup",
            json={"email": address, "password": password, "password_confirm": password},
        )
        assert r.status_code == 201, r.text
        token = re.search(r"token=(\S+)", mail_text(demo.mail_to(address)))
        assert token
        assert c.post("/api/auth/verify", json={"token": token.group(1)}).status_code == 200
        user_id = r.json()["id"]
    with httpx.Client(base_url=demo.url, timeout=30) as admin:
        r = admin.post(
            "/api/auth/login",
            json={"email": "admin@torouter.local", "password": demo.admin_password},
        )
        assert r.status_code == 200, r.text
        r = admin.post(
            f"/api/admin/users/{user_id}/balance",
            json={"amount_usd": usd, "reason": "browser test"},
            headers={"x-csrf-token": r.json()["csrf_token"]},
        )
        assert r.status_code == 201, r.text


@dataclass
class Guard:
    """Every request the page makes must stay on 127.0.0.1; CSP violations are collected."""

    outside: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def route(self, route: Route, request: Request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            await route.continue_()
        else:
            self.outside.append(request.url)
            await route.abort()

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)
        elif message.type == "error" and "status of 4" not in message.text:
            self.errors.append(message.text)


async def open_context(
    browser: Browser,
    width: int,
    lang: str,
    *,
    javascript: bool = True,
    scheme: str = "light",
) -> tuple[BrowserContext, Page, Guard]:
    context = await browser.new_context(
        viewport={"width": width, "height": 900},
        locale=lang,
        extra_http_headers={"Accept-Language": lang},
        java_script_enabled=javascript,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    guard = Guard()
    await context.route("**/*", guard.route)
    page = await context.new_page()
    page.on("console", guard.console)
    page.set_default_timeout(15_000)
    return context, page, guard


async def check_page(page: Page, guard: Guard) -> None:
    """R15.3/R15.5 on the page as it is now: no serious or critical axe violation, no
    sideways scroll, no CSP violation, nothing fetched from another host."""
    await page.wait_for_load_state("load")
    result: dict[str, Any] = await page.evaluate(
        AXE + "\n;axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map("
        "n => n.html)})))"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{page.url}: {bad}"
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{page.url} scrolls sideways by {wide}px"
    assert guard.csp == [], guard.csp
    assert guard.outside == [], guard.outside


async def sign_in(page: Page, demo: Demo, email_address: str, password: str) -> None:
    await page.get_by_role("textbox", name=re.compile("^(Email|邮箱)$")).fill(email_address)
    await page.get_by_label(re.compile("^(Password|密码)$")).fill(password)
    await page.get_by_role("button", name=re.compile("^(Sign in|登录)$")).click()


async def login_admin(page: Page, demo: Demo) -> None:
    await page.goto(demo.url + "/login")
    await sign_in(page, demo, "admin@torouter.local", demo.admin_password)
    await page.wait_for_url("**/dashboard")


def api_session(demo: Demo, address: str, password: str) -> httpx.Client:
    """The JSON API as a signed-in browser would call it (session cookie, CSRF header)."""
    c = httpx.Client(base_url=demo.url, timeout=30)
    r = c.post("/api/auth/login", json={"email": address, "password": password})
    assert r.status_code == 200, r.text
    c.headers["x-csrf-token"] = r.json()["csrf_token"]
    return c


async def login_demo(page: Page, demo: Demo) -> None:
    await page.goto(demo.url + "/login")
    await sign_in(page, demo, "demo@torouter.local", demo.user_password)
    await page.wait_for_url("**/dashboard")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = start_demo(tmp_path_factory.mktemp("console"))
    yield d
    d.gw.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One chromium for the whole session (CI time), on the session's event loop: the async
    API, because the sync one would hold a loop of its own and stop every later asyncio
    test of the worker."""
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()
