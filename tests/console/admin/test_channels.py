"""`/admin/channels` (R9.1, R9.9): the health view — status, per-model cooldowns and their
end, consecutive failures, success rate and p50/p95, last error and probe, auto-disable
reasons —, Test, enable/disable, priority and weight in the list, the edit form with a
write-only credential, managed channels read-only; every action audited."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from tests.console.admin.conftest import World
from torouter.crypto import decrypt, keyring_for
from torouter.routing.classify import Outcome
from torouter.storage.tables import channels, usage_logs


def rec(world: World):  # type: ignore[no-untyped-def]
    return world.site.deps.snapshot.current.channels[world.channel_id]


async def test_the_health_view(world: World) -> None:
    health = world.site.deps.health
    ch = rec(world)
    for latency in (100, 200, 300, 400):
        health.success(ch, "m-chat", latency, latency // 2)
    health.failure(ch, "m-chat", Outcome.RATE_LIMITED, status=429, headers={"retry-after": "120"})
    for _ in range(3):
        health.failure(ch, "m-embed", Outcome.SERVER, status=502)
    health.failure(ch, "m-chat", Outcome.SERVER, status=503)
    health.disable(world.channel_id, "billing")
    health.probed(world.channel_id, False, 402, "insufficient_quota")
    page = (await world.admin.get(f"/admin/channels/{world.channel_id}")).text
    assert "Auto-disabled" in page and "A billing error from the upstream" in page
    assert "Rate limited (429)" in page and "m-chat" in page  # the model's cooldown…
    assert "Every model" in page  # …and the whole channel's, after 3 server errors
    assert re.search(r"1\d\d s left", page)  # its end, about 120 s away
    assert "Consecutive failures" in page and "server 503" in page
    assert "Test failed" in page and "402" in page  # the last probe
    assert "44.4%" in page  # 4 of 9 attempts in the last 5 minutes
    assert "300 / 400 ms" in page  # latency p50 / p95 of the successes
    listing = (await world.admin.get("/admin/channels")).text
    assert "Auto-disabled" in listing and "2 cooling" in listing


async def test_test_shows_the_answer_and_is_kept(world: World) -> None:
    """R9.9: status, latency, the first characters; a usage row with outcome `test`, the
    channel's last probe, an audit row."""
    url = f"/admin/channels/{world.channel_id}"
    r = await world.post(url, f"{url}/test", {})
    assert r.status_code == 200 and "Test passed" in r.text and "HTTP 200" in r.text
    assert "mock" in r.text.lower()
    async with world.site.db.connect() as conn:
        row = (
            (await conn.execute(select(usage_logs).where(usage_logs.c.outcome == "test")))
            .mappings()
            .one()
        )
    assert (row["outcome"], row["channel_id"], row["status"], row["cost_nusd"]) == (
        "test",
        world.channel_id,
        200,
        0,
    )
    assert row["user_id"] is None and row["model_requested"] == "m-chat"
    assert world.site.deps.health.view(rec(world))["last_probe"]["ok"] is True
    audit = (await world.audit())[-1]
    assert (audit["action"], audit["target"]) == ("channel.test", f"channel:{world.channel_id}")
    assert audit["detail"]["ok"] is True  # type: ignore[index]
    # A failing upstream: the failure and its status are shown.
    await world.mock_directive("status=401")
    r = await world.post(url, f"{url}/test", {})
    assert "Test failed" in r.text and "HTTP 401" in r.text


async def test_enable_disable_and_routing_from_the_list(world: World) -> None:
    url = f"/admin/channels/{world.channel_id}"
    r = await world.post("/admin/channels", f"{url}/disable", {"back": "list"})
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/channels?notice=")
    assert rec(world).status == "disabled"
    r = await world.post("/admin/channels", f"{url}/enable", {"back": "list"})
    assert rec(world).status == "enabled"
    r = await world.post("/admin/channels", f"{url}/routing", {"priority": "-2", "weight": "40"})
    assert r.status_code == 303 and r.headers["location"].endswith(f"#channel-{world.channel_id}")
    assert (rec(world).priority, rec(world).weight) == (-2, 40)
    r = await world.post("/admin/channels", f"{url}/routing", {"priority": "1", "weight": "0"})
    assert r.status_code == 400 and 'aria-invalid="true"' in r.text
    assert (rec(world).priority, rec(world).weight) == (-2, 40)  # nothing half-applied
    actions = [(a["action"], a["detail"]) for a in await world.audit()]
    assert actions[-3:] == [
        ("channel.disabled", {"status": {"from": "enabled", "to": "disabled"}}),
        ("channel.enabled", {"status": {"from": "disabled", "to": "enabled"}}),
        ("channel.update", {"fields": ["priority", "weight"]}),
    ]


