"""`GET /api/me/key`: the calling API key's limits, spend and window use (R11.6).

The management API's answer to an API key (`Authorization: Bearer sk-…`), for scripts and
tools that hold a key but no session. The numbers are the gateway's own: the same computation
as the gateway's `GET /v1/key` (`access.status.key_status`, over the snapshot and the state
backend), here in this API's conventions (R16.4): money as nUSD integers with a `_usd` string
beside each, times as RFC 3339. The last 30 days' spend and today's requests come from the
usage log (settled requests).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from torouter.access.status import key_status
from torouter.api.changes import deployment_zone, now
from torouter.api.deps import Deps
from torouter.api.key_auth import ApiKeyCaller
from torouter.api.schemas import ApiModel, ErrorEnvelope, Timestamp, Usd
from torouter.api.windows import KeyStats, calendar_windows, key_stats

__all__ = ["KeyInfo", "key_info", "router"]

router = APIRouter(tags=["me"])


class EffectiveLimits(ApiModel):
    """The limits in force: the key's own, else its group's default (R7.2, R7.6); 0 = off."""

    quota_nusd: int = Field(description="Lifetime spend cap of the key")
    quota_usd: Usd
    requests_5h: int
    requests_1d: int
    requests_7d: int
    rpm: int
    tpm: int
    max_concurrency: int = Field(description="Requests in flight at once")
    budget_daily_nusd: int
    budget_daily_usd: Usd
    budget_weekly_nusd: int
    budget_weekly_usd: Usd
    budget_monthly_nusd: int
    budget_monthly_usd: Usd
    expires_at: Timestamp | None = Field(description="Null: never")


class Spend(ApiModel):
    total_nusd: int = Field(description="Everything the key has spent")
    total_usd: Usd
    in_flight_nusd: int = Field(description="Held by the key's requests in flight")
    in_flight_usd: Usd
    today_nusd: int = Field(description="This calendar day (deployment timezone)")
    today_usd: Usd
    this_week_nusd: int = Field(description="Since Monday 00:00")
    this_week_usd: Usd
    this_month_nusd: int = Field(description="Since the 1st, 00:00")
    this_month_usd: Usd
    last_30d_nusd: int = Field(description="The last 30 days, settled requests")
    last_30d_usd: Usd
    requests_today: int = Field(description="Requests settled today")
    quota_remaining_nusd: int | None = Field(description="Null: the key has no quota")
    quota_remaining_usd: Usd | None


class BudgetUse(ApiModel):
    """One calendar budget of the key (day, week or month)."""

    budget_nusd: int | None = Field(description="Null: no budget (spend is still tracked)")
    budget_usd: Usd | None
    spend_nusd: int
    spend_usd: Usd
    in_flight_nusd: int
    in_flight_usd: Usd
    resets_at: Timestamp


class WindowUse(ApiModel):
    """A request or token window (R7.5): how much of its limit is used now."""

    limit: int
    used: int
    resets_in_s: float = Field(description="Seconds until the oldest use leaves the window")


class BalanceUse(ApiModel):
    balance_nusd: int = Field(description="The owner's prepaid balance")
    balance_usd: Usd
    in_flight_nusd: int = Field(description="Held by the owner's requests in flight")
    in_flight_usd: Usd


class SubscriptionWindow(ApiModel):
    cap_nusd: int | None = Field(description="Null: no cap in this window")
    cap_usd: Usd | None
    used_nusd: int
    used_usd: Usd
    in_flight_nusd: int
    in_flight_usd: Usd
    resets_at: Timestamp


class SubscriptionUse(ApiModel):
    id: int
    plan_id: int
    state: str
    starts_at: Timestamp
    expires_at: Timestamp
    auto_renew: bool
    windows: dict[Literal["day", "week", "month"], SubscriptionWindow]


class KeyInfo(ApiModel):
    """The calling key: who it is, what limits it, what it spent, what is left."""

    id: int
    name: str
    mask: str
    status: str
    group_id: int
    group: str | None = Field(description="The group's name")
    billing_type: Literal["balance", "subscription"]
    limits: EffectiveLimits
    spend: Spend
    budgets: dict[Literal["day", "week", "month"], BudgetUse]
    windows: dict[str, WindowUse] = Field(
        description="The enabled windows by the name `x-torouter-limit` uses: `key_5h`, "
        "`key_1d`, `key_7d`, `key_rpm`, `key_tpm`"
    )
    balance: BalanceUse | None = Field(description="Balance groups only")
    subscription: SubscriptionUse | None = Field(description="Subscription groups only")
    effective_limit_nusd: int | None = Field(
        description="The most the next requests can spend: the smallest room left of the "
        "quota, the budgets, the subscription windows and the balance; null: no limit"
    )
    effective_limit_usd: Usd | None


def _at(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)


def key_info(status: dict[str, Any], stats: KeyStats) -> KeyInfo:
    """`key_status` (nUSD, unix seconds) and the usage-log figures as the API's answer."""
    key, periods = status["key"], status["periods"]
    sub = status["subscription"]
    return KeyInfo.model_validate(
        {
            **{f: key[f] for f in ("id", "name", "mask", "status", "group_id", "group")},
            "billing_type": key["billing_type"],
            "limits": {**status["limits"], "expires_at": _at(key["expires_at"])},
            "spend": {
                "total_nusd": status["spend_nusd"],
                "in_flight_nusd": status["in_flight_nusd"],
                "today_nusd": periods["day"]["spend_nusd"],
                "this_week_nusd": periods["week"]["spend_nusd"],
                "this_month_nusd": periods["month"]["spend_nusd"],
                "last_30d_nusd": stats.spend_30d_nusd,
                "requests_today": stats.requests_today,
                "quota_remaining_nusd": status["quota_remaining_nusd"],
            },
            "budgets": {
                kind: {
                    "budget_nusd": p["budget_nusd"] or None,
                    "spend_nusd": p["spend_nusd"],
                    "in_flight_nusd": p["in_flight_nusd"],
                    "resets_at": _at(p["reset_at"]),
                }
                for kind, p in periods.items()
            },
            "windows": {
                name: {"limit": w["limit"], "used": w["used"], "resets_in_s": w["reset_s"]}
                for name, w in status["windows"].items()
            },
            "balance": status["balance"],
            "subscription": None
            if sub is None
            else {
                **sub,
                "starts_at": _at(sub["starts_at"]),
                "expires_at": _at(sub["expires_at"]),
                "windows": {
                    kind: {
                        "cap_nusd": w["cap_nusd"] or None,
                        "used_nusd": w["used_nusd"],
                        "in_flight_nusd": w["in_flight_nusd"],
                        "resets_at": _at(w["reset_at"]),
                    }
                    for kind, w in sub["windows"].items()
                },
            },
            "effective_limit_nusd": status["effective_limit_nusd"],
        }
    )


