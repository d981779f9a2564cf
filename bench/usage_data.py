"""Generate a large usage history for the usage-view benchmarks (issue 14, SPEC R11.3).

    .venv/bin/python bench/usage_data.py --db URL [--rows 1000000] [--keys 1000] [--users 100]

Into a fresh database (SQLite file or PostgreSQL; migrated here): one group, 12 models, 6
channels, `--users` users with `--keys` keys between them, `--rows` usage rows spread over the
last `--days` days up to now (oldest first, as a gateway writes them), the roll-ups of those
rows (through the writer's own `rollups.aggregate`/`apply`, so they are exactly what the
writer would have kept), and the ledger the writer would have written (one `usage` entry per
user per 10-minute batch, after a top-up). Rows are inserted in large transactions with the
writer's compiled bulk insert. Distributions: 94 % success, 2 % upstream errors, 2 %
refusals, 1 % partial streams, 1 % client cancellations; log-normal tokens and latencies;
5 % of requests fail over once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import random
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

MODELS = [
    ("gpt-4o", "2.5", "10"),
    ("gpt-4o-mini", "0.15", "0.6"),
    ("gpt-4.1", "2", "8"),
    ("o3", "2", "8"),
    ("o4-mini", "1.1", "4.4"),
    ("claude-sonnet-4", "3", "15"),
    ("claude-haiku-3.5", "0.8", "4"),
    ("claude-opus-4", "15", "75"),
    ("gemini-2.5-pro", "1.25", "10"),
    ("gemini-2.5-flash", "0.3", "2.5"),
    ("deepseek-v3", "0.27", "1.1"),
    ("text-embedding-3-small", "0.02", "0"),
]
WEIGHTS = [30, 25, 8, 5, 6, 12, 4, 1, 4, 8, 3, 2]
CHANNELS = 6
OUTCOMES = [
    ("success", 200, 94),
    ("upstream_error", 502, 2),
    ("refused", 429, 2),
    ("partial", 200, 1),
    ("client_cancelled", 499, 1),
]
AGENTS = ["openai-python/1.99.1", "anthropic-typescript/0.60.0", "curl/8.5.0", "claude-cli/1.0"]


class RowMaker:
    """Rows shaped like the gateway's (`gateway/entry.py` `_record`), reproducibly."""

    def __init__(self, keys: list[tuple[int, int, str]], seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.keys = keys  # (key id, user id, key name)
        self.models = [m for m, _, _ in MODELS]
        self.prices = {
            m: {"input": i, "output": o} if o != "0" else {"input": i} for m, i, o in MODELS
        }
        self.outcomes = [o for o, _, _ in OUTCOMES]
        self.status = {o: s for o, s, _ in OUTCOMES}
        self.outcome_weights = [w for _, _, w in OUTCOMES]
        # Each key sticks to a few models; each model to a channel (+ a failover one).
        self.key_models = {k[0]: self.rng.choices(self.models, WEIGHTS, k=3) for k in keys}
        # Busy and quiet keys: the k-th busiest gets weight 1/k^0.7 (the busiest key sends
        # ~1.5 % of all requests, the median one ~0.06 %), in a shuffled order.
        order = list(range(len(keys)))
        self.rng.shuffle(order)
        weights = [1 / (1 + rank) ** 0.7 for rank in order]
        self.cum = list(itertools.accumulate(weights))

    def row(self, n: int, at: float) -> dict[str, Any]:
        rng = self.rng
        key_id, user_id, key_name = rng.choices(self.keys, cum_weights=self.cum)[0]
        model = rng.choice(self.key_models[key_id])
        outcome = rng.choices(self.outcomes, self.outcome_weights)[0]
        charged = outcome in ("success", "partial", "client_cancelled")
        refused = outcome == "refused"
        stream = rng.random() < 0.6
        inp = int(rng.lognormvariate(7.2, 1.0)) if charged else 0
        out = int(rng.lognormvariate(5.5, 1.0)) if charged else 0
        cached = int(inp * rng.random() * 0.5) if charged and rng.random() < 0.3 else 0
        latency = int(rng.lognormvariate(7.0, 0.7)) if not refused else rng.randint(0, 3)
        channel = 1 + (self.models.index(model) % CHANNELS)
        chain: list[dict[str, Any]] = []
        if not refused:
            if rng.random() < 0.05:
                alt = 1 + channel % CHANNELS
                chain.append(
                    {"channel_id": alt, "status": 500, "class": "server", "latency_ms": 80}
                )
            ok = outcome != "upstream_error"
            chain.append(
                {
                    "channel_id": channel,
                    "status": 200 if ok else 502,
                    "class": "success" if ok else "server",
                    "latency_ms": latency,
                }
            )
        prices = self.prices[model]
        cost = inp * int(float(prices["input"]) * 1000) + out * int(
            float(prices.get("output", "0")) * 1000
        )
        return {
            "admission_id": f"bench-{n}",
            "created_at": at,
            "request_id": f"req-{n:08x}",
            "upstream_request_id": f"chatcmpl-{n:x}" if not refused else None,
            "user_id": user_id,
            "key_id": key_id,
            "key_name": key_name,
            "group_id": 1,
            "model_requested": model,
            "model_upstream": model if not refused else None,
            "endpoint": "chat",
            "stream": stream,
            "status": self.status[outcome],
            "outcome": outcome,
            "error_code": "RATE_LIMITED" if refused else None,
            "channel_id": None if refused else channel,
            "attempts": len(chain),
            "attempt_chain": chain,
            "latency_ms": latency,
            "ttft_ms": int(latency * rng.uniform(0.1, 0.5)) if stream and charged else None,
            "input_tokens": inp,
            "cache_read_tokens": cached,
            "output_tokens": out,
            "reasoning_tokens": out // 3 if model.startswith("o") else 0,
            "cost_nusd": cost if charged else 0,
            "estimated": False,
            "client_ip": f"10.{user_id % 250}.{key_id % 250}.{n % 250}",
            "user_agent": AGENTS[key_id % len(AGENTS)],
            "estimate_nusd": None if refused else cost + 50_000,
            "price_multiplier": None if refused else "1",
            "unit_prices": None if refused else prices,
        }


async def seed_catalog(db: Any, users: int, keys: int) -> list[tuple[int, int, str]]:
    """Group, models, channels, users and keys; returns (key id, user id, key name)."""
    from sqlalchemy import insert

    from torouter.storage import tables as t

    now = dt.datetime.now(dt.UTC)
    async with db.begin() as conn:
        await conn.execute(insert(t.groups).values(id=1, name="default", created_at=now))
        await conn.execute(
            insert(t.models),
            [
                {"id": m, "price_input": i, "price_output": o, "endpoints": ["chat"]}
                for m, i, o in MODELS
            ],
        )
        await conn.execute(
            insert(t.channels),
            [
                {"id": c, "name": f"channel-{c}", "platform": "openai", "created_at": now}
                for c in range(1, CHANNELS + 1)
            ],
        )
        await conn.execute(
            insert(t.users),
            [
                {
                    "id": u,
                    "email": f"user{u}@example.com",
                    "state": "active",
                    "role": "admin" if u == 1 else "user",
                    "created_at": now,
                }
                for u in range(1, users + 1)
            ],
        )
        out = []
        values = []
        for k in range(1, keys + 1):
            user = 1 + (k - 1) % users
            out.append((k, user, f"key-{k}"))
            values.append(
                {
                    "id": k,
                    "user_id": user,
                    "group_id": 1,
                    "name": f"key-{k}",
                    "key_hash": f"{k:064x}",
                    "mask": "sk-…",
                    "created_at": now,
                }
            )
        await conn.execute(insert(t.api_keys), values)
    return out


def _bulk(table: Any) -> Any:
    """The writer's compiled insert for `table`, with the columns' scalar defaults."""
    from torouter.storage.bulk import BulkInsert

    cols = [c for c in table.columns if c.name != "id"]
    defaults = {
        c.name: c.default.arg if c.default is not None and c.default.is_scalar else None
        for c in cols
    }
    return BulkInsert(table, [c.name for c in cols], defaults)


async def generate(url: str, rows: int, keys: int, users: int, days: int, seed: int) -> None:
    from sqlalchemy import update

    from torouter.storage import tables as t
    from torouter.storage.db import Database
    from torouter.storage.migrate import upgrade
    from torouter.usage import rollups

    db = Database(url)
    started = time.perf_counter()
    await upgrade(db)
    key_rows = await seed_catalog(db, users, keys)
    maker = RowMaker(key_rows, seed)
    bulk = _bulk(t.usage_logs)
    ledger_bulk = _bulk(t.ledger)
    now = dt.datetime.now(dt.UTC)
    start = now.timestamp() - days * 86_400
    step = days * 86_400 / rows
    hourly_from = rollups.local_hour(now - rollups.HOURLY_KEEP, dt.UTC)
    totals = rollups.RollupBatch()
    topup = 10**15  # 1,000,000 USD each
    balance = dict.fromkeys(range(1, users + 1), topup)
    spend: dict[int, int] = {}
    window: dict[int, int] = {}
    window_start = 0
    ledger_rows: list[dict[str, Any]] = [
        {
            "user_id": u,
            "amount_nusd": topup,
            "reason": "topup",
            "reference": f"ord_bench{u:06d}",
            "actor": "stripe",
            "balance_after_nusd": topup,
            "created_at": dt.datetime.fromtimestamp(start - 60, dt.UTC),
        }
        for u in balance
    ]
    chunk = 20_000
    for first in range(0, rows, chunk):
        batch = []
        for n in range(first, min(first + chunk, rows)):
            at = start + n * step + maker.rng.random() * step
            r = maker.row(n, at)
            r["created_at"] = dt.datetime.fromtimestamp(at, dt.UTC)
            batch.append(r)
            # The writer's ledger: one usage entry per user per batch (10 minutes here).
            slot = int(at // 600)
            if slot != window_start:
                for u, amount in sorted(window.items()):
                    balance[u] -= amount
                    ledger_rows.append(
                        {
                            "user_id": u,
                            "amount_nusd": -amount,
                            "reason": "usage",
                            "reference": f"usage:bench{window_start}:{u}",
                            "actor": "gateway",
                            "balance_after_nusd": balance[u],
                            "created_at": dt.datetime.fromtimestamp(
                                window_start * 600 + 599, dt.UTC
                            ),
                        }
                    )
                window, window_start = {}, slot
            if r["cost_nusd"]:
                window[r["user_id"]] = window.get(r["user_id"], 0) + r["cost_nusd"]
            spend[r["key_id"]] = spend.get(r["key_id"], 0) + r["cost_nusd"]
        totals.merge(rollups.aggregate(batch, dt.UTC, hourly_from=hourly_from))
        async with db.begin() as conn:
            await bulk.run(conn, batch)
            if len(ledger_rows) > 5_000:
                await ledger_bulk.run(conn, ledger_rows)
                ledger_rows = []
        done = min(first + chunk, rows)
        rate = done / (time.perf_counter() - started)
        print(f"\r{done:,} rows ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    async with db.begin() as conn:
        await ledger_bulk.run(conn, ledger_rows)
        for u, b in balance.items():
            await conn.execute(update(t.users).where(t.users.c.id == u).values(balance_nusd=b))
        for k, s in spend.items():
            await conn.execute(update(t.api_keys).where(t.api_keys.c.id == k).values(spend_nusd=s))
    # The roll-ups, in slices (executemany of a few thousand rows each).
    for name in ("daily", "hourly", "channel"):
        items = list(getattr(totals, name).items())
        for i in range(0, len(items), 5_000):
            part = rollups.RollupBatch(**{name: dict(items[i : i + 5_000])})
            async with db.begin() as conn:
                await rollups.apply(conn, part)
    if not db.is_sqlite:
        # What autovacuum does after a bulk load anyway; SQLite gets no ANALYZE: the gateway
        # never runs one, so its planner works from the schema alone, as in production.
        async with db.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    took = time.perf_counter() - started
    print(
        f"{rows:,} rows, {keys:,} keys, {users:,} users, {len(totals.daily):,} daily / "
        f"{len(totals.hourly):,} hourly / {len(totals.channel):,} channel roll-ups in {took:.1f} s "
        f"({rows / took:,.0f} rows/s)"
    )
    await db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True, help="SQLAlchemy async URL of an empty database")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--keys", type=int, default=1_000)
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    asyncio.run(generate(a.db, a.rows, a.keys, a.users, a.days, a.seed))


if __name__ == "__main__":
    main()