async def test_the_credential_is_write_only(world: World) -> None:
    url = f"/admin/channels/{world.channel_id}/edit"
    page = (await world.admin.get(url)).text
    assert "sk-mock-credential" not in page and "A credential is stored" in page
    form = {
        "name": "mock-openai",
        "base_url": (await _base(world)),
        "models": "m-chat\nm-embed",
        "model_mapping": "m-chat = gpt-4o",
        "group_" + str(world.group_id): "on",
        "priority": "0",
        "weight": "1",
        "max_concurrency": "0",
        "connect_timeout": "10",
        "first_byte_timeout": "60",
        "stream_idle_timeout": "60",
        "auto_disable": "on",
        "extra_headers": "X-Team: red",
    }
    r = await world.post(url, url, form)  # credential blank: kept
    assert r.status_code == 303, r.text[-800:]
    assert rec(world).credential == "sk-mock-credential"
    assert rec(world).model_mapping == {"m-chat": "gpt-4o"}
    assert rec(world).options["extra_headers"] == {"X-Team": "red"}
    page = (await world.admin.get(url)).text
    assert "X-Team" in page and ": red" not in page  # header names only, never values
    r = await world.post(url, url, {**form, "credential": "sk-new-one", "extra_headers": ""})
    assert rec(world).credential == "sk-new-one"
    assert rec(world).options["extra_headers"] == {"X-Team": "red"}  # blank keeps them
    audit = (await world.audit())[-1]
    assert "credential" in audit["detail"]["fields"]  # type: ignore[index]
    assert "sk-new-one" not in str(await world.audit())
    async with world.site.db.connect() as conn:
        stored = await conn.scalar(
            select(channels.c.credential_enc).where(channels.c.id == world.channel_id)
        )
    assert "sk-new-one" not in stored
    assert decrypt(stored, keyring_for(world.site.deps.settings)) == "sk-new-one"
    r = await world.post(url, url, {**form, "clear_credential": "on", "clear_extra_headers": "on"})
    assert r.status_code == 303
    async with world.site.db.connect() as conn:
        assert (
            await conn.scalar(
                select(channels.c.credential_enc).where(channels.c.id == world.channel_id)
            )
            is None
        )
    # Refusals keep the typed secret off the page.
    r = await world.post(url, url, {**form, "weight": "5000", "credential": "sk-typed"})
    assert r.status_code == 400 and 'id="weight-error"' in r.text and "sk-typed" not in r.text
    r = await world.post(url, url, {**form, "model_mapping": "just-a-name"})
    assert r.status_code == 400 and 'id="model_mapping-error"' in r.text


async def _base(world: World) -> str:
    return rec(world).base_url


async def test_create_and_delete(world: World) -> None:
    form = {
        "name": "local-vllm",
        "platform": "openai-compatible",
        "base_url": "",
        "credential": "sk-local",
        "models": "m-chat",
        "priority": "0",
        "weight": "1",
    }
    r = await world.post("/admin/channels/new", "/admin/channels", form)
    assert r.status_code == 400 and 'id="base_url-error"' in r.text and "sk-local" not in r.text
    r = await world.post("/admin/channels/new", "/admin/channels", {**form, "base_url": "ftp://x"})
    assert r.status_code == 400 and 'id="base_url-error"' in r.text
    r = await world.post(
        "/admin/channels/new", "/admin/channels", {**form, "base_url": "http://127.0.0.1:8000/v1"}
    )
    assert r.status_code == 303, r.text[-600:]
    url = r.headers["location"].split("?")[0]
    cid = int(url.rsplit("/", 1)[1])
    assert world.site.deps.snapshot.current.channels[cid].credential == "sk-local"
    r = await world.post(f"{url}/delete", f"{url}/delete", {})
    assert r.status_code == 303 and cid not in world.site.deps.snapshot.current.channels
    assert [a["action"] for a in await world.audit()][-2:] == ["channel.create", "channel.delete"]


async def test_a_managed_channel_is_read_only_but_can_be_tested(world: World) -> None:
    async with world.site.db.begin() as conn:
        await conn.execute(
            update(channels).where(channels.c.id == world.channel_id).values(managed=True)
        )
    await world.site.deps.snapshot.reload()
    url = f"/admin/channels/{world.channel_id}"
    page = (await world.admin.get(url)).text
    assert "This channel is declared" in page
    assert f'href="{url}/edit"' not in page and f'action="{url}/disable"' not in page
    assert f'action="{url}/test"' in page
    listing = (await world.admin.get("/admin/channels")).text
    assert f'action="{url}/routing"' not in listing
    r = await world.post(url, f"{url}/disable", {})
    assert r.status_code == 409 and "read-only" in r.text and rec(world).status == "enabled"
    r = await world.post(url, f"{url}/routing", {"priority": "3", "weight": "3"})
    assert r.status_code == 400 and "read-only" in r.text
    assert (await world.admin.get(f"{url}/edit")).status_code == 200
    assert "This channel is declared" in (await world.admin.get(f"{url}/edit")).text


async def test_the_proxy_password_is_never_shown(world: World) -> None:
    """R9.1 `proxy`: stored with its credentials and used (the snapshot carries it), shown
    only as `***@host`; the redacted value sent back unchanged keeps what is stored, and a
    refused proxy URL is not echoed."""
    url = f"/admin/channels/{world.channel_id}/edit"
    form = {
        "name": "mock-openai",
        "base_url": (await _base(world)),
        "models": "m-chat\nm-embed",
        "group_" + str(world.group_id): "on",
        "priority": "0",
        "weight": "1",
        "max_concurrency": "0",
        "connect_timeout": "10",
        "first_byte_timeout": "60",
        "stream_idle_timeout": "60",
        "proxy": "socks5h://alice:pr0xy-s3cret@127.0.0.1:1080",
    }
    r = await world.post(url, url, form)
    assert r.status_code == 303, r.text[-800:]
    assert rec(world).proxy == "socks5h://alice:pr0xy-s3cret@127.0.0.1:1080"
    page = (await world.admin.get(url)).text
    assert "socks5h://***@127.0.0.1:1080" in page and "pr0xy-s3cret" not in page
    r = await world.post(url, url, {**form, "proxy": "socks5h://***@127.0.0.1:1080"})
    assert r.status_code == 303
    assert rec(world).proxy == "socks5h://alice:pr0xy-s3cret@127.0.0.1:1080"  # kept
    r = await world.post(url, url, {**form, "proxy": "http://alice:typed-s3cret@h:99999"})
    assert r.status_code == 400 and 'id="proxy-error"' in r.text
    assert "typed-s3cret" not in r.text
    r = await world.post(url, url, {**form, "proxy": ""})
    assert r.status_code == 303 and rec(world).proxy is None
