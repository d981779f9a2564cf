from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError

from torouter.storage.db import Database
from torouter.storage.repos.ledger import add_ledger_entry, ledger_sum, list_ledger
from torouter.storage.repos.users import create_user, get_user


async def new_user(db: Database, email: str = "a@example.com") -> int:
    async with db.begin() as conn:
        return await create_user(conn, email=email)


async def test_running_total(db: Database) -> None:
    user_id = await new_user(db)
    steps = [
        (10_000_000_000, "admin_credit", "c1"),
        (-2_500_000_000, "usage", "batch-1"),
        (-500_000_000, "usage", "batch-2"),
        (1_000_000_000, "topup", "ord_1"),
    ]
    expected_after = []
    total = 0
    async with db.begin() as conn:
        for amount, reason, ref in steps:
            entry = await add_ledger_entry(
                conn, user_id=user_id, amount_nusd=amount, reason=reason, reference=ref
            )
            total += amount
            expected_after.append(total)
            assert entry.balance_after_nusd == total and not entry.duplicate
    async with db.begin() as conn:
        user = await get_user(conn, user_id=user_id)
        rows = await list_ledger(conn, user_id=user_id)
        assert user is not None and user["balance_nusd"] == total == 8_000_000_000
        assert await ledger_sum(conn, user_id=user_id) == total
    assert [r["balance_after_nusd"] for r in reversed(rows)] == expected_after


async def test_same_reason_and_reference_lands_once(db: Database) -> None:
    user_id = await new_user(db)
    async with db.begin() as conn:
        first = await add_ledger_entry(
            conn, user_id=user_id, amount_nusd=5, reason="topup", reference="ord_1"
        )
        again = await add_ledger_entry(
            conn, user_id=user_id, amount_nusd=5, reason="topup", reference="ord_1"
        )
        # Another reason with the same reference is a different entry.
        other = await add_ledger_entry(
            conn, user_id=user_id, amount_nusd=-5, reason="refund", reference="ord_1"
        )
    assert again.duplicate and again.id == first.id and again.balance_after_nusd == 5
    assert not other.duplicate and other.balance_after_nusd == 0


async def test_references_may_repeat_when_null(db: Database) -> None:
    user_id = await new_user(db)
    async with db.begin() as conn:
        for _ in range(2):
            await add_ledger_entry(conn, user_id=user_id, amount_nusd=1, reason="admin_credit")
        assert await ledger_sum(conn, user_id=user_id) == 2


async def test_unique_constraint_backs_the_check(db: Database) -> None:
    """A racing duplicate that got past the check still cannot land."""
    from sqlalchemy import insert

    from torouter.storage.repos._common import now
    from torouter.storage.tables import ledger

    user_id = await new_user(db)
    row = {
        "user_id": user_id,
        "amount_nusd": 1,
        "reason": "topup",
        "reference": "ord_x",
        "balance_after_nusd": 1,
        "created_at": now(),
    }
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            await conn.execute(insert(ledger), [row, row])


@pytest.mark.parametrize(
    ("reason", "user_id", "error"),
    [("gift", None, ValueError), ("topup", 999_999, LookupError)],
)
async def test_rejects_unknown_reason_and_user(
    db: Database, reason: str, user_id: int | None, error: type[Exception]
) -> None:
    uid = user_id or await new_user(db)
    with pytest.raises(error):
        async with db.begin() as conn:
            await add_ledger_entry(conn, user_id=uid, amount_nusd=1, reason=reason)


async def test_concurrent_entries_keep_the_total(db: Database) -> None:
    user_id = await new_user(db)

    async def credit(i: int) -> None:
        async with db.begin() as conn:
            await add_ledger_entry(
                conn, user_id=user_id, amount_nusd=i, reason="admin_credit", reference=f"r{i}"
            )

    await asyncio.gather(*(credit(i) for i in range(1, 11)))
    async with db.begin() as conn:
        user = await get_user(conn, user_id=user_id)
        rows = await list_ledger(conn, user_id=user_id)
    assert user is not None and user["balance_nusd"] == 55
    assert sorted(r["balance_after_nusd"] for r in rows)[-1] == 55
    assert len({r["balance_after_nusd"] for r in rows}) == 10
