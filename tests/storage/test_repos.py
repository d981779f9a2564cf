from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from torouter.access.keys import hash_key, new_key
from torouter.accounts.passwords import hash_password, verify_password
from torouter.crypto import CryptoError, Keyring, decrypt, encrypt, is_encrypted
from torouter.storage.db import Database
from torouter.storage.repos import apikeys, channels, groups, models, plans, users


async def test_users(db: Database) -> None:
    async with db.begin() as conn:
        user_id = await users.create_user(conn, email="  Ann@Example.COM ")
        row = await users.get_user_by_email(conn, email="ann@example.com")
        assert row is not None and row["id"] == user_id and row["email"] == "ann@example.com"
        assert (row["role"], row["state"], row["balance_nusd"], row["managed"]) == (
            "user",
            "unverified",
            0,
            False,
        )
        assert await users.count_users(conn) == 1
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            await users.create_user(conn, email="ANN@example.com")


async def test_ensure_admin_creates_then_promotes(db: Database) -> None:
    async with db.begin() as conn:
        admin_id, created = await users.ensure_admin(
            conn, email="root@example.com", password_hash=hash_password("a")
        )
        assert created
        plain_id = await users.create_user(conn, email="u@example.com")
        again_id, created = await users.ensure_admin(
            conn, email="u@example.com", password_hash=hash_password("b")
        )
        assert (again_id, created) == (plain_id, False)
        row = await users.get_user(conn, user_id=plain_id)
    assert row is not None and row["role"] == "admin" and row["state"] == "active"
    assert row["email_verified_at"] is not None and verify_password("b", row["password_hash"])
    assert admin_id != plain_id


async def test_groups_and_models(db: Database) -> None:
    async with db.begin() as conn:
        for mid in ("a", "b", "c"):
            await models.create_model(conn, model_id=mid, prices={"input": Decimal("0.15")})
        group_id = await groups.create_group(conn, name="g", price_multiplier=Decimal("1.5"))
        assert await groups.set_group_models(conn, group_id=group_id, model_ids=["c", "a"])
        assert not await groups.set_group_models(conn, group_id=group_id, model_ids=["c", "a"])
        assert await groups.group_model_ids(conn, group_id=group_id) == ["c", "a"]
        row = await groups.get_group_by_name(conn, name="g")
        model = await models.get_model(conn, model_id="a")
        user_id = await users.create_user(conn, email="u@example.com")
        assert await groups.grant_group(conn, group_id=group_id, user_id=user_id)
        assert not await groups.grant_group(conn, group_id=group_id, user_id=user_id)
    assert row is not None and row["price_multiplier"] == Decimal("1.5")
    assert model is not None and model["price_input"] == Decimal("0.15")
    assert model["price_output"] is None and model["owned_by"] == "openai"


def test_price_columns_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown price"):
        models.price_columns({"inptu": Decimal(1)})


async def test_channels_store_the_credential_encrypted(db: Database) -> None:
    ring = Keyring.generate()
    async with db.begin() as conn:
        g1 = await groups.create_group(conn, name="g1")
        g2 = await groups.create_group(conn, name="g2")
        channel_id = await channels.create_channel(
            conn,
            name="c",
            platform="openai",
            keyring=ring,
            credential="sk-upstream",
            group_ids=[g1],
            connect_timeout=3.5,
        )
        row = await channels.get_channel_by_name(conn, name="c")
        assert row is not None and "sk-upstream" not in row["credential_enc"]
        assert channels.channel_credential(row, ring) == "sk-upstream"
        assert row["connect_timeout"] == 3.5 and row["status"] == "enabled"
        assert await channels.set_channel_groups(conn, channel_id=channel_id, group_ids=[g2])
        assert not await channels.set_channel_groups(conn, channel_id=channel_id, group_ids=[g2])
        assert await channels.channel_group_ids(conn, channel_id=channel_id) == {g2}
    with pytest.raises(TypeError):
        async with db.begin() as conn:
            await channels.create_channel(conn, name="d", platform="openai", keyring=ring, nope=1)


