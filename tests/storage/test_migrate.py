from __future__ import annotations

from sqlalchemy import text

from torouter.storage import migrate
from torouter.storage.db import Database


async def test_empty_database_is_not_current(empty_db: Database) -> None:
    assert await migrate.current_revision(empty_db) is None
    assert not await migrate.is_current(empty_db)


async def test_upgrade_from_empty_matches_metadata(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    assert await migrate.current_revision(empty_db) == migrate.head_revision()
    assert await migrate.is_current(empty_db)
    assert await migrate.schema_diff(empty_db) == []


async def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    await migrate.upgrade(db)
    assert await migrate.is_current(db)
    assert await migrate.schema_diff(db) == []


async def test_schema_diff_sees_drift(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(text("DROP INDEX ix_usage_logs_created_id"))
    diff = await migrate.schema_diff(db)
    assert [d[0] for d in diff] == ["add_index"]


def test_one_head() -> None:
    assert migrate.head_revision() == "0005"
