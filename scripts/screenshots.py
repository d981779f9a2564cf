#!/usr/bin/env python3
"""Screenshots of every console page at 1280 and 360 px, in English and Chinese (R15.5).

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Starts a ToRouter server on a free port with fresh demo data in a temporary folder, signs in
as the demo user, then as the demo admin, in Debian's chromium (driven by Playwright; no
browser is downloaded) and writes `<out>/<lang>-<width>-<page>.png`, full page (`--dark`:
also `…-dark-…` in the dark colour scheme; `--only admin|user|usage` takes one side, or the usage,
billing and dashboard pages alone). The admin
pages are named `admin-…`. The folder is git-ignored.

The payment pages are shot in their states: top-up presets, an unfinished checkout, the
result page pending, paid and failed (through the built-in fake Stripe's Pay and Fail
buttons), orders with and without any, a refund request, plans and subscriptions (bought from
the balance, and refused for want of it), and at the end, with the Stripe settings cleared,
"payments are not configured".
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WIDTHS = (1280, 360)
LANGS = ("en", "zh-CN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = workdir / "torouter.toml"
    config.write_text(f'data_dir = "data"\n[server]\nport = {port}\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "torouter.cli", "serve", "--config", str(config)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    # `serve` binds its socket before it migrates and starts (demo data included): wait for
    # /readyz, not for the socket.
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


def run(
    out: Path, schemes: tuple[str, ...] = ("light",), sides: tuple[str, ...] = ("user", "admin")
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            demo = (Path(tmp) / "data" / "demo.txt").read_text()
            password = re.search(r"demo@torouter\.local\s+password: (\S+)", demo)
            admin = re.search(r"admin@torouter\.local\s+password: (\S+)", demo)
            assert password is not None and admin is not None
            shop = Shop(url, admin.group(1), Path(tmp) / "data" / "outbox")
            shop.setup()
            key = re.search(r"API key:\s+(sk-\S+)", demo)
            assert key is not None
            request_ids = traffic(url, key.group(1), password.group(1))
            money = shop.admin_setup(key.group(1)) if "admin" in sides else {}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for scheme in schemes:
                    for lang in LANGS:
                        for width in WIDTHS:
                            context = browser.new_context(
                                viewport={"width": width, "height": 800},
                                locale=lang,
                                color_scheme=scheme,  # type: ignore[arg-type]
                            )
                            page = context.new_page()
                            prefix = f"{lang}-{width}" + ("-dark" if scheme == "dark" else "")
                            if "user" in sides:
                                pages(page, url, password.group(1), out, prefix)
                                payment_pages(page, url, shop, out, prefix)
                            if "user" in sides or "usage" in sides:
                                usage_pages(page, url, password.group(1), out, prefix, request_ids)
                            if "admin" in sides:
                                context.clear_cookies()
                                admin_pages(page, url, admin.group(1), out, prefix, money)
                            context.close()
                shop.payments_off()
                for lang in LANGS:
                    for width in WIDTHS:
                        context = browser.new_context(
                            viewport={"width": width, "height": 800}, locale=lang
                        )
                        page = context.new_page()
                        sign_in(page, url, "demo@torouter.local", password.group(1))
                        page.goto(url + "/purchase")
                        shoot(page, out, f"{lang}-{width}-purchase-off")
                        context.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"screenshots in {out}")


def pages(page: Page, url: str, password: str, out: Path, prefix: str) -> None:
    def visit(path: str, name: str) -> None:
        page.goto(url + path)
        shoot(page, out, f"{prefix}-{name}")

    # Signed out.
    visit("/login", "login")
    page.fill("#email", "demo@torouter.local")
    page.fill("#password", "wrong password")
    page.locator("form[action='/login'] button").click()
    shoot(page, out, f"{prefix}-login-error")
    visit("/signup", "signup")
    page.locator("form[action='/signup'] button").click()
    shoot(page, out, f"{prefix}-signup-error")
    visit("/forgot", "forgot")
    visit("/verify", "verify")
    visit("/verify?token=example", "verify-confirm")
    visit("/reset?token=example", "reset")
    visit("/pricing", "pricing")
    # Signed in as the demo user.
    sign_in(page, url, "demo@torouter.local", password)
    shoot(page, out, f"{prefix}-dashboard")
    visit("/keys", "keys")
    visit("/keys/new", "keys-new")
    page.fill("#name", "")
    page.fill("#ip_whitelist", "not-an-ip")
    page.locator("form.form button.primary").click()
    shoot(page, out, f"{prefix}-keys-new-error")
    page.fill("#name", f"shot {prefix}")
    page.fill("#ip_whitelist", "")
    page.locator("form.form button.primary").click()
    shoot(page, out, f"{prefix}-keys-created")
    visit("/keys/1", "key-detail")
    visit("/keys/1/edit", "key-edit")
    visit("/keys/1/use", "key-use")
    visit("/keys/1/delete", "key-delete")
    visit("/models", "models")
    visit("/models?modality=embedding", "models-filtered")
    visit("/models/demo-claude", "model-detail")
    visit("/profile", "profile")
    visit("/playground", "playground")
    visit("/keys/999", "not-found")


def traffic(url: str, key: str, password: str) -> list[str]:
    """A few requests with the demo key (two models, one streamed, one the gateway refuses),
    then waits until the usage writer has them: the usage pages need rows to show."""
    ids = []
    with httpx.Client(base_url=url, timeout=60) as c:
        auth = {"authorization": f"Bearer {key}"}
        for n, model in enumerate(("demo-gpt", "demo-claude", "demo-gpt", "demo-gpt")):
            body = {"model": model, "messages": [{"role": "user", "content": f"hello {n}"}]}
            r = c.post("/v1/chat/completions", headers=auth, json=body)
            ids.append(r.headers.get("x-request-id", ""))
        r = c.post("/v1/chat/completions", headers=auth, json={"model": "no-such", "messages": []})
        r = c.post("/api/auth/login", json={"email": "demo@torouter.local", "password": password})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(c.get("/api/me/usage/logs").json()["data"]) >= len(ids):
                break
            time.sleep(0.3)
    return [i for i in ids if i]


def usage_pages(
    page: Page, url: str, password: str, out: Path, prefix: str, request_ids: list[str]
) -> None:
    """Usage (filtered, an error, the detail), billing (filtered) and the dashboard with data."""

    def visit(path: str, name: str) -> None:
        page.goto(url + path)
        page.wait_for_load_state("load")
        shoot(page, out, f"{prefix}-{name}")

    sign_in(page, url, "demo@torouter.local", password)
    visit("/dashboard", "dashboard-usage")
    visit("/dashboard?days=7", "dashboard-7d")
    visit("/usage", "usage")
    visit("/usage?model=demo-gpt&outcome=success", "usage-filtered")
    visit("/usage?start=not-a-date&model=nothing", "usage-error")
    if request_ids:
        visit(f"/usage/{request_ids[0]}", "usage-detail")
    visit("/usage/not-a-request", "usage-not-found")
    visit("/billing", "billing")
    visit("/billing?reason=usage&days=7", "billing-filtered")
    visit("/billing?reason=refund", "billing-empty")
    visit("/profile", "profile-notices")
    page.fill("#low_balance_threshold_usd", "-1")
    page.locator("form[action='/profile/notices'] button").click()
    shoot(page, out, f"{prefix}-profile-notices-error")


def sign_in(page: Page, url: str, address: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#email", address)
    page.fill("#password", password)
    page.locator("form[action='/login'] button").click()
    page.wait_for_url("**/dashboard")


class Shop:
    """What the payment shots need from the server, through its JSON API as an admin and a
    person would do it: plans to buy, a user with no orders, the Stripe settings cleared."""

    def __init__(self, url: str, admin_password: str, outbox: Path) -> None:
        self.url = url
        self.admin_password = admin_password
        self.outbox = outbox
        self.empty_user = ("empty@example.com", "empty password")

    @contextlib.contextmanager
    def _admin(self) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            r = c.post(
                "/api/auth/login",
                json={"email": "admin@torouter.local", "password": self.admin_password},
            )
            r.raise_for_status()
            c.headers["x-csrf-token"] = r.json()["csrf_token"]
            yield c

    def setup(self) -> None:
        with self._admin() as c:
            offers = {
                "pro": [("pro-monthly", "8", 30, "5", "100"), ("pro-yearly", "80", 365, "5", "0")],
                "team": [("team-monthly", "500", 30, "50", "1000")],
            }
            for group, plans in offers.items():
                body = {"name": group, "billing_type": "subscription"}
                r = c.post("/api/admin/groups", json=body)
                r.raise_for_status()
                for name, price, days, daily, monthly in plans:
                    body = {
                        "name": name,
                        "group_id": r.json()["id"],
                        "price_usd": price,
                        "duration_days": days,
                        "daily_cap_usd": daily,
                        "monthly_cap_usd": monthly,
                    }
                    c.post("/api/admin/plans", json=body).raise_for_status()
        address, password = self.empty_user
        with httpx.Client(base_url=self.url, timeout=30) as c:
            body = {"email": address, "password": password, "password_confirm": password}
            c.post("/api/auth/signup", json=body).raise_for_status()
            token = re.search(r"token=(\S+)", self._mail_to(address))
            assert token is not None
            c.post("/api/auth/verify", json={"token": token.group(1)}).raise_for_status()

    def _mail_to(self, address: str) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for path in sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []:
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address in str(msg["To"]):
                    body = msg.get_body(("plain",))
                    assert body is not None
                    return str(body.get_content())
            time.sleep(0.2)
        raise SystemExit(f"no mail to {address}")

    def admin_setup(self, key: str) -> dict[str, str]:
        """What the admin's money pages show: a top-up awaiting a refund decision, one paid
        at Stripe whose webhook never came (a reconciliation finding), a request in the usage
        log. Returns their ids."""
        address, password = "buyer@example.com", "buyer password"
        fake = f"{self.url}/mock/stripe/_fake"
        with httpx.Client(base_url=self.url, timeout=30) as c:
            body = {"email": address, "password": password, "password_confirm": password}
            c.post("/api/auth/signup", json=body).raise_for_status()
            token = re.search(r"token=(\S+)", self._mail_to(address))
            assert token is not None
            c.post("/api/auth/verify", json={"token": token.group(1)}).raise_for_status()
            r = c.post("/api/auth/login", json={"email": address, "password": password})
            r.raise_for_status()
            c.headers["x-csrf-token"] = r.json()["csrf_token"]
            ids = {}
            for name, deliver in (("refund", True), ("lost", False)):
                r = c.post("/api/me/orders", json={"kind": "topup", "amount_usd": "20.00"})
                r.raise_for_status()
                order_id, session = r.json()["id"], r.json()["checkout_url"].rsplit("/", 1)[-1]
                httpx.post(f"{fake}/webhooks", json={"mode": "deliver" if deliver else "drop"})
                httpx.post(f"{fake}/sessions/{session}/pay", json={}).raise_for_status()
                httpx.post(f"{fake}/webhooks", json={"mode": "deliver"})
                ids[name] = order_id
            deadline = time.monotonic() + 20
            while c.get(f"/api/me/orders/{ids['refund']}").json()["status"] != "paid":
                if time.monotonic() > deadline:
                    raise SystemExit("the paid order was not credited")
                time.sleep(0.2)
            r = c.post(f"/api/me/orders/{ids['refund']}/refund", json={"reason": "Bought twice"})
            r.raise_for_status()
        r = httpx.post(
            f"{self.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "demo-gpt", "messages": [{"role": "user", "content": "hello"}]},
            timeout=30,
        )
        r.raise_for_status()
        ids["request"] = r.headers["x-request-id"]
        with self._admin() as c:
            deadline = time.monotonic() + 20
            while not c.get("/api/admin/usage", params={"request_id": ids["request"]}).json()[
                "data"
            ]:
                if time.monotonic() > deadline:
                    raise SystemExit("the request was not logged")
                time.sleep(0.2)
        return ids

    def payments_off(self) -> None:
        with self._admin() as c:
            body = {"stripe_secret_key": None, "stripe_webhook_secret": None}
            c.patch("/api/admin/settings/payments", json=body).raise_for_status()


def payment_pages(page: Page, url: str, shop: Shop, out: Path, prefix: str) -> None:
    """The payment pages in their states, driven through the fake Stripe's hosted page."""

    def visit(path: str, name: str) -> None:
        page.goto(url + path)
        shoot(page, out, f"{prefix}-{name}")

    def checkout(amount: str) -> None:
        page.goto(url + "/purchase")
        page.locator(f"button[name='preset_usd'][value='{amount}']").click()
        page.wait_for_url("**/mock/stripe/c/pay/**")

    visit("/purchase", "purchase")
    page.fill("#amount_usd", "0.5")
    page.locator("form:has(#amount_usd) button").click()
    shoot(page, out, f"{prefix}-purchase-error")
    # Paid: the fake's Pay button, back on the result page once the webhook landed.
    checkout("20.00")
    shoot(page, out, f"{prefix}-stripe-checkout")
    page.locator("button.pay").click()
    page.wait_for_url("**/payment/result?order=*")
    page.locator(".result.paid").wait_for()
    shoot(page, out, f"{prefix}-payment-paid")
    paid = page.url.split("order=")[1]
    # Failed: the fake's Fail button.
    checkout("10.00")
    page.locator("button.fail").click()
    page.wait_for_url("**/payment/result?order=*")
    page.locator(".result.failed").wait_for()
    shoot(page, out, f"{prefix}-payment-failed")
    # Cancelled on Stripe's page: back on /purchase with the checkout still open.
    checkout("50.00")
    page.locator("button.cancel").click()
    page.wait_for_url("**/purchase")
    shoot(page, out, f"{prefix}-purchase-open")
    pending = page.locator("form[action$='/resume']").first.get_attribute("action")
    assert pending is not None
    visit(f"/payment/result?order={pending.split('/')[2]}", "payment-pending")
    visit("/orders", "orders")
    visit("/orders?status=refund_rejected", "orders-filtered-empty")
    visit(f"/orders/{paid}", "order-detail")
    page.fill("#reason", "")
    page.locator("form[action$='/refund'] button").click()
    shoot(page, out, f"{prefix}-order-refund-error")
    page.fill("#reason", f"Screenshot {prefix}")
    page.locator("form[action$='/refund'] button").click()
    shoot(page, out, f"{prefix}-order-refund-requested")
    # Subscriptions: plans, bought from the balance, refused for want of it (402).
    visit("/subscriptions", "subscriptions")
    page.locator("form:has(input[value='balance']) button[aria-label$='pro-monthly']").click()
    shoot(page, out, f"{prefix}-subscriptions-bought")
    page.locator("form:has(input[value='balance']) button[aria-label$='team-monthly']").click()
    shoot(page, out, f"{prefix}-subscriptions-402")
    # Leave no checkout open for the next round (at most 3 per user).
    page.goto(url + "/purchase")
    while page.locator("form[action$='/cancel'] button").count():
        page.locator("form[action$='/cancel'] button").first.click()
        page.wait_for_url("**/purchase?notice=order_cancelled")
    # A user with no orders and no subscriptions.
    page.context.clear_cookies()
    sign_in(page, url, *shop.empty_user)
    visit("/orders", "orders-empty")
    visit("/subscriptions", "subscriptions-none")
    page.context.clear_cookies()


