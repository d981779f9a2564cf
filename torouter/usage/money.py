"""The money side of a writer batch (SPEC R11.2, R14.1, R15.4): balances, ledger, key spend.

In the transaction of the batch's usage rows, each user billed to a balance gets one `usage`
ledger entry with the running balance after it, and each key its spend and last use. The
statements are a fixed few per batch whatever the number of users and keys, each over the
whole batch (`storage/bulk.py`: one statement over arrays on PostgreSQL, `executemany` on
SQLite), so a batch of 1,000 keys costs about what a batch of one does. The balances are read
under the lock the batch's first write already holds: SQLite's single writer, or PostgreSQL's
row locks (`FOR UPDATE`, taken in id order), so the balance after each entry is exact although
the update itself is relative.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer
from ulid import ULID

from torouter.storage import tables as t
from torouter.storage.bulk import BulkInsert, BulkUpdate
from torouter.usage.low_balance import LowBalance, decide

__all__ = ["apply_money"]

_u = t.users.c
# Balances are only ever changed relatively: a top-up committing meanwhile is never lost.
_DEBIT = BulkUpdate(t.users, "id", add=["balance_nusd"])
_NOTICE = BulkUpdate(t.users, "id", assign=["low_balance_notified_at"])
_SPEND = BulkUpdate(t.api_keys, "id", add=["spend_nusd"], assign=["last_used_at", "last_used_ip"])
_LEDGER_COLUMNS = (
    "user_id",
    "amount_nusd",
    "reason",
    "reference",
    "actor",
    "balance_after_nusd",
    "created_at",
)
_LEDGER = BulkInsert(t.ledger, _LEDGER_COLUMNS, {})
_USERS = select(
    _u.id,
    _u.balance_nusd,
    _u.low_balance_threshold_nusd,
    _u.low_balance_notified_at,
    _u.email,
    _u.language,
).order_by(_u.id)


async def apply_money(
    conn: Any, rows: Sequence[dict[str, Any]], now: dt.datetime
) -> list[LowBalance]:
    """Debit balances, write the ledger entries and the keys' spend; the low-balance notices
    the debits raise (to send once the transaction has committed)."""
    per_user: dict[int, int] = defaultdict(int)
    per_key: dict[int, tuple[int, dt.datetime, str | None]] = {}
    for r in rows:
        uid, kid, cost = r.get("user_id"), r.get("key_id"), r["cost_nusd"]
        if uid is not None and cost and r.get("debit_balance", True):
            per_user[uid] += cost
        if kid is not None:
            spent, _, _ = per_key.get(kid, (0, r["created_at"], None))
            per_key[kid] = (spent + cost, r["created_at"], r.get("client_ip"))
    notices = await _debit(conn, per_user, now) if per_user else []
    await _SPEND.run(conn, [(kid, *spent_at_ip) for kid, spent_at_ip in per_key.items()])
    return notices


async def _debit(conn: Any, per_user: dict[int, int], now: dt.datetime) -> list[LowBalance]:
    ids = sorted(per_user)
    if conn.dialect.name == "postgresql":  # one statement text whatever the number of users
        q = _USERS.where(_u.id == any_(bindparam("ids", ids, type_=ARRAY(Integer))))
        q = q.with_for_update()
    else:
        q = _USERS.where(_u.id.in_(ids))
    batch = str(ULID())
    debits: list[tuple[int, int]] = []
    entries: list[dict[str, Any]] = []
    flags: list[tuple[int, dt.datetime | None]] = []
    notices: list[LowBalance] = []
    for user in await conn.execute(q):
        uid, amount = user.id, per_user[user.id]
        after = user.balance_nusd - amount
        debits.append((uid, -amount))
        entries.append(
            {
                "user_id": uid,
                "amount_nusd": -amount,
                "reason": "usage",
                "reference": f"usage:{batch}:{uid}",
                "actor": "gateway",
                "balance_after_nusd": after,
                "created_at": now,
            }
        )
        threshold = user.low_balance_threshold_nusd
        notified = user.low_balance_notified_at is not None
        before = user.balance_nusd
        verdict = decide(before=before, after=after, threshold=threshold, notified=notified)
        if verdict is not None:
            flags.append((uid, now if verdict == "notify" else None))
        if verdict == "notify":
            assert threshold is not None
            notices.append(LowBalance(uid, user.email, user.language, after, threshold))
    # Users that no longer exist are skipped, as they always were (no debit, no entry).
    await _DEBIT.run(conn, debits)
    await _LEDGER.run(conn, entries)
    await _NOTICE.run(conn, flags)
    return notices
