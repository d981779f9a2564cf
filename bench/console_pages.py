#!/usr/bin/env python3
"""Server time of every console page (R15.5: under 100 ms), measured over loopback.

    .venv/bin/python bench/console_pages.py [--rows 1000000] [--runs 30] [--data DIR]

Starts ToRouter's embedded default with its demo data in a temporary folder, adds `--rows`
usage rows for the demo user's key (spread over the last 30 days, as the gateway writes them,
with their roll-ups), restarts it, signs in as the demo user and requests each page `--runs`
times on one keep-alive connection, after one warm-up; then the admin console's pages as the
demo admin. For the payment pages the demo user first tops up through the built-in fake
Stripe (its hosted page's Pay) and buys a plan from the balance, so the pages show a paid
order, a subscription and its window use. Prints p50, p95 (nearest rank) and max per page in
milliseconds.
The time includes the loopback round trip (a fraction of a millisecond), so it is an upper
bound of the server's own time. On a busy machine wall times grow with the queue for a core;
the `cpu ms` column (the server process's CPU time per request, from /proc) does not.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # `bench` as a package

import httpx
from sqlalchemy import select

from torouter.storage.db import Database
from torouter.storage.tables import api_keys, usage_logs, users

PUBLIC = ("/login", "/signup", "/pricing")
PAGES = (
    "/pricing",
    "/dashboard",
    "/dashboard/onboarding",
    "/keys",
    "/keys/new",
    "/keys/1",
    "/keys/1/edit",
    "/keys/1/use",
    "/keys/1/delete",
    "/models",
    "/models/demo-claude",
    "/profile",
    "/playground",
    "/usage",
    "/usage?outcome=upstream_error",
    "/usage?key_id=1&outcome=upstream_error",
    "/billing",
)


ADMIN_PAGES = (  # as the demo admin; the user's page (with its ledger) is added by id
    "/admin/users",
    "/admin/channels",
    "/admin/channels/1",
    "/admin/channels/1/edit",
    "/admin/channels/1/models",
    "/admin/groups",
    "/admin/groups/1",
    "/admin/models",
    "/admin/models/demo-claude",
    "/admin/plans",
    "/admin/operations",
    "/admin/settings",
    "/admin/tokens",
    "/admin/audit",
    "/admin/orders",
    "/admin/usage",
    "/admin/usage?outcome=upstream_error",
    "/admin/payments/reconcile",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "torouter.toml"
    config.write_text(f'data_dir = "data"\n[server]\nport = {port}\n[log]\nlevel = "WARNING"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "torouter.cli", "serve", "--config", str(config)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


async def add_usage(db_path: Path, rows: int) -> None:
    """`rows` usage rows of the demo user's key over the last 30 days, shaped like the
    gateway's (bench/usage_data.py's `RowMaker`: outcomes, tokens, latencies, failovers) on
    the demo models, with the roll-ups the writer keeps beside them (`usage/rollups.py`), all
    through the writer's compiled bulk insert. One key holding every row is the hardest case
    for the key and dashboard pages (the 1,000,000-row set of bench/usage_data.py spreads its
    rows over 1,000 keys)."""
    from bench.usage_data import RowMaker, _bulk
    from torouter.usage import rollups

    db = Database(f"sqlite+aiosqlite:///{db_path}")
    now = dt.datetime.now(dt.UTC)
    async with db.begin() as conn:
        user_id = await conn.scalar(
            select(users.c.id).where(users.c.email == "demo@torouter.local")
        )
        key_id = await conn.scalar(select(api_keys.c.id).where(api_keys.c.user_id == user_id))
    maker = RowMaker([(key_id, user_id, "demo")], seed=7)
    models = ["demo-gpt", "demo-claude", "demo-gemini"]
    maker.key_models = {key_id: models}
    maker.models = models
    maker.prices.update({m: {"input": "1", "output": "2"} for m in models})
    bulk = _bulk(usage_logs)
    hourly_from = rollups.local_hour(now - rollups.HOURLY_KEEP, dt.UTC)
    totals = rollups.RollupBatch()
    start = now.timestamp() - 30 * 86_400
    step = 30 * 86_400 / max(rows, 1)
    batch = 20_000
    for first in range(0, rows, batch):
        values = []
        for n in range(first, min(first + batch, rows)):
            at = start + n * step + maker.rng.random() * step
            row = maker.row(n, at)
            row["created_at"] = dt.datetime.fromtimestamp(at, dt.UTC)
            row["request_id"] = f"req_bench_{n}"
            values.append(row)
        totals.merge(rollups.aggregate(values, dt.UTC, hourly_from=hourly_from))
        async with db.begin() as conn:
            await bulk.run(conn, values)
    for name in ("daily", "hourly", "channel"):
        items = list(getattr(totals, name).items())
        for i in range(0, len(items), 5_000):
            part = rollups.RollupBatch(**{name: dict(items[i : i + 5_000])})
            async with db.begin() as conn:
                await rollups.apply(conn, part)
    await db.dispose()


Timing = tuple[str, float, float, float, float]


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux), in seconds; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(c: httpx.Client, path: str, runs: int, pid: int) -> Timing:
    assert c.get(path).status_code == 200, path  # warm-up
    times = []
    cpu0 = cpu_seconds(pid)
    for _ in range(runs):
        t0 = time.perf_counter()
        r = c.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, path
    cpu = (cpu_seconds(pid) - cpu0) * 1000 / runs
    times.sort()
    p95 = times[max(0, math.ceil(len(times) * 0.95) - 1)]  # nearest rank
    return path, statistics.median(times), p95, times[-1], cpu


def measure(url: str, password: str, admin_password: str, runs: int, pid: int) -> list[Timing]:
    with httpx.Client(base_url=url, timeout=30) as anon:
        out = [timed(anon, path, runs, pid) for path in PUBLIC]
    with httpx.Client(base_url=url, timeout=30) as c:
        page = c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        r = c.post(
            "/login",
            data={
                "csrf_token": csrf.group(1),
                "email": "demo@torouter.local",
                "password": password,
            },
        )
        assert r.status_code == 303, r.text
        print(f"load average before the pages: {Path('/proc/loadavg').read_text().split()[:3]}")
        out += [timed(c, path, runs, pid) for path in PAGES]
        detail = re.search(r'href="(/usage/[^"?#]+)"', c.get("/usage").text)
        if detail:  # one request's detail page, attempts and billing
            out.append(timed(c, detail.group(1), runs, pid))
        order = top_up(c)
        buy_plan(url, admin_password, c)
        paths = (
            "/purchase",
            "/orders",
            f"/orders/{order}",
            f"/payment/result?order={order}",
            "/subscriptions",
        )
        out += [timed(c, path, runs, pid) for path in paths]
    with httpx.Client(base_url=url, timeout=30) as admin:
        r = admin.post(
            "/login",
            data={
                "csrf_token": csrf_of(admin, "/login"),
                "email": "admin@torouter.local",
                "password": admin_password,
            },
        )
        assert r.status_code == 303, r.text
        demo_user = re.search(
            r'href="/admin/users/(\d+)"[^>]*>[^<]*demo@', admin.get("/admin/users").text
        )
        pages = [*ADMIN_PAGES, f"/admin/users/{demo_user.group(1) if demo_user else 2}"]
        for path in pages:
            status = admin.get(path).status_code
            if status != 200:  # not a page of this deployment: say so, time the others
                print(f"skipped {path}: {status}")
                continue
            out.append(timed(admin, path, runs, pid))
    return out


def csrf_of(c: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text)
    assert found
    return found.group(1)


def top_up(c: httpx.Client) -> str:
    """$20 through the fake Stripe's hosted page; the paid order's id."""
    r = c.post("/purchase", data={"csrf_token": csrf_of(c, "/purchase"), "preset_usd": "20.00"})
    assert r.status_code == 303 and "/mock/stripe/c/pay/" in r.headers["location"], r.text
    r = c.post(r.headers["location"] + "/pay")
    assert r.status_code == 303, r.text
    order = r.headers["location"].split("order=")[1]
    deadline = time.monotonic() + 30
    while "Payment received" not in c.get(f"/payment/result?order={order}").text:
        assert time.monotonic() < deadline, "the payment was not credited"
        time.sleep(0.1)
    return order


def buy_plan(url: str, admin_password: str, c: httpx.Client) -> None:
    """A subscription group with a plan, made as an admin; bought from the balance."""
    with httpx.Client(base_url=url, timeout=30) as admin:
        r = admin.post(
            "/api/auth/login", json={"email": "admin@torouter.local", "password": admin_password}
        )
        admin.headers["x-csrf-token"] = r.json()["csrf_token"]
        r = admin.post("/api/admin/groups", json={"name": "pro", "billing_type": "subscription"})
        body = {"name": "pro-monthly", "group_id": r.json()["id"], "price_usd": "8"}
        plan = admin.post("/api/admin/plans", json={**body, "daily_cap_usd": "5"}).json()["id"]
    r = c.post(
        "/subscriptions/buy",
        data={"csrf_token": csrf_of(c, "/subscriptions"), "plan_id": plan, "method": "balance"},
    )
    assert r.status_code == 303, r.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the prepared data folder here and reuse it on later runs (each run "
        "starts from a copy, so the payment steps find it unchanged)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        if args.data and (args.data / "torouter.db").exists():
            shutil.copytree(args.data, work / "data")
            print(f"data folder copied from {args.data}")
        else:
            proc = serve(work, port)
            proc.terminate()
            proc.wait(30)
            if args.rows:
                t0 = time.perf_counter()
                asyncio.run(add_usage(work / "data" / "torouter.db", args.rows))
                print(f"added {args.rows:,} usage rows in {time.perf_counter() - t0:.1f} s")
            if args.data:
                shutil.copytree(work / "data", args.data)
        demo = (work / "data" / "demo.txt").read_text()
        password = re.search(r"demo@torouter\.local\s+password: (\S+)", demo)
        admin = re.search(r"admin@torouter\.local\s+password: (\S+)", demo)
        assert password and admin
        proc = serve(work, port)
        try:
            results = measure(
                f"http://127.0.0.1:{port}", password.group(1), admin.group(1), args.runs, proc.pid
            )
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"load average after the run: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(f"{'page':<32}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'cpu ms':>9}")
    for path, p50, p95, worst, cpu in results:
        shown = re.sub(r"ord_\w+", "ord_…", path)
        print(f"{shown:<32}{p50:>9.1f}{p95:>9.1f}{worst:>9.1f}{cpu:>9.1f}")


if __name__ == "__main__":
    main()
