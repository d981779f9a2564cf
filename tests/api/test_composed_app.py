"""Through the real composed application (`torouter.app`): an edit made with the management
API is what the gateway applies on the very next request (R7.12), with no reload in between."""

from __future__ import annotations

from pathlib import Path

import httpx

from torouter.accounts.passwords import hash_password
from torouter.app import build_app
from torouter.config import Settings

PASSWORD = "hunter22"


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        demo={"enabled": False},
        mock={"mount": True},
        models=[
            {"id": "gpt-x", "vendor": "openai", "prices": {"input": 1, "output": 2}},
            {"id": "gpt-y", "vendor": "openai"},
        ],
        groups=[{"name": "default", "models": ["gpt-x", "gpt-y"]}],
        channels=[
            {
                "name": "mock-openai",
                "platform": "openai",
                "base_url": "http://127.0.0.1:8080/mock/openai/v1",
                "credential": "mock-key",
                "models": ["gpt-x", "gpt-y"],
                "groups": ["default"],
            }
        ],
        users=[
            {
                "email": "dev@example.com",
                "verified": True,
                "balance_usd": 5,
                "password_hash": hash_password(PASSWORD),
            }
        ],
    )


async def test_key_edits_apply_on_the_next_gateway_request(tmp_path: Path) -> None:
    app = build_app(_settings(tmp_path))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            r = await c.post(
                "/api/auth/login", json={"email": "dev@example.com", "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            csrf = {"x-csrf-token": c.cookies["torouter_csrf"]}

            r = await c.post(
                "/api/me/keys",
                json={"name": "cli", "group": "default", "model_whitelist": "gpt-x"},
                headers=csrf,
            )
            assert r.status_code == 201, r.text
            key_id, key = r.json()["id"], r.json()["key"]
            auth = {"authorization": f"Bearer {key}"}

            r = await c.get("/v1/models", headers=auth)
            assert r.status_code == 200, r.text
            assert [m["id"] for m in r.json()["data"]] == ["gpt-x"]  # the whitelist applies

            r = await c.patch(f"/api/me/keys/{key_id}", json={"model_whitelist": ""}, headers=csrf)
            assert r.status_code == 200
            r = await c.get("/v1/models", headers=auth)
            assert [m["id"] for m in r.json()["data"]] == ["gpt-x", "gpt-y"]

            r = await c.patch(f"/api/me/keys/{key_id}", json={"status": "disabled"}, headers=csrf)
            assert r.status_code == 200 and r.json()["status"] == "disabled"
            r = await c.get("/v1/models", headers=auth)
            assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_DISABLED"

            r = await c.patch(f"/api/me/keys/{key_id}", json={"status": "active"}, headers=csrf)
            assert (await c.get("/v1/models", headers=auth)).status_code == 200

            r = await c.delete(f"/api/me/keys/{key_id}", headers=csrf)
            assert r.status_code == 204
            r = await c.get("/v1/models", headers=auth)
            assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_API_KEY"

            r = await c.get("/api/me/balance")
            assert r.json()["balance_usd"] == "5.000000000"
    finally:
        await app.shutdown()
