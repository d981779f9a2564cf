"""Throughput of the usage writer (SPEC R11.2, R11.3): rows per second through `write_rows`,
the writer's own transaction (rows, ledger, key spend and, from issue 14, the roll-ups).

Besides the wall rate (which a shared machine's queue for a core distorts), rows per CPU-second
of this process (with SQLite: all of the writer's work) and, with PostgreSQL, of the server's
backends serving the bench's database, and of both together: the figures to compare.

    .venv/bin/python bench/usage_writer.py [--db URL] [--rows 100000] [--batch 500]
    .venv/bin/python bench/usage_writer.py --code DIR     # another checkout's torouter/
    .venv/bin/python bench/usage_writer.py --db URL --per-statement   # where the backends' CPU goes

Without `--db` a fresh SQLite file is used; a PostgreSQL URL (its server's) gets a fresh
database created and dropped. `--code DIR` imports `torouter` from DIR (e.g. a `git archive`
of an older commit), so the same rows can be timed before and after a change. Rows are shaped
like the gateway's (bench/usage_data.py), of `--keys` keys (1,000) of `--users` users (100)
over the last two days,
written `--batch` at a time as the recorder drains its queue (500 = `usage.batch_size`).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", help="sqlite+aiosqlite:///… or a postgresql+asyncpg:// server URL")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--keys", type=int, default=1_000)
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--code", help="import torouter from this folder")
    p.add_argument(
        "--no-rollups",
        action="store_true",
        help="skip the roll-up upserts (rows are still aggregated): what the roll-ups cost",
    )
    p.add_argument(
        "--per-statement",
        action="store_true",
        help="PostgreSQL: also the backends' CPU per batch of each statement (its first words); "
        "this process's CPU then includes reading it",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs, each on a fresh database; all are printed, the best last (a shared machine)",
    )
    return p.parse_args()


async def run(a: argparse.Namespace) -> float:
    import datetime as dt

    from sqlalchemy import insert, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine
    from usage_data import RowMaker
    from usage_views import backend_cpu

    import torouter
    from torouter.storage import tables as t
    from torouter.storage.db import Database
    from torouter.storage.migrate import upgrade
    from torouter.usage.recorder import write_rows

    url = a.db or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/writer.db"
    admin = None
    if url.startswith("postgresql"):
        name = f"torouter_writer_{secrets.token_hex(4)}"
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        await upgrade(db)
        now = dt.datetime.now(dt.UTC)
        async with db.begin() as conn:
            await conn.execute(
                insert(t.users),
                [
                    {"id": u, "email": f"u{u}@x.test", "balance_nusd": 10**18, "created_at": now}
                    for u in range(1, a.users + 1)
                ],
            )
            await conn.execute(insert(t.groups).values(id=1, name="g", created_at=now))
            await conn.execute(
                insert(t.api_keys),
                [
                    {
                        "id": k,
                        "user_id": 1 + k % a.users,
                        "group_id": 1,
                        "name": f"k{k}",
                        "key_hash": f"{k:064x}",
                        "mask": "sk-…",
                        "created_at": now,
                    }
                    for k in range(1, a.keys + 1)
                ],
            )
        maker = RowMaker([(k, 1 + k % a.users, f"k{k}") for k in range(1, a.keys + 1)])
        start = now.timestamp() - 2 * 86_400
        step = 2 * 86_400 / a.rows
        rows = [maker.row(n, start + n * step) for n in range(a.rows)]
        if a.no_rollups:
            from torouter.usage import rollups

            async def skip(conn: object, batch: object) -> None:
                return None

            rollups.apply = skip  # type: ignore[assignment]
        kw = {"zone": dt.UTC} if "zone" in inspect.signature(write_rows).parameters else {}
        database = url.rsplit("/", 1)[1] if db.dialect == "postgresql" else ""
        per_statement: Counter[str] = Counter()
        if a.per_statement and database:
            _measure_statements(database, per_statement)
        b0 = backend_cpu(database) if database else 0.0
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        written = 0
        for i in range(0, len(rows), a.batch):
            written += await write_rows(db, rows[i : i + a.batch], **kw)
        took = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        server = ""
        if database:
            backends = backend_cpu(database) - b0
            server = (
                f", {a.rows / backends:,.0f} per CPU-second of its PostgreSQL backends, "
                f"{a.rows / (cpu + backends):,.0f} per CPU-second of both together"
            )
        assert written == a.rows, written
        where = Path(torouter.__file__).resolve().parents[1]
        print(
            f"{db.dialect}: {a.rows:,} rows of {a.keys:,} keys and {a.users:,} users in batches "
            f"of {a.batch}{' (roll-ups not written)' if a.no_rollups else ''}: "
            f"{a.rows / took:,.0f} rows/s "
            f"wall, {a.rows / cpu:,.0f} rows per CPU-second of this process{server} ({where}); "
            f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
            flush=True,
        )
        for sql, seconds in per_statement.most_common():
            print(f"  {seconds * 1e3 * a.batch / a.rows:8.1f} ms per batch  {sql}")
        return a.rows / took
    finally:
        await db.dispose()
        if admin is not None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


def _measure_statements(database: str, into: Counter[str]) -> None:
    """Add each statement's backend CPU (from /proc, read around it) to `into`, by its first
    words. The reads cost this process CPU, not the backends: their figures stay true."""
    from sqlalchemy.ext.asyncio import AsyncConnection
    from usage_views import backend_cpu

    def timed(method: Any) -> Any:
        async def run(self: Any, statement: Any, *args: Any, **kw: Any) -> Any:
            before = backend_cpu(database)
            try:
                return await method(self, statement, *args, **kw)
            finally:
                into[" ".join(str(statement).split()[:4])[:60]] += backend_cpu(database) - before

        return run

    AsyncConnection.execute = timed(AsyncConnection.execute)  # type: ignore[method-assign]
    AsyncConnection.exec_driver_sql = timed(AsyncConnection.exec_driver_sql)  # type: ignore[method-assign]


def main() -> None:
    a = parse()
    # bench/ for usage_data; the repository (or --code) for torouter, ahead of the install.
    sys.path[0] = str(HERE)
    sys.path.insert(1, a.code or str(HERE.parent))
    rates = [asyncio.run(run(a)) for _ in range(a.repeat)]
    if a.repeat > 1:
        print(f"best of {a.repeat}: {max(rates):,.0f} rows/s")


if __name__ == "__main__":
    main()
