"""`/api/admin/channels`: get one, compare its models with the upstream's list, Test kept as
a `test` usage row, the last probe and an audit row (R9.9); managed channels read-only."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select, update

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from torouter.api import build_management_api
from torouter.crypto import decrypt, is_encrypted
from torouter.mock.testing import MockServer
from torouter.routing.health import HealthBook
from torouter.snapshot import SnapshotHolder
from torouter.storage.tables import audit_log, channels, usage_logs
from torouter.upstreams.http import UpstreamHttp


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
async def served(api: Api, mock: MockServer) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    """The API with the gateway's upstream client and health book, and one mock channel."""
    http = UpstreamHttp()
    await http.start()
    deps = dataclasses.replace(api.deps, http=http, health=HealthBook())
    app = build_management_api(deps)
    gid = await seed.group(api.db)
    cid = await seed.channel(
        api.db, name="mock", group_id=gid, base_url=f"{mock.url}/v1", models=["gpt-4o", "gone"]
    )
    await api.snapshot.reload()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver", headers=api.auth
    ) as client:
        yield client, cid
    await http.close()


async def test_get_one_channel(api: Api, served: tuple[httpx.AsyncClient, int]) -> None:
    client, cid = served
    r = await client.get(f"/api/admin/channels/{cid}")
    assert r.status_code == 200 and r.json()["name"] == "mock" and r.json()["has_credential"]
    assert (await client.get("/api/admin/channels/999")).status_code == 404


async def test_models_diff(api: Api, served: tuple[httpx.AsyncClient, int]) -> None:
    client, cid = served
    r = await client.get(f"/api/admin/channels/{cid}/models/diff")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kept"] == ["gpt-4o"] and body["removals"] == ["gone"]
    assert "o3" in body["additions"] and "gpt-4o" not in body["additions"]
    async with api.db.begin() as conn:
        await conn.execute(
            update(channels).values(options={"extra_headers": {"x-mock": "status=500"}})
        )
    await api.snapshot.reload()
    r = await client.get(f"/api/admin/channels/{cid}/models/diff")
    assert r.status_code == 502 and "HTTP 500" in r.json()["error"]["message"]


async def test_a_test_is_kept(api: Api, served: tuple[httpx.AsyncClient, int]) -> None:
    client, cid = served
    r = await client.post(f"/api/admin/channels/{cid}/test")
    body = r.json()
    assert r.status_code == 200 and body["ok"] and body["status"] == 200
    assert body["request_id"].startswith("test_")
    async with api.db.connect() as conn:
        row = (await conn.execute(select(usage_logs))).mappings().one()
        audit = (await conn.execute(select(audit_log.c.action, audit_log.c.target))).all()
    assert row["request_id"] == body["request_id"] and row["outcome"] == "test"
    assert row["cost_nusd"] == 0 and row["user_id"] is None and row["channel_id"] == cid
    assert ("channel.test", f"channel:{cid}") in audit


async def test_a_managed_channel_cannot_be_enabled_or_disabled(
    api: Api, served: tuple[httpx.AsyncClient, int]
) -> None:
    client, cid = served
    async with api.db.begin() as conn:
        await conn.execute(update(channels).values(managed=True))
    for action in ("disable", "enable"):
        r = await client.post(f"/api/admin/channels/{cid}/{action}")
        assert r.status_code == 409, action
    r = await client.post(f"/api/admin/channels/{cid}/test")
    assert r.status_code == 200  # Test still works: it changes nothing


@pytest.mark.parametrize(
    ("platform", "required"),
    [("openai-compatible", True), ("azure-openai", True), ("openai", False), ("gemini", False)],
)
async def test_a_base_url_is_required_where_the_platform_has_no_default_host(
    api: Api, platform: str, required: bool
) -> None:
    """The registry's `base_url_required` (R9.1), as provisioning files check it: an Azure
    channel without its resource URL would send every call to a relative path."""
    body = {"name": f"c-{platform}", "platform": platform, "credential": "k"}
    r = await api.client.post("/api/admin/channels", json=body, headers=api.auth)
    if required:
        assert_error(r, 400, "INVALID_REQUEST", "base_url")
        assert r.json()["error"]["message"] == f"base_url is required for {platform} channels"
    else:
        assert r.status_code == 201, r.text


