"""Committed counter values from the database (SPEC R7.11): what the state backend is seeded
with at start, for new users and keys on reload, and after Redis came back empty.

Balances and keys' lifetime spend come from the snapshot; calendar-window spend (key budgets,
subscription caps) is summed from the usage log since each period's start, since those
windows are computed, never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true

from torouter.access import limits as lim
from torouter.access.calendar import periods
from torouter.records import Snapshot
from torouter.storage import tables as t
from torouter.storage.db import Database

__all__ = ["committed_values"]

Seed = tuple[str, int, int]  # counter, committed, ttl seconds


async def committed_values(
    db: Database | None,
    snap: Snapshot,
    *,
    now: float,
    tz: ZoneInfo,
    users: Collection[int] | None = None,
) -> list[Seed]:
    """Seeds for `users` (None: everyone), balances last: a balance marks its user seeded."""
    chosen = set(snap.users) if users is None else set(users) & set(snap.users)
    if not chosen:
        return []
    keys = [k for k in snap.keys.values() if k.user_id in chosen]
    subs = [s for s in snap.subscriptions.values() if s.user_id in chosen]
    out: list[Seed] = [(lim.key_counter(k.user_id, k.id), k.spend_nusd, 0) for k in keys]
    per_key: dict[tuple[str, int], int] = {}
    per_sub: dict[tuple[str, int, int], int] = {}
    u = t.usage_logs.c
    only = u.user_id.in_(sorted(chosen)) if users is not None and len(chosen) <= 500 else true()
    if db is not None and keys:
        async with db.connect() as conn:
            for p in periods(now, tz):
                since = _utc(p.start)
                q = (
                    select(u.key_id, func.sum(u.cost_nusd))
                    .where(u.created_at >= since, only)
                    .group_by(u.key_id)
                )
                for kid, total in await conn.execute(q):
                    if kid is not None:
                        per_key[(p.kind, kid)] = int(total or 0)
                if subs:
                    q = (
                        select(u.user_id, u.group_id, func.sum(u.cost_nusd))
                        .where(u.created_at >= since, only)
                        .group_by(u.user_id, u.group_id)
                    )
                    for uid, gid, total in await conn.execute(q):
                        per_sub[(p.kind, uid, gid)] = int(total or 0)
    for p in periods(now, tz):
        ttl = p.ttl_s(now)
        for k in keys:
            out.append(
                (lim.key_period_counter(k.user_id, k.id, p), per_key.get((p.kind, k.id), 0), ttl)
            )
        for s in subs:
            used = per_sub.get((p.kind, s.user_id, s.group_id), 0)
            out.append((lim.sub_period_counter(s.user_id, s.id, p), used, ttl))
    out += [(lim.balance_counter(uid), -snap.users[uid].balance_nusd, 0) for uid in chosen]
    return out


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)
