"""`GET /api/me/dashboard`: everything the console's dashboard draws, in one call (SPEC R15.1,
R15.4): balance and runway, 30 days of spend, top models, recent requests, per-model health
over 24 hours, and every window against its cap (keys and subscriptions).

Each part is one indexed read: balance and runway from the user row and the ledger, the
series and top models from the daily roll-ups, the health from the hourly ones, recent
requests from the log's (user, created_at) index; window use comes live from the state
backend (what the gateway admits against, in-flight reservations included).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.access import limits as lim
from torouter.access.status import key_status
from torouter.api.auth import SessionUser
from torouter.api.changes import deployment_zone, now
from torouter.api.deps import ApiDeps, Deps
from torouter.api.me.balance import BalanceRead
from torouter.api.schemas import ApiModel, Timestamp, Usd
from torouter.api.usage_schemas import DailyPointRead, ModelRowRead
from torouter.api.usage_views import daily_read, range_of, summary_read
from torouter.billing import runway as rw
from torouter.billing.ledger import balance_counter
from torouter.errors import error
from torouter.storage.tables import api_keys, users
from torouter.usage import logs, summaries
from torouter.usage.filters import UsageFilter
from torouter.usage.rollups import local_hour
from torouter.usage.summaries import DayPoint, ModelHealth, Summary

__all__ = ["DashboardRead", "router"]

router = APIRouter(tags=["me"])

T = TypeVar("T")
RECENT = 10
TOP_MODELS = 5


class RunwayRead(ApiModel):
    days: float | None = Field(
        description="About how many days the balance lasts at the last 7 days' burn; null "
        "when nothing was spent from the balance in 7 days"
    )
    burn_7d_nusd: int
    burn_7d_usd: Usd
    daily_burn_nusd: int
    daily_burn_usd: Usd


class RecentRead(ApiModel):
    created_at: Timestamp
    request_id: str
    model_requested: str | None
    key_name: str | None
    input_tokens: int
    output_tokens: int
    cost_nusd: int
    cost_usd: Usd
    outcome: str


class ModelHealthRead(ApiModel):
    model: str
    requests: int
    successes: int
    failures: int
    success_rate: float | None = Field(description="successes / (successes + failures)")
    p50_latency_ms: int | None
    p95_latency_ms: int | None
    p50_ttft_ms: int | None
    p95_ttft_ms: int | None


class WindowRead(ApiModel):
    name: str = Field(description="day | week | month, or a request window (rpm, requests_5h…)")
    limit: int | None = Field(description="The cap (nUSD for money, a count otherwise); null: none")
    used: int
    in_flight: int = 0
    resets_at: Timestamp | None = None


class KeyUseRead(ApiModel):
    id: int
    name: str
    status: str
    quota_nusd: int | None = Field(description="The key's lifetime cap; null: none")
    spend_nusd: int
    spend_usd: Usd
    budgets: list[WindowRead] = Field(description="Spend per calendar period vs its budget")
    windows: list[WindowRead] = Field(description="Requests and tokens vs the key's limits")


class SubscriptionUseRead(ApiModel):
    id: int
    group_id: int
    plan_id: int | None
    state: str
    expires_at: Timestamp
    windows: list[WindowRead] = Field(description="Spend per calendar period vs the plan's caps")


class DashboardRead(ApiModel):
    balance: BalanceRead
    runway: RunwayRead
    low_balance_threshold_nusd: int | None
    low_balance_threshold_usd: Usd | None = None
    daily: list[DailyPointRead] = Field(description="The last 30 days, oldest first")
    top_models: list[ModelRowRead] = Field(description="By spend over the last 30 days")
    recent: list[RecentRead] = Field(description="The newest requests")
    model_health: list[ModelHealthRead] = Field(description="Per model over the last 24 hours")
    keys: list[KeyUseRead]
    subscriptions: list[SubscriptionUseRead]


def _at(unix: float | None) -> dt.datetime | None:
    return None if unix is None else dt.datetime.fromtimestamp(unix, dt.UTC)


async def _keys(deps: ApiDeps, conn: AsyncConnection, user_id: int, at: float) -> list[KeyUseRead]:
    c = api_keys.c
    q = select(c.id, c.key_hash).where(c.user_id == user_id, c.deleted_at.is_(None)).order_by(c.id)
    snap = deps.snapshot.current
    out = []
    for row in await conn.execute(q):
        rec = snap.keys.get(row.key_hash)
        if rec is None:
            continue  # created a moment ago: the next snapshot has it
        st = await key_status(snap, deps.ledger.state, rec, now=at, tz=deployment_zone(deps))
        budgets = [
            WindowRead(
                name=kind,
                limit=p["budget_nusd"] or None,
                used=p["spend_nusd"],
                in_flight=p["in_flight_nusd"],
                resets_at=_at(p["reset_at"]),
            )
            for kind, p in st["periods"].items()
        ]
        windows = [
            WindowRead(
                name=name,
                limit=w["limit"],
                used=w["used"],
                resets_at=_at(at + w["reset_s"]) if w["reset_s"] else None,
            )
            for name, w in st["windows"].items()
        ]
        out.append(
            KeyUseRead.model_validate(
                {
                    "id": rec.id,
                    "name": rec.name,
                    "status": rec.status,
                    "quota_nusd": rec.limits.quota_nusd or None,
                    "spend_nusd": st["spend_nusd"],
                    "budgets": budgets,
                    "windows": windows,
                }
            )
        )
    return out


async def _subscriptions(deps: ApiDeps, user_id: int, at: float) -> list[SubscriptionUseRead]:
    snap = deps.snapshot.current
    zone = deployment_zone(deps)
    out = []
    for (uid, _), sub in sorted(snap.subscriptions.items()):
        if uid != user_id or sub.state in ("cancelled", "expired") or sub.expires_at <= at:
            continue
        windows = []
        for h in lim.subscription_holds(sub, at, zone):
            used, flight = await deps.ledger.state.used(h.counter)
            windows.append(
                WindowRead(
                    name=h.label.removeprefix("sub_"),
                    limit=h.limit,
                    used=used,
                    in_flight=flight,
                    resets_at=_at(h.reset_at),
                )
            )
        out.append(
            SubscriptionUseRead(
                id=sub.id,
                group_id=sub.group_id,
                plan_id=sub.plan_id,
                state=sub.state,
                expires_at=dt.datetime.fromtimestamp(sub.expires_at, dt.UTC),
                windows=windows,
            )
        )
    return out


async def _on(deps: ApiDeps, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async with deps.db.connect() as conn:
        return await read(conn)


@router.get("/dashboard", response_model=DashboardRead, summary="My dashboard, in one call")
async def get_dashboard(deps: Deps, principal: SessionUser) -> DashboardRead:
    user_id = principal.user_id
    assert user_id is not None
    at = now(deps)
    month = range_of(deps, None, None, default_days=30)
    mine = UsageFilter(user_id=user_id)
    since = local_hour(at - dt.timedelta(hours=24), deployment_zone(deps))

    async def money(conn: AsyncConnection) -> tuple[Any, int, list[KeyUseRead]]:
        q = select(users.c.balance_nusd, users.c.low_balance_threshold_nusd)
        user = (await conn.execute(q.where(users.c.id == user_id))).first()
        burn = await rw.burn(conn, user_id, now=at)
        return user, burn, await _keys(deps, conn, user_id, at.timestamp())

    async def rollups(
        conn: AsyncConnection,
    ) -> tuple[Summary, list[DayPoint], list[ModelHealth]]:
        found, series = await summaries.overview(conn, mine, month)
        return found, series, await summaries.model_health(conn, since=since, user_id=user_id)

    async def recent(conn: AsyncConnection) -> list[RowMapping]:
        return await logs.read_page(conn, mine, None, RECENT)

    # Three independent reads on three pooled connections: their round trips overlap.
    (user, burn, keys), (found, series, health), rows = await asyncio.gather(
        _on(deps, money), _on(deps, rollups), _on(deps, recent)
    )
    if user is None:
        raise error("E19", "User not found")
    _, in_flight = await deps.ledger.state.used(balance_counter(user_id))
    reserved = max(int(in_flight), 0)
    balance = int(user.balance_nusd)
    runway = rw.runway(balance, burn)
    top = [m for m in summary_read(found).models if m.cost_nusd > 0][:TOP_MODELS]
    fields: dict[str, Any] = {
        "balance": BalanceRead.model_validate(
            {
                "balance_nusd": balance,
                "reserved_nusd": reserved,
                "available_nusd": balance - reserved,
            }
        ),
        "runway": RunwayRead.model_validate(
            {
                "days": runway.days,
                "burn_7d_nusd": runway.burn_7d_nusd,
                "daily_burn_nusd": runway.daily_burn_nusd,
            }
        ),
        "low_balance_threshold_nusd": user.low_balance_threshold_nusd,
        "daily": daily_read(series).data,
        "top_models": top,
        "recent": [RecentRead.from_row(r) for r in rows],
        "model_health": [ModelHealthRead.model_validate(h, from_attributes=True) for h in health],
        "keys": keys,
        "subscriptions": await _subscriptions(deps, user_id, at.timestamp()),
    }
    return DashboardRead.model_validate(fields)
