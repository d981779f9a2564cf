"""The writer thread's lean SQLite store (`usage/sqlite_store.py`, R11.2, R11.3, R14.1, R15.4):
it stores exactly what the SQLAlchemy writer stores — every table compared value by value, in
SQLite's own literal form (`quote()`: 1 is not 1.0 is not '1') — and it keeps the writer's
promises: a failing chunk leaves nothing, a replay charges nothing twice, a crash mid-batch is
made good from the journal."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.migrate import upgrade
from torouter.usage.journal import Journal
from torouter.usage.low_balance import LowBalance
from torouter.usage.recorder import UsageRecorder, write_rows
from torouter.usage.sqlite_store import SqliteUsageStore, utc_text

ZONE = ZoneInfo("Europe/Berlin")  # a zone with an offset: local days and hours differ from UTC
TABLES = (
    "usage_logs",
    "ledger",
    "users",
    "api_keys",
    "usage_daily",
    "usage_hourly",
    "usage_daily_channel",
)
NOW_TEXT = re.compile(r"'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z'")
BATCH_REF = re.compile(r"'usage:[0-9A-Z]{26}:(\d+)'")


async def _fresh(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with db.begin() as conn:
        # One statement per user: an executemany takes its columns from the first row.
        await conn.execute(
            insert(t.users).values(id=1, email="rich@x.test", balance_nusd=10**15, created_at=now)
        )
        await conn.execute(  # crosses its threshold with the first batch: notified once
            insert(t.users).values(
                id=2,
                email="low@x.test",
                language="de",
                balance_nusd=5 * 10**9,
                low_balance_threshold_nusd=4 * 10**9,
                created_at=now,
            )
        )
        await conn.execute(insert(t.groups).values(id=1, name="g", created_at=now))
        await conn.execute(
            insert(t.api_keys),
            [
                {
                    "id": k,
                    "user_id": 1 + k % 2,
                    "group_id": 1,
                    "name": f"k{k}",
                    "key_hash": f"{k:064x}",
                    "mask": "sk-…",
                    "created_at": now,
                }
                for k in (1, 2, 3)
            ],
        )
    return db


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    a, b = await _fresh(tmp_path / "sqlalchemy.db"), await _fresh(tmp_path / "lean.db")
    try:
        yield a, b
    finally:
        await a.dispose()
        await b.dispose()


def _path(db: Database) -> str:
    return db.url.split("///", 1)[1]


def gateway_rows(n: int, *, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    """Rows shaped like the settlement's (every `UsageRow` field), with the awkward values:
    unicode, None in every nullable column, floats and ints, decimals as text, JSON nested."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).timestamp()
    rows = []
    for i in range(start, start + n):
        outcome = rng.choice(["success", "partial", "client_cancelled", "upstream_error"])
        outcome = rng.choice([outcome, "refused", "failed", "success"])
        ok = outcome == "success"
        ago = rng.choice([rng.uniform(0, 40 * 3600), rng.uniform(50 * 3600, 90 * 3600)])
        rows.append(
            {
                "admission_id": f"adm-{i}",
                "created_at": now - ago,
                "request_id": f"req-ü-{i}",
                "upstream_request_id": rng.choice([None, f"chatcmpl-{i:x}"]),
                "user_id": rng.choice([1, 2, 2, 99, None]),  # 99: gone, no debit and no entry
                "key_id": rng.choice([1, 2, 3, None]),
                "key_name": rng.choice([None, "prod 🔑", "k"]),
                "group_id": rng.choice([None, 1]),
                "model_requested": rng.choice([None, "gpt-4o", "claude-ß"]),
                "model_upstream": rng.choice([None, "gpt-4o-2024"]),
                "endpoint": rng.choice(["chat", "messages", "responses"]),
                "stream": rng.random() < 0.5,
                "status": rng.choice([200, 200, 429, 502, 499]),
                "outcome": outcome,
                "error_code": None if ok else rng.choice([None, "rate_limited", "upstream"]),
                "channel_id": rng.choice([None, 1, 2]),
                "attempts": rng.randint(0, 3),
                "attempt_chain": rng.choice(
                    [
                        [],
                        [{"channel_id": 1, "status": 200, "class": "success", "latency_ms": 9}],
                        [{"channel_id": 2, "status": 500, "class": "server", "note": 'é\n"x"'}],
                    ]
                ),
                "latency_ms": rng.randint(0, 30_000),
                "ttft_ms": rng.choice([None, rng.randint(1, 5_000)]),
                "input_tokens": rng.randint(0, 10**6),
                "cache_read_tokens": rng.choice([0, rng.randint(1, 10**5)]),
                "cache_write_5m_tokens": rng.choice([0, 7]),
                "cache_write_1h_tokens": rng.choice([0, 3]),
                "output_tokens": rng.randint(0, 10**5),
                "reasoning_tokens": rng.choice([0, 11]),
                "images": rng.choice([0, 2]),
                "audio_seconds": rng.choice([0, 0.0, 1.25, 3]),
                "characters": rng.choice([0, 120]),
                "cost_nusd": rng.choice([0, rng.randint(1, 10**9), 10**12]),
                "estimated": rng.random() < 0.2,
                "client_ip": rng.choice([None, "203.0.113.9", "2001:db8::1"]),
                "user_agent": rng.choice(["", "openai-python/1.0", "ünï"]),
                "estimate_nusd": rng.choice([None, 12345]),
                "price_multiplier": rng.choice([None, "1", "1.50", "0.8", "2E+1"]),
                "unit_prices": rng.choice([None, {"input": "2.5", "output": "10"}, {}]),
                "debit_balance": rng.random() < 0.8,  # a subscription's request: spend only
            }
        )
    return rows


