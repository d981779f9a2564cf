"""`GET /api/me/key`: an API key asks for its own limits, spend and window use (R11.6,
issue 12 point 10), refused with the gateway's codes (R8.1) when the gateway would refuse it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import insert, update

from tests.api import seed
from tests.api.conftest import Api
from torouter.access import limits
from torouter.access.keys import FAILED_LOOKUPS_PER_MINUTE, hash_key
from torouter.api.me.key_info import key_info
from torouter.api.windows import KeyStats
from torouter.billing.ledger import balance_counter
from torouter.storage.tables import api_keys, groups, users

URL = "/api/me/key"
NANO = 1_000_000_000


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code and err["type"] == code
    return err


async def _key(api: Api, **fields: Any) -> tuple[int, str]:
    """A verified user with a balance group and a key made through the API; (user id, key)."""
    async with api.db.begin() as conn:
        await conn.execute(
            insert(groups).values(
                name="default",
                default_key_limits={"tpm": 5000},
                created_at=seed.T0,
            )
        )
    uid = await seed.user(api.db, email="u@example.com")
    me = await api.signed_in(uid)
    body = {"name": "laptop", "group": "default", **fields}
    r = await me.post("/api/me/keys", json=body)
    assert r.status_code == 201, r.text
    return uid, r.json()["key"]


async def test_answers_the_keys_limits_spend_and_window_use(api: Api) -> None:
    uid, key = await _key(
        api,
        quota_usd="10",
        requests_5h=100,
        rpm=5,
        max_concurrency=3,
        budget_daily_usd="2.5",
        expires_in_days=30,
    )
    rec = api.snapshot.current.keys[hash_key(key)]
    await api.state.seed(balance_counter(uid), -4 * NANO)  # as start-up seeds it
    # 1 USD already spent today, and one request in flight holding 0.25 USD.
    now = time.time()
    utc = ZoneInfo("UTC")
    for hold in limits.key_holds(rec, now, utc)[:2]:
        await api.state.seed(hold.counter, NANO)
    req = limits.admit_request(
        "adm_1", rec, None, balance=True, estimate=NANO // 4, now=now, tz=utc,
        lease_s=60, client_ip=None, ip_rpm=0,
    )  # fmt: skip
    assert (await api.state.admit(req)).ok

    r = await api.client.get(URL, headers=bearer(key))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    info = r.json()
    assert key not in r.text and "key_hash" not in info
    assert info["id"] == rec.id and info["name"] == "laptop" and info["mask"] == rec.mask
    assert info["group"] == "default" and info["billing_type"] == "balance"
    lim = info["limits"]
    assert lim["quota_nusd"] == 10 * NANO and lim["quota_usd"] == "10.000000000"
    assert (lim["requests_5h"], lim["rpm"], lim["max_concurrency"]) == (100, 5, 3)
    assert lim["tpm"] == 5000  # the group's default applies (R7.6)
    assert lim["budget_daily_nusd"] == 2_500_000_000 and lim["budget_weekly_nusd"] == 0
    assert lim["expires_at"].endswith("Z")
    spend = info["spend"]
    assert spend["total_nusd"] == NANO and spend["total_usd"] == "1.000000000"
    assert spend["in_flight_nusd"] == NANO // 4 and spend["in_flight_usd"] == "0.250000000"
    assert spend["today_nusd"] == NANO
    assert spend["quota_remaining_nusd"] == 10 * NANO - NANO - NANO // 4
    day = info["budgets"]["day"]
    assert day["budget_nusd"] == 2_500_000_000 and day["spend_nusd"] == NANO
    assert day["in_flight_usd"] == "0.250000000"
    assert info["budgets"]["week"]["budget_nusd"] is None
    assert set(info["windows"]) == {"key_5h", "key_rpm", "key_tpm"}
    assert info["windows"]["key_rpm"] == {
        "limit": 5,
        "used": 1,
        "resets_in_s": info["windows"]["key_rpm"]["resets_in_s"],
    }
    assert info["balance"] == {
        "balance_nusd": 4 * NANO,
        "balance_usd": "4.000000000",
        "in_flight_nusd": NANO // 4,
        "in_flight_usd": "0.250000000",
    }
    assert info["subscription"] is None
    # The day budget has the least room: 2.5 − 1 − 0.25 USD.
    assert info["effective_limit_nusd"] == 1_250_000_000
    assert info["effective_limit_usd"] == "1.250000000"


async def test_refused_with_the_gateways_codes(api: Api) -> None:
    uid, key = await _key(api)
    assert_error(await api.client.get(URL), 401, "API_KEY_REQUIRED")
    assert_error(await api.client.get(URL, headers=bearer("")), 401, "API_KEY_REQUIRED")
    for bad in ("sk-short", "sk-" + "A" * 48, key[:-1] + "!", api.admin_token):
        assert_error(await api.client.get(URL, headers=bearer(bad)), 401, "INVALID_API_KEY")
    # A session alone is not an API key.
    me = await api.signed_in(uid)
    assert_error(await me.get(URL), 401, "API_KEY_REQUIRED")
    twice = [("authorization", f"Bearer {key}")] * 2
    err = assert_error(await api.client.get(URL, headers=twice), 400, "INVALID_REQUEST")
    assert err["param"] == "authorization"

    kid = api.snapshot.current.keys[hash_key(key)].id

    async def edit(table: Any, where: Any, **values: Any) -> None:
        async with api.db.begin() as conn:
            await conn.execute(update(table).where(where).values(**values))
        await api.snapshot.reload()

    await edit(api_keys, api_keys.c.id == kid, ip_whitelist="203.0.113.0/24")
    assert_error(await api.client.get(URL, headers=bearer(key)), 403, "ACCESS_DENIED")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await edit(api_keys, api_keys.c.id == kid, ip_whitelist="", expires_at=past)
    assert_error(await api.client.get(URL, headers=bearer(key)), 403, "API_KEY_EXPIRED")
    await edit(api_keys, api_keys.c.id == kid, expires_at=None)
    assert (await api.client.get(URL, headers=bearer(key))).status_code == 200
    await edit(users, users.c.id == uid, state="suspended")
    assert_error(await api.client.get(URL, headers=bearer(key)), 401, "USER_INACTIVE")
    await edit(users, users.c.id == uid, state="active")
    await edit(api_keys, api_keys.c.id == kid, status="disabled")
    assert_error(await api.client.get(URL, headers=bearer(key)), 401, "API_KEY_DISABLED")
    await edit(api_keys, api_keys.c.id == kid, deleted_at=past)
    assert_error(await api.client.get(URL, headers=bearer(key)), 401, "INVALID_API_KEY")


async def test_failed_lookups_throttle_the_ip(api: Api) -> None:
    """R18.3: the lookups failed here count like the gateway's; past the limit, E14."""
    unknown = bearer("sk-" + "Z" * 48)
    for _ in range(FAILED_LOOKUPS_PER_MINUTE - 1):
        assert_error(await api.client.get(URL, headers=unknown), 401, "INVALID_API_KEY")
    r = await api.client.get(URL, headers=unknown)
    assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["x-torouter-limit"] == "ip"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_documented_in_the_openapi(api: Api) -> None:
    doc = (await api.client.get("/api/openapi.json")).json()
    op = doc["paths"][URL]["get"]
    assert op["security"] == [{"ApiKey": []}]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/KeyInfo"
    }
    assert {"400", "401", "403", "429"} <= set(op["responses"])


