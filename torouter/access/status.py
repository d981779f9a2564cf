"""A key's limits, spend and window use (SPEC R11.6, R13.2): what `GET /v1/key` (gateway) and
`GET /api/me/key` (management API) show. Reads the snapshot and the state backend; counts and
reserves nothing. Money in nano-USD; times in unix seconds.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

from torouter.access import limits as lim
from torouter.records import KeyRec, Snapshot
from torouter.state.base import StateBackend

__all__ = ["key_status"]


async def key_status(
    snap: Snapshot,
    state: StateBackend,
    key: KeyRec,
    *,
    now: float,
    tz: ZoneInfo | None = None,
) -> dict[str, Any]:
    tz = tz or ZoneInfo("UTC")
    group = snap.groups.get(key.group_id)
    billing = group.billing_type if group else "balance"
    rooms: list[int] = []

    async def use(counter: str) -> tuple[int, int]:
        return await state.used(counter)

    holds = lim.key_holds(key, now, tz)
    spent, flight = await use(holds[0].counter)
    quota = key.limits.quota_nusd
    if quota:
        rooms.append(quota - spent - flight)
    periods: dict[str, Any] = {}
    for h in holds[1:]:
        u, f = await use(h.counter)
        kind = h.label.removeprefix("key_budget_")
        periods[kind] = {
            "spend_nusd": u,
            "in_flight_nusd": f,
            "budget_nusd": h.limit or 0,
            "reset_at": h.reset_at,
        }
        if h.limit:
            rooms.append(h.limit - u - f)
    subscription = None
    sub = snap.subscriptions.get((key.user_id, key.group_id))
    if billing == "subscription" and sub is not None:
        windows: dict[str, Any] = {}
        for h in lim.subscription_holds(sub, now, tz):
            u, f = await use(h.counter)
            windows[h.label.removeprefix("sub_")] = {
                "cap_nusd": h.limit or 0,
                "used_nusd": u,
                "in_flight_nusd": f,
                "reset_at": h.reset_at,
            }
            if h.limit and sub.state == "active":
                rooms.append(h.limit - u - f)
        subscription = {
            "id": sub.id,
            "plan_id": sub.plan_id,
            "state": sub.state if sub.expires_at > now else "expired",
            "starts_at": sub.starts_at,
            "expires_at": sub.expires_at,
            "auto_renew": sub.auto_renew,
            "windows": windows,
        }
    balance = None
    if billing != "subscription":
        u, f = await use(lim.balance_counter(key.user_id))
        balance = {"balance_nusd": -u, "in_flight_nusd": f}
        rooms.append(-u - f)
    req_windows = list(lim.key_windows(key))
    tpm = lim.tokens_window(key)
    if tpm is not None:
        req_windows.append(tpm)
    window_use = {
        ws.name: {"limit": ws.limit, "used": ws.used, "reset_s": round(ws.reset_s, 3)}
        for ws in await state.window_use(req_windows, now)
    }
    return {
        "key": {
            "id": key.id,
            "name": key.name,
            "mask": key.mask,
            "status": key.status,
            "group_id": key.group_id,
            "group": group.name if group else None,
            "billing_type": billing,
            "expires_at": key.expires_at,
        },
        "limits": dataclasses.asdict(key.limits),
        "spend_nusd": spent,
        "in_flight_nusd": flight,
        "quota_remaining_nusd": quota - spent - flight if quota else None,
        "periods": periods,
        "windows": window_use,
        "balance": balance,
        "subscription": subscription,
        # The smallest room of key cap, key budgets, subscription windows and balance (R7.10).
        "effective_limit_nusd": max(min(rooms), 0) if rooms else None,
    }
