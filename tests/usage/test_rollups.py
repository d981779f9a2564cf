"""Roll-up deltas of a batch (R11.3): keys in the deployment timezone, what each counter counts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage import rollups
from torouter.usage.histogram import bucket_of
from torouter.usage.rollups import DAILY, aggregate, local_day, local_hour

UTC = dt.UTC
T = dt.datetime(2026, 3, 10, 23, 40, tzinfo=UTC)
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=UTC)
M = {name: i for i, name in enumerate(DAILY.measures)}


def row(at: dt.datetime = T, **extra: Any) -> dict[str, Any]:
    return {
        "created_at": at,
        "user_id": 1,
        "key_id": 2,
        "model_requested": "gpt",
        "channel_id": 7,
        "status": 200,
        "outcome": "success",
        "input_tokens": 100,
        "cache_read_tokens": 10,
        "cache_write_5m_tokens": 5,
        "cache_write_1h_tokens": 1,
        "output_tokens": 50,
        "reasoning_tokens": 20,
        "cost_nusd": 1_000,
        "latency_ms": 1200,
        "ttft_ms": 300,
        **extra,
    }


def test_local_day_and_hour() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: local hours start at :30 UTC
    assert local_day(T, kolkata) == "2026-03-11"
    assert local_hour(T, kolkata) == dt.datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert local_day(T, UTC) == "2026-03-10"
    assert local_hour(T, UTC) == dt.datetime(2026, 3, 10, 23, tzinfo=UTC)
    # New York's fall-back fold: 01:00-02:00 local happens twice; two distinct hours.
    ny = ZoneInfo("America/New_York")
    first = dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert local_hour(first, ny) == dt.datetime(2026, 11, 1, 5, tzinfo=UTC)
    assert local_hour(second, ny) == dt.datetime(2026, 11, 1, 6, tzinfo=UTC)


def test_counters_per_outcome_and_kind() -> None:
    rows = [
        row(),
        row(latency_ms=5000, ttft_ms=None),
        row(outcome="upstream_error", status=502, cost_nusd=0, input_tokens=0, latency_ms=90),
        row(outcome="partial", cost_nusd=300),
        row(outcome="refused", status=429, cost_nusd=0, input_tokens=0, channel_id=None),
        row(outcome="client_cancelled", cost_nusd=40),
    ]
    batch = aggregate(rows, UTC, hourly_from=LONG_AGO)
    (key,) = batch.daily
    assert key == ("2026-03-10", 1, 2, "gpt")
    acc = batch.daily[key]
    assert acc[M["requests"]] == 6
    assert acc[M["successes"]] == 2
    assert acc[M["failures"]] == 2  # upstream_error and partial
    assert acc[M["refused"]] == 1
    assert acc[M["cost_nusd"]] == 2_000 + 300 + 40
    assert acc[M["input_tokens"]] == 400
    assert acc[M["reasoning_tokens"]] == 120
    # Latency and TTFT of successes only.
    lat = acc[M["latency_b00"] : M["latency_b00"] + 24]
    ttft = acc[M["ttft_b00"] : M["ttft_b00"] + 24]
    assert sum(lat) == 2 and lat[bucket_of(1200)] == 1 and lat[bucket_of(5000)] == 1
    assert sum(ttft) == 1 and ttft[bucket_of(300)] == 1
    assert batch.hourly[(dt.datetime(2026, 3, 10, 23, tzinfo=UTC), 1, 2, "gpt")] == acc
    # The admin roll-up splits by channel, outcome and status.
    assert set(batch.channel) == {
        ("2026-03-10", "gpt", 7, "success", 200),
        ("2026-03-10", "gpt", 7, "upstream_error", 502),
        ("2026-03-10", "gpt", 7, "partial", 200),
        ("2026-03-10", "gpt", 0, "refused", 429),
        ("2026-03-10", "gpt", 7, "client_cancelled", 200),
    }
    ok = batch.channel[("2026-03-10", "gpt", 7, "success", 200)]
    c = {name: i for i, name in enumerate(rollups.CHANNEL.measures)}
    assert ok[c["requests"]] == 2 and ok[c["cost_nusd"]] == 2_000 and ok[c["output_tokens"]] == 100


def test_keys_split_by_day_user_key_model_in_the_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    rows = [
        row(),  # 2026-03-11 05:10 in Kolkata
        row(at=T - dt.timedelta(hours=1)),  # 04:10, same day
        row(at=T - dt.timedelta(hours=6)),  # 2026-03-10 23:10 local: the day before
        row(user_id=None, key_id=None, model_requested=None),
        row(key_id=3),
        row(model_requested="claude"),
    ]
    batch = aggregate(rows, kolkata, hourly_from=LONG_AGO)
    assert {k: v[M["requests"]] for k, v in batch.daily.items()} == {
        ("2026-03-11", 1, 2, "gpt"): 2,
        ("2026-03-10", 1, 2, "gpt"): 1,
        ("2026-03-11", 0, 0, ""): 1,
        ("2026-03-11", 1, 3, "gpt"): 1,
        ("2026-03-11", 1, 2, "claude"): 1,
    }
    h = dt.datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # local hours start at :30 UTC
    assert {k: v[M["requests"]] for k, v in batch.hourly.items()} == {
        (h, 1, 2, "gpt"): 1,
        (h - dt.timedelta(hours=1), 1, 2, "gpt"): 1,
        (h - dt.timedelta(hours=6), 1, 2, "gpt"): 1,
        (h, 0, 0, ""): 1,
        (h, 1, 3, "gpt"): 1,
        (h, 1, 2, "claude"): 1,
    }


def test_hourly_keeps_only_recent_hours() -> None:
    rows = [row(), row(at=T - dt.timedelta(hours=3))]
    batch = aggregate(rows, UTC, hourly_from=dt.datetime(2026, 3, 10, 22, tzinfo=UTC))
    assert list(batch.hourly) == [(dt.datetime(2026, 3, 10, 23, tzinfo=UTC), 1, 2, "gpt")]
    assert sum(v[M["requests"]] for v in batch.daily.values()) == 2


def test_merge_adds_batches() -> None:
    a = aggregate([row()], UTC, hourly_from=LONG_AGO)
    b = aggregate([row(), row(key_id=9)], UTC, hourly_from=LONG_AGO)
    a.merge(b)
    assert a.daily == aggregate([row(), row(), row(key_id=9)], UTC, hourly_from=LONG_AGO).daily


async def test_apply_adds_to_the_stored_rollups_on_both_databases(db: Database) -> None:
    """`apply` creates the rows it lacks and adds to those it has, every measure and key type
    (day text, hour instant, ids, model) intact: on PostgreSQL through one statement over
    column arrays, on SQLite through `executemany`."""
    rows = [
        row(),
        row(T + dt.timedelta(hours=1), key_id=3, outcome="refused"),
        row(T + dt.timedelta(hours=2), model_requested="other", channel_id=None),
    ]
    batch = aggregate(rows, ZoneInfo("Asia/Kolkata"), hourly_from=LONG_AGO)
    assert len(batch.daily) > 1 and len(batch.hourly) == 3 and len(batch.channel) == 3
    for _ in range(2):
        async with db.begin() as conn:
            await rollups.apply(conn, batch)
    async with db.connect() as conn:
        for table, part in (
            (t.usage_daily, batch.daily),
            (t.usage_hourly, batch.hourly),
            (t.usage_daily_channel, batch.channel),
        ):
            stored = {tuple(r) for r in await conn.execute(select(table))}
            assert stored == {(*k, *(2 * n for n in v)) for k, v in part.items()}, table.name
