from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from torouter.access.keys import hash_key, is_key_shaped
from torouter.accounts.passwords import verify_password
from torouter.config import Settings
from torouter.crypto import Keyring, decrypt
from torouter.demo import DEMO_FILE, ensure_demo
from torouter.storage import tables
from torouter.storage.db import Database
from torouter.storage.migrate import upgrade
from torouter.storage.repos.groups import group_model_ids
from torouter.storage.repos.users import create_user

BASE_URL = "http://127.0.0.1:8080"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


def embedded(data_dir: Path, **kw: object) -> Settings:
    return Settings(data_dir=data_dir, **kw)  # type: ignore[arg-type]


async def counts(db: Database) -> dict[str, int]:
    async with db.begin() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in tables.metadata.sorted_tables
        }


async def rows(db: Database, table: tables.Table) -> list[dict[str, object]]:
    async with db.begin() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """The demo is an embedded-default (SQLite) feature."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'torouter.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


async def test_first_run_creates_everything(
    sqlite_db: Database, data_dir: Path, keyring: Keyring
) -> None:
    db = sqlite_db
    info = await ensure_demo(
        db, embedded(data_dir), keyring, BASE_URL, environ={"TOROUTER_ADMIN_PASSWORD": "s3cret!"}
    )
    assert info is not None
    assert info.admin_password == "s3cret!" and len(info.user_password) >= 12
    assert is_key_shaped(info.key)
    assert "s3cret" not in repr(info) and info.key not in repr(info)

    users = {u["email"]: u for u in await rows(db, tables.users)}
    admin, demo = users["admin@torouter.local"], users["demo@torouter.local"]
    assert admin["role"] == "admin" and admin["state"] == "active"
    assert verify_password("s3cret!", admin["password_hash"])
    assert demo["role"] == "user" and demo["email_verified_at"] is not None
    assert verify_password(info.user_password, demo["password_hash"])
    assert demo["balance_nusd"] == 10 * 10**9
    (entry,) = await rows(db, tables.ledger)
    assert entry["reason"] == "admin_credit" and entry["user_id"] == demo["id"]

    (group,) = await rows(db, tables.groups)
    assert (group["name"], group["billing_type"], group["visibility"]) == (
        "default",
        "balance",
        "public",
    )
    async with db.begin() as conn:
        catalog = await group_model_ids(conn, group_id=group["id"])
    assert catalog == ["demo-gpt", "demo-claude", "demo-gemini", "demo-embed"]

    models = {m["id"]: m for m in await rows(db, tables.models)}
    assert models["demo-claude"]["supports_thinking"] is True
    assert models["demo-embed"]["modality"] == "embedding"
    assert models["demo-embed"]["endpoints"] == ["embeddings"]
    assert set(models["demo-gpt"]["endpoints"]) == {"chat", "responses", "messages", "generate"}
    assert {(m["vendor"]) for m in models.values()} == {"openai", "anthropic", "google"}
    for m in models.values():
        assert (m["price_input"], m["price_output"]) == (Decimal(1), Decimal(2))

    channels = {c["name"]: c for c in await rows(db, tables.channels)}
    assert {n: (c["platform"], c["base_url"], c["models"]) for n, c in channels.items()} == {
        "demo-openai": ("openai", f"{BASE_URL}/mock/openai/v1", ["demo-gpt", "demo-embed"]),
        "demo-anthropic": ("anthropic", f"{BASE_URL}/mock/anthropic", ["demo-claude"]),
        "demo-gemini": ("gemini", f"{BASE_URL}/mock/gemini", ["demo-gemini"]),
    }
    for c in channels.values():
        assert decrypt(c["credential_enc"], keyring) == "mock-demo-key"
    assert len(await rows(db, tables.channel_groups)) == 3

    (key,) = await rows(db, tables.api_keys)
    assert key["key_hash"] == hash_key(info.key) and key["user_id"] == demo["id"]
    assert key["group_id"] == group["id"] and key["status"] == "active"

    demo_file = data_dir / DEMO_FILE
    assert stat.S_IMODE(demo_file.stat().st_mode) == 0o600
    text = demo_file.read_text()
    for secret in (info.admin_password, info.user_password, info.key):
        assert secret in text
    assert f"curl {BASE_URL}/v1/chat/completions" in text
    # The console's address and the demo user's sign-in (issue 16, R15.4).
    assert f"console:  {BASE_URL}/login" in text
    assert f"user:     demo@torouter.local  password: {info.user_password}" in text


async def test_second_run_is_a_no_op(sqlite_db: Database, data_dir: Path, keyring: Keyring) -> None:
    settings = embedded(data_dir)
    assert await ensure_demo(sqlite_db, settings, keyring, BASE_URL) is not None
    before, text = await counts(sqlite_db), (data_dir / DEMO_FILE).read_text()
    assert await ensure_demo(sqlite_db, settings, keyring, BASE_URL) is None
    assert await counts(sqlite_db) == before
    assert (data_dir / DEMO_FILE).read_text() == text


async def test_random_admin_password_without_env(
    sqlite_db: Database, data_dir: Path, keyring: Keyring
) -> None:
    info = await ensure_demo(sqlite_db, embedded(data_dir), keyring, BASE_URL, environ={})
    assert info is not None and len(info.admin_password) >= 12


@pytest.mark.parametrize(
    "settings_kw",
    [
        {"demo": {"enabled": False}},
        {"redis": {"url": "redis://127.0.0.1:1/0"}},  # scale-out: never
        {"groups": [{"name": "mine"}]},  # the operator declares their own setup
    ],
)
async def test_skipped_outside_the_embedded_first_run(
    sqlite_db: Database, data_dir: Path, keyring: Keyring, settings_kw: dict[str, object]
) -> None:
    assert (
        await ensure_demo(sqlite_db, embedded(data_dir, **settings_kw), keyring, BASE_URL) is None
    )
    assert sum((await counts(sqlite_db)).values()) == 0
    assert not (data_dir / DEMO_FILE).exists()


async def test_skipped_when_users_exist(
    sqlite_db: Database, data_dir: Path, keyring: Keyring
) -> None:
    async with sqlite_db.begin() as conn:
        await create_user(conn, email="someone@example.com")
    assert await ensure_demo(sqlite_db, embedded(data_dir), keyring, BASE_URL) is None
    assert (await counts(sqlite_db))["users"] == 1


async def test_postgres_is_never_embedded(db: Database, data_dir: Path, keyring: Keyring) -> None:
    """Runs on both databases: the embedded default is SQLite without Redis only."""
    settings = embedded(data_dir, database={"url": db.url})
    info = await ensure_demo(db, settings, keyring, BASE_URL)
    assert (info is None) == (not db.is_sqlite)
