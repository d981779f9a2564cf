"""Self-service answers to an API key (SPEC R11.6), after admission steps 1–6 only:

- `GET /v1/key` (also `/api/v1/key`): OpenRouter's key-info shape, USD as JSON numbers, plus a
  `torouter` object with the window use;
- `GET /v1/dashboard/billing/subscription`: the legacy OpenAI shape, `hard_limit_usd` = the
  effective limit;
- `GET /v1/dashboard/billing/usage?start_date&end_date`: `total_usage` in US cents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import func, select

from torouter.access.status import key_status
from torouter.asgi import Send, respond
from torouter.errors import error
from torouter.records import KeyRec, Snapshot
from torouter.state.base import StateBackend
from torouter.storage import tables as t
from torouter.storage.db import Database

__all__ = ["answer"]

_NO_STORE = ((b"cache-control", b"no-store"),)  # figures of this moment
NANO = 1_000_000_000


def usd(nusd: int | None) -> float | None:
    return None if nusd is None else round(nusd / NANO, 9)


async def answer(
    operation: str,
    *,
    snap: Snapshot,
    state: StateBackend,
    db: Database | None,
    key: KeyRec,
    query: dict[str, str],
    now: float,
    tz: ZoneInfo,
    request_id: str,
    send: Send,
) -> None:
    if operation == "billing_usage":
        body = await _usage(db, key, query, now, tz)
    else:
        status = await key_status(snap, state, key, now=now, tz=tz)
        body = _key_info(snap, status) if operation == "key_info" else _subscription(status)
    data = orjson.dumps(body)
    await respond(send, 200, data, request_id, _NO_STORE)


def _key_info(snap: Snapshot, s: dict[str, Any]) -> dict[str, Any]:
    k = s["key"]
    group = snap.groups.get(k["group_id"])
    quota = s["limits"]["quota_nusd"]
    per = s["periods"]
    rpm = s["limits"]["rpm"]
    return {
        "data": {
            "label": k["name"],
            "limit": usd(quota) if quota else None,
            "limit_remaining": usd(s["effective_limit_nusd"]),
            "limit_reset": None,
            "usage": usd(s["spend_nusd"]),
            "usage_daily": usd(per["day"]["spend_nusd"]),
            "usage_weekly": usd(per["week"]["spend_nusd"]),
            "usage_monthly": usd(per["month"]["spend_nusd"]),
            "is_free_tier": bool(group is not None and group.multiplier == 0),
            "is_provisioning_key": False,
            "include_byok_in_limit": False,
            "byok_usage": 0,
            "rate_limit": {"requests": rpm, "interval": "1m"} if rpm else None,
            "expires_at": _iso(k["expires_at"]),
            "torouter": {
                "name": k["name"],
                "mask": k["mask"],
                "group": k["group"],
                "billing_type": k["billing_type"],
                "windows": s["windows"],
                "limits": {
                    name: (usd(v) if name.endswith("_nusd") else v)
                    for name, v in s["limits"].items()
                },
                "budgets": {
                    kind: {
                        "budget": usd(p["budget_nusd"]) if p["budget_nusd"] else None,
                        "spend": usd(p["spend_nusd"]),
                        "resets_at": _iso(p["reset_at"]),
                    }
                    for kind, p in per.items()
                },
                "balance": usd(s["balance"]["balance_nusd"]) if s["balance"] else None,
                "subscription": _sub(s["subscription"]),
                "effective_limit": usd(s["effective_limit_nusd"]),
            },
        }
    }


def _sub(sub: dict[str, Any] | None) -> dict[str, Any] | None:
    if sub is None:
        return None
    return {
        "state": sub["state"],
        "expires_at": _iso(sub["expires_at"]),
        "auto_renew": sub["auto_renew"],
        "windows": {
            kind: {
                "cap": usd(w["cap_nusd"]) if w["cap_nusd"] else None,
                "used": usd(w["used_nusd"]),
                "resets_at": _iso(w["reset_at"]),
            }
            for kind, w in sub["windows"].items()
        },
    }


def _subscription(s: dict[str, Any]) -> dict[str, Any]:
    limit = usd(s["effective_limit_nusd"])
    if limit is None:
        limit = 100_000_000.0  # no limit at all: a large number, as clients expect one
    sub = s["subscription"]
    until = sub["expires_at"] if sub else s["key"]["expires_at"]
    return {
        "object": "billing_subscription",
        "has_payment_method": True,
        "soft_limit_usd": limit,
        "hard_limit_usd": limit,
        "system_hard_limit_usd": limit,
        "access_until": int(until or 0),
    }


async def _usage(
    db: Database | None, key: KeyRec, query: dict[str, str], now: float, tz: ZoneInfo
) -> dict[str, Any]:
    today = dt.datetime.fromtimestamp(now, tz).date()
    try:
        start = dt.date.fromisoformat(query.get("start_date") or today.replace(day=1).isoformat())
        end = dt.date.fromisoformat(
            query.get("end_date") or (today + dt.timedelta(days=1)).isoformat()
        )
    except ValueError:
        raise error(
            "E16", "start_date and end_date must be YYYY-MM-DD", param="start_date"
        ) from None
    total = 0
    if db is not None and end > start:
        u = t.usage_logs.c
        q = select(func.coalesce(func.sum(u.cost_nusd), 0)).where(
            u.key_id == key.id,
            u.created_at >= dt.datetime(start.year, start.month, start.day, tzinfo=tz),
            u.created_at < dt.datetime(end.year, end.month, end.day, tzinfo=tz),
        )
        async with db.connect() as conn:
            total = int((await conn.execute(q)).scalar_one())
    return {"object": "list", "total_usage": round(total / 10_000_000, 7)}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
