"""The money side of a writer batch (SPEC R11.2, R14.1, R15.4): balances, ledger, key spend.

In the transaction of the batch's usage rows, each user billed to a balance gets one `usage`
ledger entry with the running balance after it, and each key its spend and last use. The
statements are a fixed few per batch whatever the number of users and keys (one read, then
`executemany` updates and inserts), so a batch of 1,000 keys costs about what a batch of one
does. The balances are read under the lock the batch's first write already holds: SQLite's
single writer, or PostgreSQL's row locks (`FOR UPDATE`, taken in id order), so the balance
after each entry is exact although the update itself is relative.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from ulid import ULID

from torouter.storage import tables as t
from torouter.usage.low_balance import LowBalance, decide

__all__ = ["apply_money"]

_u = t.users.c
_k = t.api_keys.c
_DEBIT = (
    update(t.users)
    .where(_u.id == bindparam("b_user"))
    .values(balance_nusd=_u.balance_nusd - bindparam("b_amount"))
)
_NOTICE = (
    update(t.users)
    .where(_u.id == bindparam("b_user"))
    .values(low_balance_notified_at=bindparam("b_at"))
)
_SPEND = (
    update(t.api_keys)
    .where(_k.id == bindparam("b_key"))
    .values(
        spend_nusd=_k.spend_nusd + bindparam("b_spent"),
        last_used_at=bindparam("b_at"),
        last_used_ip=bindparam("b_ip"),
    )
)


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
    if per_key:
        await conn.execute(
            _SPEND,
            [
                {"b_key": kid, "b_spent": spent, "b_at": at, "b_ip": ip}
                for kid, (spent, at, ip) in sorted(per_key.items())
            ],
        )
    return notices


async def _debit(conn: Any, per_user: dict[int, int], now: dt.datetime) -> list[LowBalance]:
    q = (
        select(
            _u.id,
            _u.balance_nusd,
            _u.low_balance_threshold_nusd,
            _u.low_balance_notified_at,
            _u.email,
            _u.language,
        )
        .where(_u.id.in_(sorted(per_user)))
        .order_by(_u.id)
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    batch = str(ULID())
    debits: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    notices: list[LowBalance] = []
    for user in await conn.execute(q):
        uid, amount = user.id, per_user[user.id]
        after = user.balance_nusd - amount
        debits.append({"b_user": uid, "b_amount": amount})
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
            flags.append({"b_user": uid, "b_at": now if verdict == "notify" else None})
        if verdict == "notify":
            assert threshold is not None
            notices.append(LowBalance(uid, user.email, user.language, after, threshold))
    if debits:  # users that no longer exist are skipped, as they always were
        await conn.execute(_DEBIT, debits)
        await conn.execute(t.ledger.insert(), entries)
    if flags:
        await conn.execute(_NOTICE, flags)
    return notices
