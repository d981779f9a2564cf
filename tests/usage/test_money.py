"""The money side of a writer batch (R11.2, R14.1): balances, one `usage` ledger entry per user
per batch with the running balance, key spend and last use; exactly once per admission id, in a
fixed handful of statements whatever the batch's size, on SQLite and PostgreSQL.

Every test writes through `write_rows`, the writer's own path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter, defaultdict
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage.recorder import write_rows

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
START = 10**15  # every user's balance before the tests' batches


async def seed(db: Database, users: int, keys: int) -> None:
    """Users 1..users with START nUSD; keys 1..keys, key k owned by user 1 + k % users."""
    async with db.begin() as conn:
        await conn.execute(
            insert(t.users),
            [
                {"id": u, "email": f"u{u}@x.test", "balance_nusd": START, "created_at": NOW}
                for u in range(1, users + 1)
            ],
        )
        await conn.execute(insert(t.groups).values(id=1, name="g", created_at=NOW))
        await conn.execute(
            insert(t.api_keys),
            [
                {
                    "id": k,
                    "user_id": 1 + k % users,
                    "group_id": 1,
                    "name": f"k{k}",
                    "key_hash": f"{k:064x}",
                    "mask": "sk-…",
                    "created_at": NOW,
                }
                for k in range(1, keys + 1)
            ],
        )


def rows(ns: range, users: int, keys: int, **extra: Any) -> list[dict[str, Any]]:
    """Row n: key 1 + n % keys (owned by user 1 + key % users), cost 1,000 + n, one second
    after row n - 1, from the client 10.0.0.(n % 250)."""
    out = []
    for n in ns:
        key = 1 + n % keys
        out.append(
            {
                "admission_id": f"m-{n}",
                "created_at": NOW.timestamp() - 10_000 + n,
                "request_id": f"r{n}",
                "user_id": 1 + key % users,
                "key_id": key,
                "model_requested": "gpt",
                "status": 200,
                "outcome": "success",
                "cost_nusd": 1_000 + n,
                "client_ip": f"10.0.0.{n % 250}",
                **extra,
            }
        )
    return out


def expected_spend(written: list[dict[str, Any]]) -> dict[int, tuple[int, str]]:
    """Per key: the sum of its rows' costs and the client of its latest row."""
    spend: dict[int, int] = defaultdict(int)
    last: dict[int, str] = {}
    for r in written:
        spend[r["key_id"]] += r["cost_nusd"]
        last[r["key_id"]] = r["client_ip"]
    return {k: (spend[k], last[k]) for k in spend}


async def stored_spend(db: Database) -> dict[int, tuple[int, str]]:
    k = t.api_keys.c
    async with db.connect() as conn:
        got = await conn.execute(select(k.id, k.spend_nusd, k.last_used_ip).where(k.spend_nusd > 0))
        return {r.id: (r.spend_nusd, r.last_used_ip) for r in got}


async def balances(db: Database) -> dict[int, int]:
    async with db.connect() as conn:
        got = await conn.execute(select(t.users.c.id, t.users.c.balance_nusd))
        return {r.id: r.balance_nusd for r in got}


async def usage_entries(db: Database) -> list[Any]:
    lg = t.ledger.c
    async with db.connect() as conn:
        q = select(t.ledger).where(lg.reason == "usage").order_by(lg.id)
        return list(await conn.execute(q))


