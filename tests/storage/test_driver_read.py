"""Raw driver reads (the CSV export's path): the same rows as SQLAlchemy's, by position."""

from __future__ import annotations

from sqlalchemy import String, insert, literal, select, type_coerce

from tests.api.seed import T0
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.driver_read import fetch_raw


async def test_rows_come_back_as_stored(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(t.users),
            [
                {"email": f"u{n}@example.com", "balance_nusd": 10**15 + n, "created_at": T0}
                for n in range(3)
            ],
        )
    c = t.users.c
    stmt = (
        select(c.id, c.email, c.balance_nusd, c.totp_enabled, type_coerce(c.created_at, String))
        .where(c.balance_nusd > literal(10**15), c.email != "x")
        .order_by(c.id)
    )
    async with db.connect() as conn:
        raw = await fetch_raw(conn, stmt)
        ours = (await conn.execute(stmt)).all()
    assert [tuple(r) for r in raw] == [tuple(r) for r in ours]
    assert [r[1] for r in raw] == ["u1@example.com", "u2@example.com"]
    assert raw[0][4] == "2025-03-01T12:00:00.000000Z" and not raw[0][3]