async def test_an_unknown_platform_is_refused_with_the_registry_list(api: Api) -> None:
    body = {"name": "c", "platform": "bedrock", "base_url": "https://x.test"}
    r = await api.client.post("/api/admin/channels", json=body, headers=api.auth)
    assert_error(r, 400, "INVALID_REQUEST", "platform")
    assert "'azure-openai'" in r.json()["error"]["message"]


async def test_a_proxy_is_checked_redacted_and_used(api: Api, mock: MockServer) -> None:
    """R9.1 `proxy`: refused with the reason and without echoing the password; stored whole and
    encrypted (R18.2), read as `***@host`; a redacted copy sent back is refused; the channel's
    upstream calls (here the models comparison) go through it."""
    from tests.upstreams.proxy_servers import HttpProxy
    from torouter.upstreams.egress import EgressTransports

    proxy = HttpProxy(user="alice", password="pr0xy-s3cret")
    await proxy.start()
    egress = EgressTransports(UpstreamHttp())
    await egress.start()
    # The gateway's snapshot: it decrypts the proxy once, at load (the fixture's does not).
    snapshot = SnapshotHolder(api.db, decrypt=lambda t: decrypt(t, api.accounts.keyring))
    deps = dataclasses.replace(api.deps, http=egress, health=HealthBook(), snapshot=snapshot)
    app = build_management_api(deps)
    await seed.group(api.db)
    full = f"http://alice:pr0xy-s3cret@127.0.0.1:{proxy.port}"
    shown = f"http://***@127.0.0.1:{proxy.port}"
    body = {
        "name": "proxied",
        "platform": "openai",
        "base_url": f"{mock.url}/v1",
        "credential": "k",
        "models": ["gpt-4o"],
        "groups": ["default"],
    }
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://testserver", headers=api.auth
        ) as client:
            for bad, reason in (
                ("socks4://alice:pr0xy-s3cret@h:1080", "must be an http, https, socks5"),
                ("http://alice:pr0xy-s3cret@h:99999", "port must be a number"),
                ("http://alice:pr0xy-s3cret@h:1/path", "no path"),
            ):
                r = await client.post("/api/admin/channels", json={**body, "proxy": bad})
                assert_error(r, 400, "INVALID_REQUEST", "proxy")
                assert reason in r.text and "pr0xy-s3cret" not in r.text
            r = await client.post("/api/admin/channels", json={**body, "proxy": full})
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            assert r.json()["proxy"] == shown and "pr0xy-s3cret" not in r.text
            async with api.db.connect() as conn:
                stored = await conn.scalar(select(channels.c.proxy_enc).where(channels.c.id == cid))
            assert (
                is_encrypted(stored) and "pr0xy-s3cret" not in stored and "127.0.0.1" not in stored
            )
            assert decrypt(stored, api.accounts.keyring) == full
            assert snapshot.current.channels[cid].proxy == full
            r = await client.get(f"/api/admin/channels/{cid}/models/diff")
            assert r.status_code == 200, r.text
            assert proxy.requests == [("GET", f"{mock.url}/v1/models")]
            r = await client.patch(f"/api/admin/channels/{cid}", json={"proxy": shown})
            assert_error(r, 400, "INVALID_REQUEST", "proxy")
            assert "redacted" in r.json()["error"]["message"]
            r = await client.patch(f"/api/admin/channels/{cid}", json={"proxy": ""})
            assert r.status_code == 200 and r.json()["proxy"] is None
            assert snapshot.current.channels[cid].proxy is None
    finally:
        await egress.close()
        await proxy.stop()
