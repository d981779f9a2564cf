"""Migration 0005 (R9.1 `proxy` encrypted at rest, R18.2) on a database holding proxies in clear.

Up with the deployment key encrypts them into `proxy_enc`; down decrypts them back into `proxy`
and refuses without the key; up without the key (a caller with no settings) copies them as
they are, which the loaders accept. The channels' group links survive every step (a table
rebuild on SQLite would have cascaded them away).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from torouter.crypto import Keyring, decrypt, is_encrypted
from torouter.storage import migrate
from torouter.storage import tables as t
from torouter.storage.db import Database

URL = "http://alice:pr0xy-s3cret@10.0.0.5:3128"


async def _at_0004_with_proxies(db: Database) -> None:
    """Revision 0004 with two channels, one behind a proxy in clear, both linked to a group."""
    await migrate.upgrade(db, "0004")
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    async with db.begin() as conn:
        await conn.execute(sa.insert(t.groups).values(id=1, name="g", created_at=now))
        for cid, name, proxy in ((1, "proxied", URL), (2, "direct", None)):
            # Today's table minus `proxy_enc` (never named, so never inserted), then the column
            # 0004 had.
            await conn.execute(
                sa.insert(t.channels).values(id=cid, name=name, platform="openai", created_at=now)
            )
            await conn.execute(
                sa.text("UPDATE channels SET proxy = :p WHERE id = :c"), {"p": proxy, "c": cid}
            )
            await conn.execute(sa.insert(t.channel_groups).values(channel_id=cid, group_id=1))


async def _column(db: Database, name: str) -> dict[int, str | None]:
    async with db.connect() as conn:
        rows = await conn.execute(sa.text(f"SELECT id, {name} FROM channels ORDER BY id"))
        return {r[0]: r[1] for r in rows}


async def _links(db: Database) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT count(*) FROM channel_groups")) or 0)


async def test_up_encrypts_and_down_decrypts_with_the_key(empty_db: Database) -> None:
    ring = Keyring.generate()
    await _at_0004_with_proxies(empty_db)

    await migrate.upgrade(empty_db, keyring=ring)
    stored = await _column(empty_db, "proxy_enc")
    assert stored[2] is None
    token = stored[1]
    assert token is not None and is_encrypted(token)
    assert "pr0xy-s3cret" not in token and "10.0.0.5" not in token
    assert decrypt(token, ring) == URL
    assert await migrate.schema_diff(empty_db) == []  # no `proxy` column left, tables.py agrees
    assert await _links(empty_db) == 2

    with pytest.raises(RuntimeError, match="needs the key"):
        await migrate.downgrade(empty_db, "0004")  # ciphertext where a URL belongs: refused
    assert await migrate.current_revision(empty_db) == "0005"
    assert (await _column(empty_db, "proxy_enc"))[1] == token  # untouched

    await migrate.downgrade(empty_db, "0004", keyring=ring)
    assert await migrate.current_revision(empty_db) == "0004"
    assert await _column(empty_db, "proxy") == {1: URL, 2: None}
    assert await _links(empty_db) == 2


async def test_up_without_the_key_keeps_the_url_which_still_loads(empty_db: Database) -> None:
    """No key at hand: the URL is copied as it is; the snapshot reads it, rotation encrypts it,
    and going down again needs no key for it."""
    from torouter.snapshot import load_snapshot
    from torouter.storage.rekey import reencrypt_secrets

    ring = Keyring.generate()
    await _at_0004_with_proxies(empty_db)
    await migrate.upgrade(empty_db)
    assert await _column(empty_db, "proxy_enc") == {1: URL, 2: None}
    snap = await load_snapshot(empty_db, lambda t: decrypt(t, ring))
    assert snap.channels[1].proxy == URL and snap.channels[2].proxy is None

    await migrate.downgrade(empty_db, "0004")
    assert await _column(empty_db, "proxy") == {1: URL, 2: None}
    await migrate.upgrade(empty_db)

    async with empty_db.begin() as conn:
        assert await reencrypt_secrets(conn, ring) == 1
    token = (await _column(empty_db, "proxy_enc"))[1]
    assert token is not None and is_encrypted(token) and decrypt(token, ring) == URL
    snap = await load_snapshot(empty_db, lambda t: decrypt(t, ring))
    assert snap.channels[1].proxy == URL
