"""`/api/me/groups`, `/api/me/models`, `/api/me/balance`, `/api/me/ledger`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from torouter.billing.ledger import Ledger
from torouter.state.memory import MemoryState
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.tables import group_grants, groups


async def _group(api: Api, name: str, models: list[str], **values: Any) -> int:
    async with api.db.begin() as conn:
        result = await conn.execute(
            insert(groups).values(
                **{"name": name, "default_key_limits": {"rpm": 10}, "created_at": seed.T0, **values}
            )
        )
        gid = int(result.inserted_primary_key[0])
    for i, m in enumerate(models):
        await seed.link_group_model(api.db, group_id=gid, model_id=m, position=i)
    return gid


async def test_groups_and_models_are_those_open_to_me(api: Api) -> None:
    await seed.model(api.db, id="gpt", price_input=Decimal("2"), price_output=Decimal("8"))
    await seed.model(api.db, id="claude", price_input=Decimal("3"), price_output=Decimal("15"))
    await seed.model(api.db, id="secret", price_input=Decimal("1"))
    await seed.model(api.db, id="retired", enabled=False)  # type: ignore[arg-type]
    await _group(api, "default", ["gpt", "claude", "retired"], price_multiplier=Decimal("1.5"))
    vip = await _group(api, "vip", ["claude"], visibility="private")
    await _group(api, "hidden", ["secret"], visibility="private")
    await _group(api, "off", ["secret"], status="disabled")
    uid = await seed.user(api.db, email="u@example.com", state="unverified")
    async with api.db.begin() as conn:
        await conn.execute(insert(group_grants).values(group_id=vip, user_id=uid))
    me = await api.signed_in(uid)  # unverified users may look (they cannot create keys)

    r = await me.get("/api/me/groups")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [g["name"] for g in data] == ["default", "vip"]
    assert data[0]["models"] == ["gpt", "claude"]  # enabled models, catalog order
    assert data[0]["price_multiplier"] == "1.5"
    assert data[0]["default_key_limits"]["rpm"] == 10
    assert "channel_ids" not in data[0] and "managed" not in data[0]

    r = await me.get("/api/me/models")
    body = r.json()
    assert [m["id"] for m in body["data"]] == ["gpt", "claude"] and body["total"] == 2
    claude = body["data"][1]
    assert [g["name"] for g in claude["groups"]] == ["default", "vip"]
    assert claude["prices"]["input"] == "3" and claude["prices"]["output"] == "15"
    assert claude["prices"]["cache_read"] == "3"  # derived: = input
    assert Decimal(claude["prices"]["cache_write_5m"]) == Decimal("3.75")
    assert claude["display_name"] == "claude"

    r = await me.get(f"/api/me/models?group_id={vip}")
    assert [m["id"] for m in r.json()["data"]] == ["claude"]
    r = await me.get("/api/me/models?page=2&page_size=1")
    assert [m["id"] for m in r.json()["data"]] == ["claude"] and r.json()["total"] == 2
    r = await me.get("/api/me/models?modality=embedding")
    assert r.json()["data"] == []


async def test_balance_and_ledger(api: Api) -> None:
    uid = await seed.user(api.db, email="u@example.com")
    me = await api.signed_in(uid)
    r = await me.get("/api/me/balance")
    assert r.json() == {
        "balance_nusd": 0,
        "balance_usd": "0.000000000",
        "reserved_nusd": 0,
        "reserved_usd": "0.000000000",
        "available_nusd": 0,
        "available_usd": "0.000000000",
    }
    async with api.db.begin() as conn:
        for n in range(3):
            await add_ledger_entry(
                conn,
                user_id=uid,
                amount_nusd=(n + 1) * 1_000_000_000,
                reason="admin_credit",
                reference=f"t{n}",
                actor="user:1",
                note=f"gift {n}",
            )
    # What requests in flight hold is not available to new ones.
    api.rebuild(ledger=Ledger(HeldState(250_000_000)))
    me = await api.signed_in(uid)
    held = 250_000_000
    r = await me.get("/api/me/balance")
    body = r.json()
    assert (body["balance_nusd"], body["balance_usd"]) == (6_000_000_000, "6.000000000")
    assert (body["reserved_nusd"], body["available_usd"]) == (held, "5.750000000")

    r = await me.get("/api/me/ledger?page_size=2")
    page = r.json()
    assert page["total"] == 3 and [e["note"] for e in page["data"]] == ["gift 2", "gift 1"]
    entry = page["data"][0]
    assert (entry["amount_usd"], entry["balance_after_nusd"]) == ("3.000000000", 6_000_000_000)
    assert (entry["actor"], entry["reference_kind"]) == ("user:1", "other")  # R15.4
    other = await seed.user(api.db, email="o@example.com")
    them = await api.signed_in(other)
    assert (await them.get("/api/me/ledger")).json()["total"] == 0
    assert_error(await api.client.get("/api/me/balance"), 401, "AUTH_REQUIRED")


class HeldState(MemoryState):
    """Requests in flight hold `held` nUSD of every balance."""

    def __init__(self, held: int) -> None:
        super().__init__()
        self.held = held

    async def used(self, counter: str) -> tuple[int, int]:
        committed, in_flight = await super().used(counter)
        return committed, in_flight + self.held
