"""The balance ledger (R14.1): permanent signed entries and a running total.

Balance = the sum of a user's entries; `users.balance_nusd` caches it and is updated in the
same transaction as the entry, which records the total after it (`balance_after_nusd`).
(reason, reference) is unique, so a credit keyed by an order or event id lands once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import ledger, users

__all__ = [
    "REASONS",
    "LedgerEntry",
    "add_ledger_entry",
    "debit_if_covered",
    "ledger_sum",
    "list_ledger",
]

REASONS = frozenset(
    {
        "topup",
        "admin_credit",
        "admin_debit",
        "usage",
        "subscription_purchase",
        "refund",
        "refund_reversal",
    }
)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    balance_after_nusd: int
    duplicate: bool  # (reason, reference) was already there: nothing was written


async def add_ledger_entry(
    conn: AsyncConnection,
    *,
    user_id: int,
    amount_nusd: int,
    reason: str,
    reference: str | None = None,
    actor: str | None = None,
    note: str | None = None,
) -> LedgerEntry:
    """Append an entry and move the running total, in the caller's transaction.

    An entry with the same (reason, reference) makes this a no-op returning that entry.
    Two transactions racing with the same key: the unique constraint fails the second
    (IntegrityError), whose retry then sees the first.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown ledger reason {reason!r}")
    if reference is not None:
        existing = await select_one(conn, ledger, {"reason": reason, "reference": reference})
        if existing is not None:
            return LedgerEntry(existing["id"], existing["balance_after_nusd"], duplicate=True)
    # The UPDATE takes the user's row lock (PostgreSQL) or the write lock (SQLite) first,
    # so concurrent entries for one user serialise and each sees the previous total.
    balance = await conn.scalar(
        update(users)
        .where(users.c.id == user_id)
        .values(balance_nusd=users.c.balance_nusd + amount_nusd, updated_at=now())
        .returning(users.c.balance_nusd)
    )
    if balance is None:
        raise LookupError(f"no user {user_id}")
    return await _append(conn, user_id, amount_nusd, int(balance), reason, reference, actor, note)


async def debit_if_covered(
    conn: AsyncConnection,
    *,
    user_id: int,
    amount_nusd: int,
    reason: str,
    reference: str | None = None,
    actor: str | None = None,
    note: str | None = None,
    keep_nusd: int = 0,
) -> LedgerEntry | None:
    """Debit `amount_nusd` (> 0) only if `keep_nusd` stays covered afterwards; None if not.

    Check and debit are one conditional UPDATE, so two purchases racing for the last dollars
    cannot both pass. `keep_nusd` is what must remain, e.g. the reservations in flight.
    Raises LookupError for an unknown user.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown ledger reason {reason!r}")
    if amount_nusd <= 0:
        raise ValueError("a debit is a positive amount")
    balance = await conn.scalar(
        update(users)
        .where(users.c.id == user_id, users.c.balance_nusd - amount_nusd >= keep_nusd)
        .values(balance_nusd=users.c.balance_nusd - amount_nusd, updated_at=now())
        .returning(users.c.balance_nusd)
    )
    if balance is None:
        if await select_one(conn, users, {"id": user_id}) is None:
            raise LookupError(f"no user {user_id}")
        return None
    return await _append(conn, user_id, -amount_nusd, int(balance), reason, reference, actor, note)


async def _append(
    conn: AsyncConnection,
    user_id: int,
    amount_nusd: int,
    balance: int,
    reason: str,
    reference: str | None,
    actor: str | None,
    note: str | None,
) -> LedgerEntry:
    entry_id = await insert_row(
        conn,
        ledger,
        {
            "user_id": user_id,
            "amount_nusd": amount_nusd,
            "reason": reason,
            "reference": reference,
            "actor": actor,
            "note": note,
            "balance_after_nusd": balance,
            "created_at": now(),
        },
    )
    return LedgerEntry(int(entry_id), balance, duplicate=False)


async def list_ledger(conn: AsyncConnection, *, user_id: int, limit: int = 100) -> list[RowMapping]:
    """A user's entries, newest first."""
    rows = await conn.execute(
        select(ledger).where(ledger.c.user_id == user_id).order_by(ledger.c.id.desc()).limit(limit)
    )
    return list(rows.mappings())


async def ledger_sum(conn: AsyncConnection, *, user_id: int) -> int:
    """The balance recomputed from the entries (checks and repairs)."""
    total = await conn.scalar(
        select(func.coalesce(func.sum(ledger.c.amount_nusd), 0)).where(ledger.c.user_id == user_id)
    )
    return int(total or 0)
