"""Accounts through the real composed application (`torouter.app`): the embedded default with
its outbox mailer, in-process (ASGI) and as a served subprocess (real HTTP)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import insert

from tests.e2e.harness import GatewayProcess
from torouter.access.keys import generate_key, hash_key
from torouter.accounts.passwords import hash_password
from torouter.app import ToRouterApp, build_app
from torouter.config import Settings
from torouter.storage.repos import create_admin
from torouter.storage.tables import api_keys, groups

PASSWORD = "hunter22"


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ToRouterApp]:
    settings = Settings(data_dir=tmp_path / "data", demo={"enabled": False})
    application = build_app(settings)
    await application.startup()
    try:
        yield application
    finally:
        await application.shutdown()


async def test_signup_verify_suspend_through_the_composed_app(
    app: ToRouterApp, caplog: pytest.LogCaptureFixture
) -> None:
    assert app.c is not None
    transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as user:
        with caplog.at_level(logging.INFO, logger="torouter.accounts.mail"):
            body = {"email": "new@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
            r = await user.post("/api/auth/signup", json=body)
            assert r.status_code == 201, r.text
            user_id = r.json()["id"]
            await app.c.accounts.postman.drain()

        # The outbox holds the mail; the log holds its link (embedded default only, R17.7).
        (eml,) = (Path(app.settings.data_dir) / "outbox").glob("*.eml")
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        url = re.search(r"http://\S+", text).group(0)  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:8080/verify?token=")
        assert any(url in rec.getMessage() for rec in caplog.records)

        # A key of the unverified user: the gateway says USER_INACTIVE.
        key = generate_key()
        async with app.c.db.begin() as conn:
            gid = (
                await conn.execute(
                    insert(groups).values(name="g", default_key_limits={}, created_at=_now())
                )
            ).inserted_primary_key[0]
            await conn.execute(
                insert(api_keys).values(
                    user_id=user_id,
                    group_id=gid,
                    name="k",
                    key_hash=hash_key(key),
                    mask="sk-…",
                    created_at=_now(),
                )
            )
        await app.c.snapshot.reload()
        auth = {"authorization": f"Bearer {key}"}
        r = await user.get("/v1/models", headers=auth)
        assert r.status_code == 401 and r.json()["error"]["code"] == "USER_INACTIVE"

        r = await user.post("/api/auth/verify", json={"token": _token(url)})
        assert r.status_code == 200 and r.json()["state"] == "active"
        assert (await user.get("/v1/models", headers=auth)).status_code == 200

        r = await user.post(
            "/api/auth/login", json={"email": "new@example.com", "password": PASSWORD}
        )
        assert r.status_code == 200
        assert (await user.get("/api/me/profile")).json()["email"] == "new@example.com"

    # An admin signs in and suspends the user: keys and session stop at once.
    await create_admin(app.c.db, email="root@example.com", password_hash=hash_password(PASSWORD))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as admin:
        r = await admin.post(
            "/api/auth/login", json={"email": "root@example.com", "password": PASSWORD}
        )
        assert r.status_code == 200
        r = await admin.post(
            f"/api/admin/users/{user_id}/suspend",
            headers={"x-csrf-token": admin.cookies["torouter_csrf"]},
        )
        assert r.status_code == 200, r.text
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        r = await c.get("/v1/models", headers=auth)
        assert r.status_code == 401 and r.json()["error"]["code"] == "USER_INACTIVE"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
[demo]
enabled = false
"""


def test_served_process_mails_to_the_outbox_and_logs_the_link(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, CONFIG).start()
    try:
        with gw.client() as c:
            body = {"email": "sub@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
            assert c.post("/api/auth/signup", json=body).status_code == 201
            line = gw.wait_log(lambda r: "link: " in str(r.get("msg")), what="outbox link")
            url = str(line["msg"]).split("link: ", 1)[1]
            assert url.startswith(f"{gw.url}/verify?token=") and line["to"] == "sub@example.com"
            assert Path(line["file"]).parent == tmp_path / "data" / "outbox"
            r = c.post("/api/auth/verify", json={"token": _token(url)})
            assert r.status_code == 200 and r.json()["state"] == "active"
            r = c.post("/api/auth/login", json={"email": "sub@example.com", "password": PASSWORD})
            assert r.status_code == 200
            assert c.get("/api/me/profile").json()["state"] == "active"
            r = c.post("/api/auth/logout")
            assert r.status_code == 403 and r.json()["error"]["code"] == "CSRF_FAILED"
            r = c.post("/api/auth/logout", headers={"x-csrf-token": c.cookies["torouter_csrf"]})
            assert r.status_code == 204
            doc = c.get("/api/openapi.json").json()
            assert (
                "/api/auth/login/totp" in doc["paths"]
                and "/api/me/2fa/enable/start" in doc["paths"]
            )
    finally:
        # uvicorn re-raises the captured SIGTERM once its graceful shutdown is complete.
        assert gw.stop() in (0, -signal.SIGTERM)
