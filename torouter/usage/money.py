"""The money side of a writer batch (SPEC R11.2, R14.1, R15.4): balances, ledger, key spend.

In the transaction of the batch's usage rows, each user billed to a balance gets one `usage`
ledger entry with the running balance after it, and each key its spend and last use. The
statements are a fixed few per batch whatever the number of users and keys, each over the
whole batch (`storage/bulk.py`: one statement over arrays on PostgreSQL, `executemany` on
SQLite), so a batch of 1,000 keys costs about what a batch of one does. What the statements
carry is decided by pure functions (`tally`, `settle`) shared with the writer thread's lean
SQLite store (`sqlite_store.py`), so both backends debit, journal and flag alike. The balances
are read under the lock the batch's first write already holds: SQLite's single writer, or
PostgreSQL's row locks (`FOR UPDATE`, taken in id order), so the balance after each entry is
exact although the update itself is relative.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer
from ulid import ULID

from torouter.storage import tables as t
from torouter.storage.bulk import BulkInsert, BulkUpdate
from torouter.usage.low_balance import LowBalance, decide

__all__ = ["LEDGER_COLUMNS", "USER_COLUMNS", "Settlement", "apply_money", "settle", "tally"]

_u = t.users.c
# Balances are only ever changed relatively: a top-up committing meanwhile is never lost.
_DEBIT = BulkUpdate(t.users, "id", add=["balance_nusd"])
_NOTICE = BulkUpdate(t.users, "id", assign=["low_balance_notified_at"])
_SPEND = BulkUpdate(t.api_keys, "id", add=["spend_nusd"], assign=["last_used_at", "last_used_ip"])
LEDGER_COLUMNS = (
    "user_id",
    "amount_nusd",
    "reason",
    "reference",
    "actor",
    "balance_after_nusd",
    "created_at",
)
_LEDGER = BulkInsert(t.ledger, LEDGER_COLUMNS, {})
# What `settle` reads of each debited user, in this order.
USER_COLUMNS = (
    "id",
    "balance_nusd",
    "low_balance_threshold_nusd",
    "low_balance_notified_at",
    "email",
    "language",
)
_USERS = select(*(_u[name] for name in USER_COLUMNS)).order_by(_u.id)


@dataclass(slots=True)
class Settlement:
    """What a batch's debits come to (pure, `settle`): the statements' rows for either store."""

    debits: list[tuple[int, int]]  # (user id, -amount): relative, never an absolute balance
    entries: list[tuple[Any, ...]]  # ledger rows in LEDGER_COLUMNS order
    flags: list[tuple[int, dt.datetime | None]]  # (user id, low_balance_notified_at)
    notices: list[LowBalance]


Tally = tuple[dict[int, int], dict[int, tuple[int, dt.datetime, str | None]]]


def tally(rows: Iterable[Mapping[str, Any]]) -> Tally:
    """Per user, the amount to debit from the balance; per key, (spend, last use, last IP).
    Rows carry an aware `created_at`; a row with `debit_balance` false (a subscription's
    request) adds to its key's spend only."""
    per_user: dict[int, int] = defaultdict(int)
    per_key: dict[int, tuple[int, dt.datetime, str | None]] = {}
    for r in rows:
        uid, kid, cost = r.get("user_id"), r.get("key_id"), r["cost_nusd"]
        if uid is not None and cost and r.get("debit_balance", True):
            per_user[uid] += cost
        if kid is not None:
            spent, _, _ = per_key.get(kid, (0, r["created_at"], None))
            per_key[kid] = (spent + cost, r["created_at"], r.get("client_ip"))
    return dict(per_user), per_key


def settle(
    users: Iterable[Sequence[Any]], per_user: Mapping[int, int], now: dt.datetime, batch: str
) -> Settlement:
    """The debits, ledger entries, notice flags and notices for `users`, rows of USER_COLUMNS
    read under the batch's write lock (so each entry's running balance is exact). Users that
    no longer exist are simply absent: no debit, no entry."""
    out = Settlement([], [], [], [])
    for uid, before, threshold, notified_at, email, language in users:
        amount = per_user[uid]
        after = before - amount
        out.debits.append((uid, -amount))
        out.entries.append((uid, -amount, "usage", f"usage:{batch}:{uid}", "gateway", after, now))
        notified = notified_at is not None
        verdict = decide(before=before, after=after, threshold=threshold, notified=notified)
        if verdict is not None:
            out.flags.append((uid, now if verdict == "notify" else None))
        if verdict == "notify":
            assert threshold is not None
            out.notices.append(LowBalance(uid, email, language, after, threshold))
    return out


async def apply_money(
    conn: Any, rows: Sequence[dict[str, Any]], now: dt.datetime
) -> list[LowBalance]:
    """Debit balances, write the ledger entries and the keys' spend; the low-balance notices
    the debits raise (to send once the transaction has committed)."""
    per_user, per_key = tally(rows)
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
    plan = settle(await conn.execute(q), per_user, now, str(ULID()))
    await _DEBIT.run(conn, plan.debits)
    await _LEDGER.run(conn, [dict(zip(LEDGER_COLUMNS, e, strict=True)) for e in plan.entries])
    await _NOTICE.run(conn, plan.flags)
    return plan.notices