def debits(written: list[dict[str, Any]]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for r in written:
        out[r["user_id"]] += r["cost_nusd"]
    return dict(out)


async def test_one_batch_debits_each_user_once_and_adds_each_keys_spend(db: Database) -> None:
    await seed(db, users=3, keys=7)
    batch = rows(range(50), users=3, keys=7)
    assert await write_rows(db, batch) == 50
    spent = debits(batch)
    assert await balances(db) == {u: START - spent[u] for u in (1, 2, 3)}
    entries = await usage_entries(db)
    assert sorted((e.user_id, e.amount_nusd, e.balance_after_nusd) for e in entries) == [
        (u, -spent[u], START - spent[u]) for u in (1, 2, 3)
    ]
    assert len({e.reference for e in entries}) == 3  # one entry per user of the batch
    assert await stored_spend(db) == expected_spend(batch)
    k = t.api_keys.c
    async with db.connect() as conn:
        last = dict((await conn.execute(select(k.id, k.last_used_at))).tuples().all())
    assert last[1] == dt.datetime.fromtimestamp(batch[49]["created_at"], dt.UTC)  # row 49: key 1


async def test_a_batch_mixing_new_and_replayed_rows_counts_only_the_new_ones(
    db: Database,
) -> None:
    """A journal replay after a crash re-sends rows that were committed: they must not be
    charged, spent or counted twice, while the new rows of the same batch are."""
    await seed(db, users=2, keys=5)
    first = rows(range(0, 30), users=2, keys=5)
    assert await write_rows(db, first) == 30
    after_first = await balances(db)
    second = rows(range(20, 60), users=2, keys=5)  # 10 replayed, 30 new
    second.append(dict(second[-1]))  # and one repeated within the batch
    assert await write_rows(db, second) == 30
    new = second[10:-1]
    assert await balances(db) == {u: after_first[u] - debits(new)[u] for u in (1, 2)}
    entries = await usage_entries(db)
    assert len(entries) == 4  # one per user per batch
    assert sorted((e.user_id, -e.amount_nusd) for e in entries[2:]) == sorted(debits(new).items())
    everything = rows(range(60), users=2, keys=5)
    assert await stored_spend(db) == expected_spend(everything)
    async with db.connect() as conn:
        logged = (await conn.execute(select(t.usage_logs.c.admission_id))).scalars().all()
        daily = (await conn.execute(select(t.usage_daily.c.requests))).scalars().all()
    assert sorted(logged) == sorted(r["admission_id"] for r in everything)
    assert sum(daily) == 60
    # A batch of replayed rows only changes nothing at all.
    assert await write_rows(db, second) == 0
    assert len(await usage_entries(db)) == 4
    assert await stored_spend(db) == expected_spend(everything)


async def test_rows_not_billed_to_the_balance_and_unknown_users_are_not_debited(
    db: Database,
) -> None:
    await seed(db, users=2, keys=2)
    plan = rows(range(0, 4), users=2, keys=2, debit_balance=False)  # a subscription's rows
    stray = rows(range(4, 6), users=2, keys=2, user_id=99)  # a user deleted meanwhile
    assert await write_rows(db, plan + stray) == 6
    assert await balances(db) == {1: START, 2: START}
    assert await usage_entries(db) == []
    assert await stored_spend(db) == expected_spend(plan + stray)  # keys spend all the same


def count_statements(db: Database) -> list[tuple[str, bool]]:
    """Every statement `db` sends from now on: (its first words, whether an executemany)."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        seen.append((" ".join(sql.split()[:3]), many))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_batch_is_a_fixed_handful_of_statements_whatever_its_size(db: Database) -> None:
    """Three rows of one key and one user, then 4,000 rows (two transactions of 2,000) of
    400 keys and 40 users: the same statements per transaction. On PostgreSQL none is an
    `executemany` (which the server runs once per row): each is one statement over arrays."""
    await seed(db, users=40, keys=400)
    seen = count_statements(db)
    assert await write_rows(db, rows(range(3), users=40, keys=1)) == 3
    small = list(seen)
    seen.clear()
    assert await write_rows(db, rows(range(10, 4_010), users=40, keys=400)) == 4_000
    big = list(seen)
    per_transaction = Counter(sql for sql, _ in small)
    assert Counter(sql for sql, _ in big) == Counter({s: 2 * n for s, n in per_transaction.items()})
    assert len(small) <= 10
    if db.dialect == "postgresql":
        assert not any(many for _, many in small + big)


async def test_concurrent_writers_sharing_keys_lose_no_spend(db: Database) -> None:
    """Four writers at once over the same 60 keys, in different orders, billed to no balance
    (so no user row serializes them): every key's spend is exact and no batch fails (on
    PostgreSQL the key rows are locked in id order, so writers never deadlock)."""
    await seed(db, users=3, keys=60)
    batches = [
        rows(range(i * 1_000, i * 1_000 + 120), users=3, keys=60, debit_balance=False)
        for i in range(4)
    ]
    for i, batch in enumerate(batches):
        batch.sort(key=lambda r: r["key_id"], reverse=i % 2 == 1)
    results = await asyncio.gather(*(write_rows(db, b) for b in batches))
    assert results == [120] * 4
    spend = await stored_spend(db)
    totals = expected_spend([r for b in batches for r in b])
    assert {k: s for k, (s, _) in spend.items()} == {k: s for k, (s, _) in totals.items()}


async def test_two_writers_replaying_the_same_rows_at_once_count_them_once(
    db: Database,
) -> None:
    """Two nodes writing overlapping rows at the same moment (a journal replayed while the
    rows' own writer commits them): each row is stored, charged and spent once, and neither
    batch fails. On PostgreSQL the insert skips what the other transaction committed
    (`ON CONFLICT DO NOTHING`); SQLite has a single writer and one node per file."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite: one node per database file, one writer at a time")
    await seed(db, users=2, keys=4)
    a = rows(range(0, 200), users=2, keys=4)
    b = rows(range(100, 300), users=2, keys=4)
    results = await asyncio.gather(write_rows(db, a), write_rows(db, b))
    assert sum(results) == 300
    everything = rows(range(300), users=2, keys=4)
    assert await balances(db) == {u: START - debits(everything)[u] for u in (1, 2)}
    totals = expected_spend(everything)
    assert {k: s for k, (s, _) in (await stored_spend(db)).items()} == {
        k: s for k, (s, _) in totals.items()
    }
    async with db.connect() as conn:
        daily = (await conn.execute(select(t.usage_daily.c.requests))).scalars().all()
    assert sum(daily) == 300
