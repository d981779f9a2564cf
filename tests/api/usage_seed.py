"""Usage rows written the way the gateway's writer writes them (with their roll-ups), at a
clock the management API is pinned to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.api import seed
from tests.api.conftest import Api
from torouter.storage.db import Database
from torouter.usage.recorder import write_rows

# A Tuesday, 10:00 UTC; 18:00 in Shanghai.
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)

PRICED = {
    "estimate_nusd": 20_000_000,
    "price_multiplier": "1.5",
    "unit_prices": {
        "input": "10",
        "cache_read": "1",
        "cache_write_5m": "12.5",
        "cache_write_1h": "20",
        "output": "5",
    },
}
# seed.usage_row's tokens at these prices (USD per 1M tokens = nUSD per 1,000 tokens):
# 1000·10 + 10·1 + 5·12.5 + 1·20 + 500·5 = 12,592.5 per 1,000 → 12,592,500 nUSD; × 1.5.
PRICED_COST = 18_888_750


class FixedClock:
    def __init__(self, at: dt.datetime) -> None:
        self.t = at

    def now(self) -> dt.datetime:
        return self.t


def pin(api: Api, at: dt.datetime = NOW) -> None:
    """The API's "now" (day ranges, dashboard windows) is `at`."""
    api.accounts.clock = FixedClock(at)


def row(n: int, at: dt.datetime, **fields: Any) -> dict[str, Any]:
    base = seed.usage_row(n, **fields)
    base["admission_id"] = f"adm-{n}-{base['user_id']}-{at.timestamp()}"
    base["created_at"] = at
    base.setdefault("estimate_nusd", None)
    return {**base, **{k: v for k, v in fields.items() if k != "created_at"}}


async def record(db: Database, rows: list[dict[str, Any]], zone: dt.tzinfo = dt.UTC) -> int:
    """Through the usage writer: rows, ledger, roll-ups, in its transactions."""
    ready = [{**r, "created_at": r["created_at"].timestamp()} for r in rows]
    return await write_rows(db, ready, zone=zone)
