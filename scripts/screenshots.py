#!/usr/bin/env python3
"""Screenshots of every console page at 1280 and 360 px, in English and Chinese (R15.5).

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Starts a ToRouter server on a free port with fresh demo data in a temporary folder, signs in
as the demo user, then as the demo admin, in Debian's chromium (driven by Playwright; no
browser is downloaded) and writes `<out>/<lang>-<width>-<page>.png`, full page (`--dark`:
also `…-dark-…` in the dark colour scheme; `--only admin|user` takes one side). The admin
pages are named `admin-…`. The folder is git-ignored.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
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
                            if "admin" in sides:
                                context.clear_cookies()
                                admin_pages(page, url, admin.group(1), out, prefix)
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
    page.goto(url + "/login")
    page.fill("#email", "demo@torouter.local")
    page.fill("#password", password)
    page.locator("form[action='/login'] button").click()
    page.wait_for_url("**/dashboard")
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


def admin_pages(page: Page, url: str, password: str, out: Path, prefix: str) -> None:
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
    visit("/admin/settings", "settings")
    visit("/admin/tokens", "tokens")
    visit("/admin/audit", "audit")
    visit("/admin/users/999", "not-found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--dark", action="store_true", help="also in the dark colour scheme")
    parser.add_argument("--only", choices=("user", "admin"), help="one side of the console")
    args = parser.parse_args()
    sides = (args.only,) if args.only else ("user", "admin")
    run(args.out, ("light", "dark") if args.dark else ("light",), sides)


if __name__ == "__main__":
    main()
