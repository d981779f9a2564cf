"""Shared fixtures."""

from __future__ import annotations

# ---- storage fixtures (owned by storage; add other fixtures outside this block) ----------
#
# `empty_db` / `db`: a fresh database per test, on SQLite (a file in tmp_path) and on the real
# PostgreSQL of scripts/services.sh (`TOROUTER_TEST_PG_URL`): a database with a random name is
# created for each test through an AUTOCOMMIT connection and dropped afterwards, so xdist
# workers never share one. Without the URL the postgres cases skip, except under CI=true.
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from torouter.storage.db import Database
from torouter.storage.migrate import upgrade

DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pg_base_url() -> str:
    """The test server's URL; skips (or fails under CI) when it is not configured."""
    url = os.environ.get("TOROUTER_TEST_PG_URL")
    if not url:
        reason = 'TOROUTER_TEST_PG_URL is not set (eval "$(scripts/services.sh start)")'
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


async def _pg_admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def make_pg_database() -> str:
    """CREATE DATABASE with a random name; returns its URL."""
    base = pg_base_url()
    name = f"torouter_test_{secrets.token_hex(6)}"
    await _pg_admin(base, f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    parsed = make_url(url)
    base = pg_base_url()
    await _pg_admin(base, f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@pytest.fixture(params=DB_KINDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'torouter.db'}"
        return
    url = await make_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def empty_db(db_url: str) -> AsyncIterator[Database]:
    """A `Database` on a fresh database without any table."""
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def db(empty_db: Database) -> Database:
    """A `Database` migrated to the head revision."""
    await upgrade(empty_db)
    return empty_db


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path


# ---- end of storage fixtures ---------------------------------------------------------------


# ---- scheduling: the longest tests first (CI's wall time; .ci/run has a 25-minute budget) -----
#
# xdist hands tests out in collection order, so a long module collected last keeps one worker
# busy while the other idles. Longest-first is the classic fix: modules marked `slow`, then
# the ones that start processes, browsers or type checkers, then the quick unit tests that
# balance the two workers at the end. The sort is stable and by module, so every module stays
# contiguous (module-scoped fixtures set up once) and the order is the same in every worker,
# as xdist requires.
_HEAVY = (
    "tests/e2e/",
    "tests/docs_site/",
    "tests/deploy/",
    "tests/bench/",
    "tests/console/test_browser",
    "tests/console/test_admin_browser",
    "tests/console/test_usage_browser",
    "tests/test_types.py",
    "tests/test_lint.py",
    "tests/test_packaging.py",
)


def _schedule_rank(item: pytest.Item) -> int:
    if item.get_closest_marker("slow") is not None:
        return 0
    path = Path(str(item.path)).relative_to(Path(__file__).parent.parent).as_posix()
    return 1 if path.startswith(_HEAVY) else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_schedule_rank)