@router.get(
    "/key",
    response_model=KeyInfo,
    responses={
        400: {"model": ErrorEnvelope},
        401: {"model": ErrorEnvelope},
        403: {"model": ErrorEnvelope},
        429: {"model": ErrorEnvelope},
    },
    summary="The calling API key: limits, spend and window use",
    description="Authenticated by the API key itself (`Authorization: Bearer sk-…`), not a "
    "session: a key that the gateway would refuse is refused here with the same code "
    "(401 `API_KEY_REQUIRED`, `INVALID_API_KEY`, `API_KEY_DISABLED`, `USER_NOT_FOUND`, "
    "`USER_INACTIVE`; 403 `API_KEY_EXPIRED`, `ACCESS_DENIED`). The gateway's `GET /v1/key` "
    "shows the same figures in OpenRouter's shape.",
)
async def get_key_info(deps: Deps, caller: ApiKeyCaller, response: Response) -> KeyInfo:
    at = now(deps)
    zone = deployment_zone(deps)
    status = await key_status(
        deps.snapshot.current, deps.ledger.state, caller.key, now=at.timestamp(), tz=zone
    )
    day = calendar_windows(at, zone).day
    async with deps.db.connect() as conn:
        stats = await key_stats(conn, [caller.key.id], day_start=day, now=at, zone=zone)
    response.headers["cache-control"] = "no-store"
    return key_info(status, stats.get(caller.key.id, KeyStats()))