async def test_channels_store_the_proxy_encrypted(db: Database) -> None:
    """R9.1 `proxy` at rest (R18.2): never the clear URL in the column; blank is no proxy."""
    ring = Keyring.generate()
    url = "socks5h://alice:pr0xy-s3cret@10.0.0.5:1080"
    async with db.begin() as conn:
        await channels.create_channel(conn, name="p", platform="openai", keyring=ring, proxy=url)
        await channels.create_channel(conn, name="none", platform="openai", keyring=ring, proxy="")
        row = await channels.get_channel_by_name(conn, name="p")
        bare = await channels.get_channel_by_name(conn, name="none")
    assert row is not None and bare is not None
    assert is_encrypted(row["proxy_enc"])
    assert "pr0xy-s3cret" not in row["proxy_enc"] and "10.0.0.5" not in row["proxy_enc"]
    assert channels.channel_proxy(row, ring) == url
    assert bare["proxy_enc"] is None and channels.channel_proxy(bare, ring) is None
    with pytest.raises(CryptoError):  # another deployment's key: never silently "no proxy"
        channels.channel_proxy(row, Keyring.generate())


def test_stored_proxy_reads_both_forms() -> None:
    """A URL left in clear by a key-less migration still reads; ciphertext is decrypted."""
    ring = Keyring.generate()
    url = "http://u:p@proxy.local:3128"

    def dec(token: str) -> str:
        return decrypt(token, ring)

    assert channels.stored_proxy(encrypt(url, ring), dec) == url
    assert channels.stored_proxy(url, dec) == url
    assert channels.stored_proxy(None, dec) is None and channels.stored_proxy("", dec) is None
    assert channels.encrypt_proxy(None, ring) is None and channels.encrypt_proxy("", ring) is None


async def test_keys(db: Database) -> None:
    async with db.begin() as conn:
        group_id = await groups.create_group(conn, name="g")
        user_id = await users.create_user(conn, email="u@example.com")
        new = new_key()
        key = new.secret
        key_id = await apikeys.insert_key(
            conn,
            user_id=user_id,
            group_id=group_id,
            name="k",
            key_hash=new.key_hash,
            mask=new.mask,
            rpm=10,
        )
        row = await apikeys.get_key_by_hash(conn, key_hash=hash_key(key))
    assert row is not None and row["id"] == key_id and row["rpm"] == 10
    assert row["mask"] == f"sk-{key[3:7]}…{key[-4:]}" and key not in str(dict(row))
    assert (row["spend_nusd"], row["status"], row["ip_whitelist"]) == (0, "active", "")


async def test_plans_and_subscriptions(db: Database) -> None:
    async with db.begin() as conn:
        group_id = await groups.create_group(conn, name="pro", billing_type="subscription")
        user_id = await users.create_user(conn, email="u@example.com")
        await plans.create_plan(
            conn, name="p", group_id=group_id, duration_days=7, daily_cap_nusd=5
        )
        plan = await plans.get_plan_by_name(conn, name="p")
        assert plan is not None
        start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        await plans.create_subscription(conn, user_id=user_id, plan=plan, starts_at=start)
        sub = await plans.get_subscription(conn, user_id=user_id, group_id=group_id)
    assert sub is not None and sub["expires_at"] == start + dt.timedelta(days=7)
    assert (sub["daily_cap_nusd"], sub["plan_id"], sub["state"]) == (5, plan["id"], "active")


async def test_cli_helpers(db: Database) -> None:
    from torouter.storage import repos

    assert not await repos.set_password(
        db, email="x@example.com", password_hash=hash_password("p1")
    )
    user_id, created = await repos.create_admin(
        db, email="X@example.com", password_hash=hash_password("p1")
    )
    assert created
    assert await repos.create_admin(
        db, email="x@example.com", password_hash=hash_password("p2")
    ) == (user_id, False)
    assert await repos.set_password(db, email="x@example.com", password_hash=hash_password("p3"))
    async with db.begin() as conn:
        row = await users.get_user(conn, user_id=user_id)
    assert row is not None and verify_password("p3", row["password_hash"])
