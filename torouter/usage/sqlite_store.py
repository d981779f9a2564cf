"""The writer thread's store: a usage batch on the standard library's `sqlite3` (SPEC R11.2).

The writer thread (`writer_thread.py`) owns one connection to the SQLite file and writes each
batch in one transaction, statement by statement in the thread itself: no event loop, no
aiosqlite thread, no future crossing threads per statement (each of those was a
`call_soon_threadsafe`, a futex wake-up and a GIL hand-over that also cost the serving
thread), and no SQLAlchemy per statement or per value. What a batch writes is exactly what the
SQLAlchemy writer (`recorder.write_rows`, PostgreSQL and the writer on the loop) writes: the
same rows deduplicated by admission id (`batch.py`), the same debits, ledger entries and key
spend (`money.tally` / `money.settle`), the same roll-ups (`rollups.aggregate`, and the upserts'
own statement text), and the same stored bytes: a row's values are converted by a per-column
list built once from the columns' types, and a test compares every table written both ways.

Money is integer nano-USD; every debit is a ledger entry in the transaction of its rows, so a
failed batch leaves nothing behind and its rows wait in the journal for the next try.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Float
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from ulid import ULID

from torouter.storage import tables as t
from torouter.storage.db import _json_text, _sqlite_pragmas
from torouter.usage import rollups
from torouter.usage.batch import MAX_CHUNK, USAGE_INSERT, unique_rows
from torouter.usage.low_balance import LowBalance, notify
from torouter.usage.money import LEDGER_COLUMNS, USER_COLUMNS, settle, tally

__all__ = ["SqliteUsageStore"]

log = logging.getLogger("torouter.usage")

Encoder = Callable[[Any], Any]
LowBalanceHook = Callable[[Sequence[LowBalance]], None]

_NEW_IDS = (
    "SELECT admission_id FROM usage_logs WHERE admission_id IN (SELECT value FROM json_each(?))"
)
_USERS = (
    f"SELECT {', '.join(USER_COLUMNS)} FROM users "
    "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
)
_DEBIT = "UPDATE users SET balance_nusd = balance_nusd + ? WHERE id = ?"
_NOTICE = "UPDATE users SET low_balance_notified_at = ? WHERE id = ?"
_SPEND = (
    "UPDATE api_keys SET spend_nusd = spend_nusd + ?, last_used_at = ?, last_used_ip = ? "
    "WHERE id = ?"
)
_LEDGER = (
    f"INSERT INTO ledger ({', '.join(LEDGER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in LEDGER_COLUMNS)})"
)
_LEDGER_AT = LEDGER_COLUMNS.index("created_at")


def utc_text(at: dt.datetime) -> str:
    """`UTCDateTime`'s stored text for an aware datetime (the type's own bind conversion)."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@cache
def _dialect() -> Dialect:
    return sqlite.dialect()


