"""Roll-ups of the usage log (SPEC R11.3), kept by the usage writer itself.

The writer aggregates each batch in Python (`aggregate`, pure) and adds it to three tables in
the transaction that inserts the rows (`apply`), so a roll-up never counts a row the log lacks
or misses one it has, and nothing ever reads the log a second time:

    usage_daily          (day, user, key, model)        kept past retention: charts, summaries
    usage_hourly         (hour, user, key, model)       last 48 h: 24-hour success rate, p50s
    usage_daily_channel  (day, model, channel, outcome, status)   the admin-only filters

Days and hours are those of the deployment timezone; an hour is stored as the UTC instant its
local hour starts, so half-hour zones and DST folds stay exact. Rows replayed from the journal
are skipped by admission id before they get here, so a replay never counts twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torouter.storage import tables as t
from torouter.storage.bulk import BulkUpsert
from torouter.usage.histogram import BUCKETS, bucket_of

__all__ = [
    "HOURLY_KEEP",
    "TOKEN_KINDS",
    "RollupBatch",
    "aggregate",
    "apply",
    "local_day",
    "local_hour",
]

HOURLY_KEEP = dt.timedelta(hours=48)

TOKEN_KINDS = t.TOKEN_COLUMNS
FAILURES = frozenset({"upstream_error", "failed", "partial"})

DAILY = BulkUpsert(t.usage_daily)
HOURLY = BulkUpsert(t.usage_hourly)
CHANNEL = BulkUpsert(t.usage_daily_channel)

# Positions in a per-user accumulator (the measure columns of usage_daily, in table order).
_M = {name: i for i, name in enumerate(DAILY.measures)}
_REQ, _OK, _FAIL, _REFUSED = _M["requests"], _M["successes"], _M["failures"], _M["refused"]
_COST = _M["cost_nusd"]
_LAT0, _TTFT0 = _M["latency_b00"], _M["ttft_b00"]
assert DAILY.measures == HOURLY.measures, "daily and hourly roll-ups share their measures"
assert _TTFT0 - _LAT0 == BUCKETS == t.ROLLUP_BUCKETS

_C = {name: i for i, name in enumerate(CHANNEL.measures)}
_C_REQ, _C_COST = _C["requests"], _C["cost_nusd"]
_TOKEN_POSITIONS = tuple((kind, _M[kind], _C[kind]) for kind in TOKEN_KINDS)


def local_day(at: dt.datetime, zone: dt.tzinfo) -> str:
    return at.astimezone(zone).date().isoformat()


def local_hour(at: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The UTC instant at which the local hour containing `at` started."""
    local = at.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)


@dataclass(slots=True)
class RollupBatch:
    daily: dict[tuple[str, int, int, str], list[int]] = field(default_factory=dict)
    hourly: dict[tuple[dt.datetime, int, int, str], list[int]] = field(default_factory=dict)
    channel: dict[tuple[str, str, int, str, int], list[int]] = field(default_factory=dict)

    def merge(self, other: RollupBatch) -> None:
        _add(self.daily, other.daily)
        _add(self.hourly, other.hourly)
        _add(self.channel, other.channel)


def _add(mine: dict[Any, list[int]], theirs: dict[Any, list[int]]) -> None:
    for k, v in theirs.items():
        acc = mine.get(k)
        if acc is None:
            mine[k] = list(v)
        else:
            for i, n in enumerate(v):
                acc[i] += n


def aggregate(
    rows: Iterable[Mapping[str, Any]], zone: dt.tzinfo, *, hourly_from: dt.datetime
) -> RollupBatch:
    """Sum `rows` (usage rows with an aware `created_at`) into roll-up deltas.

    Hourly deltas are kept only for hours starting at or after `hourly_from` (older rows,
    e.g. a late journal replay, would be pruned at once). Latency and TTFT are bucketed for
    successful requests only: a refusal's or failure's duration says nothing of the model.
    """
    out = RollupBatch()
    daily, hourly, channel = out.daily, out.hourly, out.channel
    width = len(DAILY.measures)
    c_width = len(CHANNEL.measures)
    # quarter hour → (local day, local hour, whether that hour is kept)
    slots: dict[int, tuple[str, dt.datetime, bool]] = {}
    # The writer runs this per row (on the gateway's loop, or its own thread): each row's
    # amounts go straight into its two or three accumulators, no per-row lists or lookups.
    for r in rows:
        at: dt.datetime = r["created_at"]
        slot = int(at.timestamp()) // 900  # every zone's offset is a multiple of 15 minutes
        place = slots.get(slot)
        if place is None:
            hour_of = local_hour(at, zone)
            place = slots[slot] = (local_day(at, zone), hour_of, hour_of >= hourly_from)
        day, hour, keep_hour = place
        get = r.get
        user, key, model = get("user_id") or 0, get("key_id") or 0, get("model_requested") or ""
        outcome = r["outcome"]
        cost = get("cost_nusd") or 0
        d = daily.get((day, user, key, model))
        if d is None:
            d = daily[(day, user, key, model)] = [0] * width
        h: list[int] | None = None
        if keep_hour:
            h = hourly.get((hour, user, key, model))
            if h is None:
                h = hourly[(hour, user, key, model)] = [0] * width
        ck = (day, model, get("channel_id") or 0, outcome, int(get("status") or 0))
        c = channel.get(ck)
        if c is None:
            c = channel[ck] = [0] * c_width
        d[_REQ] += 1
        d[_COST] += cost
        c[_C_REQ] += 1
        c[_C_COST] += cost
        if h is not None:
            h[_REQ] += 1
            h[_COST] += cost
        for kind, i, ci in _TOKEN_POSITIONS:
            n = get(kind)
            if n:
                d[i] += n
                c[ci] += n
                if h is not None:
                    h[i] += n
        if outcome == "success":
            m = _OK
            lat = get("latency_ms")
            ttft = get("ttft_ms")
            lat_i = -1 if lat is None else _LAT0 + bucket_of(lat)
            ttft_i = -1 if ttft is None else _TTFT0 + bucket_of(ttft)
        else:
            lat_i = ttft_i = -1
            if outcome in FAILURES:
                m = _FAIL
            elif outcome == "refused":
                m = _REFUSED
            else:
                continue  # cancelled and tests count as requests only
        d[m] += 1
        if lat_i >= 0:
            d[lat_i] += 1
        if ttft_i >= 0:
            d[ttft_i] += 1
        if h is not None:
            h[m] += 1
            if lat_i >= 0:
                h[lat_i] += 1
            if ttft_i >= 0:
                h[ttft_i] += 1
    return out


async def apply(conn: Any, batch: RollupBatch) -> None:
    """Add `batch` to the roll-up tables on `conn`, inside the caller's transaction: one
    statement per table (`BulkUpsert`: over column arrays on PostgreSQL)."""
    for upsert, part in ((DAILY, batch.daily), (HOURLY, batch.hourly), (CHANNEL, batch.channel)):
        await upsert.run(conn, [(*k, *v) for k, v in part.items()])
