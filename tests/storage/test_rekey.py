"""`reencrypt_secrets` (R18.2, `torouter rotate-encryption-key`): every stored secret, channel
egress proxies (R9.1) and secret site settings included, ends under the primary key; a proxy
in clear gets encrypted."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

from torouter.crypto import CryptoError, Keyring, decrypt, encrypt, generate_key, is_encrypted
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.rekey import reencrypt_secrets
from torouter.storage.repos import channels, users

PROXY = "socks5h://bob:pr0xy-s3cret@10.0.0.5:1080"


async def test_rotation_re_encrypts_credentials_proxies_and_settings(db: Database) -> None:
    old_key, new_key = generate_key(), generate_key()
    old = Keyring.from_setting(old_key)
    both = Keyring.from_setting(f"{new_key},{old_key}")
    new = Keyring.from_setting(new_key)
    async with db.begin() as conn:
        await channels.create_channel(
            conn, name="a", platform="openai", keyring=old, credential="sk-a", proxy=PROXY
        )
        await channels.create_channel(conn, name="direct", platform="openai", keyring=old)
        # A proxy a key-less migration 0005 left in clear.
        cid = await channels.create_channel(conn, name="clear", platform="openai", keyring=old)
        await conn.execute(update(t.channels).where(t.channels.c.id == cid).values(proxy_enc=PROXY))
        uid = await users.create_user(conn, email="u@example.com")
        await conn.execute(
            update(t.users).where(t.users.c.id == uid).values(totp_secret_enc=encrypt("JBSW", old))
        )
        await conn.execute(
            insert(t.settings_kv).values(key="payments.secret", value=encrypt("sk_live", old))
        )
        # A secret site setting (site_config.py's shape) and a plain one, left alone.
        smtp = {"enc": encrypt("smtp-pw", old)}
        await conn.execute(insert(t.settings_kv).values(key="mail.smtp_password", value=smtp))
        await conn.execute(insert(t.settings_kv).values(key="site.name", value="Acme"))

    async with db.begin() as conn:
        assert await reencrypt_secrets(conn, both, ["payments.secret"]) == 6
    async with db.begin() as conn:
        assert await reencrypt_secrets(conn, both, ["payments.secret"]) == 0  # all current

    async with db.connect() as conn:
        rows = {r["name"]: r for r in (await conn.execute(select(t.channels))).mappings()}
        totp = await conn.scalar(select(t.users.c.totp_secret_enc))
        kv = dict((await conn.execute(select(t.settings_kv.c.key, t.settings_kv.c.value))).all())
    # The old key can go: everything reads under the new one alone.
    assert channels.channel_credential(rows["a"], new) == "sk-a"
    for name in ("a", "clear"):
        stored = rows[name]["proxy_enc"]
        assert is_encrypted(stored) and "pr0xy-s3cret" not in stored
        assert channels.channel_proxy(rows[name], new) == PROXY
    assert rows["direct"]["proxy_enc"] is None
    assert decrypt(totp, new) == "JBSW" and decrypt(kv["payments.secret"], new) == "sk_live"
    assert decrypt(kv["mail.smtp_password"]["enc"], new) == "smtp-pw"
    assert kv["site.name"] == "Acme"


async def test_rotation_stops_on_a_secret_no_key_reads(db: Database) -> None:
    """A proxy under a key that was already dropped: the rotation fails (and its transaction
    rolls back) instead of reporting success while a secret stays unreadable."""
    stranger = Keyring.generate()
    ring = Keyring.generate()
    async with db.begin() as conn:
        await channels.create_channel(
            conn, name="a", platform="openai", keyring=stranger, proxy=PROXY
        )
    with pytest.raises(CryptoError, match="unknown key"):
        async with db.begin() as conn:
            await reencrypt_secrets(conn, ring)
