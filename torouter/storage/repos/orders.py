"""Orders and Stripe events (R14.3, R14.4): the SQL the payment code runs.

Every state change is a conditional UPDATE (`WHERE status IN (…)`), so two nodes, two
deliveries or a user racing a job can never both move one order: the second sees the first's
committed state and changes nothing (its row count is 0).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, select_one
from torouter.storage.tables import ledger, orders, stripe_events

__all__ = [
    "claim_refund",
    "count_open_orders",
    "get_order",
    "insert_event",
    "insert_order",
    "ledger_entries",
    "move_order",
    "refund_entries_total",
    "set_event_outcome",
]


async def insert_order(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await insert_row(conn, orders, values)


async def get_order(conn: AsyncConnection, order_id: str) -> RowMapping | None:
    return await select_one(conn, orders, {"id": order_id})


async def move_order(
    conn: AsyncConnection,
    order_id: str,
    *,
    from_status: Iterable[str],
    values: Mapping[str, Any],
    where: Mapping[str, Any] | None = None,
) -> bool:
    """Set `values` if the order is in one of `from_status` (and matches `where`); True if
    this call changed it."""
    cond = [orders.c.id == order_id, orders.c.status.in_(tuple(from_status))]
    cond += [orders.c[k] == v for k, v in (where or {}).items()]
    result = await conn.execute(update(orders).where(and_(*cond)).values(**values))
    return bool(result.rowcount)


async def count_open_orders(conn: AsyncConnection, *, user_id: int, now: dt.datetime) -> int:
    """Pending Stripe orders whose checkout can still be paid (R14.8 `max_pending_orders`)."""
    c = orders.c
    return int(
        await conn.scalar(
            select(func.count())
            .select_from(orders)
            .where(
                c.user_id == user_id,
                c.status == "pending",
                c.method == "stripe",
                or_(c.session_expires_at.is_(None), c.session_expires_at > now),
            )
        )
        or 0
    )


async def insert_event(
    conn: AsyncConnection, *, event_id: str, type_: str, at: dt.datetime
) -> bool:
    """Record a webhook event; False if it was already there (a duplicate delivery).

    The first write of its transaction: on PostgreSQL a concurrent insert of the same id waits
    for this transaction and then does nothing; on SQLite it takes the write lock first.
    """
    values = {"id": event_id, "type": type_, "received_at": at}
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(stripe_events).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(stripe_events).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - the two supported databases are above
        raise RuntimeError(f"unsupported database {dialect}")
    result = await conn.execute(stmt)
    return bool(result.rowcount)


async def set_event_outcome(
    conn: AsyncConnection, *, event_id: str, order_id: str | None, outcome: str
) -> None:
    await conn.execute(
        update(stripe_events)
        .where(stripe_events.c.id == event_id)
        .values(order_id=order_id, outcome=outcome)
    )


async def ledger_entries(
    conn: AsyncConnection, *, reasons: Iterable[str], references: Iterable[str]
) -> list[RowMapping]:
    """Ledger entries with one of `reasons` whose reference is one of `references`."""
    refs = list(references)
    if not refs:
        return []
    rows = await conn.execute(
        select(ledger).where(ledger.c.reason.in_(tuple(reasons)), ledger.c.reference.in_(refs))
    )
    return list(rows.mappings())


async def claim_refund(
    conn: AsyncConnection, order_id: str, *, now: dt.datetime, stale_before: dt.datetime
) -> bool:
    """Start a refund attempt: a requested order not already being refunded (or whose attempt
    was interrupted before `stale_before`) gets `refund_started_at` and one more attempt."""
    c = orders.c
    result = await conn.execute(
        update(orders)
        .where(
            c.id == order_id,
            c.status == "refund_requested",
            or_(c.refund_started_at.is_(None), c.refund_started_at < stale_before),
        )
        .values(refund_started_at=now, refund_attempts=c.refund_attempts + 1, updated_at=now)
    )
    return bool(result.rowcount)


async def refund_entries_total(conn: AsyncConnection, *, order_id: str) -> int:
    """What refunds of this order have taken from the balance so far: the sum of its `refund`
    and `refund_reversal` entries (references `<order id>:…`), ≤ 0."""
    total = await conn.scalar(
        select(func.coalesce(func.sum(ledger.c.amount_nusd), 0)).where(
            ledger.c.reason.in_(("refund", "refund_reversal")),
            ledger.c.reference.like(_like_prefix(order_id) + ":%", escape="\\"),
        )
    )
    return int(total or 0)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
