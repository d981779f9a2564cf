"""Time every usage view (issue 14) on a large history: p50/p95 of 50 varied queries each,
and the CSV export's rows per second and memory.

    .venv/bin/python bench/usage_data.py --db URL          # once: 1,000,000 rows
    .venv/bin/python bench/usage_views.py --db URL [--queries 50] [--no-export]

The management API is built in this process exactly as `torouter serve` builds it and driven
through its ASGI interface (httpx's ASGI transport), so a time is the server's whole work for a
request: routing, auth (a real session or admin token), the queries, the JSON. Queries vary
user, key, model, filters, ranges and cursors (seeded). One untimed call per view warms up.
The export is read through the ASGI app with a `send` that only counts, so what is measured
is the server streaming the file: rows per second and the growth of this process's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx

Query = tuple[str, str, bool]  # (who: "user:<id>" | "admin", url, walk the cursor)


def nearest_rank(values: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q of all at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def load() -> str:
    """The 1, 5 and 15 minute load averages (a shared machine's numbers need them beside)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def backend_cpu(database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving `database` (a server on this
    machine: its processes are titled `postgres: USER DATABASE ADDRESS STATE`); 0 when none
    is visible. Per request, this is the database's share of the server's work."""
    total = 0  # nanoseconds on a CPU (schedstat: exact, where /proc/PID/stat counts ticks)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].split()
            if len(title) < 3 or title[0] != b"postgres:" or title[2] != database.encode():
                continue
            ran = Path(f"/proc/{pid}/schedstat").read_text().split()[0]
        except OSError:
            continue
        total += int(ran)
    return total / 1e9


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Bench:
    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.cpu = 0.0  # this process's CPU time of the last timed request (SQLite: all of it)
        self.db_cpu = 0.0  # the PostgreSQL backends' CPU time of the last timed request
        self.pg_database = url.rsplit("/", 1)[1].split("?")[0] if "postgresql" in url else ""
        self.export_cpu = 0.0

    async def setup(self) -> None:
        from sqlalchemy import func, select

        from torouter.accounts.service import Accounts
        from torouter.accounts.sessions import (
            CSRF_COOKIE,
            CSRF_HEADER,
            SESSION_COOKIE,
            create_session,
        )
        from torouter.api import ApiDeps, build_management_api
        from torouter.api.admin_tokens import create_admin_token
        from torouter.billing.ledger import Ledger
        from torouter.config import Settings
        from torouter.crypto import generate_key, keyring_for
        from torouter.snapshot import SnapshotHolder
        from torouter.state.memory import MemoryState
        from torouter.storage import tables as t
        from torouter.storage.db import Database

        self.db = db = Database(self.url)
        settings = Settings(data_dir=Path(tempfile.mkdtemp()), encryption_key=generate_key())
        snapshot = SnapshotHolder(db, decrypt=lambda s: s)
        await snapshot.reload()
        accounts = Accounts.build(settings, db, keyring_for(settings))
        deps = ApiDeps(
            settings=settings,
            db=db,
            snapshot=snapshot,
            ledger=Ledger(MemoryState()),
            accounts=accounts,
        )
        self.app = build_management_api(deps)
        async with db.connect() as conn:
            self.users = [r[0] for r in await conn.execute(select(t.users.c.id))]
            self.keys = {
                u: [
                    r[0]
                    for r in await conn.execute(
                        select(t.api_keys.c.id).where(t.api_keys.c.user_id == u)
                    )
                ]
                for u in self.users[:50]
            }
            self.models = [r[0] for r in await conn.execute(select(t.models.c.id))]
            top = await conn.scalar(select(func.max(t.usage_logs.c.id)))
            ids = [self.rng.randint(1, top or 1) for _ in range(400)]
            q = select(t.usage_logs.c.request_id, t.usage_logs.c.user_id).where(
                t.usage_logs.c.id.in_(ids)
            )
            self.requests = [(r[0], r[1]) for r in await conn.execute(q)]
        token = await create_admin_token(db, name="bench", user_id=1)  # user 1 is the admin
        transport = httpx.ASGITransport(self.app)
        self.clients["admin"] = httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"authorization": f"Bearer {token}"},
        )
        for u in self.users[:50]:
            async with db.begin() as conn:
                s = await create_session(accounts, conn, user_id=u, ip="127.0.0.1", user_agent="b")
            self.clients[f"user:{u}"] = httpx.AsyncClient(
                transport=transport,
                base_url="http://bench",
                cookies={SESSION_COOKIE: s.token, CSRF_COOKIE: s.csrf},
                headers={CSRF_HEADER: s.csrf},
            )

    # -- the varied queries of each view ---------------------------------------------------

    def user(self) -> int:
        return self.rng.choice(list(self.keys))

    def date_range(self) -> str:
        import datetime as dt

        today = dt.date.today()
        span = self.rng.choice([1, 7, 30, 90])
        end = today - dt.timedelta(days=self.rng.choice([0, 0, 0, 3, 10]))
        return f"start={end - dt.timedelta(days=span - 1)}&end={end}"

    def user_filters(self, u: int) -> str:
        parts = []
        if self.rng.random() < 0.3:
            parts.append(f"model={self.rng.choice(self.models)}")
        if self.rng.random() < 0.3:
            parts.append(f"key_id={self.rng.choice(self.keys[u])}")
        if self.rng.random() < 0.2:
            parts.append(f"outcome={self.rng.choice(['success', 'refused', 'upstream_error'])}")
        if self.rng.random() < 0.3:
            parts.append(self.date_range())
        return "&".join(parts)

    def summary_filters(self) -> str:
        parts = [self.date_range()]
        if self.rng.random() < 0.3:
            parts.append(f"model={self.rng.choice(self.models)}")
        return "&".join(parts)

    def admin_filters(self) -> str:
        options: list[Callable[[], str]] = [
            lambda: f"user_id={self.rng.choice(self.users)}",
            lambda: f"channel_id={self.rng.randint(1, 6)}",
            lambda: f"status={self.rng.choice([200, 429, 502])}",
            lambda: f"outcome={self.rng.choice(['success', 'refused', 'partial'])}",
            lambda: f"model={self.rng.choice(self.models)}",
            self.date_range,
        ]
        k = self.rng.choice([0, 1, 1, 2])
        return "&".join(f() for f in self.rng.sample(options, k))

    def views(self) -> dict[str, Callable[[], Query]]:
        def mine(path: str, query: str = "", walk: bool = False) -> Query:
            u = self.user()
            q = query or self.user_filters(u)
            return f"user:{u}", f"/api/me/{path}" + (f"?{q}" if q else ""), walk

        def detail(prefix: str, admin: bool) -> Query:
            rid, u = self.rng.choice([r for r in self.requests if admin or r[1] in self.keys])
            return ("admin" if admin else f"user:{u}"), f"{prefix}/{rid}", False

        def admin(url: str, walk: bool = False) -> Query:
            return "admin", url, walk

        return {
            "me/usage/logs": lambda: mine("usage/logs"),
            "me/usage/logs (page 2-4)": lambda: mine("usage/logs", walk=True),
            "me/usage/logs/{request_id}": lambda: detail("/api/me/usage/logs", False),
            "me/usage/summary": lambda: mine(
                "usage/summary",
                "&".join(x for x in (self.date_range(), self.user_filters(self.user())) if x),
            ),
            "me/usage/daily": lambda: mine("usage/daily", f"days={self.rng.choice([7, 30])}"),
            "me/dashboard": lambda: mine("dashboard", "x=1"),
            "me/ledger": lambda: mine(
                "ledger",
                self.rng.choice(
                    ["page=1", f"page={self.rng.randint(2, 20)}", "reason=usage", self.date_range()]
                ),
            ),
            "admin/usage (logs)": lambda: admin(f"/api/admin/usage?{self.admin_filters()}"),
            "admin/usage (page 2-4)": lambda: admin(
                f"/api/admin/usage?{self.admin_filters()}", walk=True
            ),
            "admin/usage/logs/{request_id}": lambda: detail("/api/admin/usage/logs", True),
            "admin/usage/summary": lambda: admin(
                f"/api/admin/usage/summary?{self.admin_filters()}"
            ),
            "admin/usage/daily": lambda: admin(
                f"/api/admin/usage/daily?days={self.rng.choice([7, 30])}"
                + (f"&user_id={self.user()}" if self.rng.random() < 0.5 else "")
            ),
            "admin/users/{id}/ledger": lambda: admin(
                f"/api/admin/users/{self.user()}/ledger?page={self.rng.randint(1, 5)}"
            ),
        }

    async def timed(self, who: str, url: str, walk: bool = False) -> float:
        """One request's time; with `walk`, the first page untimed, then 1-3 pages by cursor,
        the last of them timed (a first page without a next one is timed instead)."""
        client = self.clients[who]
        took = None
        if walk:
            r = await client.get(url)
            for _ in range(self.rng.randint(1, 3)):
                cursor = r.json()["next_cursor"]
                if not cursor:
                    break
                page = url + ("&" if "?" in url else "?") + f"cursor={cursor}"
                b0 = backend_cpu(self.pg_database) if self.pg_database else 0.0
                t0, c0 = time.perf_counter(), time.process_time()
                r = await client.get(page)
                took, self.cpu = time.perf_counter() - t0, time.process_time() - c0
                if self.pg_database:
                    self.db_cpu = backend_cpu(self.pg_database) - b0
                assert r.status_code == 200, (page, r.text[:300])
        if took is None:
            b0 = backend_cpu(self.pg_database) if self.pg_database else 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            r = await client.get(url)
            took, self.cpu = time.perf_counter() - t0, time.process_time() - c0
            if self.pg_database:
                self.db_cpu = backend_cpu(self.pg_database) - b0
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
        return took

    async def run_views(self, n: int) -> list[tuple[str, list[float]]]:
        out = []
        for name, make in self.views().items():
            results, cpu, db_cpu = [], [], []
            for i in range(n + 1):
                who, url, walk = make()
                took = await self.timed(who, url, walk)
                if i:  # the first call warms up
                    results.append(took)
                    cpu.append(self.cpu)
                    db_cpu.append(self.db_cpu)
            out.append((name, results))
            p50 = statistics.median(results) * 1000
            p95 = nearest_rank(results, 0.95) * 1000
            top = max(results) * 1000
            print(
                f"{name:32} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   max {top:7.1f} ms"
                f"   cpu p50 {statistics.median(cpu) * 1000:6.1f} p95 "
                f"{nearest_rank(cpu, 0.95) * 1000:6.1f} ms"
                + (
                    f"   db cpu p50 {statistics.median(db_cpu) * 1000:5.1f} p95 "
                    f"{nearest_rank(db_cpu, 0.95) * 1000:5.1f} ms"
                    if self.pg_database
                    else ""
                )
                + f"   load {load()}",
                flush=True,
            )
        return out

    async def export(self, path: str, who: str) -> tuple[int, float, int]:
        """Stream one CSV through the ASGI app; (rows, seconds, RSS growth in bytes)."""
        client = self.clients[who]
        headers = [(k.encode(), v.encode()) for k, v in client.headers.items()]
        cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        if cookies:
            headers.append((b"cookie", cookies.encode()))
        target, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": target,
            "raw_path": target.encode(),
            "query_string": query.encode(),
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
        }
        lines = 0
        status = 0
        base = rss_bytes()
        peak = base

        done = asyncio.Event()
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # the client stays connected until the file ends
            return {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            nonlocal lines, status, peak
            if msg["type"] == "http.response.start":
                status = msg["status"]
            elif msg["type"] == "http.response.body":
                lines += msg.get("body", b"").count(b"\r\n")
                peak = max(peak, rss_bytes())

        t0, cpu0 = time.perf_counter(), time.process_time()
        await self.app(scope, receive, send)
        took, self.export_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        done.set()
        assert status == 200, status
        return lines - 1, took, peak - base


async def main_async(a: argparse.Namespace) -> None:
    b = Bench(a.db, a.seed)
    await b.setup()
    print(f"usage views on {a.db.split('://')[0]}: {a.queries} queries each (p95 of {a.queries})")
    if a.views:
        await b.run_views(a.queries)
    for _ in range(a.export_runs if a.export else 0):
        import datetime as dt

        start = dt.date.today() - dt.timedelta(days=40)
        for label, path, who in (
            ("admin CSV, every row", f"/api/admin/usage/export.csv?start={start}", "admin"),
            ("user CSV, one user", f"/api/me/usage/export.csv?start={start}", f"user:{b.user()}"),
        ):
            rows, took, growth = await b.export(path, who)
            print(
                f"{label:32} {rows:,} rows in {took:.1f} s = {rows / took:,.0f} rows/s, "
                f"RSS +{growth / 2**20:.1f} MiB   ({rows / b.export_cpu:,.0f} rows per CPU-s of "
                f"this process)   load {load()}",
                flush=True,
            )
    for c in b.clients.values():
        await c.aclose()
    await b.db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-export", dest="export", action="store_false")
    p.add_argument("--no-views", dest="views", action="store_false", help="only the exports")
    p.add_argument("--export-runs", type=int, default=1, help="exports one after another")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
