"""Plans and subscriptions (R7.7): caps are copied from the plan at purchase."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import plans, subscriptions

__all__ = [
    "SUBSCRIPTION_STATES",
    "create_plan",
    "create_subscription",
    "get_plan_by_name",
    "get_subscription",
    "plan_caps",
]

SUBSCRIPTION_STATES = ("active", "paused", "cancelled", "expired")
_CAPS = ("daily_cap_nusd", "weekly_cap_nusd", "monthly_cap_nusd")


async def create_plan(
    conn: AsyncConnection,
    *,
    name: str,
    group_id: int,
    price_nusd: int = 0,
    duration_days: int = 30,
    daily_cap_nusd: int = 0,
    weekly_cap_nusd: int = 0,
    monthly_cap_nusd: int = 0,
    max_per_user: int = 0,
    enabled: bool = True,
    managed: bool = False,
) -> int:
    plan_id: int = await insert_row(
        conn,
        plans,
        {
            "name": name,
            "group_id": group_id,
            "price_nusd": price_nusd,
            "duration_days": duration_days,
            "daily_cap_nusd": daily_cap_nusd,
            "weekly_cap_nusd": weekly_cap_nusd,
            "monthly_cap_nusd": monthly_cap_nusd,
            "max_per_user": max_per_user,
            "enabled": enabled,
            "managed": managed,
            "created_at": now(),
        },
    )
    return plan_id


async def get_plan_by_name(conn: AsyncConnection, *, name: str) -> RowMapping | None:
    return await select_one(conn, plans, {"name": name})


def plan_caps(plan: Mapping[str, Any]) -> dict[str, int]:
    return {c: int(plan[c]) for c in _CAPS}


async def create_subscription(
    conn: AsyncConnection,
    *,
    user_id: int,
    plan: Mapping[str, Any],
    starts_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    auto_renew: bool = False,
    state: str = "active",
    managed: bool = False,
) -> int:
    """Subscribe a user to a plan row; runs `duration_days` from `starts_at` unless told."""
    starts = starts_at or now()
    sub_id: int = await insert_row(
        conn,
        subscriptions,
        {
            "user_id": user_id,
            "group_id": plan["group_id"],
            "plan_id": plan["id"],
            **plan_caps(plan),
            "starts_at": starts,
            "expires_at": expires_at or starts + dt.timedelta(days=plan["duration_days"]),
            "auto_renew": auto_renew,
            "state": state,
            "managed": managed,
            "created_at": now(),
        },
    )
    return sub_id


async def get_subscription(
    conn: AsyncConnection, *, user_id: int, group_id: int
) -> RowMapping | None:
    return await select_one(conn, subscriptions, {"user_id": user_id, "group_id": group_id})
