"""Plans and subscriptions (R7.7, R14.6) as the user's and the admin's routes share them.

One subscription per (user, group). Buying (or an admin assigning) the plan a live
subscription already has extends it from max(now, expires_at); another plan of that group
while one is live is 409 CONFLICT; after expiry or cancellation a purchase starts afresh.
Caps are copied from the plan at every purchase. The stored state is `active`, `paused`,
`cancelled` or `expired`; an active or paused subscription past its `expires_at` reads as
`expired` (expiry runs on while paused).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.changes import deployment_zone, now
from torouter.api.deps import ApiDeps
from torouter.api.pagination import Page
from torouter.api.schemas import ApiModel, Timestamp, Usd
from torouter.api.windows import calendar_windows, subscription_use
from torouter.errors import error
from torouter.records import Row
from torouter.storage.repos import plans as repo
from torouter.storage.tables import groups, plans, subscriptions

__all__ = [
    "PlanRead",
    "SubscriptionRead",
    "effective_state",
    "plan_select",
    "state_filter",
    "sub_page",
    "sub_reads",
    "sub_select",
    "subscribe",
]

_LIVE = ("active", "paused")


class PlanRead(ApiModel):
    id: int
    name: str
    group_id: int
    group: str | None = Field(description="The group's name")
    price_nusd: int
    price_usd: Usd
    duration_days: int
    daily_cap_nusd: int = Field(description="0 = none")
    daily_cap_usd: Usd
    weekly_cap_nusd: int
    weekly_cap_usd: Usd
    monthly_cap_nusd: int
    monthly_cap_usd: Usd
    max_per_user: int = Field(description="Purchases per user; 0 = unlimited, 1 = a trial")
    enabled: bool
    managed: bool
    created_at: Timestamp


def plan_select() -> Select[Any]:
    return select(plans, groups.c.name.label("group")).join(groups, groups.c.id == plans.c.group_id)


class SubscriptionRead(ApiModel):
    id: int
    user_id: int
    group_id: int
    group: str | None
    plan_id: int | None
    plan: str | None
    state: str = Field(description="active | paused | cancelled | expired (as of now)")
    starts_at: Timestamp
    expires_at: Timestamp
    auto_renew: bool
    purchases: int = Field(description="Purchases of the current plan")
    daily_cap_nusd: int = Field(description="Copied from the plan at purchase; 0 = none")
    daily_cap_usd: Usd
    weekly_cap_nusd: int
    weekly_cap_usd: Usd
    monthly_cap_nusd: int
    monthly_cap_usd: Usd
    daily_used_nusd: int | None = Field(
        None,
        description="Spend in the current calendar day (deployment timezone), from the usage "
        "log: settled requests only, requests in flight are not included",
    )
    daily_used_usd: Usd | None = None
    weekly_used_nusd: int | None = Field(None, description="Since Monday 00:00")
    weekly_used_usd: Usd | None = None
    monthly_used_nusd: int | None = Field(None, description="Since the 1st, 00:00")
    monthly_used_usd: Usd | None = None
    managed: bool
    created_at: Timestamp


def sub_select() -> Select[Any]:
    return (
        select(subscriptions, groups.c.name.label("group"), plans.c.name.label("plan"))
        .join(groups, groups.c.id == subscriptions.c.group_id)
        .outerjoin(plans, plans.c.id == subscriptions.c.plan_id)
    )


def effective_state(row: Row, at: dt.datetime) -> str:
    if row["state"] in _LIVE and row["expires_at"] <= at:
        return "expired"
    return str(row["state"])


def is_live(row: Row, at: dt.datetime) -> bool:
    return effective_state(row, at) in _LIVE


def state_filter(state: str, at: dt.datetime) -> ColumnElement[bool]:
    """SQL for "reads as `state` now"."""
    c = subscriptions.c
    if state in _LIVE:
        return and_(c.state == state, c.expires_at > at)
    if state == "expired":
        return or_(c.state == "expired", and_(c.state.in_(_LIVE), c.expires_at <= at))
    return c.state == state


async def sub_reads(
    deps: ApiDeps, conn: AsyncConnection, rows: Sequence[RowMapping]
) -> list[SubscriptionRead]:
    """Rows of `sub_select()` with their window use (one query for all of them)."""
    at = now(deps)
    use = await subscription_use(
        conn,
        [(r["user_id"], r["group_id"]) for r in rows],
        calendar_windows(at, deployment_zone(deps)),
    )
    out = []
    for r in rows:
        day, week, month = use.get((r["user_id"], r["group_id"]), (0, 0, 0))
        out.append(
            SubscriptionRead.from_row(
                r,
                state=effective_state(r, at),
                daily_used_nusd=day,
                weekly_used_nusd=week,
                monthly_used_nusd=month,
            )
        )
    return out


async def sub_page(deps: ApiDeps, conn: AsyncConnection, page: Page[Any]) -> Page[SubscriptionRead]:
    data = await sub_reads(deps, conn, page.data)
    return Page[SubscriptionRead](
        data=data, page=page.page, page_size=page.page_size, total=page.total
    )


async def load_sub(conn: AsyncConnection, sub_id: int) -> RowMapping | None:
    row: RowMapping | None = (
        (await conn.execute(sub_select().where(subscriptions.c.id == sub_id))).mappings().first()
    )
    return row


def writable(row: Row) -> None:
    if row["managed"]:
        raise error("CONFLICT", "This subscription is declared in the config file and is read-only")


async def subscribe(
    conn: AsyncConnection,
    *,
    user_id: int,
    plan: Row,
    at: dt.datetime,
    enforce_max: bool,
) -> tuple[int, bool]:
    """Start, restart or extend the user's subscription to `plan`: (id, created).

    Raises CONFLICT for another plan of the group while one is live, for a plan bought
    `max_per_user` times already (when `enforce_max`), and for a managed subscription.
    """
    row = await repo.get_subscription(conn, user_id=user_id, group_id=plan["group_id"])
    duration = dt.timedelta(days=int(plan["duration_days"]))
    if row is None:
        sub_id = await repo.create_subscription(conn, user_id=user_id, plan=plan, starts_at=at)
        return sub_id, True
    writable(row)
    same = row["plan_id"] == plan["id"]
    live = is_live(row, at)
    if live and not same:
        raise error(
            "CONFLICT",
            "There is already a live subscription to this group with another plan; it must "
            "end (expire or be cancelled) before another plan is bought",
        )
    limit = int(plan["max_per_user"])
    if enforce_max and same and limit and row["purchases"] >= limit:
        raise error("CONFLICT", f"This plan can be bought at most {limit} time(s)")
    values: dict[str, Any] = {**repo.plan_caps(plan)}
    values["purchases"] = row["purchases"] + 1 if same else 1
    if live:
        values["expires_at"] = max(at, row["expires_at"]) + duration
    else:
        values |= {
            "plan_id": plan["id"],
            "starts_at": at,
            "expires_at": at + duration,
            "state": "active",
        }
    await repo.update_subscription(conn, sub_id=row["id"], values=values)
    return int(row["id"]), False