def admin_pages(
    page: Page, url: str, password: str, out: Path, prefix: str, money: dict[str, str]
) -> None:
    """The operator's pages, with their error and empty states."""

    def visit(path: str, name: str) -> None:
        page.goto(url + path)
        shoot(page, out, f"{prefix}-admin-{name}")

    page.goto(url + "/login")
    page.fill("#email", "admin@torouter.local")
    page.fill("#password", password)
    page.locator("form[action='/login'] button").click()
    page.wait_for_url("**/dashboard")
    visit("/admin/users", "users")
    visit("/admin/users?q=nobody", "users-none")
    visit("/admin/users/2", "user")
    page.fill("#amount_usd", "-1")
    page.locator("form[action='/admin/users/2/balance'] button").click()
    shoot(page, out, f"{prefix}-admin-user-balance-error")
    visit("/admin/groups", "groups")
    visit("/admin/groups/1", "group")
    visit("/admin/groups/new", "group-new")
    visit("/admin/plans", "plans-empty")
    visit("/admin/plans/new", "plan-new")
    visit("/admin/models", "models")
    visit("/admin/models/demo-claude", "model")
    page.fill("[id='prices.input']", "abc")
    page.locator("form.form button.primary").click()
    shoot(page, out, f"{prefix}-admin-model-error")
    visit("/admin/channels", "channels")
    page.locator("form[action='/admin/channels/1/test'] button").first.click()
    page.wait_for_load_state()
    shoot(page, out, f"{prefix}-admin-channel-test")
    visit("/admin/channels/1/edit", "channel-edit")
    visit("/admin/channels/new", "channel-new")
    visit("/admin/channels/1/check", "channel-check")
    page.locator("form[action='/admin/channels/1/check'] button.primary").click()
    page.locator(".check-item").last.wait_for()
    page.wait_for_timeout(300)
    shoot(page, out, f"{prefix}-admin-channel-check-done")
    visit("/admin/channels/1/models", "channel-models")
    visit("/admin/operations", "operations")
    if money:
        visit("/admin/orders", "orders")
        visit("/admin/orders?status=refunded", "orders-none")
        visit(f"/admin/orders/{money['refund']}", "order-refund")
        page.locator("form[action$='/refund/reject'] button").click()
        shoot(page, out, f"{prefix}-admin-order-reject-error")
        visit("/admin/payments/reconcile", "reconcile")
        page.locator("form[action='/admin/payments/reconcile'] button").click()
        page.wait_for_load_state()
        shoot(page, out, f"{prefix}-admin-reconcile-found")
        visit("/admin/usage", "usage")
        visit("/admin/usage?status=abc", "usage-error")
        visit(f"/admin/usage/{money['request']}", "usage-detail")
    visit("/admin/settings", "settings")
    visit("/admin/tokens", "tokens")
    visit("/admin/audit", "audit")
    visit("/admin/users/999", "not-found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--dark", action="store_true", help="also in the dark colour scheme")
    parser.add_argument(
        "--only", choices=("user", "admin", "usage"), help="one side of the console (or usage)"
    )
    args = parser.parse_args()
    sides = (args.only,) if args.only else ("user", "admin")
    run(args.out, ("light", "dark") if args.dark else ("light",), sides)


if __name__ == "__main__":
    main()