@cache
def _usage_plan() -> tuple[str, tuple[str, ...], int, list[tuple[int, Encoder]]]:
    """(INSERT statement, its columns, the position of `created_at`, the converters of the
    columns that need one), derived from the table once.

    A column type whose SQLAlchemy bind conversion on SQLite is not one of the known ones
    raises here, at the first batch: a new column can never be stored differently unnoticed.
    """
    columns = USAGE_INSERT.columns
    sql = (
        f"INSERT INTO usage_logs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    )
    dialect = _dialect()
    encoders: list[tuple[int, Encoder]] = []
    created = -1
    for i, name in enumerate(columns):
        col_type = t.usage_logs.c[name].type
        processor = col_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue  # integers, text: sqlite3 binds them as SQLAlchemy does
        if isinstance(col_type, t.UTCDateTime):
            if name != "created_at":
                raise RuntimeError(f"usage_logs.{name}: a second time column needs a converter")
            created = i  # converted from the row's unix seconds, with the datetime kept
        elif isinstance(col_type, JSON):
            encoders.append((i, _json_text))  # the engine's serializer; None is JSON null
        elif isinstance(col_type, Boolean):
            # Stored as the integer 0 or 1 either way, but `sqlite3` binds a `bool` only after
            # failing to find an adapter for it (two AttributeErrors formatted and dropped,
            # ~0.4 µs a value); an `int` it binds at once.
            encoders.append((i, _bool_int))
        elif isinstance(col_type, Float):
            encoders.append((i, processor))  # SQLAlchemy's own (compiled): int to float
        elif isinstance(col_type, t.DecimalText):
            encoders.append((i, _decimal_encoder(col_type, dialect)))
        else:
            raise RuntimeError(f"usage_logs.{name}: no converter for {col_type!r}")
    if created < 0:
        raise RuntimeError("usage_logs.created_at is not a UTCDateTime")
    return sql, columns, created, encoders


def _bool_int(value: Any) -> Any:
    return None if value is None else int(value)


def _decimal_encoder(col_type: t.DecimalText, dialect: Dialect) -> Encoder:
    """The type's own conversion, remembered per text: a price multiplier (sent as a string)
    takes a handful of values, and converting one through `Decimal` costs ~1 µs a row. Only
    strings are remembered: equal numbers of other types (1, 1.0, Decimal("1.0")) would share
    a key but not their text."""
    seen: dict[str, str | None] = {}

    def encode(value: Any) -> Any:
        if type(value) is not str:
            return col_type.process_bind_param(value, dialect)
        out = seen.get(value)
        if out is None:
            if len(seen) >= 1024:
                seen.clear()
            out = seen[value] = col_type.process_bind_param(value, dialect)
        return out

    return encode


class SqliteUsageStore:
    """Writes usage batches to one SQLite file through a connection of its own. Not thread
    safe: create, use and close it in one thread (the writer's)."""

    def __init__(self, path: str, *, zone: dt.tzinfo = dt.UTC) -> None:
        self._path = path
        self._zone = zone
        self._conn: sqlite3.Connection | None = None
        self._getter = itemgetter(*USAGE_INSERT.columns)

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            # Autocommit mode: the transactions are the store's own (BEGIN IMMEDIATE … COMMIT).
            conn = sqlite3.connect(self._path, isolation_level=None)
            _sqlite_pragmas(conn, None)  # the engine's pragmas: WAL, busy timeout, cache
            self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(
        self, rows: Sequence[Mapping[str, Any]], on_low_balance: LowBalanceHook | None = None
    ) -> int:
        """Write rows idempotently by admission id, one transaction per batch (up to
        `MAX_CHUNK` rows: no loop waits on it here, and fewer commits write each index page
        fewer times); return how many were new. Raises when a chunk fails (it is rolled back;
        earlier chunks stay written, and a retry skips them by admission id)."""
        written = 0
        for i in range(0, len(rows), MAX_CHUNK):
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock first: balances read under it
                new, notices = self._chunk(conn, rows[i : i + MAX_CHUNK])
                conn.execute("COMMIT")
            except BaseException:
                self._abandon(conn)
                raise
            written += new
            notify(notices, on_low_balance)
        return written

    def _abandon(self, conn: sqlite3.Connection) -> None:
        """After a failure: roll back, and start the next batch on a fresh connection (a
        broken file handle or a half-done statement must not outlive the batch)."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        finally:
            self.close()

    def _chunk(
        self, conn: sqlite3.Connection, chunk: Sequence[Mapping[str, Any]]
    ) -> tuple[int, list[LowBalance]]:
        unique = unique_rows(chunk)
        ids = orjson.dumps([r["admission_id"] for r in unique])
        # Rows whose admission id is stored already (a replay) are skipped: never charged or
        # counted twice. Only the rows inserted now go on to the money and roll-ups.
        seen = {r[0] for r in conn.execute(_NEW_IDS, (ids,))}
        sql, _, created, encoders = _usage_plan()
        getter, defaults = self._getter, USAGE_INSERT.defaults
        fresh: list[dict[str, Any]] = []
        params: list[list[Any]] = []
        # `UTCDateTime`'s text (`utc_text`) from a per-second prefix: the rows of a batch share
        # a few seconds, and an aware `isoformat` costs ~1.8 µs a row. Keyed by the whole
        # seconds of the timestamp and checked against the datetime's own second, which the
        # rounding to microseconds may carry one further.
        prefixes: dict[int, tuple[int, str]] = {}
        for r in unique:
            if r["admission_id"] in seen:
                continue
            created_s = r["created_at"]
            at = dt.datetime.fromtimestamp(created_s, dt.UTC)
            try:
                values = list(getter(r))
            except KeyError:  # a row missing a column (an older journal's): its default
                values = list(getter({**defaults, **r}))
            hit = prefixes.get(int(created_s))
            if hit is None or hit[0] != at.second:
                hit = (at.second, at.replace(microsecond=0, tzinfo=None).isoformat())
                prefixes[int(created_s)] = hit
            values[created] = f"{hit[1]}.{at.microsecond:06d}Z"
            for pos, encode in encoders:
                values[pos] = encode(values[pos])
            params.append(values)
            row = dict(r)
            row["created_at"] = at  # what the money and the roll-ups read
            fresh.append(row)
        if not fresh:
            return 0, []
        conn.executemany(sql, params)
        now = dt.datetime.now(dt.UTC)
        notices = self._money(conn, fresh, now)
        hourly_from = rollups.local_hour(now - rollups.HOURLY_KEEP, self._zone)
        batch = rollups.aggregate(fresh, self._zone, hourly_from=hourly_from)
        for upsert, part in (
            (rollups.DAILY, batch.daily),
            (rollups.HOURLY, batch.hourly),
            (rollups.CHANNEL, batch.channel),
        ):
            if part:
                upsert_sql, upsert_params = upsert.positional(
                    [(*k, *v) for k, v in part.items()], _dialect()
                )
                conn.executemany(upsert_sql, upsert_params)
        return len(fresh), notices

    def _money(
        self, conn: sqlite3.Connection, rows: Sequence[Mapping[str, Any]], now: dt.datetime
    ) -> list[LowBalance]:
        """`money.apply_money` on this connection: the same pure decisions, plain statements."""
        per_user, per_key = tally(rows)
        notices: list[LowBalance] = []
        if per_user:
            users = conn.execute(_USERS, (orjson.dumps(sorted(per_user)),))
            plan = settle(users, per_user, now, str(ULID()))
            conn.executemany(_DEBIT, [(amount, uid) for uid, amount in plan.debits])
            at = utc_text(now)
            entries = [list(e) for e in plan.entries]
            for e in entries:
                e[_LEDGER_AT] = at
            conn.executemany(_LEDGER, entries)
            conn.executemany(
                _NOTICE,
                [(None if when is None else utc_text(when), uid) for uid, when in plan.flags],
            )
            notices = plan.notices
        spend = [(spent, utc_text(at), ip, kid) for kid, (spent, at, ip) in sorted(per_key.items())]
        conn.executemany(_SPEND, spend)
        return notices
