"""Fixtures: a real database (SQLite file, and PostgreSQL when available), the management API
built on it, and an httpx client driving it in-process."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api import seed
from torouter.accounts.service import Accounts
from torouter.accounts.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, create_session
from torouter.api import ApiDeps, build_management_api
from torouter.billing.ledger import Ledger
from torouter.config import Settings
from torouter.crypto import generate_key, keyring_for
from torouter.snapshot import SnapshotHolder
from torouter.state.memory import MemoryState
from torouter.storage.db import Database
from torouter.storage.tables import metadata


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A temporary PostgreSQL database with the schema, for this test session (worker)."""
    base = os.environ.get("TOROUTER_TEST_PG_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("TOROUTER_TEST_PG_URL is not set (scripts/services.sh start)")
        pytest.skip("TOROUTER_TEST_PG_URL is not set: PostgreSQL tests skipped")
    name = f"torouter_api_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    async with db.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()
    try:
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/api.db")
    async with database.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def postgres_db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with database.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield database
    await database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """Every test that uses the database runs on both (DESIGN §3)."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    db: Database
    state: MemoryState
    ledger: Ledger
    admin_id: int
    admin_token: str
    deps: ApiDeps
    accounts: Accounts
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_token}"}

    @property
    def snapshot(self) -> SnapshotHolder:
        return self.deps.snapshot

    def rebuild(self, *, settings: Settings | None = None, ledger: Ledger | None = None) -> None:
        """Serve later `signed_in` clients from an app built with other settings or ledger
        (the same database, snapshot and accounts)."""
        self.deps = dataclasses.replace(
            self.deps, settings=settings or self.deps.settings, ledger=ledger or self.deps.ledger
        )
        self.ledger = self.deps.ledger
        self.app = build_management_api(self.deps)

    async def signed_in(self, user_id: int) -> httpx.AsyncClient:
        """A browser with a live session of `user_id`: its cookies, and the CSRF header
        echoed on every request (as the console's script does)."""
        async with self.db.begin() as conn:
            session = await create_session(
                self.accounts, conn, user_id=user_id, ip="127.0.0.1", user_agent="tests"
            )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app),
            base_url="http://testserver",
            cookies={SESSION_COOKIE: session.token, CSRF_COOKIE: session.csrf},
            headers={CSRF_HEADER: session.csrf},
        )
        self.clients.append(client)
        return client


@pytest.fixture
async def api(db: Database, tmp_path: Path) -> AsyncIterator[Api]:
    state = MemoryState()
    ledger = Ledger(state)
    settings = Settings(data_dir=tmp_path, encryption_key=generate_key())
    snapshot = SnapshotHolder(db, decrypt=lambda s: s)
    accounts = Accounts.build(settings, db, keyring_for(settings), on_users_changed=snapshot.reload)
    deps = ApiDeps(settings=settings, db=db, snapshot=snapshot, ledger=ledger, accounts=accounts)
    app = build_management_api(deps)
    admin_id = await seed.user(db, email="admin@example.com", role="admin")
    token = await seed.admin_token(db, user_id=admin_id)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        api = Api(app, client, db, state, ledger, admin_id, token, deps, accounts)
        try:
            yield api
        finally:
            for c in api.clients:
                await c.aclose()
            await accounts.postman.drain()