def edge_times() -> list[dict[str, Any]]:
    """Rows whose times round to the microsecond across a second (the lean writer keeps each
    second's text once): in one whole second of the timestamp, both of the datetime's."""
    whole = int(dt.datetime.now(dt.UTC).timestamp()) - 3600
    fractions = (0.9999996, 0.5, 0.0000004, 0.9999994, 0.0, 0.9999999, 0.25, 0.9999995)
    rows = gateway_rows(len(fractions), seed=11, start=2_000)
    for row, frac in zip(rows, fractions, strict=True):
        row["created_at"] = whole + frac
    return rows


def legacy_rows(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    """Rows missing most columns (an older journal's): the columns' defaults fill them."""
    now = dt.datetime.now(dt.UTC).timestamp()
    return [
        {
            "admission_id": f"old-{i}",
            "created_at": now - i * 61.5,
            "request_id": f"r{i}",
            "user_id": 1,
            "key_id": 2,
            "status": 200,
            "outcome": "success",
            "cost_nusd": 1000 + i,
        }
        for i in range(start, start + n)
    ]


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table as SQLite's literal text of each value (type included), the writer's own
    clock (`now`: ledger times, notice flags) and the ledger's random batch id masked."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sqlite3.connect(_path(db)) as conn:
        for table in TABLES:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            quoted = ", ".join(f"quote({c})" for c in cols)
            rows = conn.execute(f"SELECT {quoted} FROM {table} ORDER BY rowid").fetchall()
            masked = []
            for r in rows:
                values = []
                for col, v in zip(cols, r, strict=True):
                    if (table, col) in (
                        ("ledger", "created_at"),
                        ("users", "low_balance_notified_at"),
                    ):
                        v = NOW_TEXT.sub("'<now>'", v)
                    if (table, col) == ("ledger", "reference"):
                        v = BATCH_REF.sub(r"'usage:<batch>:\1'", v)
                    values.append(v)
                masked.append(tuple(values))
            out[table] = masked
    return out


async def test_every_table_is_stored_exactly_as_the_sqlalchemy_writer_stores_it(
    pair: tuple[Database, Database],
) -> None:
    via_sqlalchemy, lean = pair
    # Batches of at most 100 rows: one transaction each on both paths, so even the ledger's
    # entries (one per user per transaction) match one for one.
    batches: list[Sequence[dict[str, Any]]] = [
        gateway_rows(100),
        legacy_rows(20),
        gateway_rows(40, seed=8, start=300) + gateway_rows(5, seed=9, start=300),  # repeats
        gateway_rows(100),  # a replay of the first: nothing new, nothing charged
        gateway_rows(100, seed=10, start=1_000),
        edge_times(),
    ]
    notices: dict[str, list[LowBalance]] = {"sqlalchemy": [], "lean": []}
    store = SqliteUsageStore(_path(lean), zone=ZONE)
    try:
        for rows in batches:
            n_sa = await write_rows(
                via_sqlalchemy, rows, zone=ZONE, on_low_balance=notices["sqlalchemy"].extend
            )
            n_lean = store.write(rows, notices["lean"].extend)
            assert n_lean == n_sa
    finally:
        store.close()
    got, want = dump(lean), dump(via_sqlalchemy)
    assert len(want["usage_logs"]) == 100 + 20 + 40 + 100 + 8
    assert want["ledger"] and want["usage_hourly"] and want["usage_daily_channel"]
    for table in TABLES:
        assert got[table] == want[table], table
    assert notices["lean"] == notices["sqlalchemy"]
    assert [n.user_id for n in notices["lean"]] == [2]  # crossed once, notified once


async def test_a_large_batch_is_one_transaction_with_the_same_totals(
    pair: tuple[Database, Database],
) -> None:
    """2,500 rows: the SQLAlchemy writer commits them in two transactions of 1,250 (it shares
    the serving loop), the writer thread in transactions of up to 2,000. Every table but the
    ledger is identical; the ledger has one entry per user per transaction, and the same
    total per user, each entry's running balance exact."""
    via_sqlalchemy, lean = pair
    rows = gateway_rows(2_500, seed=11)
    assert await write_rows(via_sqlalchemy, rows, zone=ZONE) == 2_500
    store = SqliteUsageStore(_path(lean), zone=ZONE)
    try:
        assert store.write(rows) == 2_500
    finally:
        store.close()
    got, want = dump(lean), dump(via_sqlalchemy)
    for table in TABLES:  # roll-up rows are created in another order: compare as sets
        if table != "ledger":
            assert sorted(got[table]) == sorted(want[table]), table
    totals = {}
    for name, db in (("sqlalchemy", via_sqlalchemy), ("lean", lean)):
        with sqlite3.connect(_path(db)) as conn:
            totals[name] = conn.execute(
                "SELECT user_id, count(*), sum(amount_nusd) FROM ledger GROUP BY user_id"
            ).fetchall()
            # Each entry's balance after = the previous one's + its amount; the last = now.
            for uid, balance in conn.execute("SELECT id, balance_nusd FROM users"):
                entries = conn.execute(
                    "SELECT amount_nusd, balance_after_nusd FROM ledger WHERE user_id = ? "
                    "ORDER BY id",
                    (uid,),
                ).fetchall()
                for (_, prev), (amount, after) in itertools.pairwise(entries):
                    assert after == prev + amount
                if entries:
                    assert entries[-1][1] == balance
    assert [(u, n) for u, n, _ in totals["lean"]] == [(1, 2), (2, 2)]  # 2,000 + 500 rows
    assert [(u, n) for u, n, _ in totals["sqlalchemy"]] == [(1, 2), (2, 2)]  # 1,250 twice
    assert [(u, s) for u, _, s in totals["lean"]] == [(u, s) for u, _, s in totals["sqlalchemy"]]


def test_times_are_the_columns_own_text() -> None:
    at = dt.datetime(2026, 3, 29, 1, 30, 0, 5, tzinfo=ZONE)
    assert utc_text(at) == t.UTCDateTime().process_bind_param(at, None)  # type: ignore[arg-type]
    assert utc_text(at) == "2026-03-29T00:30:00.000005Z"


async def test_a_failing_chunk_leaves_nothing_and_a_retry_writes_it_once(
    pair: tuple[Database, Database],
) -> None:
    """A chunk that fails midway (the roll-ups, after the rows, money and ledger went in)
    is rolled back whole; the next write of the same rows stores and charges them once."""
    _, lean = pair
    rows = gateway_rows(150)
    before = dump(lean)
    with sqlite3.connect(_path(lean)) as conn:
        conn.execute(
            "CREATE TRIGGER broken BEFORE INSERT ON usage_daily_channel "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    store = SqliteUsageStore(_path(lean), zone=ZONE)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="disk I/O error"):
            store.write(rows)
        assert dump(lean) == before  # no row, no debit, no entry, no roll-up
        with sqlite3.connect(_path(lean)) as conn:
            conn.execute("DROP TRIGGER broken")
        assert store.write(rows) == 150  # a fresh connection after the failure
        assert store.write(rows) == 0
    finally:
        store.close()
    with sqlite3.connect(_path(lean)) as conn:
        assert conn.execute("SELECT count(*) FROM usage_logs").fetchone()[0] == 150
        entries = conn.execute("SELECT count(*), sum(amount_nusd) FROM ledger").fetchone()
        balances = dict(conn.execute("SELECT id, balance_nusd FROM users").fetchall())
    debited = [r for r in rows if r["user_id"] in (1, 2) and r["debit_balance"]]
    owed = {u: sum(r["cost_nusd"] for r in debited if r["user_id"] == u) for u in (1, 2)}
    # Two chunks of the one write (100 + 50 rows), each one entry per user debited, once.
    assert 2 <= entries[0] <= 4
    assert entries[1] == -sum(owed.values())
    assert balances == {1: 10**15 - owed[1], 2: 5 * 10**9 - owed[2]}


# The writer thread dies of the simulated kill on purpose.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_crash_mid_batch_is_made_good_from_the_journal_once(tmp_path: Path) -> None:
    """The writer thread takes a batch (the journal rotated with it) and the process dies
    inside its transaction: nothing of the batch is stored, its segment survives, and the
    next start's replay writes every row once, charges included (R11.2)."""
    db = await _fresh(tmp_path / "u.db")
    journal_dir = tmp_path / "j"
    rows = gateway_rows(120)
    try:
        first = UsageRecorder(
            db, Journal(journal_dir), flush_interval_s=3600, writer_thread=True, zone=ZONE
        )
        first.start()
        for r in rows[:40]:
            first.record(r)  # type: ignore[arg-type]
        await first.flush()  # 40 committed
        for r in rows[40:]:
            first.record(r)  # type: ignore[arg-type]
        # "kill -9" inside the next batch: the chunk raises after its inserts, before COMMIT,
        # and the thread stops as a dead process would (no retry, no journal clean-up).
        thread = first._thread
        assert thread is not None
        original = SqliteUsageStore._money

        def dies(self: SqliteUsageStore, *args: Any) -> Any:
            original(self, *args)
            thread._stopping = True
            raise SystemExit("killed mid-batch")

        SqliteUsageStore._money = dies  # type: ignore[method-assign, assignment]
        try:
            thread.wake()
            assert thread._thread is not None
            thread._thread.join(30)
        finally:
            SqliteUsageStore._money = original  # type: ignore[method-assign]
        first._journal.close()
        with sqlite3.connect(_path(db)) as conn:
            assert conn.execute("SELECT count(*) FROM usage_logs").fetchone()[0] == 40
        assert list(journal_dir.glob("usage-*.jsonl"))  # the dead batch's rows are on disk

        second = UsageRecorder(db, Journal(journal_dir), writer_thread=True, zone=ZONE)
        assert await second.replay() == 80
        await second.close()
    finally:
        await db.dispose()
    # The same rows written in one go by the SQLAlchemy writer: the same log and the same
    # money (per-user sums; the ledger's batching differs by design).
    ref = await _fresh(tmp_path / "ref.db")
    try:
        await write_rows(ref, rows, zone=ZONE)
    finally:
        await ref.dispose()
    got, want = dump(db), dump(ref)
    assert sorted(r[1:] for r in got["usage_logs"]) == sorted(r[1:] for r in want["usage_logs"])
    for table in ("users", "api_keys", "usage_daily", "usage_hourly", "usage_daily_channel"):
        assert sorted(got[table]) == sorted(want[table]), table
    assert not list(journal_dir.glob("usage-*.jsonl"))


async def test_close_writes_what_is_queued_and_closes_the_connection(tmp_path: Path) -> None:
    """Shutdown (R17.4): every queued row is written by the thread's store, then its
    connection is closed (the file is no longer open by this process's writer)."""
    db = await _fresh(tmp_path / "u.db")
    try:
        recorder = UsageRecorder(
            db,
            Journal(tmp_path / "j"),
            batch_size=10_000,
            flush_interval_s=3600,
            writer_thread=True,
            zone=ZONE,
        )
        recorder.start()
        for r in gateway_rows(75):
            recorder.record(r)  # type: ignore[arg-type]
        closed: list[SqliteUsageStore] = []
        original = SqliteUsageStore.close

        def tracking(self: SqliteUsageStore) -> None:
            closed.append(self)
            original(self)

        SqliteUsageStore.close = tracking  # type: ignore[method-assign]
        try:
            await recorder.close()
        finally:
            SqliteUsageStore.close = original  # type: ignore[method-assign]
        assert closed and all(s._conn is None for s in closed)
        with sqlite3.connect(_path(db)) as conn:
            assert conn.execute("SELECT count(*) FROM usage_logs").fetchone()[0] == 75
        assert recorder.depth == 0 and not list((tmp_path / "j").glob("usage-*.jsonl"))
    finally:
        await db.dispose()