def test_subscription_keys_show_their_windows() -> None:
    """The pure shaping of `key_status`: a subscription key has windows, no balance."""
    status: dict[str, Any] = {
        "key": {
            "id": 7, "name": "k", "mask": "sk-ab…yz", "status": "active", "group_id": 2,
            "group": "pro", "billing_type": "subscription", "expires_at": None,
        },
        "limits": {
            "quota_nusd": 0, "requests_5h": 0, "requests_1d": 0, "requests_7d": 0, "rpm": 0,
            "tpm": 0, "max_concurrency": 0, "budget_daily_nusd": 0, "budget_weekly_nusd": 0,
            "budget_monthly_nusd": 0,
        },
        "spend_nusd": 3, "in_flight_nusd": 0, "quota_remaining_nusd": None,
        "periods": {
            kind: {"spend_nusd": 3, "in_flight_nusd": 0, "budget_nusd": 0, "reset_at": 1e9}
            for kind in ("day", "week", "month")
        },
        "windows": {},
        "balance": None,
        "subscription": {
            "id": 4, "plan_id": 1, "state": "active", "starts_at": 1e9, "expires_at": 2e9,
            "auto_renew": True,
            "windows": {
                "day": {"cap_nusd": 5 * NANO, "used_nusd": 3, "in_flight_nusd": 1,
                        "reset_at": 1.5e9},
                "week": {"cap_nusd": 0, "used_nusd": 3, "in_flight_nusd": 1, "reset_at": 1.5e9},
            },
        },
        "effective_limit_nusd": 5 * NANO - 4,
    }  # fmt: skip
    info = key_info(status, KeyStats(spend_30d_nusd=9, requests_today=2)).model_dump(mode="json")
    assert info["balance"] is None and info["limits"]["expires_at"] is None
    sub = info["subscription"]
    assert sub["expires_at"] == "2033-05-18T03:33:20.000000Z"
    assert sub["windows"]["day"]["cap_usd"] == "5.000000000"
    assert sub["windows"]["week"]["cap_nusd"] is None
    assert info["spend"]["last_30d_nusd"] == 9 and info["spend"]["requests_today"] == 2
    assert info["budgets"]["month"]["budget_usd"] is None
    assert info["effective_limit_usd"] == "4.999999996"
