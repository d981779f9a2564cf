"""`/api/me/keys`: a verified user's own API keys (§13, R7.2–R7.4, R12.2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from tests.api import seed
from tests.api.conftest import Api
from torouter.access.keys import hash_key, is_key_shaped, mask_key
from torouter.config import Settings
from torouter.storage.tables import api_keys, group_grants, groups

MiB = 1024 * 1024


def assert_error(r: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    if param is not None:
        assert err["param"] == param, err


async def _group(api: Api, name: str = "default", **values: Any) -> int:
    async with api.db.begin() as conn:
        result = await conn.execute(
            insert(groups).values(
                **{"name": name, "default_key_limits": {}, "created_at": seed.T0, **values}
            )
        )
        return int(result.inserted_primary_key[0])


async def _user(api: Api, email: str = "u@example.com", state: str = "active") -> tuple[int, Any]:
    uid = await seed.user(api.db, email=email, state=state)
    return uid, await api.signed_in(uid)


async def test_create_shows_the_key_once_and_the_gateway_sees_it(api: Api) -> None:
    gid = await _group(api)
    uid, me = await _user(api)
    body = {
        "name": " laptop ",
        "group": "default",
        "quota_usd": "12.5",
        "expires_in_days": 30,
        "requests_5h": 100,
        "rpm": 0,
        "tpm": 5000,
        "max_concurrency": 4,
        "budget_daily_usd": 1,
        "ip_whitelist": "203.0.113.0/24\n\n2001:DB8::1\n10.1.2.3",
        "ip_blacklist": ["203.0.113.7"],
        "model_whitelist": " gpt-5 , claude-opus-4-7,,",
    }
    r = await me.post("/api/me/keys", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert is_key_shaped(key) and created["mask"] == mask_key(key)
    assert created["name"] == "laptop"
    assert (created["group_id"], created["group"], created["user_id"]) == (gid, "default", uid)
    assert (created["quota_nusd"], created["quota_usd"]) == (12_500_000_000, "12.500000000")
    assert created["budget_daily_nusd"] == 1_000_000_000
    assert created["budget_weekly_nusd"] is None  # not sent: inherits the group's
    assert (created["requests_5h"], created["rpm"], created["tpm"]) == (100, 0, 5000)
    assert created["requests_1d"] is None
    assert created["ip_whitelist"] == ["203.0.113.0/24", "2001:db8::1", "10.1.2.3"]
    assert created["ip_blacklist"] == ["203.0.113.7"]
    assert created["model_whitelist"] == ["gpt-5", "claude-opus-4-7"]
    expires = dt.datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - dt.datetime.now(dt.UTC)) - dt.timedelta(days=30)) < dt.timedelta(
        minutes=1
    )
    assert created["status"] == "active" and created["managed"] is False
    assert "key_hash" not in r.text

    # Stored hashed; in the gateway's snapshot before the answer (no reload needed).
    async with api.db.connect() as conn:
        stored = (await conn.execute(select(api_keys))).mappings().one()
    assert stored["key_hash"] == hash_key(key)
    rec = api.snapshot.current.keys[hash_key(key)]
    assert rec.id == created["id"] and rec.model_whitelist == {"gpt-5", "claude-opus-4-7"}

    # Never again: not in the list, not in the detail.
    for path in ("/api/me/keys", f"/api/me/keys/{created['id']}"):
        r = await me.get(path)
        assert r.status_code == 200
        assert key not in r.text and key[3:20] not in r.text and "key_hash" not in r.text


async def test_list_has_spend_and_requests_and_only_my_live_keys(api: Api) -> None:
    gid = await _group(api)
    uid, me = await _user(api)
    other = await seed.user(api.db, email="other@example.com")
    mine = await seed.key(api.db, user_id=uid, group_id=gid, name="mine", spend_nusd=99)
    await seed.key(api.db, user_id=other, group_id=gid, name="theirs")
    await seed.key(
        api.db, user_id=uid, group_id=gid, name="gone", deleted_at=dt.datetime.now(dt.UTC)
    )
    now = dt.datetime.now(dt.UTC)
    await seed.usage(
        api.db,
        [
            seed.usage_row(1, user_id=uid, key_id=mine, created_at=now, cost_nusd=10),
            seed.usage_row(2, user_id=uid, key_id=mine, created_at=now, cost_nusd=5),
            seed.usage_row(
                3, user_id=uid, key_id=mine, created_at=now - dt.timedelta(days=3), cost_nusd=7
            ),
            seed.usage_row(
                4, user_id=uid, key_id=mine, created_at=now - dt.timedelta(days=40), cost_nusd=1
            ),
            seed.usage_row(
                5, user_id=uid, key_id=mine, created_at=now, outcome="refused", cost_nusd=0
            ),
        ],
    )
    r = await me.get("/api/me/keys")
    assert r.status_code == 200
    page = r.json()
    assert (page["total"], page["page"], page["page_size"]) == (1, 1, 20)
    (item,) = page["data"]
    assert item["name"] == "mine" and item["group"] == "default"
    assert (item["spend_today_nusd"], item["spend_today_usd"]) == (15, "0.000000015")
    assert item["spend_30d_nusd"] == 22
    assert item["spend_nusd"] == 99  # the running total kept by the recorder
    assert item["requests_today"] == 2  # refused requests count in no window

    r = await me.get(f"/api/me/keys/{mine}")
    assert r.status_code == 200
    assert r.json()["window_use"] == {"requests_5h": 2, "requests_1d": 2, "requests_7d": 3}


async def test_detail_shows_the_gateways_live_view(api: Api) -> None:
    await _group(api, default_key_limits={"rpm": 60, "quota_nusd": 5_000_000_000})
    _, me = await _user(api)
    created = (await me.post("/api/me/keys", json={"name": "k", "group": "default"})).json()
    r = await me.get(f"/api/me/keys/{created['id']}")
    live = r.json()["live"]
    assert live is not None
    assert live["limits"]["rpm"] == 60  # inherited from the group's default limits
    assert live["limits"]["quota_nusd"] == 5_000_000_000
    assert live["key"]["group"] == "default"


async def test_unverified_users_cannot_use_keys(api: Api) -> None:
    await _group(api)
    _, me = await _user(api, state="unverified")
    r = await me.post("/api/me/keys", json={"name": "k", "group": "default"})
    assert_error(r, 403, "EMAIL_NOT_VERIFIED")
    assert_error(await me.get("/api/me/keys"), 403, "EMAIL_NOT_VERIFIED")
    async with api.db.connect() as conn:
        assert (await conn.execute(select(api_keys))).first() is None


async def test_needs_a_session_and_csrf(api: Api) -> None:
    await _group(api)
    r = await api.client.get("/api/me/keys")
    assert_error(r, 401, "AUTH_REQUIRED")
    r = await api.client.get("/api/me/keys", headers=api.auth)  # an admin token is no one
    assert_error(r, 403, "FORBIDDEN")
    _, me = await _user(api)
    r = await me.post(
        "/api/me/keys", json={"name": "k", "group": "default"}, headers={"x-csrf-token": "x"}
    )
    assert_error(r, 403, "CSRF_FAILED")


async def test_group_must_be_public_or_granted_and_enabled(api: Api) -> None:
    uid, me = await _user(api)
    private = await _group(api, "vip", visibility="private")
    await _group(api, "off", status="disabled")

    r = await me.post("/api/me/keys", json={"name": "k", "group_id": private})
    assert_error(r, 403, "FORBIDDEN")
    r = await me.post("/api/me/keys", json={"name": "k", "group": "off"})
    assert_error(r, 400, "INVALID_REQUEST", "group")
    r = await me.post("/api/me/keys", json={"name": "k", "group_id": 999})
    assert_error(r, 400, "INVALID_REQUEST", "group_id")
    r = await me.post("/api/me/keys", json={"name": "k"})
    assert_error(r, 400, "INVALID_REQUEST", "group_id")

    async with api.db.begin() as conn:
        await conn.execute(insert(group_grants).values(group_id=private, user_id=uid))
    r = await me.post("/api/me/keys", json={"name": "k", "group_id": private})
    assert r.status_code == 201, r.text


async def test_at_most_max_per_user_live_keys(api: Api, tmp_path: Any) -> None:
    class Limited(Settings):
        keys_max_per_user: int = 2

    api.rebuild(settings=Limited(data_dir=tmp_path))
    await _group(api)
    _, me = await _user(api)
    ids = []
    for n in range(2):
        r = await me.post("/api/me/keys", json={"name": f"k{n}", "group": "default"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await me.post("/api/me/keys", json={"name": "k2", "group": "default"})
    assert_error(r, 409, "CONFLICT")
    assert "at most 2" in r.json()["error"]["message"]
    assert (await me.delete(f"/api/me/keys/{ids[0]}")).status_code == 204
    r = await me.post("/api/me/keys", json={"name": "k2", "group": "default"})
    assert r.status_code == 201  # deleted keys do not count


def test_default_max_per_user_is_100() -> None:
    from torouter.api.key_service import max_keys_per_user

    assert max_keys_per_user(Settings()) == 100


IP_CASES = [
    ("10.0.0.1", ["10.0.0.1"], None),
    ("10.0.0.1/32", ["10.0.0.1"], None),
    ("10.0.0.7/8", ["10.0.0.0/8"], None),  # host bits dropped
    ("::1\n2001:db8::/32", ["::1", "2001:db8::/32"], None),
    ("::ffff:10.0.0.1", ["::ffff:a00:1"], None),
    ([" 192.168.1.1 ", ""], ["192.168.1.1"], None),
    ("1.1.1.1\n1.1.1.1", ["1.1.1.1"], None),  # duplicates kept once
    ("", [], None),
    (None, [], None),
    ("10.0.0.1\n10.0.0.300", None, "[1]"),
    ("10.0.0.1\n\nnot-an-ip", None, "[2]"),
    ("10.0.0.0/33", None, "[0]"),
    (["1.2.3.4", "2001:db8::/129"], None, "[1]"),
    ([1], None, "[0]"),
    ("x" * 200, None, "[0]"),
]


@pytest.mark.parametrize(("value", "stored", "line"), IP_CASES)
@pytest.mark.parametrize("field", ["ip_whitelist", "ip_blacklist"])
async def test_ip_lists(
    api: Api, field: str, value: Any, stored: list[str] | None, line: str | None
) -> None:
    await _group(api)
    _, me = await _user(api)
    r = await me.post("/api/me/keys", json={"name": "k", "group": "default", field: value})
    if stored is not None:
        assert r.status_code == 201, r.text
        assert r.json()[field] == stored
    else:
        assert_error(r, 400, "INVALID_REQUEST", f"{field}{line}")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"quota_usd": "-1"}, "quota_usd"),
        ({"quota_usd": "0.0000000001"}, "quota_usd"),
        ({"quota_usd": "lots"}, "quota_usd"),
        ({"rpm": -1}, "rpm"),
        ({"tpm": 1.5}, "tpm"),
        ({"budget_monthly_usd": True}, "budget_monthly_usd"),
        ({"expires_in_days": -1}, "expires_in_days"),
        ({"expires_in_days": 3, "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),  # no offset
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"status": "paused"}, "status"),
        ({"model_whitelist": ["a,b"]}, "model_whitelist[0]"),
        ({"key_hash": "0" * 64}, "key_hash"),
    ],
)
async def test_validation_names_the_field(api: Api, body: dict[str, Any], param: str) -> None:
    await _group(api)
    _, me = await _user(api)
    r = await me.post("/api/me/keys", json={"name": "k", "group": "default", **body})
    assert_error(r, 400, "INVALID_REQUEST", param)


async def test_patch_only_changes_what_is_sent(api: Api) -> None:
    gid = await _group(api)
    await _group(api, "second")
    _, me = await _user(api)
    body = {"name": "k", "group": "default", "quota_usd": 5, "rpm": 10, "ip_whitelist": "1.2.3.4"}
    key = (await me.post("/api/me/keys", json=body)).json()
    path = f"/api/me/keys/{key['id']}"

    r = await me.patch(path, json={"rpm": 0, "quota_usd": None, "tpm": ""})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rpm"] == 0  # 0 turns the limit off
    assert out["quota_nusd"] is None and out["tpm"] is None  # null and "" inherit
    assert out["name"] == "k" and out["ip_whitelist"] == ["1.2.3.4"] and out["group_id"] == gid

    r = await me.patch(path, json={"status": "disabled", "ip_whitelist": "", "group": "second"})
    out = r.json()
    assert (out["status"], out["ip_whitelist"], out["group"]) == ("disabled", [], "second")
    rec = next(iter(api.snapshot.current.keys.values()))
    assert rec.status == "disabled"  # the gateway already sees it

    r = await me.patch(path, json={"expires_at": "2099-01-01T00:00:00+02:00"})
    assert r.json()["expires_at"] == "2098-12-31T22:00:00.000000Z"
    r = await me.patch(path, json={"expires_in_days": 0})
    assert r.json()["expires_at"] is None
    assert_error(await me.patch(path, json={"name": None}), 400, "INVALID_REQUEST", "name")
    assert_error(await me.patch(path, json={"status": None}), 400, "INVALID_REQUEST", "status")
    assert_error(await me.patch(path, json={"group": "nope"}), 400, "INVALID_REQUEST", "group")
    r = await me.patch(path, json={"group_id": None})
    assert_error(r, 400, "INVALID_REQUEST", "group_id")


async def test_other_users_keys_answer_exactly_like_missing_ones(api: Api) -> None:
    """Issue 12 point 16: a key id of another account is 404 with the very body of an id that
    does not exist (and from the same single query), so ids cannot be probed."""
    gid = await _group(api)
    _, me = await _user(api)
    other = await seed.user(api.db, email="other@example.com")
    theirs = await seed.key(api.db, user_id=other, group_id=gid, name="theirs")
    for method in ("GET", "PATCH", "DELETE"):
        kw = {"json": {"rpm": 1}} if method == "PATCH" else {}
        r = await me.request(method, f"/api/me/keys/{theirs}", **kw)
        assert_error(r, 404, "NOT_FOUND")
        missing = await me.request(method, "/api/me/keys/999", **kw)
        assert_error(missing, 404, "NOT_FOUND")
        assert r.content == missing.content
        assert r.headers.keys() == missing.headers.keys()
    async with api.db.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == theirs))).mappings()
        assert next(iter(row))["rpm"] is None


async def test_managed_keys_are_read_only(api: Api) -> None:
    gid = await _group(api)
    uid, me = await _user(api)
    managed = await seed.key(api.db, user_id=uid, group_id=gid, name="ci", managed=True)
    assert (await me.get(f"/api/me/keys/{managed}")).status_code == 200
    assert_error(await me.patch(f"/api/me/keys/{managed}", json={"rpm": 1}), 409, "CONFLICT")
    assert_error(await me.delete(f"/api/me/keys/{managed}"), 409, "CONFLICT")


async def test_delete_is_soft_final_and_immediate(api: Api) -> None:
    await _group(api)
    _, me = await _user(api)
    created = (await me.post("/api/me/keys", json={"name": "k", "group": "default"})).json()
    assert hash_key(created["key"]) in api.snapshot.current.keys
    r = await me.delete(f"/api/me/keys/{created['id']}")
    assert r.status_code == 204 and r.content == b""
    assert hash_key(created["key"]) not in api.snapshot.current.keys
    async with api.db.connect() as conn:
        row = (await conn.execute(select(api_keys))).mappings().one()
    assert row["deleted_at"] is not None  # the row stays for the usage history
    assert (await me.get("/api/me/keys")).json()["total"] == 0
    assert_error(await me.delete(f"/api/me/keys/{created['id']}"), 404, "NOT_FOUND")
    assert_error(await me.patch(f"/api/me/keys/{created['id']}", json={}), 404, "NOT_FOUND")
