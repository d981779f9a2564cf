"""`/api/admin/models`: model records and exact-decimal prices (R6.0, R10.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from torouter.storage.tables import group_models, models


async def _create(api: Api, **body: Any) -> Any:
    return await api.client.post("/api/admin/models", json=body, headers=api.auth)


async def test_create_with_exact_prices_and_derived_defaults(api: Api) -> None:
    r = await _create(
        api,
        id="claude-opus-4-7",
        vendor="anthropic",
        display_name="Claude Opus 4.7",
        supports_thinking=True,
        max_output_tokens=32000,
        prices={"input": "15", "output": 75, "cache_read": 1.5, "per_request": "0.000000001"},
    )
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["endpoints"] == ["chat", "responses", "messages", "generate"]  # text default
    assert m["prices"]["input"] == "15" and m["prices"]["output"] == "75"
    assert m["prices"]["cache_read"] == "1.5" and m["prices"]["cache_write_5m"] is None
    assert m["prices"]["per_request"] == "0.000000001"
    eff = m["effective_prices"]
    assert eff["cache_read"] == "1.5"
    assert Decimal(eff["cache_write_5m"]) == Decimal("18.75")  # 1.25 × input
    assert Decimal(eff["cache_write_1h"]) == Decimal("30")  # 2 × input
    assert eff["per_image"] == "0"
    assert m["unpriced"] is False and m["managed"] is False
    async with api.db.connect() as conn:
        stored = (await conn.execute(select(models))).mappings().one()
    assert stored["price_input"] == Decimal("15")
    assert stored["price_per_request"] == Decimal("0.000000001")
    rec = api.snapshot.current.models["claude-opus-4-7"]
    assert rec.prices.cache_write_5m == Decimal("18.75")  # the gateway bills it at once

    r = await _create(api, id="free", modality="embedding")
    assert r.json()["unpriced"] is True and r.json()["endpoints"] == ["embeddings"]
    r = await api.client.get("/api/admin/models?modality=embedding", headers=api.auth)
    assert [x["id"] for x in r.json()["data"]] == ["free"]


async def test_patch_merges_prices_and_ids_may_contain_slashes(api: Api) -> None:
    r = await _create(api, id="meta/llama-4", prices={"input": "0.2", "output": "0.6"})
    assert r.status_code == 201
    path = "/api/admin/models/meta/llama-4"
    assert (await api.client.get(path, headers=api.auth)).json()["id"] == "meta/llama-4"

    r = await api.client.patch(
        path, json={"prices": {"output": "0.65", "input": None}, "enabled": False}, headers=api.auth
    )
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["prices"]["input"] is None and m["prices"]["output"] == "0.65"
    assert m["effective_prices"]["cache_read"] == "0" and m["enabled"] is False
    assert "meta/llama-4" not in api.snapshot.current.models  # disabled: out of the gateway

    r = await api.client.patch(path, json={"prices": {"input": ""}}, headers=api.auth)
    assert r.json()["prices"]["input"] is None and r.json()["prices"]["output"] == "0.65"
    r = await api.client.patch(path, json={"display_name": None}, headers=api.auth)
    assert r.status_code == 200
    assert_error(
        await api.client.patch(path, json={"vendor": None}, headers=api.auth),
        400,
        "INVALID_REQUEST",
        "vendor",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prices": {"input": "-1"}}, "prices.input"),
        ({"prices": {"output": "1e400"}}, "prices.output"),
        ({"prices": {"per_image": "0.0000000000001"}}, "prices.per_image"),
        ({"prices": {"bogus": 1}}, "prices.bogus"),
        ({"modality": "smell"}, "modality"),
        ({"endpoints": ["chat", "teleport"]}, "endpoints[1]"),
        ({"context_length": 0}, "context_length"),
        ({"id": "has space"}, "id"),
    ],
)
async def test_validation(api: Api, body: dict[str, Any], param: str) -> None:
    r = await _create(api, **{"id": "m", **body})
    assert_error(r, 400, "INVALID_REQUEST", param)


async def test_conflict_managed_and_delete(api: Api) -> None:
    assert (await _create(api, id="m1")).status_code == 201
    assert_error(await _create(api, id="m1"), 409, "CONFLICT")
    gid = await seed.group(api.db)
    await seed.link_group_model(api.db, group_id=gid, model_id="m1", position=0)

    r = await api.client.delete("/api/admin/models/m1", headers=api.auth)
    assert r.status_code == 204
    async with api.db.connect() as conn:
        assert (await conn.execute(select(group_models))).first() is None
    assert_error(
        await api.client.delete("/api/admin/models/m1", headers=api.auth), 404, "NOT_FOUND"
    )

    await seed.model(api.db, id="decl")
    async with api.db.begin() as conn:
        await conn.execute(update(models).where(models.c.id == "decl").values(managed=True))
    r = await api.client.patch(
        "/api/admin/models/decl", json={"prices": {"input": 1}}, headers=api.auth
    )
    assert_error(r, 409, "CONFLICT")
    r = await api.client.delete("/api/admin/models/decl", headers=api.auth)
    assert_error(r, 409, "CONFLICT")
