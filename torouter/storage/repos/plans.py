"""Plans and subscriptions (R7.7): caps are copied from the plan at purchase."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.records import Row
from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import orders, plans, subscriptions

__all__ = [
    "SUBSCRIPTION_STATES",
    "create_plan",
    "create_subscription",
    "delete_plan",
    "get_plan",
    "get_plan_by_name",
    "get_subscription",
    "get_subscription_by_id",
    "plan_caps",
    "plan_references",
    "update_plan",
    "update_subscription",
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


def plan_caps(plan: Row) -> dict[str, int]:
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


_PLAN_COLUMNS = frozenset(
    {
        "name",
        "group_id",
        "price_nusd",
        "duration_days",
        "daily_cap_nusd",
        "weekly_cap_nusd",
        "monthly_cap_nusd",
        "max_per_user",
        "enabled",
    }
)
_SUBSCRIPTION_COLUMNS = frozenset(
    {
        "plan_id",
        "daily_cap_nusd",
        "weekly_cap_nusd",
        "monthly_cap_nusd",
        "starts_at",
        "expires_at",
        "auto_renew",
        "state",
        "purchases",
    }
)


async def get_plan(conn: AsyncConnection, *, plan_id: int) -> RowMapping | None:
    return await select_one(conn, plans, {"id": plan_id})


async def update_plan(conn: AsyncConnection, *, plan_id: int, values: Mapping[str, Any]) -> None:
    unknown = set(values) - _PLAN_COLUMNS
    if unknown:
        raise TypeError(f"not editable plan fields {sorted(unknown)}")
    if values:
        await conn.execute(update(plans).where(plans.c.id == plan_id).values(**values))


async def plan_references(conn: AsyncConnection, *, plan_id: int) -> dict[str, int]:
    """Subscriptions and orders that name the plan (it is then disabled, not deleted)."""
    out: dict[str, int] = {}
    for name, column in (("subscriptions", subscriptions.c.plan_id), ("orders", orders.c.plan_id)):
        out[name] = int(await conn.scalar(select(func.count()).where(column == plan_id)) or 0)
    return out


async def delete_plan(conn: AsyncConnection, *, plan_id: int) -> bool:
    result = await conn.execute(delete(plans).where(plans.c.id == plan_id))
    return bool(result.rowcount)


async def get_subscription_by_id(conn: AsyncConnection, *, sub_id: int) -> RowMapping | None:
    return await select_one(conn, subscriptions, {"id": sub_id})


async def update_subscription(
    conn: AsyncConnection, *, sub_id: int, values: Mapping[str, Any]
) -> None:
    unknown = set(values) - _SUBSCRIPTION_COLUMNS
    if unknown:
        raise TypeError(f"not editable subscription fields {sorted(unknown)}")
    if values:
        await conn.execute(
            update(subscriptions).where(subscriptions.c.id == sub_id).values(**values)
        )
