"""`GET /api/me/dashboard` (R15.1, R15.4): everything the dashboard draws, in one call, from the
writer's roll-ups, the ledger and the live window counters."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from tests.api import seed
from tests.api.conftest import Api
from tests.api.usage_seed import pin, record, row
from torouter.storage.tables import subscriptions, users
from torouter.usage.histogram import EDGES_MS, bucket_of

HOUR = dt.timedelta(hours=1)


def bounds(ms: int) -> tuple[float, float]:
    k = bucket_of(ms)
    return EDGES_MS[k - 1], EDGES_MS[k]


async def test_dashboard_in_one_call(api: Api) -> None:
    # Hourly roll-ups cover the real last 48 hours: the clock is the real one here.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pin(api, now)
    uid = await seed.user(api.db, email="me@example.com", balance_nusd=70 * 10**9)
    gid = await seed.group(api.db)
    sub_gid = await seed.group(api.db, name="pro")
    kid = await seed.key(
        api.db, user_id=uid, group_id=gid, name="main", budget_daily_nusd=5 * 10**9
    )
    async with api.db.begin() as conn:
        await conn.execute(
            insert(subscriptions).values(
                user_id=uid,
                group_id=sub_gid,
                daily_cap_nusd=10**9,
                weekly_cap_nusd=0,
                monthly_cap_nusd=20 * 10**9,
                starts_at=now - 24 * HOUR,
                expires_at=now + 24 * 29 * HOUR,
                created_at=now,
            )
        )
    await api.snapshot.reload()
    rows = [
        # 14 USD spent over the last 7 days: 2 USD a day.
        row(n, now - n * 10 * HOUR, user_id=uid, key_id=kid, cost_nusd=10**9)
        for n in range(14)
    ]
    rows += [
        row(100, now - HOUR, user_id=uid, key_id=kid, model_requested="b", cost_nusd=3 * 10**9),
        row(101, now - 2 * HOUR, user_id=uid, key_id=kid, model_requested="b", outcome="failed")
        | {"cost_nusd": 0, "status": 502},
        row(102, now - 40 * 24 * HOUR, user_id=uid, key_id=kid, model_requested="old"),
    ]
    await record(api.db, rows)
    me = await api.signed_in(uid)
    r = await me.get("/api/me/dashboard")
    assert r.status_code == 200, r.text
    d = r.json()

    spent = 14 * 10**9 + 3 * 10**9 + 15_750_000  # the 40-day-old row was debited too
    balance = 70 * 10**9 - spent
    assert d["balance"]["balance_nusd"] == balance
    assert d["balance"]["available_usd"] == d["balance"]["balance_usd"]
    # The runway is the balance over the last 7 days' average burn: the writer's `usage`
    # ledger entries of the last 7 days (all of them were written just now).
    burn = spent
    assert d["runway"]["burn_7d_nusd"] == burn
    assert d["runway"]["daily_burn_nusd"] == burn // 7
    assert d["runway"]["days"] == round(balance / (burn / 7), 1)

    assert len(d["daily"]) == 30 and d["daily"][-1]["date"] == now.date().isoformat()
    assert sum(p["cost_nusd"] for p in d["daily"]) == 17 * 10**9
    assert [(m["model"], m["cost_nusd"]) for m in d["top_models"]] == [
        ("gpt-test", 14 * 10**9),
        ("b", 3 * 10**9),
    ]
    assert [x["request_id"] for x in d["recent"][:3]] == ["req_0", "req_100", "req_101"]
    assert len(d["recent"]) == 10 and "client_ip" not in d["recent"][0]

    health = {h["model"]: h for h in d["model_health"]}
    b = health["b"]
    assert (b["requests"], b["successes"], b["failures"], b["success_rate"]) == (2, 1, 1, 0.5)
    gpt = health["gpt-test"]
    assert gpt["requests"] == 3 and gpt["success_rate"] == 1.0  # 0, 10 and 20 hours ago
    # All took 1,200 ms, 300 ms to the first byte: within their buckets.
    assert bounds(1200)[0] <= gpt["p50_latency_ms"] <= bounds(1200)[1]
    assert bounds(300)[0] <= gpt["p95_ttft_ms"] <= bounds(300)[1]

    (key,) = d["keys"]
    assert (key["id"], key["name"], key["quota_nusd"]) == (kid, "main", None)
    budgets = {w["name"]: w for w in key["budgets"]}
    assert budgets["day"]["limit"] == 5 * 10**9 and budgets["week"]["limit"] is None
    assert budgets["day"]["resets_at"] > now.isoformat()
    (sub,) = d["subscriptions"]
    caps = {w["name"]: w["limit"] for w in sub["windows"]}
    assert caps == {"day": 10**9, "week": None, "month": 20 * 10**9}
    assert d["low_balance_threshold_nusd"] is None


async def test_runway_is_null_without_spend(api: Api) -> None:
    pin(api, dt.datetime.now(dt.UTC))
    uid = await seed.user(api.db, email="idle@example.com", balance_nusd=10**9)
    async with api.db.begin() as conn:
        await conn.execute(
            users.update().where(users.c.id == uid).values(low_balance_threshold_nusd=5)
        )
    me = await api.signed_in(uid)
    d = (await me.get("/api/me/dashboard")).json()
    assert d["runway"] == {
        "days": None,
        "burn_7d_nusd": 0,
        "burn_7d_usd": "0.000000000",
        "daily_burn_nusd": 0,
        "daily_burn_usd": "0.000000000",
    }
    assert d["daily"][-1] == {
        "date": d["daily"][-1]["date"],
        "requests": 0,
        "cost_nusd": 0,
        "cost_usd": "0.000000000",
    }
    assert (d["top_models"], d["recent"], d["model_health"], d["keys"]) == ([], [], [], [])
    assert (d["low_balance_threshold_nusd"], d["low_balance_threshold_usd"]) == (
        5,
        "0.000000005",
    )
