"""Read-only admin lists: keys, channels, models, groups — never a secret."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.api import seed
from tests.api.conftest import Api
from torouter.api.admin.catalog import redact_url
from torouter.crypto import Keyring, encrypt


async def test_keys_are_masked_with_spend(api: Api) -> None:
    gid = await seed.group(api.db)
    uid = await seed.user(api.db, email="k@example.com")
    await seed.key(
        api.db,
        user_id=uid,
        group_id=gid,
        name="main",
        spend_nusd=1_500_000_000,
        quota_nusd=5_000_000_000,
        ip_whitelist="10.0.0.0/8, 192.168.1.1\n::1",
        model_whitelist="gpt-test",
    )
    await seed.key(api.db, user_id=api.admin_id, group_id=gid, name="other")
    await seed.key(
        api.db, user_id=uid, group_id=gid, name="gone", deleted_at=dt.datetime.now(dt.UTC)
    )

    r = await api.client.get(f"/api/admin/keys?user_id={uid}", headers=api.auth)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1
    (key,) = body["data"]
    assert key["mask"] == "sk-abcd…wxyz"
    assert (key["spend_nusd"], key["spend_usd"]) == (1_500_000_000, "1.500000000")
    assert key["quota_usd"] == "5.000000000"
    assert key["budget_daily_nusd"] is None and key["budget_daily_usd"] is None
    assert key["ip_whitelist"] == ["10.0.0.0/8", "192.168.1.1", "::1"]
    assert key["model_whitelist"] == ["gpt-test"]
    assert "key_hash" not in r.text and "0main" not in r.text

    r = await api.client.get("/api/admin/keys?include_deleted=true", headers=api.auth)
    assert r.json()["total"] == 3


async def test_channels_hide_credentials(api: Api) -> None:
    gid = await seed.group(api.db)
    await seed.channel(
        api.db,
        name="primary",
        group_id=gid,
        base_url="https://user:pw@api.example.com/v1",
        proxy_enc=encrypt("http://u:p@proxy.local:3128", api.accounts.keyring),
    )
    r = await api.client.get("/api/admin/channels", headers=api.auth)
    assert r.status_code == 200
    (ch,) = r.json()["data"]
    assert ch["has_credential"] is True
    assert ch["group_ids"] == [gid]
    assert ch["base_url"] == "https://***@api.example.com/v1"
    assert ch["proxy"] == "http://***@proxy.local:3128"
    for secret in ("ENCRYPTED-CREDENTIAL", "credential_enc", "x-secret", "hidden", "pw@", "u:p"):
        assert secret not in r.text


async def test_a_proxy_no_key_reads_shows_masked_not_an_error(api: Api) -> None:
    """R18.2: a proxy encrypted under a key since dropped from `encryption_key` reads as `***`
    in the list and the single read (never a 500, never ciphertext); a clear one left by a
    key-less migration reads redacted like any other."""
    gid = await seed.group(api.db)
    lost = await seed.channel(
        api.db,
        name="lost",
        group_id=gid,
        proxy_enc=encrypt("http://u:p@proxy.local:3128", Keyring.generate()),
    )
    await seed.channel(api.db, name="clear", group_id=gid, proxy_enc="socks5h://u:p@10.0.0.5:1080")
    r = await api.client.get("/api/admin/channels", headers=api.auth)
    assert r.status_code == 200, r.text
    shown = {c["name"]: c["proxy"] for c in r.json()["data"]}
    assert shown == {"lost": "***", "clear": "socks5h://***@10.0.0.5:1080"}
    one = await api.client.get(f"/api/admin/channels/{lost}", headers=api.auth)
    assert one.status_code == 200 and one.json()["proxy"] == "***"
    assert "v1:" not in r.text + one.text


async def test_models_and_groups(api: Api) -> None:
    await seed.model(api.db, id="priced", price_input=Decimal("3"), price_output=Decimal("15.5"))
    await seed.model(api.db, id="free")
    gid = await seed.group(api.db, name="pro")
    await seed.link_group_model(api.db, group_id=gid, model_id="priced", position=1)
    await seed.link_group_model(api.db, group_id=gid, model_id="free", position=0)
    cid = await seed.channel(api.db, name="c1", group_id=gid)

    r = await api.client.get("/api/admin/models", headers=api.auth)
    models = {m["id"]: m for m in r.json()["data"]}
    assert models["priced"]["prices"]["input"] == "3"
    assert models["priced"]["prices"]["output"] == "15.5"
    assert models["priced"]["prices"]["cache_read"] is None
    assert models["priced"]["unpriced"] is False
    assert models["free"]["unpriced"] is True

    r = await api.client.get("/api/admin/groups", headers=api.auth)
    (group,) = r.json()["data"]
    assert group["name"] == "pro"
    assert group["price_multiplier"] == "1.5"
    assert group["models"] == ["free", "priced"]
    assert group["channel_ids"] == [cid]


def test_redact_url() -> None:
    assert redact_url(None) is None
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert redact_url("https://k:s@h:1/p?q=1") == "https://***@h:1/p?q=1"
